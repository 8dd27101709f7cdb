"""The NIfTI writer: a NIfTI-1 header from nibabel, then the voxels a chunk of frames at a time.

:func:`monai_despeckle.io.save` writes a whole image through the same sink. The layout follows
what SimpleITK writes (and :mod:`monai_despeckle.io.nifti.reader` reads back): see
:func:`nifti_header`.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import TYPE_CHECKING, cast

import nibabel as nib
import numpy as np

from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.itk_formats import is_planar
from monai_despeckle.io.nifti import rules
from monai_despeckle.io.sink import FrameSink, stored_blocks

if TYPE_CHECKING:
    from typing_extensions import Buffer

# LPS (ITK, DICOM) <-> RAS (NIfTI affine): flip the first two physical axes.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_NIFTI1_DATA_OFFSET = 352  # 348-byte header + 4-byte extension flag (no extensions)
_XFORM_SCANNER = 1  # NIFTI_XFORM_SCANNER_ANAT, as ITK writes


def nifti_header(image: UltrasoundImage) -> nib.Nifti1Header:
    """The NIfTI-1 header ITK would write for ``image`` (see :mod:`monai_despeckle.io.itk_formats`).

    A cine with several frames is ``[X, Y, 1, T]`` with the frame interval in ``pixdim[4]``
    (seconds; no time unit when unknown); a single frame in the z = 0 plane is 2-D ``[X, Y]``;
    anything else is ``[X, Y, T]``. Geometry goes into both the qform and the sform (LPS converted
    to RAS), as ITK writes it.
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
    planar = is_planar(image)
    if cine:
        header.set_data_shape((width, height, 1, num_frames))
    else:
        header.set_data_shape((width, height) if planar else (width, height, num_frames))
    header.set_data_dtype(np.dtype(image.intensity.dtype))
    header.set_qform(affine, code=_XFORM_SCANNER)
    header.set_sform(affine, code=_XFORM_SCANNER)
    if cine:
        seconds = image.frame_time_ms / 1000.0 if image.frame_time_ms else 1.0
        header.set_zooms((*spacing_xyz, seconds))
        header.set_xyzt_units("mm", "sec" if image.frame_time_ms else "unknown")
    else:
        header.set_zooms(tuple(spacing_xyz[:2] if planar else spacing_xyz))
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
        if staging.name.lower().endswith(".gz"):
            self._stream: io.BufferedIOBase = gzip.open(staging, "wb", compresslevel=rules.GZIP_LEVEL)  # noqa: SIM115
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
