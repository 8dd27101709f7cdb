"""What a radiologist expects of the Slicer module, on the real MRML scene of slicer-core.

Strength blend, ultrasound-region mask, window/level carried over, reuse of the module's own output,
areas in px² when uncalibrated, DICOM export, views in the same orientation and the layout put back,
and the phantom sample cine. Inputs are built with Slicer's API (or written as DICOM with pydicom);
expected values are computed here from the inputs, not by the code under test.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from monai_despeckle import io
from monai_despeckle.errors import InvalidParameterError, OutputPathError
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.dicom.geometry import UltrasoundRegion
from monai_despeckle.io.image import IntensityMapping

slicer = pytest.importorskip("slicer", reason="needs the slicer-core package (pip install slicer-core)")

MODULE_DIR = Path(__file__).resolve().parents[1] / "slicer_extension" / "UltrasoundDespeckle"
sys.path.insert(0, str(MODULE_DIR))
lib = importlib.import_module("UltrasoundDespeckleLib")
region_mask = importlib.import_module("UltrasoundDespeckleLib.region_mask")
result_nodes = importlib.import_module("UltrasoundDespeckleLib.result_nodes")
views = importlib.import_module("UltrasoundDespeckleLib.views")
slicer_scene = importlib.import_module("slicer_scene")

scene = slicer_scene.scene  # the fixture
make_volume, make_cine, voxels = slicer_scene.make_volume, slicer_scene.make_cine, slicer_scene.voxels
phantom_frames, node_ids, add_views = (
    slicer_scene.phantom_frames,
    slicer_scene.node_ids,
    slicer_scene.add_views,
)


def engine_values(node, method: str = "median") -> np.ndarray:
    """What the engine makes of a node's voxels, in its stored values."""
    return Despeckler(method, device="cpu").run(lib.image_from_volume_node(node)).source_values()


def expected_blend(original: np.ndarray, full: np.ndarray, strength: float) -> np.ndarray:
    """The blend of two uint8 arrays, computed independently in float64."""
    mixed = (1.0 - strength) * original.astype(np.float64) + strength * full.astype(np.float64)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def us_region(x0: int, y0: int, x1: int, y1: int, delta_mm: float, data_type: int = 1) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType = 1, data_type
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3  # cm
    item.PhysicalDeltaX = item.PhysicalDeltaY = delta_mm / 10.0
    return item


def write_us_dicom(path: Path, pixels: np.ndarray, regions: list[Dataset], **attributes) -> Dataset:
    """An ultrasound DICOM file (single frame or multi-frame) as a scanner writes it."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage if pixels.ndim == 3 else UltrasoundImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality, ds.SeriesNumber = "Phantom^Breast", "PH-1", "US", 3
    ds.SeriesDescription = "Breast cine"
    ds.set_pixel_data(pixels, "MONOCHROME2", 8)
    ds.SequenceOfUltrasoundRegions = Sequence(regions)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return ds


def tissue_box(cine) -> tuple[int, int, int, int]:
    rows, columns = np.nonzero(cine.tissue)
    return int(columns.min()), int(rows.min()), int(columns.max()), int(rows.max())


# --------------------------------------------------------------------------- strength


def test_strength_blends_input_and_result_of_a_volume_without_rerunning(scene):
    node = make_volume(scene, phantom_frames(3, size=48))
    original, full = voxels(node).copy(), engine_values(node)

    result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"), strength=0.25)

    np.testing.assert_array_equal(voxels(result.output), expected_blend(original, full, 0.25))
    assert lib.current_strength(result.output) == pytest.approx(0.25)
    nodes_before = node_ids(scene)
    for strength in (0.0, 0.6, 1.0):
        lib.apply_strength(scene, result.output, strength)  # no despeckler is given: nothing can re-run
        np.testing.assert_array_equal(voxels(result.output), expected_blend(original, full, strength))
    np.testing.assert_array_equal(voxels(node), original)  # the input is never touched
    assert node_ids(scene) == nodes_before
    with pytest.raises(InvalidParameterError, match="between 0 and 1"):
        lib.apply_strength(scene, result.output, 1.5)
    with pytest.raises(InvalidParameterError, match="not a despeckling result"):
        lib.apply_strength(scene, node, 0.5)


def test_strength_of_a_cine_reblends_every_frame_and_the_shown_one(scene):
    frames = phantom_frames(6, size=32)
    sequence, browser, proxy = make_cine(scene, frames)
    result = lib.despeckle_node(
        scene, proxy, lib.create_despeckler("median", "cpu"), sequences_logic=scene.sequences_logic
    )
    full = [engine_values(sequence.GetNthDataNode(t)) for t in range(6)]

    browser.SetSelectedItemNumber(4)
    scene.sequences_logic.UpdateProxyNodesFromSequences(browser)
    lib.apply_strength(scene, result.output, 0.5, scene.sequences_logic)

    for t in range(6):
        np.testing.assert_array_equal(
            voxels(result.sequence.GetNthDataNode(t)), expected_blend(frames[t][None], full[t], 0.5)
        )
    np.testing.assert_array_equal(voxels(result.output), expected_blend(frames[4][None], full[4], 0.5))
    assert lib.current_strength(result.output) == pytest.approx(0.5)  # read through the proxy


# --------------------------------------------------------------------------- ultrasound-region mask


def test_burnt_in_annotations_of_a_cine_stay_untouched(scene):
    """Banner text, depth markers, calipers over the tissue and the grey bar keep their exact values."""
    cine = lib.phantom_cine(frames=12, size=96)
    sequence, _, proxy = lib.add_phantom_cine(scene, scene.sequences_logic, frames=12, size=96)
    assert np.array_equal(voxels(sequence.GetNthDataNode(3))[0], cine.frames[3])
    despeckler = lib.create_despeckler("median", "cpu")

    protected = lib.despeckle_node(
        scene, proxy, despeckler, sequences_logic=scene.sequences_logic, protect=True
    )

    assert protected.mask.sources == (region_mask.MaskSource.STATIC,)
    tissue = cine.tissue & ~cine.overlay
    for t in (0, 7, 11):
        out = voxels(protected.sequence.GetNthDataNode(t))[0]
        np.testing.assert_array_equal(out[cine.overlay], cine.frames[t][cine.overlay])
        np.testing.assert_array_equal(out[~cine.tissue], cine.frames[t][~cine.tissue])
        assert (out[tissue] != cine.frames[t][tissue]).mean() > 0.5  # the tissue was despeckled
    assert "kept unchanged (static pixels of the cine)" in protected.sequence.GetAttribute(
        result_nodes.MASK_ATTRIBUTE
    )

    plain = lib.despeckle_node(
        scene, proxy, lib.create_despeckler("mean", "cpu"), sequences_logic=scene.sequences_logic
    )
    out = voxels(plain.sequence.GetNthDataNode(7))[0]
    assert (out[cine.overlay] != cine.frames[7][cine.overlay]).mean() > 0.3  # unprotected: smeared


def test_dicom_ultrasound_regions_bound_what_is_despeckled(scene, tmp_path):
    frame = phantom_frames(1, size=64)[0]
    frame[:, 50:] = np.arange(64, dtype=np.uint8)[:, None] * 3  # a grey bar beside the image
    header = write_us_dicom(tmp_path / "us.dcm", frame, [us_region(2, 4, 47, 59, 0.2)])
    node = make_volume(scene, frame[None], spacing=(0.2, 0.2, 1.0))
    node.SetAttribute("DICOM.instanceUIDs", header.SOPInstanceUID)

    source = lib.dicom_source(node, {header.SOPInstanceUID: str(tmp_path / "us.dcm")}.get)
    result = lib.despeckle_volume_node(
        scene, node, lib.create_despeckler("median", "cpu"), protect=True, regions=source.regions
    )

    out, full = voxels(result.output)[0], engine_values(node)[0]
    inside = np.zeros(frame.shape, bool)
    inside[4:60, 2:48] = True
    np.testing.assert_array_equal(out[inside], full[inside])
    np.testing.assert_array_equal(out[~inside], frame[~inside])
    assert result.mask.sources == (region_mask.MaskSource.REGIONS,)
    assert lib.dicom_source(node, {}.get) is None  # not in the database: no header, no error


def test_letterbox_of_a_single_image_keeps_the_text_in_the_bars(scene):
    image = np.zeros((80, 100), np.uint8)
    image[10:70, 20:80] = phantom_frames(1, size=60)[0].clip(1, 255)  # the B-mode, never pure black
    image[2:6, 22:40] = 230  # a label in the top bar
    node = make_volume(scene, image[None])

    result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"), protect=True)

    out = voxels(result.output)[0]
    np.testing.assert_array_equal(out[:8], image[:8])
    assert (out[12:68, 22:78] != image[12:68, 22:78]).mean() > 0.5
    assert result.mask.sources == (region_mask.MaskSource.LETTERBOX,)


# --------------------------------------------------------------------------- window/level


def test_window_level_of_a_cine_is_carried_over_and_stays_frame_after_frame(scene):
    _, browser, proxy = make_cine(scene, phantom_frames(5, size=32))
    proxy.CreateDefaultDisplayNodes()
    proxy.GetDisplayNode().SetAutoWindowLevel(False)
    proxy.GetDisplayNode().SetWindowLevel(90.0, 70.0)

    result = lib.despeckle_node(
        scene, proxy, lib.create_despeckler("mean", "cpu"), sequences_logic=scene.sequences_logic
    )

    display = result.output.GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == (90.0, 70.0) and not display.GetAutoWindowLevel()
    browser.SetSelectedItemNumber(3)
    scene.sequences_logic.UpdateProxyNodesFromSequences(browser)
    assert result.output.GetDisplayNode() is display
    assert (display.GetWindow(), display.GetLevel()) == (90.0, 70.0)


def test_window_level_of_a_colour_input_spans_the_stored_range(scene):
    grey = phantom_frames(1, size=24)[0]
    node = make_volume(
        scene, np.stack([grey, grey, grey], axis=-1)[None], node_class="vtkMRMLVectorVolumeNode"
    )

    result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"))

    display = result.output.GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == (255.0, 127.5) and not display.GetAutoWindowLevel()


# --------------------------------------------------------------------------- scene hygiene


def test_running_again_replaces_the_own_output_of_a_volume(scene):
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    study = hierarchy.CreateStudyItem(
        hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "patient"), "study"
    )
    node = make_volume(scene, phantom_frames(2, size=32))
    hierarchy.CreateItem(study, node)

    first = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"))
    count = scene.GetNumberOfNodes()
    first.output.GetDisplayNode().SetWindowLevel(50.0, 60.0)
    again = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"), strength=0.5)

    assert again.reused and again.output is first.output and scene.GetNumberOfNodes() == count
    np.testing.assert_array_equal(
        voxels(again.output), expected_blend(voxels(node), engine_values(node), 0.5)
    )
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(first.output)) == study
    other = lib.despeckle_volume_node(scene, node, lib.create_despeckler("mean", "cpu"))
    assert not other.reused and other.output is not first.output  # another method, another result
    full_copies = [
        n for n in slicer_scene_nodes(scene) if n.GetAttribute(result_nodes.ROLE_ATTRIBUTE) == "full strength"
    ]
    assert len(full_copies) == 2 and all(n.GetHideFromEditors() for n in full_copies)


def slicer_scene_nodes(scene):
    return [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]


def test_running_again_refills_the_own_result_sequence_of_a_cine(scene):
    frames = phantom_frames(4, size=32)
    _, browser, proxy = make_cine(scene, frames)
    first = lib.despeckle_node(
        scene, proxy, lib.create_despeckler("median", "cpu"), sequences_logic=scene.sequences_logic
    )
    synchronized, count = browser.GetNumberOfSynchronizedSequenceNodes(), scene.GetNumberOfNodes()

    again = lib.despeckle_node(
        scene,
        proxy,
        lib.create_despeckler("median", "cpu"),
        sequences_logic=scene.sequences_logic,
        strength=0.0,
    )

    assert again.reused and again.sequence is first.sequence and again.output is first.output
    assert (
        browser.GetNumberOfSynchronizedSequenceNodes() == synchronized and scene.GetNumberOfNodes() == count
    )
    np.testing.assert_array_equal(voxels(again.sequence.GetNthDataNode(2)), frames[2][None])  # strength 0


def test_running_the_segmentation_check_again_replaces_its_nodes(scene):
    node = make_volume(scene, phantom_frames(2, size=32), spacing=(0.2, 0.2, 1.0))
    output = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu")).output
    segmenter = ThresholdSegmenter()
    first = lib.compare_volume_segmentations(scene, segmenter, node, output)
    count = scene.GetNumberOfNodes()
    again = lib.compare_volume_segmentations(scene, segmenter, node, output)
    assert scene.GetNumberOfNodes() == count and first.table.GetScene() is None
    assert again.table.GetScene() is scene


class ThresholdSegmenter:
    labels = {"lesion": 1}  # noqa: RUF012 -- the Segmenter interface's attribute

    def run(self, image, axis: int = 0) -> np.ndarray:
        return (image.frames > 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- area units


def test_areas_are_pixels_with_a_warning_when_the_spacing_is_not_calibrated(scene):
    values = np.zeros((1, 20, 20), np.uint8)
    values[0, 5:15, 5:10] = 255  # 50 px
    png_like = make_volume(scene, values, spacing=(1.0, 1.0, 1.0), name="capture")
    calibrated = make_volume(scene, values, spacing=(0.2, 0.3, 1.0), name="calibrated")

    uncalibrated = lib.compare_volume_segmentations(scene, ThresholdSegmenter(), png_like, png_like).table
    assert uncalibrated.GetColumnName(2) == "lesion area input (px²)"
    assert lib.table_column(uncalibrated, "lesion area input (px²)") == [50.0]
    assert "no pixel size" in uncalibrated.GetAttribute("UltrasoundDespeckle.AreaWarning")

    two_regions = [
        UltrasoundRegion(1, 1, 0, 0, 9, 19, 3, 3, 0.03, 0.02),
        UltrasoundRegion(1, 1, 10, 0, 19, 19, 3, 3, 0.05, 0.05),
    ]
    split = lib.compare_volume_segmentations(
        scene, ThresholdSegmenter(), calibrated, calibrated, regions=two_regions
    ).table
    assert lib.table_column(split, "lesion area input (px²)") == [50.0]
    assert "2 ultrasound regions" in split.GetAttribute("UltrasoundDespeckle.AreaWarning")

    physical = lib.compare_volume_segmentations(scene, ThresholdSegmenter(), calibrated, calibrated).table
    assert lib.table_column(physical, "lesion area input (mm²)") == pytest.approx([50 * 0.2 * 0.3])
    assert physical.GetAttribute("UltrasoundDespeckle.AreaUnit") == "mm²"
    assert physical.GetAttribute("UltrasoundDespeckle.AreaWarning") is None


# --------------------------------------------------------------------------- DICOM export


def test_export_writes_the_despeckled_cine_as_a_derived_series_of_the_source_study(scene, tmp_path):
    cine = lib.phantom_cine(frames=6, size=64)
    x0, y0, x1, y1 = tissue_box(cine)
    source_path = tmp_path / "source.dcm"
    header = write_us_dicom(
        source_path, cine.frames, [us_region(x0, y0, x1, y1, cine.spacing_mm[0])], FrameTime="40.0"
    )
    sequence, _, proxy = lib.add_phantom_cine(scene, scene.sequences_logic, frames=6, size=64)
    for t in range(sequence.GetNumberOfDataNodes()):
        sequence.GetNthDataNode(t).SetAttribute("DICOM.instanceUIDs", header.SOPInstanceUID)
    source = lib.dicom_source(proxy, {header.SOPInstanceUID: str(source_path)}.get, sequence)
    result = lib.despeckle_node(
        scene,
        proxy,
        lib.create_despeckler("median", "cpu"),
        sequences_logic=scene.sequences_logic,
        protect=True,
        regions=source.regions,
        strength=0.8,
    )

    path = lib.export_dicom(scene, result.output, tmp_path / "export", source)

    derived = pydicom.dcmread(path)
    assert derived.SOPClassUID == UltrasoundMultiFrameImageStorage and int(derived.NumberOfFrames) == 6
    assert list(derived.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert derived.StudyInstanceUID == header.StudyInstanceUID and derived.PatientID == "PH-1"
    assert derived.SeriesInstanceUID != header.SeriesInstanceUID
    assert derived.SourceImageSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
    assert "strength 80 %" in derived.DerivationDescription and "median" in derived.DerivationDescription
    assert float(derived.FrameTime) == pytest.approx(40.0)
    expected = np.stack([voxels(result.sequence.GetNthDataNode(t))[0] for t in range(6)])
    np.testing.assert_array_equal(derived.pixel_array, expected)
    reread = io.load(path)
    assert reread.spacing[1:] == pytest.approx(cine.spacing_mm)  # the calibration regions came along
    with pytest.raises(OutputPathError, match="exists"):
        lib.export_dicom(scene, result.output, tmp_path / "export", source)


def test_export_without_a_dicom_source_starts_a_new_study(scene, tmp_path):
    node = make_volume(scene, phantom_frames(1, size=32), spacing=(0.3, 0.3, 1.0), name="scan/1")
    result = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu"))
    path = lib.export_dicom(scene, result.output, tmp_path)
    derived = pydicom.dcmread(path)
    assert path.name == "scan_1_despeckled_median.dcm"
    assert derived.PatientName == "anonymous" and "DERIVED" in derived.ImageType
    np.testing.assert_array_equal(derived.pixel_array, voxels(result.output)[0])


# --------------------------------------------------------------------------- views and layout


def test_a_3d_volume_is_compared_in_the_same_orientation_in_both_views(scene):
    _, composites, slices = add_views(scene)
    node = make_volume(scene, phantom_frames(6, size=16), directions=np.eye(3))
    output = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu")).output

    lib.show_side_by_side(scene, node, output, axis=1)

    red, yellow = (slicer_scene.matrix_from_vtk(slices[v].GetSliceToRAS()) for v in ("Red", "Yellow"))
    np.testing.assert_allclose(red, yellow)
    # slices across J (rows): the screen's x is I, its y (up) is -K, the normal is J
    np.testing.assert_allclose(red[:3, :3], [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert composites["Yellow"].GetBackgroundVolumeID() == output.GetID()


def test_overlay_flicker_and_the_previous_layout_restored(scene):
    layout, composites, slices = add_views(scene)
    layout.SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpView)
    other = make_volume(scene, np.zeros((1, 8, 8), np.uint8), name="other")
    composites["Red"].SetBackgroundVolumeID(other.GetID())
    before = slicer_scene.matrix_from_vtk(slices["Red"].GetSliceToRAS())
    saved = lib.save_views(scene)
    node = make_volume(scene, phantom_frames(1, size=16), directions=np.diag([-1.0, -1.0, 1.0]))
    output = lib.despeckle_volume_node(scene, node, lib.create_despeckler("median", "cpu")).output

    lib.show_overlaid(scene, node, output)
    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView
    red = composites["Red"]
    assert (red.GetBackgroundVolumeID(), red.GetForegroundVolumeID()) == (node.GetID(), output.GetID())
    assert red.GetForegroundOpacity() == 1.0
    assert [lib.toggle_overlay(scene) for _ in range(3)] == [0.0, 1.0, 0.0]
    # a 2-D ultrasound image loaded upright is shown as an axial view shows it: rows down, columns right
    np.testing.assert_allclose(
        slicer_scene.matrix_from_vtk(slices["Red"].GetSliceToRAS())[:3, :3], np.diag([-1, 1, 1])
    )

    assert lib.restore_views(scene, saved)
    assert layout.GetViewArrangement() == slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpView
    assert red.GetBackgroundVolumeID() == other.GetID() and red.GetForegroundVolumeID() is None
    np.testing.assert_allclose(slicer_scene.matrix_from_vtk(slices["Red"].GetSliceToRAS()), before)
    assert json.loads(saved)["views"]["Yellow"]["linked"] is False
    assert not lib.restore_views(scene, "")


# --------------------------------------------------------------------------- sample data


def test_phantom_sample_cine_plays_like_a_loaded_ultrasound_loop(scene):
    sequence, browser, proxy = lib.add_phantom_cine(scene, scene.sequences_logic, frames=8)
    assert sequence.GetNumberOfDataNodes() == 8 and sequence.GetIndexUnit() == "s"
    assert [float(sequence.GetNthIndexValue(t)) for t in range(3)] == pytest.approx([0.0, 0.04, 0.08])
    assert browser.GetPlaybackRateFps() == pytest.approx(25.0) and browser.GetProxyNode(sequence) is proxy
    frames = np.stack([voxels(sequence.GetNthDataNode(t))[0] for t in range(8)])
    assert frames.dtype == np.uint8
    moving = frames.min(axis=0) != frames.max(axis=0)
    cine = lib.phantom_cine(frames=8)
    np.testing.assert_array_equal(frames, cine.frames)
    assert not moving[cine.overlay].any() and moving[cine.tissue & ~cine.overlay].mean() > 0.95
    image = lib.SequenceFrames.of(sequence).cine_image()
    assert image.frame_time_ms == pytest.approx(40.0) and image.spacing[1:] == pytest.approx(cine.spacing_mm)
    assert image.intensity == IntensityMapping("uint8", 0.0, 255.0)
