"""Training of the segmentation bundles on ``monai.engines``.

:class:`monai.engines.SupervisedTrainer` with MONAI's ``DiceCELoss`` (soft Dice + cross-entropy
on the softmax of the logits) and Adam under a cosine learning-rate schedule
(``monai.handlers.LrScheduleHandler``); a :class:`monai.engines.SupervisedEvaluator` picks the
best checkpoint by ``MeanDice`` (``HausdorffDistance`` at the 95th percentile beside it) on the
held-out training acquisitions. The loop, handlers, history and curve are those of the
despeckling workflows (:func:`monai_despeckle.engines.workflow.run_workflow`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import HausdorffDistance, LrScheduleHandler, MeanDice, from_engine
from monai.losses import DiceCELoss
from monai.transforms import Activationsd, AsDiscreted, Compose
from monai.utils import set_determinism

from monai_despeckle.engines.data import train_loader
from monai_despeckle.engines.workflow import (
    RunSettings,
    TrainResult,
    load_initial_weights,
    prepare_output,
    resolve_device,
    run_workflow,
)
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks import segmentation_unet
from monai_despeckle.segmentation.data import (
    segmentation_datalists,
    segmentation_transform,
    write_split_record,
)
from monai_despeckle.segmentation.tasks import get_task

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import _LRScheduler

__all__ = ["SegTrainConfig", "train_segmenter"]

SEG_LR = 1e-3


@dataclass
class SegTrainConfig(RunSettings):
    """Plain, JSON-friendly settings of a segmentation training run (usable from ``train.json``).

    Attributes:
        task: ``"breast"`` or ``"carotid"`` (labels, acquisition grouping, phantoms).
        data: folder with ``images/``, ``masks/`` and ``split.json`` (its ``train`` list is used).
        output_dir: checkpoints, history, TensorBoard logs and ``config.json``.
        size: side of the square network input.
        batch_size: images per batch.
        max_epochs: epochs to train (early stopping may end sooner).
        lr: Adam's initial step size (cosine-annealed to 1 % of it).
        weight_decay: Adam's L2 penalty.
        val_interval: validate every this many epochs.
        early_stop_patience: validations without a better Dice before stopping (0: never).
        val_fraction: share of the training images (whole acquisitions) held out for checkpoint selection.
        despeckler: despeckle every image with this method first (None: raw B-mode).
        phantom_count: simulated phantoms mixed into the training list.
        augment: random augmentation in training.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the split, augmentation and weight initialisation.
        amp: mixed precision on CUDA.
        num_workers: data loader worker processes.
        cache_rate: share of the training set cached after loading (and despeckling, resizing).
        model: keyword arguments of :func:`~monai_despeckle.networks.segmentation_unet`.
        split_file: split JSON (default ``data/split.json``).
        max_train: use at most this many real training images (tests).
        init_weights: state_dict to start from (fine-tuning), loaded strictly with ``weights_only``.
        progress: show a progress bar.
        tensorboard: write TensorBoard event files.
        plot: draw ``training_curve.png`` at the end.
    """

    task: str = "breast"
    data: str = "../shared/data/busi"
    output_dir: str = "runs/seg"
    size: int = 192
    batch_size: int = 8
    max_epochs: int = 120
    lr: float | None = None
    weight_decay: float = 1e-5
    val_interval: int = 2
    early_stop_patience: int = 20
    val_fraction: float = 0.15
    despeckler: str | None = None
    phantom_count: int = 0
    augment: bool = True
    device: str = "auto"
    seed: int = 0
    amp: bool = True
    num_workers: int = 0
    cache_rate: float = 1.0
    model: dict[str, Any] = field(default_factory=dict)
    split_file: str | None = None
    max_train: int | None = None
    init_weights: str | None = None
    progress: bool = True
    tensorboard: bool = True
    plot: bool = True

    OPTION_KIND = "segmentation training"

    def __post_init__(self) -> None:
        get_task(self.task)
        self.check_counts("size", "batch_size", "max_epochs", "val_interval")
        if self.early_stop_patience < 0 or self.phantom_count < 0:
            raise InvalidParameterError("early_stop_patience and phantom_count must be >= 0")
        self.check_lr()


def _evaluator(
    network: torch.nn.Module, loader: DataLoader, device: torch.device, amp: bool, num_classes: int
) -> SupervisedEvaluator:
    """Validation: softmax → argmax → one-hot, then mean Dice (key metric) and HD95 of the structures."""
    post = Compose(
        [
            Activationsd("pred", softmax=True),
            AsDiscreted(["pred", "label"], argmax=(True, False), to_onehot=(num_classes, num_classes)),
        ]
    )
    pairs = from_engine(["pred", "label"])
    return SupervisedEvaluator(
        device=device,
        val_data_loader=loader,
        network=network,
        postprocessing=post,
        key_val_metric={"val_dice": MeanDice(include_background=False, output_transform=pairs)},
        additional_metrics={
            "val_hd95": HausdorffDistance(include_background=False, percentile=95, output_transform=pairs)
        },
        amp=amp,
    )


def train_segmenter(config: SegTrainConfig | None = None, **overrides: Any) -> TrainResult:
    """Train the task's U-Net; ``output_dir/model.pt`` is the state_dict of the best validation Dice.

    Args:
        config: the run's settings (defaults when None).
        **overrides: :class:`SegTrainConfig` fields to override, e.g. ``task="carotid"``.
    """
    config = SegTrainConfig.build(config, **overrides)
    task = get_task(config.task)
    lists = segmentation_datalists(
        config.data,
        task,
        split_file=config.split_file,
        val_fraction=config.val_fraction,
        seed=config.seed,
        phantom_count=config.phantom_count,
        max_train=config.max_train,
    )
    device = resolve_device(config.device)
    amp = bool(config.amp and device.type == "cuda")
    set_determinism(seed=config.seed)
    model_args = {"out_channels": task.num_classes, **config.model}
    model = load_initial_weights(segmentation_unet(**model_args), config).to(device)  # type: ignore[arg-type]
    # nn.Module.__getattr__ is typed for tensors and modules; segmentation_unet sets this int
    size_multiple = cast(int, model.size_multiple)
    if config.size % size_multiple:
        raise InvalidParameterError(f"size {config.size} is not a multiple of {size_multiple}")
    out = prepare_output(config, f"segmentation_{task.name}")  # type: ignore[arg-type]
    write_split_record(lists, out / "split_used.json")

    def pipeline(train: bool) -> Compose:
        return segmentation_transform(
            task, config.size, train, config.despeckler, config.augment, str(device)
        )

    loader = train_loader(
        lists.train, pipeline(True), config.batch_size, config.seed, config.num_workers, config.cache_rate
    )
    val_set = Dataset([pipeline(False)(dict(entry)) for entry in lists.val])
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, num_workers=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr or SEG_LR, weight_decay=config.weight_decay)
    trainer = SupervisedTrainer(
        device=device,
        max_epochs=config.max_epochs,
        train_data_loader=loader,
        network=model,
        optimizer=optimizer,
        loss_function=DiceCELoss(to_onehot_y=True, softmax=True),
        amp=amp,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.max_epochs, eta_min=0.01 * (config.lr or SEG_LR)
    )
    # MONAI annotates the old _LRScheduler; every LRScheduler of torch >= 2.0 works
    LrScheduleHandler(cast("_LRScheduler", schedule), print_lr=False).attach(trainer)
    evaluator = _evaluator(model, val_loader, device, amp, task.num_classes)
    return run_workflow(config, out, trainer, evaluator, model, ["loss"], {})  # type: ignore[arg-type]
