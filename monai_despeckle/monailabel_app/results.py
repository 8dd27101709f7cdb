"""Result files of the infer tasks: the input's geometry, ``result_extension`` and ``result_dtype``.

MONAI Label clients choose the result's file type and pixel type per request (the 3D Slicer
plugin always asks for ``.nrrd`` and ``uint8``). The geometry restoration MONAI Label does with
its own transforms is not needed here: results are built from the loaded
:class:`~monai_despeckle.io.UltrasoundImage`, so :func:`monai_despeckle.io.save` writes them with
the input's size, spacing, origin and direction (an H×W×1 NIfTI stays H×W×1).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from monai_despeckle import io
from monai_despeckle.errors import InvalidParameterError, UnsupportedFormatError
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.io.registry import BY_SUFFIX, DICOM, suffix_of

__all__ = [
    "LABEL_DTYPES",
    "image_dtype",
    "image_result",
    "label_dtype",
    "label_result",
    "result_suffix",
    "write_result",
]

LABEL_DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")
# Raster formats store labels losslessly only as these integer types; JPEG never does.
RASTER_LABEL_DTYPES = {
    ".png": ("uint8", "uint16"),
    ".tif": ("uint8", "uint16"),
    ".tiff": ("uint8", "uint16"),
    ".bmp": ("uint8",),
}
LOSSY_SUFFIXES = (".jpg", ".jpeg")
DEFAULT_LABEL_SUFFIX = ".nii.gz"


def result_suffix(request: Mapping[str, Any], image: UltrasoundImage, *, label_map: bool) -> str:
    """The result's file suffix: ``result_extension`` if given, else the input's own.

    A label map is never DICOM (an input DICOM gets ``.nii.gz``) and never a lossy raster format.
    """
    asked = request.get("result_extension")
    if asked:
        suffix = str(asked).lower()
        suffix = suffix if suffix.startswith(".") else f".{suffix}"
        if suffix not in BY_SUFFIX:
            raise UnsupportedFormatError(
                f"unknown result_extension {asked!r}; choose one of {', '.join(BY_SUFFIX)}"
            )
    else:
        suffix = suffix_of(image.source) if image.source is not None else DEFAULT_LABEL_SUFFIX
        if suffix not in BY_SUFFIX or (label_map and BY_SUFFIX[suffix] is DICOM):
            suffix = DEFAULT_LABEL_SUFFIX
    if label_map and (BY_SUFFIX[suffix] is DICOM or suffix in LOSSY_SUFFIXES):
        raise UnsupportedFormatError(
            f"label maps are not written as {suffix}: use .nrrd, .nii.gz, .mha, .png, .tif or .bmp"
        )
    return suffix


def _dtype(value: Any, allowed: tuple[str, ...] | None = None) -> np.dtype:
    try:
        dtype = np.dtype(str(value))
    except TypeError:
        raise InvalidParameterError(f"unknown result_dtype {value!r}") from None
    if allowed is not None and dtype.name not in allowed:
        raise InvalidParameterError(f"result_dtype {value!r} is not one of {', '.join(allowed)}")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise InvalidParameterError(f"result_dtype {value!r} is not a numeric type")
    return dtype


def label_dtype(value: Any, suffix: str) -> np.dtype:
    """The pixel type of a label map written as ``suffix`` (``result_dtype``; default uint8)."""
    wanted = _dtype(value or "uint8", LABEL_DTYPES)
    raster = RASTER_LABEL_DTYPES.get(suffix)
    if raster is not None and wanted.name not in raster:
        raise InvalidParameterError(
            f"{suffix} label maps are stored as {' or '.join(raster)}, not {wanted.name}"
        )
    return wanted


def label_result(
    image: UltrasoundImage, labels: np.ndarray, names: Mapping[str, int], dtype: np.dtype
) -> UltrasoundImage:
    """A label map ``[T, H, W]`` of ``image`` as an image with its geometry, stored as ``dtype``.

    Frames hold ``label / scale`` with ``scale`` a power of two, and the intensity mapping stores
    them as ``label`` in ``dtype``: exact for integer and floating types alike.
    """
    labels = np.asarray(labels)
    if labels.shape != image.frames.shape:
        raise ValueError(f"labels {labels.shape} do not match the frames {image.frames.shape}")
    scale = float(2 ** int(np.ceil(np.log2(max(2, int(labels.max(initial=0)) + 1)))))
    return dataclasses.replace(
        image,
        frames=labels.astype(np.float32) / np.float32(scale),
        intensity=IntensityMapping(np.dtype(dtype).name, 0.0, scale),
        metadata={"labels": dict(names), "derivation_description": "segmentation (monai-despeckle)"},
    )


def image_dtype(value: Any) -> np.dtype | None:
    """The pixel type asked for a despeckled image (``result_dtype``), None to keep the input's."""
    return _dtype(value) if value else None


def image_result(image: UltrasoundImage, dtype: np.dtype | None) -> UltrasoundImage:
    """A despeckled image stored as ``dtype`` (None: the input's own type and range).

    A floating type, or an integer type holding the input's range, keeps the values; any other
    integer type spreads the display range over ``0 … max`` of that type.
    """
    if dtype is None:
        return image
    low, high = image.intensity.low, image.intensity.high
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        source_is_integer = np.issubdtype(np.dtype(image.intensity.dtype), np.integer)
        if not (source_is_integer and info.min <= low and high <= info.max):
            low, high = 0.0, float(info.max)
    return dataclasses.replace(image, intensity=IntensityMapping(np.dtype(dtype).name, low, high))


def write_result(image: UltrasoundImage, suffix: str) -> Path:
    """Write ``image`` to a new temporary file with ``suffix``; MONAI Label deletes it after sending."""
    handle, name = tempfile.mkstemp(prefix="monai_despeckle_result_", suffix=suffix)
    os.close(handle)
    try:
        return io.save(image, name, overwrite=True)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
