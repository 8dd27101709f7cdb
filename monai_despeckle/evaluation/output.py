"""Write an evaluation report folder: results, summary, figures and config, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monai_despeckle.evaluation.figures import comparison_figure, metric_bars, metric_vs_noise
from monai_despeckle.evaluation.report import summary_markdown, write_csv
from monai_despeckle.evaluation.runner import EvalResult
from monai_despeckle.reports import RESULTS_CSV, check_output_dir, write_report_folder

__all__ = ["check_output_dir", "write_report"]


def write_report(
    result: EvalResult,
    out: str | Path,
    overwrite: bool = False,
    title: str = "Evaluation",
    command: str | None = None,
    config: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``results.csv``, ``summary.md``, ``comparison.png`` and ``metric_vs_noise.png``.

    With a single noise level (phantoms, real images without reference, one variance) there is
    no noise axis: the second figure is then ``metrics.png``, bars of each metric per method.
    ``config`` (if given) is saved as ``config.json``. The folder is written all or nothing
    (:func:`monai_despeckle.reports.write_report_folder`).

    Returns:
        the written file paths (inside ``out``).
    """
    files: dict[str, Callable[[Path], object]] = {
        RESULTS_CSV: lambda path: write_csv(result, path),
        "summary.md": lambda path: path.write_text(
            summary_markdown(result, title, command), encoding="utf-8"
        ),
    }
    if result.examples:
        files["comparison.png"] = lambda path: comparison_figure(result, path)
    if len(result.noise_levels) > 1:
        files["metric_vs_noise.png"] = lambda path: metric_vs_noise(result, path)
    else:
        files["metrics.png"] = lambda path: metric_bars(result, path)
    if config is not None:
        text = json.dumps(config, indent=2, default=str) + "\n"
        files["config.json"] = lambda path: path.write_text(text, encoding="utf-8")
    return write_report_folder(out, files, overwrite=overwrite)
