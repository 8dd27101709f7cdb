"""Per-image segmentation scores and the paired statistics of ``segment-eval``.

Dice and HD95 come from :mod:`monai.metrics` (``DiceMetric``, ``HausdorffDistanceMetric`` at the
95th percentile); the paired test is SciPy's Wilcoxon signed-rank test. Conventions: a frame
without the structure scores Dice 1 when nothing is predicted and 0 otherwise (MONAI's
``ignore_empty=False``); HD95 is undefined (NaN) when either mask is empty.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric
from monai.networks.utils import one_hot
from scipy.stats import wilcoxon

__all__ = ["PairedComparison", "mean_std", "paired_comparison", "segmentation_scores"]


def segmentation_scores(
    prediction: np.ndarray, truth: np.ndarray, label: int = 1, spacing: Sequence[float] | None = None
) -> dict[str, float]:
    """Dice and HD95 of one structure in one 2D frame.

    Args:
        prediction: label map ``[H, W]``.
        truth: reference label map ``[H, W]``.
        label: the structure's label value.
        spacing: pixel size (row, column); HD95 in those units, else in pixels.

    Returns:
        ``{"dice", "hd95", "predicted_area", "true_area"}`` (areas in pixels).
    """
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    pred = torch.from_numpy(np.asarray(prediction) == label).long()[None, None]
    true = torch.from_numpy(np.asarray(truth) == label).long()[None, None]
    pred, true = one_hot(pred, 2), one_hot(true, 2)
    # MONAI types its metrics' results for lists of tensors too; a batch tensor in gives a tensor out
    dice_metric = DiceMetric(include_background=False, ignore_empty=False)
    dice = float(cast(torch.Tensor, dice_metric(pred, true))[0, 0])
    hd95 = math.nan
    if pred[:, 1].any() and true[:, 1].any():
        metric = HausdorffDistanceMetric(include_background=False, percentile=95)
        kwargs = {"spacing": list(spacing)} if spacing is not None else {}
        with warnings.catch_warnings():  # MONAI 1.6 warns about its own deprecated internal argument
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
            hd95 = float(cast(torch.Tensor, metric(pred, true, **kwargs))[0, 0])
    return {
        "dice": dice,
        "hd95": hd95,
        "predicted_area": float(pred[:, 1].sum()),
        "true_area": float(true[:, 1].sum()),
    }


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation and count of the finite values (NaN, NaN, 0 if none)."""
    array = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan, 0
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), std, int(array.size)


@dataclass(frozen=True)
class PairedComparison:
    """A method against the reference on the same images.

    Attributes:
        n: pairs where both values are finite.
        mean_difference: mean of ``method − reference``.
        std_difference: sample standard deviation of the differences.
        statistic: Wilcoxon's W (NaN if untestable).
        p_value: two-sided p-value of the Wilcoxon signed-rank test (1.0 when every difference is 0;
            NaN with fewer than one non-zero pair).
    """

    n: int
    mean_difference: float
    std_difference: float
    statistic: float
    p_value: float


def paired_comparison(method: Sequence[float], reference: Sequence[float]) -> PairedComparison:
    """Paired difference of ``method`` over ``reference`` with a Wilcoxon signed-rank test.

    Pairs with a non-finite value on either side are dropped. Zero differences are dropped
    before ranking (Wilcoxon's original treatment, SciPy's ``zero_method="wilcox"``).
    """
    if len(method) != len(reference):
        raise ValueError(f"paired samples differ in length: {len(method)} and {len(reference)}")
    pairs = [(a, b) for a, b in zip(method, reference, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if not pairs:
        return PairedComparison(0, math.nan, math.nan, math.nan, math.nan)
    differences = np.asarray([a - b for a, b in pairs], dtype=np.float64)
    mean, std, n = mean_std(differences.tolist())
    if not np.any(differences != 0):
        return PairedComparison(n, mean, std, 0.0, 1.0)
    with warnings.catch_warnings():  # SciPy warns about small samples; the exact test handles them
        warnings.simplefilter("ignore")
        result = wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    return PairedComparison(n, mean, std, float(result.statistic), float(result.pvalue))
