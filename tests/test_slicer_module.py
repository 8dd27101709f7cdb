"""The module file as Slicer 5.12 runs it: real parameter-node binding, qt/ctk doubles, slicer-core's scene.

``UltrasoundDespeckle.py`` is imported with Slicer 5.12.0's own ``slicer.parameterNodeWrapper`` (read
from ``../shared/third_party``) and the widget doubles of ``slicer_gui_doubles``. Its panel is built
from the ``.ui`` file by slicer-core's ``slicer.util.loadUI`` and bound by ``connectGui``, so every
widget bound with ``SlicerParameterName`` gets its connector from Slicer's real registry, tried in
Slicer's order, with the module's own connector registered after the built-in ones.
"""

from __future__ import annotations

import importlib
import sys
import types
import typing
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core package (pip install slicer-core)")
doubles = importlib.import_module("slicer_gui_doubles")
slicer_scene = importlib.import_module("slicer_scene")

pytestmark = pytest.mark.skipif(
    not (doubles.SHARED_WRAPPER / "slicer" / "parameterNodeWrapper").is_dir(),
    reason=f"needs Slicer 5.12.0's parameterNodeWrapper in {doubles.SHARED_WRAPPER}",
)

MODULE_DIR = Path(__file__).resolve().parents[1] / "slicer_extension" / "UltrasoundDespeckle"
MODULE_FILE = MODULE_DIR / "UltrasoundDespeckle.py"
scene = slicer_scene.scene  # the fixture

# What Slicer's registry must pick for each parameter the .ui binds.
EXPECTED_CONNECTORS = {
    "input_volume": "qMRMLNodeComboBoxToNodeConnector",
    "whole_sequence": "QCheckBoxToBoolConnector",
    "method": "MethodComboBoxConnector",
    "device": "QComboBoxToStringableConnector",
    "slice_axis": "QComboBoxToStringableConnector",
    "protect_annotations": "QCheckBoxToBoolConnector",
    "despeckled_volume": "qMRMLNodeComboBoxToNodeConnector",
    "strength": "QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector",
    "compare_mode": "QComboBoxToStringableConnector",
    "flicker": "QCheckablePushButtonToBoolConnector",
    "segmentation_task": "QComboBoxToStringableConnector",
    "comparison_table": "qMRMLNodeComboBoxToNodeConnector",
    "export_folder": "ctkDirectoryButtonToPathConnector",
}
UNBOUND = {"saved_views"}  # kept in the parameter node, not shown in the panel


class Slicer(types.SimpleNamespace):
    """What a test gets: the imported module, Slicer's wrapper package, the scene, the doubles."""


@pytest.fixture
def env(scene):
    packaging = doubles.Packaging(installed=True)
    torch_utils = doubles.PyTorchUtilsDouble()
    app = doubles.Application()
    modules = types.SimpleNamespace(sequences=types.SimpleNamespace(logic=lambda: scene.sequences_logic))
    extra = {"slicer.packaging": packaging.module(), "PyTorchUtils": torch_utils.module()}
    with doubles.installed(scene, app=app, modules=modules, extra_modules=extra) as wrapper:
        module = doubles.import_module_file(MODULE_FILE)
        env = Slicer(
            module=module,
            wrapper=wrapper,
            scene=scene,
            app=app,
            packaging=packaging,
            torch_utils=torch_utils,
            widgets=[],
        )
        yield env
        for widget in env.widgets:  # as Slicer does when the module is unloaded
            widget.cleanup()


def open_panel(env) -> tuple[object, doubles.QWidget]:
    """Set the widget up as Slicer does when the module is first shown; return it and the .ui's root."""
    widget = env.module.UltrasoundDespeckleWidget(doubles.ModulePanel())
    env.widgets.append(widget)
    widget.setup()
    return widget, widget.layout.items[-1]


def slicer_datatype(datatype):
    """The datatype as ``createGuiConnector`` hands it to the connectors (``X | Y`` as ``typing.Union``)."""
    if isinstance(datatype, types.UnionType):
        return typing.Union[typing.get_args(datatype)]  # noqa: UP007 -- the conversion Slicer makes
    return datatype


def bound_widgets(root) -> dict[str, object]:
    return {
        child.property("SlicerParameterName"): child
        for child in root.findChildren(doubles.QWidget)
        if child.property("SlicerParameterName")
    }


# --------------------------------------------------------------------------- binding


def test_every_bound_widget_gets_its_connector_from_slicers_registry(env):
    widget, root = open_panel(env)

    parameter_node_class = env.module.UltrasoundDespeckleParameterNode
    widgets = bound_widgets(root)
    assert set(widgets) == set(parameter_node_class.allParameters) - UNBOUND == set(EXPECTED_CONNECTORS)
    registry = env.wrapper.guiConnectors._registeredGuiConnectors
    for name, bound in widgets.items():
        datatype = slicer_datatype(parameter_node_class.dataType(name))
        first = next(connector for connector in registry if connector.canRepresent(bound, datatype))
        assert first.__name__ == EXPECTED_CONNECTORS[name], name
        assert type(env.wrapper.createGuiConnector(bound, datatype)) is first
    assert registry.index(env.module.MethodComboBoxConnector) > registry.index(
        env.wrapper.guiConnectors.QComboBoxToStringableConnector
    )  # registered after the built-in combo-box connectors, which do not claim a MethodName
    connected = widget._parameter_node._parameterGUIs[widget._gui_tag]
    assert {name: type(c).__name__ for name, c in connected.items()} == EXPECTED_CONNECTORS
    assert tuple(widget.ui.inputSelector.nodeTypes) == ("vtkMRMLScalarVolumeNode", "vtkMRMLVectorVolumeNode")
    assert (widget.ui.strengthSlider.minimum, widget.ui.strengthSlider.maximum) == (0.0, 100.0)
    assert widget.ui.strengthSlider.value == 100.0


def test_the_two_clashes_that_kept_the_panel_closed(env):
    """Why ``method`` has its own type and ``input_volume`` names concrete classes (Slicer 5.12's rules)."""
    connectors, util = env.wrapper.guiConnectors, env.wrapper.util
    combo = doubles.ctkComboBox()
    assert connectors.QComboBoxToStringableConnector.canRepresent(combo, str)
    with pytest.raises(RuntimeError, match="requires the Choice annotation"):
        connectors.QComboBoxToStringableConnector.create(combo, str)
    with pytest.raises(TypeError, match="abstract"):
        util.getNodeTypes(slicer.vtkMRMLVolumeNode)


def test_panel_and_parameter_node_round_trip(env, tmp_path):
    widget, _ = open_panel(env)
    ui, node = widget.ui, widget._parameter_node
    colour = slicer_scene.make_volume(
        env.scene, np.zeros((1, 4, 4, 3), np.uint8), node_class="vtkMRMLVectorVolumeNode"
    )
    grey = slicer_scene.make_volume(env.scene, np.zeros((1, 4, 4), np.uint8), name="grey")
    table = slicer.vtkMRMLTableNode()
    env.scene.AddNode(table)
    widget.list_methods()

    # panel -> parameter node
    ui.inputSelector.setCurrentNode(colour)
    ui.wholeSequenceCheckBox.checked = False
    ui.methodComboBox.currentIndex = ui.methodComboBox.findData("median")
    ui.deviceComboBox.currentIndex = ui.deviceComboBox.findText("CPU")
    ui.sliceAxisComboBox.currentIndex = 2
    ui.protectAnnotationsCheckBox.checked = False
    ui.despeckledSelector.setCurrentNode(grey)
    ui.strengthSlider.value = 35
    ui.compareModeComboBox.currentIndex = 1
    ui.segmentationTaskComboBox.currentIndex = 1
    ui.resultsTableSelector.setCurrentNode(table)
    ui.exportFolderButton.directory = str(tmp_path)
    assert node.input_volume is colour and node.whole_sequence is False
    assert node.method == env.module.MethodName("median") and node.device == "CPU"
    assert node.slice_axis == "I (columns)" and node.protect_annotations is False
    assert node.despeckled_volume is grey and node.strength == 35.0
    assert node.compare_mode == env.module.OVERLAY and node.segmentation_task == "Carotid lumen"
    assert node.comparison_table is table and node.export_folder == tmp_path
    assert node.parameterNode.GetParameter("method") == "median"

    # parameter node -> panel
    node.input_volume = grey
    node.method = env.module.MethodName("a_user_bundle")  # not in the registry: shown anyway
    node.strength = 70.0
    node.device = "GPU"
    node.flicker = True
    assert ui.inputSelector.currentNode() is grey
    assert ui.methodComboBox.itemData(ui.methodComboBox.currentIndex) == "a_user_bundle"
    assert ui.strengthSlider.value == 70.0 and ui.deviceComboBox.currentText == "GPU"
    assert ui.flickerButton.checked
    node.flicker = False
    with pytest.raises(ValueError, match="must be in one of"):
        node.compare_mode = "Checkerboard"


def test_a_saved_scene_restores_the_panel(env, tmp_path):
    widget, _ = open_panel(env)
    node = widget._parameter_node
    colour = slicer_scene.make_volume(
        env.scene, np.zeros((1, 4, 4, 3), np.uint8), node_class="vtkMRMLVectorVolumeNode", name="colour scan"
    )
    node.input_volume = colour
    node.method = env.module.MethodName("srad")
    node.strength = 45.0
    node.compare_mode = env.module.OVERLAY
    node.export_folder = tmp_path
    env.scene.SetSaveToXMLString(1)
    env.scene.Commit()
    saved = env.scene.GetSceneXMLString()

    restored = slicer.vtkMRMLScene()
    restored.SetLoadFromXMLString(1)
    restored.SetSceneXMLString(saved)
    restored.Import()
    slicer.mrmlScene = restored  # undone by the doubles on exit
    widget, _ = open_panel(env)

    ui = widget.ui
    assert ui.inputSelector.currentNode().GetName() == "colour scan"
    assert ui.inputSelector.currentNode().IsA("vtkMRMLVectorVolumeNode")
    assert ui.methodComboBox.itemData(ui.methodComboBox.currentIndex) == "srad"
    assert ui.strengthSlider.value == 45.0 and ui.compareModeComboBox.currentText == env.module.OVERLAY
    assert Path(ui.exportFolderButton.directory) == tmp_path
    restored.Clear(1)


def test_an_older_slicer_gets_a_message_instead_of_a_broken_panel(scene):
    app = doubles.Application(version=(5, 10, 1))
    with doubles.installed(scene, app=app):
        module = doubles.import_module_file(MODULE_FILE)
        widget = module.UltrasoundDespeckleWidget(doubles.ModulePanel())
        widget.setup()
        (label,) = widget.layout.items
        assert "needs 3D Slicer 5.12 or later" in label.text and "this is Slicer 5.10" in label.text
        assert widget.ui is None
        widget.enter()  # nothing to bind, nothing fails


# --------------------------------------------------------------------------- dependencies


def torch_check(env, version: str | None, gpu_build: str | None = None, nvidia_gpu: bool = False):
    environment = importlib.import_module("UltrasoundDespeckleLib.environment")
    return environment.TorchCheck(version, gpu_build, nvidia_gpu)


def use_torch(monkeypatch, env, check) -> None:
    environment = importlib.import_module("UltrasoundDespeckleLib.environment")
    monkeypatch.setattr(environment, "check_torch", lambda requirement=environment.TORCH_REQUIREMENT: check)


def answers(monkeypatch, ok_cancel: bool, yes_no: bool = False) -> list[str]:
    asked: list[str] = []

    def confirm(text, *args, **kwargs):
        asked.append(text)
        return ok_cancel

    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", confirm)
    monkeypatch.setattr(
        slicer.util, "confirmYesNoDisplay", lambda text, *a, **k: asked.append(text) or yes_no
    )
    monkeypatch.setattr(slicer.util, "restart", lambda: asked.append("restart"))
    return asked


def test_requirements_are_installed_by_pip_ensure_and_never_replace_torch(env, monkeypatch):
    use_torch(monkeypatch, env, torch_check(env, "2.13.0+cu128", "12.8", nvidia_gpu=True))
    env.packaging.installed = False
    logic = env.module.UltrasoundDespeckleLogic()

    assert logic.ensure_dependencies()

    (call,) = env.packaging.ensure_calls
    assert call["requester"] == "UltrasoundDespeckle" and "torch" in call["skip_packages"]
    assert any(r.startswith("monai-despeckle") for r in call["requirements"])
    assert not any(r.startswith("torch") for r in call["requirements"])
    assert env.torch_utils.calls == []


def test_a_too_old_torch_gets_an_offer_and_nothing_happens_without_consent(env, monkeypatch):
    use_torch(monkeypatch, env, torch_check(env, "2.4.1+cu121", "12.1", nvidia_gpu=True))
    asked = answers(monkeypatch, ok_cancel=False)

    assert not env.module.UltrasoundDespeckleLogic().ensure_dependencies()

    assert "too old" in asked[0] and "torch>=2.8" in asked[0]
    assert env.torch_utils.calls == [] and env.packaging.ensure_calls == []


def test_a_cpu_torch_on_a_gpu_computer_is_replaced_through_pytorchutils_when_accepted(env, monkeypatch):
    use_torch(monkeypatch, env, torch_check(env, "2.13.0+cpu", None, nvidia_gpu=True))
    asked = answers(monkeypatch, ok_cancel=True, yes_no=True)

    assert not env.module.UltrasoundDespeckleLogic().ensure_dependencies()  # needs the restart first

    assert "CPU-only build" in asked[0]
    assert [name for name, _ in env.torch_utils.calls] == ["uninstallTorch", "installTorch"]
    assert env.torch_utils.calls[1][1] == {"askConfirmation": False, "torchVersionRequirement": ">=2.8"}
    assert asked[-1] == "restart" and env.packaging.ensure_calls == []


def test_a_declined_cpu_torch_still_runs_on_the_cpu(env, monkeypatch):
    use_torch(monkeypatch, env, torch_check(env, "2.13.0+cpu", None, nvidia_gpu=True))
    answers(monkeypatch, ok_cancel=False)
    assert env.module.UltrasoundDespeckleLogic().ensure_dependencies()
    assert env.torch_utils.calls == [] and len(env.packaging.ensure_calls) == 1


def test_a_missing_torch_needs_the_pytorch_extension(env, monkeypatch):
    use_torch(monkeypatch, env, torch_check(env, None))
    answers(monkeypatch, ok_cancel=True)
    assert env.module.UltrasoundDespeckleLogic().ensure_dependencies()
    assert env.torch_utils.calls == [
        ("installTorch", {"askConfirmation": False, "torchVersionRequirement": ">=2.8"})
    ]
    monkeypatch.delitem(sys.modules, "PyTorchUtils")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "PyTorch" not in p])
    with pytest.raises(RuntimeError, match="Install the PyTorch extension from the Extensions Manager"):
        env.module.UltrasoundDespeckleLogic().ensure_dependencies()


def test_testing_mode_installs_nothing_and_the_self_test_does_not_fail_on_it(env, monkeypatch):
    env.app.testing = True
    env.packaging.installed = False
    use_torch(monkeypatch, env, torch_check(env, None))
    logic = env.module.UltrasoundDespeckleLogic()

    assert not logic.ensure_dependencies()
    assert env.torch_utils.calls == []

    test = env.module.UltrasoundDespeckleTest()
    shown: list[str] = []
    test.delayDisplay = lambda message, *args: shown.append(message)
    test.runTest()  # the parameter-node part runs; the despeckling part reports itself skipped
    assert "skipped" in shown[-1]


# --------------------------------------------------------------------------- the panel at work


def test_panel_despeckles_blends_compares_flickers_exports_and_restores_the_layout(env, tmp_path):
    layout, composites, _ = slicer_scene.add_views(env.scene)
    layout.SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutConventionalView)
    widget, _ = open_panel(env)
    ui, node = widget.ui, widget._parameter_node

    ui.sampleDataButton.click()
    proxy = node.input_volume
    assert proxy.GetName() == "US phantom cine" and ui.applyButton.enabled
    node.method = env.module.MethodName("median")
    ui.applyButton.click()

    output = node.despeckled_volume
    assert output is not None and output.GetName() == "US phantom cine despeckled (median)"
    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView
    assert composites["Yellow"].GetBackgroundVolumeID() == output.GetID()
    assert ui.restoreLayoutButton.enabled and ui.exportButton.enabled
    assert "kept unchanged" in env.app.status_messages[-1]

    lib = importlib.import_module("UltrasoundDespeckleLib")
    browser = lib.browser_for_proxy(env.scene, output)
    result_sequence = browser.GetSequenceNode(output)
    full = result_sequence.GetNodeReference("UltrasoundDespeckle.FullStrength")
    source = browser.GetSequenceNode(proxy)
    ui.strengthSlider.value = 40
    assert widget._strength_timer.isActive()
    widget._strength_timer.fire()
    original = slicer_scene.voxels(source.GetNthDataNode(3)).astype(float)
    expected = np.rint(0.6 * original + 0.4 * slicer_scene.voxels(full.GetNthDataNode(3)))
    np.testing.assert_array_equal(slicer_scene.voxels(result_sequence.GetNthDataNode(3)), expected)

    ui.flickerButton.click()
    assert node.compare_mode == env.module.OVERLAY and widget._flicker_timer.isActive()
    red = composites["Red"]
    assert (red.GetBackgroundVolumeID(), red.GetForegroundVolumeID()) == (proxy.GetID(), output.GetID())
    widget._flicker_timer.fire()
    assert red.GetForegroundOpacity() == 0.0
    ui.flickerButton.click()
    assert not widget._flicker_timer.isActive() and red.GetForegroundOpacity() == 1.0

    ui.exportFolderButton.directory = str(tmp_path)
    ui.exportButton.click()
    (exported,) = tmp_path.glob("*.dcm")
    assert exported.name == "US_phantom_cine_despeckled_median.dcm"
    assert str(exported) in env.app.status_messages[-1]

    ui.restoreLayoutButton.click()
    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutConventionalView
    assert red.GetBackgroundVolumeID() is None and not ui.restoreLayoutButton.enabled

    ui.compareModeComboBox.currentIndex = ui.compareModeComboBox.findText(env.module.SIDE_BY_SIDE)
    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView  # shown again
    assert ui.restoreLayoutButton.enabled


# --------------------------------------------------------------------------- environment checks (no Slicer)


def environment_module():
    if str(MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(MODULE_DIR))
    return importlib.import_module("UltrasoundDespeckleLib.environment")


def test_slicer_version_check():
    environment = environment_module()
    assert environment.slicer_version_problem(5, 12) is None
    assert environment.slicer_version_problem(6, 0) is None
    assert "this is Slicer 5.8" in environment.slicer_version_problem(5, 8)


@pytest.mark.parametrize(
    ("version", "gpu_build", "nvidia", "problem"),
    [
        ("2.13.0+cu128", "12.8", True, None),
        ("2.13.0+cpu", None, False, None),  # no NVIDIA GPU: a CPU build is the right one
        ("2.13.0", None, True, "CPU_BUILD"),  # CPU-only wheel on a GPU computer
        ("2.9.1+rocm6.3", "6.3.42131", False, None),
        ("2.7.1+cu126", "12.6", True, "TOO_OLD"),
        ("2.8.0.dev20250101+cu128", "12.8", True, None),
        (None, None, True, "MISSING"),
        ("not a version", None, False, "TOO_OLD"),
    ],
)
def test_torch_is_judged_by_version_and_build(version, gpu_build, nvidia, problem):
    environment = environment_module()
    check = environment.TorchCheck(version, gpu_build, nvidia)
    assert check.problem == (getattr(environment.TorchProblem, problem) if problem else None)
    assert check.blocking == (problem in ("MISSING", "TOO_OLD"))
    assert (check.message() == "") == (problem is None)


def test_installed_torch_is_read_without_importing_it(tmp_path):
    environment = environment_module()
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / "version.py").write_text(
        "from typing import Optional\n__version__ = '2.9.0+cu128'\ncuda: Optional[str] = '12.8'\nhip = None\n"
    )
    metadata = tmp_path / "torch-2.9.0+cu128.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.9.0+cu128\n")
    assert environment.installed_torch([str(tmp_path)]) == ("2.9.0+cu128", "12.8")
    assert environment.installed_torch([str(tmp_path / "empty")]) == (None, None)


def test_the_phantom_cine_is_offered_in_sample_data_and_loads_in_one_click(env):
    registered: list[dict] = []

    def register(**options):
        lengths = {len(options[key]) for key in ("uris", "fileNames", "nodeNames")}
        assert len(lengths) == 1  # SampleDataSource refuses fields of different lengths
        registered.append(options)

    sample_data = types.ModuleType("SampleData")
    sample_data.SampleDataLogic = types.SimpleNamespace(registerCustomSampleDataSource=register)
    sys.modules["SampleData"] = sample_data
    try:
        env.module.register_sample_data()
    finally:
        del sys.modules["SampleData"]

    (options,) = registered
    assert options["category"] == "Ultrasound" and Path(options["thumbnailFileName"]).is_file()
    proxy = options["customDownloader"](object())  # what the Sample Data button does
    assert proxy.GetName() == "US phantom cine" and proxy.GetScene() is env.scene


def test_the_self_test_passes_with_the_dependencies_installed(env):
    """``UltrasoundDespeckleTest`` as Reload and Test runs it: the default learned method on the phantom."""
    test = env.module.UltrasoundDespeckleTest()
    shown: list[str] = []
    test.delayDisplay = lambda message, *args: shown.append(message)
    test.runTest()
    assert shown[-1] == "Phantom cine despeckled, blended and exported"
