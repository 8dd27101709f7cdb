# ruff: noqa: N801, N802, N815 -- the doubles keep the Qt / CTK / Slicer names they stand for
"""Test doubles for the parts of 3D Slicer's Python layer that the PyPI ``slicer-core`` package lacks.

``slicer-core`` has the MRML scene and ``slicer.util`` but no Qt: no ``qt`` / ``ctk`` modules, no
``slicer.i18n``, ``slicer.ScriptedLoadableModule`` or ``slicer.app``. :func:`installed` puts small
stand-ins for those in place, together with Slicer 5.12.0's *real* ``slicer.parameterNodeWrapper``
(read from ``../shared/third_party``, never copied), so that the module file can be imported and its
widget set up the way Slicer does it: ``slicer.util.loadUI`` (slicer-core's own code) builds the
panel from the ``.ui`` file through the :class:`QUiLoader` double, and ``connectGui`` binds every
widget through Slicer's connector registry.

The widget doubles behave like their Qt counterparts where the binding depends on it: values are
clamped to the widget's range and rounded to its decimals, a combo box has no current item until
one is added, a node selector accepts only nodes of its node types that are in its scene, and
signals fire only on real changes and not while blocked.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
import unittest
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import slicer
import slicer.util

SHARED_WRAPPER = (
    Path(__file__).resolve().parents[2] / "shared" / "third_party" / "slicer-5.12.0-parameterNodeWrapper"
)
# The Slicer release the doubles stand for.
SLICER_VERSION = (5, 12, 0)

# --------------------------------------------------------------------------- signals


class Signal:
    """A Qt signal of one object: slots get as many of the arguments as they accept (as in PythonQt)."""

    def __init__(self, owner: QObject) -> None:
        self._owner = owner
        self._slots: list[Callable] = []

    def connect(self, slot: Callable) -> None:
        self._slots.append(slot)

    def disconnect(self, slot: Callable) -> None:
        self._slots.remove(slot)  # raises like Qt when the slot was not connected

    def emit(self, *args: Any) -> None:
        if self._owner.signalsBlocked():
            return
        for slot in list(self._slots):
            _call_with_fitting_arguments(slot, args)


def _call_with_fitting_arguments(slot: Callable, args: tuple) -> None:
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        slot(*args)
        return
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        slot(*args)
        return
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    slot(*args[: len(positional)])


class signal:
    """Declares a signal: each object gets its own :class:`Signal`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = f"_signal_{name}"

    def __get__(self, instance: QObject | None, owner: type) -> Any:
        if instance is None:
            return self
        if self._name not in instance.__dict__:
            instance.__dict__[self._name] = Signal(instance)
        return instance.__dict__[self._name]


# --------------------------------------------------------------------------- qt


class QObject:
    """Parent/child tree, dynamic properties, PythonQt's ``connect("signal(args)", slot)``."""

    destroyed = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        self._parent: QObject | None = None
        self._children: list[QObject] = []
        self._properties: dict[str, Any] = {}
        self._blocked = False
        self.name = ""
        if parent is not None:
            self.setParent(parent)

    def setParent(self, parent: QObject | None) -> None:
        if self._parent is not None:
            self._parent._children.remove(self)
        self._parent = parent
        if parent is not None:
            parent._children.append(self)

    def parent(self) -> QObject | None:
        return self._parent

    def children(self) -> list[QObject]:
        return list(self._children)

    def findChildren(self, kind: type) -> list[QObject]:
        found = []
        for child in self._children:
            if isinstance(child, kind):
                found.append(child)
            found += child.findChildren(kind)
        return found

    def property(self, name: str) -> Any:
        return self._properties.get(name)

    def setProperty(self, name: str, value: Any) -> None:
        self._properties[name] = value

    def blockSignals(self, block: bool) -> bool:
        previous, self._blocked = self._blocked, bool(block)
        return previous

    def signalsBlocked(self) -> bool:
        return self._blocked

    def className(self) -> str:
        return type(self).__name__

    def connect(self, signature: str, slot: Callable) -> None:
        getattr(self, signature.split("(")[0]).connect(slot)

    def isWidgetType(self) -> bool:
        return False


class QWidget(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.enabled = True
        self.visible = True
        self.toolTip = ""
        self._layout: QLayout | None = None

    def isWidgetType(self) -> bool:
        return True

    def setLayout(self, layout: QLayout) -> None:
        self._layout = layout
        layout.owner = self

    def layout(self) -> QLayout | None:
        return self._layout


class QLayout(QObject):
    """A layout parents the widgets added to it to the widget that owns it."""

    def __init__(self, owner: QWidget | None = None) -> None:
        super().__init__()
        self.owner = owner
        if owner is not None:
            owner.setLayout(self)
        self.items: list[QWidget] = []

    def addWidget(self, widget: QWidget, *args: Any) -> None:
        self.items.append(widget)
        if self.owner is not None:
            widget.setParent(self.owner)


class QVBoxLayout(QLayout):
    pass


class QHBoxLayout(QLayout):
    pass


class QFormLayout(QLayout):
    pass


class QLabel(QWidget):
    def __init__(self, text: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.wordWrap = False


class QAbstractButton(QWidget):
    clicked = signal()
    toggled = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.checkable = False
        self._checked = False

    @property
    def checked(self) -> bool:
        return self._checked

    @checked.setter
    def checked(self, value: bool) -> None:
        value = bool(value) and self.checkable
        if value != self._checked:
            self._checked = value
            self._on_checked_changed(value)

    def _on_checked_changed(self, value: bool) -> None:
        self.toggled.emit(value)

    def click(self) -> None:
        if self.checkable:
            self.checked = not self.checked
        self.clicked.emit(self.checked)


class QPushButton(QAbstractButton):
    pass


class QCheckBox(QAbstractButton):
    stateChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.checkable = True

    def _on_checked_changed(self, value: bool) -> None:
        self.stateChanged.emit(2 if value else 0)
        self.toggled.emit(value)


class QComboBox(QWidget):
    currentIndexChanged = signal()
    currentTextChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[dict[int, Any]] = []
        self._current = -1

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def currentIndex(self) -> int:
        return self._current

    @currentIndex.setter
    def currentIndex(self, index: int) -> None:
        index = index if 0 <= index < len(self._items) else -1
        if index != self._current:
            self._current = index
            self.currentIndexChanged.emit(index)
            self.currentTextChanged.emit(self.currentText)

    @property
    def currentText(self) -> str:
        return self._items[self._current][Qt.DisplayRole] if self._current >= 0 else ""

    def addItem(self, text: str, data: Any = None) -> None:
        self._items.append({Qt.DisplayRole: str(text), Qt.UserRole: data})
        if self._current < 0:
            self.currentIndex = 0

    def addItems(self, texts: list[str]) -> None:
        for text in texts:
            self.addItem(text)

    def clear(self) -> None:
        self._items = []
        self.currentIndex = -1

    def itemText(self, index: int) -> str:
        return self._items[index][Qt.DisplayRole] if 0 <= index < len(self._items) else ""

    def itemData(self, index: int, role: int | None = None) -> Any:
        role = Qt.UserRole if role is None else role
        return self._items[index].get(role) if 0 <= index < len(self._items) else None

    def setItemData(self, index: int, value: Any, role: int | None = None) -> None:
        self._items[index][Qt.UserRole if role is None else role] = value

    def findData(self, data: Any) -> int:
        return next((i for i, item in enumerate(self._items) if item[Qt.UserRole] == data), -1)

    def findText(self, text: str) -> int:
        return next((i for i, item in enumerate(self._items) if item[Qt.DisplayRole] == text), -1)


class _RangedValue(QWidget):
    """A value widget: clamped to [minimum, maximum], rounded to ``decimals`` (None: integers)."""

    valueChanged = signal()
    _default_decimals: int | None = 2
    _default_range: tuple[float, float] = (0.0, 99.99)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.minimum, self.maximum = self._default_range
        self.decimals = self._default_decimals
        self.singleStep = 1
        self._value = self.minimum

    def _fit(self, value: float) -> float:
        value = min(max(value, self.minimum), self.maximum)
        return round(value) if self.decimals is None else round(value, self.decimals)

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        value = self._fit(value)
        if value != self._value:
            self._value = value
            self.valueChanged.emit(value)

    def setMinimum(self, value: float) -> None:
        self.minimum = value

    def setMaximum(self, value: float) -> None:
        self.maximum = value

    def setRange(self, low: float, high: float) -> None:
        self.minimum, self.maximum = low, high
        self.value = self._value


class QSlider(_RangedValue):
    _default_decimals = None
    _default_range = (0, 99)


class QSpinBox(_RangedValue):
    _default_decimals = None
    _default_range = (0, 99)


class QDoubleSpinBox(_RangedValue):
    pass


class QLineEdit(QWidget):
    textChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = ""


class QTextEdit(QLineEdit):
    pass


class QTableView(QWidget):
    pass


class QColor:
    pass


class QProgressDialog(QWidget):
    """A progress dialog that is never cancelled."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.value, self.maximum, self.minimumDuration = 0, 100, 0
        self.labelText = self.windowTitle = self.cancelButtonText = ""
        self.wasCanceled = False
        self.closed = False

    def setCancelButtonText(self, text: str) -> None:
        self.cancelButtonText = text

    def close(self) -> None:
        self.closed = True


class QApplication:
    override_cursors: list[int] = []  # noqa: RUF012 -- class-level like Qt's application state

    @staticmethod
    def setOverrideCursor(cursor: int) -> None:
        QApplication.override_cursors.append(cursor)

    @staticmethod
    def restoreOverrideCursor() -> None:
        if QApplication.override_cursors:
            QApplication.override_cursors.pop()


class QTimer(QObject):
    """A timer that fires only when the test calls :meth:`fire` (nothing runs in the background)."""

    timeout = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = 0
        self.singleShot = False
        self.active = False

    def start(self, interval: int | None = None) -> None:
        if interval is not None:
            self.interval = interval
        self.active = True

    def stop(self) -> None:
        self.active = False

    def isActive(self) -> bool:
        return self.active

    def fire(self) -> None:
        if self.active:
            self.active = not self.singleShot
            self.timeout.emit()


class Qt:
    WaitCursor = 3
    DisplayRole = 0
    ToolTipRole = 3
    UserRole = 256
    Vertical = 2
    Horizontal = 1


class QFile:
    ReadOnly = 1

    def __init__(self, path: str) -> None:
        self.path = str(path)

    def exists(self) -> bool:
        return Path(self.path).is_file()

    def open(self, mode: int) -> bool:
        return self.exists()


class QUiLoader:
    """Builds a widget tree from a Qt Designer ``.ui`` file with the widget doubles.

    Widget classes are looked up in the ``qt``, ``ctk`` and ``slicer`` doubles; properties are set
    as Qt's loader sets them (dynamic ``stdset="0"`` properties with ``setProperty``); the file's
    ``<connections>`` are made.
    """

    def load(self, qfile: QFile) -> QWidget:
        root = ET.parse(qfile.path).getroot()
        widgets: dict[str, QObject] = {}
        top = self._widget(root.find("widget"), None, widgets)
        for connection in root.iter("connection"):
            sender = widgets[connection.findtext("sender")]
            receiver = widgets[connection.findtext("receiver")]
            getattr(sender, connection.findtext("signal").split("(")[0]).connect(
                getattr(receiver, connection.findtext("slot").split("(")[0])
            )
        return top

    def _widget(self, element: ET.Element, parent: QWidget | None, widgets: dict) -> QWidget:
        widget = _widget_class(element.get("class"))()
        widget.name = element.get("name")
        widgets[widget.name] = widget
        if parent is not None:
            widget.setParent(parent)
        for prop in element.findall("property"):
            value = _property_value(prop)
            if prop.get("stdset") == "0":
                widget.setProperty(prop.get("name"), value)
            elif prop.get("name") != "geometry":
                setattr(widget, prop.get("name"), value)
        self._children(element, widget, widgets)
        return widget

    def _children(self, element: ET.Element, widget: QWidget, widgets: dict) -> None:
        for child in element:
            if child.tag == "widget":
                self._widget(child, widget, widgets)
            elif child.tag in ("layout", "item"):
                self._children(child, widget, widgets)


def _property_value(prop: ET.Element) -> Any:
    value = prop[0]
    if value.tag in ("string", "enum", "cstring"):
        return value.text or ""
    if value.tag == "bool":
        return value.text == "true"
    if value.tag == "number":
        return int(value.text)
    if value.tag == "double":
        return float(value.text)
    if value.tag == "stringlist":
        return [item.text or "" for item in value.findall("string")]
    return None


def _widget_class(name: str) -> type:
    for module in (sys.modules["qt"], sys.modules["ctk"], slicer):
        if hasattr(module, name):
            return getattr(module, name)
    raise RuntimeError(f"no test double for widget class {name}")


# --------------------------------------------------------------------------- ctk


class ctkCollapsibleButton(QAbstractButton):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.collapsed = False


class ctkComboBox(QComboBox):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.defaultText = ""


class ctkSliderWidget(_RangedValue):
    pass


class ctkDoubleSpinBox(_RangedValue):
    pass


class ctkDoubleSlider(_RangedValue):
    pass


class ctkCheckBox(QCheckBox):
    pass


class ctkCheckablePushButton(QPushButton):
    checkBoxControlsButtonToggleState = False


class ctkDirectoryButton(QWidget):
    directoryChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._directory = str(Path.cwd())

    @property
    def directory(self) -> str:
        return self._directory

    @directory.setter
    def directory(self, value: str) -> None:
        if str(value) != self._directory:
            self._directory = str(value)
            self.directoryChanged.emit(self._directory)


class ctkPathLineEdit(QWidget):
    currentPathChanged = signal()


class ctkRangeWidget(QWidget):
    valuesChanged = signal()


class ctkDoubleRangeSlider(ctkRangeWidget):
    pass


class ctkColorPickerButton(QWidget):
    colorChanged = signal()


# --------------------------------------------------------------------------- slicer widgets


class qMRMLWidget(QWidget):
    mrmlSceneChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene: Any) -> None:
        self._scene = scene
        self.mrmlSceneChanged.emit(scene)

    def mrmlScene(self) -> Any:
        return self._scene


class qSlicerWidget(qMRMLWidget):
    pass


class qMRMLNodeComboBox(qMRMLWidget):
    """Offers the nodes of ``nodeTypes`` in its scene (subclasses only with ``showChildNodeTypes``)."""

    currentNodeChanged = signal()
    currentNodeIDChanged = signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.nodeTypes: list[str] = []
        self.showChildNodeTypes = True
        self.noneEnabled = False
        self.addEnabled = True
        self.removeEnabled = True
        self._current = None

    def accepts(self, node: Any) -> bool:
        """Whether the selector lists ``node``."""
        if node is None or self._scene is None or self._scene.GetNodeByID(node.GetID()) is not node:
            return False
        if node.GetClassName() in self.nodeTypes:
            return True
        return bool(self.showChildNodeTypes) and any(node.IsA(kind) for kind in self.nodeTypes)

    def currentNode(self) -> Any:
        return self._current

    def setCurrentNode(self, node: Any) -> None:
        node = node if self.accepts(node) else None
        if node is not self._current:
            self._current = node
            self.currentNodeChanged.emit(node)
            self.currentNodeIDChanged.emit(node.GetID() if node is not None else "")


class qMRMLTableView(qMRMLWidget):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table_node = None

    def setMRMLTableNode(self, node: Any) -> None:
        self.table_node = node


class qMRMLSliderWidget(_RangedValue):
    pass


class qMRMLSpinBox(_RangedValue):
    pass


class qMRMLRangeWidget(ctkRangeWidget):
    pass


SLICER_WIDGETS = (
    qMRMLWidget,
    qSlicerWidget,
    qMRMLNodeComboBox,
    qMRMLTableView,
    qMRMLSliderWidget,
    qMRMLSpinBox,
    qMRMLRangeWidget,
)


# --------------------------------------------------------------------------- slicer application


class CommandOptions:
    testingEnabled = False


class Application:
    """``slicer.app``: version, testing mode, no layout manager (there is no screen)."""

    def __init__(self, version: tuple[int, int, int] = SLICER_VERSION, testing: bool = False) -> None:
        self.majorVersion, self.minorVersion, self.patchVersion = version
        self.testing = testing
        self.processed_events = 0
        self.status_messages: list[str] = []

    def setOverrideCursor(self, cursor: int) -> None:
        QApplication.setOverrideCursor(cursor)

    def restoreOverrideCursor(self) -> None:
        QApplication.restoreOverrideCursor()

    def testingEnabled(self) -> bool:
        return self.testing

    def commandOptions(self) -> CommandOptions:
        options = CommandOptions()
        options.testingEnabled = self.testing
        return options

    def layoutManager(self) -> None:
        return None

    def processEvents(self) -> None:
        self.processed_events += 1


class ModulePanel(QWidget):
    """The module panel Slicer gives a scripted widget (``self.parent``)."""

    def __init__(self) -> None:
        super().__init__()
        QVBoxLayout(self)
        self.isEntered = True


def _scripted_loadable_module() -> types.ModuleType:
    """``slicer.ScriptedLoadableModule`` with the behaviour the module relies on (parameter node included)."""
    module = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent: Any) -> None:
            self.parent = parent
            self.moduleName = type(self).__name__

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent: Any = None) -> None:
            self.parent = parent if parent is not None else ModulePanel()
            self.layout = self.parent.layout()
            self.moduleName = type(self).__name__.removesuffix("Widget")

        def setup(self) -> None:
            pass

        def resourcePath(self, filename: str) -> str:
            folder = Path(sys.modules[type(self).__module__].__file__).parent
            return str(folder / "Resources" / filename)

        def onReload(self) -> None:
            pass

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent: Any = None) -> None:
            self.moduleName = type(self).__name__.removesuffix("Logic")

        def getParameterNode(self) -> Any:
            scene = slicer.mrmlScene
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is None:
                node = slicer.vtkMRMLScriptedModuleNode()
                node.SetSingletonTag(self.moduleName)
                node.SetAttribute("ModuleName", self.moduleName)
                node = scene.AddNode(node)
            return node

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message: str, requestedDelay: int | None = None) -> None:
            pass

    module.ScriptedLoadableModule = ScriptedLoadableModule
    module.ScriptedLoadableModuleWidget = ScriptedLoadableModuleWidget
    module.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    module.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    return module


def _i18n() -> types.ModuleType:
    module = types.ModuleType("slicer.i18n")
    module.tr = lambda text: text
    module.translate = lambda context, text: text
    module.getContext = lambda path: Path(path).stem
    return module


def _qt() -> types.ModuleType:
    module = types.ModuleType("qt")
    for cls in (
        QObject,
        QWidget,
        QLayout,
        QVBoxLayout,
        QHBoxLayout,
        QFormLayout,
        QLabel,
        QAbstractButton,
        QPushButton,
        QCheckBox,
        QComboBox,
        QSlider,
        QSpinBox,
        QDoubleSpinBox,
        QLineEdit,
        QTextEdit,
        QTableView,
        QColor,
        QProgressDialog,
        QApplication,
        QTimer,
        Qt,
        QFile,
        QUiLoader,
    ):
        setattr(module, cls.__name__, cls)
    return module


def _ctk() -> types.ModuleType:
    module = types.ModuleType("ctk")
    for cls in (
        ctkCollapsibleButton,
        ctkComboBox,
        ctkSliderWidget,
        ctkDoubleSpinBox,
        ctkDoubleSlider,
        ctkCheckBox,
        ctkCheckablePushButton,
        ctkDirectoryButton,
        ctkPathLineEdit,
        ctkRangeWidget,
        ctkDoubleRangeSlider,
        ctkColorPickerButton,
    ):
        setattr(module, cls.__name__, cls)
    return module


def _forget(prefixes: tuple[str, ...]) -> None:
    for name in [n for n in sys.modules if n in prefixes or n.startswith(tuple(p + "." for p in prefixes))]:
        del sys.modules[name]


@contextlib.contextmanager
def installed(
    scene: Any,
    *,
    app: Application | None = None,
    modules: Any = None,
    extra_modules: dict[str, types.ModuleType] | None = None,
) -> Iterator[types.ModuleType]:
    """Make ``qt``, ``ctk`` and Slicer's GUI-side Python importable; yield ``slicer.parameterNodeWrapper``.

    Args:
        scene: the ``vtkMRMLScene`` that stands for ``slicer.mrmlScene``.
        app: what stands for ``slicer.app`` (default: Slicer 5.12.0, not in testing mode).
        modules: what stands for ``slicer.modules``.
        extra_modules: more modules to make importable (e.g. a ``PyTorchUtils`` or ``slicer.packaging``
            double; a ``slicer.`` module also becomes an attribute of ``slicer``).

    Everything is undone on exit, including Slicer's connector registry (the wrapper package is
    imported afresh each time).
    """
    if not (SHARED_WRAPPER / "slicer" / "parameterNodeWrapper" / "__init__.py").is_file():
        raise FileNotFoundError(SHARED_WRAPPER)
    patch = _Patch()
    try:
        patch.module("qt", _qt())
        patch.module("ctk", _ctk())
        patch.module("slicer.i18n", _i18n())
        patch.module("slicer.ScriptedLoadableModule", _scripted_loadable_module())
        for name, module in (extra_modules or {}).items():
            patch.module(name, module)
            if name.startswith("slicer."):
                patch.attribute(slicer, name.split(".", 1)[1], module)
        for cls in SLICER_WIDGETS:
            patch.attribute(slicer, cls.__name__, cls)
        patch.attribute(slicer, "mrmlScene", scene)
        app = app or Application()
        patch.attribute(slicer, "app", app)
        patch.attribute(slicer.util, "mainWindow", lambda: None)
        patch.attribute(
            slicer.util, "showStatusMessage", lambda message, duration=0: app.status_messages.append(message)
        )
        patch.attribute(slicer, "modules", modules or types.SimpleNamespace())
        patch.attribute(slicer, "i18n", sys.modules["slicer.i18n"])
        patch.attribute(slicer, "ScriptedLoadableModule", sys.modules["slicer.ScriptedLoadableModule"])
        patch.attribute(slicer, "__path__", [*slicer.__path__, str(SHARED_WRAPPER / "slicer")])
        _forget(("slicer.parameterNodeWrapper",))
        wrapper = importlib.import_module("slicer.parameterNodeWrapper")
        patch.attribute(slicer, "parameterNodeWrapper", wrapper)
        yield wrapper
    finally:
        _forget(("slicer.parameterNodeWrapper",))
        patch.undo()


class _Patch:
    """Attribute and ``sys.modules`` changes, undone in reverse order."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def attribute(self, owner: Any, name: str, value: Any) -> None:
        old = getattr(owner, name, self._MISSING)
        setattr(owner, name, value)
        self._undo.append(lambda: delattr(owner, name) if old is self._MISSING else setattr(owner, name, old))

    def module(self, name: str, module: types.ModuleType) -> None:
        old = sys.modules.get(name, self._MISSING)
        sys.modules[name] = module

        def restore() -> None:
            if old is self._MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old

        self._undo.append(restore)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


def import_module_file(path: Path) -> types.ModuleType:
    """Import a scripted module file afresh (its folder on ``sys.path``, like Slicer's module path)."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    _forget((path.stem,))
    return importlib.import_module(path.stem)


# --------------------------------------------------------------------------- packaging and PyTorch


class Packaging:
    """``slicer.packaging`` of Slicer 5.12 as the module uses it; installations are recorded, not run.

    Like the real one, :func:`pip_ensure` installs nothing in testing mode and raises
    ``RuntimeError`` when the user declines.
    """

    def __init__(self, installed: bool = True, decline: bool = False) -> None:
        self.installed = installed
        self.decline = decline
        self.ensure_calls: list[dict[str, Any]] = []

    def module(self) -> types.ModuleType:
        from packaging.requirements import Requirement

        module = types.ModuleType("slicer.packaging")

        def load_requirements(path: str | Path) -> list[Requirement]:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            return [
                Requirement(line.strip()) for line in lines if line.strip() and line.strip()[0] not in "#-"
            ]

        def pip_check(requirements: Any) -> bool:
            return self.installed

        def pip_ensure(requirements: Any, **options: Any) -> None:
            self.ensure_calls.append({"requirements": [str(r) for r in requirements], **options})
            if self.installed or (options.get("skip_in_testing", True) and slicer.app.testingEnabled()):
                return
            if self.decline:
                raise RuntimeError("User declined package installation")
            self.installed = True

        module.load_requirements = load_requirements
        module.pip_check = pip_check
        module.pip_ensure = pip_ensure
        return module


class PyTorchUtilsDouble:
    """The PyTorch extension's ``PyTorchUtils`` module: calls to its logic are recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def module(self) -> types.ModuleType:
        calls = self.calls
        module = types.ModuleType("PyTorchUtils")

        class PyTorchUtilsLogic:
            def installTorch(self, **options: Any) -> object:
                calls.append(("installTorch", options))
                return types.SimpleNamespace(__version__="2.13.0+cu128")

            def uninstallTorch(self, **options: Any) -> None:
                calls.append(("uninstallTorch", options))

        module.PyTorchUtilsLogic = PyTorchUtilsLogic
        return module
