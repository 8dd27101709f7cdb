"""Image files as the 2-D frames data pipelines use: float32 in [0, 1], masks as booleans, resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.transform import resize

from monai_despeckle.errors import CorruptFileError, DespeckleError
from monai_despeckle.io import load
from monai_despeckle.io.raster import open_checked
from monai_despeckle.io.validation import reading

__all__ = ["read_frame", "read_mask", "resize_frame"]


def resize_frame(frame: np.ndarray, shape: tuple[int, int] | None, order: int = 1) -> np.ndarray:
    """Resize a 2D frame to ``shape`` (None: unchanged).

    Bilinear with anti-aliasing (scikit-image ``resize``) for images; ``order=0`` (nearest, no
    anti-aliasing) for masks and label maps.
    """
    if shape is None or frame.shape == tuple(shape):
        return frame
    out = resize(frame, shape, order=order, anti_aliasing=order > 0, preserve_range=True, mode="reflect")
    return out.astype(frame.dtype, copy=False)


def read_frame(path: Path, size: int | None = None) -> np.ndarray:
    """The first frame of an image file as float32 ``[H, W]`` in [0, 1], optionally resized to ``size``².

    Reading goes through :func:`monai_despeckle.io.load` (every supported format, colour folded
    to grey); a multi-frame file contributes its first frame.
    """
    try:
        frame = np.asarray(load(path).frames[0], dtype=np.float32)
    except DespeckleError:
        raise
    except Exception as err:  # a decoder's own exception: report the file, not a traceback
        raise CorruptFileError(f"cannot read image ({type(err).__name__}: {err})", path) from None
    return np.clip(resize_frame(frame, (size, size) if size else None), 0.0, 1.0)


def read_mask(path: Path) -> np.ndarray:
    """A mask file as a boolean array (any non-zero label, in any channel, is structure)."""
    with reading(path, "mask"), open_checked(path) as image:  # size limits before decoding
        labels = np.asarray(image)
    return labels.max(axis=2) > 0 if labels.ndim == 3 else labels > 0
