"""The image files of a folder, for runs over every file of a folder.

Folder runs themselves go through :func:`monai_despeckle.pipeline.process_folder`.
"""

from __future__ import annotations

from pathlib import Path

from monai_despeckle.io import dicom
from monai_despeckle.io.registry import BY_SUFFIX, suffix_of

__all__ = ["image_files"]


def image_files(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (known suffix or DICOM marker), hidden files skipped."""
    files = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if suffix_of(entry) in BY_SUFFIX or dicom.looks_like_dicom(entry):
            files.append(entry)
    return files
