"""``benchmark``: frames/s and peak memory per method, backend and size, as rows, a table and JSON."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from test_inference import TinyNet

from monai_despeckle import cli, methods
from monai_despeckle.benchmark import (
    BenchmarkRow,
    benchmark_phantoms,
    format_table,
    plot_speed_quality,
    run_benchmark,
    speedups,
)
from monai_despeckle.errors import InvalidImageError, InvalidParameterError, UnknownMethodError
from monai_despeckle.inference import NetworkMethod
from monai_despeckle.methods import MethodSpec
from monai_despeckle.runtime import PeakMemory


def test_classical_rows_have_positive_rates_and_memory():
    rows = run_benchmark(sizes=(32, 48), frames=3, methods=["none", "median", "lee"], device="cpu")
    assert [(row.method, row.size) for row in rows] == [
        (name, size) for name in ("none", "median", "lee") for size in (32, 48)
    ]
    for row in rows:
        assert row.error == "" and row.backend == "-" and row.device == "cpu" and row.memory == "rss"
        assert row.frames == 3 and row.seconds > 0 and math.isclose(row.frames_per_second, 3 / row.seconds)
        assert row.fps_min <= row.frames_per_second <= row.fps_max
        assert row.peak_memory_mb > 10  # a Python process with torch loaded
        assert 0 < row.ssim < 1 and row.psnr > 5 and row.threads >= 1
    by_name = {(row.method, row.size): row for row in rows}
    for size in (32, 48):  # the quality columns see the filtering: a median beats the raw input
        assert by_name["median", size].psnr > by_name["none", size].psnr + 1
    table = format_table(rows)
    assert table.splitlines()[0].split()[:2] == ["METHOD", "BACKEND"] and "median" in table


def test_networks_are_measured_on_every_requested_backend(monkeypatch):
    spec = MethodSpec("tiny", lambda: NetworkMethod(TinyNet(), "tiny", device="cpu"), "test", "learned", True)
    monkeypatch.setitem(methods._REGISTRY, "tiny", spec)
    rows = run_benchmark(sizes=(36,), frames=2, methods=["tiny", "mean"], backends=("torch", "torchscript"))
    assert [(row.method, row.backend) for row in rows] == [
        ("tiny", "torch"),
        ("tiny", "torchscript"),
        ("mean", "-"),  # classical filters have a single path
    ]
    assert all(row.error == "" and row.frames_per_second > 0 for row in rows)


def test_unknown_names_and_bad_options_fail_before_running():
    with pytest.raises(UnknownMethodError, match="no_such"):
        run_benchmark(sizes=(32,), frames=1, methods=["median", "no_such"])
    with pytest.raises(InvalidParameterError, match="backend"):
        run_benchmark(sizes=(32,), frames=1, methods=["median"], backends=("tensorrt",))
    with pytest.raises(InvalidParameterError):
        run_benchmark(sizes=(32,), frames=0, methods=["median"])


class NeedsLargeFrames:
    """A Method that refuses frames under 64 pixels, as a filter with a large window does."""

    name = "needs_large"
    gpu = False

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if min(frames.shape[-2:]) < 64:
            raise InvalidImageError(f"needs_large: frames of at least 64 pixels, got {list(frames.shape)}")
        return frames.clone()


def test_a_failing_method_gets_an_error_row_not_an_exception(monkeypatch):
    spec = MethodSpec("needs_large", NeedsLargeFrames, "test", "classical", False)
    monkeypatch.setitem(methods._REGISTRY, "needs_large", spec)
    rows = run_benchmark(sizes=(32, 64), frames=1, methods=["needs_large"], warmup_frames=1)
    assert "at least 64 pixels" in rows[0].error and math.isnan(rows[0].frames_per_second)
    assert rows[1].error == "" and rows[1].frames_per_second > 0
    assert "at least 64 pixels" in format_table(rows)


class RecordsBatches:
    """A Method that records the size of every batch it is given."""

    name = "records"
    gpu = False
    calls: ClassVar[list[int]] = []

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        RecordsBatches.calls.append(frames.shape[0])
        return frames.clone()


def test_warm_up_covers_a_full_batch_and_every_repeat_runs_all_frames(monkeypatch):
    RecordsBatches.calls = []
    spec = MethodSpec("records", RecordsBatches, "test", "classical", False)
    monkeypatch.setitem(methods._REGISTRY, "records", spec)
    (row,) = run_benchmark(
        sizes=(16,), frames=7, methods=["records"], batch_size=4, warmup_frames=1, repeats=3
    )
    # warm-up: one full batch of 4 although 1 frame was asked; then 3 timed passes of 7 frames each
    assert RecordsBatches.calls == [4] + [4, 3] * 3
    assert row.frames == 7 and row.batch_size == 4 and math.isclose(row.frames_per_second, 7 / row.seconds)
    with pytest.raises(InvalidParameterError, match="repeats"):
        run_benchmark(sizes=(16,), frames=1, methods=["records"], repeats=0)


def test_peak_memory_sees_an_allocation_inside_the_block():
    with PeakMemory(torch.device("cpu")) as idle:
        pass
    if not idle.resettable:
        pytest.skip("the kernel's RSS high-water mark cannot be reset here")
    with PeakMemory(torch.device("cpu")) as busy:
        block = np.ones(64 * 2**20 // 8)  # 64 MB touched
        del block
    assert busy.peak_mb - idle.peak_mb > 40


def test_benchmark_phantoms_are_speckled_frames_with_clean_references():
    bmode, clean = benchmark_phantoms(3, 40, seed=1)
    assert bmode.shape == clean.shape == (3, 40, 40) and bmode.dtype == clean.dtype == np.float32
    assert bmode.min() >= 0.0 and bmode.max() <= 1.0 and bmode.std() > 0.05
    assert np.abs(bmode - clean).mean() > 0.02  # the speckle is there, and not in the reference
    np.testing.assert_array_equal(bmode, benchmark_phantoms(3, 40, seed=1)[0])


class Journal:
    """Methods that write their name in a shared journal on every call (the order of the passes)."""

    entries: ClassVar[list[str]] = []

    def __init__(self, name: str) -> None:
        self.name = name
        self.gpu = False

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        Journal.entries.append(self.name)
        return frames.clone()


def test_timed_passes_are_interleaved_in_rotated_order(monkeypatch):
    Journal.entries = []
    for name in ("ja", "jb", "jc"):
        spec = MethodSpec(name, lambda name=name: Journal(name), "test", "classical", False)
        monkeypatch.setitem(methods._REGISTRY, name, spec)
    rows = run_benchmark(
        sizes=(16,), frames=2, methods=["ja", "jb", "jc"], batch_size=2, warmup_frames=1, repeats=3
    )
    assert [row.method for row in rows] == ["ja", "jb", "jc"]
    # warm-ups first, then one pass of each method per round, the order rotated every round
    warm_ups, rounds = ["ja", "jb", "jc"], ["ja", "jb", "jc", "jb", "jc", "ja", "jc", "ja", "jb"]
    assert Journal.entries == [*warm_ups, *rounds]


def test_the_thread_limit_reaches_torch_and_the_rows(monkeypatch):
    from monai_despeckle.runtime.device import THREADS_ENV, cpu_threads

    before = torch.get_num_threads()
    monkeypatch.setenv(THREADS_ENV, str(before))  # restored (removed) after the test
    try:
        rows = run_benchmark(sizes=(16,), frames=1, methods=["mean"], threads=1)
        assert rows[0].threads == 1 and torch.get_num_threads() == 1 and cpu_threads() == 1
        assert "thread limit 1" in format_table(rows)
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InvalidParameterError, match="threads"):
        run_benchmark(sizes=(16,), frames=1, methods=["mean"], threads=0)


def test_the_speed_quality_plot_is_written(tmp_path):
    rows = run_benchmark(sizes=(24,), frames=2, methods=["none", "gaussian"], repeats=1)
    path = plot_speed_quality(rows, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with pytest.raises(InvalidParameterError, match="no measured row"):
        plot_speed_quality([], tmp_path / "empty.png")


def test_benchmark_command_prints_a_table_or_json(capsys):
    assert cli.main(["benchmark", "--sizes", "24", "--frames", "2", "--methods", "none,mean", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["method"] for row in rows] == ["none", "mean"]
    assert all(row["frames_per_second"] > 0 and row["size"] == 24 for row in rows)
    assert cli.main(["benchmark", "--sizes", "24", "--frames", "1", "--methods", "gaussian"]) == 0
    assert "FRAMES/S" in capsys.readouterr().out
    assert cli.main(["benchmark", "--sizes", "big", "--methods", "none"]) == cli.EXIT_USER_ERROR


def _row(method: str, size: int, rate: float, error: str = "") -> BenchmarkRow:
    return BenchmarkRow(
        method, "classical", "-", "cpu", "fp32", size, 8, 4, 8 / rate, rate, 100.0, "rss", error
    )


def test_speedups_divide_by_the_baseline_of_the_same_size():
    rows = [_row("nlm", 256, 10.0), _row("nlm", 512, 2.0), _row("fast", 256, 150.0), _row("fast", 512, 30.0)]
    assert speedups(rows, "nlm") == [1.0, 1.0, 15.0, 15.0]
    rows.append(_row("fast", 1024, 5.0))  # no baseline at that size
    assert math.isnan(speedups(rows, "nlm")[-1])
    table = format_table(rows, baseline="nlm").splitlines()
    assert "× NLM" in table[0]
    assert table[3].split()[:10] == ["fast", "-", "cpu", "fp32", "256²", "4", "150.00", "-", "6.7", "15.0"]
    assert table[5].split()[9] == "-"


def test_benchmark_command_measures_the_baseline_and_reports_the_ratio(capsys):
    argv = ["benchmark", "--sizes", "24", "--frames", "2", "--methods", "mean", "--baseline", "gaussian"]
    assert cli.main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["method"] for row in rows] == ["gaussian", "mean"]  # the baseline was added and measured
    assert rows[0]["speedup_vs_gaussian"] == 1.0
    expected = rows[1]["frames_per_second"] / rows[0]["frames_per_second"]
    assert math.isclose(rows[1]["speedup_vs_gaussian"], expected)
    assert cli.main(argv) == 0
    assert "× GAUSSIAN" in capsys.readouterr().out
    # an unknown baseline is refused before anything runs, also with --methods all
    assert cli.main(["benchmark", "--methods", "all", "--baseline", "no_such"]) == cli.EXIT_USER_ERROR
    assert "no_such" in capsys.readouterr().err


def test_benchmark_measures_networks_the_way_denoise_runs_them_unless_native():
    from monai_despeckle.benchmark import _candidates

    cpu = torch.device("cpu")
    (default,) = _candidates(["dae_lite"], [], ["torch"], cpu, 1)
    (native,) = _candidates(["dae_lite"], [], ["torch"], cpu, 1, "native")
    assert default.build("torch").trained_grain is not None  # resampled to its trained grain
    assert native.build("torch").trained_grain is None
    assert native.build("torch").describe()["scale"] == "native"


def test_a_bundle_folder_is_benchmarked_like_a_registered_method(tmp_path):
    """The resolver's references (here a user's bundle folder) are accepted as by denoise and evaluate."""
    import shutil
    from pathlib import Path

    folder = tmp_path / "my_lite"
    shutil.copytree(Path(__file__).resolve().parents[1] / "bundles" / "despeckle_dae_lite", folder)
    rows = run_benchmark(sizes=(32,), frames=2, methods=[str(folder), "mean"], device="cpu", repeats=1)
    assert [(row.method, row.backend) for row in rows] == [(str(folder), "torch"), ("mean", "-")]
    assert all(row.error == "" and row.frames_per_second > 0 for row in rows)
