"""The settings of a training run: plain, JSON-friendly dataclasses (what a bundle's ``train`` section holds).

:class:`RunSettings` is what every settings dataclass shares (overrides by name, checks, JSON);
:class:`TrainConfig` holds the despeckling workflows' settings. A bundle's ``train.json`` builds one
from its ``train`` section (``"$monai_despeckle.engines.TrainConfig.build(**@train)"``), so
``--train#max_epochs 5`` overrides reach it by the same names as the Python API's keywords.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from monai_despeckle.engines.data import PATCH_MODES, SEED_PAPER_VARIANCES
from monai_despeckle.errors import InvalidParameterError

__all__ = ["KEY_METRICS", "MIN_PATCH", "RunSettings", "TrainConfig"]

KEY_METRICS: tuple[str, ...] = ("psnr", "ssim")
MIN_PATCH = 16


class RunSettings:
    """What every dataclass of run settings shares: overrides by name, checks, JSON.

    Subclasses are dataclasses; ``OPTION_KIND`` names them in error messages. Each defines the
    fields the workflow base reads (declared here for the type checker).
    """

    OPTION_KIND = "training"

    if TYPE_CHECKING:  # what makes a class a dataclass to the type checker; the subclasses define it
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
        output_dir: str
        batch_size: int
        max_epochs: int
        lr: float | None
        val_interval: int
        early_stop_patience: int
        device: str
        seed: int
        amp: bool
        init_weights: str | None
        progress: bool
        tensorboard: bool
        plot: bool

    @property
    def distributed_run(self) -> bool:
        """Whether the run is one process of a ``torchrun`` launch (settings without the field: never)."""
        return bool(getattr(self, "distributed", False))

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
