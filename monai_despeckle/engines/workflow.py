"""The workflow base every training run is built on, from Python or from a bundle's ``train.json``.

A run is a :class:`TrainingWorkflow` plus the components of its recipe: the workflow checks the
data source (its lists), picks the device, joins the process group of a distributed run
(:mod:`~monai_despeckle.engines.distributed`), seeds everything and refuses an output folder that
already holds a model. The recipe then builds its network (:meth:`TrainingWorkflow.prepare_network`:
starting weights, size check, device), data loaders, loss, optimiser, ``monai.engines`` trainer and
evaluator, and hands them to :meth:`TrainingWorkflow.run`, which records the settings
(``config.json``), attaches the standard handlers
(:func:`~monai_despeckle.engines.standard_handlers.attach_standard_handlers`) beside the recipe's own,
trains, and collects the :class:`TrainResult`.

A bundle's ``train.json`` declares those components with ``_target_`` (see ``docs/architecture.md``);
:func:`~monai_despeckle.engines.train_dae` and its siblings build the same ones in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch.distributed as dist
from monai.engines import SupervisedEvaluator, Trainer
from monai.utils import set_determinism
from torch import nn

from monai_despeckle.engines.data import DataLists, datalists, supervised_transform, train_loader
from monai_despeckle.engines.distributed import DistributedRun, distribute, init_distributed
from monai_despeckle.engines.output import (
    BEST_CHECKPOINT,
    FINAL_CHECKPOINT,
    HISTORY_CSV,
    check_output,
    write_record,
)
from monai_despeckle.engines.settings import RunSettings, TrainConfig
from monai_despeckle.engines.standard_handlers import attach_standard_handlers
from monai_despeckle.engines.validation import input_metrics, validation_loader
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.runtime.device import resolve_device
from monai_despeckle.weights import load_state_dict

__all__ = [
    "DespeckleWorkflow",
    "Loaders",
    "TrainResult",
    "TrainingWorkflow",
    "check_size_multiple",
    "pair_transform",
    "resolve_device",
    "training_datalists",
]

SettingsT = TypeVar("SettingsT", bound=RunSettings)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: the run's folder.
        best_checkpoint: state_dict of the inference network at the best validation (``model.pt``).
        final_checkpoint: state_dict after the last epoch (``model_final.pt``).
        history_file: per-epoch CSV (``history.csv``; ``history.json`` beside it).
        history: the rows of the history file.
        best_metric: best value of the key validation metric.
        best_epoch: epoch of ``best_metric``.
        epochs: epochs actually run.
        input_metrics: PSNR/SSIM of the noisy validation inputs themselves (the bar to beat).
        network: the trained inference network (final weights), on the CPU.
    """

    output_dir: Path
    best_checkpoint: Path | None
    final_checkpoint: Path
    history_file: Path
    history: list[dict[str, Any]]
    best_metric: float | None
    best_epoch: int | None
    epochs: int
    input_metrics: dict[str, float]
    network: nn.Module


@dataclass(frozen=True)
class Loaders:
    """A recipe's training loader and (fixed, never sharded) validation loader."""

    train: Any
    val: Any


def check_size_multiple(size: int, network: nn.Module, name: str = "patch_size") -> None:
    """``size`` must be a multiple of the network's ``size_multiple``."""
    multiple = int(getattr(network, "size_multiple", 1))
    if size % multiple:
        suggestion = max(multiple, size // multiple * multiple)
        raise InvalidParameterError(
            f"{name} {size} is not a multiple of {multiple}, which "
            f"{type(network).__name__} needs; use e.g. {suggestion}"
        )


class TrainingWorkflow(ABC, Generic[SettingsT]):
    """The base of a training run: its settings, data lists, device, AMP, DDP place and output folder.

    Subclasses say where the data lists come from (:meth:`make_lists`), which side the network's
    input has (:attr:`input_size`) and what the noisy inputs score (:meth:`baseline`).

    Args:
        config: the run's settings.
        name: the workflow's name, recorded in ``config.json`` (e.g. ``"dae_skip"``).
    """

    size_name = "size"

    def __init__(self, config: SettingsT, name: str) -> None:
        self.config = config
        self.name = name
        self.lists = self.make_lists()
        self.out = Path(config.output_dir)
        check_output(self.out)  # before joining a process group: a refusal leaves none behind
        device = resolve_device(config.device)
        self.ddp: DistributedRun | None = None
        if config.distributed_run:
            self.ddp, device = init_distributed(device)
        self.device = device
        set_determinism(seed=config.seed)  # the same on every rank: DDP starts from rank 0's weights anyway
        self.amp = bool(config.amp and device.type == "cuda")
        self.record: dict[str, Any] = {}  # the recipe's own settings, recorded beside the config

    @abstractmethod
    def make_lists(self) -> Any:
        """The run's train and validation lists (checks the data source)."""

    @property
    @abstractmethod
    def input_size(self) -> int:
        """The side of the network's training inputs."""

    def baseline(self, evaluator: SupervisedEvaluator) -> dict[str, float]:
        """Scores of the noisy validation inputs themselves (none by default)."""
        return {}

    def on_output(self, out: Path) -> None:
        """Write the workflow's own records into the (new) output folder; rank 0 only."""

    def prepare_network(self, network: nn.Module) -> nn.Module:
        """``network`` with its starting weights (``init_weights``, strict), size-checked, on the device."""
        if self.config.init_weights is not None:
            load_state_dict(network, self.config.init_weights)
        check_size_multiple(self.input_size, network, self.size_name)
        return network.to(self.device)

    def place(self, module: nn.Module) -> nn.Module:
        """``module`` on the run's device."""
        return module.to(self.device)

    def distribute(self, module: nn.Module) -> nn.Module:
        """What the trainer gets: ``module`` wrapped in ``DistributedDataParallel`` in a distributed run.

        The rest of the run (validation, checkpoints, the result) keeps the plain module.
        """
        return distribute(module, self.device, self.ddp)

    def run(
        self,
        trainer: Trainer,
        evaluator: SupervisedEvaluator,
        network: nn.Module,
        *,
        loss_keys: Sequence[str] = ("loss",),
        handlers: Sequence[Any] = (),
        val_handlers: Sequence[Any] = (),
        extra_final: Mapping[str, nn.Module] | None = None,
    ) -> TrainResult:
        """Record the settings, attach the standard handlers and the recipe's own, train, collect the result.

        In a distributed run every rank trains and validates; only rank 0 writes. All ranks wait
        for each other at the end, and the process group is destroyed if the workflow created it.

        Args:
            trainer: a ``monai.engines`` trainer, not yet run (holding the DDP-wrapped networks).
            evaluator: validates ``network``.
            network: the plain inference network whose state_dict is checkpointed.
            loss_keys: scalar entries of the trainer's output averaged per epoch (first = the loss).
            handlers: the recipe's trainer handlers (its learning-rate schedule...).
            val_handlers: the recipe's evaluator handlers.
            extra_final: other plain modules to save after the last epoch, ``{file name: module}``.
        """
        if write_record(self.out, self.name, self.config, self.record):
            self.on_output(self.out)
        baseline = self.baseline(evaluator)
        attached = attach_standard_handlers(
            self.config,
            self.out,
            trainer,
            evaluator,
            network,
            loss_keys=loss_keys,
            baseline=baseline,
            extra_final=dict(extra_final or {}),
            ddp=self.ddp,
            handlers=handlers,
            val_handlers=val_handlers,
        )
        main = self.ddp is None or self.ddp.is_main
        finished = False
        try:
            trainer.run()
            if main and self.config.plot and attached.history.rows:
                from monai_despeckle.engines.handlers import plot_training_curve

                plot_training_curve(self.out / HISTORY_CSV, self.out / "training_curve.png")
            finished = True
        finally:
            attached.close()
            if self.ddp is not None:
                if finished:
                    dist.barrier()  # rank 0's files are complete for every rank from here on
                if self.ddp.owns_group:
                    dist.destroy_process_group()
        best = self.out / BEST_CHECKPOINT
        validated = evaluator.state.best_metric_epoch != -1
        return TrainResult(
            output_dir=self.out,
            best_checkpoint=best if best.is_file() else None,
            final_checkpoint=self.out / FINAL_CHECKPOINT,
            history_file=self.out / HISTORY_CSV,
            history=list(attached.history.rows),
            best_metric=float(evaluator.state.best_metric) if validated else None,
            best_epoch=int(evaluator.state.best_metric_epoch) if validated else None,
            epochs=int(trainer.state.epoch),
            input_metrics=dict(baseline),
            network=network.cpu().eval(),
        )


def training_datalists(config: TrainConfig) -> DataLists:
    """The train and validation lists of ``config``'s data source, as a run with it uses them."""
    return datalists(
        config.data,
        size=config.patch_size,
        seed=config.seed,
        phantom_count=config.phantom_count,
        val_fraction=config.val_fraction,
        max_train=config.max_train,
        max_val=config.max_val,
        split_file=config.split_file,
    )


def pair_transform(config: TrainConfig, paired: bool, *, train: bool, augment: bool | None = None) -> Any:
    """The supervised pipeline of a run: real frames get synthetic speckle, simulated pairs stay as they are.

    Args:
        config: the run's settings (patch size and mode, synthetic speckle, augmentation).
        paired: the data source has clean references (its lists' ``paired``).
        train: the training pipeline (random speckle and augmentation) rather than validation.
        augment: override ``config.augment``.
    """
    return supervised_transform(
        paired,
        config.patch_size,
        train=train,
        patch_mode=config.patch_mode,
        noise=config.noise,
        variances=config.variances,
        rayleigh_strength=config.rayleigh_strength,
        augment=config.augment if augment is None else augment,
    )


class DespeckleWorkflow(TrainingWorkflow[TrainConfig]):
    """The workflow of the despeckling recipes: :class:`TrainConfig` settings, pairs of noisy/clean frames.

    From ``train.json``::

        "workflow": {"_target_": "monai_despeckle.engines.DespeckleWorkflow",
                     "config": "$monai_despeckle.engines.TrainConfig.build(**@train)", "name": "dae_skip"}
    """

    size_name = "patch_size"
    lists: DataLists

    def make_lists(self) -> DataLists:
        return training_datalists(self.config)

    @property
    def input_size(self) -> int:
        return self.config.patch_size

    def baseline(self, evaluator: SupervisedEvaluator) -> dict[str, float]:
        return input_metrics(evaluator.data_loader)

    def pair_transform(self, train: bool) -> Any:
        """The supervised pipeline of the run's data (:func:`pair_transform`)."""
        return pair_transform(self.config, self.lists.paired, train=train)

    def train_loader(self, entries: Sequence[Mapping[str, Any]], transform: Any) -> Any:
        """The shuffled training loader of ``entries`` (this rank's share in a distributed run)."""
        config = self.config
        return train_loader(
            entries,
            transform,
            config.batch_size,
            config.seed,
            config.num_workers,
            config.cache_rate,
            distributed=config.distributed,
        )

    def validation_loader(self) -> Any:
        """The validation pairs, their synthetic speckle drawn once (seeded)."""
        return validation_loader(
            self.lists.val,
            self.pair_transform(False),
            self.config.batch_size,
            self.config.seed + 1,
            self.lists.source,
        )
