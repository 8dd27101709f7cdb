"""Despeckling metrics: full-reference (PSNR, SSIM, MSE via monai.metrics) and no-reference
(ENL, speckle index, CNR, gCNR, GLCM homogeneity, EPI; the step, contrast and rise distance across
a structure mask's boundary; periodic banding), the speckle grain size, and region helpers.

The names are imported on first use (:mod:`monai_despeckle.lazy_exports`): the full-reference
metrics import MONAI, which takes seconds, while inference needs only the speckle grain estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monai_despeckle.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from monai_despeckle.metrics.banding import harmonic_peaks, periodic_banding
    from monai_despeckle.metrics.boundary import (
        BoundaryProfile,
        boundary_contrast,
        boundary_contrast_ratio,
        boundary_profile,
        boundary_step,
        boundary_step_ratio,
        rise_distance,
        rise_distance_ratio,
        signed_boundary_distance,
    )
    from monai_despeckle.metrics.full_reference import mse, psnr, ssim
    from monai_despeckle.metrics.no_reference import cnr, enl, epi, gcnr, glcm_homogeneity, speckle_index
    from monai_despeckle.metrics.regions import (
        Box,
        Regions,
        auto_regions,
        box_to_mask,
        letterbox_padding,
        most_homogeneous_box,
        to_mask,
    )
    from monai_despeckle.metrics.speckle_size import SpeckleSize, estimate_speckle_size

_SUBMODULES: dict[str, tuple[str, ...]] = {
    "banding": ("harmonic_peaks", "periodic_banding"),
    "boundary": (
        "BoundaryProfile",
        "boundary_contrast",
        "boundary_contrast_ratio",
        "boundary_profile",
        "boundary_step",
        "boundary_step_ratio",
        "rise_distance",
        "rise_distance_ratio",
        "signed_boundary_distance",
    ),
    "full_reference": ("mse", "psnr", "ssim"),
    "no_reference": ("cnr", "enl", "epi", "gcnr", "glcm_homogeneity", "speckle_index"),
    "regions": (
        "Box",
        "Regions",
        "auto_regions",
        "box_to_mask",
        "letterbox_padding",
        "most_homogeneous_box",
        "to_mask",
    ),
    "speckle_size": ("SpeckleSize", "estimate_speckle_size"),
}
__all__ = [
    "BoundaryProfile",
    "Box",
    "Regions",
    "SpeckleSize",
    "auto_regions",
    "boundary_contrast",
    "boundary_contrast_ratio",
    "boundary_profile",
    "boundary_step",
    "boundary_step_ratio",
    "box_to_mask",
    "cnr",
    "enl",
    "epi",
    "estimate_speckle_size",
    "gcnr",
    "glcm_homogeneity",
    "harmonic_peaks",
    "letterbox_padding",
    "most_homogeneous_box",
    "mse",
    "periodic_banding",
    "psnr",
    "rise_distance",
    "rise_distance_ratio",
    "signed_boundary_distance",
    "speckle_index",
    "ssim",
    "to_mask",
]


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES, globals())
