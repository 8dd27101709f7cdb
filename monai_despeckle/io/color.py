"""Colour to grey conversion for RGB(A) ultrasound screenshots and colour DICOM."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

# ITU-R BT.601 luma weights (the same ones Pillow's convert("L") and most DICOM viewers use).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


class ColorConvertedWarning(UserWarning):
    """A colour image was reduced to grey (its colour information, e.g. Doppler, is lost)."""


def rgb_to_gray(rgb: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Luminance of an RGB(A) array, returned in the source dtype.

    Alpha, if present, is ignored. A :class:`ColorConvertedWarning` is issued when the channels
    differ (true colour, e.g. a colour-Doppler overlay); grey images stored as RGB convert silently
    because nothing is lost.

    Args:
        rgb: array ``[..., C]`` with C = 3 (RGB) or 4 (RGBA).
        path: file the data came from, named in the warning.

    Returns:
        ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601), rounded back to the input dtype for
        integer data so that a grey-as-RGB image converts exactly.
    """
    channels = rgb[..., :3]
    red = channels[..., 0]
    if not (np.array_equal(red, channels[..., 1]) and np.array_equal(red, channels[..., 2])):
        where = f"{path}: " if path is not None else ""
        warnings.warn(
            f"{where}colour image converted to grey by ITU-R 601 luminance; colour information is lost",
            ColorConvertedWarning,
            stacklevel=3,
        )
    gray = channels.astype(np.float64) @ LUMA_WEIGHTS
    if np.issubdtype(rgb.dtype, np.integer):
        info = np.iinfo(rgb.dtype)
        return np.clip(np.rint(gray), info.min, info.max).astype(rgb.dtype)
    return gray.astype(rgb.dtype)
