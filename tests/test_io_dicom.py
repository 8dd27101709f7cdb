"""DICOM (ultrasound multi-frame first) reading and derived-series writing."""

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom import examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from monai_despeckle import io
from monai_despeckle.io import ImageKind, UltrasoundImage


def _region(x0, y0, x1, y1, delta_cm, spatial_format=1, units=3):
    item = Dataset()
    item.RegionSpatialFormat = spatial_format
    item.RegionDataType = 1
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX = item.PhysicalDeltaY = delta_cm
    return item


def _write_dicom(
    path: Path, pixels, photometric="MONOCHROME2", *, sop_class=UltrasoundImageStorage, bits=None, **attrs
):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Test^Patient", "P-42", "US"
    ds.set_pixel_data(np.asarray(pixels), photometric, bits or np.asarray(pixels).dtype.itemsize * 8)
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def _example(name: str) -> Path:
    """Path of one of pydicom's bundled example files."""
    return Path(getattr(examples, name).filename)


def test_ybr_color_ultrasound_cine_frames_spacing_and_timing():
    with (
        pytest.warns(io.ColorConvertedWarning, match="examples_ybr_color.dcm"),
        pytest.warns(io.UltrasoundRegionWarning, match="exceeds the 320x240 image"),
    ):
        image = io.load(_example("ybr_color"))
    assert image.kind is ImageKind.CINE
    assert image.frames.shape == (30, 240, 320)  # NumberOfFrames on axis 0 (not MONAI's layout)
    assert image.spacing[1] == pytest.approx(0.5105, abs=1e-4)
    assert image.spacing[2] == pytest.approx(0.5105, abs=1e-4)
    assert image.frame_time_ms == pytest.approx(33.333)
    assert image.metadata["spacing_source"] == "ultrasound_region_out_of_bounds"
    assert image.intensity.dtype == "uint8"
    # The decoded frames are the ITU-R 601 luminance of pydicom's own RGB decoding.
    rgb = examples.ybr_color.pixel_array.astype(float)
    luma = np.clip(np.rint(rgb @ [0.299, 0.587, 0.114]), 0, 255)
    np.testing.assert_array_equal(image.source_values()[[0, 17, 29]], luma[[0, 17, 29]])


def test_ybr_color_saved_as_derived_series_reopens_identically(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = io.load(_example("ybr_color"))
        out = io.save(image.with_frames(image.frames[:, ::-1, :].copy()), tmp_path / "derived.dcm")
        again = io.load(out)
    source, derived = examples.ybr_color, pydicom.dcmread(out)
    assert again.kind is ImageKind.CINE and again.frames.shape == (30, 240, 320)
    assert again.spacing == pytest.approx(image.spacing)
    assert again.frame_time_ms == pytest.approx(33.333)
    np.testing.assert_array_equal(again.source_values(), image.source_values()[:, ::-1, :])
    assert derived.SOPClassUID == UltrasoundMultiFrameImageStorage
    assert derived.SeriesInstanceUID != source.SeriesInstanceUID
    assert derived.SOPInstanceUID != source.SOPInstanceUID
    assert derived.file_meta.MediaStorageSOPInstanceUID == derived.SOPInstanceUID
    assert derived.StudyInstanceUID == source.StudyInstanceUID
    assert derived.PatientName == source.PatientName and derived.PatientID == source.PatientID
    assert list(derived.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert derived.SeriesDescription.endswith(" (despeckled)")
    assert derived.PhotometricInterpretation == "MONOCHROME2"
    assert derived.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert int(derived.NumberOfFrames) == 30 and (derived.Rows, derived.Columns) == (240, 320)
    assert derived.LossyImageCompression == "01"  # the source was JPEG baseline
    assert derived.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID


def test_palette_color_with_two_regions_uses_the_tissue_region():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", io.ColorConvertedWarning)
        with pytest.warns(io.UltrasoundRegionWarning):
            image = io.load(_example("palette_color"))
    assert image.frames.shape == (1, 350, 800) and image.kind is ImageKind.IMAGE
    regions = image.metadata["ultrasound_regions"]
    assert len(regions) == 2 and {r["spatial_format"] for r in regions} == {1, 4}
    assert image.spacing[1:] == pytest.approx((0.2622878766, 0.2622878766))


def test_largest_in_bounds_tissue_region_wins_and_all_are_recorded(tmp_path):
    regions = Sequence(
        [
            _region(0, 0, 59, 39, 0.01),  # B-mode: 60 x 40 px at 0.1 mm
            _region(0, 40, 59, 49, 0.05),  # smaller strip with another scale
            _region(0, 0, 500, 500, 0.2),  # out of bounds: ignored while valid ones exist
            _region(0, 0, 59, 49, 0.3, spatial_format=4),  # spectral Doppler: not tissue
        ]
    )
    path = _write_dicom(
        tmp_path / "us.dcm", np.zeros((50, 60), np.uint8), SequenceOfUltrasoundRegions=regions
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", io.UltrasoundRegionWarning)
        image = io.load(path)
    assert image.spacing[1:] == pytest.approx((0.1, 0.1))
    assert image.metadata["spacing_source"] == "ultrasound_region"
    assert len(image.metadata["ultrasound_regions"]) == 4


@pytest.mark.parametrize(
    ("attrs", "expected", "source"),
    [
        ({"PixelSpacing": [0.3, 0.2]}, (0.3, 0.2), "pixel_spacing"),
        ({"ImagerPixelSpacing": [0.15, 0.15]}, (0.15, 0.15), "imager_pixel_spacing"),
        ({}, (1.0, 1.0), "default"),
    ],
)
def test_spacing_fallbacks(tmp_path, attrs, expected, source):
    path = _write_dicom(
        tmp_path / "sc.dcm", np.zeros((8, 9), np.uint8), sop_class=SecondaryCaptureImageStorage, **attrs
    )
    image = io.load(path)
    assert image.spacing[1:] == pytest.approx(expected)
    assert image.metadata["spacing_source"] == source
    io.save(image, tmp_path / "again.dcm")
    reread = io.load(tmp_path / "again.dcm")
    assert reread.spacing == pytest.approx(image.spacing)
    assert reread.metadata["spacing_source"] == source


@pytest.mark.parametrize(
    "timing",
    [{"FrameTime": 40.0}, {"CineRate": 25}, {"FrameTimeVector": [0.0, 40.0, 40.0, 40.0]}],
)
def test_frame_time_sources(tmp_path, timing):
    frames = np.arange(4 * 6 * 5, dtype=np.uint8).reshape(4, 6, 5)
    path = _write_dicom(tmp_path / "cine.dcm", frames, sop_class=UltrasoundMultiFrameImageStorage, **timing)
    image = io.load(path)
    assert image.kind is ImageKind.CINE and image.frames.shape == (4, 6, 5)
    assert image.frame_time_ms == pytest.approx(40.0)
    np.testing.assert_array_equal(image.source_values(), frames)


@pytest.mark.parametrize(("dtype", "bits"), [(np.uint8, 8), (np.uint16, 12)])
def test_monochrome1_is_inverted(tmp_path, dtype, bits):
    stored = np.random.default_rng(0).integers(0, 2**bits, size=(6, 7)).astype(dtype)
    path = _write_dicom(
        tmp_path / "m1.dcm", stored, "MONOCHROME1", sop_class=SecondaryCaptureImageStorage, bits=bits
    )
    image = io.load(path)
    np.testing.assert_array_equal(image.source_values()[0], (2**bits - 1) - stored)
    assert image.metadata["photometric"] == "MONOCHROME1"


def test_rgb_single_frame_becomes_grey_with_a_warning(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 30, 200, 90
    rgb[2:4, 3:5] = (255, 0, 0)  # a red Doppler blob
    path = _write_dicom(
        tmp_path / "rgb.dcm", rgb, "RGB", SequenceOfUltrasoundRegions=Sequence([_region(0, 0, 11, 9, 0.02)])
    )
    with pytest.warns(io.ColorConvertedWarning, match="rgb.dcm"):
        image = io.load(path)
    assert image.kind is ImageKind.IMAGE and image.spacing[1:] == pytest.approx((0.2, 0.2))
    luma = np.rint(rgb.astype(float) @ [0.299, 0.587, 0.114])
    np.testing.assert_array_equal(image.source_values()[0], luma)


def test_ybr_full_uncompressed_is_converted_to_rgb_then_grey(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(8, 10, 3)).astype(np.uint8)
    path = _write_dicom(tmp_path / "ybr.dcm", convert_color_space(rgb, "RGB", "YBR_FULL"), "YBR_FULL")
    with pytest.warns(io.ColorConvertedWarning):
        image = io.load(path)
    luma = rgb.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(image.source_values()[0] - luma).max() <= 2.0  # YBR rounding


def test_ct_single_frame_keeps_values_position_and_sop_class(tmp_path):
    image = io.load(_example("ct"))
    ct = examples.ct
    np.testing.assert_array_equal(image.source_values()[0], ct.pixel_array)
    assert image.origin == pytest.approx(tuple(float(v) for v in ct.ImagePositionPatient))
    np.testing.assert_allclose(image.direction[:, 2], [float(v) for v in ct.ImageOrientationPatient[:3]])
    io.save(image, tmp_path / "ct.dcm")
    derived = pydicom.dcmread(tmp_path / "ct.dcm")
    assert derived.SOPClassUID == CTImageStorage
    assert float(derived.RescaleIntercept) == float(ct.RescaleIntercept)
    np.testing.assert_array_equal(derived.pixel_array, ct.pixel_array)
    assert [float(v) for v in derived.ImagePositionPatient] == pytest.approx(
        [float(v) for v in ct.ImagePositionPatient]
    )


def test_png_saved_as_dicom_gets_an_anonymous_patient(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, size=(9, 11)).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "scan.png")
    io.save(io.load(tmp_path / "scan.png"), tmp_path / "scan.dcm")
    derived = pydicom.dcmread(tmp_path / "scan.dcm")
    assert derived.SOPClassUID == SecondaryCaptureImageStorage
    assert str(derived.PatientName) == "anonymous" and "StudyInstanceUID" in derived
    assert derived.SeriesDescription == "scan (despeckled)"
    assert "PixelSpacing" not in derived  # spacing was unknown; DICOM must not invent 1 mm
    np.testing.assert_array_equal(derived.pixel_array, pixels)


def test_volume_saved_as_dicom_keeps_slice_spacing(tmp_path):
    volume = UltrasoundImage(
        np.random.default_rng(3).random((4, 6, 5)),
        spacing=(2.5, 0.3, 0.4),
        kind=ImageKind.VOLUME,
        intensity=io.IntensityMapping("float32", 0.0, 100.0),
        direction=io.DEFAULT_DIRECTION,
    )
    io.save(volume, tmp_path / "vol.dcm")
    derived = pydicom.dcmread(tmp_path / "vol.dcm")
    assert derived.SOPClassUID == MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    # Float data is stored as uint16 spanning [0, 1]; the slice step travels as Spacing Between Slices.
    expected = io.IntensityMapping("uint16", 0.0, 65535.0).from_unit(volume.frames)
    np.testing.assert_array_equal(derived.pixel_array, expected)
    assert float(derived.SpacingBetweenSlices) == 2.5
    back = io.load(tmp_path / "vol.dcm")
    assert back.kind is ImageKind.VOLUME and back.spacing == pytest.approx((2.5, 0.3, 0.4))


def test_dicom_without_suffix_is_recognised(tmp_path):
    path = _write_dicom(tmp_path / "IM0001", np.full((4, 4), 7, np.uint8))
    image = io.load(path)
    assert image.metadata["format"] == "dicom"
    assert image.source_values().max() == 7


def test_untimed_cine_from_frames_folder_stays_a_cine_in_dicom(tmp_path):
    folder = tmp_path / "loop"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.full((5, 6), 40 * index, dtype=np.uint8)).save(folder / f"f{index}.png")
    io.save(io.load(folder), tmp_path / "loop.dcm")
    back = io.load(tmp_path / "loop.dcm")
    assert back.kind is ImageKind.CINE and back.frame_time_ms is None
    np.testing.assert_array_equal(back.source_values()[:, 0, 0], [0, 40, 80])
