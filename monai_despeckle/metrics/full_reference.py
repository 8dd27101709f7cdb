"""Full-reference image quality: PSNR, SSIM and MSE against a clean reference.

The computations are MONAI's (:class:`monai.metrics.PSNRMetric`, :class:`~monai.metrics.SSIMMetric`,
:class:`~monai.metrics.MSEMetric`); this module only brings numpy or torch frames to MONAI's
``[N, 1, H, W]`` layout and returns one value per image. Frames are display B-mode in [0, 1]
(log-compressed), so the data range is 1 unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from monai.metrics import MSEMetric, PSNRMetric, SSIMMetric

from monai_despeckle.errors import InvalidImageError

ArrayLike = np.ndarray | torch.Tensor

__all__ = ["as_batch", "mse", "psnr", "ssim"]


def as_batch(image: ArrayLike, name: str = "image") -> torch.Tensor:
    """``[H, W]``, ``[N, H, W]`` or ``[N, 1, H, W]`` numpy/torch -> float32 tensor ``[N, 1, H, W]``.

    Args:
        image: frames to convert (a 3D input is read as N single-channel frames).
        name: what to call the input in an error message.
    """
    tensor = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    tensor = tensor.detach().to(device="cpu", dtype=torch.float32)
    if tensor.ndim == 2:
        tensor = tensor[None, None]
    elif tensor.ndim == 3:
        tensor = tensor[:, None]
    elif tensor.ndim != 4 or tensor.shape[1] != 1:
        raise InvalidImageError(
            f"{name} must be [H, W], [N, H, W] or [N, 1, H, W]; got {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise InvalidImageError(f"{name} contains NaN or infinite values")
    return tensor


def _pair(output: ArrayLike, reference: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    out, ref = as_batch(output, "output"), as_batch(reference, "reference")
    if out.shape != ref.shape:
        raise InvalidImageError(
            f"output {tuple(out.shape)} and reference {tuple(ref.shape)} must have the same shape"
        )
    return out, ref


def _per_image(values: torch.Tensor | Sequence[Any]) -> np.ndarray:
    # MONAI types its metrics' results for lists of tensors too; a batch tensor in gives a tensor out
    return cast(torch.Tensor, values).reshape(-1).double().numpy()


def mse(output: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """Mean squared error per image, ``mean((output - reference)²)``.

    Args:
        output: despeckled frames ``[H, W]``, ``[N, H, W]`` or ``[N, 1, H, W]`` in [0, 1].
        reference: clean frames of the same shape.

    Returns:
        float64 array ``[N]``.
    """
    out, ref = _pair(output, reference)
    return _per_image(MSEMetric(reduction="none")(out, ref))


def psnr(output: ArrayLike, reference: ArrayLike, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio in dB per image, ``10·log10(data_range² / MSE)``.

    Identical frames give ``inf``. Matches ``skimage.metrics.peak_signal_noise_ratio(reference,
    output, data_range=data_range)``.

    Args:
        output: despeckled frames ``[H, W]``, ``[N, H, W]`` or ``[N, 1, H, W]``.
        reference: clean frames of the same shape.
        data_range: the peak value (1 for [0, 1] display frames).

    Returns:
        float64 array ``[N]``.
    """
    out, ref = _pair(output, reference)
    return _per_image(PSNRMetric(max_val=data_range, reduction="none")(out, ref))


def ssim(
    output: ArrayLike,
    reference: ArrayLike,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
) -> np.ndarray:
    """Structural similarity per image (Wang et al., IEEE TIP 13:600, 2004).

    MONAI's SSIM with an ``win_size``×``win_size`` Gaussian window of std ``sigma``, averaged over
    the positions where the window fits inside the image ("valid" region), population
    (not sample) covariances, K1 = 0.01, K2 = 0.03. This is the computation of
    ``skimage.metrics.structural_similarity(..., data_range=1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``; the two agree to ~1e-6 (float32 here, float64 there).

    Args:
        output: despeckled frames ``[H, W]``, ``[N, H, W]`` or ``[N, 1, H, W]``; each side must
            be at least ``win_size``.
        reference: clean frames of the same shape.
        data_range: dynamic range of the data (1 for [0, 1] display frames).
        win_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window in pixels.

    Returns:
        float64 array ``[N]``.
    """
    out, ref = _pair(output, reference)
    if min(out.shape[-2:]) < win_size:
        raise InvalidImageError(
            f"SSIM needs frames of at least {win_size}×{win_size}; got {tuple(out.shape[-2:])}"
        )
    metric = SSIMMetric(
        spatial_dims=2, data_range=data_range, win_size=win_size, kernel_sigma=sigma, reduction="none"
    )
    return _per_image(metric(out, ref))
