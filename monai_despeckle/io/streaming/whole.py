"""Fallbacks for formats that cannot be streamed: read the whole image, or collect every frame.

Used for NRRD and MetaImage (SimpleITK reads and writes them whole: its streamed region reading
only applies to uncompressed MetaImage, and our writer compresses), single raster files (one
frame, or a multi-page TIFF that Pillow decodes page by page but that is rarely long), and for
NIfTI/DICOM variants the streamed readers do not cover (scaled NIfTI, vector pixels, DICOM without
a Part 10 header or with float pixels...). These hold the whole image as float32 frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from monai_despeckle.io.files import load
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.streaming.base import FrameSink, FrameSource
from monai_despeckle.io.validation import check_savable


class InMemorySource(FrameSource):
    """A source over an image already in memory (``streaming`` is False)."""

    streaming = False

    @classmethod
    def load(cls, path: Path) -> InMemorySource:
        """Read ``path`` whole with :func:`monai_despeckle.io.load`."""
        return cls(load(path))

    def iter_values(self, chunk_frames: int) -> Iterator[np.ndarray]:
        for start in range(0, self.num_frames, chunk_frames):
            yield self.header.intensity.from_unit(self.header.frames[start : start + chunk_frames])

    def iter_chunks(self, chunk_frames: int, *, unit: bool = True) -> Iterator[np.ndarray]:
        if not unit:
            yield from super().iter_chunks(chunk_frames, unit=False)
            return
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        for start in range(0, self.num_frames, chunk_frames):
            yield self.header.frames[start : start + chunk_frames]

    def read_all(self) -> UltrasoundImage:
        return self.header


class WholeImageSink(FrameSink):
    """Collect every frame (float32) and write the image at the end with the format's writer."""

    def _open(self, staging: Path) -> None:
        self._staging = staging
        self._frames = np.empty((self.header.num_frames, *self.header.frame_shape), dtype=np.float32)

    def _write(self, frames: np.ndarray) -> None:
        self._frames[self.written : self.written + frames.shape[0]] = frames

    def _finish(self) -> None:
        image = dataclasses.replace(self.header, frames=self._frames, metadata=dict(self.header.metadata))
        check_savable(image, self.path)
        try:
            self.fmt.write(image, self._staging)
        except RuntimeError as err:  # ITK writer errors
            raise OSError(str(err)) from err

    def _abort(self) -> None:
        self._frames = np.empty((0, 0, 0), dtype=np.float32)
