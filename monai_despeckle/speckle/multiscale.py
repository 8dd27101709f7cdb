"""Multi-scale perturbation (MSP) views for self-supervised despeckling (Speckle2Self).

Li, Navab & Jiang, "Speckle2Self", Medical Image Analysis (2025), arXiv 2507.06828: down-sampling
then up-sampling an ultrasound image changes the speckle (a high-frequency, spatially correlated
pattern) much more than the tissue structure, so views at several scales share the anatomy but not
the speckle. Each view is bilinear down-sampled to ``round(scale × size)``, bilinear up-sampled back
(plain bilinear, no anti-aliasing, as in the paper) and min-max normalised to [0, 1].

Normalisation (:data:`NORMALIZATIONS`): ``"per_view"`` rescales each view by its own minimum and
maximum, as the authors' code does; but down- and up-sampling averages the darkest and brightest
speckle away, so a coarser view's range shrinks and, rescaled to [0, 1], it comes out brighter
(breast phantoms: mean 0.411 / 0.437 / 0.463 at scales 1 / 0.5 / 0.25 against 0.391 raw) and
the consistency loss pulls the output's brightness up with it. ``"shared"`` applies the full-scale
image's own rescaling to every view: bilinear resampling keeps the local mean and stays within
the image's range, so the views differ in their speckle only, which is what the consistency term
is meant to see.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.speckle._validation import SpeckleParameterError, as_float_image, check_range

__all__ = ["DEFAULT_SCALES", "NORMALIZATIONS", "minmax_normalize", "multiscale_views"]

DEFAULT_SCALES: tuple[float, ...] = (1.0, 0.5, 0.25)
NORMALIZATIONS: tuple[str, ...] = ("per_view", "shared")


def minmax_normalize(
    images: torch.Tensor, rel_eps: float = 1e-6, reference: torch.Tensor | None = None
) -> torch.Tensor:
    """Rescale each image of a batch ``[N, ...]`` to [0, 1] over all its non-batch elements.

    An image whose range is at most ``rel_eps × max(1, max |value|)`` is treated as constant (its
    variations are interpolation round-off) and becomes all zeros, as MONAI's ``rescale_array``
    does for constant arrays, instead of amplifying round-off or dividing by zero.

    Args:
        images: batch of images ``[N, ...]``.
        rel_eps: relative range below which an image counts as constant.
        reference: take each image's minimum and maximum from this batch (same shape) instead:
            ``images`` then get the rescaling that maps ``reference`` to [0, 1].
    """
    flat = (images if reference is None else reference).reshape(images.shape[0], -1)
    shape = (-1, *([1] * (images.ndim - 1)))
    low = flat.amin(dim=1).reshape(shape)
    high = flat.amax(dim=1).reshape(shape)
    span = high - low
    constant = span <= rel_eps * torch.maximum(low.abs(), high.abs()).clamp_min(1.0)
    return torch.where(constant, torch.zeros_like(images), (images - low) / torch.where(constant, 1.0, span))


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(s) for s in scales)
    if not values:
        raise SpeckleParameterError("scales must name at least one scale, got an empty sequence")
    for s in values:
        check_range("each scale", s, 0.0, 1.0, open_low=True)
    return values


def multiscale_views(
    image: torch.Tensor | np.ndarray,
    scales: Sequence[float] = DEFAULT_SCALES,
    normalization: str = "per_view",
) -> list[torch.Tensor]:
    """Speckle2Self multi-scale views of an image batch.

    Args:
        image: floating-point batch ``[N, C, H, W]`` (or a single image ``[C, H, W]``).
        scales: down-sampling factors in (0, 1]; 1.0 gives the normalised input itself.
        normalization: ``"per_view"`` (each view min-max normalised on its own, the authors'
            code) or ``"shared"`` (every view rescaled as the full image is; see the module).

    Returns:
        One tensor per scale, each the shape, dtype and device of ``image``, every image
        (all channels together) min-max normalised to [0, 1].
    """
    if normalization not in NORMALIZATIONS:
        raise SpeckleParameterError(
            f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}"
        )
    x = as_float_image(image)
    if x.ndim not in (3, 4):
        raise InvalidImageError(f"image must have shape [N, C, H, W] or [C, H, W], got {list(x.shape)}")
    batch = x if x.ndim == 4 else x[None]
    height, width = batch.shape[-2:]
    views = []
    for scale in _check_scales(scales):
        view = batch
        if scale != 1.0:
            size = (max(1, round(scale * height)), max(1, round(scale * width)))
            small = F.interpolate(batch, size=size, mode="bilinear", align_corners=False)
            view = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        view = minmax_normalize(view, reference=batch if normalization == "shared" else None)
        views.append(view if x.ndim == 4 else view[0])
    return views
