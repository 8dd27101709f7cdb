"""Random tissue textures for echogenicity maps: smooth random fields, ridges, striations, layers.

Tissue echogenicity varies on scales much larger than the speckle grain (fat lobules, glandular
islands, muscle fascicles). We model it as Gaussian random fields: white noise low-pass filtered
with an (anisotropic) Gaussian kernel, whose width sets the texture's correlation length. All
functions are vectorised; the filtering runs in the Fourier domain (``scipy.ndimage.fourier_gaussian``)
so its cost does not grow with the correlation length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft, ndimage


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], sigma_px: float | Sequence[float]
) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field.

    Args:
        rng: source of randomness.
        shape: ``(H, W)`` of the field.
        sigma_px: correlation length in pixels, one value or ``(axial, lateral)``; a long lateral
            and short axial length gives horizontal streaks (muscle fibres, fascia).

    Returns:
        float32 ``[H, W]`` array. The field is periodic (Fourier filtering wraps around).
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    spectrum = ndimage.fourier_gaussian(fft.rfft2(noise), sigma=sigma_px, n=shape[1])
    field = fft.irfft2(spectrum, s=shape).astype(np.float32)
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 0 else field


def smooth_curve(rng: np.random.Generator, n: int, sigma_px: float) -> np.ndarray:
    """A zero-mean, unit-variance smooth random 1-D curve of ``n`` samples (layer boundaries).

    Args:
        rng: source of randomness.
        n: number of samples (image width).
        sigma_px: correlation length in samples.
    """
    # Pad so the curve does not wrap around; scipy's 1-D filter is cheap here.
    pad = int(4 * sigma_px) + 1
    curve = ndimage.gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma_px, mode="reflect")[pad:-pad]
    curve = curve - curve.mean()
    std = float(curve.std())
    return (curve / std if std > 0 else curve).astype(np.float32)


def ridges(field: np.ndarray, width: float) -> np.ndarray:
    """Thin curvilinear bright lines along the zero level set of a smooth field, in [0, 1].

    Level sets of a smooth random field are closed, wavy curves; a narrow Gaussian of the field
    value turns them into lines resembling Cooper's ligaments or fascial planes.

    Args:
        field: smooth field (e.g. from :func:`smooth_field`).
        width: line half-width in field units; smaller gives thinner lines.
    """
    return np.exp(-np.square(field / width)).astype(np.float32)


def fascial_lines(
    rng: np.random.Generator,
    depth_mm: np.ndarray,
    lateral_mm: np.ndarray,
    depths_mm: Sequence[float],
    thickness_mm: float,
    waviness_mm: float,
    correlation_px: float,
) -> np.ndarray:
    """Long, gently curved, sometimes interrupted bright lines (fascial planes), in [0, 1].

    Args:
        rng: source of randomness.
        depth_mm: ``[H, 1]`` pixel depths.
        lateral_mm: ``[1, W]`` pixel lateral positions.
        depths_mm: mean depth of each line.
        thickness_mm: half-thickness of a line.
        waviness_mm: standard deviation of a line's depth along its length.
        correlation_px: lateral correlation length of the waviness and of the gaps, in pixels.
    """
    width = lateral_mm.shape[-1]
    centre = 0.5 * float(lateral_mm[0, 0] + lateral_mm[0, -1])
    lines = np.zeros((depth_mm.shape[0], width), dtype=np.float32)
    for mean_depth in depths_mm:
        tilt = rng.uniform(-0.15, 0.15)
        path = (
            mean_depth
            + tilt * (lateral_mm[0] - centre)
            + waviness_mm * smooth_curve(rng, width, correlation_px)
        )
        continuity = 1.0 / (1.0 + np.exp(-4.0 * (smooth_curve(rng, width, correlation_px) + 0.5)))  # gaps
        line = continuity[None, :] * np.exp(-np.square((depth_mm - path[None, :]) / thickness_mm))
        np.maximum(lines, line, out=lines)
    return lines


def layer_index(depth_mm: np.ndarray, boundaries_mm: Sequence[np.ndarray]) -> np.ndarray:
    """Which layer each pixel lies in, given boundaries ordered from shallow to deep.

    Args:
        depth_mm: ``[H, 1]`` (or ``[H, W]``) depth of each pixel below the probe in mm.
        boundaries_mm: one ``[W]`` array per boundary: its depth at each lateral position.

    Returns:
        int ``[H, W]`` array: 0 above the first boundary, k below the k-th.
    """
    stacked = np.stack([np.asarray(b, dtype=np.float32) for b in boundaries_mm])  # [K, W]
    return (depth_mm[None] >= stacked[:, None, :]).sum(axis=0)


def db_to_power(db: np.ndarray | float) -> np.ndarray:
    """Relative backscattered intensity from decibels (10·log10 of a power ratio)."""
    return np.power(np.float32(10.0), np.asarray(db, dtype=np.float32) / np.float32(10.0))
