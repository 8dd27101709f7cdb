"""Breast ultrasound phantom: skin, subcutaneous fat, fibroglandular tissue, pectoral muscle, lesions.

The layering and the lesion appearances follow the sonographic descriptors of the ACR BI-RADS
ultrasound lexicon (shape, orientation, margin, echo pattern, posterior features): benign
fibroadenoma-like masses are oval, circumscribed, wider than tall, hypoechoic, sometimes with
posterior enhancement; carcinomas are irregular with spiculated margins, may be taller than wide,
have an echogenic halo and cast a posterior acoustic shadow; simple cysts are anechoic, sharply
marginated, with posterior enhancement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.simulation.grid import PixelGrid
from monai_despeckle.simulation.render import render_phantom
from monai_despeckle.simulation.sample import Anatomy, PhantomSample
from monai_despeckle.simulation.shapes import (
    Ellipse,
    RadialBoundary,
    boundary_distance,
    posterior_gain,
)
from monai_despeckle.simulation.texture import (
    db_to_power,
    layer_index,
    ridges,
    smooth_curve,
    smooth_field,
)

if TYPE_CHECKING:
    from monai_despeckle.speckle.physics import PhysicsSpeckleParams

BREAST_FOV_MM = 40.0
"""Default square field of view (depth and width) of a linear breast probe, in mm."""


@dataclass(frozen=True)
class LesionStyle:
    """Ranges the random draws of one lesion type come from (dB relative to glandular tissue).

    Attributes:
        level_db: echo level range inside; ``None`` for anechoic fluid.
        half_width_mm: range of the lateral semi-axis.
        aspect: range of height / width (> 1 is "taller than wide").
        tilt_deg: maximum rotation of the long axis.
        lobulation: range of the boundary's harmonic amplitude.
        spicules: range (inclusive) of the number of spicules.
        posterior: range of the posterior gain factor (< 1 shadow, > 1 enhancement).
        posterior_probability: chance that the posterior feature is present.
        fade_mm: range of the depth over which the posterior feature fades.
        heterogeneity_db: standard deviation of the internal texture.
        halo_db: brightness of the echogenic rim just outside the margin.
        margin_blur: width of the transition at the margin, relative to the radius (0 = sharp,
            "circumscribed"; larger = "indistinct").
    """

    level_db: tuple[float, float] | None
    half_width_mm: tuple[float, float]
    aspect: tuple[float, float]
    tilt_deg: float
    lobulation: tuple[float, float]
    spicules: tuple[int, int]
    posterior: tuple[float, float]
    posterior_probability: float
    fade_mm: tuple[float, float]
    heterogeneity_db: float
    halo_db: float
    margin_blur: float


LESION_STYLES: dict[str, LesionStyle] = {
    "benign": LesionStyle((-20.0, -15.0), (3.0, 8.0), (0.45, 0.8), 15.0, (0.0, 0.1), (0, 0),
                          (1.4, 2.2), 0.6, (6.0, 12.0), 1.5, 0.0, 0.0),
    "malignant": LesionStyle((-22.0, -17.0), (3.0, 7.0), (0.8, 1.4), 30.0, (0.1, 0.25), (4, 9),
                             (0.04, 0.15), 1.0, (15.0, 30.0), 3.5, 5.0, 0.08),
    "cyst": LesionStyle(None, (2.0, 6.0), (0.6, 1.0), 20.0, (0.0, 0.03), (0, 0),
                        (4.0, 10.0), 1.0, (10.0, 20.0), 0.0, 0.0, 0.0),
}  # fmt: skip
LESION_TYPES: tuple[str, ...] = (*LESION_STYLES, "none")
_LESION_PROBABILITIES = (0.4, 0.3, 0.2, 0.1)  # benign, malignant, cyst, none (BUSI-like mix)

# Echo levels in dB relative to fibroglandular tissue (0 dB = echogenicity 1).
TISSUE_DB: dict[str, float] = {
    "skin_line": 14.0,  # transducer / skin interface
    "dermis": 4.0,
    "fat": -11.0,
    "gland": 0.0,
    "ligament": 10.0,  # Cooper's ligaments and fibrous strands
    "fascia": 9.0,
    "muscle": -7.0,
    "chest_wall": -13.0,
    "rib_surface": 16.0,
}


def simulate_breast(
    size: int = 256,
    seed: int = 0,
    *,
    spacing_mm: tuple[float, float] | None = None,
    lesion: str = "random",
    physics: PhysicsSpeckleParams | None = None,
) -> PhantomSample:
    """Simulate a breast B-mode image with a lesion mask.

    Args:
        size: image height and width in pixels.
        seed: random seed; the same seed gives the same phantom.
        spacing_mm: ``(axial, lateral)`` pixel size; default covers a 40 mm × 40 mm field of view.
        lesion: ``"benign"``, ``"malignant"``, ``"cyst"``, ``"none"`` or ``"random"``.
        physics: transducer / display parameters of the speckle model (defaults if ``None``).

    Returns:
        a :class:`PhantomSample` of kind ``"breast"`` with mask ``"lesion"`` (empty for ``"none"``).
    """
    rng = np.random.default_rng(seed)
    grid = PixelGrid.square(size, BREAST_FOV_MM, spacing_mm)
    anatomy = breast_anatomy(grid, rng, lesion=lesion)
    anatomy.params["seed"] = int(seed)
    return render_phantom(anatomy, grid, "breast", rng, physics)


def breast_anatomy(grid: PixelGrid, rng: np.random.Generator, *, lesion: str = "random") -> Anatomy:
    """Echogenicity map and lesion mask of a breast phantom (no imaging).

    Args:
        grid: pixel grid in mm.
        rng: source of randomness.
        lesion: lesion type, see :func:`simulate_breast`.
    """
    if lesion == "random":
        lesion = str(rng.choice(LESION_TYPES, p=_LESION_PROBABILITIES))
    if lesion not in LESION_TYPES:
        raise InvalidParameterError(
            f"unknown breast lesion type {lesion!r}; choose from random, {', '.join(LESION_TYPES)}"
        )
    echo, layers = _breast_tissue(grid, rng)
    params: dict[str, Any] = {"fov_mm": list(grid.extent_mm), "layers": layers}
    mask = np.zeros(grid.shape, dtype=bool)
    if lesion != "none":
        mask, params["lesion"] = _add_lesion(echo, grid, rng, LESION_STYLES[lesion], layers)
    params["lesion_type"] = lesion
    return Anatomy(echo, {"lesion": mask.astype(np.uint8)}, params)


def _breast_tissue(grid: PixelGrid, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Layered, textured background echogenicity and the drawn layer depths."""
    sy, sx = grid.spacing_mm
    width = grid.shape[1]
    depth = grid.depth

    def field(axial_mm: float, lateral_mm: float) -> np.ndarray:
        return smooth_field(rng, grid.shape, (axial_mm / sy, lateral_mm / sx))

    def curve(amplitude_mm: float, length_mm: float) -> np.ndarray:
        return amplitude_mm * smooth_curve(rng, width, length_mm / sx)

    slope = rng.uniform(-0.15, 0.15) * (grid.lateral[0] - 0.5 * grid.extent_mm[1])  # tilted layers
    skin = rng.uniform(1.2, 2.2) + curve(0.15, 10.0)
    fat = np.maximum(skin + 1.0, skin + rng.uniform(3.0, 9.0) + slope + curve(1.5, 8.0))
    gland = np.maximum(fat + 4.0, fat + rng.uniform(14.0, 20.0) + slope + curve(1.0, 20.0))
    retro = gland + rng.uniform(0.8, 2.0)
    muscle = retro + np.maximum(2.0, rng.uniform(5.0, 9.0) + curve(0.8, 12.0))
    layer = layer_index(depth, [skin, fat, gland, retro, muscle])

    lobules = field(1.2, 2.0)
    texture = field(0.3, 1.2)
    arcs = 1.0 / (1.0 + np.exp(-3.0 * field(3.0, 6.0)))  # breaks ligament level sets into arcs
    fat_ligaments = (TISSUE_DB["ligament"] - TISSUE_DB["fat"]) * ridges(field(1.2, 6.0), 0.2) * arcs
    # Fibrous strands: two families of thin, mostly horizontal bright curves.
    strands = np.maximum(ridges(field(1.0, 6.0), 0.12), ridges(field(0.6, 5.0), 0.15)) * arcs
    gland_ligaments = (TISSUE_DB["ligament"] - TISSUE_DB["gland"]) * strands
    fat_islands = 9.0 / (1.0 + np.exp(-4.0 * (lobules - 0.6)))  # fat lobules inside the gland
    striations = 8.0 * ridges(field(0.25, 8.0), 0.35)  # perimysium between muscle fascicles
    db = np.stack(
        [
            TISSUE_DB["dermis"] + 1.5 * texture,
            TISSUE_DB["fat"] + 2.5 * lobules + fat_ligaments,
            TISSUE_DB["gland"] + 4.0 * texture - fat_islands + gland_ligaments,
            TISSUE_DB["fat"] - 1.0 + 2.0 * lobules,
            TISSUE_DB["muscle"] + 1.0 * texture + striations,
            TISSUE_DB["chest_wall"] + 3.0 * lobules,
        ]
    )
    # Textures add in dB; cap them so no tissue outshines its brightest fibrous strands.
    db = np.minimum(np.take_along_axis(db, layer[None], axis=0)[0], TISSUE_DB["ligament"] + 2.0)
    echo = db_to_power(db)

    # Bright specular lines: the skin entry echo and the fascial planes between layers.
    echo += db_to_power(TISSUE_DB["skin_line"]) * np.exp(-np.square((depth - 0.35) / 0.25))
    for boundary, gain_db in ((fat, 4.0), (gland, 3.0), (retro, 8.0), (muscle, 6.0)):
        echo += db_to_power(gain_db) * np.exp(-np.square((depth - boundary[None, :]) / 0.3))

    rib = None
    if rng.random() < 0.3 and float(muscle.mean()) + 4.0 < grid.extent_mm[0]:
        rib = _add_rib(echo, grid, rng, float(muscle.mean()))
    tgc_residual = float(rng.uniform(0.0, 0.12))  # dB/mm left over after time-gain compensation
    echo *= db_to_power(-tgc_residual * depth)
    layers = {
        "skin_mm": float(skin.mean()),
        "fat_bottom_mm": float(fat.mean()),
        "gland_bottom_mm": float(gland.mean()),
        "retromammary_bottom_mm": float(retro.mean()),
        "muscle_bottom_mm": float(muscle.mean()),
        "rib": rib,
        "tgc_residual_db_per_mm": tgc_residual,
    }
    return echo.astype(np.float32), layers


def _add_rib(echo: np.ndarray, grid: PixelGrid, rng: np.random.Generator, top_mm: float) -> dict[str, Any]:
    """A rib under the muscle: bright curved cortical surface, complete acoustic shadow below."""
    rib = Ellipse(
        (top_mm + rng.uniform(3.0, 5.0), rng.uniform(0.2, 0.8) * grid.extent_mm[1]),
        (rng.uniform(5.0, 9.0), rng.uniform(2.0, 3.0)),
    )
    rho, theta = rib.polar(grid)
    surface = np.exp(-np.square((rho - 1.0) / 0.12)) * (theta < 0)  # upper half of the cortex
    inside = rho <= 1.0
    echo *= posterior_gain(inside, grid, 0.02, 0.5, 200.0)
    echo[inside] *= 0.05
    echo += db_to_power(TISSUE_DB["rib_surface"]) * surface
    return rib.to_dict()


def _add_lesion(
    echo: np.ndarray,
    grid: PixelGrid,
    rng: np.random.Generator,
    style: LesionStyle,
    layers: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw a lesion, paint it into ``echo`` in place and return its mask and parameters."""
    depth_extent, width_extent = grid.extent_mm
    half_width = rng.uniform(*style.half_width_mm)
    half_height = half_width * rng.uniform(*style.aspect)
    boundary = RadialBoundary.random(
        rng, rng.uniform(*style.lobulation), int(rng.integers(style.spicules[0], style.spicules[1] + 1))
    )
    # Keep the whole lesion (spicules included) inside the image, whatever the field of view.
    limit = 0.3 * min(depth_extent, width_extent) / boundary.max_radius
    scale = min(1.0, limit / max(half_width, half_height))
    half_width, half_height = half_width * scale, half_height * scale
    reach = boundary.max_radius * max(half_width, half_height) + 2.0 * max(grid.spacing_mm)
    # Mostly inside the fibroglandular layer, where carcinomas and fibroadenomas arise.
    low = max(reach, layers["fat_bottom_mm"] + half_height, 0.25 * depth_extent)
    high = min(depth_extent - reach, layers["gland_bottom_mm"] - half_height, 0.6 * depth_extent)
    center_depth = (
        rng.uniform(low, high) if high > low else rng.uniform(reach, max(reach, depth_extent - reach))
    )
    center_lateral = rng.uniform(reach, max(reach, width_extent - reach))
    ellipse = Ellipse(
        (float(center_depth), float(center_lateral)),
        (float(half_width), float(half_height)),
        float(np.deg2rad(rng.uniform(-style.tilt_deg, style.tilt_deg))),
    )
    distance = boundary_distance(ellipse, boundary, grid)
    mask = distance <= 1.0
    if not mask.any():  # sub-pixel lesion on a very coarse grid: keep at least its centre pixel
        mask[np.unravel_index(np.argmin(distance), distance.shape)] = True

    posterior = 1.0
    if rng.random() < style.posterior_probability:
        posterior = float(rng.uniform(*style.posterior))
        fade = float(rng.uniform(*style.fade_mm))
        echo *= posterior_gain(mask, grid, posterior, saturation_mm=0.6 * half_height, fade_mm=fade)
    if style.halo_db > 0:  # echogenic halo: a bright, ill-defined rim outside the margin
        halo = np.exp(-np.square((distance - 1.15) / 0.12)) * (distance > 1.0)
        echo *= db_to_power(style.halo_db * halo)

    level, inside = None, np.zeros(grid.shape, dtype=np.float32)  # anechoic fluid by default
    if style.level_db is not None:
        level = float(rng.uniform(*style.level_db))
        sy, sx = grid.spacing_mm
        inside = db_to_power(
            level + style.heterogeneity_db * smooth_field(rng, grid.shape, (0.7 / sy, 0.7 / sx))
        )
    if style.margin_blur > 0:  # indistinct margin: blend over a band around the contour
        weight = np.clip(0.5 + (1.0 - distance) / (2.0 * style.margin_blur), 0.0, 1.0)
        weight[mask] = np.maximum(weight[mask], 0.5)
    else:
        weight = mask.astype(np.float32)
    echo *= 1.0 - weight
    echo += weight * inside
    params = {
        "ellipse": ellipse.to_dict(),
        "boundary": boundary.to_dict(),
        "level_db": level,
        "posterior_factor": posterior,
        "halo_db": style.halo_db,
    }
    return mask, params
