"""``monai-despeckle denoise``: every format round-trips its geometry; bad inputs exit 2 and write nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import examples

from monai_despeckle import cli, io
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage

DIRECTION = np.array([[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])
pytestmark = pytest.mark.filterwarnings(
    "ignore::monai_despeckle.io.UltrasoundRegionWarning", "ignore::monai_despeckle.io.ColorConvertedWarning"
)


def _image(kind: ImageKind, num_frames: int = 6, shape=(24, 30), dtype: str = "uint8") -> UltrasoundImage:
    rng = np.random.default_rng(num_frames)
    high = 255 if dtype == "uint8" else 4000
    values = rng.integers(0, high, (num_frames, *shape)).astype(dtype)
    mapping = IntensityMapping.for_array(values)
    return UltrasoundImage(
        mapping.to_unit(values),
        spacing=(1.25 if kind is ImageKind.VOLUME else 1.0, 0.3, 0.2),
        origin=(4.0, -2.0, 3.5),
        direction=DIRECTION,
        kind=kind,
        frame_time_ms=40.0 if kind is ImageKind.CINE else None,
        intensity=mapping,
    )


def _denoise(*args: str | Path) -> int:
    return cli.main(["denoise", *map(str, args), "--no-progress"])


def _assert_same_geometry(output: UltrasoundImage, source: UltrasoundImage) -> None:
    assert output.frames.shape == source.frames.shape
    assert output.kind == source.kind and output.intensity.dtype == source.intensity.dtype
    np.testing.assert_allclose(output.spacing, source.spacing, rtol=1e-6)
    np.testing.assert_allclose(output.origin, source.origin, atol=1e-5)
    np.testing.assert_allclose(output.direction, source.direction, atol=1e-6)
    if source.frame_time_ms is None:
        assert output.frame_time_ms is None
    else:
        assert output.frame_time_ms == pytest.approx(source.frame_time_ms)


@pytest.mark.parametrize(
    ("name", "kind", "dtype"),
    [
        ("volume.nii.gz", ImageKind.VOLUME, "uint16"),
        ("cine.nii", ImageKind.CINE, "uint8"),
        ("cine.nrrd", ImageKind.CINE, "uint8"),
        ("volume.mha", ImageKind.VOLUME, "uint16"),
    ],
)
def test_denoise_keeps_geometry_dtype_and_timing(tmp_path, capsys, name, kind, dtype):
    source = io.save(_image(kind, dtype=dtype), tmp_path / name)
    out = tmp_path / "out" / f"despeckled_{name}"
    assert _denoise(source, out, "--method", "lee", "--chunk-frames", "4") == 0
    assert "6 frames" in capsys.readouterr().out
    original, result = io.load(source), io.load(out)
    _assert_same_geometry(result, original)
    assert not np.array_equal(result.frames, original.frames)
    expected = Despeckler("lee", device="cpu").run(original)
    np.testing.assert_array_equal(result.source_values(), expected.source_values())  # stored values


def test_denoise_dicom_ultrasound_multiframe(tmp_path):
    source = Path(examples.get_path("ybr_color"))
    out = tmp_path / "cine.dcm"
    assert _denoise(source, out, "--method", "median", "--chunk-frames", "7") == 0
    original, result = io.load(source), io.load(out)
    _assert_same_geometry(result, original)
    assert result.frame_time_ms == pytest.approx(33.33, abs=0.01) and result.kind is ImageKind.CINE
    assert result.metadata["sop_class"] == original.metadata["sop_class"]


def test_denoise_png_keeps_size_and_bit_depth(tmp_path):
    values = np.random.default_rng(0).integers(0, 65535, (1, 33, 47)).astype(np.uint16)
    mapping = IntensityMapping.for_array(values)
    source = io.save(UltrasoundImage(mapping.to_unit(values), intensity=mapping), tmp_path / "scan.png")
    out = tmp_path / "scan_out.png"
    assert _denoise(source, out, "--method", "gaussian") == 0
    result = io.load(out)
    assert result.frames.shape == (1, 33, 47) and result.intensity.dtype == "uint16"
    assert result.frames.std() < io.load(source).frames.std()


def test_denoise_folder_batch_keeps_names_and_geometry(tmp_path, capsys):
    inputs = tmp_path / "in"
    io.save(_image(ImageKind.IMAGE, num_frames=1), inputs / "a.png")
    io.save(_image(ImageKind.CINE), inputs / "b.nii.gz")
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert _denoise(inputs, out, "--method", "mean") == 0
    assert "2 files" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.nii.gz"]
    for name in ("a.png", "b.nii.gz"):
        _assert_same_geometry(io.load(out / name), io.load(inputs / name))


def test_denoise_frames_folder_as_one_cine(tmp_path):
    frames = io.save(_image(ImageKind.CINE, num_frames=5), tmp_path / "frames")
    assert _denoise(frames, tmp_path / "cine.nii.gz", "--frames", "--method", "mean") == 0
    result = io.load(tmp_path / "cine.nii.gz")
    assert result.frames.shape == (5, 24, 30) and result.kind is ImageKind.CINE


def test_denoise_along_axis_1_equals_the_engine(tmp_path):
    source = io.save(_image(ImageKind.VOLUME, num_frames=9), tmp_path / "volume.nii.gz")
    assert _denoise(source, tmp_path / "axis1.nii.gz", "--method", "lee", "--axis", "1") == 0
    expected = Despeckler("lee", device="cpu").run(io.load(source), axis=1)
    np.testing.assert_array_equal(
        io.load(tmp_path / "axis1.nii.gz").source_values(), expected.source_values()
    )


def _corrupt_nifti(folder: Path) -> Path:
    path = folder / "broken.nii.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "out_is_in", "unknown_method", "existing_out"])
def test_bad_inputs_exit_2_and_leave_nothing_behind(tmp_path, capsys, case):
    good = io.save(_image(ImageKind.CINE), tmp_path / "good.nii.gz")
    existing = tmp_path / "existing.nii.gz"
    existing.write_bytes(b"keep me")
    args = {
        "missing": (tmp_path / "nope.nii.gz", tmp_path / "out.nii.gz"),
        "corrupt": (_corrupt_nifti(tmp_path), tmp_path / "out.nii.gz"),
        "out_is_in": (good, good),
        "unknown_method": (good, tmp_path / "out.nii.gz", "--method", "no_such_filter"),
        "existing_out": (good, existing),
    }[case]
    before = {path: path.read_bytes() for path in tmp_path.iterdir()}
    assert _denoise(*args) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before  # nothing new, nothing changed


def test_folder_with_a_corrupt_file_writes_nothing_unless_skipped(tmp_path, capsys):
    inputs = tmp_path / "in"
    io.save(_image(ImageKind.CINE), inputs / "good.nii.gz")
    _corrupt_nifti(inputs)
    out = tmp_path / "out"
    assert _denoise(inputs, out, "--method", "mean") == cli.EXIT_USER_ERROR
    assert "broken.nii.gz" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert _denoise(inputs, out, "--method", "mean", "--skip-errors") == 0
    assert [p.name for p in out.iterdir()] == ["good.nii.gz"]


def test_output_inside_the_input_folder_is_refused(tmp_path, capsys):
    inputs = tmp_path / "in"
    io.save(_image(ImageKind.IMAGE, num_frames=1), inputs / "a.png")
    assert _denoise(inputs, inputs / "out", "--method", "mean") == cli.EXIT_USER_ERROR
    assert "inside the input folder" in capsys.readouterr().err
    assert [p.name for p in inputs.iterdir()] == ["a.png"]


def test_overwrite_replaces_an_earlier_output(tmp_path):
    source = io.save(_image(ImageKind.CINE), tmp_path / "cine.nii.gz")
    out = tmp_path / "out.nii.gz"
    shutil.copy(source, out)
    assert _denoise(source, out, "--method", "mean", "--overwrite") == 0
    assert not np.array_equal(io.load(out).frames, io.load(source).frames)
