"""Self-supervised Speckle2Self training on ``monai.engines``: noisy images only, never a clean one.

Li, Navab & Jiang (Medical Image Analysis 2025, arXiv 2507.06828): each noisy image gives three
multi-scale perturbation views (scales 1, 0.5, 0.25); the three-encoder / one-decoder model
reconstructs every view, and the loss adds the per-view MSE and the pairwise L1 between the
reconstructions (:class:`monai_despeckle.losses.Speckle2SelfLoss`). Adam, lr 1e-3, betas
(0.5, 0.999). A clean image, where the source has one (phantoms, or real frames with synthetic
speckle), is used only by the validation engine to report PSNR/SSIM.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from monai.engines import Trainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys
from torch import nn
from torch.optim import Optimizer

from monai_despeckle.engines.data import (
    CLEAN_KEYS,
    self_supervised_lists,
    self_supervised_transform,
    view_keys,
)
from monai_despeckle.engines.grain import training_grain
from monai_despeckle.engines.schedules import linear_decay
from monai_despeckle.engines.settings import TrainConfig
from monai_despeckle.engines.validation import make_evaluator
from monai_despeckle.engines.workflow import DespeckleWorkflow, Loaders, TrainResult, check_size_multiple
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.losses import Speckle2SelfLoss
from monai_despeckle.networks import Speckle2Self
from monai_despeckle.speckle import DEFAULT_SCALES
from monai_despeckle.weights import load_state_dict

__all__ = [
    "MIN_VIEW_GRAIN",
    "SPECKLE2SELF_BETAS",
    "SPECKLE2SELF_LOSS_KEYS",
    "SPECKLE2SELF_LR",
    "MultiScaleViews",
    "Speckle2SelfTrainer",
    "grain_relative_scales",
    "msp_views",
    "self_supervised_loaders",
    "speckle2self_model",
    "train_speckle2self",
]

SPECKLE2SELF_LR = 1e-3
SPECKLE2SELF_BETAS = (0.5, 0.999)
# A view whose speckle grain falls below one pixel has averaged its speckle away together with
# the anatomy's fine detail: it is a blurred image, not another speckle realisation of it.
MIN_VIEW_GRAIN = 1.0
SPECKLE2SELF_LOSS_KEYS = ("loss", "reconstruction", "consistency")
TRAIN_FINAL = "speckle2self_train_final.pt"

logger = logging.getLogger(__name__)


def grain_relative_scales(
    scales: Sequence[float], grain_px: float, min_view_grain: float = MIN_VIEW_GRAIN
) -> tuple[float, ...]:
    """The MSP scales whose views keep a speckle grain of at least ``min_view_grain`` pixels.

    The paper's scales (1, 0.5, 0.25) were chosen for 512² frames of about 0.08 mm pixels, whose
    grain is several pixels wide; on coarser frames the same factors shrink the speckle below a
    pixel, and with a unit-weight L1 consistency the full-scale output then follows the blurred
    coarsest view. Defining the scales by the grain keeps every view a speckle realisation.

    Args:
        scales: candidate scales, full scale first.
        grain_px: the training inputs' speckle grain in pixels (geometric mean of the axial and
            lateral medians).
        min_view_grain: the smallest grain a view may have.

    Raises:
        InvalidParameterError: fewer than two views would remain (the grain is too fine to perturb).
    """
    kept = tuple(float(s) for s in scales if float(s) * grain_px >= min_view_grain)
    if len(kept) < 2:
        raise InvalidParameterError(
            f"the training speckle grain ({grain_px:.2f} px) is too fine for multi-scale views of at "
            f"least {min_view_grain} px at scales {list(scales)}: train on a finer grid (larger patches)"
        )
    return kept


class Speckle2SelfTrainer(Trainer):
    """A ``monai.engines.Trainer`` whose iteration computes the Speckle2Self loss from the views.

    Each batch must hold the views under ``view_keys`` and no clean image (any of ``CLEAN_KEYS``
    present raises :class:`~monai_despeckle.errors.InvalidParameterError`: a self-supervised
    model must never see one). The output dict has ``image`` (full-scale view), ``pred`` (its
    reconstruction), ``loss`` and the loss parts ``reconstruction`` and ``consistency``. Fires
    MONAI's ``IterationEvents`` like ``SupervisedTrainer``.

    Args:
        device: where to train.
        max_epochs: number of epochs.
        train_data_loader: batches of views (from
            :func:`~monai_despeckle.engines.data.self_supervised_transform`).
        network: the :class:`~monai_despeckle.networks.Speckle2Self` training model, or its
            ``DistributedDataParallel`` wrapper in a distributed run.
        optimizer: its optimiser.
        loss_function: the :class:`~monai_despeckle.losses.Speckle2SelfLoss`.
        view_keys: batch keys of the views, full scale first.
        epoch_length: iterations per epoch (default: the loader's length).
        train_handlers: handlers to attach.
        amp: autocast + gradient scaling on CUDA.
        **kwargs: other ``monai.engines.Trainer`` arguments.
    """

    def __init__(
        self,
        device: torch.device | str,
        max_epochs: int,
        train_data_loader: Any,
        network: Speckle2Self | nn.Module,
        optimizer: Optimizer,
        loss_function: Speckle2SelfLoss,
        view_keys: Sequence[str] = tuple(view_keys()),
        epoch_length: int | None = None,
        train_handlers: Sequence[Any] | None = None,
        amp: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            handlers=train_handlers,
            amp=amp,
            decollate=False,
            **kwargs,
        )
        num_views = getattr(network, "module", network).num_views  # through a DDP wrapper
        if len(view_keys) != num_views:
            raise InvalidParameterError(f"{num_views} views expected, got keys {list(view_keys)}")
        self.register_events(*IterationEvents)
        self.network = network
        self.optimizer = optimizer
        self.loss_function = loss_function
        self.view_keys = list(view_keys)

    def _iteration(self, engine: Speckle2SelfTrainer, batchdata: dict[str, Any]) -> dict[str, Any]:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        clean = sorted(k for k in CLEAN_KEYS if k in batchdata)
        if clean:
            raise InvalidParameterError(
                f"self-supervised training received a clean image under {', '.join(clean)}; "
                "Speckle2Self trains on noisy views only"
            )
        views = [
            batchdata[key].to(engine.state.device, non_blocking=engine.non_blocking)
            for key in engine.view_keys
        ]
        engine.state.output = {Keys.IMAGE: views[0]}
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        scaler = engine.scaler if engine.amp else None
        with torch.autocast("cuda", **engine.amp_kwargs) if scaler is not None else nullcontext():
            outputs = engine.network(views)
            engine.state.output[Keys.PRED] = outputs[0]
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            parts = engine.loss_function([o.float() for o in outputs], views)
            engine.fire_event(IterationEvents.LOSS_COMPLETED)
        if scaler is not None:
            scaler.scale(parts.total).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            scaler.step(engine.optimizer)
            scaler.update()
        else:
            parts.total.backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.state.output[Keys.PRED] = outputs[0].detach()
        engine.state.output[Keys.LOSS] = parts.total.detach()
        engine.state.output.update({k: v.detach() for k, v in parts.items() if k != "total"})
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


@dataclass(frozen=True)
class MultiScaleViews:
    """The multi-scale perturbation views of a run: their scales (full scale first) and normalisation.

    Attributes:
        scales: the kept scales.
        normalization: ``"shared"`` or ``"per_view"`` (see :mod:`monai_despeckle.speckle.multiscale`).
        grain_px: the training inputs' measured grain the scales were chosen by (None: not measured).
    """

    scales: tuple[float, ...]
    normalization: str = "shared"
    grain_px: float | None = None

    @property
    def keys(self) -> list[str]:
        """The batch keys of the views, full scale first."""
        return view_keys(len(self.scales))


def msp_views(
    workflow: DespeckleWorkflow,
    scales: Sequence[float] = DEFAULT_SCALES,
    normalization: str = "shared",
    min_view_grain: float | None = MIN_VIEW_GRAIN,
) -> MultiScaleViews:
    """The run's views: ``scales`` cut to those keeping ``min_view_grain`` px of speckle grain.

    The grain is measured on the run's own training inputs (:func:`grain_relative_scales`); with
    ``min_view_grain=None`` the scales are used as they are (the paper's pixel scales). The choice
    is recorded in the run's ``config.json`` (``msp``).
    """
    if not scales or float(scales[0]) != 1.0:
        raise InvalidParameterError(
            f"the first Speckle2Self scale must be 1.0 (the full image), got {list(scales)!r}"
        )
    kept = tuple(float(s) for s in scales)
    measured = None
    if min_view_grain is not None:
        grain = training_grain(workflow.config, self_supervised=True, lists=workflow.lists)
        measured = float((grain.axial.median * grain.lateral.median) ** 0.5)
        kept = grain_relative_scales(scales, measured, min_view_grain)
        if kept != tuple(float(s) for s in scales):
            logger.info(
                "training speckle grain %.2f px: MSP scales %s (views of at least %.1f px grain)",
                measured,
                list(kept),
                min_view_grain,
            )
    views = MultiScaleViews(kept, normalization, measured)
    workflow.record["msp"] = {
        "scales": list(kept),
        "normalization": normalization,
        "training_grain_px": measured,
    }
    return views


def check_speckle2self_patch(patch_size: int, model: Speckle2Self) -> None:
    """The patch must be a multiple of the model's stride and leave more than one pixel at its bottleneck."""
    check_size_multiple(patch_size, model)
    if patch_size < 2 * model.size_multiple:  # InstanceNorm needs > 1 pixel at the bottleneck
        raise InvalidParameterError(
            f"Speckle2Self needs patch_size >= {2 * model.size_multiple}, got {patch_size}"
        )


def speckle2self_model(workflow: DespeckleWorkflow, views: MultiScaleViews, **kwargs: Any) -> Speckle2Self:
    """The training model (one encoder per view, a shared decoder) on the run's device.

    With ``init_weights`` (a trained despeckler: the inference network's state_dict) its encoder
    starts every branch.

    Args:
        workflow: the run.
        views: the run's views (their number is the model's).
        **kwargs: :class:`~monai_despeckle.networks.Speckle2Self` arguments (e.g. ``features``).
    """
    model = Speckle2Self(num_views=len(views.scales), **kwargs)
    check_speckle2self_patch(workflow.config.patch_size, model)
    if workflow.config.init_weights is not None:
        load_state_dict(model.inference_network(), workflow.config.init_weights)
        for encoder in model.encoders[1:]:
            encoder.load_state_dict(model.encoders[0].state_dict())
    return model.to(workflow.device)


def self_supervised_loaders(workflow: DespeckleWorkflow, views: MultiScaleViews) -> Loaders:
    """Training loader of the noisy images' views (never a clean image) and the validation pairs.

    A clean image, where the source has one, is used only to validate (PSNR/SSIM); real frames
    are validated with synthetic speckle (the config's noise options).
    """
    config = workflow.config
    transform = self_supervised_transform(
        config.patch_size, config.patch_mode, views.scales, config.augment, normalization=views.normalization
    )
    loader = workflow.train_loader(self_supervised_lists(workflow.lists).train, transform)
    return Loaders(loader, workflow.validation_loader())


def train_speckle2self(
    config: TrainConfig | None = None,
    scales: Sequence[float] = DEFAULT_SCALES,
    train_handlers: Sequence[Any] = (),
    normalization: str = "shared",
    min_view_grain: float | None = MIN_VIEW_GRAIN,
    **overrides: Any,
) -> TrainResult:
    """Train Speckle2Self on the noisy images of ``config.data``.

    Args:
        config: the run's settings; ``config.model`` holds :class:`~monai_despeckle.networks.Speckle2Self`
            keyword arguments (e.g. ``{"features": [32, 64, 128, 256]}``). Its noise options apply
            only to the validation of real frames (synthetic speckle on the clean frame).
        scales: multi-scale perturbation scales, full scale first (the paper's 1, 0.5, 0.25).
        train_handlers: more handlers to attach to the trainer (objects with ``attach(engine)``).
        normalization: of the views: ``"shared"`` (default: every view rescaled as the full image
            is, so the consistency term sees no brightness difference between views) or
            ``"per_view"`` (the authors' code; see :mod:`monai_despeckle.speckle.multiscale`).
        min_view_grain: keep only the scales whose views keep at least this speckle grain (px),
            measured on the training inputs (:func:`grain_relative_scales`); None uses
            ``scales`` as they are (the paper's pixel scales).
        **overrides: :class:`TrainConfig` fields to override.

    Returns:
        :class:`TrainResult`; ``model.pt`` is the state_dict of the inference network
        (:class:`~monai_despeckle.networks.Speckle2SelfInference`: full-scale encoder + decoder).
    """
    config = TrainConfig.build(config, **overrides)
    if not scales or float(scales[0]) != 1.0:
        raise InvalidParameterError(
            f"the first Speckle2Self scale must be 1.0 (the full image), got {scales!r}"
        )
    # the patch checks need only the stride: refuse a bad patch before any data is made
    check_speckle2self_patch(config.patch_size, Speckle2Self(num_views=len(scales), **config.model))
    workflow = DespeckleWorkflow(config, "speckle2self")
    views = msp_views(workflow, scales, normalization, min_view_grain)
    model = speckle2self_model(workflow, views, **config.model)
    network = model.inference_network()
    data = self_supervised_loaders(workflow, views)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr or SPECKLE2SELF_LR, betas=SPECKLE2SELF_BETAS
    )
    trainer = Speckle2SelfTrainer(
        device=workflow.device,
        max_epochs=config.max_epochs,
        train_data_loader=data.train,
        network=workflow.distribute(model),
        optimizer=optimizer,
        loss_function=Speckle2SelfLoss(),
        view_keys=views.keys,
        amp=workflow.amp,
    )
    evaluator = make_evaluator(network, data.val, workflow.device, workflow.amp, config.key_metric)
    return workflow.run(
        trainer,
        evaluator,
        network,
        loss_keys=SPECKLE2SELF_LOSS_KEYS,
        handlers=[linear_decay(optimizer, config.max_epochs, config.lr_decay_epochs), *train_handlers],
        extra_final={TRAIN_FINAL: model},
    )
