"""Stored values keep their type through ``denoise``, or the conversion is stated.

Float DICOM comes back as Float Pixel Data, int16 TIFF as int16, a 1-bit PNG as 1-bit while it is
still black and white; where a format cannot hold the source's type (float into DICOM from NIfTI,
grey levels into a 1-bit image) a warning says what was stored instead.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from monai_despeckle import cli, io

pytestmark = pytest.mark.filterwarnings("ignore::monai_despeckle.io.UltrasoundRegionWarning")


def _denoise(capfd, source: Path, output: Path, method: str = "none") -> list[str]:
    """Run ``denoise``; the warning lines it printed."""
    assert cli.main(["denoise", str(source), str(output), "--method", method, "--no-progress"]) == 0
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning: ")]


def _float_dicom(path: Path, values: np.ndarray) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, generate_uid()
    ds.PatientName, ds.Modality, ds.FrameTime = "Float^Cine", "US", "25"
    ds.Rows, ds.Columns = values.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated = 1, "MONOCHROME2", 32
    ds.NumberOfFrames = values.shape[0]
    ds.FloatPixelData = values.astype("<f4").tobytes()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def test_float_dicom_comes_back_as_float_pixel_data(tmp_path, capfd):
    values = (np.random.default_rng(0).random((3, 12, 16)) * 1000 - 200).astype(np.float32)
    source = _float_dicom(tmp_path / "float.dcm", values)
    assert _denoise(capfd, source, tmp_path / "out.dcm") == []  # nothing to state: the type is kept
    written = pydicom.dcmread(tmp_path / "out.dcm")
    assert "FloatPixelData" in written and "PixelData" not in written
    assert written.pixel_array.dtype == np.float32
    np.testing.assert_allclose(written.pixel_array, values, atol=1e-4 * 1000)  # [0, 1] float32 steps
    assert io.load(tmp_path / "out.dcm").intensity.dtype == "float32"


def test_float_nifti_into_dicom_is_rescaled_and_says_so(tmp_path, capfd):
    values = (np.random.default_rng(1).random((16, 12, 4)) * 100 - 30).astype(np.float32)
    source = tmp_path / "float.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4)), source)
    stated = _denoise(capfd, source, tmp_path / "out.dcm")
    assert len(stated) == 1 and "Rescale Slope" in stated[0]
    written = pydicom.dcmread(tmp_path / "out.dcm")
    physical = written.pixel_array * float(written.RescaleSlope) + float(written.RescaleIntercept)
    expected = io.load(source).source_values()
    assert np.abs(physical - expected).max() <= float(written.RescaleSlope)


def test_int16_tiff_stays_int16(tmp_path, capfd):
    values = np.arange(-600, 600, dtype=np.int16).reshape(30, 40)
    source = tmp_path / "signed.tif"
    tifffile.imwrite(source, values)
    assert io.load(source).intensity.dtype == "int16"
    assert _denoise(capfd, source, tmp_path / "out.tif") == []
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), values)
    assert tifffile.imread(tmp_path / "out.tif").dtype == np.int16


def test_one_bit_png_stays_one_bit_while_black_and_white(tmp_path, capfd):
    bits = np.random.default_rng(2).random((20, 24)) > 0.5
    source = tmp_path / "mask.png"
    Image.fromarray(bits).save(source)
    assert Image.open(source).mode == "1"
    assert _denoise(capfd, source, tmp_path / "same.png") == []
    with Image.open(tmp_path / "same.png") as same:
        assert same.mode == "1" and np.array_equal(np.asarray(same), bits)
    stated = _denoise(capfd, source, tmp_path / "grey.png", method="mean")
    assert len(stated) == 1 and "8-bit grey" in stated[0]
    assert Image.open(tmp_path / "grey.png").mode == "L"


def test_float_into_png_is_stated(tmp_path, capfd):
    source = tmp_path / "float.nii"
    nib.save(
        nib.Nifti1Image(np.random.default_rng(3).random((8, 6)).astype(np.float32) * 5, np.eye(4)), source
    )
    stated = _denoise(capfd, source, tmp_path / "out.png")
    assert len(stated) == 1 and "float32" in stated[0] and "uint16" in stated[0]
