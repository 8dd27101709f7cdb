"""Multiplicative speckle models: ``out = image × n`` (or ``image + image × n``) with i.i.d. noise n.

These pixel-wise models ignore the spatial correlation of real speckle (see :mod:`.physics` for
that) but are the corruptions used to train and benchmark many despeckling networks:

* :func:`gaussian_speckle`: scikit-image's ``random_noise(mode="speckle")``, used by the
  skip-connected denoising autoencoder of Bhute et al. (arXiv 2403.02750, 2024) on BUSI.
* :func:`rayleigh_speckle`: amplitude-domain speckle, the envelope of fully developed speckle is
  Rayleigh-distributed (Wagner et al., IEEE Trans. Sonics Ultrason. 30:156, 1983); the
  "Rayleigh-noise pairs" of the pix2pix despeckler of Vieira et al. (IEEE Access 12:45811, 2024).
* :func:`gamma_speckle`: intensity-domain speckle averaged over L independent looks is
  Gamma(L, 1/L) (Goodman, J. Opt. Soc. Am. 66:1145, 1976; the SAR/ultrasound "L-look" model).

All take an explicit ``torch.Generator`` for reproducibility, draw the noise on the generator's
device, and return a tensor on the input's device with the input's (floating) dtype.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from monai_despeckle.speckle._sampling import randn, standard_gamma, unit_mean_rayleigh
from monai_despeckle.speckle._validation import as_float_image, check_range

__all__ = ["RAYLEIGH_STD", "gamma_speckle", "gaussian_speckle", "rayleigh_speckle"]

# Standard deviation of a unit-mean Rayleigh variable: sqrt((4 − π) / π) ≈ 0.523 (SNR 1.91).
RAYLEIGH_STD = math.sqrt((4.0 - math.pi) / math.pi)


def _clip(out: torch.Tensor, image: torch.Tensor, clip: bool) -> torch.Tensor:
    """Clip to [0, 1], or to [-1, 1] for signed input, as scikit-image's ``random_noise`` does."""
    if not clip:
        return out
    low = -1.0 if bool((image < 0).any()) else 0.0
    return out.clamp(low, 1.0)


def _noise_dtype(image: torch.Tensor) -> torch.dtype:
    # float16/bfloat16 noise would be coarse: draw in float32 and cast the result
    return image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32


def gaussian_speckle(
    image: torch.Tensor | np.ndarray,
    var: float = 0.7,
    mean: float = 0.0,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """scikit-image speckle: ``out = image + image * n`` with ``n ~ N(mean, var)``.

    Identical in law to ``skimage.util.random_noise(image, mode="speckle", var=var, mean=mean)``
    (note: Gaussian noise of standard deviation ``sqrt(var)``, not uniform as MATLAB's imnoise).

    Args:
        image: floating-point image, any shape, typically in [0, 1].
        var: variance of the Gaussian multiplier noise, ≥ 0.
        mean: mean of the multiplier noise.
        generator: source of randomness (``None``: torch's global generator).
        clip: clip to [0, 1] (to [-1, 1] if the image has negative values), as scikit-image does.

    Returns:
        Speckled image, same shape, dtype and device as ``image``.
    """
    x = as_float_image(image)
    var = check_range("var", var)
    mean = check_range("mean", mean, -math.inf)
    n = randn(tuple(x.shape), generator, x.device, _noise_dtype(x)) * math.sqrt(var) + mean
    out = x + x * n.to(x.dtype)
    return _clip(out, x, clip)


def rayleigh_speckle(
    image: torch.Tensor | np.ndarray,
    strength: float = 1.0,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """Multiplicative Rayleigh speckle of unit mean in the amplitude (envelope) domain.

    ``out = image * n`` with ``n = 1 + strength * (R - 1)`` and ``R ~ Rayleigh(σ = sqrt(2/π))``,
    so that E[R] = 1. ``strength`` blends between no speckle (0) and fully developed speckle
    (1: n is exactly unit-mean Rayleigh, std ≈ 0.523, mean/std = 1.91); in between n keeps mean 1
    and has std ``0.523 * strength`` (a scaled, shifted Rayleigh, always ≥ 0).

    Args:
        image: floating-point image (display amplitude), any shape, typically in [0, 1].
        strength: speckle strength in [0, 1].
        generator: source of randomness (``None``: torch's global generator).
        clip: clip the result to [0, 1].

    Returns:
        Speckled image, same shape, dtype and device as ``image``.
    """
    x = as_float_image(image)
    strength = check_range("strength", strength, 0.0, 1.0)
    r = unit_mean_rayleigh(tuple(x.shape), generator, x.device, _noise_dtype(x))
    n = 1.0 + strength * (r - 1.0)
    return _clip(x * n.to(x.dtype), x, clip)


def gamma_speckle(
    image: torch.Tensor | np.ndarray,
    looks: float = 1.0,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """L-look multiplicative intensity speckle: ``out = image * n``, ``n ~ Gamma(L, scale=1/L)``.

    ``n`` has mean 1 and variance ``1/L``: L = 1 is single-look fully developed intensity speckle
    (exponential law); larger L models compounding/averaging of L independent looks.

    Args:
        image: floating-point image (intensity), any shape, typically in [0, 1].
        looks: number of looks L > 0 (need not be an integer: the equivalent number of looks).
        generator: source of randomness (``None``: torch's global generator).
        clip: clip the result to [0, 1].

    Returns:
        Speckled image, same shape, dtype and device as ``image``.
    """
    x = as_float_image(image)
    looks = check_range("looks", looks, 0.0, 1e6, open_low=True)
    n = standard_gamma(tuple(x.shape), looks, generator, x.device, _noise_dtype(x)) / looks
    return _clip(x * n.to(x.dtype), x, clip)
