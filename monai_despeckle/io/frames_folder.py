"""A folder of frame images (PNG/JPEG/TIFF/BMP) read as one cine loop, and written as one, a frame
file at a time.

Frames are ordered by natural sort of their file names (``frame_2`` before ``frame_10``); other
files (sidecars, thumbnails, hidden files) are ignored. Writing produces ``frame_00000.png``,
``frame_00001.png``... (16-bit PNG for 16-bit or float sources).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io import raster
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.sink import FrameSink
from monai_despeckle.io.source import FrameSource, placeholder_frames

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
FRAME_NAME = "frame_{index:05d}.png"


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders embedded numbers numerically: ``a2`` < ``a10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder: Path) -> list[Path]:
    """Frame image files of ``folder`` in natural order (hidden files and other suffixes skipped)."""
    files = [
        entry
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in FRAME_SUFFIXES
    ]
    return sorted(files, key=lambda entry: natural_key(entry.name))


def _frame(file: Path) -> np.ndarray:
    values = raster.read_values(file)
    if values.shape[0] != 1:
        raise InvalidImageError(f"holds {values.shape[0]} frames; a frames folder needs one a file", file)
    return values


def open_source(folder: Path) -> FramesFolderSource:
    """Open every frame file of ``folder`` as a cine ``[T, H, W]`` (frame time unknown).

    Raises:
        InvalidImageError: no frame files, or the first holds several frames.
        CorruptFileError: the first frame file cannot be decoded.
    """
    files = frame_files(folder)
    if not files:
        raise InvalidImageError(f"folder holds no frame images ({', '.join(FRAME_SUFFIXES)})", folder)
    first = _frame(files[0])
    header = UltrasoundImage(
        frames=placeholder_frames(len(files), *first.shape[1:]),
        kind=ImageKind.CINE if len(files) > 1 else ImageKind.IMAGE,
        metadata={"spacing_source": "default", "frame_files": [file.name for file in files]},
        source=folder,
    )
    return FramesFolderSource(header, files, first.dtype)


class FramesFolderSource(FrameSource):
    """The frame files of a folder, read one file per frame (see :func:`open_source`)."""

    def __init__(self, header: UltrasoundImage, files: list[Path], dtype: np.dtype) -> None:
        super().__init__(header, dtype)
        self.files = files

    def _values(self, start: int, stop: int, chunk_frames: int) -> Iterator[np.ndarray]:
        """Raises InvalidImageError naming a file whose frame differs from the first in size or type."""
        for first in range(start, stop, chunk_frames):
            chunk = []
            for file in self.files[first : min(stop, first + chunk_frames)]:
                values = _frame(file)
                if values.shape[1:] != self.frame_shape or values.dtype != self.dtype:
                    raise InvalidImageError(
                        f"frame is {values.shape[1:]} {values.dtype} but {self.files[0].name} is "
                        f"{self.frame_shape} {self.dtype}; all frames must match",
                        file,
                    )
                chunk.append(values)
            yield np.concatenate(chunk, axis=0)


class FramesFolderSink(FrameSink):
    """Write ``frame_NNNNN.png`` files into a new folder as the frames come."""

    def _open(self, staging: Path) -> None:
        staging.mkdir()
        self._folder = staging

    def _write(self, frames: np.ndarray) -> None:
        for offset, frame in enumerate(frames):
            image = UltrasoundImage(frame[None], intensity=self.header.intensity)
            raster.write(image, self._folder / FRAME_NAME.format(index=self.written + offset))
