"""Physics-based speckle: Rayleigh statistics, PSF geometry, Hilbert envelope, display mapping."""

import math

import numpy as np
import pytest
import scipy.signal
import scipy.stats
import torch

from monai_despeckle.errors import DespeckleError, InvalidImageError
from monai_despeckle.speckle import (
    PhysicsSpeckleParams,
    analytic_signal,
    clean_bmode,
    expected_intensity,
    simulate_bmode,
    simulate_envelope,
    simulate_rf,
)
from monai_despeckle.speckle.physics import LOG_RAYLEIGH_BIAS_DB

RAYLEIGH_SNR = math.sqrt(math.pi / (4.0 - math.pi))  # 1.913


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _lateral_correlation_fwhm(intensity: torch.Tensor) -> float:
    """FWHM (in pixels) of the lateral autocovariance of each row, averaged over rows."""
    centred = intensity - intensity.mean(dim=-1, keepdim=True)
    spectrum = torch.fft.rfft(centred, dim=-1)
    acov = torch.fft.irfft(spectrum.abs() ** 2, n=intensity.shape[-1], dim=-1).reshape(
        -1, intensity.shape[-1]
    )
    acov = acov.mean(0)
    acov = (acov / acov[0]).numpy()
    i = int(np.argmax(acov < 0.5))
    return 2.0 * (i - 1 + (acov[i - 1] - 0.5) / (acov[i - 1] - acov[i]))


def test_homogeneous_tissue_gives_fully_developed_rayleigh_speckle():
    envelope = simulate_envelope(torch.ones(256, 256), generator=_gen(0))
    inner = envelope[16:-16, 16:-16]
    assert inner.mean() / inner.std() == pytest.approx(RAYLEIGH_SNR, abs=0.1)
    # normalisation: reference tissue has unit mean envelope power, Rayleigh mean sqrt(pi)/2
    assert (inner**2).mean().item() == pytest.approx(1.0, abs=0.05)
    assert inner.mean().item() == pytest.approx(math.sqrt(math.pi) / 2.0, abs=0.03)
    # the envelope is Rayleigh-distributed, not just matching two moments
    sigma = math.sqrt(0.5)
    values = inner[::3, ::3].flatten().double().numpy()  # thin out to reduce speckle correlation
    assert scipy.stats.kstest(values, "rayleigh", args=(0, sigma)).statistic < 0.05


def test_echogenicity_is_intensity_so_four_times_brighter_doubles_the_envelope():
    echo = torch.ones(256, 256)
    echo[:, 128:] = 4.0
    echo[96:160, 32:96] = 0.0  # anechoic cyst in the reference half
    envelope = simulate_envelope(echo, generator=_gen(1))
    reference = torch.cat([envelope[16:80, 16:112].flatten(), envelope[176:240, 16:112].flatten()])
    bright = envelope[16:-16, 144:-16]
    assert (bright.mean() / reference.mean()).item() == pytest.approx(2.0, abs=0.1)
    cyst = envelope[106:150, 42:86]  # 1 mm inside the cyst walls
    assert cyst.mean().item() < 0.02 * reference.mean().item()
    assert simulate_envelope(torch.zeros(64, 64), generator=_gen(1)).abs().max().item() == 0.0


@pytest.mark.parametrize("beam_mm", [0.4, 1.2])
def test_lateral_speckle_grain_matches_beam_width(beam_mm):
    # For a Gaussian PSF the intensity autocovariance has the same FWHM as the amplitude PSF.
    params = PhysicsSpeckleParams(lateral_beam_width_mm=beam_mm)
    envelope = simulate_envelope(torch.ones(4, 1, 128, 256), params=params, generator=_gen(2))
    width_mm = _lateral_correlation_fwhm(envelope[:, 0] ** 2) * 0.1
    assert width_mm == pytest.approx(beam_mm, rel=0.15)


def test_speckle_grain_grows_with_lateral_beam_width():
    echo = torch.ones(2, 1, 128, 256)
    widths = [
        _lateral_correlation_fwhm(
            simulate_envelope(echo, params=PhysicsSpeckleParams(lateral_beam_width_mm=w), generator=_gen(3))[
                :, 0
            ]
        )
        for w in (0.3, 0.6, 1.2)
    ]
    assert widths[0] < widths[1] < widths[2]


def test_sparse_scatterers_give_pre_rayleigh_speckle():
    params = PhysicsSpeckleParams(scatterers_per_resolution_cell=1.0)
    envelope = simulate_envelope(torch.ones(256, 256), params=params, generator=_gen(4))[16:-16, 16:-16]
    assert (envelope.mean() / envelope.std()).item() < 1.5  # heavier-tailed than Rayleigh
    assert (envelope**2).mean().item() == pytest.approx(1.0, abs=0.15)  # power is kept


def test_analytic_signal_matches_scipy_hilbert():
    rng = np.random.default_rng(0)
    for n in (64, 65):
        x = rng.normal(size=(3, n))
        ours = analytic_signal(torch.from_numpy(x), dim=-1).numpy()
        np.testing.assert_allclose(ours, scipy.signal.hilbert(x, axis=-1), atol=1e-10)
        ours_t = analytic_signal(torch.from_numpy(x.T.copy()), dim=0).numpy()
        np.testing.assert_allclose(ours_t, scipy.signal.hilbert(x.T, axis=0), atol=1e-10)


def test_envelope_is_the_hilbert_envelope_of_the_rf_at_pixel_centres():
    spacing = (0.07, 0.1)  # needs a 3× finer RF grid: pixel centres fall on RF samples
    echo = torch.ones(96, 64)
    echo[40:60, 20:40] = 5.0
    envelope = simulate_envelope(echo, spacing, generator=_gen(5))
    rf, step = simulate_rf(echo, spacing, generator=_gen(5))
    factor = round(spacing[0] / step)
    assert factor == 3 and rf.shape == (96 * 3, 64)
    hilbert_envelope = analytic_signal(rf, dim=0).abs()[1::factor]  # sample (u-1)/2 = pixel centre
    inner = slice(8, -8)  # the RF is cropped before the Hilbert transform: ignore its ends
    error = (hilbert_envelope[inner] - envelope[inner]).pow(2).mean().sqrt()
    assert error.item() < 0.05 * envelope[inner].pow(2).mean().sqrt().item()


def test_rf_oscillates_at_the_two_way_carrier_frequency():
    params = PhysicsSpeckleParams(center_frequency_mhz=5.0)
    rf, step = simulate_rf(torch.ones(128, 32), (0.1, 0.1), params=params, generator=_gen(6))
    power = (torch.fft.rfft(rf, dim=0).abs() ** 2).mean(1)
    freqs = torch.fft.rfftfreq(rf.shape[0], d=step)
    peak = freqs[int(power.argmax())].item()
    expected = 2 * 5.0 / 1.540  # 2 f0 / c in cycles per mm
    assert peak == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("axis", [0, 1])
def test_expected_intensity_is_the_mean_speckle_power_across_an_edge(axis):
    echo = torch.ones(48, 1, 64, 64)
    if axis == 0:
        echo[:, :, 40:, :] = 0.0  # tissue above an anechoic layer
    else:
        echo[:, :, :, 32:] = 9.0  # tissue beside a 9.5 dB brighter region
    mean_power = (simulate_envelope(echo, generator=_gen(7)) ** 2).mean(dim=(0, 1, 3 - axis))
    expected = expected_intensity(echo[0, 0]).mean(dim=1 - axis)
    torch.testing.assert_close(mean_power[4:-4], expected[4:-4], rtol=0.15, atol=0.02)
    # it is the step blurred by the PSF: intermediate values at the edge
    edge = 39 if axis == 0 else 31
    assert 0.1 < (expected[edge] - expected[edge + 2]).abs() / (expected[0] - expected[-1]).abs() < 0.95


def test_clean_and_speckled_bmode_share_mean_display_values():
    echo = torch.ones(256, 256)
    echo[:, 128:] = 4.0
    echo[128:, :128] = 0.25
    bmode = simulate_bmode(echo, generator=_gen(8))
    clean = clean_bmode(echo)
    assert bmode.min() >= 0.0 and bmode.max() <= 1.0 and clean.min() >= 0.0 and clean.max() <= 1.0
    for rows, cols in [
        (slice(16, 112), slice(16, 112)),
        (slice(144, 240), slice(16, 112)),
        (slice(16, -16), slice(144, -16)),
    ]:
        assert bmode[rows, cols].mean().item() == pytest.approx(clean[rows, cols].mean().item(), abs=0.03)
    # the clean image is speckle-free: flat inside homogeneous regions
    assert clean[16:112, 16:112].std().item() < 1e-4
    # and follows the display law: 10 log10(echogenicity) dB above reference tissue
    params = PhysicsSpeckleParams()
    reference = (params.reference_level_db + LOG_RAYLEIGH_BIAS_DB + params.dynamic_range_db) / 50.0
    assert clean[64, 64].item() == pytest.approx(reference, abs=1e-4)
    assert clean[64, 200].item() == pytest.approx(reference + 10 * math.log10(4.0) / 50.0, abs=1e-4)


def test_bmode_is_reproducible_and_keeps_shape_and_dtype():
    echo = torch.rand(2, 1, 48, 40, dtype=torch.float64) + 0.5
    a = simulate_bmode(echo, generator=_gen(9))
    b = simulate_bmode(echo, generator=_gen(9))
    c = simulate_bmode(echo, generator=_gen(10))
    assert a.shape == echo.shape and a.dtype == torch.float64 and a.device == echo.device
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().mean() > 0.05
    plain = simulate_bmode(np.ones((30, 20), dtype=np.uint8), generator=_gen(9))
    assert plain.shape == (30, 20) and plain.dtype == torch.float32
    assert clean_bmode(torch.ones(30, 20)).shape == (30, 20)


def test_anisotropic_spacing_and_parameters_change_the_result():
    echo = torch.ones(64, 64)
    fine = simulate_envelope(echo, (0.05, 0.05), generator=_gen(11))
    coarse = simulate_envelope(echo, (0.2, 0.2), generator=_gen(11))
    # a given beam spans more pixels at a finer spacing: a wider grain in pixels
    assert _lateral_correlation_fwhm(fine[None] ** 2) > 1.5 * _lateral_correlation_fwhm(coarse[None] ** 2)


@pytest.mark.parametrize(
    ("echo", "message"),
    [
        (torch.ones(3, 8, 8), "shape"),
        (-torch.ones(8, 8), "non-negative"),
        (torch.full((8, 8), float("nan")), "finite"),
        (torch.ones(0, 8), "empty"),
    ],
)
def test_bad_echogenicity_is_rejected(echo, message):
    with pytest.raises(InvalidImageError, match=message):
        simulate_bmode(echo)


def test_bad_parameters_are_rejected():
    with pytest.raises(DespeckleError, match="fractional_bandwidth"):
        PhysicsSpeckleParams(fractional_bandwidth=0.0)
    with pytest.raises(DespeckleError, match="center_frequency_mhz"):
        PhysicsSpeckleParams(center_frequency_mhz=-1.0)
    with pytest.raises(DespeckleError, match="spacing"):
        simulate_envelope(torch.ones(8, 8), spacing_mm=(0.1, 0.0))
    with pytest.raises(ValueError, match="spacing"):  # also a ValueError, for generic callers
        simulate_envelope(torch.ones(8, 8), spacing_mm=(0.1, 0.1, 0.1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_input_stays_on_cuda_and_a_cpu_generator_reproduces_cpu_noise():
    echo = torch.ones(64, 64)
    cpu = simulate_envelope(echo, generator=_gen(12))
    gpu = simulate_envelope(echo.cuda(), generator=_gen(12))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
