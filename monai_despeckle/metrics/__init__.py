"""Despeckling metrics: full-reference (PSNR, SSIM, MSE via monai.metrics) and no-reference
(ENL, speckle index, CNR, gCNR, GLCM homogeneity, EPI), the speckle grain size, and region
helpers."""

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

__all__ = [
    "Box",
    "Regions",
    "SpeckleSize",
    "auto_regions",
    "box_to_mask",
    "cnr",
    "enl",
    "epi",
    "estimate_speckle_size",
    "gcnr",
    "glcm_homogeneity",
    "letterbox_padding",
    "most_homogeneous_box",
    "mse",
    "psnr",
    "speckle_index",
    "ssim",
    "to_mask",
]
