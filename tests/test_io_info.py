"""``monai-despeckle info`` through the real CLI entry point."""

import json
from pathlib import Path

import nrrd
import numpy as np
from pydicom import examples

from monai_despeckle import io
from monai_despeckle.cli import EXIT_USER_ERROR, main

YBR_COLOR = Path(examples.ybr_color.filename)


def _fields(text: str) -> dict[str, str]:
    return {
        key.strip(): value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())
    }


def test_info_text_on_ultrasound_cine(capsys):
    assert main(["info", str(YBR_COLOR)]) == 0
    captured = capsys.readouterr()
    fields = _fields(captured.out)
    assert fields["format"] == "dicom"
    assert fields["kind"] == "cine"
    assert fields["frames"] == "30"
    assert fields["frame size"] == "240 x 320 (H x W)"
    assert fields["spacing"].startswith("1 x 0.510497 x 0.510497 mm")
    assert fields["frame time"] == "33.333 ms"
    assert fields["source dtype"] == "uint8 [0, 255]"
    assert fields["spacing from"] == "ultrasound_region_out_of_bounds"
    assert "warning:" in captured.err and "exceeds" in captured.err


def test_info_json_on_nrrd_volume(tmp_path, capsys):
    data = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3) - 20
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([0.5, 0.6, 2.0]),
        "space origin": [1.0, 2.0, 3.0],
    }
    nrrd.write(str(tmp_path / "v.nrrd"), data, header)
    assert main(["info", "--json", str(tmp_path / "v.nrrd")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "volume" and summary["frames"] == 3
    assert summary["frame_size"] == [5, 4]
    assert summary["spacing_mm"] == [2.0, 0.6, 0.5]
    assert summary["origin_mm"] == [1.0, 2.0, 3.0]
    assert summary["source_dtype"] == "int16" and summary["source_range"] == [-20.0, 39.0]
    assert summary["frame_time_ms"] is None and summary["warnings"] == []
    assert set(summary) >= {"file", "format", "spacing_source"}
    assert summary["speckle_size_px"] is None  # a 5 × 4 ramp has no speckle to measure


def test_info_reports_the_speckle_grain_which_grows_with_the_pixel_grid(tmp_path, capsys):
    from monai_despeckle.simulation import simulate_breast

    widths = []
    for size in (128, 256):  # one 40 mm field of view, pixels half as large
        path = io.save(
            io.UltrasoundImage(simulate_breast(size=size, seed=2).bmode[None]), tmp_path / f"{size}.png"
        )
        assert main(["info", "--json", str(path)]) == 0
        grain = json.loads(capsys.readouterr().out)["speckle_size_px"]
        assert grain["axial_px"] >= 1.0 and grain["lateral_px"] >= 1.0
        widths.append(grain["lateral_px"])
    assert 1.5 < widths[1] / widths[0] < 2.6
    assert main(["info", str(path)]) == 0
    assert "lateral (autocovariance FWHM)" in capsys.readouterr().out


def test_info_on_bad_file_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    assert main(["info", str(bad)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "broken.nii.gz" in err and err.startswith("error:")
    assert "Traceback" not in err
