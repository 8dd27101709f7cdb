"""NIfTI read and written a chunk of frames at a time.

NIfTI stores voxels with x fastest, then y, z and t. For our layouts — a volume ``[X, Y, Z]`` or a
cine ``[X, Y, 1, T]`` — the frames therefore follow one another in the file, each frame a C-order
``[H, W] = [Y, X]`` block. Reading: sequential reads from nibabel's data offset, ``.nii.gz``
decompressed as a stream with :mod:`gzip` (random access into gzip would re-decompress from the
start for every chunk). Writing: a NIfTI-1 header from nibabel, then the
voxels as they come (gzip-compressed for ``.nii.gz``).

Geometry, kind and frame time come from the same SimpleITK header read and rules as
:mod:`monai_despeckle.io.itk_formats`, so a streamed image has exactly the header that
:func:`monai_despeckle.io.load` gives. Files with intensity scaling (``scl_slope``/``scl_inter``),
vector pixels or another layout are read whole instead.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import nibabel as nib
import numpy as np

from monai_despeckle.errors import CorruptFileError
from monai_despeckle.io import itk_formats, nifti
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.nifti_header import check_file as check_nifti_file
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

if TYPE_CHECKING:
    from nibabel.arrayproxy import ArrayProxy
    from typing_extensions import Buffer

# LPS (ITK, DICOM) <-> RAS (NIfTI affine): flip the first two physical axes.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_NIFTI1_DATA_OFFSET = 352  # 348-byte header + 4-byte extension flag (no extensions)
_XFORM_SCANNER = 1  # NIFTI_XFORM_SCANNER_ANAT, as ITK writes


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


class NiftiSource(FrameSource):
    """Stream the frames of a ``.nii`` / ``.nii.gz`` file (see the module docstring)."""

    def __init__(self, header: UltrasoundImage, path: Path, dtype: np.dtype, offset: int) -> None:
        super().__init__(header)
        self.path = path
        self.dtype = dtype
        self.offset = offset

    @classmethod
    def open(cls, path: Path) -> FrameSource:
        """Open ``path`` for streaming, or read it whole if its layout cannot be streamed.

        Raises:
            CorruptFileError, InvalidImageError: as :func:`monai_despeckle.io.load`.
        """
        check_nifti_file(path)  # before ITK, which repairs some lying headers silently
        reader = itk_formats.read_information(path)
        size = tuple(reader.GetSize())
        if len(size) > itk_formats.MAX_DIMENSION or 0 in size or reader.GetNumberOfComponents() != 1:
            return InMemorySource.load(path)  # the whole-image reader reports (or converts) these
        header = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
        kind, frame_time_ms = itk_formats._kind_and_frame_time(size, header, path)
        try:
            # nibabel types load() as any file-based image and dataobj as any array-like: a NIfTI
            # file loads as a Nifti1Image (or Nifti2Image) whose dataobj is an ArrayProxy
            proxy = cast("ArrayProxy", cast("nib.Nifti1Image", nib.load(path)).dataobj)
        except Exception:  # nibabel refuses a header ITK accepted: let the whole-image reader decide
            return InMemorySource.load(path)
        if float(proxy.slope) != 1.0 or float(proxy.inter) != 0.0:
            return InMemorySource.load(path)  # ITK rescales to float: not worth re-implementing
        width, height = size[0], size[1]
        num_frames = int(np.prod(size[2:], dtype=np.int64)) if len(size) > 2 else 1
        spacing, origin, direction = itk_formats._spatial_geometry(reader)
        if kind is not ImageKind.VOLUME:
            spacing[2] = 1.0
        dtype = np.dtype(proxy.dtype)
        source = cls(
            UltrasoundImage(
                frames=placeholder_frames(num_frames, height, width),
                spacing=tuple(spacing[::-1]),
                origin=tuple(origin),
                direction=direction[:, ::-1],
                kind=kind,
                frame_time_ms=frame_time_ms,
                metadata={
                    "spacing_source": "header",
                    "itk_header": header,
                    "source_files": [],
                    "format": "nifti",
                },
                source=path,
            ),
            path,
            dtype,
            int(proxy.offset),
        )
        source.header.intensity = streamed_mapping(
            dtype.newbyteorder("="),
            lambda: value_range(source.iter_values(range_chunk_frames(source.frame_shape, dtype)), path),
        )
        return source

    def _frames_from(self, raw: bytes, count: int) -> np.ndarray:
        height, width = self.frame_shape
        values = np.frombuffer(raw, dtype=self.dtype, count=count * height * width).reshape(
            count, height, width
        )
        return values.astype(self.dtype.newbyteorder("="), copy=not values.dtype.isnative)

    def iter_values(self, chunk_frames: int) -> Iterator[np.ndarray]:
        height, width = self.frame_shape
        frame_bytes = height * width * self.dtype.itemsize
        with _open_voxels(self.path, self.offset) as stream:
            for start in range(0, self.num_frames, chunk_frames):
                count = min(chunk_frames, self.num_frames - start)
                raw = stream.read(count * frame_bytes)
                if len(raw) < count * frame_bytes:
                    raise CorruptFileError("file is truncated: voxel data ends early", self.path)
                yield self._frames_from(raw, count)


@contextlib.contextmanager
def _open_voxels(path: Path, offset: int) -> Iterator[io.BufferedIOBase]:
    """The file positioned at its first voxel: seek for ``.nii``; for ``.nii.gz`` decompress up to it.

    Plain sequential reads rather than ``np.memmap``: pages of a memory map stay resident (and count
    in the process RSS) until unmapped, so mapping a 2.6 GB cine would end up holding all of it.
    """
    compressed = _is_gzip(path)
    with gzip.open(path, "rb") if compressed else path.open("rb") as stream:
        if compressed:
            if len(stream.read(offset)) < offset:
                raise CorruptFileError("file is truncated before its voxel data", path)
        else:
            stream.seek(offset)
        yield stream


def nifti_header(image: UltrasoundImage) -> nib.Nifti1Header:
    """The NIfTI-1 header ITK would write for ``image`` (see :mod:`monai_despeckle.io.itk_formats`).

    A cine with several frames is ``[X, Y, 1, T]`` with the frame interval in ``pixdim[4]``
    (seconds; no time unit when unknown); anything else is ``[X, Y, T]``. Geometry goes into both
    the qform and the sform (LPS converted to RAS), as ITK writes it.
    """
    num_frames, height, width = image.num_frames, *image.frame_shape
    cine = image.kind is ImageKind.CINE and num_frames > 1
    spacing_xyz = np.asarray(image.spacing[::-1], dtype=float)
    direction_xyz = image.direction[:, ::-1]
    affine = np.eye(4)
    affine[:3, :3] = direction_xyz * spacing_xyz
    affine[:3, 3] = image.origin
    affine = _LPS_TO_RAS @ affine
    header = nib.Nifti1Header()
    header.set_data_shape((width, height, 1, num_frames) if cine else (width, height, num_frames))
    header.set_data_dtype(np.dtype(image.intensity.dtype))
    header.set_qform(affine, code=_XFORM_SCANNER)
    header.set_sform(affine, code=_XFORM_SCANNER)
    if cine:
        seconds = image.frame_time_ms / 1000.0 if image.frame_time_ms else 1.0
        header.set_zooms((*spacing_xyz, seconds))
        header.set_xyzt_units("mm", "sec" if image.frame_time_ms else "unknown")
    else:
        header.set_zooms(tuple(spacing_xyz))
        header.set_xyzt_units("mm", "sec")
    header["scl_slope"] = np.nan
    header["scl_inter"] = np.nan
    header["descrip"] = b"monai-despeckle"
    header.set_data_offset(_NIFTI1_DATA_OFFSET)
    return header


class NiftiSink(FrameSink):
    """Write a ``.nii`` / ``.nii.gz`` frame chunk by frame chunk, header first."""

    def _open(self, staging: Path) -> None:
        header = nifti_header(self.header)
        self._dtype = header.get_data_dtype()
        # Kept open across write() calls and closed in _finish/_abort, hence no 'with'.
        if _is_gzip(staging):
            self._stream: io.BufferedIOBase = gzip.open(staging, "wb", compresslevel=nifti.GZIP_LEVEL)  # noqa: SIM115
        else:
            self._stream = staging.open("wb")
        header.write_to(self._stream)
        # nibabel writes the 348-byte header and the extension flag; pad up to the data offset.
        self._stream.write(b"\x00" * (_NIFTI1_DATA_OFFSET - self._stream.tell()))

    def _write(self, frames: np.ndarray) -> None:
        for values in stored_blocks(frames, self.header.intensity, self._dtype):
            # numpy types ndarray as a buffer (__buffer__) from Python 3.12 on only; it is one on 3.10 too
            self._stream.write(cast("Buffer", values.view(np.uint8)))

    def _finish(self) -> None:
        self._stream.close()

    def _abort(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.close()
