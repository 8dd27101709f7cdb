"""Physical geometry of a DICOM image: pixel size, frame time, patient position.

Ultrasound images rarely carry Pixel Spacing; their calibration lives in the US Region
Calibration module (PS3.3 C.8.5.5): a sequence of rectangular regions, each with its own
spatial format, physical units and pixel size. A typical B-mode screen holds one 2-D tissue
region, often next to a Doppler or M-mode strip with other units.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from monai_despeckle.io.image import float_triple
from monai_despeckle.io.validation import DEFAULT_DIRECTION

CM_TO_MM = 10.0
SPATIAL_FORMAT_2D = 1  # RegionSpatialFormat: 2D tissue or flow
UNITS_CM = 3  # PhysicalUnitsX/YDirection: centimetres


_PLANE_SPACING_SOURCES = (("PixelSpacing", "pixel_spacing"), ("ImagerPixelSpacing", "imager_pixel_spacing"))


class UltrasoundRegionWarning(UserWarning):
    """The ultrasound calibration region used for spacing is not fully inside the image."""


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of Sequence of Ultrasound Regions (coordinates in pixels, inclusive)."""

    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float

    @classmethod
    def from_item(cls, item: Dataset) -> UltrasoundRegion:
        """Parse a region item (missing attributes read as 0)."""
        return cls(
            spatial_format=int(item.get("RegionSpatialFormat", 0)),
            data_type=int(item.get("RegionDataType", 0)),
            x0=int(item.get("RegionLocationMinX0", 0)),
            y0=int(item.get("RegionLocationMinY0", 0)),
            x1=int(item.get("RegionLocationMaxX1", 0)),
            y1=int(item.get("RegionLocationMaxY1", 0)),
            units_x=int(item.get("PhysicalUnitsXDirection", 0)),
            units_y=int(item.get("PhysicalUnitsYDirection", 0)),
            delta_x=abs(float(item.get("PhysicalDeltaX", 0.0))),
            delta_y=abs(float(item.get("PhysicalDeltaY", 0.0))),
        )

    @property
    def is_tissue(self) -> bool:
        """A 2-D region calibrated in cm in both directions, with a usable pixel size."""
        return (
            self.spatial_format == SPATIAL_FORMAT_2D
            and self.units_x == UNITS_CM
            and self.units_y == UNITS_CM
            and self.delta_x > 0
            and self.delta_y > 0
        )

    @property
    def area(self) -> int:
        """Region area in pixels."""
        return max(self.x1 - self.x0 + 1, 0) * max(self.y1 - self.y0 + 1, 0)

    def inside(self, rows: int, columns: int) -> bool:
        """Whether the region lies within a ``rows × columns`` image.

        The standard's bounds are inclusive (max index ``columns - 1``), but many scanners write
        the exclusive bound ``columns``; that one-pixel overshoot is accepted.
        """
        return 0 <= self.x0 <= self.x1 <= columns and 0 <= self.y0 <= self.y1 <= rows

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """(row spacing, column spacing) in mm."""
        return self.delta_y * CM_TO_MM, self.delta_x * CM_TO_MM


def regions(ds: Dataset) -> list[UltrasoundRegion]:
    """All ultrasound calibration regions of a dataset (empty if none)."""
    return [UltrasoundRegion.from_item(item) for item in ds.get("SequenceOfUltrasoundRegions", [])]


def in_plane_spacing(ds: Dataset, path: str | Path | None = None) -> tuple[float, float, str]:
    """Row and column spacing in mm and where they came from.

    Preference: the largest 2-D tissue region (cm units) fully inside the image; else the largest
    such region even if out of bounds (with an :class:`UltrasoundRegionWarning`); else Pixel
    Spacing; else Imager Pixel Spacing; else 1 mm with source ``"default"``.

    Returns:
        ``(row_mm, column_mm, source)`` with source one of ``"ultrasound_region"``,
        ``"ultrasound_region_out_of_bounds"``, ``"pixel_spacing"``, ``"imager_pixel_spacing"``,
        ``"default"``.
    """
    rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    tissue = [region for region in regions(ds) if region.is_tissue]
    inside = [region for region in tissue if region.inside(rows, columns)]
    if inside:
        return (*max(inside, key=lambda r: r.area).spacing_mm, "ultrasound_region")
    if tissue:
        best = max(tissue, key=lambda r: r.area)
        where = f"{path}: " if path is not None else ""
        warnings.warn(
            f"{where}ultrasound region ({best.x0},{best.y0})-({best.x1},{best.y1}) exceeds the "
            f"{columns}x{rows} image; using its pixel size {best.spacing_mm[1]:.4g} mm anyway",
            UltrasoundRegionWarning,
            stacklevel=2,
        )
        return (*best.spacing_mm, "ultrasound_region_out_of_bounds")
    for keyword, source in _PLANE_SPACING_SOURCES:
        value = ds.get(keyword)
        if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
            return float(value[0]), float(value[1]), source
    return 1.0, 1.0, "default"


def region_records(ds: Dataset) -> list[dict[str, float | int]]:
    """Every region as a plain dict (for metadata and ``info --json``)."""
    return [asdict(region) for region in regions(ds)]


def frame_time_ms(ds: Dataset) -> float | None:
    """Frame interval in ms: Frame Time, else 1000 / Cine Rate, else the mean Frame Time Vector step."""
    if ds.get("FrameTime") not in (None, ""):
        value = float(ds.FrameTime)
        if value > 0:
            return value
    if ds.get("CineRate") not in (None, ""):
        rate = float(ds.CineRate)
        if rate > 0:
            return 1000.0 / rate
    vector = ds.get("FrameTimeVector")
    if vector not in (None, ""):
        steps = np.atleast_1d(np.asarray(vector, dtype=float))
        # The first entry is the (zero) offset of frame 1; the rest are inter-frame increments.
        steps = steps[1:] if steps.size > 1 else steps
        if steps.size and steps.mean() > 0:
            return float(steps.mean())
    return None


SLICE_SPACING_KEYWORDS = ("SpacingBetweenSlices", "SliceThickness")


def slice_spacing(ds: Dataset) -> float:
    """Distance between frames of a non-cine multi-frame image (Spacing Between Slices, else Slice
    Thickness, else 1 mm)."""
    for keyword in SLICE_SPACING_KEYWORDS:
        value = ds.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value)
    return 1.0


def patient_position(ds: Dataset) -> tuple[tuple[float, float, float], np.ndarray]:
    """Origin and 3×3 direction (columns for array axes T, H, W) from the Image Plane module.

    Image Orientation (Patient) holds the row direction (along which the column index grows, our
    W axis) then the column direction (our H axis); T is their cross product. Without the module
    the origin is 0 and the direction :data:`~monai_despeckle.io.validation.DEFAULT_DIRECTION`.
    """
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if position is None or orientation is None or len(position) != 3 or len(orientation) != 6:
        return (0.0, 0.0, 0.0), DEFAULT_DIRECTION.copy()
    along_row = np.asarray(orientation[:3], dtype=float)
    along_column = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(along_row, along_column)
    direction = np.column_stack([normal, along_column, along_row])
    return float_triple(position, "ImagePositionPatient"), direction
