"""Supervised training of the denoising autoencoder on ``monai.engines.SupervisedTrainer``.

Bhute et al. (arXiv 2403.02750) train the skip-connected autoencoder with MSE and Adam on BUSI
frames resized to 128 × 128 and corrupted with scikit-image speckle; here the clean frames come
from any source of :func:`monai_despeckle.engines.data.datalists` and the speckle is drawn per
image from the variances 0.1 … 0.9. Validation reports PSNR and SSIM against the clean frames and
keeps the best model (:class:`~monai_despeckle.engines.workflow.DespeckleWorkflow`).

The despeckling bundles' ``train.json`` declare the same components (``loss``, ``optimizer``,
``trainer``, ``handlers``); :func:`train_dae` builds them in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from torch import nn

from monai_despeckle.engines.schedules import linear_decay
from monai_despeckle.engines.settings import TrainConfig
from monai_despeckle.engines.validation import make_evaluator
from monai_despeckle.engines.workflow import DespeckleWorkflow, Loaders, TrainResult
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks import build_network

__all__ = ["DAE_LR", "supervised_loaders", "train_dae"]

DAE_LR = 1e-3
"""Adam's default step size; the paper names Adam and MSE but no learning rate."""


def supervised_loaders(workflow: DespeckleWorkflow) -> Loaders:
    """Training and (fixed) validation loaders of ``{"image": speckled, "label": clean}`` pairs.

    Real frames get synthetic speckle (``config.noise``); simulated pairs are used as they are. In a
    distributed run the training loader gives each rank its share; validation is never sharded.
    """
    loader = workflow.train_loader(workflow.lists.train, workflow.pair_transform(True))
    return Loaders(loader, workflow.validation_loader())


def train_dae(
    config: TrainConfig | None = None,
    network: str = "dae_skip",
    train_handlers: Sequence[Any] = (),
    **overrides: Any,
) -> TrainResult:
    """Train a denoising autoencoder (``"dae_skip"`` or its no-skip ablation ``"dae_noskip"``).

    Adam (lr 1e-3 unless ``config.lr``), MSE between the output and the clean frame.

    Args:
        config: the run's settings (defaults when None).
        network: ``"dae_skip"`` or ``"dae_noskip"``; ``config.model`` holds its keyword arguments
            (e.g. ``{"features": [16, 32, 64]}``).
        train_handlers: more handlers to attach to the trainer (objects with ``attach(engine)``).
        **overrides: :class:`TrainConfig` fields to override, e.g. ``data=``, ``output_dir=``.

    Returns:
        :class:`TrainResult`; ``output_dir/model.pt`` is the best state_dict.
    """
    if network not in ("dae_skip", "dae_noskip"):
        raise InvalidParameterError(f"train_dae trains dae_skip or dae_noskip, not {network!r}")
    config = TrainConfig.build(config, **overrides)
    workflow = DespeckleWorkflow(config, network)
    model = workflow.prepare_network(build_network(network, **config.model))
    data = supervised_loaders(workflow)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr or DAE_LR)
    trainer = SupervisedTrainer(
        device=workflow.device,
        max_epochs=config.max_epochs,
        train_data_loader=data.train,
        network=workflow.distribute(model),
        optimizer=optimizer,
        loss_function=nn.MSELoss(),
        amp=workflow.amp,
    )
    evaluator = make_evaluator(model, data.val, workflow.device, workflow.amp, config.key_metric)
    handlers = [linear_decay(optimizer, config.max_epochs, config.lr_decay_epochs), *train_handlers]
    return workflow.run(trainer, evaluator, model, handlers=handlers)
