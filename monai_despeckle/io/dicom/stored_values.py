"""How an image's [0, 1] frames become the values a derived DICOM file stores.

The source's own values are stored where DICOM (and the SOP class) can hold its dtype: 8/16-bit
integers as Pixel Data, and float32 / float64 as Float / Double Float Pixel Data when the source
was itself a float DICOM. Anything else (float from NIfTI or TIFF, 32-bit integers) is stored as
uint16 spanning the source's value range, with Rescale Slope and Intercept that map the stored
values back to the source's (to within half a step), and a warning says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from monai_despeckle.io.dicom.sop import MULTIFRAME_GRAY_BYTE_SC, MULTIFRAME_GRAY_WORD_SC
from monai_despeckle.io.image import IntensityMapping, ValuesConvertedWarning

INTEGER_DTYPES = ("uint8", "uint16", "int8", "int16")  # what Dataset.set_pixel_data stores
FLOAT_KEYWORDS = {"float32": "FloatPixelData", "float64": "DoubleFloatPixelData"}
_SOP_DTYPES: dict[str, tuple[str, ...]] = {
    MULTIFRAME_GRAY_BYTE_SC: ("uint8",),
    MULTIFRAME_GRAY_WORD_SC: ("uint16",),
}
_RESCALED = IntensityMapping("uint16", 0.0, 65535.0)


@dataclass(frozen=True)
class StoredValues:
    """The stored representation of an image's frames.

    Attributes:
        mapping: [0, 1] frames → stored values (``mapping.dtype`` is the stored dtype).
        keyword: ``PixelData``, ``FloatPixelData`` or ``DoubleFloatPixelData``.
        source_values: the stored values are the source's own (its value attributes stay valid).
        rescale: (slope, intercept) mapping stored values to the source's, when they are not its own.
    """

    mapping: IntensityMapping
    keyword: str
    source_values: bool
    rescale: tuple[float, float] | None = None

    def values(self, frames: np.ndarray) -> np.ndarray:
        """The stored values of float frames in [0, 1]."""
        return self.mapping.from_unit(frames)


def stored_values(intensity: IntensityMapping, sop_class: str, source_keyword: str | None) -> StoredValues:
    """How frames with the source mapping ``intensity`` are stored under ``sop_class``.

    Args:
        intensity: the image's mapping to its source values.
        sop_class: the SOP class UID the output is written as.
        source_keyword: the pixel element the source DICOM used (None if not a DICOM).
    """
    if intensity.dtype in _SOP_DTYPES.get(sop_class, INTEGER_DTYPES):
        return StoredValues(intensity, "PixelData", True)
    float_keyword = FLOAT_KEYWORDS.get(intensity.dtype)
    if float_keyword is not None and float_keyword == source_keyword:
        return StoredValues(intensity, float_keyword, True)
    slope = (intensity.high - intensity.low) / (_RESCALED.high - _RESCALED.low)
    return StoredValues(_RESCALED, "PixelData", False, (slope, intensity.low))


def state_conversion(stored: StoredValues, dtype: str, name: str) -> None:
    """Warn that the source's values are stored rescaled (does nothing when they are kept)."""
    if stored.rescale is None:
        return
    slope, intercept = stored.rescale
    warnings.warn(
        f"{name}: DICOM cannot store {dtype} values here; stored as uint16 with Rescale Slope "
        f"{slope:.6g} and Rescale Intercept {intercept:.6g}, which give back the source values to within "
        f"{slope / 2:.3g}",
        ValuesConvertedWarning,
        stacklevel=4,
    )
