"""Carotid ultrasound phantom: common carotid artery in transverse or longitudinal view.

Geometry and echo pattern follow standard carotid sonography: an anechoic lumen of 6–8 mm
diameter; an echogenic intima-media complex 0.5–1 mm thick (the IMT measured clinically),
brightest where the wall is perpendicular to the beam (specular reflection); a bright adventitia;
posterior enhancement beneath the blood-filled lumen; the internal jugular vein as a compressible,
flattened anechoic oval beside the artery; and, optionally, an echogenic plaque bulging into the
lumen (a calcified plaque casts an acoustic shadow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.simulation.grid import PixelGrid
from monai_despeckle.simulation.render import render_phantom
from monai_despeckle.simulation.sample import Anatomy, PhantomSample
from monai_despeckle.simulation.shapes import (
    Ellipse,
    distance_inside,
    distance_outside,
    posterior_gain,
)
from monai_despeckle.simulation.texture import (
    db_to_power,
    fascial_lines,
    layer_index,
    ridges,
    smooth_curve,
    smooth_field,
)

if TYPE_CHECKING:
    from monai_despeckle.speckle.physics import PhysicsSpeckleParams

CAROTID_FOV_MM = 38.0
"""Default square field of view of a linear vascular probe, in mm."""

VIEWS: tuple[str, ...] = ("transverse", "longitudinal")
PLAQUE_PROBABILITY = 0.3

# Echo levels in dB relative to reference soft tissue (0 dB = echogenicity 1).
TISSUE_DB: dict[str, float] = {
    "skin_line": 12.0,
    "dermis": 2.0,
    "subcutis": -19.0,
    "fascia": 11.0,
    "muscle": -17.0,
    "deep": -26.0,
    "intima_media": -14.0,  # plus up to SPECULAR_DB where the wall faces the beam
    "adventitia": -10.0,
    "vein_wall": 3.0,
    "plaque": 6.0,
    "calcified_plaque": 16.0,
}
SPECULAR_DB = 19.0


def simulate_carotid(
    size: int = 256,
    seed: int = 0,
    *,
    view: str = "transverse",
    spacing_mm: tuple[float, float] | None = None,
    plaque: bool | None = None,
    physics: PhysicsSpeckleParams | None = None,
) -> PhantomSample:
    """Simulate a carotid B-mode image with lumen and wall masks.

    Args:
        size: image height and width in pixels.
        seed: random seed; the same seed gives the same phantom.
        view: ``"transverse"`` (cross-section) or ``"longitudinal"`` (along the vessel).
        spacing_mm: ``(axial, lateral)`` pixel size; default covers a 38 mm × 38 mm field of view.
        plaque: force a plaque on (``True``) or off (``False``); ``None`` draws it (30%).
        physics: transducer / display parameters of the speckle model (defaults if ``None``).

    Returns:
        a :class:`PhantomSample` of kind ``"carotid"`` with masks ``"lumen"`` and ``"wall"``
        (intima-media complex and plaque).
    """
    rng = np.random.default_rng(seed)
    grid = PixelGrid.square(size, CAROTID_FOV_MM, spacing_mm)
    anatomy = carotid_anatomy(grid, rng, view=view, plaque=plaque)
    anatomy.params["seed"] = int(seed)
    return render_phantom(anatomy, grid, "carotid", rng, physics)


def carotid_anatomy(
    grid: PixelGrid, rng: np.random.Generator, *, view: str = "transverse", plaque: bool | None = None
) -> Anatomy:
    """Echogenicity map and lumen / wall masks of a carotid phantom (no imaging).

    Args:
        grid: pixel grid in mm.
        rng: source of randomness.
        view: ``"transverse"`` or ``"longitudinal"``.
        plaque: see :func:`simulate_carotid`.
    """
    if view not in VIEWS:
        raise InvalidParameterError(f"unknown carotid view {view!r}; choose from {', '.join(VIEWS)}")
    has_plaque = bool(rng.random() < PLAQUE_PROBABILITY) if plaque is None else bool(plaque)
    echo, planes, layers = _neck_tissue(grid, rng, view)
    build = _transverse_vessel if view == "transverse" else _longitudinal_vessel
    lumen, wall, vessel = build(echo, planes, grid, rng, has_plaque, layers["muscle_bottom_mm"])
    params: dict[str, Any] = {
        "fov_mm": list(grid.extent_mm),
        "view": view,
        "plaque": has_plaque,
        "layers": layers,
        "vessel": vessel,
    }
    masks = {"lumen": lumen.astype(np.uint8), "wall": wall.astype(np.uint8)}
    return Anatomy(echo.astype(np.float32), masks, params)


def _neck_tissue(
    grid: PixelGrid, rng: np.random.Generator, view: str
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Skin, subcutis, sternocleidomastoid muscle and deep tissue; fascial planes apart, in [0, 1].

    The planes are returned separately so the vessel builders can keep them off the artery.
    """
    sy, sx = grid.spacing_mm
    width = grid.shape[1]
    depth = grid.depth

    def field(axial_mm: float, lateral_mm: float) -> np.ndarray:
        return smooth_field(rng, grid.shape, (axial_mm / sy, lateral_mm / sx))

    def curve(amplitude_mm: float, length_mm: float) -> np.ndarray:
        return amplitude_mm * smooth_curve(rng, width, length_mm / sx)

    slope = rng.uniform(-0.12, 0.12) * (grid.lateral[0] - 0.5 * grid.extent_mm[1])
    skin = rng.uniform(1.0, 1.8) + curve(0.1, 10.0)
    subcutis = skin + rng.uniform(1.5, 3.5) + curve(0.4, 10.0)
    muscle = subcutis + np.maximum(1.5, rng.uniform(4.0, 8.0) + slope + curve(1.0, 12.0))
    layer = layer_index(depth, [skin, subcutis, muscle])

    # Muscle: along the fibres, long bright striations (perimysium); across them, bright specks
    # on a dark background ("starry sky").
    if view == "longitudinal":
        fibres = ridges(field(0.25, 8.0), 0.3)
    else:
        fibres = 1.0 / (1.0 + np.exp(-5.0 * (field(0.3, 0.6) - 1.5)))
    texture = field(0.4, 1.0)
    db = np.stack(
        [
            TISSUE_DB["dermis"] + 1.5 * texture,
            TISSUE_DB["subcutis"] + 2.0 * texture,
            TISSUE_DB["muscle"] + 2.5 * texture + 8.0 * fibres,
            TISSUE_DB["deep"] + 3.0 * field(1.5, 3.0),
        ]
    )
    echo = db_to_power(np.take_along_axis(db, layer[None], axis=0)[0])
    echo += db_to_power(TISSUE_DB["skin_line"]) * np.exp(-np.square((depth - 0.3) / 0.25))
    for boundary in (subcutis, muscle):
        echo += db_to_power(TISSUE_DB["fascia"]) * np.exp(-np.square((depth - boundary[None, :]) / 0.25))
    # Fascial planes inside the subcutis and between the deep muscles and the carotid sheath.
    depth_extent = grid.extent_mm[0]
    planes = [float(rng.uniform(skin.mean(), subcutis.mean()))]
    deep_top = min(float(muscle.mean()) + 1.0, depth_extent)
    planes += list(rng.uniform(deep_top, depth_extent, int(rng.integers(1, 4))))
    lines = fascial_lines(rng, depth, grid.lateral, planes, 0.2, 0.8, 8.0 / sx)
    layers = {
        "skin_mm": float(skin.mean()),
        "subcutis_bottom_mm": float(subcutis.mean()),
        "muscle_bottom_mm": float(muscle.mean()),
    }
    return echo, lines, layers


def _add_planes(echo: np.ndarray, planes: np.ndarray, clearance_mm: np.ndarray) -> None:
    """Add the fascial planes to ``echo`` in place, faded out within 1 mm of the vessel wall."""
    echo += db_to_power(TISSUE_DB["fascia"] - 3.0) * planes * np.clip(clearance_mm, 0.0, 1.0)


def _vessel_depth(grid: PixelGrid, rng: np.random.Generator, radius: float, top_mm: float) -> float:
    """Depth of the vessel centre: below the muscle, with room for the wall and enhancement."""
    depth_extent = grid.extent_mm[0]
    low = max(top_mm + radius + 1.5, radius + 2.0)
    high = min(depth_extent - radius - 3.0, 0.7 * depth_extent)
    return float(rng.uniform(low, high)) if high > low else 0.5 * depth_extent


def _wall_thickness(grid: PixelGrid, imt_mm: float) -> float:
    """The IMT, but at least 1.5 pixels so the wall mask always closes around the lumen."""
    return max(imt_mm, 1.5 * max(grid.spacing_mm))


def _transverse_vessel(
    echo: np.ndarray,
    planes: np.ndarray,
    grid: PixelGrid,
    rng: np.random.Generator,
    has_plaque: bool,
    top_mm: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Circular cross-section: anechoic lumen, intima-media ring, adventitia, optional jugular vein."""
    depth_extent, width_extent = grid.extent_mm
    radius = float(rng.uniform(3.0, 4.0))
    # Keep the vessel (and its wall) inside small fields of view as well.
    radius = min(radius, 0.2 * min(depth_extent, width_extent))
    axial_radius = radius * float(rng.uniform(0.85, 1.0))
    imt = float(rng.uniform(0.5, 1.0))
    adventitia = float(rng.uniform(0.3, 0.7))
    center = (
        _vessel_depth(grid, rng, radius, top_mm),
        float(rng.uniform(0.3, 0.7) * width_extent),
    )
    vessel = Ellipse(center, (radius, axial_radius))
    rho, theta = vessel.polar(grid)
    lumen = rho <= 1.0
    params: dict[str, Any] = {"ellipse": vessel.to_dict(), "imt_mm": imt, "adventitia_mm": adventitia}
    outside = distance_outside(lumen, grid)
    _add_planes(echo, planes, outside - imt - adventitia)

    vein = _jugular_vein(grid, rng, vessel, imt + adventitia)
    if vein is not None:
        vein_rho = vein.polar(grid)[0]
        vein_lumen = vein_rho <= 1.0
        echo *= posterior_gain(vein_lumen, grid, float(rng.uniform(1.2, 1.6)), 1.5, 6.0)
        vein_wall = np.exp(-np.square((vein_rho - 1.0) * min(vein.semi_axes_mm) / 0.2))
        echo += db_to_power(TISSUE_DB["vein_wall"]) * vein_wall
        echo[vein_lumen] = 0.0
    params["jugular_vein"] = vein.to_dict() if vein is not None else None

    enhancement = float(rng.uniform(6.0, 12.0))
    echo *= posterior_gain(lumen, grid, enhancement, saturation_mm=3.0, fade_mm=float(rng.uniform(6.0, 12.0)))
    params["posterior_enhancement"] = enhancement

    wall_width = _wall_thickness(grid, imt)
    wall = (outside > 0) & (outside <= wall_width)
    specular = np.sin(theta) ** 4  # 1 where the wall is perpendicular to the beam, ~0 at the sides
    adventitia_band = (outside > wall_width) & (outside <= wall_width + adventitia)
    echo[wall] = db_to_power(TISSUE_DB["intima_media"] + SPECULAR_DB * specular[wall])
    echo[adventitia_band] = db_to_power(TISSUE_DB["adventitia"] + SPECULAR_DB * specular[adventitia_band])

    plaque = np.zeros_like(lumen)
    if has_plaque:
        plaque, params["plaque"] = _transverse_plaque(echo, grid, rng, lumen, theta, radius)
    lumen &= ~plaque
    echo[lumen] = 0.0
    return lumen, wall | plaque, params


def _transverse_plaque(
    echo: np.ndarray,
    grid: PixelGrid,
    rng: np.random.Generator,
    lumen: np.ndarray,
    theta: np.ndarray,
    radius: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A crescent of plaque on the inner wall, thickest at angle ``θ0``."""
    center_angle = float(rng.uniform(-np.pi, np.pi))
    half_span = float(np.deg2rad(rng.uniform(40.0, 80.0)))
    thickness = float(min(rng.uniform(1.0, 2.5), 0.6 * radius))
    offset = np.abs(np.angle(np.exp(1j * (theta - center_angle))))
    profile = np.clip(np.cos(0.5 * np.pi * offset / half_span), 0.0, None) * (offset < half_span)
    plaque = lumen & (distance_inside(lumen, grid) < thickness * np.sqrt(profile))
    calcified = _paint_plaque(echo, grid, rng, plaque)
    params = {
        "angle_rad": center_angle,
        "half_span_rad": half_span,
        "thickness_mm": thickness,
        "calcified": calcified,
    }
    return plaque, params


def _paint_plaque(echo: np.ndarray, grid: PixelGrid, rng: np.random.Generator, plaque: np.ndarray) -> bool:
    """Fill a plaque with heterogeneous echoes; a calcified plaque also shadows what lies below."""
    calcified = bool(rng.random() < 0.3)
    level = TISSUE_DB["calcified_plaque" if calcified else "plaque"]
    sy, sx = grid.spacing_mm
    texture = 3.0 * smooth_field(rng, grid.shape, (0.4 / sy, 0.4 / sx))
    echo[plaque] = db_to_power(level + texture[plaque])
    if calcified and plaque.any():
        echo *= posterior_gain(plaque, grid, 0.05, saturation_mm=0.5, fade_mm=40.0)
    return calcified


def _jugular_vein(
    grid: PixelGrid, rng: np.random.Generator, artery: Ellipse, wall_mm: float
) -> Ellipse | None:
    """The internal jugular vein beside and slightly above the artery, or ``None`` (absent / no room)."""
    if rng.random() >= 0.6:
        return None
    half_width = float(rng.uniform(3.5, 6.0))
    half_height = float(rng.uniform(1.0, 3.0))  # compressible: flattened by the probe
    depth_extent, width_extent = grid.extent_mm
    depth = artery.center_mm[0] - artery.semi_axes_mm[1] * float(rng.uniform(0.2, 0.8))
    gap = artery.semi_axes_mm[0] + wall_mm + half_width + float(rng.uniform(0.8, 2.0))
    sides = [1.0, -1.0] if rng.random() < 0.5 else [-1.0, 1.0]
    for side in sides:
        lateral = artery.center_mm[1] + side * gap
        if (
            half_width < lateral < width_extent - half_width
            and half_height < depth < depth_extent - half_height
        ):
            return Ellipse(
                (float(depth), float(lateral)), (half_width, half_height), float(rng.uniform(-0.2, 0.2))
            )
    return None


def _longitudinal_vessel(
    echo: np.ndarray,
    planes: np.ndarray,
    grid: PixelGrid,
    rng: np.random.Generator,
    has_plaque: bool,
    top_mm: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The artery along its axis: a horizontal anechoic band between two bright double-line walls."""
    depth_extent, width_extent = grid.extent_mm
    width = grid.shape[1]
    radius = min(float(rng.uniform(3.0, 4.0)), 0.2 * depth_extent)
    imt = float(rng.uniform(0.5, 1.0))
    adventitia = float(rng.uniform(0.3, 0.7))
    center_depth = _vessel_depth(grid, rng, radius, top_mm)
    lateral = grid.lateral[0] - 0.5 * width_extent
    slope = float(rng.uniform(-0.06, 0.06))
    centerline = center_depth + slope * lateral + 0.3 * smooth_curve(rng, width, 15.0 / grid.spacing_mm[1])
    half_lumen = radius * (1.0 + 0.03 * smooth_curve(rng, width, 10.0 / grid.spacing_mm[1]))
    offset = grid.depth - centerline[None, :]  # signed axial distance from the axis, mm
    beyond = np.abs(offset) - half_lumen[None, :]  # < 0 in the lumen, mm past the lumen edge outside
    lumen = beyond <= 0.0
    _add_planes(echo, planes, beyond - imt - adventitia)
    params: dict[str, Any] = {
        "center_depth_mm": center_depth,
        "radius_mm": radius,
        "slope": slope,
        "imt_mm": imt,
        "adventitia_mm": adventitia,
    }

    enhancement = float(rng.uniform(6.0, 12.0))
    echo *= posterior_gain(lumen, grid, enhancement, saturation_mm=3.0, fade_mm=float(rng.uniform(6.0, 12.0)))
    params["posterior_enhancement"] = enhancement

    wall_width = _wall_thickness(grid, imt)
    wall = (beyond > 0.0) & (beyond <= wall_width)
    # Double-line pattern: bright lumen-intima line, darker media, bright media-adventitia line.
    intima_line = np.exp(-np.square(beyond / max(0.2, grid.spacing_mm[0])))
    wall_db = TISSUE_DB["intima_media"] - 4.0 + 8.0 * intima_line
    echo[wall] = db_to_power(wall_db[wall])
    adventitia_band = (beyond > wall_width) & (beyond <= wall_width + adventitia)
    echo[adventitia_band] = db_to_power(TISSUE_DB["adventitia"] + 0.5 * SPECULAR_DB)

    plaque = np.zeros_like(lumen)
    if has_plaque:
        far = bool(rng.random() < 0.7)  # far-wall plaques are the ones seen best
        x0 = float(rng.uniform(0.25, 0.75) * width_extent)
        half_length = float(rng.uniform(3.0, 7.0))
        height = float(min(rng.uniform(1.0, 2.5), 0.6 * radius))
        profile = height * np.clip(1.0 - np.square((grid.lateral[0] - x0) / half_length), 0.0, None) ** 0.6
        from_wall = -beyond  # mm inside the lumen from the nearest wall
        on_side = offset > 0 if far else offset < 0
        plaque = lumen & on_side & (from_wall < profile[None, :])
        calcified = _paint_plaque(echo, grid, rng, plaque)
        params["plaque"] = {
            "far_wall": far,
            "center_mm": x0,
            "half_length_mm": half_length,
            "height_mm": height,
            "calcified": calcified,
        }
    lumen &= ~plaque
    echo[lumen] = 0.0
    return lumen, wall | plaque, params
