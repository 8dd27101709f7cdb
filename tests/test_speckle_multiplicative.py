"""Multiplicative speckle: scikit-image equivalence, Rayleigh and Gamma laws, reproducibility."""

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from PIL import Image
from skimage.util import random_noise

from monai_despeckle.errors import DespeckleError, InvalidImageError
from monai_despeckle.speckle import gamma_speckle, gaussian_speckle, rayleigh_speckle

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _busi_image() -> np.ndarray:
    """A real BUSI breast image in [0, 1] (float64), cropped to 256 × 256."""
    path = DATA / "busi" / "images" / "busi_benign_0002.png"
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    image = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    return image[:256, :256]


@pytest.mark.parametrize("var", [0.1, 0.5, 0.9])
def test_gaussian_speckle_has_the_law_of_skimage_random_noise(var):
    image = _busi_image()
    ours = gaussian_speckle(torch.from_numpy(image), var=var, generator=_gen(0)).numpy()
    ref = random_noise(image, mode="speckle", var=var, rng=np.random.default_rng(0))
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    # same pixel-wise distribution: compare the whole outputs and the noisy/clean ratios
    assert scipy.stats.ks_2samp(ours.ravel(), ref.ravel()).pvalue > 1e-3
    body = image > 0.05
    assert scipy.stats.ks_2samp(ours[body] / image[body], ref[body] / image[body]).pvalue > 1e-3
    assert ours.mean() == pytest.approx(ref.mean(), abs=0.01)
    assert ours.std() == pytest.approx(ref.std(), abs=0.01)
    for level in (0.0, 1.0):
        assert np.mean(ours == level) == pytest.approx(np.mean(ref == level), abs=0.01)
    assert not np.array_equal(ours, ref)  # a law, not a copy


def test_gaussian_speckle_unclipped_multiplier_is_normal_with_the_given_moments():
    image = torch.full((200, 200), 0.5)
    out = gaussian_speckle(image, var=0.3, mean=0.1, generator=_gen(1), clip=False)
    n = (out / image - 1.0).double().numpy().ravel()
    assert scipy.stats.kstest(n, "norm", args=(0.1, math.sqrt(0.3))).pvalue > 1e-3
    assert out.min() < 0.0 and out.max() > 1.0  # not clipped


def test_gaussian_speckle_clips_signed_images_to_minus_one_like_skimage():
    image = torch.linspace(-1.0, 1.0, 4096).reshape(64, 64)
    out = gaussian_speckle(image, var=0.9, generator=_gen(2))
    assert out.min().item() == -1.0 and out.max().item() == 1.0
    ref = random_noise(image.numpy(), mode="speckle", var=0.9, rng=np.random.default_rng(2))
    assert ref.min() == -1.0


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_rayleigh_speckle_has_unit_mean_and_rayleigh_spread(strength):
    image = torch.full((256, 256), 0.25, dtype=torch.float64)
    n = (rayleigh_speckle(image, strength=strength, generator=_gen(3), clip=False) / image).numpy().ravel()
    rayleigh_std = math.sqrt((4.0 - math.pi) / math.pi)
    assert n.mean() == pytest.approx(1.0, abs=0.01)
    assert n.std() == pytest.approx(strength * rayleigh_std, rel=0.02)
    law = scipy.stats.rayleigh(scale=math.sqrt(2.0 / math.pi))
    r = 1.0 + (n - 1.0) / strength  # undo the blend: the underlying draw is unit-mean Rayleigh
    assert scipy.stats.kstest(r, law.cdf).pvalue > 1e-3
    assert n.min() >= 1.0 - strength


def test_rayleigh_speckle_strength_zero_is_identity_and_clip_bounds():
    image = torch.rand(32, 32, generator=_gen(4))
    torch.testing.assert_close(rayleigh_speckle(image, strength=0.0, generator=_gen(5)), image)
    out = rayleigh_speckle(image, generator=_gen(5))
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("looks", [0.5, 1.0, 4.0, 2.5])
def test_gamma_speckle_multiplier_has_mean_one_and_variance_one_over_looks(looks):
    image = torch.full((256, 256), 0.1)
    n = (gamma_speckle(image, looks=looks, generator=_gen(6), clip=False) / image).double().numpy().ravel()
    assert n.mean() == pytest.approx(1.0, abs=0.02)
    assert n.var() == pytest.approx(1.0 / looks, rel=0.05)
    assert scipy.stats.kstest(n, scipy.stats.gamma(a=looks, scale=1.0 / looks).cdf).pvalue > 1e-3


@pytest.mark.parametrize("fn", [gaussian_speckle, rayleigh_speckle, gamma_speckle])
def test_generators_make_noise_reproducible_and_keep_dtype_and_device(fn):
    image = torch.rand(3, 40, 30, dtype=torch.float64, generator=_gen(7))
    a, b, c = fn(image, generator=_gen(8)), fn(image, generator=_gen(8)), fn(image, generator=_gen(9))
    assert a.shape == image.shape and a.dtype == torch.float64 and a.device == image.device
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    half = fn(image.to(torch.float16), generator=_gen(8))
    assert half.dtype == torch.float16
    from_numpy = fn(image.numpy(), generator=_gen(8))
    torch.testing.assert_close(from_numpy, a, rtol=0, atol=0)


def test_bad_arguments_raise_despeckle_errors():
    image = torch.rand(8, 8)
    with pytest.raises(DespeckleError, match="var"):
        gaussian_speckle(image, var=-0.1)
    with pytest.raises(DespeckleError, match="strength"):
        rayleigh_speckle(image, strength=1.5)
    with pytest.raises(DespeckleError, match="looks"):
        gamma_speckle(image, looks=0.0)
    with pytest.raises(InvalidImageError, match="floating-point"):
        gaussian_speckle(torch.zeros(8, 8, dtype=torch.uint8))
