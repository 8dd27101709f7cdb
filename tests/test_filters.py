"""Every registered classical filter, through the Method interface, on a speckled step edge.

The image is two flat regions (0.3 | 0.7) multiplied by Gamma speckle of 16 looks (coefficient of
variation 1/√16 = 0.25), made here with numpy so the test depends on no other module. Two small
metrics are written below on purpose (the project's metrics module is tested on its own):

- speckle index: the mean of the local σ/μ (7×7 windows) over the two flat regions, away from the
  edge and the borders. Every filter must divide it by at least 2, i.e. multiply the equivalent
  number of looks by 4, what averaging 4 independent looks does. (A 3×3 box, the weakest default
  here, divides it by ≈ 3.)
- edge preservation index (Sattar et al., IEEE TIP 6:888, 1997): the correlation of high-passed
  reference (clean) and output images in a band around the edge. The high-pass is a Laplacian of
  Gaussian (σ = 1 px) rather than the bare 3×3 Laplacian, which is exactly zero inside a linear
  ramp and so scores any box-blurred edge 0 whatever its width. The threshold is not a magic
  number: the output must keep the edge at least as well as the clean step blurred by a Gaussian
  of σ = 2 px (a 10-90 % edge width of 5 px).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_despeckle.resolver import available_methods, create_method

HEIGHT, WIDTH = 64, 96
LOOKS = 16
MARGIN = 8  # pixels kept away from the borders and (for the flat regions) from the edge
EDGE_BAND = 6  # half-width of the band around the edge where EPI is computed

CLASSICAL = [
    name for name, spec in available_methods().items() if spec.family == "classical" and name != "none"
]


def step_edge() -> np.ndarray:
    """Clean reference: 0.3 on the left half, 0.7 on the right half."""
    return np.where(np.arange(WIDTH) < WIDTH // 2, 0.3, 0.7)[None, :].repeat(HEIGHT, axis=0)


def speckled(seed: int) -> np.ndarray:
    """The step edge times unit-mean Gamma speckle of LOOKS looks, clipped to [0, 1], float32."""
    rng = np.random.default_rng(seed)
    return np.clip(step_edge() * rng.gamma(LOOKS, 1.0 / LOOKS, (HEIGHT, WIDTH)), 0.0, 1.0).astype(np.float32)


def speckle_index(image: np.ndarray, window: int = 7) -> float:
    """Mean local σ/μ over the two flat regions."""
    image = image.astype(np.float64)
    mean = ndimage.uniform_filter(image, window)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(image * image, window) - mean * mean, 0.0))
    ratio = std / mean
    rows = slice(MARGIN, HEIGHT - MARGIN)
    left = ratio[rows, MARGIN : WIDTH // 2 - MARGIN]
    right = ratio[rows, WIDTH // 2 + MARGIN : WIDTH - MARGIN]
    return float(np.concatenate([left.ravel(), right.ravel()]).mean())


def edge_preservation_index(reference: np.ndarray, output: np.ndarray) -> float:
    """Correlation of the LoG(σ = 1) high-passes of reference and output near the edge."""
    band = (slice(MARGIN, HEIGHT - MARGIN), slice(WIDTH // 2 - EDGE_BAND, WIDTH // 2 + EDGE_BAND))
    a = ndimage.gaussian_laplace(reference.astype(np.float64), 1.0)[band]
    b = ndimage.gaussian_laplace(output.astype(np.float64), 1.0)[band]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


EPI_THRESHOLD = edge_preservation_index(step_edge(), ndimage.gaussian_filter(step_edge(), 2.0))
SPECKLE_INDEX_FACTOR = 2.0


def input_frames() -> torch.Tensor:
    """A batch of 3 differently speckled step-edge frames, [3, 1, H, W] float32."""
    return torch.from_numpy(np.stack([speckled(seed) for seed in range(3)]))[:, None]


@functools.cache
def run_method(name: str) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """Input batch, the method's output on the batch, and its output on each frame alone (cached)."""
    frames = input_frames()
    method = create_method(name)
    return frames, method(frames), tuple(method(frames[i : i + 1]) for i in range(frames.shape[0]))


def test_metrics_accept_a_good_result_and_reject_bad_ones():
    """The two criteria are meaningful: the noisy input fails one, a Gaussian blur the other."""
    clean, noisy = step_edge(), speckled(0)
    assert speckle_index(clean) == pytest.approx(0.0, abs=1e-6)
    assert speckle_index(noisy) == pytest.approx(1.0 / np.sqrt(LOOKS), rel=0.15)
    assert edge_preservation_index(clean, clean) == pytest.approx(1.0)
    assert 0.3 < EPI_THRESHOLD < 0.9
    blurred = ndimage.gaussian_filter(noisy, 3.0)
    assert speckle_index(noisy) / speckle_index(blurred) > SPECKLE_INDEX_FACTOR
    assert edge_preservation_index(clean, blurred) < EPI_THRESHOLD


def test_every_baseline_of_the_brief_is_registered():
    expected = {"none", "median", "gaussian", "bilateral", "mean", "wiener", "anisotropic_diffusion"}
    expected |= {"srad", "lee", "frost", "kuan", "nlm"}
    specs = available_methods()
    assert expected <= set(specs)
    assert all(specs[name].family == "classical" for name in expected)
    assert {name for name in expected if specs[name].gpu} == {"none", "srad", "lee", "frost", "kuan"}
    assert all(specs[name].reference for name in expected - {"none"})


@pytest.mark.parametrize("name", CLASSICAL)
def test_reduces_speckle_and_keeps_the_edge(name):
    frames, output, _ = run_method(name)
    clean = step_edge()
    for i in range(frames.shape[0]):
        noisy, filtered = frames[i, 0].numpy(), output[i, 0].numpy()
        reduction = speckle_index(noisy) / speckle_index(filtered)
        assert reduction >= SPECKLE_INDEX_FACTOR, f"{name}: speckle index only divided by {reduction:.2f}"
        epi = edge_preservation_index(clean, filtered)
        assert epi >= EPI_THRESHOLD, f"{name}: EPI {epi:.3f} < {EPI_THRESHOLD:.3f} (σ = 2 px blur)"
        # The flat regions keep their level (no bias): within 0.03 of 0.3 and 0.7.
        rows = slice(MARGIN, HEIGHT - MARGIN)
        assert filtered[rows, MARGIN : WIDTH // 2 - MARGIN].mean() == pytest.approx(0.3, abs=0.03)
        assert filtered[rows, WIDTH // 2 + MARGIN : WIDTH - MARGIN].mean() == pytest.approx(0.7, abs=0.03)


@pytest.mark.parametrize("name", CLASSICAL)
def test_keeps_shape_dtype_device_and_range(name):
    frames, output, _ = run_method(name)
    assert output.shape == frames.shape
    assert output.dtype == frames.dtype == torch.float32
    assert output.device == frames.device
    assert torch.isfinite(output).all()
    assert output.min() >= 0.0 and output.max() <= 1.0
    assert not torch.equal(output, frames)
    assert torch.equal(frames, input_frames()), "the filter modified its input"


@pytest.mark.parametrize("name", CLASSICAL)
def test_frames_of_a_batch_are_filtered_independently(name):
    _, output, singles = run_method(name)
    # the bm3d package's compiled core is not bit-reproducible run to run (float32, threads)
    tolerance = 5e-4 if name == "bm3d" else 1e-6
    for i, single in enumerate(singles):
        torch.testing.assert_close(output[i : i + 1], single, atol=tolerance, rtol=0)
    # and the frames differ, so equality above is not trivial
    assert not torch.allclose(output[0], output[1], atol=1e-3)


@pytest.mark.parametrize("name", ["median", "srad"])
def test_float64_frames_stay_float64(name):
    frames = torch.from_numpy(speckled(5)).double()[None, None]
    output = create_method(name)(frames)
    assert output.dtype == torch.float64 and output.shape == frames.shape


def test_none_returns_the_input_unchanged():
    frames = torch.from_numpy(speckled(1))[None, None]
    output = create_method("none")(frames)
    assert torch.equal(output, frames) and output.data_ptr() != frames.data_ptr()
