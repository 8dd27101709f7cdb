"""UltrasoundDespeckle: speckle reduction of ultrasound images, volumes and cine loops in 3D Slicer.

This file is the GUI glue only: the module description, the parameter node and the binding of the
panel to it, the dependency check, and a self-test. Everything that computes or builds scene
content lives in the Qt-free package ``UltrasoundDespeckleLib`` (tested outside Slicer with
``make test``), imported only where it is used: its modules that need monai-despeckle (and torch)
are loaded after the dependency check.

Needs 3D Slicer 5.12 or later (``slicer.packaging``); an older Slicer gets a message in the panel.
"""

import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import ctk
import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode, vtkMRMLVectorVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import (
    Choice,
    GuiConnector,
    IsInstance,
    NotNone,
    Serializer,
    ValidatedSerializer,
    WithinRange,
    parameterNodeGuiConnector,
    parameterNodeSerializer,
    parameterNodeWrapper,
    unannotatedType,
)
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

if TYPE_CHECKING:  # the Lib imports monai_despeckle: at run time only after the dependency check
    from UltrasoundDespeckleLib import DespeckleResult, DicomSource, ProgressCallback, SegmentationComparison
    from UltrasoundDespeckleLib.environment import TorchCheck
    from UltrasoundDespeckleLib.segmentation_handoff import Segmenter

    from monai_despeckle.inference import Despeckler

# Labels shown in the GUI -> values the logic takes.
DEVICES = {"auto": "auto", "CPU": "cpu", "GPU": "cuda"}
SLICE_AXES = {"K (slices / frames)": 0, "J (rows)": 1, "I (columns)": 2}
SEGMENTATION_TASKS = {"Breast lesion": "seg_breast_lesion", "Carotid lumen": "seg_carotid"}
SIDE_BY_SIDE, OVERLAY = "Side by side (linked)", "Overlay (flicker / fade)"
COMPARE_MODES = (SIDE_BY_SIDE, OVERLAY)
DEFAULT_METHOD = "dae_skip"
REQUESTER = "UltrasoundDespeckle"
PACKAGE = "monai-despeckle"
# Packages pip must never install or replace for this module: torch comes from the PyTorch extension
# (the build that matches the GPU), SimpleITK is Slicer's own build.
SKIP_PACKAGES = ["torch", "SimpleITK"]
# What became of an offer to install torch.
TORCH_READY, DECLINED, RESTART_NEEDED = "ready", "declined", "restart needed"
STRENGTH_DELAY_MS = 150  # the blend is recomputed once the strength slider rests this long
FLICKER_INTERVAL_MS = 500


def resource_path(relative_path: str) -> str:
    """A file of the module's Resources folder."""
    return str(Path(__file__).resolve().parent / "Resources" / relative_path)


#
# UltrasoundDespeckle
#


class UltrasoundDespeckle(ScriptedLoadableModule):
    """Module description shown by Slicer (title, category, help, acknowledgement)."""

    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Ultrasound Despeckle")
        self.parent.categories = [_("Ultrasound")]
        self.parent.dependencies = []  # PyTorch is an extension dependency, used from the first Despeckle on
        self.parent.contributors = ["monai-despeckle developers (monai-despeckle project)"]
        self.parent.helpText = _(
            "Reduce speckle in ultrasound images, 3-D volumes and cine loops (sequences) with learned "
            "despecklers (MONAI bundles) or classical filters, on the GPU when there is one. Burnt-in "
            "text, calipers and colour bars are left untouched; the strength of the result can be "
            "dialled from 0 to 100 % and compared with the input side by side or by flickering. "
            "Optionally segment the input and the result (breast lesion, carotid artery) and compare "
            "them frame by frame, and export the result as a derived DICOM series. Needs 3D Slicer 5.12 "
            "or later. See the extension's README for a step-by-step guide."
        )
        self.parent.acknowledgementText = _(
            "Built on MONAI and the monai-despeckle package. Uses the PyTorch extension "
            "(SlicerPyTorch) to install PyTorch."
        )
        app = getattr(slicer, "app", None)
        if app is not None and hasattr(app, "connect"):
            app.connect("startupCompleted()", register_sample_data)


def register_sample_data() -> None:
    """Offer the phantom cine in the Sample Data module (it is generated, not downloaded)."""
    try:
        import SampleData
    except ImportError:
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="Ultrasound",
        sampleName="UltrasoundPhantomCine",
        thumbnailFileName=resource_path("Icons/PhantomCine.png"),
        uris=[],  # nothing to download: the button calls customDownloader
        fileNames=[],
        nodeNames=[],
        customDownloader=lambda source: load_sample_cine(),
    )


def load_sample_cine():
    """Generate the phantom cine (installing the dependencies first if needed); return its proxy node."""
    logic = UltrasoundDespeckleLogic()
    if not logic.ensure_dependencies():
        return None
    return logic.add_sample_cine()


#
# The method selector: a despeckling method, known only once monai-despeckle is installed
#


@dataclasses.dataclass(frozen=True)
class MethodName:
    """A method of monai-despeckle's registry, by name.

    The registry is only known once monai-despeckle is installed (and users can add bundles), so a
    fixed ``Choice`` cannot describe it; this type gets its own serializer and its own connector to
    the method selector (a ``ctkComboBox``), which Slicer's built-in combo-box connectors do not claim.
    """

    name: str = DEFAULT_METHOD


@parameterNodeSerializer
class MethodNameSerializer(Serializer):
    """Stores a :class:`MethodName` as its plain name (scenes stay readable and diffable)."""

    @staticmethod
    def canSerialize(type_) -> bool:  # noqa: N802 -- Serializer interface
        return type_ is MethodName

    @staticmethod
    def create(type_):
        if MethodNameSerializer.canSerialize(type_):
            return ValidatedSerializer(MethodNameSerializer(), [NotNone(), IsInstance(MethodName)])
        return None

    def default(self) -> MethodName:
        return MethodName()

    def isIn(self, parameterNode, name: str) -> bool:  # noqa: N802 -- Serializer interface
        return parameterNode.HasParameter(name)

    def write(self, parameterNode, name: str, value: MethodName) -> None:
        parameterNode.SetParameter(name, value.name)

    def read(self, parameterNode, name: str) -> MethodName:
        return MethodName(parameterNode.GetParameter(name))

    def remove(self, parameterNode, name: str) -> None:
        parameterNode.UnsetParameter(name)

    def supportsCaching(self) -> bool:  # noqa: N802 -- Serializer interface
        return True


@parameterNodeGuiConnector
class MethodComboBoxConnector(GuiConnector):
    """Binds a ``ctkComboBox`` to a :class:`MethodName`: the current item's data (the method name).

    The items are filled at run time (:meth:`UltrasoundDespeckleWidget.list_methods`); a stored
    method missing from the list is added as an item, so a saved scene shows the method it was made
    with.
    """

    @staticmethod
    def canRepresent(widget, datatype) -> bool:  # noqa: N802 -- GuiConnector interface
        return type(widget) is ctk.ctkComboBox and unannotatedType(datatype) is MethodName

    @staticmethod
    def create(widget, datatype):
        if MethodComboBoxConnector.canRepresent(widget, datatype):
            return MethodComboBoxConnector(widget)
        return None

    def __init__(self, widget) -> None:
        super().__init__()
        self._widget = widget

    def _connect(self) -> None:
        self._widget.currentIndexChanged.connect(self.changed)

    def _disconnect(self) -> None:
        self._widget.currentIndexChanged.disconnect(self.changed)

    def widget(self):
        return self._widget

    def read(self) -> MethodName:
        data = self._widget.itemData(self._widget.currentIndex)
        return MethodName(str(data) if data else self._widget.currentText or DEFAULT_METHOD)

    def write(self, value: MethodName) -> None:
        index = self._widget.findData(value.name)
        if index < 0:
            self._widget.addItem(value.name, value.name)
            index = self._widget.findData(value.name)
        self._widget.currentIndex = index


#
# Parameter node
#


@parameterNodeWrapper
class UltrasoundDespeckleParameterNode:
    """The module's parameters, saved with the scene.

    input_volume: the image to despeckle (grey or RGB); the proxy of a sequence browser stands for its cine.
    whole_sequence: for a sequence proxy, despeckle (and segment) every frame, not only the one shown.
    method: a despeckling method of monai-despeckle's registry.
    device: where the method runs (auto: the GPU when there is one).
    slice_axis: for a 3-D volume, the axis whose slices are processed (and shown).
    protect_annotations: leave burnt-in text, calipers and colour bars untouched.
    despeckled_volume: the result (set by Despeckle; what is compared, checked and exported).
    strength: percentage of the result blended over the input.
    compare_mode: side by side, or overlaid in one view.
    flicker: alternate input and result in the overlay view.
    segmentation_task: which segmentation bundle to compare input and result with.
    comparison_table: the per-frame Dice and areas.
    export_folder: where the DICOM export is written.
    saved_views: the layout before the comparison (JSON), restored on request.
    """

    input_volume: vtkMRMLScalarVolumeNode | vtkMRMLVectorVolumeNode | None
    whole_sequence: bool = True
    method: MethodName = MethodName(DEFAULT_METHOD)
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    slice_axis: Annotated[str, Choice(list(SLICE_AXES))] = next(iter(SLICE_AXES))
    protect_annotations: bool = True
    despeckled_volume: vtkMRMLScalarVolumeNode
    strength: Annotated[float, WithinRange(0.0, 100.0)] = 100.0
    compare_mode: Annotated[str, Choice(list(COMPARE_MODES))] = SIDE_BY_SIDE
    flicker: bool = False
    segmentation_task: Annotated[str, Choice(list(SEGMENTATION_TASKS))] = next(iter(SEGMENTATION_TASKS))
    comparison_table: vtkMRMLTableNode
    export_folder: Path = Path.home()
    saved_views: str = ""


#
# UltrasoundDespeckleWidget
#


class UltrasoundDespeckleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: binds the .ui to the parameter node and runs the logic with a progress dialog."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.ui = None
        self._parameter_node = None
        self._gui_tag = None
        self._methods_listed = False
        self._strength_timer = None
        self._flicker_timer = None
        self._shown_mode = None

    def setup(self) -> None:
        """Build the panel from the .ui file and bind it, or explain why this Slicer cannot run it."""
        ScriptedLoadableModuleWidget.setup(self)
        from UltrasoundDespeckleLib.environment import slicer_version_problem

        problem = slicer_version_problem(slicer.app.majorVersion, slicer.app.minorVersion)
        if problem:
            logging.error(problem)
            label = qt.QLabel(problem)
            label.wordWrap = True
            self.layout.addWidget(label)
            return
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/UltrasoundDespeckle.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = UltrasoundDespeckleLogic()

        self._strength_timer = qt.QTimer()
        self._strength_timer.singleShot = True
        self._strength_timer.interval = STRENGTH_DELAY_MS
        self._strength_timer.timeout.connect(self.apply_strength)
        self._flicker_timer = qt.QTimer()
        self._flicker_timer.interval = FLICKER_INTERVAL_MS
        self._flicker_timer.timeout.connect(self.flicker_step)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.on_scene_start_close)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.on_scene_end_close)
        self.ui.applyButton.connect("clicked(bool)", self.on_apply)
        self.ui.segmentButton.connect("clicked(bool)", self.on_segment)
        self.ui.exportButton.connect("clicked(bool)", self.on_export)
        self.ui.restoreLayoutButton.connect("clicked(bool)", self.on_restore_layout)
        self.ui.sampleDataButton.connect("clicked(bool)", self.on_load_sample)
        self.initialize_parameter_node()

    def cleanup(self) -> None:
        """Called when the application closes."""
        self.removeObservers()
        for timer in (self._strength_timer, self._flicker_timer):
            if timer is not None:
                timer.stop()

    def enter(self) -> None:
        """Called each time the user opens the module."""
        if self.ui is None:
            return
        self.initialize_parameter_node()
        if not self._methods_listed and self.logic.dependencies_installed():
            with slicer.util.WaitCursor():  # the first import of torch and MONAI takes a few seconds
                self.list_methods()

    def onReload(self) -> None:  # noqa: N802 -- ScriptedLoadableModuleWidget interface
        """Developer "Reload": forget the Lib package too, so that its edited code is imported afresh."""
        for name in [n for n in sys.modules if n.split(".")[0] == "UltrasoundDespeckleLib"]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def exit(self) -> None:
        """Called each time the user opens another module (the comparison stays on screen, still)."""
        if self._flicker_timer is not None:
            self._flicker_timer.stop()  # restarted by update_gui on return if flicker is still on
        self.set_parameter_node(None)

    def on_scene_start_close(self, caller, event) -> None:
        for timer in (self._strength_timer, self._flicker_timer):
            timer.stop()
        self.set_parameter_node(None)

    def on_scene_end_close(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initialize_parameter_node()

    def initialize_parameter_node(self) -> None:
        """Observe the parameter node; preselect the first volume to save the user a click."""
        self.set_parameter_node(self.logic.getParameterNode())
        if not self._parameter_node.input_volume:
            for class_name in ("vtkMRMLScalarVolumeNode", "vtkMRMLVectorVolumeNode"):
                first = slicer.mrmlScene.GetFirstNodeByClass(class_name)
                if first is not None and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                    self._parameter_node.input_volume = first
                    break

    def set_parameter_node(self, parameter_node) -> None:
        """Bind the GUI to ``parameter_node`` (None: unbind)."""
        if self._parameter_node:
            self._parameter_node.disconnectGui(self._gui_tag)
            self._gui_tag = None
            self.removeObserver(self._parameter_node, vtk.vtkCommand.ModifiedEvent, self.update_gui)
        self._parameter_node = parameter_node
        if self._parameter_node:
            self._shown_mode = self._parameter_node.compare_mode  # binding alone changes no view
            self._gui_tag = self._parameter_node.connectGui(self.ui)
            self.addObserver(self._parameter_node, vtk.vtkCommand.ModifiedEvent, self.update_gui)
            self.update_gui()

    def update_gui(self, caller=None, event=None) -> None:
        """Follow the parameter node: buttons, table, area warning, strength, flicker."""
        node = self._parameter_node
        has_input = bool(node and node.input_volume)
        has_result = bool(has_input and node.despeckled_volume)
        self.ui.applyButton.enabled = has_input
        self.ui.applyButton.toolTip = _("Despeckle the input") if has_input else _("Select an input volume")
        self.ui.segmentButton.enabled = has_result
        self.ui.exportButton.enabled = bool(node and node.despeckled_volume)
        self.ui.restoreLayoutButton.enabled = bool(node and node.saved_views)
        table = node.comparison_table if node else None
        self.ui.resultsTableView.setMRMLTableNode(table)
        warning = table.GetAttribute("UltrasoundDespeckle.AreaWarning") if table is not None else None
        self.ui.areaWarningLabel.text = _("Note: {warning}.").format(warning=warning) if warning else ""
        if node is None:
            return
        if self.strength_out_of_date():
            self._strength_timer.start()
        if node.compare_mode != self._shown_mode:  # a new choice of view shows the comparison that way
            self._shown_mode = node.compare_mode
            if has_result:
                self.show_comparison()
        if node.flicker and not self._flicker_timer.isActive():
            self._flicker_timer.start()
            if has_result and node.compare_mode != OVERLAY:
                node.compare_mode = OVERLAY  # flicker needs both images on the same pixels
        elif not node.flicker and self._flicker_timer.isActive():
            self._flicker_timer.stop()
            if has_result and node.compare_mode == OVERLAY:
                self.logic.show_comparison(node.input_volume, node.despeckled_volume, OVERLAY, self.axis())

    def strength_out_of_date(self) -> bool:
        """Whether the result is shown at another strength than the slider's."""
        node = self._parameter_node
        if node is None or not node.despeckled_volume:
            return False
        try:
            return self.logic.shown_strength(node.despeckled_volume) != node.strength
        except ImportError:  # a scene made elsewhere, before monai-despeckle is installed here
            return False

    def axis(self) -> int:
        """The slicing axis chosen in the panel."""
        return SLICE_AXES[self._parameter_node.slice_axis]

    def list_methods(self) -> None:
        """Fill the method selector from monai-despeckle's registry (learned methods first)."""
        from UltrasoundDespeckleLib import method_choices

        current = self._parameter_node.method if self._parameter_node else MethodName()
        combo = self.ui.methodComboBox
        was_blocked = combo.blockSignals(True)
        combo.clear()
        choices = sorted(method_choices(), key=lambda choice: choice.family != "learned")
        for index, choice in enumerate(choices):
            combo.addItem(f"{choice.name}  ({choice.family}{', GPU' if choice.gpu else ''})", choice.name)
            combo.setItemData(index, choice.description, qt.Qt.ToolTipRole)
        combo.blockSignals(was_blocked)
        index = combo.findData(current.name)
        if index < 0:
            combo.addItem(current.name, current.name)
            index = combo.findData(current.name)
        combo.currentIndex = index
        self._methods_listed = True

    def progress_dialog(self, title: str):
        """A modal progress dialog and the callback that feeds it (it returns True once cancelled)."""
        dialog = slicer.util.createProgressDialog(windowTitle=title, labelText=title, maximum=100)
        dialog.setCancelButtonText(_("Cancel"))
        slicer.app.processEvents()

        def progress(done: int, total: int) -> bool:
            dialog.maximum = max(total, 1)
            dialog.value = done
            dialog.labelText = _("{title}: {done} of {total}").format(title=title, done=done, total=total)
            slicer.app.processEvents()
            return bool(dialog.wasCanceled)

        return dialog, progress

    def on_load_sample(self) -> None:
        """Add the phantom cine and select it as the input."""
        with slicer.util.tryWithErrorDisplay(_("Could not create the sample cine."), waitCursor=True):
            if not self.logic.ensure_dependencies():
                return
            self._parameter_node.input_volume = self.logic.add_sample_cine()

    def on_apply(self) -> None:
        """Despeckle the input (its whole cine loop for a sequence proxy) and show the comparison."""
        with slicer.util.tryWithErrorDisplay(_("Despeckling failed."), waitCursor=True):
            if not self.logic.ensure_dependencies():
                return
            if not self._methods_listed:
                self.list_methods()
            from UltrasoundDespeckleLib import OperationCancelledError

            node = self._parameter_node
            method = node.method.name
            dialog, progress = self.progress_dialog(_("Despeckling with {method}").format(method=method))
            try:
                result = self.logic.despeckle(
                    node.input_volume,
                    method=method,
                    device=DEVICES[node.device],
                    axis=self.axis(),
                    whole_sequence=node.whole_sequence,
                    protect=node.protect_annotations,
                    strength=node.strength / 100.0,
                    progress=progress,
                )
            except OperationCancelledError:
                slicer.util.showStatusMessage(_("Despeckling cancelled; nothing was changed."), 5000)
                return
            finally:
                dialog.close()
            node.despeckled_volume = result.output
            self.show_comparison()
            mask = f" {result.mask.describe()}." if result.mask is not None and result.mask.sources else ""
            slicer.util.showStatusMessage(
                _("Despeckled {frames} frames in {seconds:.1f} s ({rate:.1f} frames/s).").format(
                    frames=result.frames, seconds=result.seconds, rate=result.frames_per_second
                )
                + mask,
                8000,
            )

    def show_comparison(self) -> None:
        """Show input and result as the compare mode says (remembering the layout the first time)."""
        node = self._parameter_node
        if not node.saved_views:
            node.saved_views = self.logic.save_views()
        self.logic.show_comparison(node.input_volume, node.despeckled_volume, node.compare_mode, self.axis())
        self._shown_mode = node.compare_mode

    def apply_strength(self) -> None:
        """Re-blend the result at the slider's strength (the method is not run again)."""
        node = self._parameter_node
        if node is None or not node.despeckled_volume:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not change the strength.")):
            self.logic.apply_strength(node.despeckled_volume, node.strength / 100.0)

    def flicker_step(self) -> None:
        """Show the other image of the overlay."""
        self.logic.toggle_overlay()

    def on_restore_layout(self) -> None:
        """Put back the layout the user had before the comparison."""
        node = self._parameter_node
        node.flicker = False
        self.logic.restore_views(node.saved_views)
        node.saved_views = ""

    def on_segment(self) -> None:
        """Segment the input and the despeckled result; show both and the per-frame comparison."""
        with slicer.util.tryWithErrorDisplay(_("Segmentation check failed."), waitCursor=True):
            if not self.logic.ensure_dependencies():
                return
            from UltrasoundDespeckleLib import OperationCancelledError

            node = self._parameter_node
            dialog, progress = self.progress_dialog(_("Segmenting input and result"))
            try:
                comparison = self.logic.compare_segmentations(
                    node.input_volume,
                    node.despeckled_volume,
                    task=SEGMENTATION_TASKS[node.segmentation_task],
                    device=DEVICES[node.device],
                    axis=self.axis(),
                    whole_sequence=node.whole_sequence,
                    progress=progress,
                )
            except OperationCancelledError:
                slicer.util.showStatusMessage(_("Segmentation cancelled; nothing was added."), 5000)
                return
            finally:
                dialog.close()
            node.comparison_table = comparison.table
            self.logic.show_segmentations(comparison)
            means = ", ".join(
                f"{label} {value:.3f}" for label, value in comparison.metrics.mean_dice().items()
            )
            slicer.util.showStatusMessage(
                _("Mean Dice input vs despeckled: {means}").format(means=means), 8000
            )

    def on_export(self) -> None:
        """Write the result as a derived DICOM series and add it to the DICOM database."""
        with slicer.util.tryWithErrorDisplay(_("DICOM export failed."), waitCursor=True):
            if not self.logic.ensure_dependencies():
                return
            node = self._parameter_node
            path = self.logic.export_dicom(node.despeckled_volume, node.export_folder, node.input_volume)
            imported = self.logic.import_into_dicom_database(path.parent)
            where = _(" and added to the DICOM database") if imported else ""
            slicer.util.showStatusMessage(_("Exported {path}{where}.").format(path=path, where=where), 8000)


#
# UltrasoundDespeckleLogic
#


class UltrasoundDespeckleLogic(ScriptedLoadableModuleLogic):
    """Installs the dependencies on first use and hands the work to ``UltrasoundDespeckleLib``.

    Usable without the GUI, e.g. from the Python console::

        logic = slicer.util.getModuleLogic("UltrasoundDespeckle")
        logic.ensure_dependencies()
        result = logic.despeckle(slicer.util.getNode("US"), method="dae_skip", protect=True)
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._despecklers = {}
        self._segmenters = {}

    def getParameterNode(self):  # noqa: N802 -- ScriptedLoadableModuleLogic interface
        return UltrasoundDespeckleParameterNode(super().getParameterNode())

    # ---------------------------------------------------------------- dependencies

    @staticmethod
    def source_checkout() -> Path | None:
        """The monai-despeckle source checkout this module sits in (development), or None."""
        root = Path(__file__).resolve().parents[2]
        pyproject = root / "pyproject.toml"
        if pyproject.is_file() and f'name = "{PACKAGE}"' in pyproject.read_text(encoding="utf-8"):
            return root
        return None

    def requirements(self) -> list:
        """Resources/requirements.txt; monai-despeckle from the source checkout (not editable) if any."""
        import slicer.packaging
        from packaging.requirements import Requirement

        requirements = slicer.packaging.load_requirements(resource_path("requirements.txt"))
        checkout = self.source_checkout()
        if checkout is not None:
            requirements = [r for r in requirements if r.name != PACKAGE]
            requirements.append(Requirement(f"{PACKAGE} @ {checkout.as_uri()}"))
        return requirements

    @staticmethod
    def torch_check() -> "TorchCheck":
        """The installed torch, judged (version, CPU build on an NVIDIA computer)."""
        from UltrasoundDespeckleLib.environment import check_torch

        return check_torch()

    def dependencies_installed(self) -> bool:
        """Whether a usable torch and every requirement are installed (checked without pip)."""
        import slicer.packaging

        return not self.torch_check().blocking and slicer.packaging.pip_check(self.requirements())

    def ensure_dependencies(self) -> bool:
        """Make sure the right torch and the requirements are installed, asking before any change.

        torch comes only from the PyTorch extension: a missing, too old or (on a computer with an
        NVIDIA GPU) CPU-only torch gets an offer to install the right build; pip is told never to
        install or replace torch itself. In Slicer's testing mode nothing is installed.

        Returns:
            False when the module cannot run now (a refusal, a restart needed, or testing mode with
            missing packages).
        """
        check = self.torch_check()
        if check.problem is not None:
            outcome = self.offer_torch(check)
            if outcome == RESTART_NEEDED or (outcome == DECLINED and check.blocking):
                return False
        import slicer.packaging

        try:
            slicer.packaging.pip_ensure(self.requirements(), requester=REQUESTER, skip_packages=SKIP_PACKAGES)
        except RuntimeError:
            logging.info("Installation of the UltrasoundDespeckle Python dependencies declined")
            return False
        if slicer.app.testingEnabled() and not slicer.packaging.pip_check(self.requirements()):
            logging.info("Testing mode: monai-despeckle is not installed and pip_ensure does not install it")
            return False
        return True

    def offer_torch(self, check: "TorchCheck") -> str:
        """Offer to install the right torch through the PyTorch extension.

        Returns:
            :data:`TORCH_READY` (a usable torch is in place now), :data:`DECLINED` (nothing changed,
            also in testing mode) or :data:`RESTART_NEEDED` (torch was replaced; the old one may still
            be loaded in this session).
        """
        from UltrasoundDespeckleLib.environment import TorchProblem

        message = check.message()
        logging.warning(message)
        if slicer.app.testingEnabled():
            return DECLINED
        try:
            import PyTorchUtils
        except ModuleNotFoundError as err:
            raise RuntimeError(
                _("{message} Install the PyTorch extension from the Extensions Manager first.").format(
                    message=message
                )
            ) from err
        if not slicer.util.confirmOkCancelDisplay(
            message + "\n\n" + _("Install it now with the PyTorch extension?"),
            windowTitle=_("Ultrasound Despeckle: PyTorch"),
        ):
            return DECLINED
        torch_logic = PyTorchUtils.PyTorchUtilsLogic()
        if check.problem is TorchProblem.MISSING:
            torch = torch_logic.installTorch(askConfirmation=False, torchVersionRequirement=check.requirement)
            return TORCH_READY if torch is not None else DECLINED
        torch_logic.uninstallTorch()
        torch_logic.installTorch(askConfirmation=False, torchVersionRequirement=check.requirement)
        if slicer.util.confirmYesNoDisplay(_("PyTorch was replaced. Restart Slicer now to use it?")):
            slicer.util.restart()
        return RESTART_NEEDED

    # ---------------------------------------------------------------- work

    def despeckler(self, method: str, device: str = "auto") -> "Despeckler":
        """A Despeckler for ``method`` on ``device``, kept for the next run (a model loads once)."""
        from UltrasoundDespeckleLib import create_despeckler

        key = (method, device)
        if key not in self._despecklers:
            self._despecklers[key] = create_despeckler(method, device)
        return self._despecklers[key]

    def segmenter(self, task: str, device: str = "auto") -> "Segmenter":
        """monai-despeckle's segmenter for a task bundle, kept for the next run."""
        from UltrasoundDespeckleLib import load_segmenter

        key = (task, device)
        if key not in self._segmenters:
            self._segmenters[key] = load_segmenter(task, device=device)
        return self._segmenters[key]

    @staticmethod
    def sequences_logic():
        return slicer.modules.sequences.logic()

    def dicom_source(self, node) -> "DicomSource | None":
        """The DICOM header ``node`` (or its cine) was loaded from, through Slicer's DICOM database."""
        from UltrasoundDespeckleLib import browser_for_proxy, dicom_source

        database = getattr(slicer, "dicomDatabase", None)
        if node is None or database is None:
            return None
        browser = browser_for_proxy(slicer.mrmlScene, node)
        sequence = browser.GetSequenceNode(node) if browser is not None else None
        return dicom_source(node, database.fileForInstance, sequence)

    def despeckle(
        self,
        node,
        *,
        method: str = DEFAULT_METHOD,
        device: str = "auto",
        axis: int = 0,
        whole_sequence: bool = True,
        protect: bool = True,
        strength: float = 1.0,
        progress: "ProgressCallback | None" = None,
    ) -> "DespeckleResult":
        """Despeckle ``node`` (its whole sequence if it is a browser's proxy); see ``despeckle_node``."""
        from UltrasoundDespeckleLib import despeckle_node

        source = self.dicom_source(node) if protect else None
        return despeckle_node(
            slicer.mrmlScene,
            node,
            self.despeckler(method, device),
            sequences_logic=self.sequences_logic(),
            whole_sequence=whole_sequence,
            axis=axis,
            progress=progress,
            protect=protect,
            regions=source.regions if source is not None else (),
            strength=strength,
        )

    def shown_strength(self, result) -> float:
        """The strength (%) ``result`` is shown at now."""
        from UltrasoundDespeckleLib import current_strength

        return round(100.0 * current_strength(result), 6)

    def apply_strength(self, result, strength: float) -> None:
        """Show ``result`` at ``strength`` (0-1) without running the method again."""
        from UltrasoundDespeckleLib import apply_strength

        apply_strength(slicer.mrmlScene, result, strength, self.sequences_logic())

    def compare_segmentations(
        self,
        input_node,
        despeckled_node,
        *,
        task: str,
        device: str = "auto",
        axis: int = 0,
        whole_sequence: bool = True,
        progress: "ProgressCallback | None" = None,
    ) -> "SegmentationComparison":
        """Segment input and result with a task bundle and compare them; see ``compare_segmentations``."""
        from UltrasoundDespeckleLib import compare_segmentations

        source = self.dicom_source(input_node)
        return compare_segmentations(
            slicer.mrmlScene,
            self.segmenter(task, device),
            input_node,
            despeckled_node,
            sequences_logic=self.sequences_logic(),
            whole_sequence=whole_sequence,
            axis=axis,
            progress=progress,
            name=f"segmentation ({task})",
            regions=source.regions if source is not None else (),
        )

    def save_views(self) -> str:
        """The current layout and views (JSON), to restore after the comparison."""
        from UltrasoundDespeckleLib import save_views

        return save_views(slicer.mrmlScene)

    def restore_views(self, saved: str) -> None:
        """Put back a layout from :meth:`save_views`."""
        from UltrasoundDespeckleLib import restore_views

        restore_views(slicer.mrmlScene, saved)

    def show_comparison(self, input_node, output_node, mode: str = SIDE_BY_SIDE, axis: int = 0) -> None:
        """Input and result side by side (Red / Yellow, linked) or overlaid in the Red view; fitted."""
        from UltrasoundDespeckleLib import show_overlaid, show_side_by_side

        if mode == OVERLAY:
            show_overlaid(slicer.mrmlScene, input_node, output_node, axis)
        else:
            show_side_by_side(slicer.mrmlScene, input_node, output_node, axis)
        layout_manager = slicer.app.layoutManager()
        if layout_manager is None:
            return
        for view in ("Red", "Yellow"):
            widget = layout_manager.sliceWidget(view)
            if widget is not None:
                widget.sliceLogic().FitSliceToAll()

    def toggle_overlay(self) -> float:
        """Flicker step of the overlay view."""
        from UltrasoundDespeckleLib import toggle_overlay

        return toggle_overlay(slicer.mrmlScene)

    def show_segmentations(self, comparison: "SegmentationComparison") -> None:
        """Each segmentation in the view of its image; the table in the panel."""
        from UltrasoundDespeckleLib import show_only_in_view
        from UltrasoundDespeckleLib.views import INPUT_VIEW, OUTPUT_VIEW

        show_only_in_view(slicer.mrmlScene, comparison.input_segmentation, INPUT_VIEW)
        show_only_in_view(slicer.mrmlScene, comparison.despeckled_segmentation, OUTPUT_VIEW)

    def export_dicom(self, result, folder: Path, input_node=None) -> Path:
        """Write ``result`` as a derived DICOM series of ``input_node``'s study (see ``export_dicom``)."""
        from UltrasoundDespeckleLib import export_dicom

        return export_dicom(slicer.mrmlScene, result, folder, self.dicom_source(input_node))

    @staticmethod
    def import_into_dicom_database(folder: Path) -> bool:
        """Add the files of ``folder`` to Slicer's DICOM database, if one is open."""
        if getattr(slicer, "dicomDatabase", None) is None:
            return False
        try:
            from DICOMLib import DICOMUtils
        except ImportError:
            return False
        DICOMUtils.importDicom(str(folder))
        return True

    def add_sample_cine(self):
        """Add the phantom cine (see ``add_phantom_cine``); return its proxy node."""
        from UltrasoundDespeckleLib import add_phantom_cine

        _, _, proxy = add_phantom_cine(slicer.mrmlScene, self.sequences_logic())
        return proxy


#
# UltrasoundDespeckleTest
#


class UltrasoundDespeckleTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (Reload and Test, or ctest): the panel's parameters, then the real models.

    Slicer's testing mode does not install Python packages (``pip_ensure`` skips it), so without
    monai-despeckle and torch already installed the despeckling part is reported as skipped, not
    failed.
    """

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:  # noqa: N802 -- ScriptedLoadableModuleTest interface
        self.setUp()
        self.test_parameter_node_round_trip()
        logic = UltrasoundDespeckleLogic()
        if not logic.dependencies_installed():
            self.delayDisplay(
                "monai-despeckle or a usable torch is not installed, and testing mode installs nothing: "
                "the despeckling test is skipped"
            )
            return
        self.setUp()
        self.test_despeckle_sample_cine_strength_and_export()

    def test_parameter_node_round_trip(self) -> None:
        """Every parameter survives a write and a read through the scene's parameter node."""
        node = UltrasoundDespeckleLogic().getParameterNode()
        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "colour")
        node.input_volume = volume
        node.method = MethodName("median")
        node.strength = 35.0
        node.compare_mode = OVERLAY
        self.assertIs(node.input_volume, volume)
        self.assertEqual(node.method, MethodName("median"))
        self.assertEqual(node.parameterNode.GetParameter("method"), "median")
        self.assertEqual((node.strength, node.compare_mode), (35.0, OVERLAY))

    def test_despeckle_sample_cine_strength_and_export(self) -> None:
        """The phantom cine through the default method, at 60 %, exported as DICOM."""
        import tempfile

        import numpy as np
        from UltrasoundDespeckleLib import volume_array
        from UltrasoundDespeckleLib.sample_data import phantom_cine

        self.delayDisplay("Despeckling the phantom cine")
        logic = UltrasoundDespeckleLogic()
        proxy = logic.add_sample_cine()
        result = logic.despeckle(proxy, method=DEFAULT_METHOD, protect=True, strength=0.6)
        logic.show_comparison(proxy, result.output)
        cine = phantom_cine()
        self.assertEqual(result.sequence.GetNumberOfDataNodes(), cine.frames.shape[0])
        frame = volume_array(result.sequence.GetNthDataNode(5))[0]
        self.assertTrue(np.array_equal(frame[cine.overlay], cine.frames[5][cine.overlay]))
        tissue = cine.tissue & ~cine.overlay
        self.assertGreater(float(np.mean(frame[tissue] != cine.frames[5][tissue])), 0.5)
        with tempfile.TemporaryDirectory() as folder:
            path = logic.export_dicom(result.output, Path(folder), proxy)
            self.assertTrue(path.is_file())
        self.delayDisplay("Phantom cine despeckled, blended and exported")
