"""Physics-based B-mode speckle: random scatterers ⊗ pulse-echo PSF → Hilbert envelope → log compression.

This is the linear convolution model of ultrasound imaging (Bamber & Dickinson, Phys. Med. Biol.
25:463, 1980; Meunier & Bertrand, IEEE TMI 14:293, 1995), the basis of fast simulators such as
Gao et al., IEEE TUFFC 56:404 (2009):

1. **Scatterers.** ``echogenicity`` is the local backscattered *intensity* relative to reference
   tissue (1 = reference, 0 = anechoic, 4 = 6 dB brighter). Scatterer amplitudes are therefore
   weighted by ``sqrt(echogenicity)``, so the expected envelope *power* equals the echogenicity and
   the mean envelope scales with its square root (echogenicity 4 → mean envelope ×2).
2. **RF.** The scatterer field, laid on a grid that is ``upsample`` times finer axially than the
   image so the RF carrier is sampled above Nyquist, is convolved with a separable pulse-echo PSF:
   axially a Gaussian-modulated cosine at the centre frequency ``f0`` with the given fractional
   bandwidth (depth z ↔ two-way time t = 2z/c), laterally a Gaussian beam of the given FWHM.
3. **Envelope.** Envelope detection is the magnitude of the analytic signal (Hilbert transform
   along depth, via FFT, see :func:`analytic_signal`). The complex analytic signal is demodulated
   and anti-alias decimated back to the image grid *before* the magnitude is taken, as scanners do
   with IQ data: a linear filter keeps the complex field circular Gaussian, so the envelope stays
   Rayleigh (fully developed speckle, SNR = mean/std = 1.91; Wagner et al., IEEE Trans. Sonics
   Ultrason. 30:156, 1983). Averaging the *magnitude* over a pixel instead would smooth it and
   raise the SNR above 1.91 whenever the pulse is shorter than a pixel (it is, at 0.1 mm and
   7.5 MHz). Convolution, Hilbert transform and decimation are linear, so they are fused into one
   pass in the Fourier domain; :func:`simulate_rf` returns the explicit RF for the same draw.
4. **Log compression** (:func:`simulate_bmode`): ``dB = 20 log10(envelope) + reference_level_db``,
   clipped to ``[-dynamic_range_db, 0]`` and mapped linearly to [0, 1]. The envelope is normalised
   so that reference tissue has unit RMS envelope: the mapping is the same for every image (no
   per-image maximum), so phantoms and their echogenicity are comparable across a data set.

:func:`clean_bmode` gives the speckle-free reference in the same display mapping: the exact
expected envelope power ``E[envelope²] = echogenicity ⊗ |PSF|²`` log-compressed, shifted by the
mean of a log-Rayleigh variable so homogeneous regions have the same mean display value with and
without speckle.

Shapes: echogenicity ``[H, W]`` or ``[N, 1, H, W]`` with H = depth (axial) and W = lateral;
results have the same shape, device, and dtype (float32 for non-float input). 2D only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.speckle._sampling import rand, randn
from monai_despeckle.speckle._validation import SpeckleParameterError, as_tensor, check_range

__all__ = [
    "EULER_GAMMA",
    "FULLY_DEVELOPED_SCATTERERS",
    "LOG_RAYLEIGH_BIAS_DB",
    "PhysicsSpeckleParams",
    "analytic_signal",
    "clean_bmode",
    "expected_intensity",
    "log_compress",
    "simulate_bmode",
    "simulate_envelope",
    "simulate_rf",
]

EULER_GAMMA = 0.5772156649015329
# E[20 log10 A] - 10 log10 E[A²] for a Rayleigh amplitude A: from E[ln A] = ln σ + (ln 2 − γ)/2 and
# E[A²] = 2σ², the difference is −γ/2 nepers = −10 γ / ln 10 ≈ −2.507 dB.
LOG_RAYLEIGH_BIAS_DB = -10.0 * EULER_GAMMA / math.log(10.0)
# With at least this many scatterers per resolution cell the envelope is fully developed
# (Rayleigh); the scatterer field is then drawn as Gaussian white noise.
FULLY_DEVELOPED_SCATTERERS = 10.0
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_SPECTRUM_SIGMAS = 4.0  # the RF spectrum is treated as band-limited to f0 ± 4 σ_f
_PAD_SIGMAS = 3.0  # margin (in PSF σ) simulated around the image so its borders see scatterers


@dataclass(frozen=True)
class PhysicsSpeckleParams:
    """Acquisition parameters of the convolution model (defaults: a 7.5 MHz linear probe).

    Args:
        center_frequency_mhz: transmit centre frequency f0 in MHz.
        fractional_bandwidth: −6 dB width of the pulse-echo spectrum divided by f0 (0.6 = 60 %).
        speed_of_sound_m_s: speed of sound c in m/s, converting depth to two-way time (t = 2z/c).
        lateral_beam_width_mm: −6 dB full width (FWHM) of the pulse-echo lateral amplitude PSF, mm.
        scatterers_per_resolution_cell: mean number of scatterers per resolution cell (axial ×
            lateral FWHM). At ``FULLY_DEVELOPED_SCATTERERS`` (10) or more the scattered field is the
            sum of many random phasors, Gaussian by the central limit theorem, and is drawn as such;
            below that, sparse point scatterers give pre-Rayleigh (K-distributed) speckle.
        dynamic_range_db: displayed dynamic range of the log compression, dB.
        reference_level_db: display level (0 dB = white) of the RMS envelope of reference tissue
            (echogenicity 1). The default puts the mean log-envelope of reference tissue
            (−2.5 dB lower, see ``LOG_RAYLEIGH_BIAS_DB``) at mid-grey with a 50 dB range.
    """

    center_frequency_mhz: float = 7.5
    fractional_bandwidth: float = 0.6
    speed_of_sound_m_s: float = 1540.0
    lateral_beam_width_mm: float = 0.6
    scatterers_per_resolution_cell: float = 10.0
    dynamic_range_db: float = 50.0
    reference_level_db: float = -22.5

    def __post_init__(self) -> None:
        check_range("center_frequency_mhz", self.center_frequency_mhz, 0.0, 1e3, open_low=True)
        check_range("fractional_bandwidth", self.fractional_bandwidth, 0.0, 2.0, open_low=True)
        check_range("speed_of_sound_m_s", self.speed_of_sound_m_s, 0.0, 1e5, open_low=True)
        check_range("lateral_beam_width_mm", self.lateral_beam_width_mm, 0.0, 1e3, open_low=True)
        check_range("scatterers_per_resolution_cell", self.scatterers_per_resolution_cell, 0.0, open_low=True)
        check_range("dynamic_range_db", self.dynamic_range_db, 0.0, 400.0, open_low=True)
        check_range("reference_level_db", self.reference_level_db, -400.0, 400.0)

    @property
    def carrier_cycles_per_mm(self) -> float:
        """Spatial frequency of the RF carrier along depth, 2 f0 / c (two-way), cycles/mm."""
        return 2.0 * self.center_frequency_mhz / (self.speed_of_sound_m_s * 1e-3)

    @property
    def spectrum_sigma_cycles_per_mm(self) -> float:
        """Standard deviation of the Gaussian pulse-echo spectrum along depth, cycles/mm."""
        sigma_f_mhz = self.fractional_bandwidth * self.center_frequency_mhz / _FWHM_PER_SIGMA
        return 2.0 * sigma_f_mhz / (self.speed_of_sound_m_s * 1e-3)

    @property
    def axial_sigma_mm(self) -> float:
        """Standard deviation of the Gaussian pulse envelope along depth, mm (σ_z = 1 / (2π σ_k))."""
        return 1.0 / (2.0 * math.pi * self.spectrum_sigma_cycles_per_mm)

    @property
    def axial_resolution_mm(self) -> float:
        """−6 dB (FWHM) length of the pulse-echo envelope, mm."""
        return _FWHM_PER_SIGMA * self.axial_sigma_mm

    @property
    def lateral_sigma_mm(self) -> float:
        """Standard deviation of the Gaussian lateral amplitude PSF, mm."""
        return self.lateral_beam_width_mm / _FWHM_PER_SIGMA


# --------------------------------------------------------------------------------------------
# Hilbert transform


def _analytic_weights(n: int, device: torch.device | None = None) -> torch.Tensor:
    """FFT weights that turn a real spectrum into its analytic (one-sided) spectrum."""
    h = torch.zeros(n, device=device)
    h[0] = 1.0
    if n % 2 == 0:
        h[1 : n // 2] = 2.0
        h[n // 2] = 1.0
    else:
        h[1 : (n + 1) // 2] = 2.0
    return h


def analytic_signal(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Complex analytic signal ``x + i·H{x}`` of a real signal along ``dim`` (as scipy.signal.hilbert).

    Written here because torch has no Hilbert transform: FFT, zero the negative frequencies, double
    the positive ones, inverse FFT. Its magnitude is the envelope of an RF signal.

    Args:
        x: real tensor.
        dim: axis along which the signal runs (depth for RF lines).
    """
    n = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = n
    weights = _analytic_weights(n, x.device).reshape(shape)
    return torch.fft.ifft(torch.fft.fft(x, dim=dim) * weights, dim=dim)


# --------------------------------------------------------------------------------------------
# Sampling geometry, cached per (parameters, spacing, padded size)


@dataclass(frozen=True)
class _Grid:
    """How the image grid is extended for the simulation."""

    upsample: int  # axial fine-grid factor for the RF
    pad_axial: int  # image pixels simulated above and below the image
    pad_lateral: int  # image pixels simulated left and right of the image
    fill_fraction: float  # probability that a fine-grid cell holds a scatterer (1: Gaussian field)


@lru_cache(maxsize=64)
def _grid(params: PhysicsSpeckleParams, dz: float, dx: float) -> _Grid:
    k_high = params.carrier_cycles_per_mm + _SPECTRUM_SIGMAS * params.spectrum_sigma_cycles_per_mm
    upsample = max(1, math.ceil(2.0 * k_high * dz))  # fine step dz/u ≤ 1 / (2 k_high): Nyquist
    pad_axial = math.ceil(_PAD_SIGMAS * max(params.axial_sigma_mm, dz) / dz) + 1
    pad_lateral = math.ceil(_PAD_SIGMAS * max(params.lateral_sigma_mm, dx) / dx) + 1
    fill = 1.0
    if params.scatterers_per_resolution_cell < FULLY_DEVELOPED_SCATTERERS:
        cell_mm2 = params.axial_resolution_mm * params.lateral_beam_width_mm
        fill = min(1.0, params.scatterers_per_resolution_cell * (dz / upsample) * dx / cell_mm2)
    return _Grid(upsample, pad_axial, pad_lateral, fill)


@dataclass(frozen=True)
class _Filters:
    """Fourier-domain operators of the fused RF → analytic → IQ-decimation pipeline (on CPU)."""

    band_index: torch.Tensor  # [n_c] rfft bins of the fine RF kept around the carrier, baseband order
    axial: torch.Tensor  # [n_c] complex: 2 × pulse spectrum × half-pixel shift (analytic, demodulated)
    pulse: torch.Tensor  # [n_f // 2 + 1] real pulse spectrum on every fine rfft bin (for the RF)
    lateral: torch.Tensor  # [W_p] real Gaussian beam transfer function
    scale: float  # makes E|IQ|² = 1 for echogenicity 1
    intensity_kernel_fft: torch.Tensor  # [n_c, W_p] complex FFT of the |PSF|² kernel on the image grid


@lru_cache(maxsize=64)
def _filters(params: PhysicsSpeckleParams, dz: float, dx: float, n_c: int, w_p: int) -> _Filters:
    upsample = _grid(params, dz, dx).upsample
    n_f = n_c * upsample
    dk = 1.0 / (n_c * dz)  # bin spacing of both the fine and the coarse axial FFT, cycles/mm
    k0 = params.carrier_cycles_per_mm
    sk = params.spectrum_sigma_cycles_per_mm

    def pulse_spectrum(k: torch.Tensor) -> torch.Tensor:  # a cosine-modulated Gaussian, up to a constant
        return torch.exp(-0.5 * ((k - k0) / sk) ** 2) + torch.exp(-0.5 * ((k + k0) / sk) ** 2)

    fine_bins = torch.arange(n_f // 2 + 1, dtype=torch.float64)
    pulse = pulse_spectrum(fine_bins * dk)

    # Baseband ordering of the kept band: offset j from the carrier bin m0, in FFT order.
    q = torch.arange(n_c)
    offset = torch.where(q < n_c - n_c // 2, q, q - n_c)
    m0 = round(k0 / dk)
    m = m0 + offset
    valid = (m >= 0) & (m <= n_f // 2)
    analytic = _analytic_weights(n_f).to(torch.float64)[m.clamp(0, n_f // 2)]
    # Fine sample 0 is the top of the first pixel: shift the coarse samples by (u-1)/(2u) of a pixel
    # so they fall on pixel centres, as the echogenicity map does.
    shift = (upsample - 1) / (2.0 * upsample)
    phase = torch.exp(2j * math.pi * offset.to(torch.float64) * shift / n_c)
    # Anti-aliasing low-pass of the IQ decimation: a cosine-tapered (Tukey, α = 0.5) pass band, not
    # an ideal cut-off, whose sinc side lobes would spread ≈ −33 dB of a bright echo over many pixels.
    radius = offset.abs().to(torch.float64) / (n_c / 2.0)
    taper = torch.where(radius < 0.5, 1.0, 0.5 * (1.0 + torch.cos(2.0 * math.pi * (radius - 0.5))))
    axial = torch.where(valid, analytic * pulse_spectrum(m.to(torch.float64) * dk), 0.0) * taper * phase

    lateral = torch.exp(-2.0 * (math.pi * params.lateral_sigma_mm) ** 2 * torch.fft.fftfreq(w_p, d=dx) ** 2)
    lateral = lateral.to(torch.float64)
    # Unit-variance white noise on the fine grid has E|rfft bin|² = n_f; the two inverse FFTs divide
    # by n_c and w_p, and the lateral forward FFT multiplies power by w_p.
    power = n_f * float((axial.abs() ** 2).sum()) * float((lateral**2).sum()) / (n_c**2 * w_p)
    scale = 1.0 / math.sqrt(power)

    # Exact E|IQ|² kernel: the response of the coarse IQ to a fine-grid point scatterer at each of
    # the u sub-pixel phases, summed in power (scatterers in different fine cells are independent).
    phases = torch.arange(upsample, dtype=torch.float64)[:, None]
    delta_spectra = torch.exp(-2j * math.pi * m.to(torch.float64)[None, :] * phases / n_f)
    responses = torch.fft.ifft(delta_spectra * axial[None, :], dim=-1)
    axial_kernel = (responses.abs() ** 2).sum(0)
    lateral_kernel = torch.fft.ifft(lateral).abs() ** 2
    kernel = torch.outer(axial_kernel / axial_kernel.sum(), lateral_kernel / lateral_kernel.sum())

    return _Filters(
        band_index=m.clamp(0, n_f // 2),
        axial=axial.to(torch.complex64),
        pulse=(pulse * scale * upsample).to(torch.float32),
        lateral=lateral.to(torch.float32),
        scale=scale,
        intensity_kernel_fft=torch.fft.fft2(kernel).to(torch.complex64),
    )


# --------------------------------------------------------------------------------------------
# Input handling


def _as_batch(echogenicity: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype]:
    """``[N, 1, H, W]`` float32 view of the echogenicity, its original shape and the output dtype."""
    x = as_tensor(echogenicity, "echogenicity")
    shape = tuple(x.shape)
    out_dtype = x.dtype if x.is_floating_point() else torch.float32
    if x.ndim == 2:
        x = x[None, None]
    elif not (x.ndim == 4 and x.shape[1] == 1):
        raise InvalidImageError(f"echogenicity must have shape [H, W] or [N, 1, H, W], got {list(shape)}")
    if x.numel() == 0:
        raise InvalidImageError(f"echogenicity is empty (shape {list(shape)})")
    x = x.to(torch.float32)
    if bool((~torch.isfinite(x) | (x < 0)).any()):
        raise InvalidImageError("echogenicity must be finite and non-negative (0 = anechoic, 1 = tissue)")
    return x, shape, out_dtype


def _spacing(spacing_mm: tuple[float, float] | float) -> tuple[float, float]:
    if isinstance(spacing_mm, (int, float)):
        spacing_mm = (spacing_mm, spacing_mm)
    values = tuple(float(s) for s in spacing_mm)
    if len(values) != 2:
        raise SpeckleParameterError(f"spacing_mm must be (axial, lateral) in mm, got {spacing_mm!r}")
    dz = check_range("axial spacing_mm", values[0], 0.0, 1e3, open_low=True)
    dx = check_range("lateral spacing_mm", values[1], 0.0, 1e3, open_low=True)
    return dz, dx


def _restore(x: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return x.reshape(shape).to(dtype)


def _pad(x: torch.Tensor, grid: _Grid) -> torch.Tensor:
    """Replicate-pad so that the PSF near the borders sees scatterers of the border tissue."""
    return F.pad(x, (grid.pad_lateral,) * 2 + (grid.pad_axial,) * 2, mode="replicate")


def _crop(x: torch.Tensor, grid: _Grid, height: int, width: int, axial_factor: int = 1) -> torch.Tensor:
    top = grid.pad_axial * axial_factor
    return x[..., top : top + height * axial_factor, grid.pad_lateral : grid.pad_lateral + width]


# --------------------------------------------------------------------------------------------
# Simulation


def _scatterers(padded: torch.Tensor, grid: _Grid, generator: torch.Generator | None) -> torch.Tensor:
    """Real scatterer amplitudes on the axially ``upsample``-times finer grid, power ∝ echogenicity.

    In the fully developed regime every fine cell holds the sum of many scatterers, which is
    Gaussian (central limit theorem), so one unit-variance Gaussian draw per cell emulates any
    sub-pixel density. Below it, a cell holds a scatterer with probability ``fill_fraction`` and
    its amplitude is scaled by 1/sqrt(fill) to keep the mean power.
    """
    amplitude = padded.sqrt().repeat_interleave(grid.upsample, dim=-2)
    shape = tuple(amplitude.shape)
    field = randn(shape, generator, amplitude.device, torch.float32)
    if grid.fill_fraction < 1.0:
        occupied = rand(shape, generator, amplitude.device, torch.float32) < grid.fill_fraction
        field = field * occupied / math.sqrt(grid.fill_fraction)
    return amplitude * field


def _prepare(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float,
    params: PhysicsSpeckleParams | None,
) -> tuple[torch.Tensor, tuple[int, ...], torch.dtype, PhysicsSpeckleParams, _Grid, _Filters]:
    x, shape, dtype = _as_batch(echogenicity)
    params = PhysicsSpeckleParams() if params is None else params
    if not isinstance(params, PhysicsSpeckleParams):
        raise SpeckleParameterError(f"params must be a PhysicsSpeckleParams, got {type(params).__name__}")
    dz, dx = _spacing(spacing_mm)
    grid = _grid(params, dz, dx)
    padded = _pad(x, grid)
    filters = _filters(params, dz, dx, padded.shape[-2], padded.shape[-1])
    return padded, shape, dtype, params, grid, filters


def _iq(
    padded: torch.Tensor, grid: _Grid, filters: _Filters, generator: torch.Generator | None
) -> torch.Tensor:
    """Complex baseband (IQ) image on the padded image grid, E|IQ|² = echogenicity in bulk tissue."""
    device = padded.device
    rf_spectrum = torch.fft.rfft(_scatterers(padded, grid, generator), dim=-2)
    band = rf_spectrum.index_select(-2, filters.band_index.to(device))
    band = band * filters.axial.to(device)[:, None]
    band = torch.fft.fft(band, dim=-1) * filters.lateral.to(device)
    return torch.fft.ifft2(band) * filters.scale


def simulate_envelope(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float = (0.1, 0.1),
    params: PhysicsSpeckleParams | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Speckled envelope (detected amplitude) of an echogenicity map, by the convolution model.

    The envelope is normalised so that reference tissue (echogenicity 1) has E[envelope²] = 1;
    fully developed speckle there has mean ≈ 0.886 and mean/std ≈ 1.91 (Rayleigh).

    Args:
        echogenicity: backscatter intensity map ``[H, W]`` or ``[N, 1, H, W]`` (H = depth), ≥ 0,
            1 = reference tissue, 0 = anechoic. Amplitudes scale with its square root.
        spacing_mm: pixel size (axial, lateral) in mm, or one number for square pixels.
        params: acquisition parameters; ``None`` uses :class:`PhysicsSpeckleParams` defaults.
        generator: source of randomness (``None``: torch's global generator).

    Returns:
        Non-negative envelope, same shape/device as ``echogenicity``.
    """
    padded, shape, dtype, _, grid, filters = _prepare(echogenicity, spacing_mm, params)
    envelope = _iq(padded, grid, filters, generator).abs()
    return _restore(_crop(envelope, grid, shape[-2], shape[-1]), shape, dtype)


def simulate_rf(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float = (0.1, 0.1),
    params: PhysicsSpeckleParams | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, float]:
    """Beamformed RF lines of an echogenicity map on the internal, axially upsampled grid.

    For the same ``generator`` state, ``|analytic_signal(rf, dim=-2)|`` at the centre of each image
    pixel matches :func:`simulate_envelope` (up to the band-limiting of the decimation).

    Args:
        echogenicity: as in :func:`simulate_envelope`.
        spacing_mm: pixel size (axial, lateral) in mm.
        params: acquisition parameters; ``None`` uses the defaults.
        generator: source of randomness.

    Returns:
        ``(rf, axial_step_mm)``: RF of shape ``[..., H * u, W]`` (u = internal upsampling) and its
        axial sample spacing in mm (``spacing_mm[0] / u``).
    """
    padded, shape, dtype, _, grid, filters = _prepare(echogenicity, spacing_mm, params)
    device = padded.device
    n_f = padded.shape[-2] * grid.upsample
    spectrum = torch.fft.rfft(_scatterers(padded, grid, generator), dim=-2)
    spectrum = spectrum * filters.pulse.to(device)[:, None]
    spectrum = torch.fft.ifft(torch.fft.fft(spectrum, dim=-1) * filters.lateral.to(device), dim=-1)
    rf = torch.fft.irfft(spectrum, n=n_f, dim=-2)
    rf = _crop(rf, grid, shape[-2], shape[-1], axial_factor=grid.upsample)
    out_shape = (*shape[:-2], shape[-2] * grid.upsample, shape[-1])
    return _restore(rf, out_shape, dtype), _spacing(spacing_mm)[0] / grid.upsample


def log_compress(envelope: torch.Tensor, params: PhysicsSpeckleParams | None = None) -> torch.Tensor:
    """Display mapping of an envelope normalised as in :func:`simulate_envelope`.

    ``dB = 20 log10(envelope) + reference_level_db``, clipped to ``[-dynamic_range_db, 0]`` and
    mapped linearly to [0, 1] (0 = black, 1 = white).

    Args:
        envelope: non-negative envelope (unit RMS in reference tissue).
        params: supplies ``dynamic_range_db`` and ``reference_level_db``.
    """
    params = PhysicsSpeckleParams() if params is None else params
    db = 20.0 * torch.log10(envelope.clamp_min(1e-30)) + params.reference_level_db
    return _db_to_display(db, params)


def _db_to_display(db: torch.Tensor, params: PhysicsSpeckleParams) -> torch.Tensor:
    return ((db + params.dynamic_range_db) / params.dynamic_range_db).clamp(0.0, 1.0)


def simulate_bmode(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float = (0.1, 0.1),
    params: PhysicsSpeckleParams | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Log-compressed speckled B-mode image in [0, 1] (see :func:`log_compress`).

    Args:
        echogenicity: backscatter intensity map ``[H, W]`` or ``[N, 1, H, W]``, ≥ 0.
        spacing_mm: pixel size (axial, lateral) in mm.
        params: acquisition and display parameters; ``None`` uses the defaults.
        generator: source of randomness (``None``: torch's global generator).
    """
    params = PhysicsSpeckleParams() if params is None else params
    envelope = simulate_envelope(echogenicity, spacing_mm, params, generator)
    return log_compress(envelope.to(torch.float32), params).to(envelope.dtype)


def expected_intensity(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float = (0.1, 0.1),
    params: PhysicsSpeckleParams | None = None,
) -> torch.Tensor:
    """Exact expected envelope power E[envelope²] = echogenicity ⊗ |PSF|² of the simulation.

    Args:
        echogenicity: backscatter intensity map ``[H, W]`` or ``[N, 1, H, W]``, ≥ 0.
        spacing_mm: pixel size (axial, lateral) in mm.
        params: acquisition parameters; ``None`` uses the defaults.
    """
    padded, shape, dtype, _, grid, filters = _prepare(echogenicity, spacing_mm, params)
    kernel_fft = filters.intensity_kernel_fft.to(padded.device)
    intensity = torch.fft.ifft2(torch.fft.fft2(padded) * kernel_fft).real.clamp_min(0.0)
    return _restore(_crop(intensity, grid, shape[-2], shape[-1]), shape, dtype)


def clean_bmode(
    echogenicity: torch.Tensor | np.ndarray,
    spacing_mm: tuple[float, float] | float = (0.1, 0.1),
    params: PhysicsSpeckleParams | None = None,
) -> torch.Tensor:
    """Speckle-free reference B-mode in the same display mapping as :func:`simulate_bmode`.

    The expected envelope power (:func:`expected_intensity`) is log-compressed and shifted by the
    mean of a log-Rayleigh amplitude (``LOG_RAYLEIGH_BIAS_DB`` ≈ −2.5 dB, from
    E[ln A] = ln σ + (ln 2 − γ)/2), so a homogeneous region has the same mean display value here
    as in the speckled image. This is the target supervised despeckling models learn to output.

    Args:
        echogenicity: backscatter intensity map ``[H, W]`` or ``[N, 1, H, W]``, ≥ 0.
        spacing_mm: pixel size (axial, lateral) in mm.
        params: acquisition and display parameters; ``None`` uses the defaults.
    """
    params = PhysicsSpeckleParams() if params is None else params
    intensity = expected_intensity(echogenicity, spacing_mm, params)
    db = 10.0 * torch.log10(intensity.to(torch.float32).clamp_min(1e-30))
    return _db_to_display(db + LOG_RAYLEIGH_BIAS_DB + params.reference_level_db, params).to(intensity.dtype)
