"""Evaluation reports: ``results.csv`` (one row per image × method × noise) and ``summary.md``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from monai_despeckle.evaluation.runner import PHYSICS, REAL, EvalResult
from monai_despeckle.reports import markdown_table, mean_std_text, report_heading, write_csv_rows

__all__ = ["METRIC_LABELS", "aggregate", "summary_markdown", "write_csv"]

# Column heading and decimals of each metric in the tables; "↑"/"↓": which way is better.
METRIC_LABELS: dict[str, tuple[str, int]] = {
    "psnr": ("PSNR (dB) ↑", 2),
    "ssim": ("SSIM ↑", 3),
    "mse": ("MSE ↓", 4),
    "enl": ("ENL ↑", 1),
    "speckle_index": ("speckle index ↓", 3),
    "cnr": ("CNR ↑", 2),
    "gcnr": ("gCNR ↑", 3),
    "homogeneity": ("GLCM homogeneity ↑", 3),
    "epi": ("EPI ↑", 3),
    "boundary_step": ("boundary step (× input) ↑", 3),
    "boundary_contrast": ("boundary CNR (× input) ↑", 3),
    "banding": ("banding at stride (× input) ↓", 2),
    "time_ms": ("time / frame (ms)", 1),
}


def write_csv(result: EvalResult, path: Path) -> None:
    """Write every row: ``image, method, noise``, the metrics, ``time_ms`` (8 significant digits)."""
    write_csv_rows(path, ["image", "method", "noise", *result.metrics, "time_ms"], result.rows)


def _number(value: object) -> float:
    """A metric cell of the runner's rows as a float (they hold Python or numpy numbers)."""
    if not isinstance(value, int | float | np.number):
        raise TypeError(f"a metric cell holds {value!r}, not a number")
    return float(value)


def aggregate(result: EvalResult, metric: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """``(method, noise) -> (mean, std, n)`` of one metric over images, ignoring NaN and inf.

    The std is the sample standard deviation (ddof = 1; 0 for a single image).
    """
    values: dict[tuple[str, str], list[float]] = {}
    for row in result.rows:
        values.setdefault((str(row["method"]), str(row["noise"])), []).append(_number(row[metric]))
    table = {}
    for key, vals in values.items():
        finite = np.asarray([v for v in vals if math.isfinite(v)], dtype=np.float64)
        if finite.size == 0:
            table[key] = (math.nan, math.nan, 0)
        else:
            std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
            table[key] = (float(finite.mean()), std, int(finite.size))
    return table


def _fmt(stats: tuple[float, float, int] | None, decimals: int, count: int) -> str:
    if stats is None or stats[2] == 0:
        return "–"
    mean, std, n = stats
    text = mean_std_text(mean, std, decimals)
    return text if n == count else f"{text} (n={n})"


def _noise_heading(noise: str) -> str:
    if noise == PHYSICS:
        return "physics speckle"
    if noise == REAL:
        return "real image"
    return f"var {noise}"


def summary_markdown(result: EvalResult, title: str = "Evaluation", command: str | None = None) -> str:
    """Mean ± std over images of every metric, per method × noise level, and time per frame.

    With several noise levels each metric gets its own table (methods × levels); with one level,
    one table holds all metrics (methods × metrics).
    """
    n_images = len({row["image"] for row in result.rows})
    lines = report_heading(title, command)
    lines += [
        f"{n_images} images × {len(result.methods)} methods × {len(result.noise_levels)} noise level(s); "
        "mean ± sample std over images (n given where a metric is undefined for some images).",
        "",
    ]
    stats = {metric: aggregate(result, metric) for metric in (*result.metrics, "time_ms")}
    if len(result.noise_levels) > 1:
        for metric in result.metrics:
            label, decimals = METRIC_LABELS.get(metric, (metric, 3))
            lines += [f"## {label}", ""]
            header = ["method", *(_noise_heading(n) for n in result.noise_levels)]
            body = [
                [m, *(_fmt(stats[metric].get((m, n)), decimals, n_images) for n in result.noise_levels)]
                for m in result.methods
            ]
            lines += [*markdown_table(header, body), ""]
    else:
        noise = result.noise_levels[0]
        lines += [f"## Metrics ({_noise_heading(noise)})", ""]
        header = ["method", *(METRIC_LABELS.get(m, (m, 3))[0] for m in result.metrics)]
        body = [
            [
                m,
                *(
                    _fmt(stats[k].get((m, noise)), METRIC_LABELS.get(k, (k, 3))[1], n_images)
                    for k in result.metrics
                ),
            ]
            for m in result.methods
        ]
        lines += [*markdown_table(header, body), ""]
    lines += ["## Time per frame", ""]
    timing = {}
    for method in result.methods:
        times = [_number(r["time_ms"]) for r in result.rows if r["method"] == method]
        timing[method] = (float(np.mean(times)), float(np.std(times, ddof=1)) if len(times) > 1 else 0.0)
    body = [[m, f"{timing[m][0]:.1f} ± {timing[m][1]:.1f}"] for m in result.methods]
    lines += [*markdown_table(["method", "ms / frame (wall time)"], body), ""]
    return "\n".join(lines)
