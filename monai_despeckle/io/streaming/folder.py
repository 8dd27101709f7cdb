"""A folder of frame images (PNG/JPEG/TIFF/BMP) read and written one frame file at a time.

Same frame order, checks and file names as :mod:`monai_despeckle.io.frames_folder`: natural sort of
the frame files on reading, ``frame_00000.png``... on writing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io import frames_folder, raster
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.streaming.base import (
    FrameSink,
    FrameSource,
    placeholder_frames,
    range_chunk_frames,
    streamed_mapping,
    value_range,
)
from monai_despeckle.io.streaming.whole import InMemorySource


class FramesFolderSource(FrameSource):
    """Stream the frame files of a folder (16-bit or float frames are read twice: range, then data)."""

    def __init__(self, header: UltrasoundImage, folder: Path, files: list[Path], dtype: np.dtype) -> None:
        super().__init__(header)
        self.folder = folder
        self.files = files
        self.dtype = dtype

    @classmethod
    def open(cls, folder: Path) -> FrameSource:
        """Open ``folder``; an empty one is reported by the whole-image reader.

        Raises:
            InvalidImageError, CorruptFileError: as :func:`monai_despeckle.io.load`.
        """
        files = frames_folder.frame_files(folder)
        if not files:
            return InMemorySource.load(folder)
        first = cls._read(files[0])
        header = UltrasoundImage(
            frames=placeholder_frames(len(files), *first.shape[1:]),
            kind=ImageKind.CINE if len(files) > 1 else ImageKind.IMAGE,
            metadata={
                "spacing_source": "default",
                "frame_files": [file.name for file in files],
                "format": "frames-folder",
            },
            source=folder,
        )
        source = cls(header, folder, files, first.dtype)
        header.intensity = streamed_mapping(
            first.dtype,
            lambda: value_range(
                source.iter_values(range_chunk_frames(source.frame_shape, first.dtype)), folder
            ),
        )
        return source

    @staticmethod
    def _read(file: Path) -> np.ndarray:
        values = raster.read_values(file)
        if values.shape[0] != 1:
            raise InvalidImageError(f"holds {values.shape[0]} frames; a frames folder needs one a file", file)
        return values

    def iter_values(self, chunk_frames: int) -> Iterator[np.ndarray]:
        first_shape = self.frame_shape
        for start in range(0, len(self.files), chunk_frames):
            chunk = []
            for file in self.files[start : start + chunk_frames]:
                values = self._read(file)
                if values.shape[1:] != first_shape or values.dtype != self.dtype:
                    raise InvalidImageError(
                        f"frame is {values.shape[1:]} {values.dtype} but {self.files[0].name} is "
                        f"{first_shape} {self.dtype}; all frames must match",
                        file,
                    )
                chunk.append(values)
            yield np.concatenate(chunk, axis=0)


class FramesFolderSink(FrameSink):
    """Write ``frame_NNNNN.png`` files into a new folder as the frames come."""

    def _open(self, staging: Path) -> None:
        staging.mkdir()
        self._folder = staging

    def _write(self, frames: np.ndarray) -> None:
        for offset, frame in enumerate(frames):
            index = self.written + offset
            image = UltrasoundImage(frame[None], intensity=self.header.intensity)
            raster.write(image, self._folder / frames_folder.FRAME_NAME.format(index=index))
