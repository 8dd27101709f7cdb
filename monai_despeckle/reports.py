"""The one report writer: a folder of result files written all or nothing, CSV rows, Markdown tables.

``evaluate`` (:mod:`monai_despeckle.evaluation.output`) and ``segment-eval``
(:mod:`monai_despeckle.segmentation.evaluation`) write their reports through it: the same
refusals of the output folder, the same staging, the same cell formats.
"""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from monai_despeckle.errors import OutputPathError
from monai_despeckle.io.safe_write import check_writable, staging_folder

__all__ = [
    "RESULTS_CSV",
    "check_output_dir",
    "markdown_table",
    "mean_std_text",
    "report_heading",
    "write_csv_rows",
    "write_report_folder",
]

RESULTS_CSV = "results.csv"
"""Every report holds its rows here; an earlier report is recognised by it."""


def check_output_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Refuse a file, or a non-empty folder unless ``overwrite`` and it holds an earlier report.

    ``overwrite`` only replaces a folder with a ``results.csv`` in it, so a mistyped ``--out``
    cannot wipe an unrelated folder. Call it before the work starts, so that a long run never
    ends in a refusal.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputPathError("folder is not empty (use --overwrite to replace an earlier report)", out)
        if not (out / RESULTS_CSV).is_file():
            raise OutputPathError(f"folder is not empty and holds no earlier report ({RESULTS_CSV})", out)
    check_writable(out)
    return out


def write_report_folder(
    out: str | Path, files: Mapping[str, Callable[[Path], object]], *, overwrite: bool = False
) -> list[Path]:
    """Write a report folder: ``files`` maps each file name to a function writing that path.

    The files are written in a hidden sibling folder that then replaces ``out``, so a failed run
    leaves no half report (and an earlier report stays as it was).

    Returns:
        The written file paths (inside ``out``), sorted.
    """
    out = check_output_dir(out, overwrite).absolute()
    with staging_folder(out, ".tmp") as staging:
        for name, write in files.items():
            write(staging / name)
        if out.exists():
            shutil.rmtree(out)  # empty, or overwrite was given and it holds a report (checked above)
        staging.rename(out)
    return sorted(out.iterdir())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, ".8g")
    return str(value)


def write_csv_rows(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """One CSV line per row with ``columns`` in order; floats with 8 significant digits."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[column]) for column in columns])


def markdown_table(header: Sequence[str], body: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


def mean_std_text(mean: float, std: float, decimals: int) -> str:
    """``mean ± std`` with ``decimals`` decimals."""
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def report_heading(title: str, command: str | None = None) -> list[str]:
    """A report's first lines: its title, then the command that made it (if given) as a code block."""
    lines = [f"# {title}", ""]
    if command:
        lines += ["```", command, "```", ""]
    return lines
