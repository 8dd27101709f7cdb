"""A NIfTI file's header checked against itself and against the voxel data the file holds.

ITK and nibabel each accept headers the other refuses, and ITK silently repairs some: a ``dim[3]``
of 0 or a negative dimension reads as 1 frame, a truncated file is zero-filled, surplus voxels
are ignored. This module parses the NIfTI-1 or NIfTI-2 header itself (either byte order, plain
or gzip) and refuses, naming the field and its value, a header that is inconsistent or that
disagrees with the data that follows it, before any reader decodes a voxel.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from monai_despeckle import budget
from monai_despeckle.errors import CorruptFileError, InvalidImageError

NIFTI1_SIZE, NIFTI2_SIZE = 348, 540
# datatype code -> bits per voxel (nifti1.h / nifti2.h)
DATATYPE_BITS = {
    2: 8,  # uint8
    4: 16,  # int16
    8: 32,  # int32
    16: 32,  # float32
    32: 64,  # complex64
    64: 64,  # float64
    128: 24,  # RGB24
    256: 8,  # int8
    512: 16,  # uint16
    768: 32,  # uint32
    1024: 64,  # int64
    1280: 64,  # uint64
    1536: 128,  # float128
    1792: 128,  # complex128
    2048: 256,  # complex256
    2304: 32,  # RGBA32
}
TIME_AXIS = 4  # pixdim[4] is the time step; 0 there means "unknown"
_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class NiftiHeader:
    """The fields of a NIfTI-1/2 header that decide the voxel data's size and geometry."""

    version: int
    dim: tuple[int, ...]  # dim[0] .. dim[7]
    pixdim: tuple[float, ...]  # pixdim[0] .. pixdim[7]
    datatype: int
    bitpix: int
    vox_offset: float

    @property
    def shape(self) -> tuple[int, ...]:
        """dim[1] .. dim[dim[0]]."""
        return self.dim[1 : 1 + self.dim[0]]

    @property
    def data_bytes(self) -> int:
        """Bytes of voxel data the header declares."""
        return math.prod(self.shape) * self.bitpix // 8

    @property
    def frame_bytes(self) -> int:
        """Bytes of one [dim[2], dim[1]] frame."""
        return math.prod(self.shape[:2]) * self.bitpix // 8


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


@dataclass(frozen=True)
class _Layout:
    """Where a NIfTI version keeps the fields we read: (struct format, byte offset) of each."""

    version: int
    size: int
    dim: tuple[str, int]
    pixdim: tuple[str, int]
    datatype: tuple[str, int]
    bitpix: tuple[str, int]
    vox_offset: tuple[str, int]


_LAYOUTS = (
    _Layout(1, NIFTI1_SIZE, ("8h", 40), ("8f", 76), ("h", 70), ("h", 72), ("f", 108)),
    _Layout(2, NIFTI2_SIZE, ("8q", 16), ("8d", 104), ("h", 12), ("h", 14), ("q", 168)),
)


def _parse(raw: bytes, path: Path) -> NiftiHeader:
    for order in "<>":
        for layout in _LAYOUTS:
            if (
                len(raw) < 4
                or struct.unpack(f"{order}i", raw[:4])[0] != layout.size
                or len(raw) < layout.size
            ):
                continue

            def field(where: tuple[str, int], order: str = order) -> tuple:
                return struct.unpack_from(order + where[0], raw, where[1])

            return NiftiHeader(
                layout.version,
                field(layout.dim),
                field(layout.pixdim),
                field(layout.datatype)[0],
                field(layout.bitpix)[0],
                float(field(layout.vox_offset)[0]),
            )
    raise CorruptFileError("not a NIfTI-1 or NIfTI-2 header (sizeof_hdr is neither 348 nor 540)", path)


def read_header(path: Path) -> NiftiHeader:
    """Parse the header of a ``.nii`` / ``.nii.gz`` file.

    Raises:
        CorruptFileError: too short, not gzip where it should be, or not a NIfTI header.
    """
    try:
        with _open(path) as stream:
            raw = stream.read(NIFTI2_SIZE)
    except (OSError, EOFError, zlib.error) as err:
        raise CorruptFileError(f"cannot read NIfTI header ({err})", path) from err
    return _parse(raw, path)


def check_fields(header: NiftiHeader, path: Path) -> None:
    """Refuse a header whose fields contradict each other or describe no image.

    Raises:
        InvalidImageError: a dimension < 1 within dim[0], a negative or non-finite voxel size, a
            bitpix that is not the datatype's, or a data offset inside the header.
        ImageTooLargeError: frames larger than :data:`monai_despeckle.budget.MAX_FRAME_PIXELS`.
    """
    rank = header.dim[0]
    if not 1 <= rank <= 7:
        raise InvalidImageError(f"header dim[0] = {rank}: the number of dimensions must be 1 to 7", path)
    for axis, size in enumerate(header.shape, start=1):
        if size < 1:
            what = "declares no voxels along it" if size == 0 else "is negative"
            raise InvalidImageError(
                f"header dim[{axis}] = {size} {what} (dim = {list(header.shape)}); every dimension must be "
                "at least 1",
                path,
            )
    for axis in range(1, rank + 1):
        step = header.pixdim[axis]
        if not math.isfinite(step) or step < 0 or (step == 0 and axis < TIME_AXIS):
            raise InvalidImageError(
                f"header pixdim[{axis}] = {step:g}: voxel sizes must be positive "
                f"(dim = {list(header.shape)})",
                path,
            )
    expected_bits = DATATYPE_BITS.get(header.datatype)
    if expected_bits is None:
        raise InvalidImageError(f"header datatype = {header.datatype} is not a NIfTI data type", path)
    if header.bitpix != expected_bits:
        raise InvalidImageError(
            f"header bitpix = {header.bitpix} but datatype {header.datatype} has {expected_bits} bits "
            "per voxel",
            path,
        )
    least_offset = NIFTI1_SIZE + 4 if header.version == 1 else NIFTI2_SIZE + 4
    if not math.isfinite(header.vox_offset) or header.vox_offset < least_offset:
        raise InvalidImageError(
            f"header vox_offset = {header.vox_offset:g} points inside the header (at least {least_offset})",
            path,
        )
    height = header.shape[1] if rank >= 2 else 1
    budget.check_frame_size(height, header.shape[0], path)


def _stored_bytes(path: Path, wanted: int) -> int:
    """Bytes the file holds, counting no further than ``wanted`` (a gzip file is read as a stream)."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while total < wanted:
                chunk = stream.read(min(_READ_BLOCK, wanted - total))
                if not chunk:
                    break
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        pass  # a damaged or truncated stream holds what was read before the damage
    return total


def check_extent(header: NiftiHeader, path: Path) -> None:
    """Refuse a file that holds fewer voxel bytes than its header declares, or a whole frame more.

    Written by hand because ITK's NIfTI reader zero-fills a truncated file and ignores surplus data.

    Raises:
        CorruptFileError: truncated.
        InvalidImageError: at least one frame's worth of voxels beyond what ``dim`` declares.
    """
    expected = int(header.vox_offset) + header.data_bytes
    stored = _stored_bytes(path, expected + max(header.frame_bytes, 1))
    compressed = "compressed " if path.name.lower().endswith(".gz") else ""
    if stored < expected:
        raise CorruptFileError(
            f"file is truncated: its header declares {expected} bytes (header + voxels) but the "
            f"{compressed}data ends early",
            path,
        )
    if header.frame_bytes and stored - expected >= header.frame_bytes:
        raise InvalidImageError(
            f"header dim = {list(header.shape)} declares {header.data_bytes} voxel bytes, but the file "
            f"holds at least one more frame ({header.frame_bytes} bytes) after them; refusing a header that "
            "does not describe its data",
            path,
        )


def check_file(path: Path) -> NiftiHeader:
    """:func:`read_header`, :func:`check_fields` and :func:`check_extent`; the header if all pass."""
    header = read_header(path)
    check_fields(header, path)
    check_extent(header, path)
    return header
