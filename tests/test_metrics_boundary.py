"""Boundary measures: signed distance, profile, step and contrast by hand, the step and rise
distance of known edges, and the despeckler ordering they exist for (edge-keeping smoothing beats a
blur; keeping the speckle is no gain)."""

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.stats import norm

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics import (
    boundary_contrast,
    boundary_contrast_ratio,
    boundary_profile,
    boundary_step,
    boundary_step_ratio,
    epi,
    rise_distance,
    rise_distance_ratio,
    signed_boundary_distance,
)


def _left_half(shape=(6, 8), columns=4):
    mask = np.zeros(shape, bool)
    mask[:, :columns] = True
    return mask


def test_signed_distance_hand_computed_across_a_straight_edge():
    signed = signed_boundary_distance(_left_half())
    # The mask touches the frame's border on three sides: only its right side is a boundary.
    np.testing.assert_allclose(signed, np.tile([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], (6, 1)))


def test_signed_distance_diagonal_and_region():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    signed = signed_boundary_distance(mask)
    assert signed[2, 2] == -0.5 and signed[2, 3] == 0.5 and signed[3, 3] == pytest.approx(math.sqrt(2) - 0.5)
    # Pixels outside the region are NaN and are neither inside nor outside.
    region = np.ones((6, 8), bool)
    region[:, 6:] = False  # letterbox padding on the right
    signed = signed_boundary_distance(_left_half(), region)
    assert np.isnan(signed[:, 6:]).all() and signed[0, 5] == 1.5


def test_no_boundary_raises():
    with pytest.raises(InvalidImageError, match="needs a structure mask"):
        signed_boundary_distance(None)
    with pytest.raises(InvalidImageError, match="no boundary"):
        signed_boundary_distance(np.zeros((5, 5), bool))
    with pytest.raises(InvalidImageError, match="no boundary"):
        signed_boundary_distance(np.ones((5, 5), bool))
    # The mask meets only letterbox padding, never tissue: that is not the structure's boundary.
    mask, region = _left_half(columns=2), np.ones((6, 8), bool)
    region[:, 2:4] = False
    with pytest.raises(InvalidImageError, match="no boundary"):
        signed_boundary_distance(mask, region)
    with pytest.raises(InvalidImageError, match="no boundary"):
        rise_distance(np.random.default_rng(0).random((6, 8)), mask, region, reach=2)


def test_profile_of_a_ramp_reads_the_ramp():
    image = np.tile(np.arange(8) / 10, (6, 1))
    profile = boundary_profile(image, _left_half(), reach=3)
    np.testing.assert_allclose(profile.distance, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(profile.mean, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    np.testing.assert_array_equal(profile.count, 6)


def test_boundary_contrast_hand_computed():
    image = np.zeros((2, 8))
    image[:, 2:4] = [[0.1, 0.3], [0.1, 0.3]]  # inner band (signed −1.5, −0.5): μ = 0.2, σ² = 0.01
    image[:, 4:6] = [[0.5, 0.9], [0.5, 0.9]]  # outer band (0.5, 1.5): μ = 0.7, σ² = 0.04
    mask = _left_half((2, 8))
    assert boundary_step(image, mask, band=2) == pytest.approx(0.5)
    assert boundary_step(1 - image, mask, band=2) == pytest.approx(-0.5)
    assert boundary_contrast(image, mask, band=2) == pytest.approx(0.5 / math.sqrt(0.025))
    # The ratio to an input takes the input's polarity: an inverted boundary scores below 0.
    assert boundary_contrast_ratio(image, image, mask, band=2) == pytest.approx(1.0)
    assert boundary_contrast_ratio(image, 1 - image, mask, band=2) == pytest.approx(-1.0)
    assert boundary_step_ratio(image, 0.5 * image, mask, band=2) == pytest.approx(0.5)
    assert boundary_step_ratio(image, 1 - image, mask, band=2) == pytest.approx(-1.0)
    flat = np.full((2, 8), 0.4)
    flat[:, 4:] += 0.5 / 255  # half a grey level: no boundary to compare with
    with pytest.raises(InvalidImageError, match="no intensity step"):
        boundary_step_ratio(flat, image, mask, band=2)
    with pytest.raises(InvalidImageError, match="no intensity step"):
        boundary_contrast_ratio(flat, image, mask, band=2)


def test_boundary_step_of_a_gaussian_edge():
    # A step edge blurred by a Gaussian of std σ, sampled at the pixel centres (signed ±0.5, ±1.5, …):
    # the band means are means of the normal CDF there, so step = 2·mean Φ(d/σ) − 1 over d = 0.5..3.5.
    mask = _left_half((4, 60), 30)
    x = np.arange(60) - 29.5
    for sigma in (1.0, 4.0):
        edge = np.tile(norm.cdf(x / sigma), (4, 1))
        expected = 2 * norm.cdf(np.array([0.5, 1.5, 2.5, 3.5]) / sigma).mean() - 1
        assert boundary_step(edge, mask, band=4) == pytest.approx(expected)
        assert boundary_step_ratio(
            np.tile((x > 0).astype(float), (4, 1)), edge, mask, band=4
        ) == pytest.approx(expected)


def test_rise_distance_of_a_step_and_of_a_linear_ramp():
    mask = _left_half((10, 40), 20)
    step = np.where(mask, 0.2, 0.7)
    # Pixel layers at ∓0.5 hold 0 and 1 of the step: the 10 % and 90 % points are 0.8 px apart.
    assert rise_distance(step, mask, reach=12) == pytest.approx(0.8)
    # A ramp from 0 to 1 over columns 15..25 (signed distance −4.5 .. 5.5): 10–90 % is 0.8 of it.
    ramp = np.tile(np.clip((np.arange(40) - 15) / 10, 0, 1), (10, 1))
    assert rise_distance(ramp, mask, reach=12) == pytest.approx(8.0)
    with pytest.raises(InvalidImageError, match="no intensity step"):
        rise_distance(np.full((10, 40), 0.5), mask, reach=12)


def test_rise_distance_of_a_gaussian_edge_is_2_56_sigma():
    mask = _left_half((4, 200), 100)
    for sigma in (2.0, 4.0):
        # An edge blurred by a Gaussian of std σ: the normal CDF of the signed distance.
        x = np.arange(200) - 99.5
        edge = np.tile(norm.cdf(x / sigma), (4, 1))
        expected = 2 * norm.ppf(0.9) * sigma  # 2.563 σ
        assert rise_distance(edge, mask, reach=40) == pytest.approx(expected, rel=0.02)


def _speckled_disc(seed, size=128, radius=30):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    mask = (rows - size // 2) ** 2 + (cols - size // 2 + 4) ** 2 < radius**2
    clean = np.where(mask, 0.25, 0.6)
    noisy = np.clip(clean * rng.gamma(4.0, 0.25, clean.shape), 0, 1)  # 4-look speckle
    return noisy, mask


def _smooth_each_side(image, mask, sigma):
    """The ideal despeckler for this phantom: Gaussian smoothing inside and outside separately."""
    out = np.empty_like(image)
    for side in (mask, ~mask):
        weight = ndimage.gaussian_filter(side.astype(float), sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = ndimage.gaussian_filter(image * side, sigma) / weight
        out[side] = smooth[side]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_keeping_beats_blur_and_keeping_speckle_gains_nothing(seed):
    noisy, mask = _speckled_disc(seed)
    keep = _smooth_each_side(noisy, mask, 3.0)  # smooths as much as the blur, but not across the edge
    blur = ndimage.gaussian_filter(noisy, 3.0)
    outputs = [("id", noisy), ("keep", keep), ("blur", blur)]
    step = {n: boundary_step_ratio(noisy, o, mask) for n, o in outputs}
    contrast = {n: boundary_contrast_ratio(noisy, o, mask) for n, o in outputs}
    rise = {n: rise_distance_ratio(noisy, o, mask) for n, o in outputs}
    assert step["id"] == contrast["id"] == rise["id"] == 1.0
    # Blurring the boundary scores worse than keeping it, on every measure.
    assert step["keep"] > 1.5 * step["blur"]
    assert contrast["keep"] > 2 * contrast["blur"]
    assert rise["blur"] > 3 * rise["keep"]
    # Keeping the speckle does not score better than removing it: the same step and edge width,
    # a lower contrast-to-noise ratio.
    assert step["keep"] == pytest.approx(step["id"], rel=0.05)
    assert rise["keep"] == pytest.approx(rise["id"], rel=0.1)
    assert contrast["keep"] > 3 * contrast["id"]
    # EPI, by contrast, ranks the speckle-keeping identity first.
    assert epi(noisy, noisy) > epi(noisy, keep)


def test_step_falls_and_rise_distance_grows_with_the_blur():
    noisy, mask = _speckled_disc(3)
    blurred = [ndimage.gaussian_filter(noisy, s) for s in (1.0, 2.0, 3.0)]
    steps = [boundary_step_ratio(noisy, out, mask) for out in blurred]
    rises = [rise_distance_ratio(noisy, out, mask) for out in blurred]
    assert 1.0 > steps[0] > steps[1] > steps[2]
    assert 1.5 < rises[0] < rises[1] < rises[2]


def test_letterbox_padding_is_not_part_of_the_bands():
    noisy, mask = _speckled_disc(4)
    region = np.ones(mask.shape, bool)
    region[:, :40] = False  # a black bar that cuts into the disc (columns 30..90)
    padded = noisy.copy()
    padded[:, :40] = 0.0
    # Inside the region nothing changed, so nothing changes: the bar's pixels never count, and
    # where the disc meets the bar is no boundary.
    assert boundary_contrast(padded, mask, region) == boundary_contrast(noisy, mask, region)
    assert boundary_step(padded, mask, region) == boundary_step(noisy, mask, region)
    assert rise_distance(padded, mask, region) == rise_distance(noisy, mask, region)
    assert boundary_contrast(padded, mask) != boundary_contrast(noisy, mask)
