"""Number of Frames, Rows and Columns checked against the pixel bytes a DICOM file holds.

pydicom trusts the header: a Number of Frames of 0 reads as 1, a smaller one silently drops the
stored frames beyond it, surplus bytes are ignored, and a negative one fails deep inside numpy.
For native (uncompressed) pixel data the bytes stored say exactly how many frames there are, so a
header that disagrees is refused with both counts. Encapsulated (compressed) data is checked
frame by frame when decoded (see :mod:`monai_despeckle.io.dicom.reader`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from monai_despeckle import budget
from monai_despeckle.errors import CorruptFileError, InvalidImageError

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_FLOAT_BITS = {"FloatPixelData": 32, "DoubleFloatPixelData": 64}
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelExtent:
    """What the header declares about the pixel data."""

    frames: int
    rows: int
    columns: int
    samples: int
    bits: int
    keyword: str

    @property
    def frame_bits(self) -> int:
        """Bits of one frame (1-bit data is packed across pixel and frame boundaries)."""
        return self.rows * self.columns * self.samples * self.bits

    def bytes_for(self, frames: int) -> int:
        """Bytes ``frames`` frames take, before the even-length pad."""
        return (frames * self.frame_bits + 7) // 8

    def describe(self) -> str:
        """E.g. ``16×20 8-bit``."""
        colour = f"×{self.samples}" if self.samples != 1 else ""
        return f"{self.rows}×{self.columns}{colour} {self.bits}-bit"


def pixel_keyword(ds: Dataset) -> str | None:
    """Which pixel data element the dataset holds (Pixel Data, Float or Double Float), if any."""
    return next((keyword for keyword in PIXEL_KEYWORDS if keyword in ds), None)


def _whole_number(ds: Dataset, keyword: str, default: int | None, path: Path) -> int:
    with warnings.catch_warnings():  # pydicom warns about an invalid IS value; our error says more
        warnings.simplefilter("ignore")
        value = ds.get(keyword, default)
    if value in (None, ""):
        if default is None:
            raise InvalidImageError(f"{keyword} is missing", path)
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidImageError(f"{keyword} is {value!r}, not a whole number", path) from None
    if number != float(value):
        raise InvalidImageError(f"{keyword} is {value!r}, not a whole number", path)
    return number


def declared_extent(ds: Dataset, path: Path) -> PixelExtent:
    """The header's frame count and frame geometry, each checked to be a whole number ≥ 1.

    Raises:
        InvalidImageError: a missing, non-integer or non-positive Rows, Columns, Samples per Pixel,
            Bits Allocated or Number of Frames (the value and what else the file says are named).
        ImageTooLargeError: frames above :data:`monai_despeckle.budget.MAX_FRAME_PIXELS`.
    """
    keyword = pixel_keyword(ds) or "PixelData"
    rows = _whole_number(ds, "Rows", None, path)
    columns = _whole_number(ds, "Columns", None, path)
    samples = _whole_number(ds, "SamplesPerPixel", 1, path)
    bits = _FLOAT_BITS.get(keyword) or _whole_number(ds, "BitsAllocated", None, path)
    for name, value in (
        ("Rows", rows),
        ("Columns", columns),
        ("SamplesPerPixel", samples),
        ("BitsAllocated", bits),
    ):
        if value < 1:
            raise InvalidImageError(f"{name} is {value}; it must be at least 1", path)
    budget.check_frame_size(rows, columns, path)
    frames = _whole_number(ds, "NumberOfFrames", 1, path)
    extent = PixelExtent(frames, rows, columns, samples, bits, keyword)
    if frames < 1:
        held = stored_frames(ds, extent)
        holds = f", while the {keyword} holds {held} frames of {extent.describe()}" if held else ""
        raise InvalidImageError(f"Number of Frames is {frames}{holds}; it must be at least 1", path)
    return extent


def _stored_length(ds: Dataset, keyword: str) -> int | None:
    """Bytes of the pixel element as stored (None for encapsulated data), without reading them."""
    syntax = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if syntax is not None and syntax.is_encapsulated:
        return None
    item = ds.get_item(keyword)
    length = getattr(item, "length", None)
    if length is None:
        value = getattr(item, "value", None)
        length = len(value) if isinstance(value, (bytes, bytearray)) else None
    if length is None or length == _UNDEFINED_LENGTH:
        return None
    return int(length)


def stored_frames(ds: Dataset, extent: PixelExtent) -> int | None:
    """Whole frames the native pixel data holds (None for encapsulated data or no pixel data)."""
    if extent.keyword not in ds:
        return None
    length = _stored_length(ds, extent.keyword)
    if length is None or extent.frame_bits == 0:
        return None
    return int(length * 8 // extent.frame_bits)


def check_extent(ds: Dataset, path: Path) -> PixelExtent:
    """The declared extent, refused when native pixel data holds more or fewer bytes than it says.

    One pad byte (DICOM values have even length) is allowed.

    Raises:
        InvalidImageError: Number of Frames below the frames stored, or bytes beyond the frames.
        CorruptFileError: fewer bytes than the declared frames need (truncated).
    """
    extent = declared_extent(ds, path)
    if extent.keyword not in ds:
        return extent
    length = _stored_length(ds, extent.keyword)
    if length is None:
        return extent
    needed = extent.bytes_for(extent.frames)
    if length < needed:
        raise CorruptFileError(
            f"{extent.keyword} holds {length} bytes, fewer than the {needed} that Number of Frames "
            f"{extent.frames} × {extent.describe()} need (truncated?)",
            path,
        )
    if length - needed > (needed % 2 == 1):
        held = stored_frames(ds, extent) or 0
        what = f"{held} frames" if held > extent.frames else f"{length - needed} bytes more than its frames"
        raise InvalidImageError(
            f"Number of Frames is {extent.frames} but {extent.keyword} holds {what} of {extent.describe()} "
            f"({length} bytes, {needed} expected); refusing a header that disagrees with its data",
            path,
        )
    return extent


def whole_dtype(extent: PixelExtent) -> np.dtype:
    """The dtype one pixel decodes to (all its samples): what decoding the image whole costs."""
    itemsize = min(8, 1 << max(0, (extent.bits - 1).bit_length() - 3))  # 1, 2, 4 or 8 bytes
    base = np.dtype(f"f{itemsize}") if extent.keyword in _FLOAT_BITS else np.dtype(f"u{itemsize}")
    return np.dtype((base, (extent.samples,))) if extent.samples > 1 else base


def check_whole(extent: PixelExtent, path: Path) -> None:
    """Refuse an image read whole that decodes beyond :func:`monai_despeckle.budget.whole_image_limit`."""
    budget.check_whole_image(
        extent.frames, extent.rows, extent.columns, whole_dtype(extent), path, streamable=True
    )
