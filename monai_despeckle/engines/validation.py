"""Validation of the despeckling workflows: a fixed validation set, the PSNR/SSIM evaluator, the bar to beat.

The validation set's synthetic speckle is drawn once (seeded), so every validation scores the same
inputs; :func:`make_evaluator` is a ``SupervisedEvaluator`` over them whose key metric picks the
best checkpoint; :func:`input_metrics` scores the noisy inputs themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.engines import SupervisedEvaluator
from torch import nn

from monai_despeckle.engines.data import fixed_dataset
from monai_despeckle.engines.handlers import metric_handlers
from monai_despeckle.engines.settings import KEY_METRICS
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.metrics import psnr, ssim

__all__ = ["input_metrics", "make_evaluator", "validation_loader"]


def validation_loader(
    entries: Sequence[Mapping[str, Any]], transform: Any, batch_size: int, seed: int, source: str = "the data"
) -> torch.utils.data.DataLoader:
    """A loader over the validation ``entries``, their synthetic speckle drawn once (seeded by ``seed``).

    Not sharded in a distributed run: every rank validates the whole set (see
    :mod:`monai_despeckle.engines.standard_handlers`).
    """
    from monai.data import DataLoader

    if not entries:
        raise InvalidParameterError(f"no validation images in {source}; validation needs at least one")
    dataset = fixed_dataset(entries, transform, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)


def input_metrics(loader: Any) -> dict[str, float]:
    """Mean PSNR/SSIM of the noisy validation inputs against their clean references."""
    images = torch.cat([batch["image"] for batch in loader])
    labels = torch.cat([batch["label"] for batch in loader])
    return {"psnr": float(psnr(images, labels).mean()), "ssim": float(ssim(images, labels).mean())}


def make_evaluator(
    network: nn.Module,
    loader: Any,
    device: torch.device,
    amp: bool,
    key_metric: str = "psnr",
) -> SupervisedEvaluator:
    """``SupervisedEvaluator`` of ``network`` on ``loader`` computing ``val_psnr`` and ``val_ssim``.

    Args:
        network: the inference network (``[N, 1, H, W]`` → same shape).
        loader: batches of ``{"image": noisy, "label": clean}``.
        device: where to evaluate.
        amp: autocast on CUDA.
        key_metric: ``"psnr"`` or ``"ssim"``: the key metric, which picks the best checkpoint.
    """
    metrics = metric_handlers()
    key = f"val_{key_metric}"
    if key not in metrics:
        raise InvalidParameterError(f"key_metric must be one of {', '.join(KEY_METRICS)}, got {key_metric!r}")
    return SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network,
        key_val_metric={key: metrics.pop(key)},
        additional_metrics=metrics,
        amp=amp,
    )
