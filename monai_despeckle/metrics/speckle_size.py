"""How large the speckle grain is, in pixels: the width of the speckle autocorrelation peak.

Speckle has a physical size set by the imaging system's point-spread function, not by the pixel
grid: the same tissue scanned with a finer grid has a larger grain in pixels. A learned
despeckler is only valid at the grain size it was trained at, so inference resamples frames to it
(:mod:`monai_despeckle.runtime.scale`) and this module measures it.

The measure is the classic one of speckle statistics (Wagner et al., IEEE Trans. Sonics
Ultrason. 30:156, 1983; the "speckle cell" of Burckhardt, IEEE Trans. Sonics Ultrason. 25:1,
1978): the full width at half maximum (FWHM) of the normalised autocovariance of the image,
along depth (axial, rows) and across the beam (lateral, columns). Structure would widen the peak,
so along each axis the frame is high-passed along that axis only (a Gaussian trend of width 1/16
of the tissue region's smaller side subtracted; tissue layers run across the beam and would
survive an isotropic high-pass), clipped to three standard deviations (edges), and the
autocovariance is taken inside the tissue only (masked and divided by the mask's own, so the
black background of a sector scan or letterbox does not count). The pedestal the trend removal
leaves under the peak is added back (:func:`_undo_trend_removal`). Independent pixel noise gives
1 px; Gaussian-correlated noise comes out within 5 % of its FWHM in a full frame, and up to about
20 % narrow along an axis where the tissue is short (the trend's windows are cut at its edges).
Written with numpy and scipy because no library the project uses measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError

__all__ = ["SpeckleSize", "estimate_speckle_size"]

MIN_SIDE = 16  # smaller frames hold too few speckle cells to measure
TISSUE_LEVEL = 0.02  # smoothed intensity below this is background (no echo), not tissue
MAX_FRAMES = 5  # frames of a cine measured (evenly spaced); the median is reported


@dataclass(frozen=True)
class SpeckleSize:
    """Speckle grain size: FWHM of the autocovariance peak, in pixels, along each axis."""

    axial_px: float
    lateral_px: float

    @property
    def mean_px(self) -> float:
        """The geometric mean of the two widths (one number for isotropic resampling)."""
        return float(np.sqrt(self.axial_px * self.lateral_px))

    def as_dict(self) -> dict[str, float]:
        """JSON-ready values (for ``info`` and bundle metadata)."""
        return {"axial_px": round(self.axial_px, 3), "lateral_px": round(self.lateral_px, 3)}


def _half_width(profile: np.ndarray) -> float:
    """Lag (pixels, interpolated) at which a profile starting at 1 first falls to 0.5."""
    below = np.nonzero(profile < 0.5)[0]
    if below.size == 0:
        return float(len(profile))  # never falls: at least the whole measured range
    k = int(below[0])
    if k == 0:
        return 0.0
    upper, lower = float(profile[k - 1]), float(profile[k])
    return (k - 1) + (upper - 0.5) / max(upper - lower, 1e-12)


def _covariance(residual: np.ndarray, tissue: np.ndarray, axis: int, max_lag: int) -> np.ndarray:
    """Autocovariance of ``residual`` inside ``tissue`` along ``axis``, lags 0..max_lag (masked)."""
    spread = float(residual[tissue].std())
    if spread <= 1e-8:
        raise InvalidImageError("the frame has no texture: no speckle to measure")
    values = np.clip(residual, -3.0 * spread, 3.0 * spread) * tissue
    weights = tissue.astype(np.float64)
    length = 2 * residual.shape[axis]  # zero-padded: a linear, not circular, autocovariance
    spectrum = np.abs(np.fft.rfft(values, length, axis=axis)) ** 2
    numerator = np.fft.irfft(spectrum, length, axis=axis).sum(axis=1 - axis)[: max_lag + 1]
    overlap = np.fft.irfft(np.abs(np.fft.rfft(weights, length, axis=axis)) ** 2, length, axis=axis)
    pairs = overlap.sum(axis=1 - axis)[: max_lag + 1]
    return np.where(pairs > 0.25 * pairs[0], numerator / np.maximum(pairs, 1.0), 0.0)


def _wide_gaussian_filter(array: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """``ndimage.gaussian_filter1d(array, sigma, axis, mode="reflect")``, computed by FFT.

    The trend windows are up to 40 px wide (321 taps); convolving them directly was 70 % of the
    estimate's time on a 512² frame. The same truncated kernel (4 σ) is applied to the same
    reflected borders, so the result equals scipy's to rounding.
    """
    radius = int(4.0 * sigma + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    moved = np.moveaxis(np.asarray(array, dtype=np.float64), axis, -1)
    length = moved.shape[-1]
    pad = [(0, 0)] * (moved.ndim - 1) + [(radius, radius)]
    padded = np.pad(moved, pad, mode="symmetric")  # scipy's "reflect": d c b a | a b c d
    size = padded.shape[-1] + 2 * radius
    spectrum = np.fft.rfft(padded, size, axis=-1) * np.fft.rfft(kernel, size)
    smoothed = np.fft.irfft(spectrum, size, axis=-1)[..., 2 * radius : 2 * radius + length]
    return np.moveaxis(smoothed, -1, axis)


def _gaussian(lags: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (lags / sigma) ** 2) / (np.sqrt(2.0 * np.pi) * sigma)


def _undo_trend_removal(covariance: np.ndarray, trend_sigma: float) -> np.ndarray:
    """The autocovariance before a Gaussian trend of width ``trend_sigma`` was subtracted.

    Subtracting ``g * x`` turns a narrow covariance C of area A into about
    ``C - A (2 g - g * g)``: a pedestal that narrows the peak by roughly grain / trend width. The
    area is recovered from the measured covariance over the peak (lags up to 1.5 FWHM) and the
    pedestal added back; three rounds settle the peak's width.
    """
    lags = np.arange(len(covariance), dtype=np.float64)
    pedestal = 2.0 * _gaussian(lags, trend_sigma) - _gaussian(lags, np.sqrt(2.0) * trend_sigma)
    corrected = covariance
    for _ in range(3):
        reach = min(
            len(covariance) - 1, max(3, int(np.ceil(1.5 * 2.0 * _half_width(corrected / corrected[0]))))
        )
        symmetric = slice(1, reach + 1)
        measured = covariance[0] + 2.0 * covariance[symmetric].sum()
        shape = pedestal[0] + 2.0 * pedestal[symmetric].sum()
        area = measured / max(1.0 - shape, 0.5)
        corrected = covariance + area * pedestal
    return corrected


def _frame_size(frame: np.ndarray, mask: np.ndarray | None) -> SpeckleSize:
    tissue = ndimage.gaussian_filter(frame, 2.0, mode="reflect") > TISSUE_LEVEL
    if mask is not None:
        tissue &= mask
    tissue = ndimage.binary_erosion(tissue, iterations=2)  # no half-background pixels at the border
    if tissue.sum() < MIN_SIDE * MIN_SIDE:
        raise InvalidImageError("too little tissue (non-background pixels) to measure the speckle size")
    rows, columns = np.nonzero(tissue.any(axis=1))[0], np.nonzero(tissue.any(axis=0))[0]
    height, width = rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1  # the tissue's extent
    background_sigma = float(np.clip(min(height, width) / 16.0, 6.0, 40.0))
    max_lag = min(height, width) // 4
    widths = []
    for axis in (0, 1):
        # Structure is removed along the measured axis only: tissue layers run across the beam,
        # so an isotropic high-pass would leave them and widen the lateral peak.
        # the trend of the tissue alone (normalised convolution): background must not pull it down
        weight = _wide_gaussian_filter(tissue.astype(np.float64), background_sigma, axis)
        trend = _wide_gaussian_filter(frame * tissue, background_sigma, axis) / np.maximum(weight, 1e-6)
        residual = np.where(tissue, frame - trend, 0.0)
        residual -= residual[tissue].mean() * tissue
        covariance = _undo_trend_removal(_covariance(residual, tissue, axis, max_lag), background_sigma)
        widths.append(max(2.0 * _half_width(covariance / covariance[0]), 1.0))
    return SpeckleSize(axial_px=widths[0], lateral_px=widths[1])


def estimate_speckle_size(frames: np.ndarray, mask: np.ndarray | None = None) -> SpeckleSize:
    """The speckle grain of a B-mode frame or cine, in pixels (FWHM of the autocovariance peak).

    Args:
        frames: log-compressed B-mode ``[H, W]`` or ``[T, H, W]`` in [0, 1] (depth along rows).
        mask: optional tissue mask ``[H, W]`` (e.g. the ultrasound region); background pixels
            (no echo) are left out in any case.

    Returns:
        The median over up to :data:`MAX_FRAMES` evenly spaced frames.

    Raises:
        InvalidImageError: frames smaller than 16 × 16, not finite, or without texture.
    """
    array = np.asarray(frames, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape[1:]) < MIN_SIDE:
        raise InvalidImageError(
            f"expected frames [H, W] or [T, H, W] of at least 16 × 16, got {list(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise InvalidImageError("frames hold NaN or infinite values")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != array.shape[1:]:
            raise InvalidImageError(f"mask {list(mask.shape)} does not match frames {list(array.shape[1:])}")
    picks = np.unique(np.linspace(0, len(array) - 1, min(len(array), MAX_FRAMES)).round().astype(int))
    sizes = [_frame_size(array[i], mask) for i in picks]
    return SpeckleSize(
        axial_px=float(np.median([s.axial_px for s in sizes])),
        lateral_px=float(np.median([s.lateral_px for s in sizes])),
    )
