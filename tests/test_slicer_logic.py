"""The Slicer module's Qt-free logic against a real MRML scene (the PyPI ``slicer-core`` package).

Volumes and sequences are built here with Slicer's own API (not with the code under test), then
despeckled, segmented and compared through ``slicer_extension/UltrasoundDespeckle/UltrasoundDespeckleLib``.
The module file itself (GUI glue) is exercised in ``test_slicer_module.py`` with Slicer's own
parameter-node binding; here it is only checked statically (no import-time dependencies).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from PIL import Image
from scipy.spatial.transform import Rotation
from skimage.filters import threshold_otsu

from monai_despeckle import io
from monai_despeckle.errors import (
    InvalidImageError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownMethodError,
)
from monai_despeckle.inference import Despeckler, NetworkMethod
from monai_despeckle.io.color import ColorConvertedWarning
from monai_despeckle.io.image import DEFAULT_DIRECTION, ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.resolver import available_methods
from monai_despeckle.simulation import simulate_breast

slicer = pytest.importorskip("slicer", reason="needs the slicer-core package (pip install slicer-core)")
vtk = pytest.importorskip("vtk")

MODULE_DIR = Path(__file__).resolve().parents[1] / "slicer_extension" / "UltrasoundDespeckle"
sys.path.insert(0, str(MODULE_DIR))
lib = importlib.import_module("UltrasoundDespeckleLib")
views = importlib.import_module("UltrasoundDespeckleLib.views")
slicer_scene = importlib.import_module("slicer_scene")

OBLIQUE = Rotation.from_euler("xyz", [20.0, -30.0, 45.0], degrees=True).as_matrix()


# --------------------------------------------------------------------------- scene helpers


scene = slicer_scene.scene  # the fixture
ijk_to_ras = slicer_scene.ijk_to_ras
make_volume = slicer_scene.make_volume
voxels = slicer_scene.voxels
phantom_frames = slicer_scene.phantom_frames
make_cine = slicer_scene.make_cine
node_ids = slicer_scene.node_ids
FRAME_TIME_S = slicer_scene.FRAME_TIME_S


class OtsuSegmenter:
    """A real, tiny segmenter: per frame, the pixels darker than Otsu's threshold are the lesion."""

    labels = {"lesion": 1}  # noqa: RUF012 -- the Segmenter interface's attribute

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def run(self, image: UltrasoundImage, axis: int = 0) -> np.ndarray:
        self.calls.append((image.num_frames, axis))
        frames = np.moveaxis(image.frames, axis, 0)
        labels = np.stack([(frame < threshold_otsu(frame)).astype(np.uint8) for frame in frames])
        return np.moveaxis(labels, 0, axis)


class ThresholdSegmenter:
    """Bright pixels (> 0.5) are label 1: exact masks for constructed images."""

    labels = {"lesion": 1}  # noqa: RUF012 -- the Segmenter interface's attribute

    def run(self, image: UltrasoundImage, axis: int = 0) -> np.ndarray:
        return (image.frames > 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- geometry


def test_lps_ras_conversion_agrees_with_slicers_own_nrrd_reader(scene, tmp_path):
    """An image saved by monai_despeckle and read by Slicer lands where our conversion puts it."""
    direction = OBLIQUE @ DEFAULT_DIRECTION  # a proper rotation in ITK (x, y, z) order
    values = np.random.default_rng(0).integers(0, 256, (4, 5, 6), dtype=np.uint8)
    mapping = IntensityMapping.for_array(values)
    image = UltrasoundImage(
        frames=mapping.to_unit(values),
        spacing=(2.0, 0.5, 0.3),
        origin=(10.0, -20.0, 5.0),
        direction=direction,
        kind=ImageKind.VOLUME,
        intensity=mapping,
    )
    path = io.save(image, tmp_path / "oblique.nrrd")
    node = slicer.vtkMRMLScalarVolumeNode()
    scene.AddNode(node)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1

    expected = lib.VolumeGeometry.from_array_order(image.spacing, image.origin, image.direction)
    np.testing.assert_allclose(ijk_to_ras(node), expected.ijk_to_ras(), atol=1e-9)
    np.testing.assert_array_equal(voxels(node), values)
    back = lib.image_from_volume_node(node)
    np.testing.assert_allclose(back.direction, direction, atol=1e-9)
    np.testing.assert_allclose(back.origin, image.origin, atol=1e-9)
    np.testing.assert_allclose(back.spacing, image.spacing, atol=1e-9)


def test_image_geometry_is_lps_in_array_order(scene):
    """RAS (Slicer) -> LPS (ITK), and (I, J, K) -> (T, H, W) = (K, J, I)."""
    node = make_volume(scene, np.zeros((3, 4, 5), np.uint8), spacing=(0.5, 0.6, 2.0), origin=(10, 20, 30))
    image = lib.image_from_volume_node(node)
    assert image.kind is ImageKind.VOLUME
    assert image.spacing == (2.0, 0.6, 0.5)
    assert image.origin == (-10.0, -20.0, 30.0)
    np.testing.assert_array_equal(image.direction, [[0, 0, -1], [0, -1, 0], [1, 0, 0]])
    # the same voxel is at the same physical point in both conventions
    t, h, w = 2, 3, 1
    lps = np.asarray(image.origin) + image.direction @ (np.array([t, h, w]) * image.spacing)
    ras = ijk_to_ras(node) @ np.array([w, h, t, 1.0])
    np.testing.assert_allclose(lib.LPS_TO_RAS @ lps, ras[:3])


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int16, np.uint16, np.float32], ids=["uint8", "int16", "uint16", "float32"]
)
def test_node_to_image_to_node_round_trip_is_exact(scene, dtype):
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind == "f":
        values = rng.random((3, 7, 9)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        values = rng.integers(max(info.min, -3000), min(info.max, 3000), (3, 7, 9)).astype(dtype)
    node = make_volume(scene, values, directions=OBLIQUE)
    image = lib.image_from_volume_node(node)
    assert image.frames.dtype == np.float32 and 0.0 <= image.frames.min() <= image.frames.max() <= 1.0
    copy = lib.add_volume_node(scene, image, "copy")
    assert voxels(copy).dtype == values.dtype
    np.testing.assert_array_equal(voxels(copy), values)
    np.testing.assert_array_equal(ijk_to_ras(copy), ijk_to_ras(node))


def test_single_slice_node_keeps_its_slice_spacing(scene):
    node = make_volume(scene, np.full((1, 6, 8), 7, np.uint8), spacing=(0.3, 0.4, 3.0))
    image = lib.image_from_volume_node(node)
    assert image.kind is ImageKind.IMAGE
    assert image.spacing == (1.0, 0.4, 0.3)  # UltrasoundImage's convention for 2-D images
    copy = lib.add_volume_node(scene, image, "copy")
    assert copy.GetSpacing() == (0.3, 0.4, 3.0)
    np.testing.assert_array_equal(ijk_to_ras(copy), ijk_to_ras(node))


# --------------------------------------------------------------------------- despeckling


def test_despeckle_volume_keeps_geometry_and_matches_the_engine(scene):
    frames = phantom_frames(5)
    node = make_volume(scene, frames, directions=OBLIQUE)
    transform = slicer.vtkMRMLLinearTransformNode()
    scene.AddNode(transform)
    node.SetAndObserveTransformNodeID(transform.GetID())
    reports: list[tuple[int, int]] = []
    despeckler = lib.create_despeckler("median", "cpu")

    result = lib.despeckle_volume_node(scene, node, despeckler, progress=lambda d, t: reports.append((d, t)))

    output = result.output
    assert output.GetScene() is scene and output.GetName() == "input despeckled (median)"
    assert output.GetAttribute("UltrasoundDespeckle.Method") == "median"
    assert output.GetAttribute("UltrasoundDespeckle.SourceNodeID") == node.GetID()
    assert output.GetTransformNodeID() == transform.GetID()
    np.testing.assert_array_equal(ijk_to_ras(output), ijk_to_ras(node))
    expected = Despeckler("median", device="cpu").run(lib.image_from_volume_node(node))
    np.testing.assert_array_equal(voxels(output), expected.source_values())
    assert voxels(output).dtype == np.uint8
    # the median filter removes speckle: neighbouring pixels agree more
    roughness_in = np.abs(np.diff(frames.astype(float), axis=2)).mean()
    roughness_out = np.abs(np.diff(voxels(output).astype(float), axis=2)).mean()
    assert roughness_out < 0.7 * roughness_in
    assert reports[0] == (0, 5) and reports[-1] == (5, 5)
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)
    assert result.frames == 5 and result.sequence is None


def test_despeckle_volume_along_another_axis_matches_the_engine(scene):
    node = make_volume(scene, phantom_frames(6, size=32))
    result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("gaussian", "cpu"), axis=1)
    expected = Despeckler("gaussian", device="cpu").run(lib.image_from_volume_node(node), axis=1)
    np.testing.assert_array_equal(voxels(result.output), expected.source_values())
    assert result.frames == 32  # slices along J


def test_despeckle_volume_with_the_dae_skip_bundle(scene):
    frames = phantom_frames(3, size=48)
    node = make_volume(scene, frames)
    despeckler = lib.create_despeckler("dae_skip", "cpu")
    assert isinstance(despeckler.method, NetworkMethod)  # the bundle's trained network, not a filter
    result = lib.despeckle_volume_node(scene, node, despeckler)
    expected = despeckler.run(lib.image_from_volume_node(node))
    np.testing.assert_allclose(
        voxels(result.output).astype(int), expected.source_values().astype(int), atol=1
    )
    assert not np.array_equal(voxels(result.output), frames)
    np.testing.assert_array_equal(ijk_to_ras(result.output), ijk_to_ras(node))
    assert "dae_skip" in result.output.GetAttribute("UltrasoundDespeckle.Derivation")


def test_despeckle_cine_sequence_into_a_synchronised_sequence(scene):
    frames = phantom_frames(30)
    sequence, browser, proxy = make_cine(scene, frames)
    reports: list[tuple[int, int]] = []
    despeckler = lib.create_despeckler("gaussian", "cpu")

    result = lib.despeckle_node(
        scene,
        proxy,
        despeckler,
        sequences_logic=scene.sequences_logic,
        progress=lambda d, t: reports.append((d, t)),
    )

    output = result.sequence
    assert result.browser is browser and result.frames == 30
    assert output.GetNumberOfDataNodes() == 30
    assert browser.IsSynchronizedSequenceNode(output) and browser.GetProxyNode(output) is result.output
    assert output.GetIndexName() == "time" and output.GetIndexUnit() == "s"
    assert [output.GetNthIndexValue(i) for i in range(30)] == [
        sequence.GetNthIndexValue(i) for i in range(30)
    ]
    engine = Despeckler("gaussian", device="cpu")
    for t in (0, 17, 29):
        item_in, item_out = sequence.GetNthDataNode(t), output.GetNthDataNode(t)
        np.testing.assert_array_equal(ijk_to_ras(item_out), ijk_to_ras(item_in))
        expected = engine.run(lib.image_from_volume_node(item_in))
        np.testing.assert_array_equal(voxels(item_out), expected.source_values())
    assert reports[-1] == (30, 30)
    # the output proxy follows the browser frame by frame
    browser.SetSelectedItemNumber(17)
    scene.sequences_logic.UpdateProxyNodesFromSequences(browser)
    np.testing.assert_array_equal(voxels(result.output), voxels(output.GetNthDataNode(17)))
    np.testing.assert_array_equal(voxels(proxy), frames[17][None])


def test_despeckle_3d_plus_t_sequence_along_an_axis(scene):
    """Items that are 3-D volumes are despeckled one by one, sliced along the chosen axis."""
    volume = phantom_frames(4, size=32)
    sequence = slicer.vtkMRMLSequenceNode()
    for t in range(3):
        sequence.SetDataNodeAtValue(make_volume(None, np.roll(volume, t, axis=2)), str(t))
    scene.AddNode(sequence)
    browser = slicer.vtkMRMLSequenceBrowserNode()
    scene.AddNode(browser)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    scene.sequences_logic.UpdateProxyNodesFromSequences(browser)
    reports: list[tuple[int, int]] = []

    result = lib.despeckle_node(
        scene,
        browser.GetProxyNode(sequence),
        lib.create_despeckler("gaussian", "cpu"),
        sequences_logic=scene.sequences_logic,
        axis=2,
        progress=lambda d, t: reports.append((d, t)),
    )

    assert result.frames == 3 * 32 and reports[-1] == (96, 96)
    expected = Despeckler("gaussian", device="cpu").run(
        lib.image_from_volume_node(sequence.GetNthDataNode(1)), axis=2
    )
    np.testing.assert_array_equal(voxels(result.sequence.GetNthDataNode(1)), expected.source_values())
    _, _, flat = make_cine(scene, phantom_frames(3, size=16), name="flat")
    with pytest.raises(InvalidParameterError, match="single frame"):  # a cine of 2-D frames has no axis 2
        lib.despeckle_node(
            scene, flat, lib.create_despeckler("gaussian"), sequences_logic=scene.sequences_logic, axis=2
        )


def test_sequence_frames_read_a_cine(scene):
    frames = phantom_frames(8, size=32)
    sequence, _, _ = make_cine(scene, frames)
    cine = lib.SequenceFrames.of(sequence).cine_image()
    assert cine.kind is ImageKind.CINE and cine.num_frames == 8
    assert cine.frame_time_ms == pytest.approx(FRAME_TIME_S * 1000)
    assert cine.spacing == (1.0, 0.25, 0.2)
    np.testing.assert_array_equal(cine.source_values(), frames)


def test_despeckle_only_the_shown_frame_when_asked(scene):
    _, browser, proxy = make_cine(scene, phantom_frames(4, size=32))
    sequences_before = browser.GetNumberOfSynchronizedSequenceNodes()
    result = lib.despeckle_node(
        scene,
        proxy,
        lib.create_despeckler("mean", "cpu"),
        sequences_logic=scene.sequences_logic,
        whole_sequence=False,
    )
    assert result.sequence is None and result.output.GetImageData().GetDimensions() == (32, 32, 1)
    assert browser.GetNumberOfSynchronizedSequenceNodes() == sequences_before


def test_cancel_mid_sequence_leaves_no_output(scene):
    _, browser, proxy = make_cine(scene, phantom_frames(30, size=32))
    before = node_ids(scene)
    synchronized = browser.GetNumberOfSynchronizedSequenceNodes()
    seen: list[int] = []

    def cancel_after_ten(done: int, total: int) -> bool:
        seen.append(done)
        return done >= 10

    despeckler = Despeckler("gaussian", device="cpu", batch_size=4)
    with pytest.raises(lib.OperationCancelledError):
        lib.despeckle_node(
            scene, proxy, despeckler, sequences_logic=scene.sequences_logic, progress=cancel_after_ten
        )
    assert 10 <= seen[-1] < 30  # stopped mid-sequence
    assert node_ids(scene) == before
    assert browser.GetNumberOfSynchronizedSequenceNodes() == synchronized


def test_cancel_mid_volume_leaves_no_output(scene):
    node = make_volume(scene, phantom_frames(12, size=32))
    before = node_ids(scene)
    despeckler = Despeckler("gaussian", device="cpu", batch_size=2)
    with pytest.raises(lib.OperationCancelledError):
        lib.despeckle_volume_node(scene, node, despeckler, progress=lambda done, total: done >= 4)
    assert node_ids(scene) == before


def test_rgb_volume_is_reduced_to_grey(scene):
    grey = phantom_frames(1, size=32)[0]
    rgb = np.stack([grey, grey, np.roll(grey, 3)], axis=-1)[None]  # blue channel differs: true colour
    node = make_volume(scene, rgb, node_class="vtkMRMLVectorVolumeNode")
    with pytest.warns(ColorConvertedWarning):
        result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("none", "cpu"))
    luma = np.rint(rgb[0].astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    np.testing.assert_array_equal(voxels(result.output)[0], luma)
    assert result.output.IsA("vtkMRMLScalarVolumeNode") and not result.output.IsA("vtkMRMLVectorVolumeNode")


def test_bad_inputs_raise_clear_errors(scene):
    despeckler = lib.create_despeckler("gaussian", "cpu")
    empty = slicer.vtkMRMLScalarVolumeNode()
    empty.SetName("empty scan")
    scene.AddNode(empty)
    with pytest.raises(InvalidImageError, match=r"'empty scan'.*no voxels"):
        lib.despeckle_volume_node(scene, empty, despeckler)

    two_channels = make_volume(scene, np.zeros((1, 4, 4, 2), np.uint8), node_class="vtkMRMLVectorVolumeNode")
    with pytest.raises(InvalidImageError, match="2 components"):
        lib.despeckle_volume_node(scene, two_channels, despeckler)

    labels = make_volume(scene, np.zeros((1, 4, 4), np.uint8), node_class="vtkMRMLLabelMapVolumeNode")
    with pytest.raises(InvalidImageError, match="label map"):
        lib.despeckle_volume_node(scene, labels, despeckler)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nan_volume = make_volume(scene, np.full((2, 4, 4), np.nan, np.float32), name="broken")
    with pytest.raises(InvalidImageError, match="NaN"):
        lib.despeckle_volume_node(scene, nan_volume, despeckler)

    flat = make_volume(scene, np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(InvalidParameterError, match="single frame"):
        lib.despeckle_volume_node(scene, flat, despeckler, axis=1)

    empty_sequence = slicer.vtkMRMLSequenceNode()
    scene.AddNode(empty_sequence)
    browser = slicer.vtkMRMLSequenceBrowserNode()
    scene.AddNode(browser)
    with pytest.raises(InvalidImageError, match="no items"):
        lib.despeckle_sequence(scene, browser, empty_sequence, despeckler, scene.sequences_logic)

    with pytest.raises(UnknownMethodError, match="unknown method 'no-such-filter'"):
        lib.create_despeckler("no-such-filter")
    with pytest.raises(InvalidParameterError, match="device"):
        lib.create_despeckler("gaussian", "tpu")


def test_method_choices_list_the_whole_registry():
    choices = lib.method_choices()
    assert [choice.name for choice in choices] == list(available_methods())
    families = {choice.name: choice.family for choice in choices}
    assert families["gaussian"] == "classical" and families["dae_skip"] == "learned"


# --------------------------------------------------------------------------- segmentation hand-off


def test_segmentation_node_matches_the_source_grid(scene):
    labels = np.zeros((3, 10, 12), np.uint8)
    labels[1, 2:6, 3:9] = 1
    labels[2, 5:9, 1:4] = 2
    node = make_volume(scene, np.zeros_like(labels), directions=OBLIQUE)
    segmentation = lib.add_segmentation_node(scene, labels, {"lumen": 1, "wall": 2}, node, "seg")

    converter = slicer.vtkSegmentationConverter
    stored = segmentation.GetSegmentation().GetConversionParameter(
        converter.GetReferenceImageGeometryParameterName()
    )
    grid = slicer.vtkOrientedImageData()
    converter.DeserializeImageGeometry(stored, grid, False)
    assert grid.GetDimensions() == (12, 10, 3)
    matrix = vtk.vtkMatrix4x4()
    grid.GetImageToWorldMatrix(matrix)
    np.testing.assert_allclose(lib.matrix_from_vtk(matrix), ijk_to_ras(node), atol=1e-12)
    assert segmentation.GetSegmentation().GetSegmentIDs() == ("lumen", "wall")
    np.testing.assert_array_equal(lib.segment_mask(segmentation, "lumen", node), labels == 1)
    np.testing.assert_array_equal(lib.segment_mask(segmentation, "wall", node), labels == 2)
    labelmap = slicer.vtkOrientedImageData()
    segmentation.GetBinaryLabelmapRepresentation("lumen", labelmap)
    labelmap.GetImageToWorldMatrix(matrix)
    np.testing.assert_allclose(lib.matrix_from_vtk(matrix), ijk_to_ras(node), atol=1e-12)


def test_empty_labels_make_an_empty_segment(scene):
    node = make_volume(scene, np.zeros((2, 8, 8), np.uint8))
    segmentation = lib.add_segmentation_node(scene, np.zeros((2, 8, 8), np.uint8), {"lesion": 1}, node, "s")
    assert segmentation.GetSegmentation().GetSegmentIDs() == ("lesion",)
    assert not lib.segment_mask(segmentation, "lesion", node).any()
    with pytest.raises(ValueError, match="do not match"):
        lib.add_segmentation_node(scene, np.zeros((2, 8, 7), np.uint8), {"lesion": 1}, node, "bad")


def test_dice_and_area_table_on_a_constructed_case(scene):
    """Three frames: squares overlapping by half, one empty in both, one found only on the input."""
    source = np.zeros((3, 20, 20), np.uint8)
    despeckled = np.zeros_like(source)
    source[0, 2:12, 2:12] = 255  # 100 px
    despeckled[0, 2:12, 7:17] = 255  # 100 px, 50 of them shared -> Dice 0.5
    source[2, 5:9, 5:9] = 255  # 16 px, absent after despeckling -> Dice 0
    spacing = (0.5, 0.4, 3.0)  # pixel area 0.2 mm²
    input_node = make_volume(scene, source, spacing=spacing)
    output_node = make_volume(scene, despeckled, spacing=spacing, name="output")

    comparison = lib.compare_volume_segmentations(scene, ThresholdSegmenter(), input_node, output_node)

    table = comparison.table
    assert table.GetScene() is scene and table.GetNumberOfRows() == 3
    assert lib.column_names({"lesion": 1}) == [
        "Frame",
        "Index",
        "lesion area input (mm²)",
        "lesion area despeckled (mm²)",
        "lesion Dice",
    ]
    assert [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())] == lib.column_names(
        {"lesion": 1}
    )
    assert lib.table_column(table, "Frame") == [0, 1, 2]
    np.testing.assert_allclose(lib.table_column(table, "lesion area input (mm²)"), [20.0, 0.0, 3.2])
    np.testing.assert_allclose(lib.table_column(table, "lesion area despeckled (mm²)"), [20.0, 0.0, 0.0])
    np.testing.assert_allclose(lib.table_column(table, "lesion Dice"), [0.5, 1.0, 0.0])
    assert float(table.GetAttribute("UltrasoundDespeckle.MeanDice.lesion")) == pytest.approx(0.5)
    np.testing.assert_array_equal(
        lib.segment_mask(comparison.despeckled_segmentation, "lesion", output_node), despeckled > 0
    )
    assert comparison.input_segmentation.GetName() == "input segmentation"


def test_dice_of_masks():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert lib.dice(a, b) == 1.0
    a[0, :2] = True
    assert lib.dice(a, b) == 0.0
    b[0, 1:3] = True
    assert lib.dice(a, b) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes"):
        lib.dice(a, np.zeros((2, 2), bool))


def test_segmentation_handoff_on_a_despeckled_cine(scene):
    frames = phantom_frames(30)
    sequence, browser, proxy = make_cine(scene, frames)
    despeckled = lib.despeckle_node(
        scene, proxy, lib.create_despeckler("median", "cpu"), sequences_logic=scene.sequences_logic
    )
    segmenter = OtsuSegmenter()
    reports: list[tuple[int, int]] = []

    comparison = lib.compare_segmentations(
        scene,
        segmenter,
        proxy,
        despeckled.output,
        sequences_logic=scene.sequences_logic,
        progress=lambda d, t: reports.append((d, t)),
    )

    for segmentations in (comparison.input_sequence, comparison.despeckled_sequence):
        assert segmentations.GetNumberOfDataNodes() == 30
        assert segmentations.GetDataNodeClassName() == "vtkMRMLSegmentationNode"
        assert browser.IsSynchronizedSequenceNode(segmentations)
    assert comparison.input_segmentation.IsA("vtkMRMLSegmentationNode")
    assert browser.GetProxyNode(comparison.despeckled_sequence) is comparison.despeckled_segmentation
    assert all(frames_in <= 16 for frames_in, _ in segmenter.calls)  # chunked, memory bounded
    assert reports[-1] == (30, 30)

    table = comparison.table
    assert table.GetNumberOfRows() == 30
    assert lib.table_column(table, "Index") == [sequence.GetNthIndexValue(i) for i in range(30)]
    # frame 11 recomputed by hand from the two images
    t = 11
    item_in, item_out = sequence.GetNthDataNode(t), despeckled.sequence.GetNthDataNode(t)
    mask_in = segmenter.run(lib.image_from_volume_node(item_in))[0] == 1
    mask_out = segmenter.run(lib.image_from_volume_node(item_out))[0] == 1
    pixel_area = 0.2 * 0.25
    assert lib.table_column(table, "lesion area input (mm²)")[t] == pytest.approx(mask_in.sum() * pixel_area)
    assert lib.table_column(table, "lesion area despeckled (mm²)")[t] == pytest.approx(
        mask_out.sum() * pixel_area
    )
    assert lib.table_column(table, "lesion Dice")[t] == pytest.approx(lib.dice(mask_in, mask_out))
    stored = comparison.despeckled_sequence.GetNthDataNode(t)
    np.testing.assert_array_equal(lib.segment_mask(stored, "lesion", item_out)[0], mask_out)
    dice = np.array(lib.table_column(table, "lesion Dice"))
    assert np.all((dice >= 0) & (dice <= 1)) and dice.mean() < 1.0  # despeckling changed the reading


def test_segmentation_handoff_refuses_mismatched_inputs(scene):
    node = make_volume(scene, np.zeros((2, 8, 8), np.uint8))
    other = make_volume(scene, np.zeros((2, 8, 6), np.uint8), name="other")
    with pytest.raises(InvalidParameterError, match="shape"):
        lib.compare_segmentations(scene, ThresholdSegmenter(), node, other)
    _, _, proxy = make_cine(scene, phantom_frames(2, size=16))
    with pytest.raises(InvalidParameterError, match="same sequence browser"):
        lib.compare_segmentations(
            scene, ThresholdSegmenter(), proxy, node, sequences_logic=scene.sequences_logic
        )


def test_monai_despeckles_segmenter_in_the_handoff(scene):
    """The real breast-lesion bundle through the hand-off (or a clear error where it is missing)."""
    try:
        from monai_despeckle.segmentation import Segmenter  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="Segmenter"):
            lib.load_segmenter("seg_breast_lesion", device="cpu")
        return
    segmenter = lib.load_segmenter("seg_breast_lesion", device="cpu")
    assert isinstance(segmenter, lib.Segmenter) and segmenter.labels == {"lesion": 1}
    phantom = simulate_breast(size=128, seed=2, lesion="benign")
    frames = np.rint(np.stack([phantom.bmode, np.roll(phantom.bmode, 2, axis=1)]) * 255).astype(np.uint8)
    spacing = (phantom.spacing_mm[1], phantom.spacing_mm[0], 1.0)
    node = make_volume(scene, frames, spacing=spacing)
    despeckled = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu")).output
    comparison = lib.compare_volume_segmentations(scene, segmenter, node, despeckled)
    assert comparison.table.GetNumberOfRows() == 2
    true_area = phantom.masks["lesion"].sum() * spacing[0] * spacing[1]
    areas = lib.table_column(comparison.table, "lesion area input (mm²)")
    assert all(0.5 * true_area < area < 2.0 * true_area for area in areas)  # it found the lesion
    assert all(0.0 <= value <= 1.0 for value in lib.table_column(comparison.table, "lesion Dice"))


# --------------------------------------------------------------------------- views


def test_side_by_side_layout_and_per_view_segmentations(scene):
    layout = slicer.vtkMRMLLayoutNode()
    scene.AddNode(layout)
    composites, slices = {}, {}
    for view in ("Red", "Yellow", "Green"):
        composites[view] = slicer.vtkMRMLSliceCompositeNode()
        composites[view].SetLayoutName(view)
        scene.AddNode(composites[view])
        slices[view] = slicer.vtkMRMLSliceNode()
        slices[view].SetLayoutName(view)
        scene.AddNode(slices[view])
    source = make_volume(scene, np.zeros((1, 4, 4), np.uint8))
    output = make_volume(scene, np.zeros((1, 4, 4), np.uint8), name="output")
    composites["Red"].SetForegroundVolumeID(output.GetID())

    lib.show_side_by_side(scene, source, output)

    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView
    assert composites["Red"].GetBackgroundVolumeID() == source.GetID()
    assert composites["Red"].GetForegroundVolumeID() is None
    assert composites["Yellow"].GetBackgroundVolumeID() == output.GetID()
    assert composites["Red"].GetLinkedControl() and composites["Yellow"].GetLinkedControl()
    assert composites["Green"].GetBackgroundVolumeID() is None
    segmentation = lib.add_segmentation_node(scene, np.ones((1, 4, 4), np.uint8), {"lesion": 1}, output, "s")
    lib.show_only_in_view(scene, segmentation, views.OUTPUT_VIEW)
    assert segmentation.GetDisplayNode().GetViewNodeIDs() == (slices["Yellow"].GetID(),)


# --------------------------------------------------------------------------- the extension's files


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """Top-level and function-level imported module names of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            (top if node in tree.body else inner).update(names)
    return top, inner


def test_lib_uses_no_gui():
    """The Lib needs the standard library, numerical and imaging packages, MRML and monai_despeckle: no Qt."""
    allowed = set(sys.stdlib_module_names) | {
        "numpy",
        "scipy",
        "PIL",
        "packaging",
        "pydicom",
        "vtk",
        "slicer",
        "monai_despeckle",
        "UltrasoundDespeckleLib",
    }
    for path in (MODULE_DIR / "UltrasoundDespeckleLib").glob("*.py"):
        top, inner = _imports(path)
        roots = {name.split(".")[0] for name in top | inner}
        assert roots <= allowed, path.name
        assert not {"qt", "ctk", "slicer.util"} & (top | inner), path.name
        assert "slicer.app" not in path.read_text(encoding="utf-8"), path.name


def test_module_imports_its_dependencies_lazily():
    top, inner = _imports(MODULE_DIR / "UltrasoundDespeckle.py")
    assert not {
        name for name in top if name.split(".")[0] in ("monai_despeckle", "torch", "UltrasoundDespeckleLib")
    }
    assert "UltrasoundDespeckleLib" in {name.split(".")[0] for name in inner}
    source = (MODULE_DIR / "UltrasoundDespeckle.py").read_text(encoding="utf-8")
    assert "slicer.packaging.pip_ensure" in source and "installTorch" in source


def test_cmake_lists_every_lib_file_and_resources_are_real():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    for path in (MODULE_DIR / "UltrasoundDespeckleLib").glob("*.py"):
        assert f"${{MODULE_NAME}}Lib/{path.name}" in cmake
    for path in (MODULE_DIR / "Resources").rglob("*.*"):
        listed = str(path.relative_to(MODULE_DIR)).replace("UltrasoundDespeckle", "${MODULE_NAME}")
        assert listed in cmake, path
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    for icon in ("UltrasoundDespeckle.png", "PhantomCine.png"):
        with Image.open(MODULE_DIR / "Resources" / "Icons" / icon) as image:
            assert image.size == (128, 128)
    lines = (MODULE_DIR / "Resources" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert [r.name for r in requirements] == ["monai-despeckle"]  # the lean core, nothing else
    assert not requirements[0].extras  # no training or export extras in Slicer
    assert "torch" not in {r.name for r in requirements}  # torch comes from the PyTorch extension


def _cmake_setting(cmake: str, name: str) -> str:
    match = re.search(rf'set\({name}\s+(?:"([^"]*)"|([^\s)]+))', cmake)
    assert match, name
    return match.group(1) if match.group(1) is not None else match.group(2)


# Entries the Extensions Index accepts (Slicer's slicer-extension-catalog-entry-schema v1.0.2).
CATALOG_KEYS = {
    "$schema",
    "category",
    "scm_url",
    "scm_revision",
    "scm_type",
    "build_dependencies",
    "dicom_support_rule",
    "build_subdirectory",
    "enabled",
    "tier",
}


def test_extension_catalog_entry_agrees_with_cmake_and_the_files_it_names_exist():
    root = MODULE_DIR.parents[1]
    entry = json.loads((root / "slicer_extension" / "UltrasoundDespeckle.json").read_text(encoding="utf-8"))
    assert set(entry) <= CATALOG_KEYS and {"$schema", "category", "scm_url"} <= set(entry)
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert isinstance(entry["tier"], int) and 1 <= entry["tier"] <= 5
    cmake = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    assert entry["category"] == _cmake_setting(cmake, "EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == _cmake_setting(cmake, "EXTENSION_DEPENDS").split()
    assert entry["build_subdirectory"] == "." and (root / "CMakeLists.txt").is_file()
    assert not list((root / "slicer_extension").glob("*.s4ext"))  # superseded by the JSON entry
    raw = "https://raw.githubusercontent.com/monai-despeckle/monai-despeckle/main/"
    for name in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        url = _cmake_setting(cmake, name)
        assert url.startswith(raw) and (root / url.removeprefix(raw)).is_file(), name
    license_file = root / "LICENSE"
    assert "${CMAKE_CURRENT_SOURCE_DIR}/LICENSE" in cmake and "Apache License" in license_file.read_text()
    assert "${CMAKE_CURRENT_SOURCE_DIR}/slicer_extension/README.md" in cmake
    readme = (root / "slicer_extension" / "README.md").read_text(encoding="utf-8")
    assert "Slicer 5.12" in readme and "Slicer 5.12" in _cmake_setting(cmake, "EXTENSION_DESCRIPTION")
