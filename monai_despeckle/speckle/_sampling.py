"""Random draws that honour an explicit ``torch.Generator`` (for reproducible speckle).

A generator lives on one device; the draws are made there and moved to the target device, so a
CPU generator can drive speckle on a CUDA tensor (and vice versa) with the same numbers.
"""

from __future__ import annotations

import math

import torch

# A unit-mean Rayleigh law has sigma = sqrt(2 / pi): E[R] = sigma * sqrt(pi / 2) = 1.
UNIT_MEAN_RAYLEIGH_SIGMA = math.sqrt(2.0 / math.pi)


def _draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def randn(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Standard normal draws of ``shape`` on ``device``."""
    out = torch.randn(shape, generator=generator, device=_draw_device(generator, device), dtype=dtype)
    return out.to(device)


def rand(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Uniform [0, 1) draws of ``shape`` on ``device``."""
    out = torch.rand(shape, generator=generator, device=_draw_device(generator, device), dtype=dtype)
    return out.to(device)


def unit_mean_rayleigh(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Rayleigh draws with sigma = sqrt(2/pi), i.e. mean 1 and std sqrt((4 - pi) / pi) ≈ 0.523.

    Inverse-CDF sampling: R = sigma * sqrt(-2 ln U) for U uniform on (0, 1].
    """
    u = 1.0 - rand(shape, generator, device, dtype)  # in (0, 1]: log stays finite
    return UNIT_MEAN_RAYLEIGH_SIGMA * torch.sqrt(-2.0 * torch.log(u))


def standard_gamma(
    shape: tuple[int, ...],
    alpha: float,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Gamma(shape=alpha, scale=1) draws by Marsaglia & Tsang's squeeze-rejection method.

    Written by hand because ``torch.distributions.Gamma`` (``torch._standard_gamma``) accepts no
    ``torch.Generator``, and reproducibility from a seed is a requirement here. Reference:
    Marsaglia & Tsang, "A simple method for generating gamma variables", ACM TOMS 26:363 (2000).
    For alpha < 1 the boost Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha) is used.

    Args:
        shape: output shape.
        alpha: shape parameter, > 0.
        generator: source of randomness (``None``: torch's global generator).
        device: device of the result.
        dtype: floating dtype of the result.
    """
    boost = alpha < 1.0
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    n = math.prod(shape)
    # Draws are made in float64 on the generator's device, then moved: the acceptance test is
    # sensitive to rounding for large alpha.
    draw_device = _draw_device(generator, device)
    out = torch.empty(n, dtype=torch.float64, device=draw_device)
    pending = torch.arange(n, device=draw_device)
    while pending.numel() > 0:  # acceptance rate > 95 %: a handful of rounds
        m = pending.numel()
        x = torch.randn(m, generator=generator, device=draw_device, dtype=torch.float64)
        u = torch.rand(m, generator=generator, device=draw_device, dtype=torch.float64)
        v = (1.0 + c * x) ** 3
        ok = v > 0
        log_v = torch.log(torch.where(ok, v, torch.ones_like(v)))
        ok &= torch.log1p(-u) < 0.5 * x * x + d - d * v + d * log_v
        out[pending[ok]] = d * v[ok]
        pending = pending[~ok]
    if boost:
        u = 1.0 - torch.rand(n, generator=generator, device=draw_device, dtype=torch.float64)
        out = out * u ** (1.0 / alpha)
    return out.reshape(shape).to(device=device, dtype=dtype)
