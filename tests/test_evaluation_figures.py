"""The comparison figure of ``evaluate`` draws whatever mix of examples a run kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from monai_despeckle.evaluation.figures import comparison_figure
from monai_despeckle.evaluation.runner import EvalResult, Example


def _example(name: str, reference: bool, rng: np.random.Generator) -> Example:
    noisy = rng.random((64, 64), dtype=np.float32)
    return Example(
        name=name,
        noise="real",
        noisy=noisy,
        reference=np.full_like(noisy, 0.5) if reference else None,
        outputs={"median": noisy * 0.5},
    )


def test_examples_with_and_without_reference_share_one_figure(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    result = EvalResult(
        mode="reference",
        metrics=("psnr",),
        rows=[],
        examples=[_example("with.png", True, rng), _example("without.png", False, rng)],
        methods=["median"],
        noise_levels=["real"],
    )
    path = tmp_path / "comparison.png"
    comparison_figure(result, path)
    with Image.open(path) as figure:
        width, height = figure.size
    # three panels across (input, median, reference), two images down
    assert width > height
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    # the blank reference panel of the second image (bottom right) holds no drawn frame: all white
    bottom_right = pixels[int(height * 0.62) : int(height * 0.9), int(width * 0.72) : int(width * 0.95)]
    assert bottom_right.min() > 250
    # while the first image's reference (top right, a mid-grey frame) is drawn
    top_right = pixels[int(height * 0.2) : int(height * 0.42), int(width * 0.72) : int(width * 0.95)]
    assert np.median(top_right) < 200
