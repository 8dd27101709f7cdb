"""PSNR / SSIM / MSE: hand-computed values and agreement with scikit-image."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics import mse, psnr, ssim


def _noisy_pair(seed=0, shape=(3, 40, 52)):
    rng = np.random.default_rng(seed)
    clean = rng.random(shape).astype(np.float32)
    noisy = np.clip(clean + 0.15 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return noisy, clean


def test_mse_and_psnr_hand_computed_on_tiny_array():
    reference = np.zeros((2, 2), dtype=np.float32)
    output = np.array([[0.1, 0.2], [0.0, 0.0]], dtype=np.float32)
    # MSE = (0.01 + 0.04) / 4 = 0.0125 ; PSNR = 10 log10(1 / 0.0125) = 19.0309 dB
    np.testing.assert_allclose(mse(output, reference), [0.0125], rtol=1e-5)
    np.testing.assert_allclose(psnr(output, reference), [19.030900], rtol=1e-5)
    assert np.isinf(psnr(reference, reference)[0])


def test_ssim_of_constant_frames_is_the_luminance_term():
    # σx = σy = σxy = 0, so SSIM = (2ab + C1) / (a² + b² + C1) with C1 = (0.01·1)².
    a, b, c1 = 0.5, 0.25, 1e-4
    output = np.full((16, 16), b, dtype=np.float32)
    reference = np.full((16, 16), a, dtype=np.float32)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    np.testing.assert_allclose(ssim(output, reference), [expected], rtol=1e-5)
    np.testing.assert_allclose(ssim(reference, reference), [1.0], rtol=1e-6)


def test_per_image_values_match_scikit_image():
    noisy, clean = _noisy_pair()
    got_psnr = psnr(noisy[:, None], clean[:, None])  # [N, 1, H, W]
    got_ssim = ssim(torch.from_numpy(noisy), torch.from_numpy(clean))  # [N, H, W] torch
    got_mse = mse(noisy, clean)
    assert got_psnr.shape == got_ssim.shape == got_mse.shape == (3,)
    for i in range(3):
        expected_psnr = peak_signal_noise_ratio(clean[i], noisy[i], data_range=1)
        assert got_psnr[i] == pytest.approx(expected_psnr, rel=1e-5)
        expected_mse = float(np.mean((noisy[i] - clean[i]) ** 2.0, dtype=np.float64))
        assert got_mse[i] == pytest.approx(expected_mse, rel=1e-5)
        reference_ssim = structural_similarity(
            clean[i], noisy[i], data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        # Same windows and crop; float32 (MONAI) against float64 (skimage) leaves ~1e-6.
        assert got_ssim[i] == pytest.approx(reference_ssim, abs=1e-5)
    # The images differ, so the values must differ too (not a broadcast of one value).
    assert len(set(np.round(got_ssim, 6))) == 3


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(1)
    clean = rng.random((32, 32)).astype(np.float32)
    noisy = [np.clip(clean + s * rng.standard_normal(clean.shape), 0, 1) for s in (0.02, 0.1, 0.3)]
    values = [ssim(image, clean)[0] for image in noisy]
    assert values[0] > values[1] > values[2]


def test_shape_mismatch_and_bad_values_raise_despeckle_errors():
    with pytest.raises(InvalidImageError, match="same shape"):
        psnr(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(InvalidImageError, match="NaN"):
        mse(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(InvalidImageError, match="at least 11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(InvalidImageError, match=r"\[N, 1, H, W\]"):
        mse(np.zeros((2, 3, 8, 8)), np.zeros((2, 3, 8, 8)))
