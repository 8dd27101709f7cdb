"""Evaluation figures: a side-by-side comparison grid and metric-versus-noise curves.

Figures are built with matplotlib's object API (``Figure`` + its Agg canvas, no ``pyplot``), so
drawing them neither needs a display nor changes the backend of a host application (Slicer).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from monai_despeckle.evaluation.report import METRIC_LABELS, aggregate
from monai_despeckle.evaluation.runner import PHYSICS, REAL, EvalResult

__all__ = ["comparison_figure", "metric_bars", "metric_vs_noise"]

_HIDDEN_IN_GRID = ("none",)  # the identity method repeats the input column


def _crop(frame: np.ndarray, focus: tuple[int, int] | None, side: int) -> np.ndarray:
    """A ``side``×``side`` window of ``frame`` centred on ``focus`` (default the centre), kept inside."""
    height, width = frame.shape
    if max(height, width) <= side:
        return frame
    row, col = focus if focus is not None else (height // 2, width // 2)
    row0 = min(max(row - side // 2, 0), max(height - side, 0))
    col0 = min(max(col - side // 2, 0), max(width - side, 0))
    return frame[row0 : row0 + side, col0 : col0 + side]


def comparison_figure(
    result: EvalResult, path: Path, panel_inches: float = 1.7, max_side: int = 192, max_columns: int = 7
) -> None:
    """Grid of frames per kept image: input, each method's output, reference (if any).

    An image's panels wrap after ``max_columns``. Frames larger than ``max_side`` are shown as a
    ``max_side`` crop around the structure (or the centre) so that speckle and its reduction stay
    visible at print size.
    """
    examples = result.examples
    if not examples:
        raise ValueError("no example frames were kept")
    methods = [m for m in result.methods if m not in _HIDDEN_IN_GRID]
    has_reference = any(e.reference is not None for e in examples)
    panels = ["input", *methods] + (["reference"] if has_reference else [])
    ncols = min(len(panels), max_columns)
    rows_per_image = math.ceil(len(panels) / ncols)
    nrows = rows_per_image * len(examples)
    fig = Figure(figsize=(panel_inches * ncols, (panel_inches + 0.15) * nrows + 0.4))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for index, example in enumerate(examples):
        frames = {"input": example.noisy, "reference": example.reference, **example.outputs}
        for k, name in enumerate(panels):
            ax = axes[index * rows_per_image + k // ncols][k % ncols]
            frame = frames.get(name)
            if frame is None:  # e.g. no reference for this image while others have one: a blank panel
                ax.set_title(f"{name}: none", fontsize=8)
                continue
            ax.set_axis_on()
            shown = _crop(frame, example.focus, max_side)
            ax.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
            if k % ncols == 0:
                label = example.name if len(example.name) <= 22 else "…" + example.name[-21:]
                ax.set_ylabel(label, fontsize=7)
    noise = examples[0].noise
    caption = {PHYSICS: "physics speckle", REAL: "real images"}.get(noise, f"speckle variance {noise}")
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


_MARKERS = "osD^v<>ph*XP"


def _line_style(index: int, method: str) -> dict[str, object]:
    """Distinct colour and marker per method (tab20 has enough colours for every filter); the
    identity method ("none", the noisy input) is a dashed black line."""
    if method in _HIDDEN_IN_GRID:
        return {"color": "black", "linestyle": "--", "marker": "x"}
    # tab20 holds 10 hues in dark/light pairs: the 10 dark ones first, then the light ones.
    colour = colormaps["tab20"]((2 * index) % 20 + (2 * index // 20) % 2)
    return {"color": colour, "marker": _MARKERS[index % len(_MARKERS)]}


def metric_vs_noise(result: EvalResult, path: Path, metrics: tuple[str, ...] = ("psnr", "ssim")) -> None:
    """Mean of each metric against the speckle variance, one line per method (the std is in summary.md)."""
    numeric = all(n not in (PHYSICS, REAL) for n in result.noise_levels)
    xs = [float(n) for n in result.noise_levels] if numeric else list(range(len(result.noise_levels)))
    fig = Figure(figsize=(5.2 * len(metrics), 4.0))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        table = aggregate(result, metric)
        for index, method in enumerate(result.methods):
            means = [table.get((method, n), (math.nan, math.nan, 0))[0] for n in result.noise_levels]
            ax.plot(xs, means, label=method, ms=4, **_line_style(index, method))
        ax.set_xlabel("speckle variance" if numeric else "noise")
        if not numeric:
            ax.set_xticks(xs, result.noise_levels)
        ax.set_ylabel(METRIC_LABELS.get(metric, (metric, 3))[0])
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def metric_bars(result: EvalResult, path: Path) -> None:
    """One bar chart per metric (mean ± std per method) at the first noise level (for one-level runs:
    phantoms, real images)."""
    noise = result.noise_levels[0]
    metrics = result.metrics
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        table = aggregate(result, metric)
        stats = [table.get((m, noise), (math.nan, math.nan, 0)) for m in result.methods]
        ax.bar(range(len(result.methods)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=2)
        ax.set_xticks(range(len(result.methods)), result.methods, rotation=60, ha="right", fontsize=7)
        ax.set_title(METRIC_LABELS.get(metric, (metric, 3))[0], fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
