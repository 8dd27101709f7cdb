"""Training handlers of our own: validation metrics, the per-epoch history file and its figure.

:func:`metric_handlers` gives the validation metrics: MONAI's ``PeakSignalToNoiseRatio`` handler
(an :class:`monai.handlers.IgniteMetricHandler` over :class:`monai.metrics.PSNRMetric`) and, as
MONAI has no SSIM handler, an ``IgniteMetricHandler`` over :class:`~monai.metrics.SSIMMetric`.
:class:`TrainingHistory` keeps one row per epoch (mean training losses, validation metrics, the
noisy input's metrics, wall time) in a CSV and a JSON file, rewritten at every epoch so an
interrupted run keeps its curve; :func:`plot_training_curve` draws it.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from ignite.metrics import Metric
from monai.handlers import IgniteMetricHandler, PeakSignalToNoiseRatio, from_engine
from monai.metrics import SSIMMetric

from monai_despeckle.errors import CorruptFileError, InputNotFoundError

__all__ = ["TrainingHistory", "metric_handlers", "output_scalar", "plot_training_curve", "read_history"]


def metric_handlers(data_range: float = 1.0) -> dict[str, Metric]:
    """``{"val_psnr": …, "val_ssim": …}`` Ignite metrics over the evaluator's ``pred`` and ``label``.

    Args:
        data_range: dynamic range of the frames (1 for [0, 1] display B-mode).
    """
    pairs = from_engine(["pred", "label"])
    return {
        "val_psnr": PeakSignalToNoiseRatio(max_val=data_range, output_transform=pairs),
        "val_ssim": IgniteMetricHandler(
            metric_fn=SSIMMetric(spatial_dims=2, data_range=data_range), output_transform=pairs
        ),
    }


def output_scalar(output: Any, key: str) -> float:
    """The scalar ``key`` of an engine's output: a dict, or the list of dicts a decollating engine keeps."""
    if isinstance(output, Sequence) and not isinstance(output, (str, bytes)) and output:
        output = output[0]
    value = output[key]
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


class TrainingHistory:
    """Per-epoch history of a training run, written as CSV and JSON after every epoch.

    A row holds ``epoch``, ``train_<key>`` (mean of each loss entry over the epoch's iterations),
    the evaluator's metrics when it validated that epoch (e.g. ``val_psnr``, ``val_ssim``), the
    constant ``baseline`` values (e.g. ``input_psnr``: the noisy input's score) and ``seconds``.
    Attach it to the trainer *after* the validation handler so that both run on the same
    ``EPOCH_COMPLETED``.

    Args:
        csv_path: the CSV file; the JSON file has the same name with ``.json``.
        loss_keys: scalar entries of the trainer's output to average per epoch.
        evaluator: the validation engine, if any.
        baseline: constant columns.
    """

    def __init__(
        self,
        csv_path: str | Path,
        loss_keys: Sequence[str],
        evaluator: Engine | None = None,
        baseline: Mapping[str, float] | None = None,
    ) -> None:
        self.csv_path = Path(csv_path)
        self.json_path = self.csv_path.with_suffix(".json")
        self.loss_keys = list(loss_keys)
        self.evaluator = evaluator
        self.baseline = dict(baseline or {})
        self.rows: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self._count = 0
        self._started = time.perf_counter()

    def attach(self, trainer: Engine) -> None:
        """Register on the trainer's epoch and iteration events."""
        trainer.add_event_handler(Events.EPOCH_STARTED, self._start)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self._accumulate)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._record)

    def _start(self, engine: Engine) -> None:
        self._sums = dict.fromkeys(self.loss_keys, 0.0)
        self._count = 0
        self._started = time.perf_counter()

    def _accumulate(self, engine: Engine) -> None:
        for key in self.loss_keys:
            self._sums[key] += output_scalar(engine.state.output, key)
        self._count += 1

    def _record(self, engine: Engine) -> None:
        row: dict[str, Any] = {"epoch": int(engine.state.epoch)}
        for key in self.loss_keys:
            row[f"train_{key}"] = self._sums[key] / max(self._count, 1)
        evaluator = self.evaluator
        if evaluator is not None and evaluator.state.epoch == engine.state.epoch:
            row.update({name: float(value) for name, value in evaluator.state.metrics.items()})
        row.update(self.baseline)
        row["seconds"] = time.perf_counter() - self._started
        self.rows.append(row)
        self.write()

    def columns(self) -> list[str]:
        """Column names in order of first appearance."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row))
        return list(names)

    def write(self) -> None:
        """Rewrite the CSV and JSON files with every row so far."""
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        with self.csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns(), restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        self.json_path.write_text(json.dumps(self.rows, indent=1) + "\n", encoding="utf-8")


def read_history(history_file: str | Path) -> list[dict[str, float]]:
    """Rows of a history file (``.csv`` or ``.json``), empty cells dropped, numbers as floats."""
    path = Path(history_file)
    if not path.is_file():
        raise InputNotFoundError("history file not found", path)
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                raw = list(csv.DictReader(handle))
        rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in raw]
    except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
        raise CorruptFileError(f"not a training history ({err})", path) from None
    if not rows or any("epoch" not in row for row in rows):
        raise CorruptFileError("not a training history (no rows with an 'epoch' column)", path)
    return rows


def _series(rows: list[dict[str, float]], name: str) -> tuple[list[float], list[float]]:
    points = [(row["epoch"], row[name]) for row in rows if name in row and math.isfinite(row[name])]
    return [p[0] for p in points], [p[1] for p in points]


def plot_training_curve(history_file: str | Path, out_png: str | Path) -> Path:
    """Draw training losses and validation PSNR/SSIM per epoch from a history file.

    Left: every ``train_*`` column (log scale when all positive). Right: ``val_psnr`` (left axis)
    and ``val_ssim`` (right axis), with the noisy input's scores as dashed lines when recorded.

    Args:
        history_file: ``history.csv`` or ``history.json`` written by :class:`TrainingHistory`.
        out_png: the figure to write.

    Returns:
        ``out_png`` as a Path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_history(history_file)
    names = list(dict.fromkeys(k for row in rows for k in row))
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 4))
    losses = [n for n in names if n.startswith("train_")]
    positive = True
    for name in losses:
        x, y = _series(rows, name)
        positive = positive and all(v > 0 for v in y)
        loss_ax.plot(x, y, marker="o", markersize=3, label=name.removeprefix("train_"))
    if losses and positive:
        loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    loss_ax.legend(fontsize=8)
    ssim_ax = metric_ax.twinx()
    for axis, metric, colour in ((metric_ax, "psnr", "tab:blue"), (ssim_ax, "ssim", "tab:orange")):
        x, y = _series(rows, f"val_{metric}")
        if x:
            axis.plot(x, y, marker="o", markersize=3, color=colour, label=f"validation {metric.upper()}")
        baseline = rows[0].get(f"input_{metric}")
        if baseline is not None and math.isfinite(baseline):
            axis.axhline(
                baseline, color=colour, linestyle="--", linewidth=1, label=f"noisy input {metric.upper()}"
            )
        axis.set_ylabel(f"{metric.upper()}" + (" (dB)" if metric == "psnr" else ""), color=colour)
    metric_ax.set(xlabel="epoch", title="Validation")
    handles = metric_ax.get_legend_handles_labels()[0] + ssim_ax.get_legend_handles_labels()[0]
    if handles:
        metric_ax.legend(handles=handles, fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
