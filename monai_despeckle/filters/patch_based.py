"""Patch-based denoisers: non-local means (scikit-image) and BM3D (optional ``bm3d`` package).

Both assume additive noise of known σ. On log-compressed B-mode the speckle is roughly additive, so
σ is taken as the image's speckle σ (:func:`estimate_speckle_sigma`), which, unlike white-noise
estimators, includes the spatially correlated part of the speckle.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from monai_despeckle.errors import MissingDependencyError
from monai_despeckle.filters.base import check_image_2d, check_positive
from monai_despeckle.filters.local_moments import estimate_speckle_sigma


def bm3d_available() -> bool:
    """Whether the optional ``bm3d`` package (Tampere University, non-commercial licence) is installed."""
    return importlib.util.find_spec("bm3d") is not None


def nlm(
    image: np.ndarray,
    patch_size: int = 5,
    patch_distance: int = 6,
    h: float | None = None,
    sigma: float | None = None,
) -> np.ndarray:
    """Non-local means (Buades, Coll & Morel, CVPR 2005) with scikit-image's ``denoise_nl_means``.

    Each pixel becomes a mean of the pixels whose surrounding ``patch_size²`` patches look like its
    own, searched within ``patch_distance`` pixels. Defaults are those of scikit-image's NLM
    example for the fast mode: 5×5 patches, a 13×13 search window (distance 6), ``h = 0.8 σ`` and σ
    passed to the filter, which then subtracts the expected 2σ² from patch distances.

    Args:
        image: 2D float image in [0, 1].
        patch_size: side of the compared patches in pixels.
        patch_distance: maximal distance in pixels at which to search patches.
        h: filtering strength (weights ``exp(−d²/h²)``); None for 0.8 σ.
        sigma: noise standard deviation; None estimates the speckle σ of the image.
    """
    array = check_image_2d(image, "nlm")
    if sigma is None:
        sigma = estimate_speckle_sigma(array)
    elif sigma != 0:
        check_positive(sigma, "nlm", "sigma")
    if h is None:
        h = 0.8 * sigma
    if h <= 0:  # a constant image (σ = 0): nothing to average
        return array.copy()
    check_positive(h, "nlm", "h")
    from skimage.restoration import denoise_nl_means  # here: a slow import only NLM needs

    out = denoise_nl_means(
        array,
        patch_size=int(patch_size),
        patch_distance=int(patch_distance),
        h=float(h),
        sigma=float(sigma),
        fast_mode=True,
        preserve_range=True,
    )
    return out.astype(array.dtype, copy=False)


def bm3d(image: np.ndarray, sigma: float | None = None, profile: str = "np") -> np.ndarray:
    """BM3D (Dabov, Foi, Katkovnik & Egiazarian, IEEE TIP 16:2080, 2007) via the ``bm3d`` package.

    Block matching groups similar 8×8 blocks into 3D stacks that are denoised jointly by transform
    shrinkage (hard thresholding, then Wiener). The package is free for non-commercial use only and
    is not a dependency of monai-despeckle: install it yourself to enable this method.

    Args:
        image: 2D float image in [0, 1].
        sigma: noise standard deviation; None estimates the speckle σ of the image.
        profile: the package's parameter profile ("np" normal, "refilter", "vn", "high").
    """
    array = check_image_2d(image, "bm3d")
    if not bm3d_available():
        raise MissingDependencyError("bm3d: the optional 'bm3d' package is not installed (pip install bm3d)")
    import bm3d as bm3d_package

    if sigma is None:
        sigma = estimate_speckle_sigma(array)
    if sigma <= 0:
        return array.copy()
    out = bm3d_package.bm3d(array.astype(np.float64), float(sigma), profile=profile)
    return np.asarray(out, dtype=array.dtype).reshape(array.shape)
