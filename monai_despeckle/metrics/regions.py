"""Regions of interest for the no-reference metrics: boxes or masks, and automatic placement.

A region is either a boolean mask the size of the image or a box ``(row0, col0, row1, col1)``
(half-open, like Python slices). :func:`to_mask` turns either into a mask. :func:`auto_regions`
places the three regions the speckle literature uses on a real image with a structure mask
(lesion, vessel lumen): the *target* (inside the structure), the *background* (a ring of tissue
around it) and a *homogeneous* box of tissue (for ENL and the speckle index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError

Box = tuple[int, int, int, int]
Region = np.ndarray | Box | None

__all__ = [
    "Box",
    "Region",
    "Regions",
    "auto_regions",
    "box_to_mask",
    "letterbox_padding",
    "most_homogeneous_box",
    "to_mask",
]


def box_to_mask(box: Sequence[int], shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of ``shape`` that is True inside ``box = (row0, col0, row1, col1)`` (half-open).

    Args:
        box: top-left corner (inclusive) and bottom-right corner (exclusive), in pixels.
        shape: (H, W) of the image.
    """
    if len(box) != 4:
        raise InvalidImageError(f"a box is (row0, col0, row1, col1); got {box!r}")
    row0, col0, row1, col1 = (int(v) for v in box)
    height, width = shape
    if not (0 <= row0 < row1 <= height and 0 <= col0 < col1 <= width):
        raise InvalidImageError(f"box {tuple(box)} is empty or outside an image of shape {tuple(shape)}")
    mask = np.zeros(shape, dtype=bool)
    mask[row0:row1, col0:col1] = True
    return mask


def to_mask(region: Region, shape: tuple[int, int], name: str = "region") -> np.ndarray:
    """A region (mask, box or ``None`` for the whole image) as a non-empty boolean mask.

    Args:
        region: boolean/0-1 array of ``shape``, a box ``(row0, col0, row1, col1)``, or None.
        shape: (H, W) of the image.
        name: what to call the region in an error message.
    """
    shape = (int(shape[0]), int(shape[1]))
    if region is None:
        return np.ones(shape, dtype=bool)
    if isinstance(region, tuple | list):
        return box_to_mask(region, shape)
    mask = np.asarray(region)
    if mask.shape != shape:
        raise InvalidImageError(f"{name} mask has shape {mask.shape}, the image {shape}")
    mask = mask.astype(bool)
    if not mask.any():
        raise InvalidImageError(f"{name} is empty")
    return mask


def letterbox_padding(image: np.ndarray, level: float = 0.5 / 255.0) -> np.ndarray:
    """Black padding around the scan sector: near-zero pixels connected to the image border.

    Scanners and exporters letterbox the B-mode sector into a rectangle with pure black bars
    (value 0). Dark tissue keeps a few grey levels (deep carotid images sit at 1/255), and
    anechoic structures inside the sector (vessel lumen, cysts) rarely reach the border through a
    path of exact zeros, so only border-connected components of (near-)zero pixels count.

    Args:
        image: 2D frame in [0, 1].
        level: pixels at or below this value are candidates (half an 8-bit grey level: exact zeros).
    """
    dark = np.asarray(image) <= level
    labels, _ = ndimage.label(dark)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    return np.isin(labels, border)


@dataclass(frozen=True)
class Regions:
    """The regions :func:`auto_regions` places on one image (boolean masks of its shape).

    Attributes:
        target: the structure (lesion, lumen) minus padding; None when the image has no structure.
        background: tissue ring around the target (for CNR and gCNR); None without a structure.
        homogeneous: the most homogeneous tissue box (for ENL and the speckle index).
        homogeneous_box: that box as ``(row0, col0, row1, col1)``.
        field_of_view: every pixel that is not letterbox padding.
    """

    target: np.ndarray | None
    background: np.ndarray | None
    homogeneous: np.ndarray
    homogeneous_box: Box
    field_of_view: np.ndarray


def _lowest_cv_box(image: np.ndarray, allowed: np.ndarray, side: int, min_mean: float) -> Box | None:
    """Lowest-σ/μ ``side``×``side`` box lying wholly inside ``allowed``, on a half-side grid."""
    height, width = image.shape
    if side > min(height, width):
        return None
    # Box moments by uniform filters (scipy), read at the candidate centres of a half-side grid.
    mean = ndimage.uniform_filter(image, side, mode="constant")
    mean_sq = ndimage.uniform_filter(image * image, side, mode="constant")
    inside = ndimage.uniform_filter(allowed.astype(np.float64), side, mode="constant")
    step = max(1, side // 2)
    rows = np.arange(0, height - side + 1, step)
    cols = np.arange(0, width - side + 1, step)
    # uniform_filter centres its window: the box with top-left (r, c) is read at (r + side//2, ...).
    centre = np.ix_(rows + side // 2, cols + side // 2)
    box_mean, box_sq, box_inside = mean[centre], mean_sq[centre], inside[centre]
    valid = (box_inside >= 1.0 - 1e-9) & (box_mean >= min_mean)
    if not valid.any():
        return None
    cv = np.sqrt(np.clip(box_sq - box_mean**2, 0.0, None)) / np.maximum(box_mean, 1e-12)
    cv[~valid] = np.inf
    r, c = np.unravel_index(int(np.argmin(cv)), cv.shape)
    return int(rows[r]), int(cols[c]), int(rows[r]) + side, int(cols[c]) + side


def most_homogeneous_box(
    image: np.ndarray,
    exclude: np.ndarray | None = None,
    box: float = 0.12,
    min_box: int = 8,
    min_mean: float = 0.05,
) -> Box:
    """The square tissue box with the lowest coefficient of variation σ/μ.

    Candidates are boxes of side ``box`` × the shorter image side on a half-side grid that contain
    no letterbox padding and no ``exclude`` pixel, with a mean of at least ``min_mean`` (so
    anechoic areas, which have a high σ/μ anyway, are not chosen; burnt-in text is very
    heterogeneous and loses too). If none fits, the side is halved down to ``min_box`` pixels.

    Args:
        image: 2D frame in [0, 1].
        exclude: boolean mask of pixels the box must avoid (e.g. a dilated lesion).
        box: box side as a fraction of the shorter image side.
        min_box: smallest box side to try, in pixels.
        min_mean: minimum mean intensity of the box.
    """
    image = np.asarray(image, dtype=np.float64)
    allowed = ~letterbox_padding(image)
    if exclude is not None:
        allowed &= ~np.asarray(exclude, dtype=bool)
    side = max(min_box, round(box * min(image.shape)))
    while side >= min_box:
        found = _lowest_cv_box(image, allowed, side, min_mean)
        if found is not None:
            return found
        side //= 2
    raise InvalidImageError("no tissue box outside the structure and the padding for a homogeneous region")


def auto_regions(
    image: np.ndarray,
    mask: np.ndarray | None,
    margin: float = 0.02,
    ring: float = 0.06,
    box: float = 0.12,
    min_box: int = 8,
    min_mean: float = 0.05,
) -> Regions:
    """Place target, background and homogeneous regions on a real image with a structure mask.

    - target: ``mask`` minus letterbox padding (:func:`letterbox_padding`);
    - background: the ring between the mask dilated by ``margin`` and by ``margin + ring``
      (the margin skips the blurred boundary), minus padding;
    - homogeneous: :func:`most_homogeneous_box` outside the mask dilated by ``margin``.

    Sizes are fractions of the image's shorter side, so the same call works at 128² and 512².
    An empty or missing mask (e.g. BUSI "normal" images) gives no target and no background.

    Args:
        image: 2D frame in [0, 1] (the noisy input: regions are shared by every method's output).
        mask: boolean structure mask of the same shape, or None.
        margin: gap between the structure and the background ring.
        ring: width of the background ring.
        box: side of the homogeneous box.
        min_box: smallest box side to try, in pixels.
        min_mean: minimum mean intensity of the homogeneous box.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise InvalidImageError(f"auto_regions needs a 2D image; got shape {image.shape}")
    field_of_view = ~letterbox_padding(image)
    short = min(image.shape)
    margin_px = max(1, round(margin * short))
    ring_px = max(2, round(ring * short))

    target = background = near = None
    if mask is not None and np.asarray(mask).any():
        mask = to_mask(mask, image.shape, "structure mask")
        target = mask & field_of_view
        if not target.any():
            raise InvalidImageError("the structure mask lies wholly in the black padding")
        # Dilation by a disc via the Euclidean distance transform: O(HW) whatever the radius.
        distance = ndimage.distance_transform_edt(~mask)
        near = distance <= margin_px
        background = (distance <= margin_px + ring_px) & ~near & field_of_view
        if not background.any():
            raise InvalidImageError("no tissue around the structure mask for a background region")
    best_box = most_homogeneous_box(image, near, box=box, min_box=min_box, min_mean=min_mean)
    return Regions(
        target=target,
        background=background,
        homogeneous=box_to_mask(best_box, image.shape),
        homogeneous_box=best_box,
        field_of_view=field_of_view,
    )
