"""Shapes of lesions and vessels on a :class:`PixelGrid`, and their posterior acoustic effects.

Every function works on whole arrays (no per-pixel Python loops) and in millimetres, so a phantom
looks the same at any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from monai_despeckle.simulation.grid import PixelGrid

_RADIUS_TABLE_SIZE = 4096  # angular samples of a RadialBoundary (< 0.1° apart)


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in mm: centre ``(depth, lateral)``, semi-axes ``(lateral, axial)`` before rotation.

    Attributes:
        center_mm: ``(depth, lateral)`` of the centre.
        semi_axes_mm: ``(a, b)``: half-width along the (rotated) lateral axis and half-height
            along the (rotated) axial axis. ``a > b`` is "wider than tall".
        angle_rad: rotation, positive turns the lateral axis towards depth.
    """

    center_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    angle_rad: float = 0.0

    def polar(self, grid: PixelGrid) -> tuple[np.ndarray, np.ndarray]:
        """Normalised radius (1 on the ellipse) and polar angle of every pixel, both ``[H, W]``."""
        dy = grid.depth - self.center_mm[0]
        dx = grid.lateral - self.center_mm[1]
        cos, sin = np.cos(self.angle_rad), np.sin(self.angle_rad)
        u = (dx * cos + dy * sin) / self.semi_axes_mm[0]
        v = (-dx * sin + dy * cos) / self.semi_axes_mm[1]
        return np.hypot(u, v), np.arctan2(v, u)

    def mask(self, grid: PixelGrid) -> np.ndarray:
        """Boolean ``[H, W]``: pixels whose centre is inside the ellipse."""
        return self.polar(grid)[0] <= 1.0

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RadialBoundary:
    """A closed contour ``r(θ)`` relative to an ellipse: lobulation harmonics plus spicules.

    ``r(θ) = 1 + Σ_k a_k cos(kθ + φ_k) + Σ_j s_j · max(0, 1 − |θ − θ_j| / w_j)³``. Low harmonics
    give the gentle lobulation of benign masses; narrow spikes give the spiculated, angular
    margins typical of malignancy (BI-RADS "not circumscribed" margins).

    Attributes:
        harmonics: ``(k, a_k, φ_k)`` triples.
        spicules: ``(θ_j, s_j, w_j)`` triples (angle, relative length, half-width in rad).
    """

    harmonics: tuple[tuple[int, float, float], ...] = ()
    spicules: tuple[tuple[float, float, float], ...] = field(default=())

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        lobulation: float,
        n_spicules: int = 0,
        spicule_length: tuple[float, float] = (0.15, 0.45),
    ) -> RadialBoundary:
        """Draw a boundary.

        Args:
            rng: source of randomness.
            lobulation: total amplitude of the harmonics 2..7 (0 = the plain ellipse).
            n_spicules: number of spikes.
            spicule_length: range of the spikes' relative length.
        """
        orders = np.arange(2, 8)
        weights = rng.uniform(0.2, 1.0, orders.size) / orders  # rougher orders get less energy
        amps = lobulation * weights / weights.sum()
        phases = rng.uniform(0, 2 * np.pi, orders.size)
        harmonics = tuple((int(k), float(a), float(p)) for k, a, p in zip(orders, amps, phases, strict=True))
        angles = rng.uniform(-np.pi, np.pi, n_spicules)
        lengths = rng.uniform(*spicule_length, n_spicules)
        widths = rng.uniform(0.08, 0.18, n_spicules)
        spicules = tuple(
            (float(t), float(s), float(w)) for t, s, w in zip(angles, lengths, widths, strict=True)
        )
        return cls(harmonics, spicules)

    def radius(self, theta: np.ndarray) -> np.ndarray:
        """``r(θ)`` for an array of angles (in radians, any range)."""
        # Evaluate on a fine periodic table and look the pixels up: the sums cost O(table) instead
        # of O(pixels × terms).
        table_theta = np.linspace(-np.pi, np.pi, _RADIUS_TABLE_SIZE, endpoint=False)
        table = np.ones_like(table_theta)
        for k, a, p in self.harmonics:
            table += a * np.cos(k * table_theta + p)
        for t, s, w in self.spicules:
            delta = np.abs(np.angle(np.exp(1j * (table_theta - t))))  # wrapped to [0, π]
            table += s * np.clip(1.0 - delta / w, 0.0, None) ** 3
        index = np.rint((np.asarray(theta) + np.pi) * (_RADIUS_TABLE_SIZE / (2 * np.pi))).astype(np.int64)
        return table[index % _RADIUS_TABLE_SIZE].astype(np.float32)

    @property
    def max_radius(self) -> float:
        """An upper bound of ``r(θ)``, to keep the shape inside the image."""
        return (
            1.0 + sum(abs(a) for _, a, _ in self.harmonics) + max((s for _, s, _ in self.spicules), default=0)
        )

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        return {"harmonics": [list(h) for h in self.harmonics], "spicules": [list(s) for s in self.spicules]}


def boundary_distance(ellipse: Ellipse, boundary: RadialBoundary, grid: PixelGrid) -> np.ndarray:
    """``ρ / r(θ)`` for every pixel: < 1 inside the contour, 1 on it, > 1 outside."""
    rho, theta = ellipse.polar(grid)
    return rho / boundary.radius(theta)


def posterior_gain(
    mask: np.ndarray,
    grid: PixelGrid,
    peak_factor: float,
    saturation_mm: float,
    fade_mm: float,
    blur_mm: float = 0.5,
) -> np.ndarray:
    """Multiplicative echogenicity change beneath a structure: acoustic shadow or enhancement.

    The beam travels down the columns. A structure that attenuates more than tissue (a solid,
    desmoplastic carcinoma, a calcification) leaves a shadow below it; one that attenuates less
    (fluid in a cyst or a vessel) leaves posterior enhancement, because time-gain compensation
    assumes tissue attenuation. The effect grows with the path length through the structure
    (saturating after ``saturation_mm``) and fades with depth below it (side lobes and
    refraction refill the column), over ``fade_mm``.

    Args:
        mask: boolean ``[H, W]`` structure.
        grid: pixel grid (for mm).
        peak_factor: gain far below a thick structure: < 1 shadows, > 1 enhances.
        saturation_mm: path length at which the effect reaches ~76% of the peak (tanh(1)).
        fade_mm: e-folding depth of the recovery below the structure.
        blur_mm: lateral softening of the column edges.

    Returns:
        float32 ``[H, W]`` gain, 1 outside the columns below the structure and inside it.
    """
    mask = np.asarray(mask, dtype=bool)
    height = mask.shape[0]
    path_mm = np.cumsum(mask, axis=0, dtype=np.float32) * np.float32(grid.spacing_mm[0])
    bottom = height - 1 - np.argmax(mask[::-1], axis=0)  # last row of the structure per column
    rows = np.arange(height, dtype=np.float32)[:, None]
    below_mm = np.clip(rows - bottom[None, :], 0, None) * np.float32(grid.spacing_mm[0])
    strength = np.tanh(path_mm / saturation_mm) * np.exp(-below_mm / fade_mm)
    strength[mask] = 0.0
    log_gain = np.float32(np.log(peak_factor)) * strength
    sigma_px = blur_mm / grid.spacing_mm[1]
    if sigma_px > 0.3:
        log_gain = ndimage.gaussian_filter1d(log_gain, sigma_px, axis=1, mode="nearest")
        log_gain[mask] = 0.0  # the blur must not shade the structure itself
    return np.exp(log_gain).astype(np.float32)


def distance_outside(mask: np.ndarray, grid: PixelGrid) -> np.ndarray:
    """Euclidean distance in mm from each pixel outside ``mask`` to the nearest mask pixel (0 inside)."""
    return ndimage.distance_transform_edt(~np.asarray(mask, dtype=bool), sampling=grid.spacing_mm).astype(
        np.float32
    )


def distance_inside(mask: np.ndarray, grid: PixelGrid) -> np.ndarray:
    """Euclidean distance in mm from each pixel inside ``mask`` to the nearest pixel outside (0 outside)."""
    return ndimage.distance_transform_edt(np.asarray(mask, dtype=bool), sampling=grid.spacing_mm).astype(
        np.float32
    )


def _plain(value):
    """Tuples of numpy scalars -> lists of floats, for JSON."""
    if isinstance(value, tuple | list):
        return [float(v) for v in value]
    return float(value)
