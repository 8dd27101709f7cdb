"""No-reference despeckling metrics, for real images that have no clean ground truth.

All functions take a 2D frame (numpy or torch ``[H, W]``) of **log-compressed display data in
[0, 1]** (what the scanner shows and what the methods process) unless a docstring says
otherwise, and a region (boolean mask, box ``(row0, col0, row1, col1)`` or ``None`` for the whole
frame, see :mod:`monai_despeckle.metrics.regions`). The classic speckle statistics (ENL = 1 and
SNR = 1.91 for fully developed speckle) hold for the *envelope* (or intensity) before log
compression; on display data the values are relative figures for comparing methods on the same
images, not absolute speckle statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from skimage.feature import graycomatrix, graycoprops

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics.regions import Region, to_mask

__all__ = ["cnr", "enl", "epi", "gcnr", "glcm_homogeneity", "speckle_index"]

_EPS = 1e-12


def _as_2d(image: np.ndarray | torch.Tensor, name: str = "image") -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    array = np.squeeze(array.astype(np.float64))
    if array.ndim != 2:
        raise InvalidImageError(f"{name} must be a 2D frame; got shape {np.shape(image)}")
    if not np.isfinite(array).all():
        raise InvalidImageError(f"{name} contains NaN or infinite values")
    return array


def _values(image: np.ndarray | torch.Tensor, region: Region, name: str) -> np.ndarray:
    array = _as_2d(image)
    return array[to_mask(region, array.shape, name)]


def enl(image: np.ndarray | torch.Tensor, region: Region = None) -> float:
    """Equivalent number of looks ``ENL = μ² / σ²`` in a homogeneous region.

    μ and σ are the mean and (population) standard deviation of the pixels in ``region``. Higher
    is smoother; for a single-look *intensity* image of fully developed speckle ENL = 1 (Ulaby &
    Dobson 1989; Lee 1986). Computed here on log-compressed display data: a relative figure.

    Args:
        image: 2D frame in [0, 1].
        region: homogeneous region (mask, box or None for the whole frame).
    """
    values = _values(image, region, "ENL region")
    variance = float(values.var())
    if variance <= _EPS:
        return float("inf")
    return float(values.mean() ** 2 / variance)


def speckle_index(image: np.ndarray | torch.Tensor, region: Region = None, window: int = 5) -> float:
    """Speckle index: mean over a region of the local coefficient of variation σ/μ.

    ``SI = (1/|W|) Σ_{p ∈ W} σ(p) / μ(p)``, where μ(p), σ(p) are the mean and population std in
    the ``window``×``window`` neighbourhood of p (Crimmins 1985; Dewaele et al. 1990 use the same
    ratio). W holds the positions of ``region`` whose whole window lies inside ``region`` (so
    the figure measures speckle, not the region's edges) and whose local mean is > 0 (black
    padding has no defined ratio). Lower is smoother. Computed on log-compressed display data.

    Args:
        image: 2D frame in [0, 1].
        region: region (mask, box or None for the whole frame).
        window: side of the local window in pixels (odd).
    """
    if window < 1 or window % 2 == 0:
        raise InvalidImageError(f"speckle index window must be a positive odd size; got {window}")
    array = _as_2d(image)
    mask = to_mask(region, array.shape, "speckle index region")
    # Local moments by box filters (scipy) instead of explicit windows: O(HW) whatever the window.
    mean = ndimage.uniform_filter(array, window, mode="reflect")
    mean_sq = ndimage.uniform_filter(array * array, window, mode="reflect")
    std = np.sqrt(np.clip(mean_sq - mean * mean, 0.0, None))
    inner = ndimage.binary_erosion(mask, structure=np.ones((window, window), bool), border_value=0)
    inner &= mean > _EPS
    if not inner.any():
        raise InvalidImageError(
            f"speckle index region has no {window}×{window} window wholly inside it with a non-zero mean"
        )
    return float(np.mean(std[inner] / mean[inner]))


def cnr(image: np.ndarray | torch.Tensor, target: Region, background: Region) -> float:
    """Contrast-to-noise ratio ``|μi − μo| / sqrt(σi² + σo²)`` between two regions.

    μi, σi: mean and population std inside the target (lesion, lumen); μo, σo: in the
    background. Higher is better. Computed on log-compressed display data (contrast in display
    units; Patterson & Foster 1983 define it on the same form).

    Args:
        image: 2D frame in [0, 1].
        target: region inside the structure.
        background: region of surrounding tissue.
    """
    inside = _values(image, target, "CNR target")
    outside = _values(image, background, "CNR background")
    noise = float(np.sqrt(inside.var() + outside.var()))
    contrast = abs(float(inside.mean() - outside.mean()))
    if noise <= _EPS:
        return float("inf") if contrast > _EPS else 0.0
    return contrast / noise


def gcnr(image: np.ndarray | torch.Tensor, target: Region, background: Region, bins: int = 256) -> float:
    """Generalised contrast-to-noise ratio ``gCNR = 1 − Σ_k min(h_i[k], h_o[k])``.

    h_i, h_o are the histograms of the target and background pixels, each normalised to sum 1,
    over ``bins`` fixed bins spanning [0, 1] (Rodriguez-Molares et al., "The generalized
    contrast-to-noise ratio", IEEE TUFFC 67:745, 2020). It is one minus the overlap of the two
    distributions: 0 for identical, 1 for separable regions; unlike CNR it is invariant to
    monotonic grey-level transforms, so the log compression does not change its meaning.

    Args:
        image: 2D frame in [0, 1] (values outside are clipped into the edge bins).
        target: region inside the structure.
        background: region of surrounding tissue.
        bins: number of equal bins over [0, 1].
    """
    inside = np.clip(_values(image, target, "gCNR target"), 0.0, 1.0)
    outside = np.clip(_values(image, background, "gCNR background"), 0.0, 1.0)
    h_in, _ = np.histogram(inside, bins=bins, range=(0.0, 1.0))
    h_out, _ = np.histogram(outside, bins=bins, range=(0.0, 1.0))
    overlap = np.minimum(h_in / h_in.sum(), h_out / h_out.sum()).sum()
    return float(1.0 - overlap)


def glcm_homogeneity(
    image: np.ndarray | torch.Tensor,
    region: Region = None,
    levels: int = 256,
    distance: int = 1,
    angles: Sequence[float] = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4),
) -> float:
    """GLCM homogeneity ``Σ_ij P_ij / (1 + (i − j)²)``, averaged over directions.

    P is the symmetric, normalised grey-level co-occurrence matrix (Haralick et al., IEEE SMC
    3:610, 1973) of the frame quantised to ``levels`` grey levels (``round(x·(levels−1))``; 256
    keeps every 8-bit level), for pixel pairs ``distance`` apart along each of ``angles``; the
    result is the mean over the angles (scikit-image ``graycomatrix`` / ``graycoprops``). Used as
    "homogeneity" by Speckle2Self (Li et al., MedIA 2025). Higher is smoother (1 = constant).

    Restricting to a region: the GLCM is computed on the region's bounding box with every pixel
    outside the region set to an extra grey level, whose row and column are then dropped, so
    only pairs with *both* pixels inside the region count. Computed on log-compressed display data.

    Args:
        image: 2D frame in [0, 1].
        region: region (mask, box or None for the whole frame).
        levels: number of grey levels.
        distance: pixel offset of a pair.
        angles: directions of the pair offsets in radians.
    """
    if not 2 <= levels <= 65535:
        raise InvalidImageError(f"GLCM levels must be in 2..65535; got {levels}")
    array = _as_2d(image)
    mask = to_mask(region, array.shape, "homogeneity region")
    rows, cols = np.nonzero(mask)
    crop = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    quantised = np.rint(np.clip(array[crop], 0.0, 1.0) * (levels - 1)).astype(np.uint16)
    quantised[~mask[crop]] = levels  # the "outside" level, dropped below
    matrix = graycomatrix(
        quantised, distances=[distance], angles=list(angles), levels=levels + 1, symmetric=True, normed=False
    )[:levels, :levels]
    counts = matrix.sum(axis=(0, 1))
    if (counts == 0).any():
        raise InvalidImageError(f"homogeneity region has no pixel pairs {distance} apart in some direction")
    return float(graycoprops(matrix, "homogeneity").mean())


def epi(
    reference: np.ndarray | torch.Tensor, output: np.ndarray | torch.Tensor, region: Region = None
) -> float:
    """Edge preservation index (Sattar et al., IEEE TIP 6:888, 1997).

    ``EPI = Γ(ΔS − mean ΔS, ΔŜ − mean ΔŜ) / sqrt(Γ(ΔS − mean ΔS, ·) · Γ(ΔŜ − mean ΔŜ, ·))`` with
    ``Γ(a, b) = Σ_region a·b``: the correlation coefficient, over the region, of the Laplacian
    high-passes Δ (3×3 stencil, ``scipy.ndimage.laplace``, mirrored borders) of the reference S
    (for real images: the noisy input) and the output Ŝ. 1 = edges kept exactly (up to gain);
    0 = no edge in common. If the output has no high-pass content at all (a flat image), 0.
    Computed on log-compressed display data.

    Args:
        reference: 2D frame the edges should come from (the input of the despeckler).
        output: 2D despeckled frame, same shape.
        region: region (mask, box or None for the whole frame).
    """
    ref = _as_2d(reference, "reference")
    out = _as_2d(output, "output")
    if ref.shape != out.shape:
        raise InvalidImageError(f"EPI reference {ref.shape} and output {out.shape} must have the same shape")
    mask = to_mask(region, ref.shape, "EPI region")
    d_ref = ndimage.laplace(ref, mode="reflect")[mask]
    d_out = ndimage.laplace(out, mode="reflect")[mask]
    d_ref -= d_ref.mean()
    d_out -= d_out.mean()
    energy_ref = float(np.sum(d_ref * d_ref))
    energy_out = float(np.sum(d_out * d_out))
    if energy_ref <= _EPS:
        raise InvalidImageError("EPI reference has no edges (flat high-pass) in the region")
    if energy_out <= _EPS:
        return 0.0
    return float(np.sum(d_ref * d_out) / np.sqrt(energy_ref * energy_out))
