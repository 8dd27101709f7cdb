"""The NIfTI reader: frames read a chunk at a time straight from the file.

NIfTI stores voxels with x fastest, then y, z and t. For our layouts — a volume ``[X, Y, Z]`` or a
cine ``[X, Y, 1, T]`` — the frames therefore follow one another in the file, each frame a C-order
``[H, W] = [Y, X]`` block, so frames ``i..j`` are one contiguous run of bytes: ``.nii`` is read
from the right offset, ``.nii.gz`` decompressed as a sequential stream with :mod:`gzip` (random
access into gzip would re-decompress from the start for every chunk).

The header is checked against itself and the bytes the file holds before anything else
(:mod:`monai_despeckle.io.nifti.header`); geometry, kind and frame time come from SimpleITK's header
read and the rules of :mod:`monai_despeckle.io.itk_formats`. Files with intensity scaling
(``scl_slope``/``scl_inter``), vector pixels, or a header nibabel refuses are decoded whole by
SimpleITK instead (it rescales to float: not worth re-implementing).
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
from monai_despeckle.io import itk_formats
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.nifti import rules
from monai_despeckle.io.nifti.header import check_file
from monai_despeckle.io.source import FrameSource, InMemorySource, placeholder_frames

if TYPE_CHECKING:
    from nibabel.arrayproxy import ArrayProxy


def _proxy(path: Path) -> ArrayProxy | None:
    """nibabel's view of the voxel data (offset, dtype, scaling), or None if nibabel refuses the file."""
    try:
        # nibabel types load() as any file-based image and dataobj as any array-like: a NIfTI
        # file loads as a Nifti1Image (or Nifti2Image) whose dataobj is an ArrayProxy
        return cast("ArrayProxy", cast("nib.Nifti1Image", nib.load(path)).dataobj)
    except Exception:  # nibabel refuses a header ITK accepted: SimpleITK decides
        return None


def open_source(path: Path) -> FrameSource:
    """Open a ``.nii`` / ``.nii.gz`` file: streamed, or decoded whole where it cannot be.

    Raises:
        CorruptFileError, InvalidImageError, ImageTooLargeError: the header lies about the data,
            describes no image, or (read whole) too large an image; the data cannot be decoded.
    """
    check_file(path)  # before ITK, which repairs some lying headers silently
    reader = itk_formats.read_information(path)
    size = itk_formats.checked_size(reader, path)
    proxy = _proxy(path) if reader.GetNumberOfComponents() == 1 else None
    if proxy is None or float(proxy.slope) != 1.0 or float(proxy.inter) != 0.0:
        image = itk_formats.decode(
            reader, path, streamable=True, before_decoding=lambda fields: rules.check_finite(path, fields)
        )
        return InMemorySource(image, streamable=True)
    num_frames = int(np.prod(size[2:], dtype=np.int64)) if len(size) > 2 else 1
    header = UltrasoundImage(
        frames=placeholder_frames(num_frames, size[1], size[0]),
        source=path,
        **itk_formats.header_fields(reader, path),
    )
    return NiftiSource(header, np.dtype(proxy.dtype), int(proxy.offset))


class NiftiSource(FrameSource):
    """The frames of a ``.nii`` / ``.nii.gz`` file, read from its bytes (see the module docstring).

    Args:
        header: geometry and metadata (placeholder frames).
        stored: the voxels' dtype as stored (any byte order).
        offset: where the voxel data starts.
    """

    def __init__(self, header: UltrasoundImage, stored: np.dtype, offset: int) -> None:
        super().__init__(header, stored.newbyteorder("="))
        self.stored = stored
        self.offset = offset

    def _values(self, start: int, stop: int, chunk_frames: int) -> Iterator[np.ndarray]:
        height, width = self.frame_shape
        frame_bytes = height * width * self.stored.itemsize
        with _open_voxels(self.path, self.offset + start * frame_bytes) as stream:
            for first in range(start, stop, chunk_frames):
                count = min(chunk_frames, stop - first)
                raw = stream.read(count * frame_bytes)
                if len(raw) < count * frame_bytes:
                    raise CorruptFileError("file is truncated: voxel data ends early", self.path)
                values = np.frombuffer(raw, dtype=self.stored, count=count * height * width)
                yield values.reshape(count, height, width).astype(self.dtype, copy=not values.dtype.isnative)


@contextlib.contextmanager
def _open_voxels(path: Path, offset: int) -> Iterator[io.BufferedIOBase]:
    """The file positioned at ``offset``: seek for ``.nii``; for ``.nii.gz`` decompress up to it.

    Plain sequential reads rather than ``np.memmap``: pages of a memory map stay resident (and count
    in the process RSS) until unmapped, so mapping a 2.6 GB cine would end up holding all of it.
    """
    compressed = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if compressed else path.open("rb") as stream:
        if compressed:
            while (skipped := stream.tell()) < offset:
                if not stream.read(min(offset - skipped, 1 << 20)):
                    raise CorruptFileError("file is truncated before its voxel data", path)
        else:
            stream.seek(offset)
        yield stream
