"""Periodic banding: stripes and grids at a stride's period are found, smoothing alone is not."""

import numpy as np
import pytest
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics import harmonic_peaks, periodic_banding
from monai_despeckle.metrics.banding import fit_period

GREY = 1 / 255  # one 8-bit grey level


def _speckled_scan(seed, shape=(192, 176)):
    """Smooth random anatomy under 4-look multiplicative speckle, in [0, 1]."""
    rng = np.random.default_rng(seed)
    anatomy = ndimage.gaussian_filter(rng.standard_normal(shape), 8)
    anatomy = 0.45 + 0.15 * anatomy / anatomy.std()
    return np.clip(anatomy * rng.gamma(4.0, 0.25, shape), 0, 1)


def _stripes(shape, period, axis=0):
    """Square-wave stripes of 1 grey level: on for half of every ``period`` pixels along ``axis``."""
    index = np.arange(shape[axis])
    wave = ((index % period) < period // 2).astype(float) * GREY
    return wave[:, None] * np.ones(shape) if axis == 0 else wave[None, :] * np.ones(shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_smoothing_adds_no_banding(seed):
    noisy = _speckled_scan(seed)
    assert periodic_banding(noisy, noisy) == 1.0
    # A linear filter scales each harmonic and its neighbourhood alike; where it removes nearly
    # everything, the input's chance peaks go with it, so strong smoothing reads a little below 1.
    for sigma in (1.0, 2.0):
        assert 0.8 < periodic_banding(noisy, ndimage.gaussian_filter(noisy, sigma), 16) < 1.1
    assert periodic_banding(noisy, ndimage.median_filter(noisy, 5), 8) < 1.5


@pytest.mark.parametrize("seed", [0, 1])
def test_stripes_of_one_grey_level_at_the_period_are_found(seed):
    noisy = _speckled_scan(seed)
    smooth = ndimage.gaussian_filter(noisy, 1.5)
    assert periodic_banding(noisy, smooth, 8) < 1.2 and periodic_banding(noisy, smooth, 16) < 1.2
    stripes8 = smooth + _stripes(smooth.shape, 8)
    stripes16 = smooth + _stripes(smooth.shape, 16)
    assert periodic_banding(noisy, stripes8, 8) > 10
    assert periodic_banding(noisy, stripes16, 16) > 3
    # A stride of 16 also shows period-8 stripes (its harmonic k = 2) ...
    assert periodic_banding(noisy, stripes8, 16) > 5
    # ... but period-16 stripes are no period-8 pattern: their odd harmonics fall between 8's,
    # among the neighbours, and raise the expected level instead.
    assert periodic_banding(noisy, stripes16, 8) < 1.1


def test_vertical_stripes_show_in_the_column_profiles_and_a_grid_in_both():
    noisy = _speckled_scan(3)
    smooth = ndimage.gaussian_filter(noisy, 1.5)
    base = harmonic_peaks(smooth, 8)
    vertical = harmonic_peaks(smooth + _stripes(smooth.shape, 8, axis=1), 8)
    np.testing.assert_allclose(vertical[0], base[0], rtol=1e-6)  # row profiles: untouched
    assert vertical[1].max() > 50 * base[1].max()  # column profiles
    tile = np.random.default_rng(3).uniform(-GREY, GREY, (8, 8))  # a fixed 8×8 pattern, ±1 grey level
    grid = smooth + np.tile(tile, (smooth.shape[0] // 8, smooth.shape[1] // 8))
    rows, cols = harmonic_peaks(grid, 8)
    assert rows.max() > 10 * base[0].max() and cols.max() > 10 * base[1].max()
    assert periodic_banding(noisy, grid, 8) > 10


def test_a_single_sinusoid_peaks_at_its_own_harmonic_only():
    rng = np.random.default_rng(4)
    rows = np.arange(256)[:, None]
    image = 0.5 + 0.05 * rng.standard_normal((256, 128)) + 0.02 * np.sin(2 * np.pi * rows * 3 / 16)
    ratios = harmonic_peaks(image, 16)[0]  # row profiles, k = 1..8
    assert ratios.shape == (8,)
    assert ratios[2] > 20  # k = 3: the sinusoid's frequency 3/16
    assert np.all(np.delete(ratios, 2) < 3)  # elsewhere white noise: near 1


def test_too_small_frames_and_bad_periods_raise():
    image = _speckled_scan(5, (100, 176))
    with pytest.raises(InvalidImageError, match=r"too short.*period 16.*112"):
        harmonic_peaks(image, 16)
    harmonic_peaks(image, 8)  # 100 ≥ 7 × 8
    for period in (1, 0, float("nan"), (8, 1.5)):
        with pytest.raises(InvalidImageError, match="period"):
            harmonic_peaks(image, period)
    # A flat frame has only the 8-bit rounding floor: no peak anywhere, nothing to divide by zero.
    np.testing.assert_allclose(harmonic_peaks(np.full((128, 128), 0.5), 8), 1.0, atol=0.05)
    with pytest.raises(InvalidImageError, match="same shape"):
        periodic_banding(image, image[:, :-1], 8)


def test_periods_need_not_be_whole_pixels_nor_equal_per_axis():
    # A network of stride 8 run on a frame resampled by 1.5625 along rows and 0.8 along columns
    # has a stride of 12.5 output rows and 6.4 output columns.
    noisy = _speckled_scan(6, (200, 192))
    smooth = ndimage.gaussian_filter(noisy, 1.5)
    rows = np.arange(200)[:, None]
    striped = smooth + GREY * ((rows % 12.5) < 6.25)  # one grey level, on for half of every 12.5 rows
    row_ratios, col_ratios = harmonic_peaks(striped, (12.5, 6.4))
    assert row_ratios.shape == (6,) and col_ratios.shape == (3,)
    assert row_ratios.max() > 10
    assert periodic_banding(noisy, striped, (12.5, 6.4)) > 3
    assert periodic_banding(noisy, smooth, (12.5, 6.4)) < 1.2
    # At the network's nominal 8 the stripes are off every harmonic.
    assert periodic_banding(noisy, striped, 8) < 1.2


def test_a_period_too_long_for_the_frame_is_halved():
    assert fit_period(64, 709) == 64  # 7 × 64 = 448 ≤ 709
    assert fit_period(128.25, 709) == pytest.approx(64.125)
    assert fit_period(16, 100) == 8 and fit_period(16, 112) == 16
    assert fit_period(3, 10) == 3  # never below 2: harmonic_peaks then refuses it
    noisy = _speckled_scan(7, (100, 176))
    smooth = ndimage.gaussian_filter(noisy, 1.5)
    striped = smooth + _stripes(smooth.shape, 8)
    with pytest.raises(InvalidImageError, match="too short"):
        periodic_banding(noisy, striped, 16)
    # Period-8 stripes are found at half of a 16 stride: its even harmonics.
    assert periodic_banding(noisy, striped, (fit_period(16, 100), fit_period(16, 176))) > 3
