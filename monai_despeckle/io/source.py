"""The one reading interface every format implements: a :class:`FrameSource`.

A source is opened from its header alone (checked before any pixel is decoded), says how many
frames it holds and what they are (:attr:`FrameSource.header`: geometry, kind, intensity mapping,
metadata, with zero-cost placeholder frames), and reads frames ``start..stop`` on demand.
:func:`monai_despeckle.io.load` is :meth:`FrameSource.read_all`; streaming is
:meth:`FrameSource.iter_chunks`. Formats that can only be decoded whole (NRRD, MetaImage, rasters)
are an :class:`InMemorySource` over the decoded image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from monai_despeckle import budget
from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.io.validation import reading

# Source dtypes whose [0, 1] mapping does not depend on the data (see IntensityMapping.for_array).
_FIXED_RANGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.bool_))


def placeholder_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """A read-only float32 ``[T, H, W]`` array of zeros that occupies no memory (broadcast view)."""
    return np.broadcast_to(np.zeros((1, 1, 1), dtype=np.float32), (num_frames, height, width))


def value_range(chunks: Iterator[np.ndarray], path: Path) -> tuple[float, float]:
    """Minimum and maximum over all chunks, refusing NaN/Inf like the whole-image loader does."""
    low, high, bad = np.inf, -np.inf, 0
    for chunk in chunks:
        if chunk.dtype.kind == "f":
            finite = np.isfinite(chunk)
            bad += int(chunk.size - np.count_nonzero(finite))
            if bad:
                continue
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    if bad:
        raise InvalidImageError(f"image contains {bad} NaN or infinite pixel values", path)
    return low, high


class FrameSource(ABC):
    """Frames of an image file, read on demand.

    A subclass decodes grey source values in :meth:`_values`; everything else (the intensity
    mapping, unit conversion, chunking, reading whole) is here. The mapping of 16-bit and float data
    depends on the data's range: it is found by one pass over the frames the first time
    :attr:`header` is asked for, or taken from the values when the image is read whole.

    Args:
        header: geometry, kind, frame time, metadata and ``source`` of the image, with placeholder
            frames of the right shape (see :func:`placeholder_frames`).
        dtype: the dtype of the grey values :meth:`_values` yields.
        decoded_dtype: the dtype the decoder produces per pixel before any reduction to grey (e.g.
            three uint8 samples): what reading the image whole costs. Defaults to ``dtype``.

    Attributes:
        streaming: False when the image was decoded whole on opening.
        streamable: the format streams (NIfTI, DICOM, frames folders): named in size errors.
    """

    streaming = True
    streamable = True

    def __init__(
        self, header: UltrasoundImage, dtype: np.dtype, decoded_dtype: np.dtype | None = None
    ) -> None:
        self._header = header
        self.dtype = np.dtype(dtype)
        self.decoded_dtype = self.dtype if decoded_dtype is None else np.dtype(decoded_dtype)
        self._mapping_known = self.dtype in _FIXED_RANGE_DTYPES
        if self._mapping_known:
            header.intensity = IntensityMapping.for_array(np.zeros(1, dtype=self.dtype))

    # --- what a format implements ---------------------------------------------------------------
    @abstractmethod
    def _values(self, start: int, stop: int, chunk_frames: int) -> Iterator[np.ndarray]:
        """Grey source values of frames ``start..stop - 1``, ``[n, H, W]`` chunks of ≤ ``chunk_frames``."""

    # --- the interface ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The file or folder read."""
        return self._header.source or Path("input")

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return self._header.num_frames

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of a frame."""
        return self._header.frame_shape

    @property
    def header(self) -> UltrasoundImage:
        """Everything :func:`monai_despeckle.io.load` gives but the pixels (placeholder frames)."""
        if not self._mapping_known:
            chunk = budget.chunk_frames(self.frame_shape, self.dtype.itemsize)
            with reading(self.path, "pixel data"):
                low, high = value_range(self._values(0, self.num_frames, chunk), self.path)
            self._set_mapping(np.array([low, high], dtype=self.dtype))
        return self._header

    def _set_mapping(self, values: np.ndarray) -> None:
        self._header.intensity = IntensityMapping.for_array(values)
        self._mapping_known = True

    def named(self, format_name: str) -> FrameSource:
        """Record the format's name in ``header.metadata["format"]``; returns the source."""
        self._header.metadata["format"] = format_name
        return self

    def read(self, start: int, stop: int, *, unit: bool = True) -> np.ndarray:
        """Frames ``start..stop - 1`` as float32 in [0, 1] (``unit``) or as grey source values."""
        self._check_range(start, stop)
        values = np.empty((stop - start, *self.frame_shape), dtype=self.dtype)
        filled = 0
        chunk = budget.chunk_frames(self.frame_shape, self.dtype.itemsize)
        with reading(self.path, "pixel data"):  # filled a budget-sized chunk at a time: no second copy
            for chunk_values in self._values(start, stop, chunk):
                values[filled : filled + len(chunk_values)] = chunk_values
                filled += len(chunk_values)
        return self.header.intensity.to_unit(values) if unit else values

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.num_frames:
            raise IndexError(f"frames {start}..{stop} outside 0..{self.num_frames}")

    def iter_chunks(self, chunk_frames: int, *, unit: bool = True) -> Iterator[np.ndarray]:
        """All frames in order, ``chunk_frames`` at a time (the last chunk may be shorter).

        Args:
            chunk_frames: frames per chunk (≥ 1).
            unit: float32 in [0, 1] (what :func:`~monai_despeckle.io.load` gives as ``frames``),
                else the grey source values in the source dtype.
        """
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        mapping = self.header.intensity if unit else None
        chunks = self._values(0, self.num_frames, chunk_frames)
        while True:
            with reading(self.path, "pixel data"):  # a decoder failing mid-stream
                values = next(chunks, None)
            if values is None:
                return
            yield mapping.to_unit(values) if mapping is not None else values

    def check_whole(self) -> None:
        """Refuse, from the header, an image that would decode beyond the whole-image limit."""
        height, width = self.frame_shape
        budget.check_whole_image(
            self.num_frames, height, width, self.decoded_dtype, self.path, streamable=self.streamable
        )

    def read_all(self) -> UltrasoundImage:
        """The whole image in memory, what :func:`monai_despeckle.io.load` returns.

        The size is checked from the header first; the values are read once (their range, for
        16-bit and float data, is taken from them).
        """
        self.check_whole()
        values = self.read(0, self.num_frames, unit=False)
        if not self._mapping_known:
            self._set_mapping(np.array(value_range(iter([values]), self.path), dtype=self.dtype))
        return self._header.with_frames(self._header.intensity.to_unit(values))

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release open files (sources that keep none do nothing)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InMemorySource(FrameSource):
    """A source over an image decoded whole (``streaming`` False): its float32 frames are held."""

    streaming = False

    def __init__(self, image: UltrasoundImage, *, streamable: bool = False) -> None:
        mapping = image.intensity  # the image's own, which may differ from its dtype's natural one
        super().__init__(image, np.dtype(mapping.dtype))
        self._header.intensity = mapping
        self._mapping_known = True
        self.streamable = streamable

    def _values(self, start: int, stop: int, chunk_frames: int) -> Iterator[np.ndarray]:
        for first in range(start, stop, chunk_frames):
            yield self._header.intensity.from_unit(
                self._header.frames[first : min(stop, first + chunk_frames)]
            )

    def read(self, start: int, stop: int, *, unit: bool = True) -> np.ndarray:
        if unit:
            self._check_range(start, stop)
            return self._header.frames[start:stop]
        return super().read(start, stop, unit=False)

    def iter_chunks(self, chunk_frames: int, *, unit: bool = True) -> Iterator[np.ndarray]:
        if not unit:
            yield from super().iter_chunks(chunk_frames, unit=False)
            return
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        for start in range(0, self.num_frames, chunk_frames):
            yield self._header.frames[start : start + chunk_frames]

    def read_all(self) -> UltrasoundImage:
        return self._header
