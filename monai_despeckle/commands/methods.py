"""``monai-despeckle methods``: list the registered despeckling methods."""

from __future__ import annotations

import argparse
import json

from monai_despeckle.methods import MethodSpec, available_methods

HELP = "list the despeckling methods (classical filters and learned models) with their references"

_COLUMNS = ("name", "family", "gpu", "description", "reference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``methods`` subcommand."""
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--family", choices=("classical", "learned"), help="only list the methods of this family"
    )


def _row(spec: MethodSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "family": spec.family,
        "gpu": spec.gpu,
        "description": spec.description,
        "reference": spec.reference,
    }


def _table(rows: list[dict[str, object]]) -> str:
    """A plain-text table with a header, one method per line."""
    cells = [[str(c).upper() for c in _COLUMNS]]
    for row in rows:
        cells.append([("yes" if row[c] else "no") if c == "gpu" else str(row[c] or "-") for c in _COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in cells
    )


def run(args: argparse.Namespace) -> int:
    """Print the registered methods as a table (or JSON with ``--json``)."""
    rows = [_row(spec) for spec in available_methods().values() if args.family in (None, spec.family)]
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json else _table(rows))
    return 0
