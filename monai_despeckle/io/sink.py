"""The one writing interface every format implements: a :class:`FrameSink`.

A sink writes frames chunk by chunk into a staging location next to the output (see
:func:`monai_despeckle.io.safe_write.staged_output`) and renames it into place only when every
frame has been written; on any error nothing is left at the output and the input is never
written. Formats written whole (NRRD, MetaImage, rasters, single-frame DICOM) collect the frames in
a :class:`WholeImageSink` and write them at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from monai_despeckle.errors import InvalidImageError, OutputPathError
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.validation import check_unit_range

if TYPE_CHECKING:
    from monai_despeckle.io.registry import Format

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


def _protected_inputs(header: UltrasoundImage) -> list[Path]:
    """The files an output must never replace: the image's source and its companion data files."""
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
            check_unit_range(frames, self.path)
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


class WholeImageSink(FrameSink):
    """Collect every frame and write the image at the end with the format's whole-image writer.

    Frames written in one call are kept as they are (no copy); chunks are gathered into one array.
    """

    def _open(self, staging: Path) -> None:
        if self.fmt.write is None:
            raise TypeError(f"the {self.fmt.name} format has no whole-image writer")
        self._staging = staging
        self._frames: np.ndarray | None = None

    def _write(self, frames: np.ndarray) -> None:
        if self.written == 0 and frames.shape[0] == self.header.num_frames:
            self._frames = frames
            return
        if self._frames is None:
            self._frames = np.empty((self.header.num_frames, *self.header.frame_shape), dtype=np.float32)
        self._frames[self.written : self.written + frames.shape[0]] = frames

    def _finish(self) -> None:
        assert self._frames is not None and self.fmt.write is not None  # every frame was written
        image = dataclasses.replace(self.header, frames=self._frames, metadata=dict(self.header.metadata))
        try:
            self.fmt.write(image, self._staging)
        except RuntimeError as err:  # ITK writer errors
            raise OSError(str(err)) from err

    def _abort(self) -> None:
        self._frames = None
