"""Areas in mm² only when the pixel size is a real calibration, in px² otherwise.

A PNG or JPEG screen capture has no pixel size: Slicer gives it 1 mm, and an area "in mm²" would be
a pixel count in disguise. A DICOM ultrasound image with several calibration regions (a B-mode
image beside a Doppler strip, or two B-mode panes) has one pixel size per region, so one number for
the whole image may be wrong. In both cases areas are given in px², with a warning saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monai_despeckle.io.dicom.geometry import SPATIAL_FORMAT_2D, UltrasoundRegion

# The pixel size readers and Slicer assume when a file has none.
DEFAULT_SPACING_MM = 1.0


@dataclass(frozen=True)
class AreaUnit:
    """How segmented areas are measured.

    Attributes:
        label: ``"mm²"`` or ``"px²"``.
        pixel_area: the area of one pixel in that unit.
        warning: why the areas are not in mm² (None when they are).
    """

    label: str
    pixel_area: float
    warning: str | None = None

    @property
    def calibrated(self) -> bool:
        """Whether the areas are physical (mm²)."""
        return self.label == "mm²"


PIXELS = AreaUnit("px²", 1.0)


def area_unit(in_plane_spacing_mm: tuple[float, float], regions: Sequence[UltrasoundRegion] = ()) -> AreaUnit:
    """The unit for areas of a frame with this in-plane pixel size and these DICOM regions.

    Args:
        in_plane_spacing_mm: the two pixel sizes of a frame (or of a slice of a volume), in mm.
        regions: the source's ultrasound calibration regions (empty when none or not DICOM).
    """
    planar = [region for region in regions if region.spatial_format == SPATIAL_FORMAT_2D]
    if len(planar) > 1:
        return AreaUnit(
            "px²",
            1.0,
            f"the image has {len(planar)} ultrasound regions, each with its own pixel size: areas are "
            "given in pixels (px²), not mm²",
        )
    if planar and not planar[0].is_tissue:
        return AreaUnit(
            "px²", 1.0, "the ultrasound region is not calibrated in cm: areas are given in pixels (px²)"
        )
    rows, columns = (float(value) for value in in_plane_spacing_mm)
    if not planar and rows == DEFAULT_SPACING_MM and columns == DEFAULT_SPACING_MM:
        return AreaUnit(
            "px²",
            1.0,
            "the image has no pixel size (e.g. a PNG or JPEG capture; 1 mm is only a default): areas "
            "are given in pixels (px²), not mm²",
        )
    return AreaUnit("mm²", rows * columns)
