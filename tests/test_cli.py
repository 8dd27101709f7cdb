"""The command line as a user meets it: help on every command, the demo, errors without traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_despeckle import cli, io
from monai_despeckle.metrics import psnr

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_us_samples"


def console_script() -> list[str]:
    """The installed ``monai-despeckle`` script, or the module as a fallback."""
    script = shutil.which("monai-despeckle", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "monai_despeckle.cli"]


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"monai-despeckle {command}" in capsys.readouterr().out


def test_top_level_help_lists_every_command():
    result = subprocess.run([*console_script(), "--help"], capture_output=True, text=True, check=True)
    for command in cli.COMMANDS:
        assert command in result.stdout


def test_user_error_exits_2_with_one_line_and_no_traceback(tmp_path):
    missing = tmp_path / "nothing_here.nii.gz"
    result = subprocess.run([*console_script(), "info", str(missing)], capture_output=True, text=True)
    assert result.returncode == cli.EXIT_USER_ERROR
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:")
    assert str(missing) in result.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # `monai-despeckle methods | head -1`: the pipe closes before the table is written
    process = subprocess.Popen(
        [*console_script(), "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports it
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_unknown_method_is_a_user_error(tmp_path, capsys):
    assert cli.main(["demo", "--no-real", "--method", "no_such_filter", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no_such_filter" in err and "srad" in err  # names the choices
    assert not any(tmp_path.iterdir())  # nothing written


def test_demo_on_the_phantom_improves_psnr_and_writes_reopenable_files(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--no-real", "--method", "lee", "--out", str(out)]) == 0
    assert (out / "demo.png").stat().st_size > 10_000
    noisy = io.load(out / "phantom_noisy.nii.gz")
    despeckled = io.load(out / "phantom_lee.nii.gz")
    clean = io.load(out / "phantom_clean.nii.gz")
    assert despeckled.frames.shape == noisy.frames.shape == clean.frames.shape
    np.testing.assert_allclose(despeckled.spacing, noisy.spacing)
    gain = float(psnr(despeckled.frames[0], clean.frames[0])[0] - psnr(noisy.frames[0], clean.frames[0])[0])
    assert gain > 1.0
    assert "PSNR" in capsys.readouterr().out


@pytest.mark.skipif(not (SAMPLES / "images").is_dir(), reason="needs ../shared/data/real_us_samples")
def test_demo_on_a_real_sample_reports_no_reference_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--samples", str(SAMPLES), "--method", "median", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for metric in ("ENL", "speckle index", "gCNR", "EPI"):
        assert metric in printed
    first = sorted((SAMPLES / "images").glob("*.png"))[0]
    assert (out / f"{first.stem}_median.png").is_file()


HEAVY_LIBRARIES = ("torch", "monai", "numpy", "skimage", "matplotlib", "scipy", "SimpleITK", "onnxruntime")


@pytest.mark.parametrize("argv", [["--help"], ["denoise", "--help"], ["segment", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(argv):
    """Help and version come from argparse alone: no torch, MONAI, numpy... (a fresh interpreter)."""
    probe = (
        "import sys, contextlib, io, json\n"
        "from monai_despeckle import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        cli.main({argv!r})\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, stop.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert not loaded & set(HEAVY_LIBRARIES), sorted(loaded & set(HEAVY_LIBRARIES))


@pytest.mark.parametrize("method", ["dae_skip", "median"])
def test_denoise_imports_no_training_library(method, tmp_path):
    """A file despeckled by a network (at its trained grain) or a filter never imports MONAI or ignite.

    MONAI's import alone costs seconds of every ``denoise``'s start-up; inference needs none of it.
    """
    frames = (np.random.default_rng(0).random((3, 64, 80)) * 255).astype(np.uint8)
    source = io.save(io.UltrasoundImage(frames=frames.astype(np.float32) / 255), tmp_path / "cine.nii.gz")
    argv = ["denoise", str(source), str(tmp_path / "out.nii.gz"), "--method", method]
    probe = (
        "import sys, json\n"
        "from monai_despeckle import cli\n"
        f"code = cli.main({argv!r})\n"
        "assert code == 0, code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert not loaded & {"monai", "ignite"}, sorted(loaded & {"monai", "ignite"})
    assert (tmp_path / "out.nii.gz").is_file()
