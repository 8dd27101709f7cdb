"""OpenCV peers: the same filters as the SimpleITK / scikit-image ones, at OpenCV's speed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_despeckle.errors import DespeckleError
from monai_despeckle.filters import bilateral, median
from monai_despeckle.filters.local_moments import estimate_speckle_cv
from monai_despeckle.filters.opencv import bilateral_cv, median_cv, nlm_cv
from monai_despeckle.metrics import ssim
from monai_despeckle.simulation import simulate_breast

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def phantom():
    return simulate_breast(size=128, seed=11)


def test_median_cv_is_the_5x5_median(phantom):
    frame = phantom.bmode.astype(np.float32)
    inner = (slice(2, -2), slice(2, -2))  # the borders are padded differently (reflect / zero-flux)
    np.testing.assert_array_equal(median_cv(frame)[inner], median(frame)[inner])
    with pytest.raises(DespeckleError, match="3 or 5"):
        median_cv(frame, size=7)


def test_bilateral_cv_matches_the_simpleitk_bilateral_filter(phantom):
    frame = phantom.bmode.astype(np.float32)
    ours, reference = bilateral_cv(frame), bilateral(frame)
    assert np.abs(ours - reference)[4:-4, 4:-4].mean() < 0.01  # different kernel truncation only
    assert ssim(ours, phantom.clean)[0] > ssim(frame, phantom.clean)[0] + 0.05


def test_nlm_cv_reduces_speckle_and_follows_h(phantom):
    frame = phantom.bmode.astype(np.float32)
    out = nlm_cv(frame)
    assert out.dtype == np.float32 and out.shape == frame.shape
    assert ssim(out, phantom.clean)[0] > ssim(frame, phantom.clean)[0] + 0.2
    assert abs(float(out.mean()) - float(frame.mean())) < 2 / 255
    weak, strong = nlm_cv(frame, h=2.0), nlm_cv(frame, h=30.0)
    cv_weak, cv_strong = (float(estimate_speckle_cv(torch.from_numpy(x)[None, None])) for x in (weak, strong))
    assert cv_strong < 0.7 * cv_weak  # a larger h smooths more
    flat = np.full((32, 32), 0.4, np.float32)
    np.testing.assert_array_equal(nlm_cv(flat), flat)  # nothing to smooth: returned unchanged


@pytest.mark.parametrize("function", [nlm_cv, bilateral_cv, median_cv])
def test_bad_input_is_refused(function):
    with pytest.raises(DespeckleError):
        function(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(DespeckleError):
        function(np.zeros((16, 16), np.uint8))
