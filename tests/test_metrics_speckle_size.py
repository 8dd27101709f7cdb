"""The speckle grain size estimate: known correlated noise, physics phantoms, masks, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics.speckle_size import estimate_speckle_size
from monai_despeckle.simulation import simulate_breast


def correlated_noise(shape: tuple[int, int], sigma: tuple[float, float], seed: int = 0) -> np.ndarray:
    """Gaussian-filtered white noise: its autocovariance is Gaussian with σ·√2 along each axis."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return 0.5 + 0.1 * noise / noise.std()


def expected_fwhm(sigma: float) -> float:
    return 2.0 * math.sqrt(2.0 * math.log(2.0)) * math.sqrt(2.0) * sigma


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_the_width_of_known_correlated_noise(sigma):
    size = estimate_speckle_size(correlated_noise((256, 256), (sigma, sigma)))
    for width in (size.axial_px, size.lateral_px):
        assert width == pytest.approx(expected_fwhm(sigma), rel=0.2)


def test_independent_pixels_measure_one_pixel_and_axes_are_told_apart():
    white = 0.5 + 0.1 * np.random.default_rng(1).standard_normal((128, 128))
    assert estimate_speckle_size(white).mean_px == pytest.approx(1.0, abs=0.05)
    elongated = estimate_speckle_size(correlated_noise((256, 256), (0.8, 3.0)))  # wide across the beam
    assert elongated.lateral_px > 2.5 * elongated.axial_px


def test_the_grain_in_pixels_grows_with_the_pixel_grid_of_one_field_of_view():
    """Breast phantoms of the same 40 mm field rendered at 128², 256², 512² (4× finer pixels)."""
    sizes = [estimate_speckle_size(simulate_breast(size=n, seed=5).bmode) for n in (128, 256, 512)]
    lateral = [s.lateral_px for s in sizes]
    assert lateral[0] < lateral[1] < lateral[2]
    assert 3.0 < lateral[2] / lateral[0] < 5.5  # the lateral beam width is 4× more pixels


def test_background_outside_the_tissue_does_not_count():
    tissue = correlated_noise((128, 256), (1.5, 1.5), seed=3)
    letterboxed = np.zeros((256, 256))
    letterboxed[64:192] = tissue  # black bands above and below, as a letterboxed export
    alone = estimate_speckle_size(tissue)
    boxed = estimate_speckle_size(letterboxed)
    # counting the black bands as texture would widen the axial peak by half (measured before the
    # tissue mask); the remaining difference is the trend's truncated windows at the band edges
    assert boxed.axial_px == pytest.approx(alone.axial_px, rel=0.25)
    assert boxed.lateral_px == pytest.approx(alone.lateral_px, rel=0.1)
    mask = np.zeros((256, 256), bool)
    mask[64:192, :] = True  # and an explicit region
    assert estimate_speckle_size(letterboxed, mask).mean_px == pytest.approx(boxed.mean_px, rel=0.15)


def test_a_cine_gives_the_median_of_its_frames():
    sigmas = (1.0, 1.0, 2.0)
    frames = np.stack([correlated_noise((128, 128), (s, s), seed=i) for i, s in enumerate(sigmas)])
    single = estimate_speckle_size(frames[0]).mean_px
    assert estimate_speckle_size(frames).mean_px == pytest.approx(single, rel=0.15)


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.full((64, 64), 0.5), "no texture"),
        (np.zeros((64, 64)), "too little tissue"),
        (np.random.default_rng(0).random((8, 8)), "at least 16"),
        (np.full((32, 32), np.nan), "NaN"),
    ],
)
def test_frames_without_measurable_speckle_are_refused(frames, message):
    with pytest.raises(InvalidImageError, match=message):
        estimate_speckle_size(frames)
