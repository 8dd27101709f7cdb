"""Write an evaluation report folder atomically: build it in a temporary folder, then rename."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from monai_despeckle.errors import OutputPathError
from monai_despeckle.evaluation.figures import comparison_figure, metric_bars, metric_vs_noise
from monai_despeckle.evaluation.report import summary_markdown, write_csv
from monai_despeckle.evaluation.runner import EvalResult
from monai_despeckle.io.safe_write import check_writable, staging_folder

__all__ = ["check_output_dir", "write_report"]


def check_output_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Refuse a file, or a non-empty folder unless ``overwrite`` and it holds an earlier report.

    ``overwrite`` only replaces a folder with a ``results.csv`` in it, so a mistyped ``--out``
    cannot wipe an unrelated folder. Called before the evaluation starts, so a long run never
    ends in a refusal.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputPathError("folder is not empty (use --overwrite to replace an earlier report)", out)
        if not (out / "results.csv").is_file():
            raise OutputPathError("folder is not empty and holds no earlier report (results.csv)", out)
    check_writable(out)
    return out


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
    ``config`` (if given) is saved as ``config.json``. The files are written in a temporary
    sibling folder that then replaces ``out``, so a failed run leaves no half report.

    Returns:
        the written file paths (inside ``out``).
    """
    out = check_output_dir(out, overwrite).absolute()
    with staging_folder(out, ".tmp") as staging:
        write_csv(result, staging / "results.csv")
        (staging / "summary.md").write_text(summary_markdown(result, title, command), encoding="utf-8")
        if result.examples:
            comparison_figure(result, staging / "comparison.png")
        if len(result.noise_levels) > 1:
            metric_vs_noise(result, staging / "metric_vs_noise.png")
        else:
            metric_bars(result, staging / "metrics.png")
        if config is not None:
            (staging / "config.json").write_text(
                json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8"
            )
        if out.exists():
            shutil.rmtree(out)  # empty, or --overwrite was given (checked above)
        staging.rename(out)
    return sorted(out.iterdir())
