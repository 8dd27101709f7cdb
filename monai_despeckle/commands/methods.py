"""``monai-despeckle methods``: list the despeckling methods, where each comes from and its version."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monai_despeckle.methods import MethodSpec

HELP = "list the despeckling methods (classical filters and learned models) with their source and references"

_COLUMNS = ("name", "family", "source", "version", "gpu", "description", "reference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``methods`` subcommand."""
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--family", choices=("classical", "learned"), help="only list the methods of this family"
    )


def _row(spec: MethodSpec, package_version: str) -> dict[str, object]:
    return {
        "name": spec.name,
        "family": spec.family,
        "source": spec.source,
        "version": spec.version or package_version,  # code-defined methods: the package's version
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


def _search_path_note() -> str:
    """Where learned methods were looked for, so a missing user bundle can be explained."""
    from monai_despeckle.resolver import BUNDLES_ENV, bundle_search_path

    folders = "\n".join(f"  {source:<12} {folder}" for folder, source in bundle_search_path())
    return f"\nbundle search path (${BUNDLES_ENV}, then the shipped bundles):\n{folders or '  (none)'}"


def run(args: argparse.Namespace) -> int:
    """Print the available methods as a table (or JSON with ``--json``)."""
    from monai_despeckle import __version__
    from monai_despeckle.resolver import available_methods

    specs = available_methods().values()
    rows = [_row(spec, __version__) for spec in specs if args.family in (None, spec.family)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(_table(rows) + "\n" + _search_path_note())
    return 0
