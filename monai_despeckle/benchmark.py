"""Throughput and peak memory of despeckling methods and execution backends on this machine.

:func:`run_benchmark` runs every requested method (classical filters, registered learned
methods, untrained networks by name) and, for networks, every requested backend (eager torch,
TorchScript, ONNX Runtime) through the same :class:`~monai_despeckle.inference.Despeckler` path
users run, on synthetic speckled frames of each size. Method construction (tracing, ONNX export)
and a warm-up pass of at least one full batch (so that memory arenas and kernel choices for the
batch shape are settled) are excluded from the timing. The timed pass is repeated and the median
reported: these machines are shared, and one pass of a few frames is at the mercy of a neighbour.
Peak memory is the process's resident set size on the CPU (kernel high-water mark, reset per
measurement; see :class:`~monai_despeckle.runtime.PeakMemory`) and
``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from monai_despeckle.errors import DespeckleError, InvalidParameterError, UnknownMethodError
from monai_despeckle.export import network_to_export
from monai_despeckle.inference import Despeckler
from monai_despeckle.resolver import available_methods
from monai_despeckle.runtime import BACKENDS, PeakMemory, resolve_device

DYNAMIC_RANGE_DB = 50.0  # log compression of the synthetic B-mode frames
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
        peak_memory_mb: peak process RSS (CPU) or peak CUDA allocation (GPU) during the timed run.
        memory: ``"rss"`` or ``"cuda"``.
        error: why the measurement failed (then the numbers are NaN).
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

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-serialisable values."""
        return asdict(self)


def synthetic_frames(count: int, size: int, *, seed: int = 0) -> np.ndarray:
    """Speckled B-mode-like frames ``[count, size, size]`` float32 in [0, 1].

    Fully developed speckle: a smooth echogenicity map times a Rayleigh-distributed envelope
    (Goodman, Speckle Phenomena in Optics, 2007), log-compressed over :data:`DYNAMIC_RANGE_DB`.
    """
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size] / max(size, 1)
    echogenicity = 0.55 + 0.35 * np.sin(7.0 * columns) * np.cos(5.0 * rows)
    envelope = echogenicity[None] * rng.rayleigh(scale=1.0, size=(count, size, size))
    decibels = 20.0 * np.log10(np.maximum(envelope / envelope.max(), 1e-12))
    return np.clip(1.0 + decibels / DYNAMIC_RANGE_DB, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class _Candidate:
    label: str
    family: str
    backends: tuple[str, ...]
    build: Callable[[str], Despeckler]


def _candidates(
    methods: Sequence[str] | str,
    networks: Sequence[str],
    backends: Sequence[str],
    device: torch.device,
    batch_size: int | str,
) -> list[_Candidate]:
    registered = available_methods()
    names = list(registered) if methods == "all" else list(methods)
    unknown = [name for name in names if name not in registered]
    if unknown:
        raise UnknownMethodError(
            f"unknown method(s) {', '.join(unknown)}; choose from: {', '.join(registered)}"
        )
    candidates = []
    for name in names:
        learned = registered[name].family == "learned"
        candidates.append(
            _Candidate(
                name,
                registered[name].family,
                tuple(backends) if learned else (NO_BACKEND,),
                lambda backend, name=name: Despeckler(
                    name,
                    device=device,
                    batch_size=batch_size,
                    backend="auto" if backend == NO_BACKEND else backend,
                ),
            )
        )
    for network in networks:
        module = network_to_export(network)
        candidates.append(
            _Candidate(
                f"{network} (untrained)",
                "network",
                tuple(backends),
                lambda backend, module=module: Despeckler(
                    module, device=device, batch_size=batch_size, backend=backend
                ),
            )
        )
    return candidates


def _measure(
    despeckler: Despeckler, frames: np.ndarray, warmup_frames: int, repeats: int
) -> tuple[float, float, str]:
    """Median seconds of ``repeats`` passes over ``frames`` and their peak memory.

    The warm-up runs ``warmup_frames`` frames but never less than one full batch: ONNX Runtime
    grows its arena and oneDNN picks kernels on the first call of a new batch shape, which a
    short warm-up would leave inside the timing.
    """
    device = despeckler.device
    batch = despeckler.batch_size_for(frames.shape[1:])
    warmup = np.resize(frames, (max(1, warmup_frames, batch), *frames.shape[1:]))  # repeats frames cyclically
    for _ in despeckler.iter_frames([warmup]):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    passes = []
    with PeakMemory(device) as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in despeckler.iter_frames([frames]):
                pass
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            passes.append(time.perf_counter() - start)
    return float(np.median(passes)), memory.peak_mb, memory.kind


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
    repeats: int = 3,
    seed: int = 0,
    on_row: Callable[[BenchmarkRow], None] | None = None,
) -> list[BenchmarkRow]:
    """Measure frames/s and peak memory of each method × backend × size.

    Args:
        sizes: square frame sizes in pixels.
        frames: frames timed per measurement.
        methods: registered method names, or ``"all"``.
        backends: for networks: any of ``"torch"``, ``"torchscript"``, ``"onnx"`` (classical
            filters have a single path, reported with backend ``"-"``).
        networks: names for :func:`monai_despeckle.networks.build_network`, benchmarked untrained.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        batch_size: frames per call or ``"auto"``.
        warmup_frames: frames run (untimed) before each measurement; at least one full batch is.
        repeats: timed passes per measurement; their median is reported.
        seed: seed of the synthetic frames.
        on_row: called with each row as soon as it is measured (progress reporting).

    Returns:
        One row per measurement; a method that fails on a size gets a row with ``error`` set.

    Raises:
        UnknownMethodError: an unknown method or network name (before anything runs).
        InvalidParameterError: bad sizes, frame count or backend.
    """
    if frames < 1 or repeats < 1 or not sizes or any(size < 8 for size in sizes):
        raise InvalidParameterError(
            "benchmark needs frames >= 1, repeats >= 1 and sizes of at least 8 pixels"
        )
    bad = [backend for backend in backends if backend not in BACKENDS]
    if bad or not backends:
        raise InvalidParameterError(f"unknown backend(s) {', '.join(bad)}; choose from {', '.join(BACKENDS)}")
    target = resolve_device(device)
    rows: list[BenchmarkRow] = []
    data = {size: synthetic_frames(frames, size, seed=seed) for size in sizes}
    for candidate in _candidates(methods, networks, backends, target, batch_size):
        for backend in candidate.backends:
            try:
                despeckler: Despeckler | None = candidate.build(backend)
                failure = ""
            except (DespeckleError, RuntimeError) as err:
                despeckler, failure = None, str(err).splitlines()[0]
            for size in sizes:
                row = _row(
                    candidate, backend, despeckler, failure, data[size], size, warmup_frames, repeats, target
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def _row(
    candidate: _Candidate,
    backend: str,
    despeckler: Despeckler | None,
    failure: str,
    data: np.ndarray,
    size: int,
    warmup_frames: int,
    repeats: int,
    target: torch.device,
) -> BenchmarkRow:
    frames = len(data)
    nan = float("nan")
    common = {"method": candidate.label, "family": candidate.family, "backend": backend, "size": size}
    if despeckler is None:
        failed = {"seconds": nan, "frames_per_second": nan, "peak_memory_mb": nan, "memory": "-"}
        return BenchmarkRow(
            **common, device=str(target), precision="-", frames=frames, batch_size=0, error=failure, **failed
        )
    batch = despeckler.batch_size_for((size, size))
    try:
        seconds, peak, memory = _measure(despeckler, data, warmup_frames, repeats)
        error = ""
    except (DespeckleError, RuntimeError) as err:
        seconds, peak, memory, error = nan, nan, "-", str(err).splitlines()[0]
    return BenchmarkRow(
        **common,
        device=str(despeckler.device),
        precision=despeckler.precision,
        frames=frames,
        batch_size=batch,
        seconds=seconds,
        frames_per_second=frames / seconds if seconds > 0 else nan,
        peak_memory_mb=peak,
        memory=memory,
        error=error,
    )


def speedups(rows: Sequence[BenchmarkRow], baseline: str) -> list[float]:
    """Each row's frames/s divided by the ``baseline`` method's at the same frame size.

    This is the figure to quote on a shared machine: both rates come from the same run. NaN where
    the baseline has no successful row of that size.
    """
    reference = {row.size: row.frames_per_second for row in rows if row.method == baseline and not row.error}
    return [row.frames_per_second / reference.get(row.size, math.nan) for row in rows]


def format_table(rows: Sequence[BenchmarkRow], baseline: str | None = None) -> str:
    """A plain-text table: one line per row, frames/s, ms per frame and peak memory.

    With ``baseline`` (a method among the rows), a column gives each row's frame rate as a multiple
    of the baseline's at the same size (see :func:`speedups`).
    """
    header = ("METHOD", "BACKEND", "DEVICE", "PREC", "SIZE", "BATCH", "FRAMES/S", "MS/FRAME")
    header += (f"× {baseline.upper()}",) if baseline else ()
    header += ("PEAK MB", "NOTE")
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
                f"{1000.0 * row.seconds / row.frames:.1f}" if ok else "-",
                *relative,
                f"{row.peak_memory_mb:.0f} ({row.memory})" if ok else "-",
                row.error,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
