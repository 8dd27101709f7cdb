"""Run a network at the speckle grain it was trained at: the resampling policy and the resampling.

A learned despeckler sees speckle as a texture of a certain grain, in pixels. Trained on 128²
frames of a 40 mm field of view, the shipped networks saw grains of about 1–3.5 px; the same
tissue on a 512-pixel-wide frame has a lateral grain of about 10 px, which they were never shown
and leave half-removed (``docs/benchmarks.md``). So a bundle records the grain of its training
inputs (:class:`TrainedGrain`, in ``metadata.json`` under :data:`GRAIN_KEY`), inference measures
the grain of each image (:func:`monai_despeckle.metrics.speckle_size.estimate_speckle_size`), and
:func:`resample_factors` says how far to resample each axis so that the grain falls inside the
trained range: no further than its edge, so as little detail as possible is lost, and not at all
where it already lies inside. The network runs on the resampled frames and its output is
resampled back to the input grid (:func:`resample`).

Only the axes named in ``TrainedGrain.axes`` are resampled (for the shipped bundles only the
lateral one), and never by more than :data:`MAX_RESAMPLE` (2×). On phantoms kept apart for
tuning (seeds 3000–3003, never the evaluation seeds), bringing the lateral grain into range
raised the default network from 28.9 to 29.9 dB (256²) and from 25.3 to 29.1 dB (512², without
the bound), while resampling depth as well lost 1.2–1.5 dB of that: the axial
resolution of ultrasound is finer than the lateral one, and the thin specular boundaries it
resolves in depth (vessel walls, fascia) do not survive a coarser depth grid.

The 2× bound is for real frames. Their measured grain includes tissue texture as well as speckle
(BUSI and CCAUI frames measure 15–30 px across the beam), and shrinking them all the way to the
trained grain (6–9×) smeared every structure across the beam when the output was enlarged back:
on CCAUI *train* frames the default network's lumen gCNR fell from 0.539 (native) to 0.521, while
a 2× shrink raised it to 0.545 and GLCM homogeneity from 0.729 to 0.743. On the tuning phantoms
the bound gives up part of the gain at 512² only (the grain there is 3.6× the trained one).

Written by hand because no library resamples by a measured texture scale; the resampling itself
is torch's (anti-aliased bilinear down, bicubic back up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "AXES",
    "GRAIN_KEY",
    "MAX_RESAMPLE",
    "MIN_RESAMPLED_SIDE",
    "PERCENTILES",
    "GrainRange",
    "TrainedGrain",
    "resample",
    "resample_factors",
    "resampled_shape",
]

GRAIN_KEY = "speckle_grain"  # where a bundle's metadata.json records its TrainedGrain
PERCENTILES = (5.0, 50.0, 95.0)  # of the training inputs' grain: the low edge, median, high edge
PERCENTILE_KEYS = ("p5", "p50", "p95")
AXES = ("axial", "lateral")  # rows (depth) and columns (across the beam)
# an axis is never shrunk or enlarged more than this: see the module docstring
MAX_RESAMPLE = 2.0
MIN_RESAMPLED_SIDE = 16  # a frame is never shrunk below this many pixels along an axis
NEGLIGIBLE = 0.05  # a resampling that changes a side by less than 5 % is not worth its blur


@dataclass(frozen=True)
class GrainRange:
    """The speckle grain (FWHM of the autocovariance peak, px) a network saw along one axis."""

    low: float  # 5th percentile over the training inputs
    median: float
    high: float  # 95th percentile: the range holds 90 % of them

    def __post_init__(self) -> None:
        if not 0.0 < self.low <= self.median <= self.high or not math.isfinite(self.high):
            raise ValueError(f"a grain range needs 0 < low <= median <= high, got {self}")


@dataclass(frozen=True)
class TrainedGrain:
    """The speckle grain of a network's training inputs, and which axes inference may resample.

    Attributes:
        axial: the grain range along depth (rows).
        lateral: the grain range across the beam (columns).
        axes: the axes inference resamples (a subset of :data:`AXES`).
        pixel_mm: the physical pixel size of the training frames where it is known (simulated
            phantoms), for the record; None for real frames of unknown spacing.
        measured_on: how many training inputs of which source were measured (provenance).
    """

    axial: GrainRange
    lateral: GrainRange
    axes: tuple[str, ...] = ("lateral",)
    pixel_mm: float | None = None
    measured_on: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.axes) - set(AXES)
        if unknown:
            raise ValueError(f"unknown axes {sorted(unknown)}; choose from {', '.join(AXES)}")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> TrainedGrain | None:
        """The grain a bundle's metadata records, or None if it records none.

        Raises:
            ValueError: the entry is there but malformed.
        """
        entry = metadata.get(GRAIN_KEY)
        if entry is None:
            return None
        try:
            ranges = {
                axis: GrainRange(*(float(entry[f"{axis}_px"][key]) for key in PERCENTILE_KEYS))
                for axis in AXES
            }
            pixel = entry.get("pixel_mm")
            return cls(
                axial=ranges["axial"],
                lateral=ranges["lateral"],
                axes=tuple(str(a) for a in entry.get("resample_axes", ("lateral",))),
                pixel_mm=None if pixel is None else float(pixel),
                measured_on=str(entry.get("measured_on", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"malformed {GRAIN_KEY!r} in the bundle metadata: {err}") from None

    def as_metadata(self) -> dict[str, Any]:
        """The JSON entry :meth:`from_metadata` reads."""

        def percentiles(grain: GrainRange) -> dict[str, float]:
            values = (grain.low, grain.median, grain.high)
            return {key: round(value, 3) for key, value in zip(PERCENTILE_KEYS, values, strict=True)}

        return {
            "axial_px": percentiles(self.axial),
            "lateral_px": percentiles(self.lateral),
            "resample_axes": list(self.axes),
            "pixel_mm": self.pixel_mm,
            "measured_on": self.measured_on,
        }


def _axis_factor(measured: float, trained: GrainRange) -> float:
    """New size / old size along one axis so that ``measured`` lands inside ``trained``."""
    if not math.isfinite(measured) or measured <= 0.0:
        return 1.0
    if measured > trained.high:
        factor = max(trained.high / measured, 1.0 / MAX_RESAMPLE)
    elif measured < trained.low:
        factor = min(trained.low / measured, MAX_RESAMPLE)
    else:
        return 1.0
    return 1.0 if abs(factor - 1.0) < NEGLIGIBLE else factor


def resample_factors(axial_px: float, lateral_px: float, trained: TrainedGrain) -> tuple[float, float]:
    """(rows, columns) size factors that bring a measured grain inside the trained range.

    Axes not in ``trained.axes`` keep factor 1. A factor below 1 shrinks the frame (its grain is
    coarser than any the network saw), above 1 enlarges it (finer), 1 leaves it.
    """
    factors = []
    for axis, measured in zip(AXES, (axial_px, lateral_px), strict=True):
        grain: GrainRange = getattr(trained, axis)
        factors.append(_axis_factor(measured, grain) if axis in trained.axes else 1.0)
    return factors[0], factors[1]


def resampled_shape(shape: tuple[int, int], factors: tuple[float, float]) -> tuple[int, int]:
    """The frame shape after resampling ``shape`` by ``factors`` (at least 16 px a side if shrunk)."""
    sides = []
    for side, factor in zip(shape, factors, strict=True):
        new = round(side * factor)
        sides.append(side if factor == 1.0 else max(new, min(side, MIN_RESAMPLED_SIDE)))
    return sides[0], sides[1]


def resample(frames: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``[N, C, H, W]`` frames resampled to ``shape``: anti-aliased bilinear where an axis shrinks,
    bicubic where it grows (a side that keeps its size is only interpolated along the other).

    ``F.interpolate`` resamples both axes in one call with one mode; shrinking one axis while
    enlarging the other would either alias the one or ring the other, so mixed cases go axis by
    axis.
    """
    height, width = frames.shape[-2:]
    if (height, width) == tuple(shape):
        return frames
    if (shape[0] <= height) == (shape[1] <= width):  # both shrink (or keep) or both grow
        return _interpolate(frames, shape, shrink=shape[0] <= height and shape[1] <= width)
    rows = _interpolate(frames, (shape[0], width), shrink=shape[0] < height)
    return _interpolate(rows, shape, shrink=shape[1] < width)


def _interpolate(frames: torch.Tensor, shape: tuple[int, int], *, shrink: bool) -> torch.Tensor:
    if tuple(frames.shape[-2:]) == tuple(shape):
        return frames
    source = frames if frames.dtype in (torch.float32, torch.float64) else frames.float()
    if shrink:
        return F.interpolate(source, size=shape, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(source, size=shape, mode="bicubic", align_corners=False)
