"""A training run's output folder: its file names, the refusal to mix runs, the ``config.json`` record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_despeckle import __version__
from monai_despeckle.engines.distributed import is_main_process
from monai_despeckle.engines.settings import RunSettings
from monai_despeckle.errors import OutputPathError

__all__ = [
    "BEST_CHECKPOINT",
    "CONFIG_RECORD",
    "FINAL_CHECKPOINT",
    "HISTORY_CSV",
    "check_output",
    "write_record",
]

BEST_CHECKPOINT = "model.pt"
FINAL_CHECKPOINT = "model_final.pt"
HISTORY_CSV = "history.csv"
CONFIG_RECORD = "config.json"


def check_output(out: Path) -> None:
    """Refuse a path that is a file or a folder already holding a trained model (every rank checks)."""
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder", out)
    if (out / BEST_CHECKPOINT).exists() or (out / FINAL_CHECKPOINT).exists():
        raise OutputPathError("already holds a trained model; choose a new output folder", out)


def write_record(out: Path, workflow: str, config: RunSettings, extra: Mapping[str, Any]) -> bool:
    """Create ``out`` and write ``config.json`` (the workflow, version, settings and ``extra``).

    Only rank 0 of a distributed run writes; returns whether this process did.
    """
    check_output(out)
    if not is_main_process():
        return False
    out.mkdir(parents=True, exist_ok=True)
    record = {"workflow": workflow, "monai_despeckle": __version__, "config": config.to_json(), **extra}
    (out / CONFIG_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return True
