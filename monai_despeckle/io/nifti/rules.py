"""NIfTI's own rules: which axis is time and in what unit, non-finite voxels, the gzip level.

NIfTI stores one spatial and one time unit for the whole file (``xyzt_units``); dimensions 1-3
are space and 4 is time. A 2-D+t cine is therefore ``[X, Y, 1, T]`` with the frame interval in
``pixdim[4]``, and that is how we write one. Reading also accepts a 3-D file whose third axis is
time, but only when the header says so unambiguously (see :func:`third_axis_frame_time_ms`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import nibabel as nib
import numpy as np

from monai_despeckle.errors import InvalidImageError

if TYPE_CHECKING:
    from nibabel.arrayproxy import ArrayProxy

NIFTI_SUFFIXES = (".nii", ".nii.gz")

_SPACE_UNIT_MASK = 0x07
_TIME_UNIT_MASK = 0x38
# NIfTI-1 time unit codes -> milliseconds per unit (nifti1.h: NIFTI_UNITS_SEC/MSEC/USEC).
_MS_PER_TIME_UNIT = {8: 1000.0, 16: 1.0, 24: 0.001}
_TIME_UNIT_SEC = 8
_FLOAT_DATATYPES = {16, 64}  # NIFTI_TYPE_FLOAT32, NIFTI_TYPE_FLOAT64


def is_nifti(path: Path) -> bool:
    """Whether ``path`` names a NIfTI file (.nii or .nii.gz)."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _units(header: dict[str, str]) -> tuple[int, int]:
    code = int(header.get("xyzt_units", "0"))
    return code & _SPACE_UNIT_MASK, code & _TIME_UNIT_MASK


def frame_time_ms(header: dict[str, str], axis: int) -> float | None:
    """Frame interval in ms from ``pixdim[axis]`` and the header's time unit (None if unitless)."""
    _, time_unit = _units(header)
    if time_unit not in _MS_PER_TIME_UNIT:
        return None
    interval = float(header.get(f"pixdim[{axis}]", "0"))
    return interval * _MS_PER_TIME_UNIT[time_unit] if interval > 0 else None


def third_axis_frame_time_ms(header: dict[str, str]) -> float | None:
    """Frame interval if a 3-D NIfTI marks its third axis as time, else None.

    ITK stamps "mm + seconds" on every NIfTI it writes, 3-D or not, so a time unit of seconds
    next to a spatial unit proves nothing. We take the third axis as time only when the time unit
    is ms or µs (no writer sets those by default), or when a time unit is set without any spatial
    unit; ``pixdim[3]`` is then the frame interval.
    """
    space_unit, time_unit = _units(header)
    explicit = time_unit in (16, 24) or (time_unit == _TIME_UNIT_SEC and space_unit == 0)
    if int(header.get("dim[0]", "0")) != 3 or not explicit:
        return None
    return frame_time_ms(header, axis=3)


def check_finite(path: Path, header: dict[str, str]) -> None:
    """Raise :class:`InvalidImageError` if a float NIfTI holds NaN or infinite voxels.

    Done with nibabel because ITK's NIfTI reader silently replaces NaN and Inf by 0, which would
    hide broken data instead of reporting it.
    """
    if int(header.get("datatype", "0")) not in _FLOAT_DATATYPES:
        return
    # nibabel types load() as any file-based image and dataobj as any array-like: a NIfTI file
    # loads as a Nifti1Image (or Nifti2Image) whose dataobj is an ArrayProxy
    image = cast("nib.Nifti1Image", nib.load(path))
    voxels = np.asanyarray(cast("ArrayProxy", image.dataobj).get_unscaled())
    bad = int(np.count_nonzero(~np.isfinite(voxels)))
    if bad:
        raise InvalidImageError(f"image contains {bad} NaN or infinite voxel values", path)


# gzip level of every ``.nii.gz`` written. B-mode speckle is close to incompressible: a 200-frame
# 512² uint8 cine is 36.0 MB at level 1 and at level 6, but takes 0.84 s to compress instead of
# 1.38 (level 9: more still), time taken from inference on a small CPU. Label maps compress well
# at any level.
GZIP_LEVEL = 1
