"""Adaptive local-statistics speckle filters: Lee (1980), Kuan (1985) and Frost (1982).

All three model the observed intensity as ``z = x · v`` with unit-mean multiplicative speckle ``v``
of coefficient of variation C_u, and compare the local coefficient of variation
C_i = σ_z/μ_z of each window with C_u: where C_i ≈ C_u the window is homogeneous speckle and is
averaged; where C_i ≫ C_u it holds structure and the pixel is kept. They are batched torch code
(local moments by average pooling with reflective borders), so they run on the frames' device.

On log-compressed display B-mode the speckle is closer to additive than multiplicative, so C_i of
homogeneous regions grows as they get darker; these filters then smooth bright regions more than
dark ones. This is the known behaviour of these baselines on B-mode data and is kept as published.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from monai_despeckle.filters.base import (
    InvalidParameterError,
    as_frames,
    check_fits,
    check_positive,
    check_window,
)
from monai_despeckle.filters.local_moments import estimate_speckle_cv, local_mean_var


def _noise_cv2(frames: torch.Tensor, window: int, cu: float | None, name: str) -> torch.Tensor:
    """C_u² per frame, shaped ``[N, 1, 1, 1]``: the given value, or estimated from each frame."""
    if cu is None:
        estimate = estimate_speckle_cv(frames, window)
    else:
        estimate = torch.full((frames.shape[0],), check_positive(cu, name, "cu"), dtype=frames.dtype)
    return (estimate * estimate).to(device=frames.device, dtype=frames.dtype).view(-1, 1, 1, 1)


def lee(
    image: np.ndarray | torch.Tensor, window: int = 7, cu: float | None = None
) -> np.ndarray | torch.Tensor:
    """Lee's local-statistics filter for multiplicative noise (J.-S. Lee, IEEE TPAMI 2:165, 1980).

    The linear minimum-mean-square-error estimate of the linearised model:
    ``x̂ = μ + k (z − μ)`` with ``k = σ_x² / (σ_x² + μ² C_u²)`` and the signal variance
    ``σ_x² = max(σ_z² − μ² C_u², 0) / (1 + C_u²)`` (Lee's eq. for unit-mean speckle), μ and σ_z² the
    local mean and variance over a ``window × window`` box (7×7 by default: 49 samples keep the
    local σ/μ within about 10 % (one standard deviation) of its value in homogeneous speckle).

    Args:
        image: 2D float image (numpy or torch) or frames ``[N, 1, H, W]``, values in [0, 1].
        window: odd size of the local window in pixels.
        cu: speckle coefficient of variation C_u (1/√ENL of a homogeneous region). None estimates it
            per frame as the median σ/μ of its tissue tiles (see :func:`estimate_speckle_cv`).

    Returns:
        The filtered image, same type, shape, dtype and device as ``image``.
    """
    frames, restore = as_frames(image, "lee")
    window = check_window(window, "lee")
    check_fits(frames, window, "lee")
    mean, var = local_mean_var(frames, window)
    cu2 = _noise_cv2(frames, window, cu, "lee")
    speckle_var = mean * mean * cu2
    signal_var = ((var - speckle_var) / (1.0 + cu2)).clamp_min(0.0)
    denominator = signal_var + speckle_var
    gain = torch.where(
        denominator > 0, signal_var / denominator.clamp_min(torch.finfo(frames.dtype).tiny), 0.0
    )
    return restore(mean + gain * (frames - mean))


def kuan(
    image: np.ndarray | torch.Tensor, window: int = 7, cu: float | None = None
) -> np.ndarray | torch.Tensor:
    """Kuan's adaptive noise-smoothing filter (D. T. Kuan et al., IEEE TPAMI 7:165, 1985).

    The exact (not linearised) LLMMSE estimate under signal-dependent multiplicative noise:
    ``x̂ = μ + k (z − μ)`` with ``k = (1 − C_u²/C_i²) / (1 + C_u²)`` clamped at 0, i.e.
    ``k = σ_x² / σ_z²`` with the same signal variance as :func:`lee`. Differs from Lee by the
    ``1 + C_u²`` term, which matters when the speckle is strong.

    Args:
        image: 2D float image (numpy or torch) or frames ``[N, 1, H, W]``, values in [0, 1].
        window: odd size of the local window in pixels.
        cu: speckle coefficient of variation C_u, or None to estimate it per frame.

    Returns:
        The filtered image, same type, shape, dtype and device as ``image``.
    """
    frames, restore = as_frames(image, "kuan")
    window = check_window(window, "kuan")
    check_fits(frames, window, "kuan")
    mean, var = local_mean_var(frames, window)
    cu2 = _noise_cv2(frames, window, cu, "kuan")
    signal_var = ((var - mean * mean * cu2) / (1.0 + cu2)).clamp_min(0.0)
    gain = torch.where(var > 0, signal_var / var.clamp_min(torch.finfo(frames.dtype).tiny), 0.0)
    return restore(mean + gain * (frames - mean))


def frost(
    image: np.ndarray | torch.Tensor, window: int = 5, damping: float = 1.0, cu: float | None = None
) -> np.ndarray | torch.Tensor:
    """Frost's adaptive exponential filter (V. S. Frost et al., IEEE TPAMI 4:157, 1982).

    Each pixel becomes the weighted mean of its ``window × window`` neighbourhood with weights
    ``exp(−α |t|)``, |t| the Euclidean distance to the centre and ``α = K · C_i² / C_u²``, C_i the
    local coefficient of variation at the centre. Frost's damping is ``α = K · C_i²`` on SAR
    intensity data, where C_u ≈ 1 for single-look images; dividing by C_u² (estimated per frame)
    keeps the meaning of K on B-mode data, whose C_u is 0.1-0.3: α ≈ K in homogeneous speckle
    (weights e^(−|t|) for the usual K = 1) and α ≫ K on edges, where the centre pixel dominates.

    Args:
        image: 2D float image (numpy or torch) or frames ``[N, 1, H, W]``, values in [0, 1].
        window: odd size of the kernel (and of the window of C_i) in pixels.
        damping: damping factor K (≥ 0); 0 gives a box mean.
        cu: speckle coefficient of variation C_u, or None to estimate it per frame.

    Returns:
        The filtered image, same type, shape, dtype and device as ``image``.
    """
    frames, restore = as_frames(image, "frost")
    window = check_window(window, "frost")
    check_fits(frames, window, "frost")
    if not (math.isfinite(damping) and damping >= 0):
        raise InvalidParameterError(f"frost: damping must be a number >= 0, got {damping!r}")
    mean, var = local_mean_var(frames, window)
    cu2 = _noise_cv2(frames, window, cu, "frost")
    ci2 = var / (mean * mean).clamp_min(torch.finfo(frames.dtype).tiny)
    # Capped so that alpha·0 at the centre stays 0; exp(−50) already leaves only the centre pixel.
    alpha = (damping * ci2 / cu2.clamp_min(torch.finfo(frames.dtype).eps)).clamp_max(50.0)
    # Accumulate the k² shifted copies one at a time: same result as unfolding the neighbourhoods,
    # without materialising a [N, k², H, W] tensor (k² times the frames' memory).
    pad = window // 2
    padded = torch.nn.functional.pad(frames, (pad, pad, pad, pad), mode="reflect")
    height, width = frames.shape[-2:]
    numerator = torch.zeros_like(frames)
    denominator = torch.zeros_like(frames)
    for dy in range(window):
        for dx in range(window):
            weight = torch.exp(-alpha * math.hypot(dy - pad, dx - pad))
            numerator += weight * padded[..., dy : dy + height, dx : dx + width]
            denominator += weight
    return restore(numerator / denominator)
