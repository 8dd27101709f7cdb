"""Throughput, memory and quality of despeckling methods and execution backends, measured fairly.

:func:`run_benchmark` runs every requested method (classical filters, learned methods, untrained
networks by name) and, for networks, every requested backend (eager torch, TorchScript, ONNX
Runtime) through the same :class:`~monai_despeckle.inference.Despeckler` path users run, on
simulated breast and carotid phantoms of one field of view at each size, whose speckle-free
reference gives each method's SSIM and PSNR on exactly the frames it was timed on.

Fair on a shared machine: every method is built and warmed up (at least one full batch, so memory
arenas and kernel choices are settled) before any timing; then the timed passes are
**interleaved**, each repeat timing every method once in an order rotated by one from the last,
so a noisy neighbour slows all methods alike rather than the one that happened to run then. The
median pass and the spread (slowest and fastest pass) are reported. Every library that can use
several threads gets the same limit (torch, ONNX Runtime, OpenCV, SimpleITK: ``threads``);
scikit-image's filters use one thread whatever the limit. Peak memory is the process's resident
set size during the method's passes (every method is loaded at once, so it includes the others'
weights) or ``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from monai_despeckle.errors import DespeckleError, InvalidParameterError, UnknownMethodError
from monai_despeckle.export import network_to_export
from monai_despeckle.inference import Despeckler
from monai_despeckle.metrics import psnr, ssim
from monai_despeckle.resolver import available_methods, method_spec
from monai_despeckle.runtime import BACKENDS, PeakMemory, resolve_device
from monai_despeckle.runtime.device import THREADS_ENV, cpu_threads
from monai_despeckle.simulation import simulate_breast, simulate_carotid

NO_BACKEND = "-"  # classical filters run their own code (numpy, SimpleITK or torch): no backend choice


@dataclass(frozen=True)
class BenchmarkRow:
    """One measurement: a method × backend × frame size.

    Attributes:
        method: method name (networks built untrained are ``"<name> (untrained)"``).
        family: ``"classical"``, ``"learned"`` or ``"network"`` (untrained).
        backend: ``"torch"``, ``"torchscript"`` or ``"onnx"`` for networks; ``"-"`` for classical filters.
        device: where it ran (``"cpu"``, ``"cuda:0"``).
        precision: compute precision (``"fp32"``, ``"bf16"``, ``"fp16"``).
        size: frames were ``size × size``.
        frames: frames timed per pass (warm-up excluded).
        batch_size: frames per call.
        seconds: wall time of one timed pass over the frames (median of the repeated passes).
        frames_per_second: ``frames / seconds``.
        peak_memory_mb: peak process RSS (CPU) or peak CUDA allocation (GPU) during its passes.
        memory: ``"rss"`` or ``"cuda"``.
        error: why the measurement failed (then the numbers are NaN).
        fps_min, fps_max: frames/s of the slowest and the fastest pass.
        ssim, psnr: mean SSIM and PSNR (dB) of the output against the phantoms' clean reference.
        threads: the thread limit every multi-threaded library ran under.
    """

    method: str
    family: str
    backend: str
    device: str
    precision: str
    size: int
    frames: int
    batch_size: int
    seconds: float
    frames_per_second: float
    peak_memory_mb: float
    memory: str
    error: str = ""
    fps_min: float = math.nan
    fps_max: float = math.nan
    ssim: float = math.nan
    psnr: float = math.nan
    threads: int = 0

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-serialisable values."""
        return asdict(self)


def benchmark_phantoms(count: int, size: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Speckled frames and their clean references ``[count, size, size]`` float32 in [0, 1].

    Breast and carotid phantoms alternate (physics speckle, one field of view at every size:
    a larger size is a finer pixel grid), phantom ``i`` drawn with seed ``seed + i``.
    """
    simulators = (simulate_breast, simulate_carotid)
    phantoms = [simulators[i % 2](size=size, seed=seed + i) for i in range(count)]
    bmode = np.stack([p.bmode for p in phantoms]).astype(np.float32)
    clean = np.stack([p.clean for p in phantoms]).astype(np.float32)
    return bmode, clean


def limit_threads(threads: int) -> None:
    """Give every multi-threaded library the same thread limit (torch, ONNX Runtime, OpenCV, ITK).

    ONNX Runtime sessions created afterwards read it through :data:`THREADS_ENV`.
    """
    os.environ[THREADS_ENV] = str(threads)
    torch.set_num_threads(threads)
    if importlib.util.find_spec("cv2") is not None:
        import cv2

        cv2.setNumThreads(threads)
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


@dataclass(frozen=True)
class _Candidate:
    label: str
    family: str
    backends: tuple[str, ...]
    build: Callable[[str], Despeckler]


def _despeckler(
    reference: str | nn.Module, backend: str, *, device: torch.device, batch_size: int | str, scale: str
) -> Despeckler:
    """The engine a candidate is measured through (a filter's single path is backend ``auto``)."""
    return Despeckler(
        reference,
        device=device,
        batch_size=batch_size,
        backend="auto" if backend == NO_BACKEND else backend,
        scale=scale,
    )


def _candidates(
    methods: Sequence[str] | str,
    networks: Sequence[str],
    backends: Sequence[str],
    device: torch.device,
    batch_size: int | str,
    scale: str = "auto",
) -> list[_Candidate]:
    registered = available_methods()
    names = list(registered) if methods == "all" else list(methods)
    specs, unknown = {}, []
    for name in names:  # the resolver's references: registered names, bundle folders, exports
        try:
            specs[name] = method_spec(name)
        except UnknownMethodError:
            unknown.append(name)
    if unknown:
        raise UnknownMethodError(
            f"unknown method(s) {', '.join(unknown)}; choose from: {', '.join(registered)} "
            "(or a bundle folder, or an exported .onnx / .ts file)"
        )
    candidates = []
    for name in names:
        learned = specs[name].family == "learned"
        candidates.append(
            _Candidate(
                name,
                specs[name].family,
                tuple(backends) if learned else (NO_BACKEND,),
                partial(_despeckler, name, device=device, batch_size=batch_size, scale=scale),
            )
        )
    for network in networks:
        module = network_to_export(network)
        candidates.append(
            _Candidate(
                f"{network} (untrained)",
                "network",
                tuple(backends),
                partial(_despeckler, module, device=device, batch_size=batch_size, scale=scale),
            )
        )
    return candidates


@dataclass
class _Entry:
    """A method × backend under measurement."""

    candidate: _Candidate
    backend: str
    despeckler: Despeckler | None
    error: str = ""
    passes: list[float] = field(default_factory=list)
    peak_mb: float = math.nan
    memory: str = "-"
    quality: tuple[float, float] = (math.nan, math.nan)


def _warm_up(entry: _Entry, frames: np.ndarray, warmup_frames: int) -> None:
    """Run at least one full batch untimed (arenas and kernel choices for the batch shape settle)."""
    assert entry.despeckler is not None
    batch = entry.despeckler.batch_size_for(frames.shape[1:])
    warmup = np.resize(
        frames, (max(1, warmup_frames, batch), *frames.shape[1:])
    )  # frames repeated cyclically
    for _ in entry.despeckler.iter_frames([warmup]):
        pass


def _timed_pass(entry: _Entry, frames: np.ndarray) -> np.ndarray:
    """One timed pass over ``frames``; records its time and peak memory, returns the output."""
    despeckler = entry.despeckler
    assert despeckler is not None
    device = despeckler.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        outputs = list(despeckler.iter_frames([frames]))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        entry.passes.append(time.perf_counter() - start)
    entry.peak_mb = float(np.nanmax([entry.peak_mb, memory.peak_mb]))
    entry.memory = memory.kind
    return outputs[0]


def _quality(output: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and PSNR of a stack of outputs against their references."""
    scores = [(float(ssim(o, c)[0]), float(psnr(o, c)[0])) for o, c in zip(output, clean, strict=True)]
    return float(np.mean([s for s, _ in scores])), float(np.mean([p for _, p in scores]))


def _measure_size(
    entries: list[_Entry], bmode: np.ndarray, clean: np.ndarray, warmup: int, repeats: int
) -> None:
    """Warm every entry up, then time ``repeats`` interleaved rounds, each in a rotated order."""
    for entry in entries:
        entry.passes, entry.peak_mb, entry.memory, entry.quality = [], math.nan, "-", (math.nan, math.nan)
        entry.error = "" if entry.despeckler is not None else entry.error
        if entry.despeckler is None:
            continue
        try:
            _warm_up(entry, bmode, warmup)
        except (DespeckleError, RuntimeError) as err:
            entry.error = str(err).splitlines()[0]
    runnable = [entry for entry in entries if not entry.error]
    for round_index in range(repeats):
        shift = round_index % max(1, len(runnable))
        for entry in runnable[shift:] + runnable[:shift]:
            if entry.error:
                continue
            try:
                output = _timed_pass(entry, bmode)
            except (DespeckleError, RuntimeError) as err:
                entry.error = str(err).splitlines()[0]
                continue
            if round_index == 0:
                entry.quality = _quality(output, clean)


def run_benchmark(
    *,
    sizes: Sequence[int] = (256, 512),
    frames: int = 16,
    methods: Sequence[str] | str = "all",
    backends: Sequence[str] = ("torch",),
    networks: Sequence[str] = (),
    device: str = "auto",
    batch_size: int | str = "auto",
    warmup_frames: int = 2,
    repeats: int = 5,
    threads: int | None = None,
    seed: int = 0,
    on_row: Callable[[BenchmarkRow], None] | None = None,
) -> list[BenchmarkRow]:
    """Measure frames/s, its spread, peak memory and SSIM / PSNR of each method × backend × size.

    Args:
        sizes: square frame sizes in pixels (one field of view: larger is finer).
        frames: phantoms timed per measurement.
        methods: registered method names, or ``"all"``.
        backends: for networks: any of ``"torch"``, ``"torchscript"``, ``"onnx"`` (classical
            filters have a single path, reported with backend ``"-"``).
        networks: names for :func:`monai_despeckle.networks.build_network`, benchmarked untrained.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        batch_size: frames per call or ``"auto"``.
        warmup_frames: frames run (untimed) before the timing; at least one full batch is.
        repeats: interleaved timed rounds; the median pass is reported with the spread.
        threads: the thread limit of every multi-threaded library (default: the CPU cores this
            process may use).
        seed: seed of the first phantom.
        on_row: called with each row as soon as its size is measured (progress reporting).

    Returns:
        One row per measurement, method by method; a method that fails on a size gets a row with
        ``error`` set.

    Raises:
        UnknownMethodError: an unknown method or network name (before anything runs).
        InvalidParameterError: bad sizes, frame count, repeats, threads or backend.
    """
    if frames < 1 or repeats < 1 or not sizes or any(size < 8 for size in sizes):
        raise InvalidParameterError(
            "benchmark needs frames >= 1, repeats >= 1 and sizes of at least 8 pixels"
        )
    if threads is not None and threads < 1:
        raise InvalidParameterError(f"threads must be >= 1, got {threads}")
    bad = [backend for backend in backends if backend not in BACKENDS]
    if bad or not backends:
        raise InvalidParameterError(f"unknown backend(s) {', '.join(bad)}; choose from {', '.join(BACKENDS)}")
    target = resolve_device(device)
    candidates = _candidates(methods, networks, backends, target, batch_size)
    limit = threads or cpu_threads()
    limit_threads(limit)
    entries = []
    for candidate in candidates:
        for backend in candidate.backends:
            try:
                entries.append(_Entry(candidate, backend, candidate.build(backend)))
            except (DespeckleError, RuntimeError) as err:
                entries.append(_Entry(candidate, backend, None, str(err).splitlines()[0]))
    rows: dict[tuple[int, int], BenchmarkRow] = {}
    for size in sizes:
        bmode, clean = benchmark_phantoms(frames, size, seed=seed)
        _measure_size(entries, bmode, clean, warmup_frames, repeats)
        for index, entry in enumerate(entries):
            rows[index, size] = _row(entry, size, frames, target, limit)
            if on_row is not None:
                on_row(rows[index, size])
    return [rows[index, size] for index in range(len(entries)) for size in sizes]


def _row(entry: _Entry, size: int, frames: int, target: torch.device, threads: int) -> BenchmarkRow:
    nan = math.nan
    despeckler = entry.despeckler
    common: dict[str, Any] = {
        "method": entry.candidate.label,
        "family": entry.candidate.family,
        "backend": entry.backend,
        "size": size,
        "frames": frames,
        "threads": threads,
    }
    if despeckler is None or entry.error or not entry.passes:
        return BenchmarkRow(
            **common,
            device=str(despeckler.device if despeckler else target),
            precision=despeckler.precision if despeckler else "-",
            batch_size=despeckler.batch_size_for((size, size)) if despeckler else 0,
            seconds=nan,
            frames_per_second=nan,
            peak_memory_mb=nan,
            memory="-",
            error=entry.error or "not measured",
        )
    seconds = float(np.median(entry.passes))
    return BenchmarkRow(
        **common,
        device=str(despeckler.device),
        precision=despeckler.precision,
        batch_size=despeckler.batch_size_for((size, size)),
        seconds=seconds,
        frames_per_second=frames / seconds if seconds > 0 else nan,
        peak_memory_mb=entry.peak_mb,
        memory=entry.memory,
        fps_min=frames / max(entry.passes),
        fps_max=frames / min(entry.passes),
        ssim=entry.quality[0],
        psnr=entry.quality[1],
    )


def speedups(rows: Sequence[BenchmarkRow], baseline: str) -> list[float]:
    """Each row's frames/s divided by the ``baseline`` method's at the same frame size.

    This is the figure to quote on a shared machine: both rates come from the same run. NaN where
    the baseline has no successful row of that size.
    """
    reference = {row.size: row.frames_per_second for row in rows if row.method == baseline and not row.error}
    return [row.frames_per_second / reference.get(row.size, math.nan) for row in rows]


def format_table(rows: Sequence[BenchmarkRow], baseline: str | None = None) -> str:
    """A plain-text table: one line per row, frames/s (median and spread), SSIM, PSNR, memory.

    With ``baseline`` (a method among the rows), a column gives each row's frame rate as a multiple
    of the baseline's at the same size (see :func:`speedups`).
    """
    header: tuple[str, ...]
    header = ("METHOD", "BACKEND", "DEVICE", "PREC", "SIZE", "BATCH", "FRAMES/S", "MIN-MAX", "MS/FRAME")
    header += (f"× {baseline.upper()}",) if baseline else ()
    header += ("SSIM", "PSNR", "PEAK MB", "NOTE")
    ratios = speedups(rows, baseline) if baseline else [math.nan] * len(rows)
    lines = [header]
    for row, ratio in zip(rows, ratios, strict=True):
        ok = not row.error
        relative = (f"{ratio:.1f}" if ok and math.isfinite(ratio) else "-",) if baseline else ()
        lines.append(
            (
                row.method,
                row.backend,
                row.device,
                row.precision,
                f"{row.size}²",
                str(row.batch_size),
                f"{row.frames_per_second:.2f}" if ok else "-",
                f"{row.fps_min:.1f}-{row.fps_max:.1f}" if ok and math.isfinite(row.fps_min) else "-",
                f"{1000.0 * row.seconds / row.frames:.1f}" if ok else "-",
                *relative,
                f"{row.ssim:.3f}" if ok and math.isfinite(row.ssim) else "-",
                f"{row.psnr:.2f}" if ok and math.isfinite(row.psnr) else "-",
                f"{row.peak_memory_mb:.0f} ({row.memory})" if ok else "-",
                row.error,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
    threads = sorted({row.threads for row in rows if row.threads})
    note = (
        f"thread limit {', '.join(map(str, threads))} (torch, ONNX Runtime, OpenCV, ITK); " if threads else ""
    )
    return table + f"\n{note}timed passes interleaved across methods; MIN-MAX: slowest and fastest pass"


def plot_speed_quality(rows: Sequence[BenchmarkRow], path: str | Path) -> Path:
    """Frames/s (log scale) against SSIM, one point per method × backend and size; written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if not r.error and math.isfinite(r.ssim) and r.frames_per_second > 0]
    if not measured:
        raise InvalidParameterError("no measured row with a frame rate and an SSIM to plot")
    sizes = sorted({r.size for r in measured})
    markers = dict(zip(sizes, "os^Dv<>", strict=False))
    labels = sorted({(r.method, r.backend) for r in measured})
    colours = {label: plt.get_cmap("tab20")(i % 20) for i, label in enumerate(labels)}
    figure, axes = plt.subplots(figsize=(8.5, 5.5), dpi=120)
    for r in measured:
        axes.scatter(
            r.frames_per_second,
            r.ssim,
            marker=markers.get(r.size, "o"),
            color=colours[r.method, r.backend],
            edgecolors="black",
            linewidths=0.4,
            s=46,
            zorder=3,
        )
        name = r.method if r.backend == NO_BACKEND else f"{r.method} [{r.backend}]"
        axes.annotate(
            name, (r.frames_per_second, r.ssim), fontsize=6.5, xytext=(4, 2), textcoords="offset points"
        )
    for size in sizes:
        axes.scatter(
            [], [], marker=markers.get(size, "o"), color="white", edgecolors="black", label=f"{size}²"
        )
    axes.set_xscale("log")
    axes.set_xlabel(f"frames/s (median of interleaved passes, {measured[0].device})")
    axes.set_ylabel("SSIM against the clean phantom")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(title="frame size", loc="upper left", fontsize=8)
    axes.set_title("Speed against quality on the same phantoms")
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
    return target
