"""Periodic banding: grid artefacts a strided network adds at its stride period.

A network that downsamples by a total stride ``s`` (its ``size_multiple``: pooling, strided or
transposed convolutions) can leave a pattern that repeats every ``s`` pixels: stripes or a
checkerboard (Odena et al., "Deconvolution and checkerboard artifacts", Distill, 2016). Such a
pattern puts power at the spatial frequencies ``k / s`` cycles per pixel, ``k = 1 … ⌊s/2⌋``
(its harmonics; ``k`` and ``s − k`` are the same frequency for a real image), and at no others.

The measure looks for that power in the axis profiles of the frame: the row means (a function of
the row index: horizontal stripes, and the row-averaged part of a grid) and the column means, each
taken in a few strips across the frame whose spectra are averaged. Averaging along a row removes
most of the speckle, so a pattern of a grey level or less stands out. It is relative twice over:
each peak against the spectrum around it (natural images have smooth spectra) and the output
against the input (real frames can carry periodic structure of their own).
"""

from __future__ import annotations

import numpy as np
import torch

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics.no_reference import _as_2d

__all__ = ["DEFAULT_PERIOD", "STRIPS", "Period", "fit_period", "harmonic_peaks", "periodic_banding"]

Period = float | tuple[float, float]  # pixels: one for both axes, or (rows, columns)

DEFAULT_PERIOD = 16  # stride of a four-level encoder (speckle2self); methods without a stride
PEAK_HALF_WIDTH = 1.5  # bins either side of k·n/s searched for the peak (Hann main lobe ±2)
GAP = 2.5  # bins either side of k·n/s left out of the neighbourhood
MIN_PERIODS = 2 * (GAP + 1)  # periods a side must hold: neighbours on both sides of every harmonic
DIFFERENCES = 2
STRIPS = 16  # strips across a profile whose periodograms are averaged
QUANTUM = 1 / 255  # one grey level of 8-bit display data


def _spectrum(array: np.ndarray, strips: int) -> np.ndarray:
    """Mean periodogram (all ``n`` bins) of the row-mean profiles of ``strips`` vertical strips.

    Each profile is second-differenced (whitening the steep low-frequency spectrum of anatomy: less
    leakage into the harmonics, and a smooth gain that cancels in every ratio), Hann-windowed and
    zero-padded back to ``n`` points, so that bin ``j`` is ``j / n`` cycles per pixel. The
    periodogram the 8-bit rounding of the frame would give (white noise of variance ``q² / 12``
    per pixel, q = 1/255, averaged over the strip's width) is added: power below one grey level's
    rounding, such as the spectral ripple of a truncated Gaussian kernel where it has removed
    nearly everything, cannot show on a display and must not look like a peak.
    """
    n = array.shape[0]
    parts = np.array_split(array, max(1, min(strips, array.shape[1])), axis=1)
    profiles = np.stack([part.mean(axis=1) for part in parts])
    steps = np.diff(profiles, n=DIFFERENCES, axis=1)
    window = np.hanning(steps.shape[1] + 2)[1:-1]  # no zero ends: every step counts
    power = (np.abs(np.fft.fft(steps * window[None, :], n=n, axis=1)) ** 2).mean(axis=0)
    rounding = np.mean([QUANTUM**2 / 12 / part.shape[1] for part in parts])
    gain = (2 * np.sin(np.pi * np.arange(n) / n)) ** (2 * DIFFERENCES)  # |1 − e^{−iω}|^(2·differences)
    return power + rounding * float(np.sum(window**2)) * gain


def _harmonic_peaks(power: np.ndarray, period: float) -> np.ndarray:
    """``R_k`` per harmonic: the peak's power over the power its neighbourhood predicts there.

    ``power`` holds all ``n`` bins of a real signal's periodogram, so bins are read modulo ``n``:
    a harmonic at the Nyquist frequency has its mirror image as neighbours above it.
    """
    n = power.size
    half_spacing = 0.5 * n / period  # halfway to the next harmonic, in bins
    if n < MIN_PERIODS * period:
        raise InvalidImageError(
            f"a {n}-pixel side is too short to look for banding of period {period:g} "
            f"(needs at least {int(np.ceil(MIN_PERIODS * period))} pixels)"
        )
    ratios = []
    for k in range(1, int(period // 2) + 1):
        centre = k * n / period
        bins = np.arange(np.ceil(centre - half_spacing), np.floor(centre + half_spacing) + 1)
        offset = bins - centre
        values = power[np.mod(bins, n).astype(np.int64)]  # from 4 cycles up, never DC
        peak = np.abs(offset) <= PEAK_HALF_WIDTH
        around = np.abs(offset) > GAP
        # Power-law fit of the neighbourhood (a line in log P against log j): the expected power at
        # every bin, slope included; natural spectra and the rounding floor are near power laws.
        log_frequency = np.log(bins / centre)
        slope, intercept = np.polyfit(log_frequency[around], np.log(values[around]), 1)
        expected = np.exp(intercept + slope * log_frequency[peak])
        ratios.append(float(np.max(values[peak] / expected)))
    return np.asarray(ratios)


def fit_period(period: float, side: int) -> float:
    """``period`` halved until a side of ``side`` pixels holds seven of it (never below 2).

    The harmonics of half a period, ``k / (period/2)``, are the even harmonics of the period, so a
    stride too long for the frame (a deep network on a frame shrunk to its trained grain) is still
    checked at the frequencies where its shallower levels would leave a pattern.
    """
    while side < MIN_PERIODS * period and period / 2 >= 2:
        period /= 2
    return period


def _periods(period: Period) -> tuple[float, float]:
    rows, cols = map(float, period) if isinstance(period, tuple | list) else (float(period), float(period))
    if not (rows >= 2 and cols >= 2):  # also refuses NaN
        raise InvalidImageError(f"banding period must be at least 2 pixels; got {period}")
    return rows, cols


def harmonic_peaks(
    image: np.ndarray | torch.Tensor, period: Period = DEFAULT_PERIOD, strips: int = STRIPS
) -> tuple[np.ndarray, np.ndarray]:
    """How far the axis-profile spectra of a frame rise at the harmonics of ``period``.

    Rows: the frame is cut into ``strips`` vertical strips of equal width; the row-mean profile
    of each strip (one value per row: horizontal stripes survive the mean, speckle mostly does
    not) is second-differenced and Hann-windowed, and the periodograms (``numpy.fft.fft``,
    squared magnitude, n bins) of the strips are averaged into ``P``, plus the periodogram of
    8-bit rounding noise (see :func:`_spectrum`). Averaging across strips steadies ``P`` without
    widening a peak. Columns: the same on the transposed frame. For each harmonic
    ``k = 1 … ⌊period/2⌋`` at bin ``f_k = k·n/period`` (n = profile length), the expected power
    ``E(j) = exp(a + b·log(j / f_k))`` is a power-law fit of the neighbourhood
    ``2.5 < |j − f_k| ≤ n / (2·period)`` (up to halfway to the next harmonic; bins past n/2 read
    as their mirror image, so the Nyquist harmonic has neighbours on both sides), so a sloping
    spectrum does not look like a peak, and ``R_k = max{P_j / E(j) : |j − f_k| ≤ 1.5}``. Without
    a periodic component R_k is near 1 (the largest of three noisy bins over their trend); with
    one, far more.

    Args:
        image: 2D frame.
        period: the pattern's period in pixels (the network's total stride), at least 2: one
            for both axes, or ``(rows, columns)``; not necessarily whole pixels (a network run on
            a resampled frame has a stride of ``size_multiple`` times the resampling factor).
        strips: number of strips whose periodograms are averaged, per axis.

    Returns:
        ``(rows, columns)``: R_k, ``k = 1 … ⌊period/2⌋``, of the row profiles (horizontal
        stripes) and of the column profiles (vertical stripes).

    Raises:
        InvalidImageError: a period under 2, or a side shorter than ``7 × period`` pixels.
    """
    row_period, col_period = _periods(period)
    if strips < 1:
        raise InvalidImageError(f"banding strips must be at least 1; got {strips}")
    array = _as_2d(image)
    rows = _harmonic_peaks(_spectrum(array, strips), row_period)
    cols = _harmonic_peaks(_spectrum(array.T, strips), col_period)
    return rows, cols


def periodic_banding(
    reference: np.ndarray | torch.Tensor,
    output: np.ndarray | torch.Tensor,
    period: Period = DEFAULT_PERIOD,
    strips: int = STRIPS,
) -> float:
    """Banding the output adds at ``period``: ``B = mean over axes and harmonics of R_k(out) / R_k(in)``.

    R_k from :func:`harmonic_peaks` of the output and of the input (the despeckler's input), for
    the row and the column profiles and every harmonic ``k = 1 … ⌊period/2⌋``. 1.0 = no banding
    added: a filter that only smooths scales a harmonic and its neighbourhood alike and keeps
    every R_k. Above 1: the output's spectrum rises more at the stride's harmonics than the
    input's. Lower is better.

    How to read it: a periodic pattern stands out against the output's *own* spectrum (floored
    at what 8-bit rounding gives), so one grey level of stripes repeated across a strongly
    smoothed output gives a large B (it is nearly all that is left at those frequencies, and the
    eye sees it in flat areas), while a strong smoother without a stride reads slightly below 1
    (the input's chance peaks are smoothed away with everything else). The mean over harmonics
    dilutes a single harmonic's excess by their number (``2·⌊period/2⌋``): compare methods of the
    same period, or one method across data. B says how strongly periodic the output is at the
    stride, not how visible the pattern is. On the 58 CCAUI validation frames (749×709) NLM,
    OpenCV NLM and bilateral filters read 1.01–1.05 at period 16; run at their trained grain
    (``evaluate``'s default) the skip-DAE reads 8, pix2pix 1.3 and Speckle2Self 40 (at native
    size 37, 1.5 and 94). At native size the skip-DAE's figure comes from harmonics of about
    0.1–0.2 grey level in the frame's row means, with no pattern above the input's in the lumen;
    Speckle2Self's from a pattern of about 4 grey levels rms in the lumen, which shows.

    Args:
        reference: the despeckler's input.
        output: the despeckled frame, same shape.
        period: the network's total stride in output pixels (``size_multiple``, times the
            resampling factor of each axis if the network ran on a resampled frame): one for
            both axes or ``(rows, columns)``.
        strips: number of strips whose periodograms are averaged, per axis.
    """
    ref = _as_2d(reference, "reference")
    out = _as_2d(output, "output")
    if ref.shape != out.shape:
        raise InvalidImageError(f"reference {ref.shape} and output {out.shape} must have the same shape")
    peaks_out = harmonic_peaks(out, period, strips)
    peaks_in = harmonic_peaks(ref, period, strips)
    return float(np.mean(np.concatenate([o / i for o, i in zip(peaks_out, peaks_in, strict=True)])))
