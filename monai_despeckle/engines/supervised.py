"""Supervised training of the denoising autoencoder on ``monai.engines.SupervisedTrainer``.

Bhute et al. (arXiv 2403.02750) train the skip-connected autoencoder with MSE and Adam on BUSI
frames resized to 128 × 128 and corrupted with scikit-image speckle; here the clean frames come
from any source of :func:`monai_despeckle.engines.data.datalists` and the speckle is drawn per
image from the variances 0.1 … 0.9. Validation reports PSNR and SSIM against the clean frames and
keeps the best model (see :func:`monai_despeckle.engines.workflow.run_workflow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from torch import nn

from monai_despeckle.engines.data import DataLists, supervised_transform, train_loader
from monai_despeckle.engines.workflow import (
    TrainConfig,
    TrainResult,
    check_patch,
    distribute,
    input_metrics,
    load_initial_weights,
    make_evaluator,
    prepare_output,
    run_workflow,
    start,
    validation_data,
)
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks import build_network

__all__ = ["DAE_LR", "train_dae", "train_supervised_data"]

DAE_LR = 1e-3
"""Adam's default step size; the paper names Adam and MSE but no learning rate."""


def train_supervised_data(config: TrainConfig, lists: DataLists) -> tuple[Any, Any]:
    """Training loader and (fixed) validation loader of ``{"image": speckled, "label": clean}`` pairs.

    Real frames get synthetic speckle (``config.noise``); simulated pairs are used as they are. In a
    distributed run the training loader gives each rank its share; validation is never sharded.
    """

    def pipeline(train: bool):
        return supervised_transform(
            lists.paired,
            config.patch_size,
            train=train,
            patch_mode=config.patch_mode,
            noise=config.noise,
            variances=config.variances,
            rayleigh_strength=config.rayleigh_strength,
            augment=config.augment,
        )

    loader = train_loader(
        lists.train,
        pipeline(True),
        config.batch_size,
        config.seed,
        config.num_workers,
        config.cache_rate,
        distributed=config.distributed,
    )
    return loader, validation_data(lists, pipeline(False), config)


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
    lists, device, amp, ddp = start(config)
    model = load_initial_weights(build_network(network, **config.model), config).to(device)
    check_patch(config, model)
    out = prepare_output(config, network)
    loader, val_loader = train_supervised_data(config, lists)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr or DAE_LR)
    trainer = SupervisedTrainer(
        device=device,
        max_epochs=config.max_epochs,
        train_data_loader=loader,
        network=distribute(model, device, ddp),  # DDP only trains: the rest uses the plain model
        optimizer=optimizer,
        loss_function=nn.MSELoss(),
        amp=amp,
    )
    evaluator = make_evaluator(model, val_loader, device, amp, config.key_metric)
    return run_workflow(
        config,
        out,
        trainer,
        evaluator,
        model,
        ["loss"],
        input_metrics(val_loader),
        train_handlers=train_handlers,
        ddp=ddp,
        optimizers=[optimizer],
    )
