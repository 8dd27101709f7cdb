"""Boundary measures from a structure mask: how large, how distinct and how sharp its edge is.

EPI (:func:`~monai_despeckle.metrics.no_reference.epi`) correlates the output's high-pass with
the noisy input's, so it rewards keeping the speckle: every despeckler scores below the input.
The measures here look only at the edge a mask marks (lesion, vessel lumen), through the
intensity across it, so removing speckle is not punished and blurring or flattening the edge is:

- :func:`boundary_step`: the mean intensity in a thin band just outside the boundary minus that
  just inside. Band means average thousands of pixels, so speckle does not move it: keeping the
  speckle and removing it score alike, and only a change of the edge itself (a blur across it,
  a lost contrast) does. The robust one of the three; ``evaluate`` reports it.
- :func:`boundary_contrast`: that step over the pooled spread of the pixels in the two bands (a
  contrast-to-noise ratio of the boundary). Removing speckle raises it where speckle makes the
  spread; blurring lowers the step and adds the blurred ramp to the spread. ``evaluate`` reports
  it too.
- :func:`rise_distance`: the 10–90 % rise distance, in pixels, of the mean profile across the
  boundary (the edge-spread function averaged along the whole boundary). It measures the edge's
  width alone, normalised by its contrast, and needs a profile that rises once: on real frames
  whose profile has bumps (a bright wall layer inside a carotid lumen mask) or whose contrast an
  output removes, its ratio is unreliable, so ``evaluate`` leaves it out.

All are computed against the **signed distance to the boundary** (negative inside the mask,
positive outside; the pixels either side of the boundary at ∓0.5), from two Euclidean distance
transforms (``scipy.ndimage.distance_transform_edt``). An optional ``region`` (the field of view)
keeps black letterbox padding out: only pixels inside it count, and the boundary is where the mask
meets the rest of the region, not where it meets the padding or the frame's border.

The ``..._ratio`` functions report the output's value over the input's (1.0 = the input), like
EPI. Frames are log-compressed display data in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics.no_reference import _as_2d
from monai_despeckle.metrics.regions import Region, to_mask

__all__ = [
    "BoundaryProfile",
    "boundary_contrast",
    "boundary_contrast_ratio",
    "boundary_profile",
    "boundary_step",
    "boundary_step_ratio",
    "rise_distance",
    "rise_distance_ratio",
    "signed_boundary_distance",
]

BAND = 0.01  # default band width (step, contrast): fraction of the frame's shorter side
REACH = 0.06  # default profile reach either side (rise distance): fraction of the shorter side
MIN_BAND = 3  # pixels
MIN_REACH = 6  # pixels
MIN_STEP = 1 / 255  # an input step below one 8-bit grey level is no boundary to compare with
_EPS = 1e-12


def _band_px(shape: tuple[int, ...], band: float | None) -> float:
    return float(band) if band is not None else float(max(MIN_BAND, round(BAND * min(shape))))


def _reach_px(shape: tuple[int, ...], reach: float | None) -> float:
    return float(reach) if reach is not None else float(max(MIN_REACH, round(REACH * min(shape))))


def signed_boundary_distance(mask: np.ndarray | None, region: Region = None) -> np.ndarray:
    """Signed distance (pixels) of every pixel to the mask's boundary; NaN outside ``region``.

    Inside the mask ``−(d_in − 0.5)``, outside ``d_out − 0.5``, where ``d_in`` is the Euclidean
    distance of a mask pixel to the nearest pixel of the region outside the mask and ``d_out`` of
    an outside pixel to the nearest mask pixel: the two pixel layers that touch across the
    boundary sit at −0.5 and +0.5, so the boundary line is at 0.

    Args:
        mask: boolean structure mask ``[H, W]`` (lesion, lumen).
        region: where pixels count (mask, box or None for the whole frame), e.g. the field of view.

    Raises:
        InvalidImageError: no mask, or no boundary between the mask and the rest of the region.
    """
    if mask is None:
        raise InvalidImageError("boundary measure needs a structure mask; none given")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InvalidImageError(f"structure mask must be 2D; got shape {mask.shape}")
    allowed = to_mask(region, mask.shape, "boundary region")
    inside = mask.astype(bool) & allowed
    outside = allowed & ~inside
    if not inside.any() or not outside.any():
        raise InvalidImageError("structure mask has no boundary inside the frame (empty or covers it all)")
    d_in = ndimage.distance_transform_edt(~outside)  # 0 on outside pixels
    d_out = ndimage.distance_transform_edt(~inside)  # 0 on inside pixels
    if d_in[inside].min() > np.sqrt(2.0) + 1e-9:
        raise InvalidImageError("structure mask touches the rest of the region nowhere (no boundary)")
    signed = np.where(inside, 0.5 - d_in, d_out - 0.5)
    signed[~allowed] = np.nan
    return signed


def _signed_for(array: np.ndarray, mask: np.ndarray | None, region: Region) -> np.ndarray:
    signed = signed_boundary_distance(mask, region)
    if signed.shape != array.shape:
        raise InvalidImageError(f"structure mask {signed.shape} and image {array.shape} differ in shape")
    return signed


@dataclass(frozen=True)
class BoundaryProfile:
    """Mean intensity as a function of signed distance to the boundary (1-pixel bins).

    Attributes:
        distance: bin centres in pixels (negative inside the mask), only bins holding pixels.
        mean: mean intensity of the pixels in each bin.
        count: number of pixels in each bin.
    """

    distance: np.ndarray
    mean: np.ndarray
    count: np.ndarray


def boundary_profile(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    reach: float | None = None,
    signed: np.ndarray | None = None,
) -> BoundaryProfile:
    """Mean intensity in 1-pixel bins of signed distance to the boundary, out to ``reach`` each side.

    Bin ``[j, j + 1)`` holds the pixels whose signed distance (:func:`signed_boundary_distance`)
    falls in it; its centre is ``j + 0.5``. Averaging a bin runs along the whole boundary, which
    removes the speckle (hundreds of pixels per bin on a real lesion) and keeps the edge's shape.

    Args:
        image: 2D frame in [0, 1].
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        reach: pixels either side of the boundary (default 6 % of the shorter side, at least 6).
        signed: a precomputed :func:`signed_boundary_distance` of ``mask`` and ``region``.
    """
    array = _as_2d(image)
    signed = _signed_for(array, mask, region) if signed is None else signed
    limit = _reach_px(array.shape, reach)
    near = np.isfinite(signed) & (np.abs(signed) < limit)
    bins = np.floor(signed[near]).astype(np.int64)
    offset = int(np.ceil(limit))
    count = np.bincount(bins + offset, minlength=2 * offset)
    total = np.bincount(bins + offset, weights=array[near], minlength=2 * offset)
    kept = count > 0
    centres = np.arange(2 * offset, dtype=np.float64) - offset + 0.5
    return BoundaryProfile(centres[kept], total[kept] / count[kept], count[kept])


def _bands(
    image: np.ndarray | torch.Tensor, mask: np.ndarray | None, region: Region, band: float | None
) -> tuple[np.ndarray, np.ndarray]:
    array = _as_2d(image)
    signed = _signed_for(array, mask, region)
    width = _band_px(array.shape, band)
    if width <= 0.5:
        raise InvalidImageError(f"boundary band must be wider than half a pixel; got {width}")
    inner = array[(signed < 0) & (signed > -width)]
    outer = array[(signed > 0) & (signed < width)]
    return inner, outer


def _signed_contrast(inner: np.ndarray, outer: np.ndarray) -> tuple[float, float]:
    """(step = mean outside − mean inside, pooled std of the two bands)."""
    step = float(outer.mean() - inner.mean())
    spread = float(np.sqrt(0.5 * (inner.var() + outer.var())))
    return step, spread


def boundary_step(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    band: float | None = None,
) -> float:
    """Intensity step across the boundary: ``μo − μi`` (positive when the outside is brighter).

    μi: mean of the pixels in the band just inside the boundary (signed distance in
    ``(−band, 0)``); μo: just outside (``(0, band)``). For a band narrower than the edge is wide
    it is ``band`` times the mean slope across the boundary, so a blur across the edge lowers it
    (a Gaussian blur of std σ leaves ``2·mean_{0<d<band} Φ(d/σ) − 1`` of a step edge: 0.80 for
    σ = band/4, 0.37 for σ = band) and so does any loss of contrast; speckle averages out over
    the bands.

    Args:
        image: 2D frame in [0, 1].
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        band: band width in pixels (default 1 % of the shorter side, at least 3).
    """
    return _signed_contrast(*_bands(image, mask, region, band))[0]


def boundary_step_ratio(
    reference: np.ndarray | torch.Tensor,
    output: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    band: float | None = None,
) -> float:
    """:func:`boundary_step` of ``output`` over that of ``reference`` (the noisy input).

    1.0 = the input's step kept (whatever happened to the speckle); below 1 the output blurred
    or flattened the boundary, below 0 it inverted it; above 1 it enhanced it. Higher is better
    up to enhancement.

    Args:
        reference: the despeckler's input.
        output: the despeckled frame, same shape.
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        band: band width in pixels (default 1 % of the shorter side, at least 3).

    Raises:
        InvalidImageError: no boundary, or an input step under one grey level.
    """
    step_in = _input_step(reference, mask, region, band)
    return boundary_step(output, mask, region, band) / step_in


def _input_step(
    reference: np.ndarray | torch.Tensor, mask: np.ndarray | None, region: Region, band: float | None
) -> float:
    step = boundary_step(reference, mask, region, band)
    if abs(step) < MIN_STEP:
        raise InvalidImageError(
            "input has no intensity step (under one grey level) across the structure boundary"
        )
    return step


def boundary_contrast(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    band: float | None = None,
) -> float:
    """Contrast-to-noise ratio of the boundary bands: ``|μo − μi| / sqrt((σi² + σo²) / 2)``.

    μi, σi: mean and population std of the pixels in the band just inside the boundary (signed
    distance in ``(−band, 0)``); μo, σo: just outside (``(0, band)``). This is the CNR of
    Patterson & Foster (Ultrason. Imaging, 1983) with the pooled std, evaluated in thin
    bands that touch the boundary instead of in regions set back from it, so the figure depends on
    the edge itself: a blurred edge has a smaller step between the bands and its ramp adds to
    their spread. Speckle also adds to the spread, so smoothing that keeps the edge raises it.
    Higher is a more distinct boundary. Where the bands' spread comes mostly from anatomy (the
    vessel wall's brightness changing around a carotid lumen) rather than speckle, despeckling
    leaves the figure near the input's and only damage to the edge moves it (down).

    Args:
        image: 2D frame in [0, 1].
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        band: band width in pixels (default 1 % of the shorter side, at least 3).
    """
    step, spread = _signed_contrast(*_bands(image, mask, region, band))
    if spread <= _EPS:
        return float("inf") if abs(step) > _EPS else 0.0
    return abs(step) / spread


def boundary_contrast_ratio(
    reference: np.ndarray | torch.Tensor,
    output: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    band: float | None = None,
) -> float:
    """:func:`boundary_contrast` of ``output`` over that of ``reference`` (the noisy input).

    The output's step is taken with the sign of the input's (an output whose boundary inverts
    scores below 0). 1.0 = as distinct as the input; higher is better.

    Args:
        reference: the despeckler's input.
        output: the despeckled frame, same shape.
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        band: band width in pixels (default 1 % of the shorter side, at least 3).
    """
    step_in, spread_in = _signed_contrast(*_bands(reference, mask, region, band))
    step_out, spread_out = _signed_contrast(*_bands(output, mask, region, band))
    if abs(step_in) < MIN_STEP or spread_in <= _EPS:
        raise InvalidImageError(
            "input has no intensity step (under one grey level) or no spread across the structure boundary"
        )
    signed_out = step_out * np.sign(step_in)
    if spread_out <= _EPS:
        return float("inf") if signed_out > _EPS else 0.0
    return (signed_out / spread_out) / (abs(step_in) / spread_in)


def _crossing(x: np.ndarray, q: np.ndarray, i: int, level: float) -> float:
    """Where the line from (x[i], q[i]) to (x[i+1], q[i+1]) reaches ``level``."""
    dq = q[i + 1] - q[i]
    if abs(dq) <= _EPS:
        return float(0.5 * (x[i] + x[i + 1]))
    return float(x[i] + (level - q[i]) * (x[i + 1] - x[i]) / dq)


def _rise(profile: BoundaryProfile, reach: float, low: float = 0.1, high: float = 0.9) -> float:
    x, p = profile.distance, profile.mean
    inner_plateau = p[x <= -reach / 2]
    outer_plateau = p[x >= reach / 2]
    if inner_plateau.size == 0 or outer_plateau.size == 0:
        raise InvalidImageError(
            f"structure too thin for the rise distance: no pixels {reach / 2:g} px or more from its boundary"
        )
    p_in, p_out = float(np.median(inner_plateau)), float(np.median(outer_plateau))
    if abs(p_out - p_in) < MIN_STEP:
        raise InvalidImageError("no intensity step (under one grey level) across the structure boundary")
    q = (p - p_in) / (p_out - p_in)  # 0 inside, 1 outside
    # The 50 % crossing nearest the boundary line anchors the edge, then the nearest 10 % crossing
    # inward and 90 % crossing outward of it (so structures farther off do not count).
    halves = [i for i in range(len(x) - 1) if (q[i] - 0.5) * (q[i + 1] - 0.5) <= 0 and q[i] != q[i + 1]]
    if not halves:
        raise InvalidImageError("the profile across the structure boundary never crosses 50 %")
    centre = min(halves, key=lambda i: abs(_crossing(x, q, i, 0.5)))
    x_low = next((_crossing(x, q, i, low) for i in range(centre, -1, -1) if q[i] <= low), None)
    x_high = next((_crossing(x, q, i - 1, high) for i in range(centre + 1, len(x)) if q[i] >= high), None)
    if x_low is None or x_high is None:
        raise InvalidImageError("the profile across the structure boundary does not reach 10 % and 90 %")
    return x_high - x_low


def rise_distance(
    image: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    reach: float | None = None,
) -> float:
    """10–90 % rise distance (pixels) of the mean intensity profile across the boundary.

    The edge-spread function of the boundary is :func:`boundary_profile` (mean intensity against
    signed distance, averaged along the whole boundary). Its levels are the medians of the
    profile over the outer half of the reach on each side (``d ≤ −reach/2`` inside,
    ``d ≥ reach/2`` outside); with ``q = (p − p_in) / (p_out − p_in)`` (0 inside, 1 outside) the
    rise distance is ``x(q = 0.9) − x(q = 0.1)``, where the crossings are linearly interpolated
    between bin centres and taken nearest the 50 % crossing that lies closest to the boundary
    line. This is the usual width figure of an edge-spread function (the 10–90 % edge response,
    e.g. S. W. Smith, *The Scientist and Engineer's Guide to DSP*, 1997, "spatial resolution").
    A step edge gives 0.8 px (its two pixel layers at ∓0.5); a Gaussian blur of std σ about
    2.56σ. Lower is sharper. Measure it against the input (:func:`rise_distance_ratio`): a
    hand-drawn mask does not follow the edge exactly, which widens every output's figure alike.

    Args:
        image: 2D frame in [0, 1].
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        reach: pixels either side of the boundary (default 6 % of the shorter side, at least 6).

    Raises:
        InvalidImageError: no boundary, a structure thinner than ``reach / 2``, no step across
            the boundary, or a profile that does not rise from 10 % to 90 % within the reach.
    """
    array = _as_2d(image)
    limit = _reach_px(array.shape, reach)
    return _rise(boundary_profile(array, mask, region, limit), limit)


def rise_distance_ratio(
    reference: np.ndarray | torch.Tensor,
    output: np.ndarray | torch.Tensor,
    mask: np.ndarray | None,
    region: Region = None,
    reach: float | None = None,
) -> float:
    """:func:`rise_distance` of ``output`` over that of ``reference`` (the noisy input).

    1.0 = the input's edge width; above 1 the output blurred the boundary. Lower is better.

    Args:
        reference: the despeckler's input.
        output: the despeckled frame, same shape.
        mask: boolean structure mask of the same shape.
        region: where pixels count (e.g. the field of view), or None for the whole frame.
        reach: pixels either side of the boundary (default 6 % of the shorter side, at least 6).
    """
    ref = _as_2d(reference, "reference")
    out = _as_2d(output, "output")
    if ref.shape != out.shape:
        raise InvalidImageError(f"reference {ref.shape} and output {out.shape} must have the same shape")
    limit = _reach_px(ref.shape, reach)
    signed = _signed_for(ref, mask, region)
    rise_in = _rise(boundary_profile(ref, mask, reach=limit, signed=signed), limit)
    rise_out = _rise(boundary_profile(out, mask, reach=limit, signed=signed), limit)
    return rise_out / rise_in
