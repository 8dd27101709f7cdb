"""Every way a run stops is clean: signals to a real process, unwritable outputs, failed runs.

Whatever stops a run (Ctrl-C, ``kill``, a closed terminal, a folder that cannot be written, a bad
input), nothing is left behind: no staging folder, no partial output, no folder the run created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import console_script

from monai_despeckle import cli
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.io.streaming import open_sink, placeholder_frames

UNWRITABLE = Path("/sys/monai-despeckle-test")  # sysfs refuses new entries, even to root


def _cine(path: Path, num_frames: int, side: int) -> Path:
    header = UltrasoundImage(
        placeholder_frames(num_frames, side, side),
        kind=ImageKind.CINE,
        frame_time_ms=40.0,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    rng = np.random.default_rng(1)
    with open_sink(path, header) as sink:
        sink.write(rng.integers(0, 256, (num_frames, side, side), dtype=np.uint8) / np.float32(255.0))
    return path


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended before the signal: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never started writing")
        time.sleep(0.05)


def _partial_output_started(folder: Path, suffix: str) -> bool:
    """The sink is open (staging folder made) and, for DICOM, pixel bytes have been written."""
    stagings = list(folder.glob(".*.partial")) if folder.is_dir() else []
    if not stagings:
        return False
    if suffix != ".dcm":
        return True
    return any(entry.stat().st_size > 0 for entry in stagings[0].glob(".*.pixels"))


SIGNAL_CASES = [  # a fixed chunk of 1 runs serially; "auto" reads ahead and writes behind in threads
    (signal.SIGTERM, ".nii.gz", "1"),
    (signal.SIGTERM, ".dcm", "1"),
    (signal.SIGHUP, ".nii", "1"),
    (signal.SIGINT, ".dcm", "1"),
    (signal.SIGTERM, ".nii.gz", "auto"),
]


@pytest.mark.parametrize(
    ("signum", "suffix", "chunk"), SIGNAL_CASES, ids=[f"{s.name}-{x}-{c}" for s, x, c in SIGNAL_CASES]
)
def test_a_signal_mid_run_leaves_nothing_behind(tmp_path, signum, suffix, chunk):
    source = _cine(tmp_path / "cine.nii", num_frames=300, side=160)
    out_folder = tmp_path / "results" / "today"  # created by the run, so it must go too
    output = out_folder / f"despeckled{suffix}"
    command = [*console_script(), "denoise", str(source), str(output), "--method", "nlm"]
    process = subprocess.Popen(
        [*command, "--chunk-frames", chunk, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: _partial_output_started(out_folder, suffix), process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum  # 143 SIGTERM, 129 SIGHUP, 130 SIGINT
    assert stderr.strip().splitlines() == [f"interrupted by {signum.name}: partial output removed"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cine.nii"]


def _png(path: Path, side: int = 32) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side)).astype(np.uint8)).save(path)
    return path


def _one_error_line(capfd, *names: str) -> str:
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    for name in names:
        assert name in lines[0]
    return lines[0]


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
@pytest.mark.parametrize(
    "args",
    [
        ["denoise", "{png}", "{out}/o.png", "--method", "mean", "--no-progress"],
        ["segment", "{png}", "{out}/o_seg.nii.gz"],
        ["simulate", "--kind", "breast", "--n", "1", "--size", "64", "--out", "{out}/set", "--no-progress"],
        ["evaluate", "--data", "sim:breast", "--n", "1", "--methods", "mean", "--out", "{out}/r"],
        ["export", "dae_lite", "--format", "torchscript", "--out", "{out}/m.pt"],
    ],
    ids=["denoise", "segment", "simulate", "evaluate", "export"],
)
def test_an_output_folder_that_cannot_be_written_is_one_error_line(tmp_path, capfd, args):
    png = _png(tmp_path / "in.png")
    argv = [arg.format(png=png, out=UNWRITABLE) for arg in args]
    assert cli.main(argv) == cli.EXIT_USER_ERROR
    line = _one_error_line(capfd, str(UNWRITABLE))
    assert "cannot write" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_error_line(tmp_path, capfd):
    png = _png(tmp_path / "in.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert cli.main(["denoise", str(png), str(locked / "new" / "o.png"), "--method", "mean"]) == 2
        _one_error_line(capfd, "o.png", "cannot write")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_a_file_where_a_folder_should_be_is_one_error_line(tmp_path, capfd):
    png = _png(tmp_path / "in.png")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    assert cli.main(["denoise", str(png), str(tmp_path / "notes.txt" / "o.png"), "--method", "mean"]) == 2
    _one_error_line(capfd, "notes.txt", "not a folder")


def test_a_failed_run_removes_the_folders_it_created(tmp_path, capfd):
    tiny = _png(tmp_path / "tiny.png", side=3)  # too small for lee's 7×7 window: fails mid-run
    output = tmp_path / "new" / "deeper" / "o.png"
    assert cli.main(["denoise", str(tiny), str(output), "--method", "lee", "--no-progress"]) == 2
    line = _one_error_line(capfd, "tiny.png", "lee", "7×7")  # the window's refusal names the file
    assert "tiny.png" in line.split("lee")[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.png"]


def test_an_output_name_ending_in_a_dot_is_not_turned_into_a_frames_folder(tmp_path, capfd):
    png = _png(tmp_path / "in.png")
    assert cli.main(["denoise", str(png), str(tmp_path / "o.nii."), "--method", "mean"]) == 2
    _one_error_line(capfd, "o.nii.", "ends with a dot")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.png"]


def test_running_out_of_memory_is_one_error_line_naming_the_file(tmp_path, capfd, monkeypatch):
    from monai_despeckle import methods
    from monai_despeckle.methods import MethodSpec

    class Greedy:
        name = "greedy"
        gpu = False

        def __call__(self, frames):
            return np.empty(1 << 62, dtype=np.uint8)  # numpy cannot allocate 4 EiB: a real MemoryError

    png = _png(tmp_path / "in.png")
    spec = MethodSpec("greedy", Greedy, "allocates too much", "classical", gpu=False)
    monkeypatch.setitem(methods._REGISTRY, "greedy", spec)  # registered for this test only
    argv = ["denoise", str(png), str(tmp_path / "o.png"), "--method", "greedy", "--no-progress"]
    assert cli.main(argv) == 2
    _one_error_line(capfd, "in.png", "out of memory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.png"]


def test_the_demo_with_a_bad_real_sample_writes_nothing(tmp_path, capfd):
    from hostile_files import png_bomb_9000

    samples = tmp_path / "samples"
    (samples / "images").mkdir(parents=True)
    bomb = png_bomb_9000(samples / "images")
    out = tmp_path / "demo" / "output"
    assert cli.main(["demo", "--samples", str(samples), "--out", str(out), "--method", "mean"]) == 2
    _one_error_line(capfd, bomb.name, "exceed the limit")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["samples"]
