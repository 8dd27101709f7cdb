"""The batched torch speckle filters (SRAD, Lee, Kuan, Frost) and their local-statistics helpers.

References are written from the papers' formulas, pixel by pixel in float64 numpy, so they share
no code with the vectorised torch versions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_despeckle.errors import DespeckleError, InvalidImageError
from monai_despeckle.filters import (
    InvalidParameterError,
    estimate_speckle_cv,
    estimate_speckle_sigma,
    frost,
    kuan,
    lee,
    local_mean_var,
    srad,
)
from monai_despeckle.filters.speckle_diffusion import _instantaneous_cv2

TORCH_FILTERS = [srad, lee, kuan, frost]


def speckled(shape: tuple[int, ...], seed: int = 0, looks: int = 16) -> np.ndarray:
    """A 0.3 | 0.7 step (along the last axis) times Gamma speckle, float64 in [0, 1]."""
    rng = np.random.default_rng(seed)
    width = shape[-1]
    clean = np.where(np.arange(width) < width // 2, 0.3, 0.7)
    return np.clip(clean * rng.gamma(looks, 1.0 / looks, shape), 0.0, 1.0)


def windows(image: np.ndarray, size: int):
    """Yield (row, col, window) for every pixel, mirror padding (numpy 'reflect' = torch 'reflect')."""
    pad = size // 2
    padded = np.pad(image, pad, mode="reflect")
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            yield r, c, padded[r : r + size, c : c + size]


def lee_reference(image: np.ndarray, size: int, cu: float) -> np.ndarray:
    """Lee 1980: x̂ = μ + k(z − μ), k = σx² / (σx² + μ²Cu²), σx² = (σz² − μ²Cu²)/(1 + Cu²) ≥ 0."""
    out = np.empty_like(image)
    for r, c, win in windows(image, size):
        mu, var = win.mean(), win.var()
        signal = max(var - mu * mu * cu * cu, 0.0) / (1 + cu * cu)
        k = signal / (signal + mu * mu * cu * cu) if signal + mu * mu * cu * cu > 0 else 0.0
        out[r, c] = mu + k * (image[r, c] - mu)
    return out


def kuan_reference(image: np.ndarray, size: int, cu: float) -> np.ndarray:
    """Kuan 1985: k = (1 − Cu²/Ci²)/(1 + Cu²), clamped at 0."""
    out = np.empty_like(image)
    for r, c, win in windows(image, size):
        mu, var = win.mean(), win.var()
        k = max(1.0 - cu * cu * mu * mu / var, 0.0) / (1 + cu * cu) if var > 0 else 0.0
        out[r, c] = mu + k * (image[r, c] - mu)
    return out


def frost_reference(image: np.ndarray, size: int, damping: float, cu: float) -> np.ndarray:
    """Frost 1982 with α = K·Ci²/Cu²: weighted mean with weights exp(−α·distance)."""
    pad = size // 2
    dy, dx = np.mgrid[-pad : pad + 1, -pad : pad + 1]
    distance = np.hypot(dy, dx)
    out = np.empty_like(image)
    for r, c, win in windows(image, size):
        alpha = damping * (win.var() / win.mean() ** 2) / cu**2
        weights = np.exp(-alpha * distance)
        out[r, c] = (weights * win).sum() / weights.sum()
    return out


@pytest.mark.parametrize(
    ("function", "reference", "params"),
    [
        (lee, lee_reference, {"cu": 0.25}),
        (kuan, kuan_reference, {"cu": 0.25}),
        (frost, frost_reference, {"damping": 1.0, "cu": 0.25}),
    ],
    ids=["lee", "kuan", "frost"],
)
@pytest.mark.parametrize("size", [5, 7])
def test_local_statistics_filters_match_the_papers_formulas(function, reference, params, size):
    image = speckled((13, 17), seed=size)
    expected = reference(image, size, *params.values())
    got64 = function(torch.from_numpy(image), window=size, **params)
    got32 = function(image.astype(np.float32), window=size, **params)
    np.testing.assert_allclose(got64.numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(got32, expected, atol=1e-5)
    assert isinstance(got32, np.ndarray) and got32.dtype == np.float32


def test_limits_of_the_gain_are_the_local_mean_and_the_input():
    image = speckled((24, 30), seed=3)
    box = ndimage.uniform_filter(image, 7, mode="mirror")
    for function in (lee, kuan):
        np.testing.assert_allclose(function(image, cu=100.0), box, atol=1e-12)  # all "speckle"
        np.testing.assert_allclose(function(image, cu=1e-6), image, atol=1e-6)  # all "structure"
    np.testing.assert_allclose(
        frost(image, window=5, damping=0.0), ndimage.uniform_filter(image, 5, mode="mirror")
    )


@pytest.mark.parametrize("function", TORCH_FILTERS, ids=lambda f: f.__name__)
def test_a_constant_image_is_returned_unchanged(function):
    for value in (0.0, 0.42, 1.0):
        frames = torch.full((2, 1, 37, 53), value)
        np.testing.assert_allclose(function(frames).numpy(), value, atol=1e-6)


@pytest.mark.parametrize("function", TORCH_FILTERS, ids=lambda f: f.__name__)
def test_odd_sizes_and_input_types(function):
    image = speckled((37, 53), seed=7).astype(np.float32)
    as_numpy = function(image)
    as_tensor = function(torch.from_numpy(image))
    as_batch = function(torch.from_numpy(image)[None, None])
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (37, 53) and as_numpy.dtype == np.float32
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (37, 53)
    assert as_batch.shape == (1, 1, 37, 53)
    np.testing.assert_allclose(as_numpy, as_batch[0, 0].numpy(), atol=1e-7)
    flat = (slice(4, -4), slice(4, 53 // 2 - 5))
    assert as_numpy[flat].std() < 0.6 * image[flat].std()


@pytest.mark.parametrize("function", TORCH_FILTERS, ids=lambda f: f.__name__)
def test_float32_matches_float64(function):
    frames64 = torch.from_numpy(speckled((2, 1, 37, 53), seed=11))
    out64 = function(frames64)
    out32 = function(frames64.float())
    assert out32.dtype == torch.float32 and out64.dtype == torch.float64
    torch.testing.assert_close(out32.double(), out64, atol=1e-5, rtol=0)


def test_instantaneous_coefficient_of_variation_of_a_ramp_is_gradient_over_intensity():
    # On I = a + b·x the Laplacian vanishes and Yu & Acton's q reduces to |∇I| / I.
    a, b = 0.2, 0.01
    ramp = torch.from_numpy(a + b * np.arange(40.0))[None, None, None, :].repeat(1, 1, 10, 1)
    q2, _ = _instantaneous_cv2(ramp)
    expected = (b / (a + b * np.arange(40.0))) ** 2
    np.testing.assert_allclose(q2[0, 0, 5, 1:-1].numpy(), expected[1:-1], rtol=1e-12)


def test_srad_conserves_the_mean_intensity():
    # Zero-flux borders and the conservative flux scheme keep the sum of the image constant.
    frames = torch.from_numpy(speckled((2, 1, 40, 48), seed=2))
    for q0 in (None, 0.25):
        out = srad(frames, iterations=50, time_step=0.2, q0=q0)
        torch.testing.assert_close(out.sum(dim=(-2, -1)), frames.sum(dim=(-2, -1)), atol=1e-9, rtol=0)


def test_srad_with_a_large_speckle_scale_is_the_heat_equation():
    # With q0 ≫ q everywhere, c(q) saturates at 1 and each step is I += Δt · (4-neighbour Laplacian).
    image = speckled((30, 34), seed=4)
    expected = image.copy()
    for _ in range(3):
        expected = expected + 0.2 * ndimage.laplace(expected, mode="nearest")
    np.testing.assert_allclose(
        srad(image, iterations=3, time_step=0.2, q0=50.0, rho=0.0), expected, atol=1e-12
    )


def test_srad_diffuses_less_across_edges_than_inside_regions():
    image = speckled((48, 64), seed=9)
    out = srad(image)
    inside = (slice(4, -4), slice(4, 24))
    assert out[inside].std() < 0.25 * image[inside].std()
    # the step stays a step: three columns astride it hold 3/4 of the 0.4 jump (a Gaussian blur of
    # σ = 3 px, what free diffusion for the same time gives, would hold less than 1/2)
    assert out[4:-4, 33].mean() - out[4:-4, 30].mean() > 0.3


def test_speckle_estimates():
    rng = np.random.default_rng(0)
    speckle = 0.5 * rng.gamma(16, 1.0 / 16, (1, 1, 96, 96))
    cv = estimate_speckle_cv(torch.from_numpy(speckle))
    assert cv.shape == (1,) and cv.item() == pytest.approx(0.25, abs=0.02)
    with_background = speckle.copy()
    with_background[..., :, :40] = 0.0  # dark area outside the sector is ignored
    assert estimate_speckle_cv(torch.from_numpy(with_background)).item() == pytest.approx(0.25, abs=0.02)
    assert estimate_speckle_cv(torch.full((2, 1, 20, 20), 0.5)).tolist() == [0.0, 0.0]
    additive = 0.5 + 0.05 * rng.standard_normal((96, 96))
    assert estimate_speckle_sigma(additive) == pytest.approx(0.05, abs=0.005)


def test_local_mean_var_matches_scipy_and_stays_non_negative():
    image = speckled((20, 25), seed=1)
    mean, var = local_mean_var(torch.from_numpy(image)[None, None], 5)
    box = ndimage.uniform_filter(image, 5, mode="mirror")
    np.testing.assert_allclose(mean[0, 0].numpy(), box, atol=1e-12)
    np.testing.assert_allclose(
        var[0, 0].numpy(), ndimage.uniform_filter(image**2, 5, mode="mirror") - box**2, atol=1e-12
    )
    _, var_flat = local_mean_var(torch.full((1, 1, 9, 9), 0.7), 5)
    assert (var_flat >= 0).all()


@pytest.mark.parametrize(
    ("name", "call", "error"),
    [
        ("lee", lambda: lee(torch.rand(2, 1, 3, 10)), InvalidImageError),  # smaller than the window
        ("lee", lambda: lee(torch.rand(2, 3, 10, 10)), InvalidImageError),  # 3 channels
        ("lee", lambda: lee(np.zeros((10, 10), dtype=np.uint8)), InvalidImageError),  # not float
        ("kuan", lambda: kuan(torch.rand(10, 10), window=4), InvalidParameterError),
        ("frost", lambda: frost(torch.rand(10, 10), damping=-1.0), InvalidParameterError),
        ("lee", lambda: lee(torch.rand(10, 10), cu=0.0), InvalidParameterError),
        ("srad", lambda: srad(torch.rand(10, 10), time_step=0.3), InvalidParameterError),
        ("srad", lambda: srad(torch.rand(10, 10), iterations=-1), InvalidParameterError),
        ("srad", lambda: srad(torch.rand(10, 10), rho=math.nan), InvalidParameterError),
    ],
)
def test_bad_inputs_raise_clear_errors(name, call, error):
    with pytest.raises(error, match=rf"^{name}: ") as info:
        call()
    assert isinstance(info.value, DespeckleError)


def test_srad_fills_isolated_black_speckle_samples():
    # log-compressed speckle clipped to 0 leaves isolated black pixels; the regularised q must not
    # mistake them for edges and freeze them (the unregularised filter leaves them near 0)
    image = speckled((48, 64), seed=3)
    rows, cols = np.random.default_rng(0).integers(6, 42, size=(2, 12))
    image[rows, cols] = 0.0
    assert srad(image)[rows, cols].min() > 0.15
    assert srad(image, regularization=0.0)[rows, cols].min() < 0.05
