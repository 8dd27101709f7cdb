"""Choose the strength of OpenCV non-local means (h per speckle σ) on training-style phantoms.

The evaluation phantoms of docs/benchmarks.md are seeds 0-19; these are seeds 3000-3007, breast and
carotid, at 128² and 256² (one 40 mm field of view). Prints mean SSIM and PSNR per factor.

    .venv/bin/python tools/tune_opencv_nlm.py
"""

from __future__ import annotations

import numpy as np

from monai_despeckle.filters.local_moments import estimate_speckle_sigma
from monai_despeckle.filters.opencv import GREY_LEVELS, nlm_cv
from monai_despeckle.metrics import psnr, ssim
from monai_despeckle.simulation import simulate_breast, simulate_carotid

FACTORS = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5, 1.8)
SEEDS = range(3000, 3008)


def main() -> None:
    phantoms = [
        simulator(size=size, seed=seed)
        for simulator in (simulate_breast, simulate_carotid)
        for size in (128, 256)
        for seed in SEEDS
    ]
    for factor in FACTORS:
        scores = []
        for phantom in phantoms:
            h = factor * estimate_speckle_sigma(phantom.bmode) * GREY_LEVELS
            out = nlm_cv(phantom.bmode, h=h)
            scores.append((float(ssim(out, phantom.clean)[0]), float(psnr(out, phantom.clean)[0])))
        mean_ssim, mean_psnr = np.mean(scores, axis=0)
        print(f"h = {factor:.1f} sigma: SSIM {mean_ssim:.4f}  PSNR {mean_psnr:.2f} dB")


if __name__ == "__main__":
    main()
