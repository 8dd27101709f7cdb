"""Property-based fuzzing of NIfTI, DICOM and PNG headers through the file-taking subcommands.

Hypothesis rewrites header fields of a valid file (dimensions, voxel sizes, data types, offsets,
frame counts, bit depths, colour types...) and flips header bytes. Whatever it writes, every
subcommand must end in one of two ways: success (status 0, the output written, the input
unchanged) or a clean refusal (status 2, one ``error:`` line naming the file, no traceback,
nothing written). Examples are derandomised, so CI runs the same ones every time.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hostile_files import (
    NIFTI_BITPIX,
    NIFTI_DATATYPE,
    NIFTI_DIM,
    NIFTI_PIXDIM,
    NIFTI_VOX_OFFSET,
    dicom_cine,
    nifti_bytes,
    png_bytes,
    set_field,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from monai_despeckle import cli
from monai_despeckle.data.folders import stem

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -1.0, 1e-30, 1e30]),
)
# byte flips anywhere in the first `limit` bytes
flips = st.lists(st.tuples(st.integers(0, 347), st.integers(0, 255)), max_size=3)


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _snapshot(root: Path) -> dict[Path, str | None]:
    return {entry: _digest(entry) for entry in root.rglob("*")}


def _run_clean(capfd, argv: list[str], path: Path, root: Path, output: Path | None) -> int:
    """Run one command; assert it succeeded cleanly or refused cleanly. Returns its status."""
    before = _snapshot(root)
    status = cli.main(argv)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    assert status in (0, cli.EXIT_USER_ERROR), captured.err
    after = _snapshot(root)
    for entry, digest in before.items():
        assert after.get(entry) == digest, f"{entry} changed"  # the input is never touched
    if status == 0:
        assert output is None or output.exists()
        assert not [p for p in after if p.name.endswith((".partial", ".tmp", ".pixels"))]
        return status
    messages = [line for line in captured.err.splitlines() if line.strip() and "%|" not in line]
    assert len(messages) == 1 and messages[0].startswith("error: "), captured.err
    assert path.name in messages[0], messages[0]
    assert after == before, "a refused run wrote something"
    return status


def _through_every_subcommand(capfd, path: Path, root: Path) -> None:
    """info, denoise and segment on the file; if it is refused, evaluate and segment-eval too."""
    out = root / "out"
    status = _run_clean(capfd, ["info", str(path)], path, root, None)
    denoised, labels = out / "d.nii.gz", out / "l_seg.nii.gz"
    denoise = ["denoise", str(path), str(denoised), "--method", "mean", "--no-progress"]
    assert _run_clean(capfd, denoise, path, root, denoised) == status
    assert _run_clean(capfd, ["segment", str(path), str(labels)], path, root, labels) == status
    if status == 0:
        return  # a readable file: the report commands are exercised by their own tests
    data = root / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    moved = path.rename(data / "images" / path.name)
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(data / "masks" / f"{stem(moved)}_mask.png")
    evaluate = ["evaluate", "--data", str(data), "--methods", "mean", "--size", "32", "--out", str(out / "r")]
    assert _run_clean(capfd, evaluate, moved, root, None) == status
    seg_eval = ["segment-eval", "--task", "breast", "--data", str(data), "--despecklers", "none"]
    seg_eval += ["--split", "all", "--ways", "test_time", "--out", str(out / "s")]
    assert _run_clean(capfd, seg_eval, moved, root, None) == status


# --- NIfTI --------------------------------------------------------------------------------------

nifti_fields = st.fixed_dictionaries(
    {},
    optional={
        "dim": st.tuples(st.integers(-2, 9), *[st.integers(-3, 32767)] * 7),
        "pixdim": st.tuples(*[floats] * 8),
        "datatype": st.one_of(
            st.sampled_from([2, 4, 8, 16, 64, 128, 256, 512, 768, 2304]), st.integers(-5, 5000)
        ),
        "bitpix": st.integers(-8, 300),
        "vox_offset": floats,
        "scaling": st.tuples(floats, floats),
        "units": st.integers(0, 255),
        "forms": st.tuples(st.integers(-1, 5), st.integers(-1, 5), st.tuples(*[floats] * 12)),
    },
)


def _mutated_nifti(fields: dict, byte_flips: list[tuple[int, int]]) -> bytearray:
    raw = nifti_bytes()
    if "dim" in fields:
        set_field(raw, NIFTI_DIM, "8h", *fields["dim"])
    if "pixdim" in fields:
        set_field(raw, NIFTI_PIXDIM, "8f", *fields["pixdim"])
    if "datatype" in fields:
        set_field(raw, NIFTI_DATATYPE, "h", fields["datatype"])
    if "bitpix" in fields:
        set_field(raw, NIFTI_BITPIX, "h", fields["bitpix"])
    if "vox_offset" in fields:
        set_field(raw, NIFTI_VOX_OFFSET, "f", fields["vox_offset"])
    if "scaling" in fields:
        set_field(raw, 112, "2f", *fields["scaling"])  # scl_slope, scl_inter
    if "units" in fields:
        raw[123] = fields["units"]  # xyzt_units
    if "forms" in fields:
        qform, sform, srows = fields["forms"]
        set_field(raw, 252, "2h", qform, sform)
        set_field(raw, 280, "12f", *srows)
    for offset, value in byte_flips:
        raw[offset] = value
    return raw


@FUZZ
@given(fields=nifti_fields, byte_flips=flips, compressed=st.booleans())
def test_fuzzed_nifti_headers_end_cleanly(capfd, fields, byte_flips, compressed):
    import gzip

    raw = _mutated_nifti(fields, byte_flips)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / ("fuzz.nii.gz" if compressed else "fuzz.nii")
        path.write_bytes(gzip.compress(bytes(raw)) if compressed else bytes(raw))
        _through_every_subcommand(capfd, path, root)


# --- DICOM --------------------------------------------------------------------------------------

dicom_fields = st.fixed_dictionaries(
    {},
    optional={
        "Rows": st.one_of(st.integers(0, 40), st.sampled_from([65535, 20000])),
        "Columns": st.one_of(st.integers(0, 40), st.sampled_from([65535, 20000])),
        "BitsAllocated": st.sampled_from([0, 1, 7, 8, 12, 16, 32, 64]),
        "BitsStored": st.integers(0, 40),
        "HighBit": st.integers(0, 40),
        "PixelRepresentation": st.integers(0, 3),
        "SamplesPerPixel": st.integers(0, 4),
        "PhotometricInterpretation": st.sampled_from(
            ["MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "FOO"]
        ),
        "PlanarConfiguration": st.integers(0, 2),
    },
)
frame_counts = st.one_of(
    st.none(),
    st.integers(-5, 12).map(str),
    st.sampled_from(["", "abc", "1.5", " 6", "99999999", "-0"]),
)


def _set_number_of_frames(path: Path, text: str) -> None:
    """Rewrite Number of Frames as the raw IS text ``text`` (pydicom refuses to write invalid ones)."""
    raw = path.read_bytes()
    tag = b"\x28\x00\x08\x00IS"
    start = raw.find(tag)
    length = struct.unpack_from("<H", raw, start + 6)[0]
    value = text.encode("ascii") + (b" " if len(text) % 2 else b"")
    path.write_bytes(raw[: start + 6] + struct.pack("<H", len(value)) + value + raw[start + 8 + length :])


@FUZZ
@given(fields=dicom_fields, number_of_frames=frame_counts, extra=st.integers(-2000, 2000))
def test_fuzzed_dicom_headers_end_cleanly(capfd, fields, number_of_frames, extra):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = dicom_cine(root / "fuzz.dcm", number_of_frames=6, **fields)
        if number_of_frames is not None:
            _set_number_of_frames(path, number_of_frames)
        if extra:  # pixel data is the last element: grow or cut it (its length field then lies)
            raw = path.read_bytes()
            path.write_bytes(raw + b"\x07" * extra if extra > 0 else raw[:extra])
        _through_every_subcommand(capfd, path, root)


# --- PNG ----------------------------------------------------------------------------------------

png_fields = st.fixed_dictionaries(
    {
        "width": st.one_of(st.integers(0, 64), st.sampled_from([2**31 - 1, 14000, 9000, 70000])),
        "height": st.one_of(st.integers(0, 64), st.sampled_from([2**31 - 1, 14000, 9000, 70000])),
        "bit_depth": st.sampled_from([0, 1, 2, 3, 4, 8, 16, 32]),
        "colour": st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]),
        "rows": st.binary(max_size=3000),
    }
)


@FUZZ
@given(fields=png_fields, byte_flips=st.lists(st.tuples(st.integers(8, 40), st.integers(0, 255)), max_size=2))
def test_fuzzed_png_headers_end_cleanly(capfd, fields, byte_flips):
    raw = bytearray(png_bytes(**fields))
    for offset, value in byte_flips:
        raw[offset] = value
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "fuzz.png"
        path.write_bytes(bytes(raw))
        _through_every_subcommand(capfd, path, root)


@pytest.mark.parametrize("width", [1, 3])
def test_png_helper_writes_a_readable_file(tmp_path, width):
    path = tmp_path / "ok.png"
    path.write_bytes(png_bytes(width, 2, rows=b"\x00" + b"\x10" * width + b"\x00" + b"\x20" * width))
    assert np.asarray(Image.open(path)).tolist() == [[16] * width, [32] * width]
