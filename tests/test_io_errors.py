"""Bad inputs and bad arrays: the right DespeckleError, the file named, nothing written."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hostile_files import dicom_header
from PIL import Image
from pydicom import examples
from pydicom.uid import BasicTextSRStorage, UltrasoundImageStorage

from monai_despeckle import io
from monai_despeckle.errors import CorruptFileError, DespeckleError, InvalidImageError, UnsupportedFormatError
from monai_despeckle.io import InputNotFoundError, UltrasoundImage


def _half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _noise_png(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128)).astype(np.uint8)).save(path)
    return path


def _nifti(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def _missing(tmp):
    return tmp / "nope.nii.gz"


def _empty_png(tmp):
    (tmp / "empty.png").touch()
    return tmp / "empty.png"


def _empty_dcm(tmp):
    (tmp / "empty.dcm").touch()
    return tmp / "empty.dcm"


def _truncated_png(tmp):
    return _half(_noise_png(tmp / "full.png"), tmp / "cut.png")


def _truncated_nii(tmp):
    return _half(
        _nifti(tmp / "full.nii", np.random.default_rng(1).random((20, 20, 5), dtype=np.float32)),
        tmp / "cut.nii",
    )


def _truncated_nii_gz(tmp):
    full = _nifti(tmp / "full.nii.gz", np.random.default_rng(2).random((20, 20, 5), dtype=np.float32))
    return _half(full, tmp / "cut.nii.gz")


def _truncated_dicom_pixels(tmp):
    return _half(Path(examples.ct.filename), tmp / "cut_ct.dcm")


def _truncated_dicom_jpeg(tmp):
    return _half(Path(examples.ybr_color.filename), tmp / "cut_cine.dcm")


def _text_as_png(tmp):
    (tmp / "notes.png").write_text("this is not a picture")
    return tmp / "notes.png"


def _text_as_nrrd(tmp):
    (tmp / "notes.nrrd").write_text("hello")
    return tmp / "notes.nrrd"


def _png_as_dicom(tmp):
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp / "image.dcm", format="PNG")
    return tmp / "image.dcm"


def _dicom_without_pixels(tmp):
    return dicom_header(tmp / "nopixels.dcm", UltrasoundImageStorage, with_pixels=False)


def _structured_report(tmp):
    return dicom_header(tmp / "report.dcm", BasicTextSRStorage, with_pixels=False)


def _rt_structure_set(tmp):
    target = tmp / "rtstruct.dcm"
    target.write_bytes(Path(examples.rt_ss.filename).read_bytes())
    return target


def _nan_nifti(tmp):
    data = np.ones((5, 6, 3), np.float32)
    data[2, 3, 1] = np.nan
    return _nifti(tmp / "nan.nii", data)


def _inf_tiff(tmp):
    data = np.zeros((5, 6), np.float32)
    data[1, 1] = np.inf
    Image.fromarray(data).save(tmp / "inf.tif")
    return tmp / "inf.tif"


def _zero_size_mha(tmp):
    header = (
        "ObjectType = Image\nNDims = 3\nDimSize = 0 4 5\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )
    (tmp / "zero.mha").write_text(header)
    return tmp / "zero.mha"


def _five_d_nifti(tmp):
    return _nifti(tmp / "five.nii", np.zeros((4, 5, 2, 2, 2), np.float32))


def _unknown_suffix(tmp):
    (tmp / "scan.xyz").write_bytes(b"\x00" * 64)
    return tmp / "scan.xyz"


BAD_INPUTS = [
    (_missing, InputNotFoundError, "no such file"),
    (_empty_png, CorruptFileError, "empty"),
    (_empty_dcm, CorruptFileError, "empty"),
    (_truncated_png, CorruptFileError, "decode"),
    (_truncated_nii, CorruptFileError, "truncated"),
    (_truncated_nii_gz, CorruptFileError, "truncated"),
    (_truncated_dicom_pixels, CorruptFileError, "pixel data"),
    (_truncated_dicom_jpeg, CorruptFileError, "truncated"),
    (_text_as_png, CorruptFileError, "not a readable"),
    (_text_as_nrrd, CorruptFileError, "cannot read"),
    (_png_as_dicom, CorruptFileError, "not a DICOM file"),
    (_dicom_without_pixels, InvalidImageError, "no Pixel Data"),
    (_structured_report, UnsupportedFormatError, "Basic Text SR"),
    (_rt_structure_set, UnsupportedFormatError, "RT Structure Set"),
    (_nan_nifti, InvalidImageError, "NaN"),
    (_inf_tiff, InvalidImageError, "NaN or infinite"),
    (_zero_size_mha, InvalidImageError, "no pixels"),
    (_five_d_nifti, InvalidImageError, "5-D"),
    (_unknown_suffix, UnsupportedFormatError, ".nii.gz"),
]


@pytest.mark.parametrize(
    ("make", "error", "reason"), BAD_INPUTS, ids=[case[0].__name__[1:] for case in BAD_INPUTS]
)
def test_bad_input_raises_naming_the_file_and_writes_nothing(tmp_path, make, error, reason):
    source = make(tmp_path)
    out_dir = tmp_path / "out"
    output = out_dir / "result.nii.gz"
    with pytest.raises(error) as caught:
        io.save(io.load(source), output)  # a load-then-save pipeline stops at the load
    message = str(caught.value)
    assert isinstance(caught.value, DespeckleError)
    assert source.name in message
    assert reason in message
    assert not out_dir.exists()


def test_unknown_suffix_error_lists_every_supported_suffix(tmp_path):
    with pytest.raises(UnsupportedFormatError) as caught:
        io.load(_unknown_suffix(tmp_path))
    for suffix in io.SUPPORTED_SUFFIXES:
        assert suffix in str(caught.value)


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        (np.full((1, 4, 4), np.nan), "NaN"),
        (np.full((2, 4, 4), 1.5), "[0, 1]"),
        (np.full((1, 4, 4), -0.2), "[0, 1]"),
        (np.zeros((0, 4, 4)), "non-empty"),
    ],
)
def test_bad_frames_are_refused_before_touching_the_disk(tmp_path, frames, reason):
    output = tmp_path / "never" / "made.nrrd"
    with pytest.raises(InvalidImageError) as caught:
        io.save(UltrasoundImage(frames), output)
    assert "made.nrrd" in str(caught.value) and reason in str(caught.value)
    assert not (tmp_path / "never").exists()


def test_unknown_output_suffix_is_refused(tmp_path):
    with pytest.raises(UnsupportedFormatError) as caught:
        io.save(UltrasoundImage(np.zeros((4, 4))), tmp_path / "out.xyz")
    assert "out.xyz" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_tiny_float_overshoot_from_a_network_is_accepted(tmp_path):
    frames = np.full((1, 3, 3), 1.0 + 1e-6, dtype=np.float32)
    io.save(UltrasoundImage(frames), tmp_path / "ok.png")
    assert io.load(tmp_path / "ok.png").source_values().max() == 255
