"""What every training workflow shares: its configuration, its result, validation and the run itself.

A workflow (:mod:`~monai_despeckle.engines.supervised`, :mod:`~monai_despeckle.engines.self_supervised`,
:mod:`~monai_despeckle.engines.adversarial`) builds its data, networks and ``monai.engines`` trainer,
then hands them to :func:`run_workflow`, which wires the standard MONAI handlers (validation every
``val_interval`` epochs with PSNR/SSIM, best-model checkpoint, early stopping, console / TensorBoard
stats, progress bar, per-epoch history) and runs it.

With ``TrainConfig.distributed`` a run is one process of a ``torchrun`` launch (distributed data
parallel): :func:`start` joins the process group (:func:`init_distributed`), the workflow wraps the
networks it optimises in ``DistributedDataParallel`` (:func:`distribute`) while validation,
checkpoints and the result use the plain modules, the training loader gives each process its
share of every epoch, and only rank 0 writes files or logs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events
from monai.engines import SupervisedEvaluator, Trainer
from monai.handlers import (
    CheckpointSaver,
    EarlyStopHandler,
    LrScheduleHandler,
    StatsHandler,
    TensorBoardStatsHandler,
    ValidationHandler,
    stopping_fn_from_metric,
)
from monai.utils import set_determinism
from torch import nn

from monai_despeckle import __version__
from monai_despeckle.engines.data import (
    PATCH_MODES,
    SEED_PAPER_VARIANCES,
    DataLists,
    datalists,
    fixed_dataset,
)
from monai_despeckle.engines.handlers import (
    TrainingHistory,
    metric_handlers,
    output_scalar,
    plot_training_curve,
)
from monai_despeckle.errors import InvalidParameterError, OutputPathError
from monai_despeckle.metrics import psnr, ssim
from monai_despeckle.runtime.device import resolve_device
from monai_despeckle.weights import load_state_dict

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import _LRScheduler

__all__ = [
    "BEST_CHECKPOINT",
    "FINAL_CHECKPOINT",
    "HISTORY_CSV",
    "DistributedRun",
    "RunSettings",
    "TrainConfig",
    "TrainResult",
    "distribute",
    "init_distributed",
    "is_main_process",
    "linear_decay_handlers",
    "load_initial_weights",
    "make_evaluator",
    "resolve_device",
    "run_workflow",
    "training_datalists",
]

BEST_CHECKPOINT = "model.pt"
FINAL_CHECKPOINT = "model_final.pt"
HISTORY_CSV = "history.csv"
KEY_METRICS: tuple[str, ...] = ("psnr", "ssim")
MIN_PATCH = 16
TORCHRUN_ENV: tuple[str, ...] = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What ``torch.distributed.init_process_group("env://")`` reads; ``torchrun`` sets them (and LOCAL_RANK)."""

logger = logging.getLogger(__name__)


class RunSettings:
    """What every dataclass of run settings shares: overrides by name, checks, JSON.

    Subclasses are dataclasses; ``OPTION_KIND`` names them in error messages.
    """

    OPTION_KIND = "training"

    if TYPE_CHECKING:  # what makes a class a dataclass to the type checker; the subclasses define it
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def build(cls, config: Any = None, **overrides: Any) -> Any:
        """``config`` (or the defaults) with ``overrides`` applied; unknown names are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise InvalidParameterError(f"unknown {cls.OPTION_KIND} option(s): {', '.join(unknown)}")
        return dataclasses.replace(config, **overrides) if config is not None else cls(**overrides)

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON types."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    def check_counts(self, *names: str) -> None:
        """Each named field must be an integer >= 1."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")

    def check_lr(self) -> None:
        """``lr`` must be None (the workflow's default) or a positive finite number."""
        lr = getattr(self, "lr", None)
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise InvalidParameterError(f"lr must be a positive number, got {lr!r}")


@dataclass
class TrainConfig(RunSettings):
    """Plain, JSON-friendly settings of a training run (usable from a bundle's ``train.json``).

    Attributes:
        data: ``"phantoms:breast"`` / ``"phantoms:carotid"`` (simulated in memory), a folder with
            ``split.json`` (real images, e.g. ``../shared/data/busi``) or a simulated data set
            folder with ``datalist.json``.
        output_dir: where checkpoints, history, TensorBoard logs and ``config.json`` go.
        patch_size: side of the square training patches (a multiple of the network's size_multiple).
        batch_size: images per training batch.
        max_epochs: epochs to train (early stopping may end sooner).
        lr: learning rate; None for the workflow's published default.
        lr_decay_epochs: the last this many epochs of ``max_epochs`` decay the learning rate
            linearly towards zero (pix2pix's schedule: constant, then linear decay); 0 keeps it
            constant throughout.
        val_interval: validate every this many epochs.
        early_stop_patience: validations without improvement before stopping (0: never).
        key_metric: validation metric that picks the best checkpoint: ``"psnr"`` or ``"ssim"``.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        seed: seeds data order, augmentation, synthetic speckle and weight initialisation.
        amp: mixed precision on CUDA (ignored on the CPU).
        num_workers: data loader worker processes.
        cache_rate: fraction of the training set kept in memory after loading and resizing.
        patch_mode: ``"resize"`` whole frames to the patch (seed paper) or ``"crop"`` patches.
        noise: synthetic speckle for real clean images: ``"gaussian"`` (scikit-image speckle) or
            ``"rayleigh"``.
        variances: speckle variances drawn per image (``noise="gaussian"``).
        rayleigh_strength: Rayleigh strength, a number or ``[min, max]`` (``noise="rayleigh"``).
        augment: random left-right flips in training.
        phantom_count: number of phantoms for a ``phantoms:`` source.
        val_fraction: validation fraction of a ``phantoms:`` source.
        max_train: use at most this many training images (None: all).
        max_val: use at most this many validation images (None: all).
        model: keyword arguments of the network (e.g. ``{"features": [16, 32, 64]}``).
        split_file: split JSON of a folder of real images (default ``<data>/split.json``).
        init_weights: state_dict file of the trained (inference) network to start from, loaded
            strictly with ``weights_only=True``: fine-tuning instead of training from scratch.
        progress: show a progress bar.
        tensorboard: write TensorBoard event files under ``output_dir/tensorboard``.
        plot: draw ``training_curve.png`` from the history at the end.
        distributed: the run is one process of a ``torchrun`` launch (distributed data parallel,
            e.g. ``torchrun --nproc_per_node=2``). The process group is initialised from
            torchrun's environment unless the caller already did: NCCL on CUDA, each process on
            ``cuda:$LOCAL_RANK`` (the index in ``device`` is ignored), Gloo on the CPU. The
            trained networks are wrapped in ``DistributedDataParallel``; each process trains on
            its share of every epoch, so ``batch_size`` is per process. Checkpoints, the history,
            TensorBoard, logs and ``config.json`` are written by rank 0 only.
    """

    data: str = "phantoms:breast"
    output_dir: str = "runs/train"
    patch_size: int = 128
    batch_size: int = 16
    max_epochs: int = 100
    lr: float | None = None
    lr_decay_epochs: int = 0
    val_interval: int = 1
    early_stop_patience: int = 20
    key_metric: str = "psnr"
    device: str = "auto"
    seed: int = 0
    amp: bool = False
    num_workers: int = 0
    cache_rate: float = 1.0
    patch_mode: str = "resize"
    noise: str = "gaussian"
    variances: Sequence[float] = SEED_PAPER_VARIANCES
    rayleigh_strength: float | Sequence[float] = 1.0
    augment: bool = True
    phantom_count: int = 64
    val_fraction: float = 0.25
    max_train: int | None = None
    max_val: int | None = None
    model: dict[str, Any] = field(default_factory=dict)
    split_file: str | None = None
    init_weights: str | None = None
    progress: bool = True
    tensorboard: bool = True
    plot: bool = True
    distributed: bool = False

    def __post_init__(self) -> None:
        self.check_counts("patch_size", "batch_size", "max_epochs", "val_interval")
        if self.patch_size < MIN_PATCH:
            raise InvalidParameterError(
                f"patch_size must be >= {MIN_PATCH} (SSIM's 11-pixel window), got {self.patch_size}"
            )
        if self.early_stop_patience < 0:
            raise InvalidParameterError(f"early_stop_patience must be >= 0, got {self.early_stop_patience!r}")
        if isinstance(self.lr_decay_epochs, bool) or not 0 <= self.lr_decay_epochs <= self.max_epochs:
            raise InvalidParameterError(
                f"lr_decay_epochs must be an integer from 0 to max_epochs ({self.max_epochs}), "
                f"got {self.lr_decay_epochs!r}"
            )
        if self.key_metric not in KEY_METRICS:
            raise InvalidParameterError(
                f"key_metric must be one of {', '.join(KEY_METRICS)}, got {self.key_metric!r}"
            )
        if self.patch_mode not in PATCH_MODES:
            raise InvalidParameterError(
                f"patch_mode must be one of {', '.join(PATCH_MODES)}, got {self.patch_mode!r}"
            )
        self.check_lr()


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
class DistributedRun:
    """This process's place in a distributed (``torchrun``) run.

    Attributes:
        rank: global rank of the process; rank 0 writes the run's files.
        world_size: number of processes.
        owns_group: the workflow initialised ``torch.distributed`` (and destroys it at the end);
            False when the caller had initialised it.
    """

    rank: int
    world_size: int
    owns_group: bool

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes."""
        return self.rank == 0


def is_main_process() -> bool:
    """True unless this is a non-zero rank of an initialised ``torch.distributed`` process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def init_distributed(device: torch.device) -> tuple[DistributedRun, torch.device]:
    """Join the process group of a ``torchrun`` launch, initialising it unless the caller did.

    Args:
        device: the resolved training device; on CUDA each process takes ``cuda:$LOCAL_RANK``.

    Returns:
        This process's :class:`DistributedRun` and its device.

    Raises:
        InvalidParameterError: torchrun's environment (RANK, WORLD_SIZE, ...) is missing.
    """
    owns = not (dist.is_available() and dist.is_initialized())
    if owns:
        if not dist.is_available():
            raise InvalidParameterError("distributed training needs torch.distributed, missing in this build")
        needed = TORCHRUN_ENV + (("LOCAL_RANK",) if device.type == "cuda" else ())
        missing = [name for name in needed if name not in os.environ]
        if missing:
            raise InvalidParameterError(
                f"distributed=True but the environment has no {', '.join(missing)}: launch the run with "
                "torchrun (e.g. `torchrun --nproc_per_node=2 -m monai.bundle run ...`), which sets them, "
                "or train with distributed=False"
            )
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
        if not 0 <= local_rank < torch.cuda.device_count():
            raise InvalidParameterError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedRun(dist.get_rank(), dist.get_world_size(), owns), device


def distribute(module: nn.Module, device: torch.device, ddp: DistributedRun | None) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` for a distributed run, else itself.

    Give the wrapper to the trainer only: it shares the module's parameters, so validation,
    checkpoints and the result keep using the plain module (state_dict keys without ``module.``).
    """
    if ddp is None:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(module)


class _BroadcastBuffers:
    """At each epoch's end, give every rank rank 0's buffers (BatchNorm running statistics).

    DDP broadcasts buffers at the start of each forward pass, so after an epoch's last batch every
    rank holds statistics of its own batch. Syncing them before validation makes every rank
    validate exactly the weights rank 0 checkpoints.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        seen: dict[int, torch.Tensor] = {}
        for module in modules:
            for buffer in module.buffers():
                seen.setdefault(id(buffer), buffer)
        self.buffers = list(seen.values())

    def __call__(self, engine: Trainer) -> None:
        for buffer in self.buffers:
            dist.broadcast(buffer, src=0)


class _DistributedHistory(TrainingHistory):
    """:class:`TrainingHistory` whose epoch means cover every rank's batches; only rank 0 writes it."""

    def __init__(self, *args: Any, main: bool, device: torch.device, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.main = main
        self.device = device

    def _record(self, engine: Engine) -> None:
        totals = [*(self._sums[key] for key in self.loss_keys), float(self._count)]
        summed = torch.tensor(totals, dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)  # every rank, at every epoch's end: the collectives stay in step
        *sums, count = summed.tolist()
        self._sums, self._count = dict(zip(self.loss_keys, sums, strict=True)), int(count)
        super()._record(engine)

    def write(self) -> None:
        if self.main:
            super().write()


def prepare_output(config: TrainConfig, workflow: str, extra: dict[str, Any] | None = None) -> Path:
    """Create the output folder (refusing to mix with another run's checkpoints); write ``config.json``.

    ``extra`` holds the workflow's own settings outside :class:`TrainConfig` (e.g. loss weights),
    recorded beside the config. In a distributed run every rank checks the folder; only rank 0
    creates it and writes.
    """
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder", out)
    if (out / BEST_CHECKPOINT).exists() or (out / FINAL_CHECKPOINT).exists():
        raise OutputPathError("already holds a trained model; choose a new output folder", out)
    if not is_main_process():
        return out
    out.mkdir(parents=True, exist_ok=True)
    record = {"workflow": workflow, "monai_despeckle": __version__, "config": config.to_json()}
    if extra:
        record.update(extra)
    (out / "config.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


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


def start(config: TrainConfig) -> tuple[DataLists, torch.device, bool, DistributedRun | None]:
    """Check the data source, pick the device, join the process group if distributed, seed everything.

    Returns:
        The source's datalists, the device, the effective AMP flag (CUDA only) and, for a
        distributed run, this process's :class:`DistributedRun` (else None).
    """
    lists = training_datalists(config)
    device = resolve_device(config.device)
    ddp = None
    if config.distributed:
        ddp, device = init_distributed(device)
    set_determinism(seed=config.seed)  # the same on every rank: DDP starts from rank 0's weights anyway
    return lists, device, bool(config.amp and device.type == "cuda"), ddp


def load_initial_weights(network: nn.Module, config: TrainConfig) -> nn.Module:
    """Load ``config.init_weights`` (a state_dict, strict, ``weights_only``) into ``network``, if set."""
    if config.init_weights is None:
        return network
    return load_state_dict(network, config.init_weights)


def linear_decay_handlers(
    optimizers: Sequence[torch.optim.Optimizer], config: TrainConfig
) -> list[LrScheduleHandler]:
    """Epoch-level handlers holding each learning rate constant, then decaying it linearly.

    Over the last ``config.lr_decay_epochs`` epochs the rate falls by equal steps, reaching
    ``1 / (lr_decay_epochs + 1)`` of its start in the last epoch (Isola et al.'s pix2pix
    schedule). None when ``lr_decay_epochs`` is 0 or there is no optimiser.
    """
    decay = config.lr_decay_epochs if optimizers else 0
    if decay == 0:
        return []
    constant = config.max_epochs - decay

    def factor(epochs_done: int) -> float:
        return 1.0 - max(0, epochs_done + 1 - constant) / (decay + 1)

    return [
        # MONAI annotates the old _LRScheduler; every LRScheduler of torch >= 2.0 works
        LrScheduleHandler(
            cast("_LRScheduler", torch.optim.lr_scheduler.LambdaLR(optimizer, factor)), print_lr=False
        )
        for optimizer in optimizers
    ]


def check_patch(config: TrainConfig, network: nn.Module) -> None:
    """The patch must be a multiple of the network's ``size_multiple``."""
    multiple = int(getattr(network, "size_multiple", 1))
    if config.patch_size % multiple:
        suggestion = max(multiple, config.patch_size // multiple * multiple)
        raise InvalidParameterError(
            f"patch_size {config.patch_size} is not a multiple of {multiple}, which "
            f"{type(network).__name__} needs; use e.g. {suggestion}"
        )


def validation_data(lists: DataLists, transform: Any, config: TrainConfig) -> torch.utils.data.DataLoader:
    """A loader over the validation set, its synthetic speckle drawn once (seeded).

    Not sharded in a distributed run: every rank validates the whole set (see :func:`run_workflow`).
    """
    from monai.data import DataLoader

    if not lists.val:
        raise InvalidParameterError(f"no validation images in {lists.source}; validation needs at least one")
    dataset = fixed_dataset(lists.val, transform, seed=config.seed + 1)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=0)


def input_metrics(loader: torch.utils.data.DataLoader) -> dict[str, float]:
    """Mean PSNR/SSIM of the noisy validation inputs against their clean references."""
    images = torch.cat([batch["image"] for batch in loader])
    labels = torch.cat([batch["label"] for batch in loader])
    return {"psnr": float(psnr(images, labels).mean()), "ssim": float(ssim(images, labels).mean())}


def make_evaluator(
    network: nn.Module,
    loader: torch.utils.data.DataLoader,
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


def run_workflow(
    config: TrainConfig,
    out: Path,
    trainer: Trainer,
    evaluator: SupervisedEvaluator,
    network: nn.Module,
    loss_keys: Sequence[str],
    baseline: dict[str, float],
    extra_final: dict[str, nn.Module] | None = None,
    train_handlers: Sequence[Any] = (),
    ddp: DistributedRun | None = None,
    optimizers: Sequence[torch.optim.Optimizer] = (),
) -> TrainResult:
    """Attach the standard handlers to ``trainer`` / ``evaluator``, train, and collect the result.

    In a distributed run (``ddp``) every rank trains and validates, and the early stopping
    decision is the same on every rank; only rank 0 logs, writes TensorBoard, the history and the
    checkpoints. All ranks wait for each other at the end, and the process group is destroyed if
    :func:`init_distributed` created it.

    Args:
        config: the run's settings.
        out: the output folder.
        trainer: a ``monai.engines`` trainer, not yet run (holding the DDP-wrapped networks in a
            distributed run).
        evaluator: validates ``network`` (see :func:`make_evaluator`).
        network: the (plain, unwrapped) inference network whose state_dict is checkpointed.
        loss_keys: scalar entries of the trainer's output to average per epoch (first = the loss).
        baseline: metrics of the noisy validation inputs (recorded in the history).
        extra_final: other (plain) modules to save after the last epoch, ``{file name: module}``.
        train_handlers: more handlers (objects with ``attach(engine)``) for the trainer.
        ddp: this process's place in a distributed run (from :func:`start`), or None.
        optimizers: the trainer's optimisers, whose learning rates follow
            ``config.lr_decay_epochs`` (:func:`linear_decay_handlers`).
    """
    main = ddp is None or ddp.is_main
    extra_final = dict(extra_final or {})
    key_name = evaluator.state.key_metric_name  # the best checkpoint and early stopping follow it
    writer = None
    if config.tensorboard and main:
        if importlib.util.find_spec("tensorboard") is None:  # an optional extra: logs are a bonus
            logger.warning("no TensorBoard event files: pip install 'monai-despeckle[train]' for them")
        else:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(out / "tensorboard"))
    first = loss_keys[0]

    if ddp is not None:  # first on EPOCH_COMPLETED: before the validation
        trainer.add_event_handler(Events.EPOCH_COMPLETED, _BroadcastBuffers([network, *extra_final.values()]))
    # Distributed validation: every rank validates the whole (small) validation set, not rank 0
    # alone. MONAI's metrics all-gather their per-image scores across ranks when aggregating (a
    # collective that would wait forever for ranks that skipped validation), and early stopping
    # must end every rank at the same epoch, or the others would hang in DDP's next all-reduce.
    # With the gathered scores every rank computes the same metric, hence the same decision; the
    # duplicated scores leave the mean unchanged. Sharding the set instead would leave a rank with
    # no image when it is smaller than the world size.
    ValidationHandler(interval=config.val_interval, validator=evaluator, epoch_level=True).attach(trainer)
    if main:
        StatsHandler(tag_name="train_loss", output_transform=lambda o: output_scalar(o, first)).attach(
            trainer
        )
        StatsHandler(
            iteration_log=False,
            output_transform=lambda _: None,
            global_epoch_transform=lambda _: trainer.state.epoch,
        ).attach(evaluator)
    if writer is not None:
        TensorBoardStatsHandler(
            summary_writer=writer, tag_name="train_loss", output_transform=lambda o: output_scalar(o, first)
        ).attach(trainer)
        TensorBoardStatsHandler(
            summary_writer=writer,
            iteration_log=False,
            output_transform=lambda _: None,
            global_epoch_transform=lambda _: trainer.state.epoch,
        ).attach(evaluator)
    if config.progress and main:
        from ignite.handlers import ProgressBar

        ProgressBar(desc="train ").attach(
            trainer, output_transform=lambda o: {first: output_scalar(o, first)}
        )
    if main:  # the savers hold the plain modules: state_dict keys without DDP's "module." prefix
        CheckpointSaver(
            str(out),
            {"model": network},
            save_key_metric=True,
            key_metric_name=key_name,
            key_metric_filename=BEST_CHECKPOINT,
        ).attach(evaluator)
        CheckpointSaver(
            str(out), {"model": network}, save_final=True, final_filename=FINAL_CHECKPOINT
        ).attach(trainer)
        for filename, module in extra_final.items():
            CheckpointSaver(str(out), {"model": module}, save_final=True, final_filename=filename).attach(
                trainer
            )
    if config.early_stop_patience:  # on every rank (see above)
        EarlyStopHandler(
            patience=config.early_stop_patience,
            score_function=stopping_fn_from_metric(key_name),
            trainer=trainer,
        ).attach(evaluator)
    history_args = (out / HISTORY_CSV, loss_keys, evaluator)
    history_baseline = {f"input_{k}": v for k, v in baseline.items()}
    if ddp is None:
        history = TrainingHistory(*history_args, baseline=history_baseline)
    else:
        device = evaluator.state.device
        history = _DistributedHistory(*history_args, baseline=history_baseline, main=main, device=device)
    for handler in [*linear_decay_handlers(optimizers, config), *train_handlers]:
        handler.attach(trainer)
    history.attach(trainer)  # last: runs after validation on EPOCH_COMPLETED
    finished = False
    try:
        trainer.run()
        if main and config.plot and history.rows:
            plot_training_curve(out / HISTORY_CSV, out / "training_curve.png")
        finished = True
    finally:
        if writer is not None:
            writer.close()
        if ddp is not None:
            if finished:
                dist.barrier()  # rank 0's files are complete for every rank from here on
            if ddp.owns_group:
                dist.destroy_process_group()
    best = out / BEST_CHECKPOINT
    validated = evaluator.state.best_metric_epoch != -1
    return TrainResult(
        output_dir=out,
        best_checkpoint=best if best.is_file() else None,
        final_checkpoint=out / FINAL_CHECKPOINT,
        history_file=out / HISTORY_CSV,
        history=list(history.rows),
        best_metric=float(evaluator.state.best_metric) if validated else None,
        best_epoch=int(evaluator.state.best_metric_epoch) if validated else None,
        epochs=int(trainer.state.epoch),
        input_metrics=dict(baseline),
        network=network.cpu().eval(),
    )
