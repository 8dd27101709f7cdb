"""Which pixels of an ultrasound screen are image, and which are burnt-in annotations.

A scanner's screen capture holds more than the B-mode image: patient and settings text, depth
markers, calipers and measurement lines, a grey or colour bar. Despeckling must leave those pixels
exactly as they were, so that annotations and measurements stay crisp. The mask (True where
despeckling applies) comes from, in order of trust:

1. the DICOM Sequence of Ultrasound Regions: the 2-D tissue (and colour-flow) regions the scanner
   declares (PS3.3 C.8.5.5);
2. for a cine loop, the *static* pixels: tissue speckle changes from frame to frame, burnt-in
   overlays do not, so every pixel whose value is identical in all frames is left untouched (this
   also protects calipers drawn inside the tissue region);
3. for a single image, letterbox detection: the largest connected block of pixels that is not black
   padding connected to the image border (text and bars in the padding are separate blocks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import ndimage

from monai_despeckle.io.dicom.geometry import SPATIAL_FORMAT_2D, UltrasoundRegion

# A cine needs this many frames before "the same value in every frame" means "burnt in".
MIN_STATIC_FRAMES = 4
# If more than this fraction of the candidate pixels is static, the loop is a frozen image repeated
# (not a live cine), and static pixels say nothing about overlays.
FROZEN_FRACTION = 0.9
# RegionDataType values that hold B-mode grey levels: tissue, colour flow (drawn over tissue).
IMAGE_DATA_TYPES = (1, 2)
# Pixels at or below this unit value count as black padding (half an 8-bit grey level).
PADDING_LEVEL = 0.5 / 255.0


class MaskSource(str, Enum):
    """Where a mask came from."""

    REGIONS = "DICOM ultrasound regions"
    STATIC = "static pixels of the cine"
    LETTERBOX = "letterbox detection"


@dataclass(frozen=True)
class RegionMask:
    """Pixels to despeckle.

    Attributes:
        mask: boolean ``[H, W]``, True where despeckling applies (the same for every frame).
        sources: what the mask was made from (empty: the whole image).
    """

    mask: np.ndarray
    sources: tuple[MaskSource, ...]

    @property
    def protected_fraction(self) -> float:
        """Share of the pixels left untouched."""
        return float(1.0 - self.mask.mean())

    def describe(self) -> str:
        """One line for the user and for the result's provenance."""
        if not self.sources:
            return "whole image despeckled"
        how = " + ".join(source.value for source in self.sources)
        return f"{100.0 * self.protected_fraction:.1f} % of the pixels kept unchanged ({how})"


def regions_mask(regions: Sequence[UltrasoundRegion], shape: tuple[int, int]) -> np.ndarray | None:
    """Union of the 2-D image regions (inclusive pixel bounds, clipped to the image); None if none.

    Regions typed as tissue or colour flow are used; when none is typed so, every 2-D region is.
    """
    planar = [region for region in regions if region.spatial_format == SPATIAL_FORMAT_2D]
    typed = [region for region in planar if region.data_type in IMAGE_DATA_TYPES]
    chosen = typed or planar
    mask = np.zeros(shape, dtype=bool)
    rows, columns = shape
    for region in chosen:
        y0, y1 = max(region.y0, 0), min(region.y1, rows - 1)
        x0, x1 = max(region.x0, 0), min(region.x1, columns - 1)
        if y1 >= y0 and x1 >= x0:
            mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask if mask.any() else None


class FrameRange:
    """Running per-pixel minimum and maximum over the frames of a cine, fed chunk by chunk."""

    def __init__(self) -> None:
        self.minimum: np.ndarray | None = None
        self.maximum: np.ndarray | None = None
        self.count = 0

    def update(self, frames: np.ndarray) -> None:
        """Add frames ``[T, H, W]`` (any dtype; compared exactly)."""
        frames = np.asarray(frames)
        low, high = frames.min(axis=0), frames.max(axis=0)
        if self.minimum is None:
            self.minimum, self.maximum = low, high
        else:
            np.minimum(self.minimum, low, out=self.minimum)
            np.maximum(self.maximum, high, out=self.maximum)
        self.count += frames.shape[0]

    def static(self) -> np.ndarray | None:
        """Pixels with the same value in every frame, or None when there are too few frames."""
        if self.minimum is None or self.count < MIN_STATIC_FRAMES:
            return None
        return self.minimum == self.maximum


def letterbox_content(frame: np.ndarray, level: float = PADDING_LEVEL) -> np.ndarray:
    """The largest connected block of pixels that is not black padding connected to the border.

    Args:
        frame: one frame ``[H, W]`` in [0, 1].
        level: pixels at or below it are padding candidates.
    """
    dark = np.asarray(frame) <= level
    labels, _ = ndimage.label(dark)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    padding = np.isin(labels, border[border > 0])
    blocks, count = ndimage.label(~padding)
    if count <= 1:
        return ~padding if count == 1 else np.ones_like(padding)
    sizes = ndimage.sum_labels(np.ones_like(blocks), blocks, index=np.arange(1, count + 1))
    return blocks == 1 + int(np.argmax(sizes))


def ultrasound_mask(
    shape: tuple[int, int],
    *,
    regions: Sequence[UltrasoundRegion] = (),
    frame_range: FrameRange | None = None,
    first_frame: np.ndarray | None = None,
) -> RegionMask:
    """The pixels to despeckle, from whatever is known about the image.

    Args:
        shape: ``(H, W)`` of a frame.
        regions: the DICOM ultrasound regions of the source, if any.
        frame_range: per-pixel range over all frames of a cine (static pixels are protected).
        first_frame: a frame in [0, 1], for letterbox detection when neither regions nor a cine help.
    """
    mask = np.ones(shape, dtype=bool)
    sources: list[MaskSource] = []
    declared = regions_mask(regions, shape)
    if declared is not None:
        mask &= declared
        sources.append(MaskSource.REGIONS)
    static = frame_range.static() if frame_range is not None else None
    if static is not None and static.shape == shape:
        candidates = int(mask.sum())
        moving = mask & ~static
        if candidates and moving.sum() >= (1.0 - FROZEN_FRACTION) * candidates:
            mask = moving
            sources.append(MaskSource.STATIC)
    if not sources and first_frame is not None:
        mask &= letterbox_content(first_frame)
        sources.append(MaskSource.LETTERBOX)
    if not mask.any():  # nothing left to despeckle: trust the image, not the heuristics
        return RegionMask(np.ones(shape, dtype=bool), ())
    if mask.all():
        return RegionMask(mask, ())
    return RegionMask(mask, tuple(sources))


def keep_outside(despeckled: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``despeckled`` where ``mask`` holds, ``original`` elsewhere (frames ``[T, H, W]``, mask ``[H, W]``)."""
    return np.where(mask[None], despeckled, original).astype(despeckled.dtype, copy=False)


def mask_for_frames(
    chunks: Iterable[np.ndarray], shape: tuple[int, int], regions: Sequence[UltrasoundRegion] = ()
) -> RegionMask:
    """:func:`ultrasound_mask` of the frames of an image or cine, read chunk by chunk.

    Args:
        chunks: frames ``[T, H, W]`` in [0, 1], e.g. one chunk per cine item.
        shape: ``(H, W)``.
        regions: the source's DICOM ultrasound regions.
    """
    frame_range, first = FrameRange(), None
    for chunk in chunks:
        if first is None:
            first = np.asarray(chunk[0])
        frame_range.update(chunk)
    return ultrasound_mask(shape, regions=regions, frame_range=frame_range, first_frame=first)
