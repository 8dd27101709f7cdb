"""A folder of frame images (PNG/JPEG/TIFF/BMP) read as one cine loop, and written as one.

Frames are ordered by natural sort of their file names (``frame_2`` before ``frame_10``); other
files (sidecars, thumbnails, hidden files) are ignored. Writing produces ``frame_00000.png``,
``frame_00001.png``... (16-bit PNG for 16-bit or float sources).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from monai_despeckle import budget
from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io import raster
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.validation import image_from_values

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


def read(folder: Path) -> UltrasoundImage:
    """Read every frame file of ``folder`` as a cine ``[T, H, W]`` (frame time unknown).

    Raises:
        InvalidImageError: no frame files, a file holding several frames, or frames that differ in
            size or pixel type (the offending file is named).
        CorruptFileError: a frame file cannot be decoded.
    """
    files = frame_files(folder)
    if not files:
        raise InvalidImageError(f"folder holds no frame images ({', '.join(FRAME_SUFFIXES)})", folder)
    frames: list[np.ndarray] = []
    for file in files:
        values = raster.read_values(file)
        if not frames:  # the whole cine will be held: refuse it from the first frame's size
            height, width = values.shape[1:]
            budget.check_whole_image(len(files), height, width, values.dtype, folder, streamable=True)
        if values.shape[0] != 1:
            raise InvalidImageError(f"holds {values.shape[0]} frames; a frames folder needs one a file", file)
        if frames and (values.shape != frames[0].shape or values.dtype != frames[0].dtype):
            raise InvalidImageError(
                f"frame is {values.shape[1:]} {values.dtype} but {files[0].name} is "
                f"{frames[0].shape[1:]} {frames[0].dtype}; all frames must match",
                file,
            )
        frames.append(values)
    stack = np.concatenate(frames, axis=0)
    return image_from_values(
        stack,
        folder,
        kind=ImageKind.CINE if len(files) > 1 else ImageKind.IMAGE,
        metadata={"spacing_source": "default", "frame_files": [file.name for file in files]},
    )


def write(image: UltrasoundImage, folder: Path) -> None:
    """Write each frame as ``frame_NNNNN.png`` in a new ``folder``."""
    folder.mkdir()
    for index in range(image.num_frames):
        frame = UltrasoundImage(image.frames[index : index + 1], intensity=image.intensity)
        raster.write(frame, folder / FRAME_NAME.format(index=index))
