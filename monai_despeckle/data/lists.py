"""Train and validation datalists of any source (:mod:`~monai_despeckle.data.sources`).

Every entry is a dict with ``"image"`` (a path, or a ``[1, H, W]`` array for in-memory phantoms)
and, for paired sources, ``"label"``: the clean reference. Real images carry no ``"label"``: a
supervised pipeline speckles them, a self-supervised one takes them as its noisy inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monai_despeckle.data.folders import SPLIT_FILE, folder_images
from monai_despeckle.data.phantoms import check_kind, draw_phantom
from monai_despeckle.data.sources import (
    DATALIST_FILE,
    SOURCE_SEPARATOR,
    DatasetSource,
    PhantomSource,
    Source,
    parse_sources,
)
from monai_despeckle.errors import CorruptFileError, InputNotFoundError, InvalidParameterError

__all__ = [
    "DataLists",
    "combine_datalists",
    "datalists",
    "folder_datalists",
    "phantom_datalists",
    "simulated_dataset_lists",
]


@dataclass
class DataLists:
    """Train and validation datalists of one source.

    Attributes:
        train: training entries.
        val: validation entries.
        paired: True if every entry carries the clean reference under ``"label"`` (simulated
            pairs); False if some (or all) entries hold only ``"image"``: a real frame (a clean
            reference for supervised training with synthetic speckle, the noisy input for
            self-supervised training). Entries with a ``"label"`` are pairs in either case.
        source: where the lists came from (for messages and provenance).
    """

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    paired: bool
    source: str


def _check_disjoint(train: Sequence[str], val: Sequence[str], where: Path) -> None:
    """A validation image must never be trained on: refuse splits whose lists overlap."""
    shared = sorted({Path(n).name for n in train} & {Path(n).name for n in val})
    if shared:
        raise InvalidParameterError(
            f"{len(shared)} image(s) are in both the training and the validation list "
            f"(e.g. {', '.join(shared[:3])}); fix the split",
            where,
        )


def _limit(entries: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    return entries if n is None else entries[:n]


def folder_datalists(
    folder: str | Path,
    split_file: str | Path | None = None,
    max_train: int | None = None,
    max_val: int | None = None,
) -> DataLists:
    """Train/val lists of a folder of real images with ``split.json`` (e.g. ``/work/shared/data/busi``).

    Args:
        folder: the data folder (images directly or in ``images/``; ``*_mask`` files are skipped).
        split_file: ``{"train": [...], "val": [...]}`` of file names; default ``folder/split.json``.
        max_train: keep the first ``max_train`` training images (None: all).
        max_val: keep the first ``max_val`` validation images (None: all).
    """
    folder = Path(folder)
    split_path = Path(split_file) if split_file is not None else folder / SPLIT_FILE
    lists = {split: folder_images(folder, split, split_path) for split in ("train", "val")}
    _check_disjoint([p.name for p in lists["train"]], [p.name for p in lists["val"]], split_path)
    return DataLists(
        train=_limit([{"image": str(p)} for p in lists["train"]], max_train),
        val=_limit([{"image": str(p)} for p in lists["val"]], max_val),
        paired=False,
        source=str(folder),
    )


def simulated_dataset_lists(
    folder: str | Path, max_train: int | None = None, max_val: int | None = None
) -> DataLists:
    """Train/val pairs of a data set written by :func:`monai_despeckle.simulation.write_dataset`.

    ``image`` is the speckled B-mode and ``label`` the speckle-free reference (the data set's
    ``clean`` file; its segmentation ``label`` is not used here).
    """
    folder = Path(folder)
    path = folder / DATALIST_FILE
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFoundError(f"{DATALIST_FILE} not found", path) from None
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"not valid JSON ({err})", path) from None
    lists: dict[str, list[dict[str, Any]]] = {}
    for split in ("training", "validation"):
        entries = []
        for item in table.get(split, []):
            if not isinstance(item, dict) or "image" not in item or "clean" not in item:
                raise CorruptFileError(f"every {split!r} entry needs 'image' and 'clean' paths", path)
            entries.append({"image": str(folder / item["image"]), "label": str(folder / item["clean"])})
        lists[split] = entries
    _check_disjoint([e["image"] for e in lists["training"]], [e["image"] for e in lists["validation"]], path)
    return DataLists(
        train=_limit(lists["training"], max_train),
        val=_limit(lists["validation"], max_val),
        paired=True,
        source=str(folder),
    )


def phantom_datalists(kind: str, n: int, size: int, seed: int = 0, val_fraction: float = 0.25) -> DataLists:
    """``n`` phantoms simulated in memory (:func:`~monai_despeckle.data.phantoms.draw_phantom`), split.

    The last ``round(n · val_fraction)`` phantoms (at least 1) are validation.

    Args:
        kind: ``"breast"``, ``"carotid"`` or ``"mixed"`` (the anatomies in turn).
        n: number of phantoms (≥ 2: one for training, one for validation).
        size: side of the square images.
        seed: data-set seed.
        val_fraction: fraction of validation phantoms, in (0, 1).
    """
    source = PhantomSource(check_kind(kind))
    if int(n) != n or n < 2:
        raise InvalidParameterError(f"phantom data needs n >= 2 (train and validation), got {n!r}")
    if not 0.0 < val_fraction < 1.0:
        raise InvalidParameterError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = min(max(round(n * val_fraction), 1), n - 1)
    entries = []
    for index in range(n):
        sample = draw_phantom(kind, index, size, seed)
        entries.append({"image": sample.bmode[None].astype(np.float32), "label": sample.clean[None]})
    return DataLists(train=entries[: n - n_val], val=entries[n - n_val :], paired=True, source=str(source))


def _source_lists(
    source: Source,
    size: int,
    seed: int,
    phantom_count: int,
    val_fraction: float,
    max_train: int | None,
    max_val: int | None,
    split_file: str | Path | None,
) -> DataLists:
    if isinstance(source, PhantomSource):
        lists = phantom_datalists(source.kind, phantom_count, size, seed, val_fraction)
        return DataLists(_limit(lists.train, max_train), _limit(lists.val, max_val), True, lists.source)
    if isinstance(source, DatasetSource):
        return simulated_dataset_lists(source.folder, max_train, max_val)
    return folder_datalists(source.folder, split_file, max_train=max_train, max_val=max_val)


def datalists(
    source: str | Path,
    *,
    size: int = 128,
    seed: int = 0,
    phantom_count: int = 64,
    val_fraction: float = 0.25,
    max_train: int | None = None,
    max_val: int | None = None,
    split_file: str | Path | None = None,
) -> DataLists:
    """Train/val lists of any source: ``"phantoms:<kind>"``, a simulated data set, or an image folder.

    Args:
        source: a source string (:mod:`~monai_despeckle.data.sources`): ``"phantoms:breast"``,
            ``"phantoms:carotid"``, ``"phantoms:mixed"``, a folder with ``datalist.json``
            (simulated data set) or a folder with ``split.json`` (real images); or several of
            these joined by ``+`` (:func:`combine_datalists`; the options below apply to each,
            ``max_train`` / ``max_val`` too).
        size: phantom image size (phantoms only).
        seed: phantom data-set seed (phantoms only).
        phantom_count: number of phantoms (phantoms only).
        val_fraction: validation fraction (phantoms only; folders carry their own split).
        max_train: keep at most this many training entries.
        max_val: keep at most this many validation entries.
        split_file: split JSON of a folder of real images (default ``folder/split.json``).
    """
    parts = [
        _source_lists(part, size, seed, phantom_count, val_fraction, max_train, max_val, split_file)
        for part in parse_sources(source)
    ]
    return parts[0] if len(parts) == 1 else combine_datalists(parts)


def combine_datalists(parts: Sequence[DataLists]) -> DataLists:
    """One source made of several: their training lists, then their validation lists, in order.

    The result is ``paired`` only if every part is; otherwise each entry keeps its own nature (an
    entry with ``"label"`` is a pair, one without is a real frame), which the training pipelines
    (:mod:`monai_despeckle.engines.data`) honour entry by entry.
    """
    if not parts:
        raise InvalidParameterError("no training source given")
    return DataLists(
        train=[entry for part in parts for entry in part.train],
        val=[entry for part in parts for entry in part.val],
        paired=all(part.paired for part in parts),
        source=SOURCE_SEPARATOR.join(part.source for part in parts),
    )
