"""The one report writer: all-or-nothing folders, refusals, CSV and Markdown cells."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from monai_despeckle.errors import OutputPathError
from monai_despeckle.reports import markdown_table, write_csv_rows, write_report_folder


def _rows_writer(rows: list[dict[str, object]]):
    return lambda path: write_csv_rows(path, ["name", "value"], rows)


def test_a_failing_part_leaves_the_earlier_report_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_report_folder(out, {"results.csv": _rows_writer([{"name": "a", "value": 1.0}])})
    before = (out / "results.csv").read_bytes()

    def broken(path: Path) -> None:
        path.write_text("half", encoding="utf-8")
        raise RuntimeError("figure failed")

    with pytest.raises(RuntimeError, match="figure failed"):
        write_report_folder(
            out,
            {"results.csv": _rows_writer([{"name": "b", "value": 2.0}]), "figure.png": broken},
            overwrite=True,
        )
    assert sorted(p.name for p in out.iterdir()) == ["results.csv"]
    assert (out / "results.csv").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging folder left behind


def test_only_an_earlier_report_is_replaced(tmp_path: Path) -> None:
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"not a report")
    with pytest.raises(OutputPathError, match="no earlier report"):
        write_report_folder(unrelated, {"results.csv": _rows_writer([])}, overwrite=True)
    with pytest.raises(OutputPathError, match="not empty"):
        write_report_folder(unrelated, {"results.csv": _rows_writer([])})
    assert (unrelated / "holiday.jpg").read_bytes() == b"not a report"


def test_csv_cells_and_markdown_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    write_csv_rows(path, ["name", "value"], [{"name": "x", "value": 1 / 3}, {"name": "y", "value": math.nan}])
    with open(path, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["name", "value"], ["x", "0.33333333"], ["y", "nan"]]
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
