"""Speckle-reducing anisotropic diffusion (SRAD), batched in torch.

Yu & Acton (IEEE TIP 11:1260, 2002) replace the gradient of Perona–Malik diffusion by the
*instantaneous coefficient of variation* q, an edge detector made for multiplicative speckle, and
diffuse with ``∂I/∂t = div(c(q) ∇I)``, where

    q² = (½ (|∇I|/I)² − (1/16) (∇²I/I)²) / (1 + ¼ ∇²I/I)²
    c(q) = 1 / (1 + (q² − q0²) / (q0² (1 + q0²)))

and q0(t) is the speckle scale function, the coefficient of variation of homogeneous speckle at
time t. In homogeneous regions q ≲ q0 and c ≈ 1 (free diffusion); on edges q ≫ q0 and c → 0.

q0(t) must shrink as the speckle is smoothed away. The paper gives two ways: measure σ/μ of a
homogeneous region of the current image at every step, or follow ``q0(t) = q0 exp(−ρ t)``. The
first is the default here, with the region found automatically: q0(t) is the median of σ/μ over
the 7×7 tiles of the tissue in each frame (:func:`estimate_speckle_cv`), which is the value in
homogeneous speckle when at least half of the tissue is homogeneous. Passing ``q0`` uses
the exponential schedule instead. (Estimating q0 once and then decaying it with ρ = 1/6 lags
behind the real speckle reduction: after t = 5 it still allows free diffusion across a 0.3→0.7
step under Gamma speckle of 16 looks, and the edge is blurred like a Gaussian of σ = 3 px.)

The edge detector q is computed on a copy of the image smoothed by a Gaussian of σ = 1 px, the
regularisation of Catté et al. (SIAM J. Numer. Anal. 29:182, 1992) that makes diffusion well
posed. Without it an isolated near-black speckle sample (clipped to 0 by log compression) has an
enormous q, c(q) = 0 freezes it, and the output keeps a pepper of black pixels (on simulated breast
phantoms: SSIM 0.63 instead of 0.71). ``regularization=0`` gives the paper's unregularised filter.

The discretisation is the paper's:
four one-sided differences, c of the pixel for its north/west fluxes and of the neighbour for its
south/east fluxes (a conservative scheme), zero-flux (reflective) borders, and explicit steps that
are stable for Δt ≤ 1/4.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.filters.base import as_frames, check_positive, check_window
from monai_despeckle.filters.local_moments import estimate_speckle_cv

MAX_TIME_STEP = 0.25


def _instantaneous_cv2(frames: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """q² of every pixel and the four one-sided differences (north, south, west, east)."""
    padded = F.pad(frames, (1, 1, 1, 1), mode="replicate")  # zero flux across the border
    d_north = padded[..., :-2, 1:-1] - frames
    d_south = padded[..., 2:, 1:-1] - frames
    d_west = padded[..., 1:-1, :-2] - frames
    d_east = padded[..., 1:-1, 2:] - frames
    inverse = 1.0 / frames.clamp_min(1e-6)
    gradient2 = (d_north**2 + d_south**2 + d_west**2 + d_east**2) * inverse**2
    laplacian = (d_north + d_south + d_west + d_east) * inverse
    tiny = torch.finfo(frames.dtype).tiny
    q2 = (0.5 * gradient2 - laplacian**2 / 16.0) / ((1.0 + 0.25 * laplacian) ** 2).clamp_min(tiny)
    return q2, (d_north, d_south, d_west, d_east)


def _smoothed(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """``frames`` blurred by a Gaussian of ``sigma`` px with replicated borders (identity for 0)."""
    if sigma == 0:
        return frames
    # imported here: MONAI takes seconds to import, and every command that lists methods loads
    # this module, while only SRAD's smoothing needs it
    from monai.networks.layers import separable_filtering
    from monai.networks.layers.convutils import gaussian_1d

    kernel = gaussian_1d(torch.tensor(sigma), truncated=3.0).to(frames)
    return separable_filtering(frames, [kernel, kernel], mode="replicate")


def srad(
    image: np.ndarray | torch.Tensor,
    iterations: int = 30,
    time_step: float = 0.05,
    q0: float | None = None,
    rho: float = 1.0 / 6.0,
    window: int = 7,
    regularization: float = 1.0,
) -> np.ndarray | torch.Tensor:
    """Speckle-reducing anisotropic diffusion (Yu & Acton, IEEE TIP 11:1260, 2002).

    Defaults: 30 steps of Δt = 0.05 (diffusion time 1.5, well inside the stable Δt ≤ 0.25; a
    smoothing length √(2t) ≈ 1.7 px, about one speckle grain) with q0(t) re-estimated from each frame
    at every step (see the module docstring); ρ = 1/6 is the paper's decay rate, used only with an
    explicit ``q0``. Longer diffusion (t = 5) flattens thin bright layers: on 256² phantoms PSNR
    falls from 26.9 to 25.9 dB (breast) and from 26.9 to 23.7 dB (carotid, where the dark lumen
    raises the q0 estimate).

    Args:
        image: 2D float image (numpy or torch) or frames ``[N, 1, H, W]``, values in [0, 1].
        iterations: number of explicit diffusion steps.
        time_step: Δt of each step, in (0, 0.25].
        q0: speckle coefficient of variation σ/μ of a homogeneous region at t = 0; it then decays as
            ``q0 exp(−ρ t)``. None re-estimates q0(t) from each frame at every step.
        rho: decay rate of q0(t) with an explicit ``q0``; 0 keeps q0 fixed.
        window: tile size of the σ/μ used to estimate q0(t).
        regularization: σ in px of the Gaussian applied before computing q (Catté et al.); 0 disables.

    Returns:
        The diffused image, same type, shape, dtype and device as ``image``.
    """
    frames, restore = as_frames(image, "srad")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise InvalidParameterError(f"srad: iterations must be an integer >= 0, got {iterations!r}")
    if not 0 < time_step <= MAX_TIME_STEP:
        raise InvalidParameterError(
            f"srad: time_step must be in (0, {MAX_TIME_STEP}] for stability, got {time_step!r}"
        )
    if not (math.isfinite(rho) and rho >= 0):
        raise InvalidParameterError(f"srad: rho must be a number >= 0, got {rho!r}")
    given_q0 = None if q0 is None else check_positive(q0, "srad", "q0")
    window = check_window(window, "srad")
    if not (math.isfinite(regularization) and regularization >= 0):
        raise InvalidParameterError(f"srad: regularization must be a number >= 0, got {regularization!r}")

    current = frames.clone()
    for step in range(int(iterations)):
        q2, (d_north, d_south, d_west, d_east) = _instantaneous_cv2(current)
        if regularization > 0:
            q2, _ = _instantaneous_cv2(_smoothed(current, regularization))
        if given_q0 is None:
            scale = estimate_speckle_cv(current, window).view(-1, 1, 1, 1)
        else:
            scale = torch.full_like(current[:, :, :1, :1], given_q0 * math.exp(-rho * step * time_step))
        # Floor q0² so that a flat frame (q = q0 = 0) diffuses freely (c = 1) instead of dividing 0 by 0.
        scale2 = (scale * scale).clamp_min(1e-12)
        # c(q) = 1 / (1 + (q² − q0²)/(q0²(1 + q0²))) written as q0²(1 + q0²) / (q² + q0⁴), clamped to [0, 1].
        diffusivity = (scale2 * (1.0 + scale2) / (q2 + scale2 * scale2)).clamp(0.0, 1.0)
        padded_c = F.pad(diffusivity, (0, 1, 0, 1), mode="replicate")
        c_south = padded_c[..., 1:, :-1]
        c_east = padded_c[..., :-1, 1:]
        divergence = diffusivity * (d_north + d_west) + c_south * d_south + c_east * d_east
        current = current + time_step * divergence
    return restore(current)
