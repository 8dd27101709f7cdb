"""The pixel grid of a phantom in physical units (mm)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monai_despeckle.errors import InvalidParameterError

MIN_SIZE = 16
"""Smallest phantom side in pixels: below it a lesion or a vessel wall has no room."""


@dataclass(frozen=True)
class PixelGrid:
    """Pixel-centre coordinates of an ``[H, W]`` image, H = axial depth, W = lateral.

    Attributes:
        shape: ``(H, W)``.
        spacing_mm: ``(axial, lateral)`` pixel size in mm.
    """

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]

    @classmethod
    def square(cls, size: int, fov_mm: float, spacing_mm: tuple[float, float] | None = None) -> PixelGrid:
        """A ``size × size`` grid covering ``fov_mm`` unless ``spacing_mm`` is given explicitly.

        Args:
            size: pixels per side (≥ ``MIN_SIZE``).
            fov_mm: field of view (depth and width) used when ``spacing_mm`` is ``None``.
            spacing_mm: ``(axial, lateral)`` pixel size in mm, both finite and > 0.
        """
        if isinstance(size, bool) or int(size) != size or size < MIN_SIZE:
            raise InvalidParameterError(f"phantom size must be an integer ≥ {MIN_SIZE} pixels, got {size!r}")
        if spacing_mm is None:
            spacing_mm = (fov_mm / size, fov_mm / size)
        try:
            spacing = tuple(float(s) for s in spacing_mm)
        except (TypeError, ValueError):
            spacing = ()
        if len(spacing) != 2 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise InvalidParameterError(
                f"spacing_mm must be two positive sizes in mm (axial, lateral), got {spacing_mm!r}"
            )
        return cls((int(size), int(size)), (spacing[0], spacing[1]))

    @property
    def depth(self) -> np.ndarray:
        """``[H, 1]`` depth of each pixel centre below the probe, in mm."""
        return ((np.arange(self.shape[0], dtype=np.float32) + 0.5) * self.spacing_mm[0])[:, None]

    @property
    def lateral(self) -> np.ndarray:
        """``[1, W]`` lateral position of each pixel centre, in mm (0 at the left edge)."""
        return ((np.arange(self.shape[1], dtype=np.float32) + 0.5) * self.spacing_mm[1])[None, :]

    @property
    def extent_mm(self) -> tuple[float, float]:
        """``(depth, width)`` of the field of view in mm."""
        return self.shape[0] * self.spacing_mm[0], self.shape[1] * self.spacing_mm[1]

    def mm_to_px(self, length_mm: float) -> tuple[float, float]:
        """A physical length in pixels along ``(axial, lateral)``."""
        return length_mm / self.spacing_mm[0], length_mm / self.spacing_mm[1]
