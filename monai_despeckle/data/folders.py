"""The one folder reader: which files of a folder are images, and a data folder's layout.

Two levels, one rule for what an image file is (:func:`image_files`):

- :func:`image_files`: the image files directly inside a folder, as ``denoise IN_FOLDER`` and
  ``segment IN_FOLDER`` process them: regular files, not hidden (``.name``), with a suffix
  :mod:`monai_despeckle.io` reads or the DICOM Part 10 marker (DICOM files often have no suffix),
  sorted by name. Masks are images too at this level.
- :func:`folder_images`: the images of a *data folder* (``busi/``, ``ccaui/``, a user's own): the
  files of ``images/`` if the folder has one, else of the folder itself, without the
  ``<stem>_mask`` files, optionally only those listed under one key of ``split.json``
  (``{"train": [...], "val": [...]}``). Structure masks live in ``masks/<stem>_mask.png``
  beside ``images/`` (:func:`mask_path`).
"""

from __future__ import annotations

import json
from pathlib import Path

from monai_despeckle.errors import CorruptFileError, InputNotFoundError, InvalidImageError
from monai_despeckle.io import dicom
from monai_despeckle.io.registry import BY_SUFFIX, suffix_of

__all__ = [
    "IMAGES_FOLDER",
    "MASKS_FOLDER",
    "MASK_SUFFIX",
    "SPLIT_FILE",
    "folder_images",
    "image_files",
    "mask_path",
    "read_split",
    "required_mask",
    "stem",
]

IMAGES_FOLDER = "images"
MASKS_FOLDER = "masks"
MASK_SUFFIX = "_mask"
SPLIT_FILE = "split.json"


def stem(path: Path) -> str:
    """File name without its image suffix (``a.nii.gz`` -> ``a``)."""
    suffix = suffix_of(Path(path))
    return path.name[: -len(suffix)] if suffix in BY_SUFFIX else path.stem


def image_files(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (known suffix or DICOM marker), hidden files skipped, sorted."""
    files = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if suffix_of(entry) in BY_SUFFIX or dicom.looks_like_dicom(entry):
            files.append(entry)
    return files


def read_split(split_file: Path, split: str) -> set[str]:
    """The file names listed under ``split`` in ``split_file`` (``{"train": [...], "val": [...]}``)."""
    try:
        table = json.loads(split_file.read_text())
    except FileNotFoundError:
        raise InputNotFoundError("split file not found", split_file) from None
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"not valid JSON ({err})", split_file) from None
    if not isinstance(table, dict) or split not in table:
        keys = ", ".join(table) if isinstance(table, dict) else "none"
        raise InvalidImageError(f"no split {split!r} (splits: {keys})", split_file)
    return {Path(str(name)).name for name in table[split]}


def folder_images(
    folder: str | Path, split: str | None = None, split_file: str | Path | None = None
) -> list[Path]:
    """Images of a data folder (``folder/images`` if present, ``*_mask`` files left out), sorted.

    Args:
        folder: data folder.
        split: key of the split file to keep (e.g. ``"val"``), or None for every image.
        split_file: JSON file ``{"train": [...], "val": [...]}`` of image file names; default
            ``folder/split.json``.

    Raises:
        InputNotFoundError: ``folder`` is not a folder, or the split file is missing.
        InvalidImageError: no image, an unknown split, or a split naming files the folder lacks.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError("data folder does not exist", folder)
    images = folder / IMAGES_FOLDER if (folder / IMAGES_FOLDER).is_dir() else folder
    files = [p for p in image_files(images) if not stem(p).endswith(MASK_SUFFIX)]
    if split is not None:
        split_path = Path(split_file) if split_file is not None else folder / SPLIT_FILE
        wanted = read_split(split_path, split)
        missing = wanted - {p.name for p in files}
        if missing:
            names = ", ".join(sorted(missing)[:5])
            raise InvalidImageError(f"split {split!r} names files not in {images}: {names}", split_path)
        files = [p for p in files if p.name in wanted]
    if not files:
        raise InvalidImageError("no image files found", images)
    return files


def mask_path(image_path: Path) -> Path | None:
    """``masks/<stem>_mask.png`` beside the image's ``images/`` folder (or beside the image), if any."""
    image_path = Path(image_path)
    name = f"{stem(image_path)}{MASK_SUFFIX}.png"
    for folder in (
        image_path.parent.parent / MASKS_FOLDER,
        image_path.parent / MASKS_FOLDER,
        image_path.parent,
    ):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def required_mask(image_path: Path, folder: Path) -> Path:
    """The mask of an image of the data folder ``folder`` (:func:`mask_path`); else an error naming it."""
    found = mask_path(image_path)
    if found is None:
        expected = f"{MASKS_FOLDER}/{stem(image_path)}{MASK_SUFFIX}.png"
        raise InputNotFoundError(f"no mask for {image_path.name} (expected {expected})", folder)
    return found
