"""OpenCV's denoisers: the fast peers a user would reach for (optional ``opencv-python-headless``).

Non-local means (``cv2.fastNlMeansDenoising``: Buades, Coll & Morel, CVPR 2005, in OpenCV's
optimised implementation), the bilateral filter (Tomasi & Manduchi, ICCV 1998) and the median
filter, each 10-100× faster than the scikit-image / SimpleITK versions on a CPU. They are the
baselines learned models must beat at speed as well as quality (``docs/benchmarks.md``). Their
strength follows the image's speckle σ (:func:`estimate_speckle_sigma`), as the other filters'
does, so one setting serves scanners and gains that differ by a factor of several.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from monai_despeckle.errors import MissingDependencyError
from monai_despeckle.filters.base import check_image_2d, check_positive, check_window
from monai_despeckle.filters.local_moments import estimate_speckle_sigma

__all__ = ["NLM_H_PER_SIGMA", "bilateral_cv", "median_cv", "nlm_cv", "opencv_available"]

# h = NLM_H_PER_SIGMA × the speckle σ (in grey levels): the SSIM-best factor on simulated breast and
# carotid phantoms of seeds 3000-3007 at 128² and 256² (not the evaluation phantoms, seeds 0-19),
# tools/tune_opencv_nlm.py: SSIM 0.692 / PSNR 27.15 dB at 0.9, within 0.01 SSIM from 0.8 to 1.1.
NLM_H_PER_SIGMA = 0.9
GREY_LEVELS = 255.0


def opencv_available() -> bool:
    """Whether OpenCV (``pip install 'monai-despeckle[peers]'``) is installed."""
    return importlib.util.find_spec("cv2") is not None


def _cv2():
    if not opencv_available():
        raise MissingDependencyError("OpenCV is not installed: pip install 'monai-despeckle[peers]'")
    import cv2

    return cv2


def nlm_cv(
    image: np.ndarray, h: float | None = None, template_window: int = 7, search_window: int = 21
) -> np.ndarray:
    """Non-local means with OpenCV's ``fastNlMeansDenoising`` (7×7 patches, 21×21 search: its defaults).

    OpenCV's implementation works on 8-bit images, so the frame is quantised to 256 grey levels
    (what B-mode displays hold anyway) and the result mapped back to [0, 1].

    Args:
        image: 2D float image in [0, 1].
        h: filtering strength in grey levels (0-255); None for ``NLM_H_PER_SIGMA`` × the speckle σ.
        template_window: odd side of the compared patches, pixels.
        search_window: odd side of the search window, pixels.
    """
    array = check_image_2d(image, "nlm_cv")
    check_window(template_window, "nlm_cv", "template_window")
    check_window(search_window, "nlm_cv", "search_window")
    if h is None:
        h = NLM_H_PER_SIGMA * estimate_speckle_sigma(array) * GREY_LEVELS
        if h <= 0:  # a constant image
            return array.copy()
    check_positive(h, "nlm_cv", "h")
    cv2 = _cv2()
    grey = np.clip(np.rint(array * GREY_LEVELS), 0, GREY_LEVELS).astype(np.uint8)
    out = cv2.fastNlMeansDenoising(
        grey, None, h=float(h), templateWindowSize=int(template_window), searchWindowSize=int(search_window)
    )
    return (out.astype(np.float32) / GREY_LEVELS).astype(array.dtype, copy=False)


def bilateral_cv(
    image: np.ndarray, sigma_spatial: float = 2.0, sigma_color: float | None = None
) -> np.ndarray:
    """Bilateral filter with OpenCV's ``bilateralFilter`` (same settings as :func:`~.smoothing.bilateral`).

    Args:
        image: 2D float image in [0, 1].
        sigma_spatial: spatial standard deviation in pixels (the kernel spans ±2.5σ).
        sigma_color: intensity standard deviation, or None for 2 × the estimated speckle σ.
    """
    array = check_image_2d(image, "bilateral_cv")
    check_positive(sigma_spatial, "bilateral_cv", "sigma_spatial")
    if sigma_color is None:
        sigma_color = 2.0 * estimate_speckle_sigma(array)
        if sigma_color <= 0:
            return array.copy()
    check_positive(sigma_color, "bilateral_cv", "sigma_color")
    cv2 = _cv2()
    diameter = 2 * int(np.ceil(2.5 * sigma_spatial)) + 1
    out = cv2.bilateralFilter(
        np.ascontiguousarray(array, dtype=np.float32),
        diameter,
        float(sigma_color),
        float(sigma_spatial),
        borderType=cv2.BORDER_REFLECT,
    )
    return out.astype(array.dtype, copy=False)


def median_cv(image: np.ndarray, size: int = 5) -> np.ndarray:
    """Median filter with OpenCV's ``medianBlur`` over a ``size × size`` square (3 or 5 for float frames).

    Args:
        image: 2D float image in [0, 1].
        size: window side, 3 or 5 (OpenCV's limit for floating-point images).
    """
    array = check_image_2d(image, "median_cv")
    size = check_window(size, "median_cv", "size")
    if size > 5:
        raise MissingDependencyError("median_cv: OpenCV's float median takes windows of 3 or 5; use 'median'")
    out = _cv2().medianBlur(np.ascontiguousarray(array, dtype=np.float32), size)
    return out.astype(array.dtype, copy=False)
