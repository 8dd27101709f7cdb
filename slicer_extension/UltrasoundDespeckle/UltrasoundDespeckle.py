"""UltrasoundDespeckle: speckle reduction of ultrasound images, volumes and cine loops in 3D Slicer.

This file is the GUI glue only: the module description, the widget (bound to a parameter node), the
dependency check, and a self-test. Everything that computes or builds scene content lives in the
Qt-free package ``UltrasoundDespeckleLib`` (tested outside Slicer with ``make test``), which is
imported only after the Python dependencies (monai-despeckle, torch) are known to be installed.
"""

import importlib.util
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import ctk
import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode, vtkMRMLVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import (
    Choice,
    GuiConnector,
    parameterNodeGuiConnector,
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
    from UltrasoundDespeckleLib import DespeckleResult, ProgressCallback, SegmentationComparison, Segmenter

    from monai_despeckle.inference import Despeckler

# Labels shown in the GUI -> values the logic takes.
DEVICES = {"auto": "auto", "CPU": "cpu", "GPU": "cuda"}
SLICE_AXES = {"K (slices / frames)": 0, "J (rows)": 1, "I (columns)": 2}
SEGMENTATION_TASKS = {"Breast lesion": "seg_breast_lesion", "Carotid lumen": "seg_carotid"}
DEFAULT_METHOD = "dae_skip"
TORCH_REQUIREMENT = ">=2.8"
REQUESTER = "UltrasoundDespeckle"
PACKAGE = "monai-despeckle"


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
        self.parent.contributors = ["monai-despeckle developers"]
        self.parent.helpText = _(
            "Reduce speckle in ultrasound images, 3-D volumes and cine loops (sequences) with learned "
            "despecklers (MONAI bundles) or classical filters, on the GPU when there is one. Optionally "
            "segment the input and the result (breast lesion, carotid artery) and compare them frame by "
            "frame. See the extension's README for a step-by-step guide."
        )
        self.parent.acknowledgementText = _(
            "Built on MONAI and the monai-despeckle package. Uses the PyTorch extension "
            "(SlicerPyTorch) to install PyTorch."
        )


#
# Parameter node and its GUI connector for the method list
#


@parameterNodeGuiConnector
class CtkComboBoxToStringConnector(GuiConnector):
    """Binds a ``ctkComboBox`` to a ``str`` parameter: the current item's data (or text).

    The items are filled at run time (the registry of despeckling methods is only known once
    monai-despeckle is installed); a stored value missing from the list is added as an item, so a
    saved scene shows the method it was made with.
    """

    @staticmethod
    def canRepresent(widget, datatype) -> bool:  # noqa: N802 -- GuiConnector interface
        return type(widget) is ctk.ctkComboBox and unannotatedType(datatype) is str

    @staticmethod
    def create(widget, datatype):
        if CtkComboBoxToStringConnector.canRepresent(widget, datatype):
            return CtkComboBoxToStringConnector(widget)
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

    def read(self) -> str:
        data = self._widget.itemData(self._widget.currentIndex)
        return str(data) if data else self._widget.currentText

    def write(self, value: str) -> None:
        index = self._widget.findData(value)
        if index < 0:
            self._widget.addItem(value, value)
            index = self._widget.count - 1
        self._widget.currentIndex = index


@parameterNodeWrapper
class UltrasoundDespeckleParameterNode:
    """The module's parameters, saved with the scene.

    input_volume: the image to despeckle; the proxy of a sequence browser stands for its cine loop.
    whole_sequence: for a sequence proxy, despeckle (and segment) every frame, not only the one shown.
    method: a despeckling method of monai-despeckle's registry.
    device: where the method runs (auto: the GPU when there is one).
    slice_axis: for a 3-D volume, the axis whose slices are processed.
    despeckled_volume: the result (set by Despeckle; what the segmentation check compares with the input).
    segmentation_task: which segmentation bundle to compare input and result with.
    comparison_table: the per-frame Dice and areas.
    """

    input_volume: vtkMRMLVolumeNode
    whole_sequence: bool = True
    method: str = DEFAULT_METHOD
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    slice_axis: Annotated[str, Choice(list(SLICE_AXES))] = next(iter(SLICE_AXES))
    despeckled_volume: vtkMRMLScalarVolumeNode
    segmentation_task: Annotated[str, Choice(list(SEGMENTATION_TASKS))] = next(iter(SEGMENTATION_TASKS))
    comparison_table: vtkMRMLTableNode


#
# UltrasoundDespeckleWidget
#


class UltrasoundDespeckleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: binds the .ui to the parameter node and runs the logic with a progress dialog."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameter_node = None
        self._gui_tag = None
        self._methods_listed = False

    def setup(self) -> None:
        """Build the panel from the .ui file and connect it."""
        ScriptedLoadableModuleWidget.setup(self)
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/UltrasoundDespeckle.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = UltrasoundDespeckleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.on_scene_start_close)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.on_scene_end_close)
        self.ui.applyButton.connect("clicked(bool)", self.on_apply)
        self.ui.segmentButton.connect("clicked(bool)", self.on_segment)
        self.initialize_parameter_node()

    def cleanup(self) -> None:
        """Called when the application closes."""
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens the module."""
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
        """Called each time the user opens another module."""
        if self._parameter_node:
            self._parameter_node.disconnectGui(self._gui_tag)
            self._gui_tag = None
            self.removeObserver(self._parameter_node, vtk.vtkCommand.ModifiedEvent, self.update_buttons)

    def on_scene_start_close(self, caller, event) -> None:
        self.set_parameter_node(None)

    def on_scene_end_close(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initialize_parameter_node()

    def initialize_parameter_node(self) -> None:
        """Observe the parameter node; preselect the first volume to save the user a click."""
        self.set_parameter_node(self.logic.getParameterNode())
        if not self._parameter_node.input_volume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first:
                self._parameter_node.input_volume = first

    def set_parameter_node(self, parameter_node) -> None:
        """Bind the GUI to ``parameter_node`` (None: unbind)."""
        if self._parameter_node:
            self._parameter_node.disconnectGui(self._gui_tag)
            self.removeObserver(self._parameter_node, vtk.vtkCommand.ModifiedEvent, self.update_buttons)
        self._parameter_node = parameter_node
        if self._parameter_node:
            self._gui_tag = self._parameter_node.connectGui(self.ui)
            # the connector lists every volume class; ultrasound comes as scalar or RGB (vector) volumes
            self.ui.inputSelector.nodeTypes = ["vtkMRMLScalarVolumeNode", "vtkMRMLVectorVolumeNode"]
            self.ui.inputSelector.showChildNodeTypes = False
            self.addObserver(self._parameter_node, vtk.vtkCommand.ModifiedEvent, self.update_buttons)
            self.update_buttons()

    def update_buttons(self, caller=None, event=None) -> None:
        """Enable the buttons that can run, show the current results table."""
        node = self._parameter_node
        self.ui.applyButton.enabled = bool(node and node.input_volume)
        self.ui.applyButton.toolTip = (
            _("Despeckle the input") if self.ui.applyButton.enabled else _("Select an input volume")
        )
        self.ui.segmentButton.enabled = bool(node and node.input_volume and node.despeckled_volume)
        self.ui.resultsTableView.setMRMLTableNode(node.comparison_table if node else None)

    def list_methods(self) -> None:
        """Fill the method selector from monai-despeckle's registry (learned methods first)."""
        from UltrasoundDespeckleLib import method_choices

        current = self._parameter_node.method if self._parameter_node else DEFAULT_METHOD
        combo = self.ui.methodComboBox
        was_blocked = combo.blockSignals(True)
        combo.clear()
        choices = sorted(method_choices(), key=lambda choice: choice.family != "learned")
        for index, choice in enumerate(choices):
            combo.addItem(f"{choice.name}  ({choice.family}{', GPU' if choice.gpu else ''})", choice.name)
            combo.setItemData(index, choice.description, qt.Qt.ToolTipRole)
        combo.blockSignals(was_blocked)
        if self._parameter_node:
            self._parameter_node.method = current
            index = combo.findData(current)
            combo.currentIndex = index if index >= 0 else 0
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

    def on_apply(self) -> None:
        """Despeckle the input (its whole cine loop for a sequence proxy) and show both side by side."""
        with slicer.util.tryWithErrorDisplay(_("Despeckling failed."), waitCursor=True):
            if not self.logic.ensure_dependencies():
                return
            if not self._methods_listed:
                self.list_methods()
            from UltrasoundDespeckleLib import OperationCancelledError

            node = self._parameter_node
            dialog, progress = self.progress_dialog(_("Despeckling with {method}").format(method=node.method))
            try:
                result = self.logic.despeckle(
                    node.input_volume,
                    method=node.method,
                    device=DEVICES[node.device],
                    axis=SLICE_AXES[node.slice_axis],
                    whole_sequence=node.whole_sequence,
                    progress=progress,
                )
            except OperationCancelledError:
                slicer.util.showStatusMessage(_("Despeckling cancelled; nothing was added."), 5000)
                return
            finally:
                dialog.close()
            node.despeckled_volume = result.output
            self.logic.show_side_by_side(node.input_volume, result.output)
            slicer.util.showStatusMessage(
                _("Despeckled {frames} frames in {seconds:.1f} s ({rate:.1f} frames/s).").format(
                    frames=result.frames, seconds=result.seconds, rate=result.frames_per_second
                ),
                8000,
            )

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
                    axis=SLICE_AXES[node.slice_axis],
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


#
# UltrasoundDespeckleLogic
#


class UltrasoundDespeckleLogic(ScriptedLoadableModuleLogic):
    """Installs the dependencies on first use and hands the work to ``UltrasoundDespeckleLib``.

    Usable without the GUI, e.g. from the Python console::

        logic = slicer.util.getModuleLogic("UltrasoundDespeckle")
        logic.ensure_dependencies()
        result = logic.despeckle(slicer.util.getNode("US"), method="dae_skip")
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
        """Resources/requirements.txt; monai-despeckle from the source checkout when there is one."""
        import slicer.packaging
        from packaging.requirements import Requirement

        requirements = slicer.packaging.load_requirements(resource_path("requirements.txt"))
        checkout = self.source_checkout()
        if checkout is not None:
            requirements = [r for r in requirements if r.name != PACKAGE]
            requirements.append(Requirement(f"{PACKAGE} @ {checkout.as_uri()}"))
        return requirements

    def dependencies_installed(self) -> bool:
        """Whether torch and every requirement are installed (checked without pip, installs nothing)."""
        import slicer.packaging

        return importlib.util.find_spec("torch") is not None and slicer.packaging.pip_check(
            self.requirements()
        )

    def ensure_dependencies(self) -> bool:
        """Install what is missing, asking first: torch via the PyTorch extension, then the requirements.

        Returns:
            False if the user declined an installation.
        """
        if importlib.util.find_spec("torch") is None:
            try:
                import PyTorchUtils
            except ModuleNotFoundError as err:
                raise RuntimeError(
                    _("This module needs the PyTorch extension: install it from the Extensions Manager.")
                ) from err
            torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
                askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT
            )
            if torch is None:
                return False
        import slicer.packaging

        try:
            slicer.packaging.pip_ensure(self.requirements(), requester=REQUESTER)
        except RuntimeError:
            logging.info("Installation of the UltrasoundDespeckle Python dependencies declined")
            return False
        return True

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

    def despeckle(
        self,
        node: vtkMRMLVolumeNode,
        *,
        method: str = DEFAULT_METHOD,
        device: str = "auto",
        axis: int = 0,
        whole_sequence: bool = True,
        progress: "ProgressCallback | None" = None,
    ) -> "DespeckleResult":
        """Despeckle ``node`` (its whole sequence if it is a browser's proxy); see ``despeckle_node``."""
        from UltrasoundDespeckleLib import despeckle_node

        return despeckle_node(
            slicer.mrmlScene,
            node,
            self.despeckler(method, device),
            sequences_logic=slicer.modules.sequences.logic(),
            whole_sequence=whole_sequence,
            axis=axis,
            progress=progress,
        )

    def compare_segmentations(
        self,
        input_node: vtkMRMLVolumeNode,
        despeckled_node: vtkMRMLVolumeNode,
        *,
        task: str,
        device: str = "auto",
        axis: int = 0,
        whole_sequence: bool = True,
        progress: "ProgressCallback | None" = None,
    ) -> "SegmentationComparison":
        """Segment input and result with a task bundle and compare them; see ``compare_segmentations``."""
        from UltrasoundDespeckleLib import compare_segmentations

        return compare_segmentations(
            slicer.mrmlScene,
            self.segmenter(task, device),
            input_node,
            despeckled_node,
            sequences_logic=slicer.modules.sequences.logic(),
            whole_sequence=whole_sequence,
            axis=axis,
            progress=progress,
            name=f"segmentation ({task})",
        )

    def show_side_by_side(self, input_node: vtkMRMLVolumeNode, output_node: vtkMRMLVolumeNode) -> None:
        """Input in the left (Red) view, result in the right (Yellow) view, linked, fitted."""
        from UltrasoundDespeckleLib import show_side_by_side

        show_side_by_side(slicer.mrmlScene, input_node, output_node)
        layout_manager = slicer.app.layoutManager()
        if layout_manager is None:
            return
        layout_manager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
        for view in ("Red", "Yellow"):
            slice_logic = layout_manager.sliceWidget(view).sliceLogic()
            slice_logic.RotateSliceToLowestVolumeAxes()
            slice_logic.FitSliceToAll()

    def show_segmentations(self, comparison: "SegmentationComparison") -> None:
        """Each segmentation in the view of its image; the table in the panel."""
        from UltrasoundDespeckleLib import show_only_in_view
        from UltrasoundDespeckleLib.views import INPUT_VIEW, OUTPUT_VIEW

        show_only_in_view(slicer.mrmlScene, comparison.input_segmentation, INPUT_VIEW)
        show_only_in_view(slicer.mrmlScene, comparison.despeckled_segmentation, OUTPUT_VIEW)


#
# UltrasoundDespeckleTest
#


class UltrasoundDespeckleTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: the scene scenario of tests/test_slicer_logic.py, with the real models.

    Needs monai-despeckle and torch installed in Slicer's Python (the test does not install them).
    """

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:  # noqa: N802 -- ScriptedLoadableModuleTest interface
        self.setUp()
        self.test_despeckle_phantom_volume()
        self.setUp()
        self.test_despeckle_cine_and_segment()

    def _phantom_image(self, frames: int):
        import numpy as np

        from monai_despeckle.io.image import ImageKind, UltrasoundImage
        from monai_despeckle.simulation import simulate_breast

        phantom = simulate_breast(size=128, seed=0, lesion="benign")
        return UltrasoundImage(
            frames=np.stack([np.roll(phantom.bmode, t, axis=1) for t in range(frames)]),
            spacing=(1.0, *phantom.spacing_mm),
            kind=ImageKind.VOLUME,
        )

    def test_despeckle_phantom_volume(self) -> None:
        """A simulated breast volume through the default (learned) method, shown side by side."""
        import numpy as np
        from UltrasoundDespeckleLib import add_volume_node, volume_array

        self.delayDisplay("Despeckling a simulated breast volume")
        logic = UltrasoundDespeckleLogic()
        self.assertTrue(logic.dependencies_installed(), "install monai-despeckle and torch first")
        node = add_volume_node(slicer.mrmlScene, self._phantom_image(4), "BreastPhantom")
        result = logic.despeckle(node, method=DEFAULT_METHOD)
        logic.show_side_by_side(node, result.output)
        self.assertEqual(result.frames, 4)
        before, after = volume_array(node), volume_array(result.output)
        self.assertEqual(before.shape, after.shape)
        self.assertEqual(node.GetSpacing(), result.output.GetSpacing())
        self.assertEqual(node.GetOrigin(), result.output.GetOrigin())
        roughness = [np.abs(np.diff(v.astype(float), axis=2)).mean() for v in (before, after)]
        self.assertLess(roughness[1], roughness[0])
        self.delayDisplay("Volume despeckled")

    def test_despeckle_cine_and_segment(self) -> None:
        """A 10-frame cine as a sequence: despeckle every frame, segment both, check the table."""
        from UltrasoundDespeckleLib import table_column, update_volume_node

        self.delayDisplay("Despeckling and segmenting a simulated cine loop")
        logic = UltrasoundDespeckleLogic()
        cine = self._phantom_image(10)
        sequence = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceNode", "BreastCine")
        sequence.SetIndexName("time")
        sequence.SetIndexUnit("s")
        frame = slicer.vtkMRMLScalarVolumeNode()
        for t in range(10):
            update_volume_node(frame, _frame(cine, t))
            sequence.SetDataNodeAtValue(frame, f"{t * 0.05:.2f}")
        browser = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "BreastCine browser")
        browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
        slicer.modules.sequences.logic().UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(sequence)

        result = logic.despeckle(proxy, method="gaussian")
        self.assertEqual(result.sequence.GetNumberOfDataNodes(), 10)
        self.assertTrue(browser.IsSynchronizedSequenceNode(result.sequence))
        comparison = logic.compare_segmentations(proxy, result.output, task="seg_breast_lesion")
        logic.show_segmentations(comparison)
        self.assertEqual(comparison.table.GetNumberOfRows(), 10)
        self.assertEqual(comparison.input_sequence.GetNumberOfDataNodes(), 10)
        for label in comparison.metrics.label_values:
            dice = table_column(comparison.table, f"{label} Dice")
            self.assertTrue(all(0.0 <= value <= 1.0 for value in dice))
        self.delayDisplay("Cine despeckled and segmented")


def _frame(image, t: int):
    """Frame ``t`` of an image as a single-frame image with the same geometry (a cine item)."""
    import dataclasses

    from monai_despeckle.io.image import ImageKind

    return dataclasses.replace(image, frames=image.frames[t : t + 1], kind=ImageKind.IMAGE)
