"""DICOM multi-frame images (ultrasound cine first) read and written a chunk of frames at a time.

Reading: the header is parsed with the pixel data deferred (``dcmread(defer_size=...)``), and
frames are decoded one by one with pydicom 3's :func:`pydicom.pixels.iter_pixels` (native and
compressed transfer syntaxes alike), then converted exactly as :mod:`monai_despeckle.io.dicom.reader`
does (MONOCHROME1 inverted, palette and colour reduced to grey), which works frame by frame.

Writing: the derived dataset (patient, study, new series, geometry, SOP class...) is built by
:func:`monai_despeckle.io.dicom.writer.derived_dataset` from a two-frame stand-in of the image;
the stored values of each chunk go to a temporary file beside the output, and pydicom streams that
file into *Pixel Data* (its buffered element values) when the dataset is saved, so the frames are
never all in memory. Single-frame images, files without a Part 10 header and float pixel data are
read or written whole.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder, iter_pixels

from monai_despeckle.errors import CorruptFileError
from monai_despeckle.io.dicom import geometry, pixel_extent, reader, sop, writer
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.streaming.base import (
    FrameSink,
    FrameSource,
    placeholder_frames,
    range_chunk_frames,
    stored_blocks,
    streamed_mapping,
    value_range,
)
from monai_despeckle.io.streaming.whole import InMemorySource
from monai_despeckle.io.validation import as_frames

if TYPE_CHECKING:
    from typing_extensions import Buffer

DEFER_SIZE = "64 KB"  # elements larger than this (the pixel data) stay on disk until accessed


def _decodable(ds: Dataset) -> bool:
    """Whether the streamed reader covers this dataset (else the whole-image reader handles it)."""
    file_meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (file_meta.get("MediaStorageSOPClassUID") if file_meta else None)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if file_meta is None or sop_class not in sop.READABLE or "PixelData" not in ds:
        return False
    if photometric not in reader._PHOTOMETRIC or not ds.get("Rows") or not ds.get("Columns"):
        return False
    syntax = file_meta.get("TransferSyntaxUID")
    if syntax is None:
        return False
    if syntax.is_compressed:
        try:
            return bool(get_decoder(syntax).is_available)
        except NotImplementedError:
            return False
    return True


class DicomSource(FrameSource):
    """Stream the frames of a DICOM Part 10 file (see the module docstring)."""

    def __init__(self, header: UltrasoundImage, path: Path, dataset: Dataset) -> None:
        super().__init__(header)
        self.path = path
        self._dataset = dataset  # header without pixel data (LUTs for palette images stay readable)
        photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
        self._convert, self._is_color = reader._PHOTOMETRIC[photometric]
        self._warned: set[str] = set()

    @classmethod
    def open(cls, path: Path) -> FrameSource:
        """Open ``path`` for streaming, or read it whole when the streamed reader does not cover it.

        Raises:
            DespeckleError: as :func:`monai_despeckle.io.load` (corrupt, unsupported, no pixels...).
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path, defer_size=DEFER_SIZE)
            except Exception:  # not Part 10, or malformed: the whole-image reader reports it
                ds = None
        if ds is None or not _decodable(ds):
            return InMemorySource.load(path)
        for warning in caught:
            warnings.warn(warning.message, warning.category, stacklevel=2)
        num_frames = pixel_extent.check_extent(ds, path).frames
        row_mm, column_mm, spacing_source = geometry.in_plane_spacing(ds, path)
        frame_time = geometry.frame_time_ms(ds)
        sop_class = str(ds.get("SOPClassUID", ""))
        kind = reader._kind(ds, num_frames, sop_class, frame_time)
        origin, direction = geometry.patient_position(ds)
        metadata: dict[str, Any] = {
            "spacing_source": spacing_source,
            "ultrasound_regions": geometry.region_records(ds),
            "sop_class": sop_class,
            "photometric": str(ds.get("PhotometricInterpretation", "")),
            reader.PIXEL_KEYWORD_KEY: "PixelData",
        }
        del ds.PixelData
        metadata["dicom"] = copy.deepcopy(ds)
        metadata["format"] = "dicom"
        header = UltrasoundImage(
            frames=placeholder_frames(num_frames, int(ds.Rows), int(ds.Columns)),
            spacing=(geometry.slice_spacing(ds) if kind is ImageKind.VOLUME else 1.0, row_mm, column_mm),
            origin=origin,
            direction=direction,
            kind=kind,
            frame_time_ms=frame_time if kind is ImageKind.CINE else None,
            metadata=metadata,
            source=path,
        )
        source = cls(header, path, ds)
        frames = source._iter_frames(indices=[0])
        first = next(frames)
        frames.close()
        header.intensity = streamed_mapping(
            first.dtype,
            lambda: value_range(
                source.iter_values(range_chunk_frames(source.frame_shape, first.dtype)), path
            ),
        )
        return source

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        """One decoded frame → ``[1, H, W]`` grey source values, as the whole-image reader does."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = as_frames(
                self._convert(frame, self._dataset)[None], self.path, vector_pixels=self._is_color
            )
        for warning in caught:  # report a conversion warning once per file, not once per frame
            if str(warning.message) not in self._warned:
                self._warned.add(str(warning.message))
                warnings.warn(warning.message, warning.category, stacklevel=4)
        return values

    def _iter_frames(self, indices: list[int] | None = None) -> Generator[np.ndarray, None, None]:
        frames = iter_pixels(self.path, indices=indices)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except Exception as err:  # decoders raise many types for corrupt or truncated data
                raise CorruptFileError(f"cannot decode pixel data ({err})", self.path) from err
            yield self._grey(frame)

    def iter_values(self, chunk_frames: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        count = 0
        for frame in self._iter_frames():
            pending.append(frame)
            count += 1
            if len(pending) == chunk_frames:
                yield np.concatenate(pending, axis=0)
                pending = []
        if pending:
            yield np.concatenate(pending, axis=0)
        if count != self.num_frames:
            raise CorruptFileError(f"pixel data holds {count} of {self.num_frames} frames", self.path)


class DicomSink(FrameSink):
    """Write a derived multi-frame DICOM (two frames or more) chunk by chunk (see the module docstring)."""

    def _open(self, staging: Path) -> None:
        stand_in = dataclasses.replace(
            self.header,
            frames=np.zeros((2, *self.header.frame_shape), dtype=np.float32),
            metadata=dict(self.header.metadata),
        )
        self._staging = staging
        self._dataset = writer.derived_dataset(stand_in)
        self._stored = writer.stored_for(stand_in, str(self._dataset.SOPClassUID))
        self._dtype = np.dtype(self._stored.mapping.dtype).newbyteorder("<")
        self._pixels_path = staging.with_name(f".{staging.name}.pixels")
        self._pixels = self._pixels_path.open("wb")
        self._length = 0

    def _write(self, frames: np.ndarray) -> None:
        for values in stored_blocks(frames, self._stored.mapping, self._dtype):
            # numpy types ndarray as a buffer (__buffer__) from Python 3.12 on only; it is one on 3.10 too
            self._pixels.write(cast("Buffer", values.view(np.uint8)))
            self._length += values.nbytes

    def _finish(self) -> None:
        if self._length % 2:
            self._pixels.write(b"\x00")  # DICOM values have even length
        self._pixels.close()
        self._dataset.NumberOfFrames = self.header.num_frames
        try:
            with self._pixels_path.open("rb") as pixels:
                setattr(self._dataset, self._stored.keyword, pixels)  # pydicom 3 copies a buffered value
                self._dataset.save_as(self._staging, enforce_file_format=True)
        finally:
            self._pixels_path.unlink(missing_ok=True)

    def _abort(self) -> None:
        pixels = getattr(self, "_pixels", None)
        if pixels is not None:
            pixels.close()
