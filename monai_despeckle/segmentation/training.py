"""Training of the segmentation bundles on the workflow base of the despeckling ones.

:class:`SegmentationWorkflow` is a :class:`~monai_despeckle.engines.workflow.TrainingWorkflow`
over image/mask pairs: :class:`monai.engines.SupervisedTrainer` with MONAI's ``DiceCELoss`` (soft
Dice + cross-entropy on the softmax of the logits) and Adam under a cosine learning-rate schedule;
:func:`segmentation_evaluator` picks the best checkpoint by ``MeanDice`` (``HausdorffDistance`` at
the 95th percentile beside it) on the held-out training acquisitions. The loop, standard
handlers, history and curve are the workflow base's. The segmentation bundles' ``train.json``
declare the same components; :func:`train_segmenter` builds them in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import HausdorffDistance, MeanDice, from_engine
from monai.losses import DiceCELoss
from monai.transforms import Activationsd, AsDiscreted, Compose
from torch import nn

from monai_despeckle.engines.data import DataLists, train_loader
from monai_despeckle.engines.schedules import cosine_decay
from monai_despeckle.engines.settings import RunSettings
from monai_despeckle.engines.workflow import Loaders, TrainingWorkflow, TrainResult
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks import segmentation_unet
from monai_despeckle.segmentation.data import (
    segmentation_datalists,
    segmentation_transform,
    write_split_record,
)
from monai_despeckle.segmentation.tasks import SegTask, get_task

__all__ = [
    "SEG_LR",
    "SegTrainConfig",
    "SegmentationWorkflow",
    "segmentation_evaluator",
    "train_segmenter",
]

SEG_LR = 1e-3
FINAL_LR_FRACTION = 0.01
"""The cosine schedule ends at this fraction of the starting learning rate."""


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


class SegmentationWorkflow(TrainingWorkflow[SegTrainConfig]):
    """The workflow of the segmentation recipes: the task's image/mask lists, ``size``-pixel inputs.

    From ``train.json``::

        "workflow": {"_target_": "monai_despeckle.segmentation.training.SegmentationWorkflow",
                     "config": "$monai_despeckle.segmentation.SegTrainConfig.build(**@train)"}
    """

    lists: DataLists

    def __init__(self, config: SegTrainConfig) -> None:
        self.task: SegTask = get_task(config.task)
        super().__init__(config, f"segmentation_{self.task.name}")

    def make_lists(self) -> DataLists:
        config = self.config
        return segmentation_datalists(
            config.data,
            self.task,
            split_file=config.split_file,
            val_fraction=config.val_fraction,
            seed=config.seed,
            phantom_count=config.phantom_count,
            max_train=config.max_train,
        )

    @property
    def input_size(self) -> int:
        return self.config.size

    def on_output(self, out: Path) -> None:
        write_split_record(self.lists, out / "split_used.json")

    def loaders(self) -> Loaders:
        """The augmented training loader and the validation loader (despeckled first if ``despeckler``)."""
        config = self.config

        def pipeline(train: bool) -> Compose:
            return segmentation_transform(
                self.task, config.size, train, config.despeckler, config.augment, str(self.device)
            )

        loader = train_loader(
            self.lists.train,
            pipeline(True),
            config.batch_size,
            config.seed,
            config.num_workers,
            config.cache_rate,
        )
        val_set = Dataset([pipeline(False)(dict(entry)) for entry in self.lists.val])
        return Loaders(
            loader, DataLoader(val_set, batch_size=config.batch_size, shuffle=False, num_workers=0)
        )


def segmentation_evaluator(
    network: nn.Module, loader: Any, device: torch.device, amp: bool, num_classes: int
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
    workflow = SegmentationWorkflow(config)
    num_classes = workflow.task.num_classes
    model = workflow.prepare_network(segmentation_unet(**{"out_channels": num_classes, **config.model}))
    data = workflow.loaders()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr or SEG_LR, weight_decay=config.weight_decay)
    trainer = SupervisedTrainer(
        device=workflow.device,
        max_epochs=config.max_epochs,
        train_data_loader=data.train,
        network=model,
        optimizer=optimizer,
        loss_function=DiceCELoss(to_onehot_y=True, softmax=True),
        amp=workflow.amp,
    )
    evaluator = segmentation_evaluator(model, data.val, workflow.device, workflow.amp, num_classes)
    schedule = cosine_decay(optimizer, config.max_epochs, FINAL_LR_FRACTION)
    return workflow.run(trainer, evaluator, model, handlers=[schedule])
