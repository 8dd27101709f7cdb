"""Checks shared by every reader and writer: input files, array shapes, pixel values.

Readers hand the raw decoded array to :func:`image_from_values`, which reduces it to ``[T, H, W]``,
rejects what cannot be an image, and builds the :class:`UltrasoundImage`; writers call
:func:`check_savable` before touching the disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from monai_despeckle.errors import (
    CorruptFileError,
    DespeckleError,
    InputNotFoundError,
    InvalidImageError,
    naming_file,
)
from monai_despeckle.io.color import rgb_to_gray
from monai_despeckle.io.image import DEFAULT_DIRECTION, IntensityMapping, UltrasoundImage

# Direction of images whose file carries no orientation (PNG, DICOM without Image Plane module):

# Values this far outside [0, 1] are tolerated on save (float round-off of a network or filter);
# anything further out means the caller forgot to normalise and is refused.
UNIT_RANGE_TOLERANCE = 1e-4


def check_input_path(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it exists and, for a file, is not empty.

    Raises:
        InputNotFoundError: nothing exists at ``path``.
        CorruptFileError: ``path`` is a 0-byte file.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError("no such file or folder", path)
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptFileError("file is empty (0 bytes)", path)
    return path


@contextlib.contextmanager
def reading(path: str | Path, what: str = "image") -> Iterator[None]:
    """Within the block, every failure to read ``path`` is a :class:`DespeckleError` naming it.

    Our own errors pass through (given the file's name if they lack one), running out of memory
    becomes :class:`~monai_despeckle.errors.OutOfMemoryError`, and whatever a decoder raises on a
    hostile file (``struct.error``, ``ValueError``, ``zlib.error``...) a
    :class:`CorruptFileError` that says what the decoder said.
    """
    with naming_file(path):
        try:
            yield
        except (DespeckleError, MemoryError):
            raise
        except Exception as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else "no detail"
            raise CorruptFileError(
                f"cannot read {what} ({type(err).__name__}: {reason[:300]})", path
            ) from err


def as_frames(values: np.ndarray, path: str | Path, *, vector_pixels: bool = False) -> np.ndarray:
    """Reduce a decoded array to ``[T, H, W]`` source values, refusing what is not an image.

    Args:
        values: decoded pixel array, 2-D ``[H, W]``, 3-D ``[T, H, W]`` or 4-D with one singleton
            leading axis (``[T, 1, H, W]`` or ``[1, T, H, W]``).
        path: file the data came from (named in errors and warnings).
        vector_pixels: the last axis holds colour components (RGB/RGBA are converted to grey by
            luminance; one component is squeezed; any other count is refused).

    Raises:
        InvalidImageError: zero-size data, rank that cannot be reduced to ``[T, H, W]``, an
            unsupported number of colour components, or NaN/Inf values.
    """
    values = np.asarray(values)
    if values.size == 0:
        raise InvalidImageError(f"image has no pixels (array shape {values.shape})", path)
    if vector_pixels:
        components = values.shape[-1]
        if components == 1:
            values = values[..., 0]
        elif components in (3, 4):
            values = rgb_to_gray(values, path)
        else:
            raise InvalidImageError(f"pixels have {components} components; only grey, RGB and RGBA", path)
    if values.ndim == 4:
        values = _drop_singleton_leading_axis(values, path)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise InvalidImageError(
            f"array of shape {values.shape} ({values.ndim}-D) cannot be read as frames [T, H, W]", path
        )
    if values.dtype.kind not in "biuf":
        raise InvalidImageError(f"pixel type {values.dtype} is not a grey-level type", path)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise InvalidImageError(f"image contains {bad} NaN or infinite pixel values", path)
    return values


def _drop_singleton_leading_axis(values: np.ndarray, path: str | Path) -> np.ndarray:
    # [T, 1, H, W] (a 2-D+t series stored as 4-D, e.g. NIfTI [X, Y, 1, T]) or [1, T, H, W].
    for axis in (1, 0):
        if values.shape[axis] == 1:
            return np.squeeze(values, axis=axis)
    raise InvalidImageError(
        f"4-D array of shape {values.shape} has no singleton axis to drop; cannot reduce to [T, H, W]", path
    )


def image_from_values(
    values: np.ndarray, path: str | Path, *, vector_pixels: bool = False, **fields: Any
) -> UltrasoundImage:
    """Build an :class:`UltrasoundImage` from decoded source values.

    Args:
        values: decoded pixel array (see :func:`as_frames` for accepted shapes).
        path: the source file, stored as :attr:`UltrasoundImage.source`.
        vector_pixels: the last axis holds colour components.
        **fields: geometry, kind, frame time and metadata passed on to :class:`UltrasoundImage`;
            ``direction`` defaults to :data:`DEFAULT_DIRECTION`.
    """
    fields.setdefault("direction", DEFAULT_DIRECTION)
    frames = as_frames(values, path, vector_pixels=vector_pixels)
    mapping = IntensityMapping.for_array(frames)
    return UltrasoundImage(frames=mapping.to_unit(frames), intensity=mapping, source=Path(path), **fields)


def check_savable(image: UltrasoundImage, path: str | Path) -> None:
    """Refuse to save frames that are empty, not ``[T, H, W]``, non-finite or outside [0, 1].

    Raises:
        InvalidImageError: naming the output ``path``; nothing has been written.
    """
    frames = np.asarray(image.frames)
    if frames.ndim != 3 or frames.size == 0:
        raise InvalidImageError(f"cannot save frames of shape {frames.shape}: need non-empty [T, H, W]", path)
    check_unit_range(frames, path)


def check_unit_range(frames: np.ndarray, path: str | Path) -> None:
    """Refuse non-empty frames that hold NaN/Inf or lie outside [0, 1] (beyond round-off).

    Raises:
        InvalidImageError: naming the output ``path``.
    """
    if not np.isfinite(frames).all():
        raise InvalidImageError("cannot save: frames contain NaN or infinite values", path)
    low, high = float(frames.min()), float(frames.max())
    if low < -UNIT_RANGE_TOLERANCE or high > 1.0 + UNIT_RANGE_TOLERANCE:
        raise InvalidImageError(
            f"cannot save: frames must lie in [0, 1] but span [{low:.4g}, {high:.4g}]", path
        )
