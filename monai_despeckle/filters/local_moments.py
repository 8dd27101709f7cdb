"""Local first and second moments, and the speckle-level estimates built on them.

The local-statistics speckle filters (Lee, Kuan, Frost) and the default parameters of the other
filters all need the same two numbers per pixel: the mean and variance in a small window. They are
computed here once, batched in torch with reflective borders, so they run on the frames' device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monai_despeckle.errors import InvalidImageError

# Below this local mean (≈ 5/255 on 8-bit data) a pixel is taken as background outside the
# ultrasound sector, where σ/μ is undefined; such pixels are left out of the speckle estimates.
BACKGROUND_LEVEL = 0.02


def box_mean(frames: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a ``window × window`` box around each pixel, mirror-reflected at the borders.

    Args:
        frames: ``[N, C, H, W]`` float tensor.
        window: odd box size in pixels.
    """
    pad = window // 2
    height, width = frames.shape[-2:]
    if pad >= min(height, width):
        raise InvalidImageError(
            f"a {window}×{window} window needs frames of at least {pad + 1}×{pad + 1} pixels, "
            f"got {height}×{width}"
        )
    padded = F.pad(frames, (pad, pad, pad, pad), mode="reflect")
    return F.avg_pool2d(padded, window, stride=1)


def local_mean_var(frames: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Local mean and (biased) variance of each pixel over a ``window × window`` box.

    The variance is E[x²] − E[x]² computed after subtracting each frame's global mean, which keeps
    float32 cancellation error at the level of the local variance, not of the squared intensity.

    Args:
        frames: ``[N, C, H, W]`` float tensor.
        window: odd box size in pixels.

    Returns:
        ``(mean, variance)``, both shaped like ``frames``; the variance is clamped at 0.
    """
    offset = frames.mean(dim=(-2, -1), keepdim=True)
    centred = frames - offset
    mean_c = box_mean(centred, window)
    var = (box_mean(centred * centred, window) - mean_c * mean_c).clamp_min(0.0)
    return mean_c + offset, var


def block_mean_var(frames: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance of non-overlapping ``block × block`` tiles (the remainder is dropped).

    Cheaper than :func:`local_mean_var` by a factor ``block²`` and enough for frame-level estimates.
    A frame smaller than a block counts as one tile.

    Args:
        frames: ``[N, C, H, W]`` float tensor.
        block: tile size in pixels.
    """
    size = (min(block, frames.shape[-2]), min(block, frames.shape[-1]))
    offset = frames.mean(dim=(-2, -1), keepdim=True)
    centred = frames - offset
    mean_c = F.avg_pool2d(centred, size)
    var = (F.avg_pool2d(centred * centred, size) - mean_c * mean_c).clamp_min(0.0)
    return mean_c + offset, var


def _tissue_median(values: torch.Tensor, mean: torch.Tensor, background: float) -> torch.Tensor:
    """Per-frame median of ``values`` over tiles whose mean exceeds ``background``; 0 if none."""
    masked = torch.where(mean > background, values, torch.full_like(values, float("nan")))
    median = masked.flatten(start_dim=1).nanmedian(dim=1).values
    return torch.nan_to_num(median, nan=0.0)


def estimate_speckle_cv(
    frames: torch.Tensor, window: int = 7, background: float = BACKGROUND_LEVEL
) -> torch.Tensor:
    """Speckle coefficient of variation C_u = σ/μ of each frame, estimated from the image itself.

    Lee (1980) and Kuan (1985) take C_u from a homogeneous region; without one we use the median of
    σ/μ over the non-overlapping ``window × window`` tiles of the tissue. Edges and structures raise
    σ/μ only in a minority of tiles, so the median stays close to the value of homogeneous speckle
    as long as at least half of the tissue area is homogeneous. Pass C_u explicitly (e.g. 1/√ENL
    measured in a region of interest) when that assumption fails.

    Args:
        frames: ``[N, 1, H, W]`` float tensor in [0, 1].
        window: tile size in pixels.
        background: tiles whose mean is at or below this are ignored (dark area outside the sector).

    Returns:
        ``[N]`` tensor with one C_u per frame (0 for a constant or all-background frame).
    """
    mean, var = block_mean_var(frames, window)
    cv = var.sqrt() / mean.clamp_min(background)
    return _tissue_median(cv, mean, background)


def estimate_speckle_sigma(
    image: np.ndarray | torch.Tensor, window: int = 7, background: float = BACKGROUND_LEVEL
) -> float:
    """Speckle standard deviation of a 2D image: the median σ of its ``window × window`` tissue tiles.

    Used as the noise level of NLM, BM3D and the bilateral filter. Log-compressed B-mode speckle is
    close to additive with a roughly constant σ, but it is spatially correlated over a few pixels
    (the resolution cell), so wavelet estimators that assume white noise (e.g. scikit-image
    ``estimate_sigma``, Donoho & Johnstone 1994) see only its finest-scale part and under-estimate
    it several-fold on real scans (≈0.003 vs ≈0.03 on BUSI). The tile σ includes the correlated
    part.

    Args:
        image: 2D float image in [0, 1] (numpy array or torch tensor).
        window: tile size in pixels.
        background: tiles whose mean is at or below this are ignored.
    """
    frames = torch.as_tensor(np.asarray(image) if isinstance(image, np.ndarray) else image)[None, None]
    mean, var = block_mean_var(frames.to(torch.float64), window)
    return float(_tissue_median(var.sqrt(), mean, background)[0])
