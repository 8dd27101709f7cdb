"""The two halves of a streamed run: a :class:`FrameSource` that reads frames chunk by chunk and a
:class:`FrameSink` that writes them chunk by chunk and commits the file atomically.

A source exposes its geometry and metadata as an :class:`UltrasoundImage` *header* whose
``frames`` is a zero-cost read-only placeholder of the right shape (a broadcast view of one zero:
no memory) — read the pixels with :meth:`FrameSource.iter_chunks`. A sink writes into a staging
location next to the output (see :func:`monai_despeckle.io.safe_write.staged_output`) and renames it
into place only when every frame has been written; on any error nothing is left at the output
and the input is never written.
"""

from __future__ import annotations

import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from monai_despeckle import budget
from monai_despeckle.errors import InvalidImageError, OutputPathError
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.io.registry import Format, format_for_output
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.validation import UNIT_RANGE_TOLERANCE, reading

# Source dtypes whose [0, 1] mapping does not depend on the data (see IntensityMapping.for_array).
_FIXED_RANGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.bool_))


def placeholder_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """A read-only float32 ``[T, H, W]`` array of zeros that occupies no memory (broadcast view)."""
    return np.broadcast_to(np.zeros((1, 1, 1), dtype=np.float32), (num_frames, height, width))


def streamed_mapping(dtype: np.dtype, value_range: Callable[[], tuple[float, float]]) -> IntensityMapping:
    """The intensity mapping :func:`IntensityMapping.for_array` would give the whole array.

    That mapping depends only on the dtype and the data's minimum and maximum, so it is computed
    here from ``value_range()`` (a pass over the data) without holding the data; for uint8 and bool
    the range is fixed and no pass is made.
    """
    dtype = np.dtype(dtype)
    if dtype in _FIXED_RANGE_DTYPES:
        return IntensityMapping.for_array(np.zeros(1, dtype=dtype))
    low, high = value_range()
    return IntensityMapping.for_array(np.array([low, high], dtype=dtype))


CONVERT_BLOCK_PIXELS = 1 << 20  # stored values are computed this many pixels at a time (8 MB of float64)


def stored_blocks(frames: np.ndarray, mapping: IntensityMapping, dtype: np.dtype) -> Iterator[np.ndarray]:
    """The stored values of float ``[n, H, W]`` frames in C order, a bounded block at a time.

    :meth:`IntensityMapping.from_unit` works in float64; converting a block at a time keeps that
    copy to :data:`CONVERT_BLOCK_PIXELS` pixels whatever the frame size. The concatenated blocks
    equal ``mapping.from_unit(frames)`` exactly.
    """
    flat = np.ascontiguousarray(frames).reshape(-1)
    for start in range(0, flat.size, CONVERT_BLOCK_PIXELS):
        block = mapping.from_unit(flat[start : start + CONVERT_BLOCK_PIXELS])
        yield np.ascontiguousarray(block, dtype=dtype)


def range_chunk_frames(frame_shape: tuple[int, int], dtype: np.dtype) -> int:
    """Frames per chunk of the pass that finds a 16-bit or float image's value range (budget-sized)."""
    return budget.chunk_frames(frame_shape, np.dtype(dtype).itemsize)


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
    """Frames of an image file, read a chunk at a time.

    Attributes:
        header: geometry, kind, frame time, intensity mapping, metadata and source path exactly as
            :func:`monai_despeckle.io.load` would give, with placeholder frames of the right shape.
        streaming: False when the format had to be read whole (see the subclass docstring).
    """

    streaming = True

    def __init__(self, header: UltrasoundImage) -> None:
        self.header = header

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return self.header.num_frames

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of a frame."""
        return self.header.frame_shape

    @abstractmethod
    def iter_values(self, chunk_frames: int) -> Iterator[np.ndarray]:
        """Chunks ``[n, H, W]`` of grey source values (source dtype), n ≤ ``chunk_frames``."""

    def iter_chunks(self, chunk_frames: int, *, unit: bool = True) -> Iterator[np.ndarray]:
        """The frames, ``chunk_frames`` at a time (the last chunk may be shorter).

        Args:
            chunk_frames: frames per chunk (≥ 1).
            unit: float32 in [0, 1] (what :func:`~monai_despeckle.io.load` gives as ``frames``),
                else the grey source values in the source dtype.
        """
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        chunks = self.iter_values(chunk_frames)
        while True:
            with reading(self.header.source or "input", "pixel data"):  # a decoder failing mid-stream
                values = next(chunks, None)
            if values is None:
                return
            yield self.header.intensity.to_unit(values) if unit else values

    def read_all(self) -> UltrasoundImage:
        """The whole image in memory (what :func:`monai_despeckle.io.load` returns)."""
        frames = np.concatenate(list(self.iter_chunks(max(1, self.num_frames))), axis=0)
        return self.header.with_frames(frames)

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release open files (sources that keep none do nothing)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _protected_inputs(header: UltrasoundImage) -> list[Path]:
    protected = [header.source] if header.source is not None else []
    return protected + [Path(p) for p in header.metadata.get("source_files", [])]


class FrameSink(ABC):
    """Write the frames of one image chunk by chunk; commit atomically on success.

    Use as a context manager: ``with open_sink(path, header) as sink: sink.write(chunk)...``.
    Leaving the block normally checks that all ``header.num_frames`` frames were written and
    renames the staged output into place; an exception removes everything staged.

    Args:
        path: the output file or folder.
        header: geometry, kind, intensity mapping and metadata of the output (its ``frames`` may be
            a placeholder; only their shape is used).
        fmt: the output format (from the path's suffix).
        overwrite: replace an existing output (never the input).
    """

    def __init__(self, path: str | Path, header: UltrasoundImage, fmt: Format, *, overwrite: bool = False):
        self.path = Path(path)
        self.header = header
        self.fmt = fmt
        self.overwrite = overwrite
        self.written = 0
        self._stack: contextlib.ExitStack | None = None
        fmt.check(header, self.path)  # e.g. several frames into a PNG: refused before any writing

    # --- what a format implements -------------------------------------------------------------
    @abstractmethod
    def _open(self, staging: Path) -> None:
        """Start writing at ``staging`` (the final name inside a staging folder)."""

    @abstractmethod
    def _write(self, frames: np.ndarray) -> None:
        """Write the next float32 ``[n, H, W]`` frames in [0, 1]."""

    def _finish(self) -> None:  # noqa: B027 (optional hook)
        """Complete the file after the last frame (before it is renamed into place)."""

    def _abort(self) -> None:  # noqa: B027 (optional hook)
        """Release resources after an error (the staging folder is removed by the caller)."""

    # --- the protocol ---------------------------------------------------------------------------
    def __enter__(self) -> FrameSink:
        stack = contextlib.ExitStack()
        staging = stack.enter_context(
            staged_output(self.path, protected=_protected_inputs(self.header), overwrite=self.overwrite)
        )
        self._stack = stack
        try:
            self._guard(self._open, staging)
        except BaseException:
            self._stack = None
            if not stack.__exit__(*sys.exc_info()):
                raise
        return self

    def _guard(self, action: Callable[..., None], *args: object) -> None:
        """Run a writing step, reporting OS errors (disk full, permissions) as OutputPathError."""
        try:
            action(*args)
        except OSError as err:
            raise OutputPathError(f"could not write {self.fmt.name} output ({err})", self.path) from err

    def write(self, frames: np.ndarray) -> None:
        """Append frames ``[H, W]`` or ``[n, H, W]``, float in [0, 1].

        Raises:
            InvalidImageError: wrong frame size, more frames than the header declares, NaN/Inf, or
                values outside [0, 1] (nothing is committed).
        """
        if self._stack is None:
            raise RuntimeError("FrameSink.write outside its 'with' block")
        frames = np.asarray(frames, dtype=np.float32)
        frames = frames[None] if frames.ndim == 2 else frames
        if frames.ndim != 3 or frames.shape[1:] != self.header.frame_shape:
            raise InvalidImageError(
                f"cannot write frames of shape {frames.shape}: expected [n, {self.header.frame_shape[0]}, "
                f"{self.header.frame_shape[1]}]",
                self.path,
            )
        if self.written + frames.shape[0] > self.header.num_frames:
            raise InvalidImageError(f"more frames than the {self.header.num_frames} the image has", self.path)
        if frames.size:
            if not np.isfinite(frames).all():
                raise InvalidImageError("cannot save: frames contain NaN or infinite values", self.path)
            low, high = float(frames.min()), float(frames.max())
            if low < -UNIT_RANGE_TOLERANCE or high > 1.0 + UNIT_RANGE_TOLERANCE:
                raise InvalidImageError(
                    f"cannot save: frames must lie in [0, 1] but span [{low:.4g}, {high:.4g}]", self.path
                )
        self._guard(self._write, frames)
        self.written += frames.shape[0]

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        if stack is None:
            return False
        if exc_type is None:
            try:
                if self.written != self.header.num_frames:
                    raise InvalidImageError(
                        f"only {self.written} of {self.header.num_frames} frames were written", self.path
                    )
                self._guard(self._finish)
            except BaseException:
                self._abort()
                if not stack.__exit__(*sys.exc_info()):
                    raise
                return False
            return bool(stack.__exit__(None, None, None))
        self._abort()
        return bool(stack.__exit__(exc_type, exc, tb))


def output_format(path: str | Path) -> Format:
    """The format an output path names (by suffix; a folder or no suffix: a frames folder)."""
    return format_for_output(Path(path))
