"""The one grammar of data sources, shared by ``train``, ``evaluate`` and ``segment-eval``.

A source string is one of:

- ``phantoms:breast`` | ``phantoms:carotid`` | ``phantoms:mixed`` (``sim:`` also accepted):
  phantoms simulated in memory (:class:`PhantomSource`);
- a folder holding ``datalist.json``: a data set written by ``monai-despeckle simulate``
  (:class:`DatasetSource`);
- any other folder: real images, directly or in ``images/``, with ``split.json``
  (``{"train": [...], "val": [...]}``) when it is split and ``masks/<stem>_mask.png`` when it has
  structure masks (:class:`FolderSource`);
- several of these joined by ``+`` (``../shared/data/busi+phantoms:mixed``); an existing path
  that contains ``+`` is one folder.

Parsing checks what can be checked without reading data: the phantom kind, that a folder exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monai_despeckle.data.phantoms import PHANTOM_KINDS, check_kind
from monai_despeckle.errors import InputNotFoundError, InvalidParameterError
from monai_despeckle.options import PHANTOM_PREFIX, phantom_kind

__all__ = [
    "DATALIST_FILE",
    "SOURCE_SEPARATOR",
    "DatasetSource",
    "FolderSource",
    "PhantomSource",
    "Source",
    "parse_source",
    "parse_sources",
]

SOURCE_SEPARATOR = "+"
"""Joins several sources into one."""
DATALIST_FILE = "datalist.json"
"""What makes a folder a simulated data set (written by :func:`monai_despeckle.simulation.write_dataset`)."""


@dataclass(frozen=True)
class PhantomSource:
    """Phantoms simulated in memory; ``kind`` is a family (``breast``, ``carotid``) or ``mixed``."""

    kind: str

    def __str__(self) -> str:
        return f"{PHANTOM_PREFIX}{self.kind}"


@dataclass(frozen=True)
class DatasetSource:
    """A simulated data set on disk: ``folder/datalist.json`` lists speckled images and clean references."""

    folder: Path

    def __str__(self) -> str:
        return str(self.folder)


@dataclass(frozen=True)
class FolderSource:
    """A folder of real images (directly or in ``images/``), split by ``split.json`` if it has one."""

    folder: Path

    def __str__(self) -> str:
        return str(self.folder)


Source = PhantomSource | DatasetSource | FolderSource


def parse_source(text: str | Path) -> Source:
    """One source (no ``+``): phantoms, a simulated data set or a folder of images.

    Raises:
        InvalidParameterError: an unknown phantom kind.
        InputNotFoundError: the named folder does not exist.
    """
    kind = phantom_kind(text)
    if kind is not None:
        return PhantomSource(check_kind(kind))
    folder = Path(text)
    if not folder.is_dir():
        choices = " / ".join(f"{PHANTOM_PREFIX}{k}" for k in PHANTOM_KINDS)
        raise InputNotFoundError(f"data folder does not exist (or use {choices})", folder)
    if (folder / DATALIST_FILE).is_file():
        return DatasetSource(folder)
    return FolderSource(folder)


def parse_sources(text: str | Path) -> list[Source]:
    """The sources of ``text``: one, or several joined by ``+`` (each checked by :func:`parse_source`).

    Raises:
        InvalidParameterError: an empty part (``a++b``, ``+a``) or an unknown phantom kind.
        InputNotFoundError: a named folder does not exist.
    """
    text = str(text)
    if SOURCE_SEPARATOR not in text or Path(text).exists():
        return [parse_source(text)]
    parts = [part.strip() for part in text.split(SOURCE_SEPARATOR)]
    if any(not part for part in parts):
        raise InvalidParameterError(f"empty source in {text!r}; join sources as SOURCE+SOURCE")
    return [parse_source(part) for part in parts]
