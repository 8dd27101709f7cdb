"""Fine-tune a task's segmenter on the datastore's final labels into the next model version.

The training itself is the bundle's own recipe (``configs/train.json``: ``monai.engines``
:class:`~monai.engines.SupervisedTrainer` with Dice + cross-entropy, best checkpoint by validation
Dice, CPU or GPU) run by :func:`monai_despeckle.bundle_training.train_bundle`, started from the
newest version's weights. This module only turns the annotated images into the recipe's data
layout (``images/`` and ``masks/<name>_mask.png``, one 2D sample per frame) and records what the
run reached, which MONAI Label shows to clients as the trainer's statistics.

MONAI Label runs a train request in a subprocess (``python -m monailabel.interfaces.utils.app -m
train``) that builds the app again, so nothing here keeps state between runs but the model
folders and the statistics file.
"""

from __future__ import annotations

import datetime
import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.interfaces.datastore import DefaultLabelTag
from monailabel.interfaces.tasks.train import TrainTask

from monai_despeckle import io
from monai_despeckle.errors import InvalidImageError, InvalidParameterError
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.safe_write import write_file
from monai_despeckle.monailabel_app.inputs import read_request_file
from monai_despeckle.monailabel_app.models import MODEL_FILE, ModelVersions
from monai_despeckle.segmentation.tasks import TASKS

__all__ = ["DEFAULT_SETTINGS", "FineTuneTask", "export_training_data", "final_label_pairs"]

logger = logging.getLogger(__name__)

STATS_FILE = "train_stats.json"
FRAME_SEPARATOR = "_frame_"
# What a client may set (and sees as the trainer's options), with the defaults of a fine-tuning run:
# a tenth of the recipe's learning rate, no simulated phantoms (the annotations are the data).
DEFAULT_SETTINGS: dict[str, int | float] = {"max_epochs": 20, "batch_size": 8, "lr": 1e-4, "phantom_count": 0}


def _mask_image(values: np.ndarray) -> UltrasoundImage:
    """A uint8 mask frame (label values, 0 background) as an image that saves those values."""
    return UltrasoundImage(frames=np.clip(values, 0, 255).astype(np.float32)[None] / 255.0)


def export_training_data(pairs: Sequence[Mapping[str, str]], folder: Path, separator: str) -> int:
    """Write every frame of every ``{"id", "image", "label"}`` pair as a training sample of the recipe.

    ``folder/images/<name>.png`` holds the frame, ``folder/masks/<name>_mask.png`` its label
    values. A cine or volume gives one sample per frame, named ``<id><separator><frame>`` (the
    task's acquisition separator keeps its frames on one side of the validation hold-out).

    Returns:
        The number of samples written.
    """
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    count = 0
    for pair in pairs:
        image = read_request_file(pair["image"], "image")
        label = read_request_file(pair["label"], "final label")
        if label.frames.shape != image.frames.shape:
            raise InvalidImageError(
                f"the final label has frames {label.frames.shape}, the image {image.frames.shape}",
                pair["label"],
            )
        stem = pair["id"]
        values = label.source_values()
        for index in range(image.num_frames):
            sample = stem if image.num_frames == 1 else f"{stem}{separator}{index:04d}"
            io.save(
                UltrasoundImage(frames=image.frames[index : index + 1]), folder / "images" / f"{sample}.png"
            )
            io.save(_mask_image(values[index]), folder / "masks" / f"{sample}_mask.png")
            count += 1
    return count


def final_label_pairs(datastore: Any, model: str) -> list[dict[str, str]]:
    """``{"id", "image", "label"}`` of the images whose final label is for ``model``.

    A label saved with ``{"model": name}`` among its parameters (as the 3D Slicer plugin saves
    them) belongs to that model only; a label saved without one is used by every model.
    """
    pairs = []
    for image_id in sorted(datastore.get_labeled_images()):
        owner = datastore.get_label_info(image_id, DefaultLabelTag.FINAL).get("model")
        if owner and owner != model:
            continue
        pairs.append(
            {
                "id": image_id,
                "image": datastore.get_image_uri(image_id),
                "label": datastore.get_label_uri(image_id, DefaultLabelTag.FINAL),
            }
        )
    return pairs


def _settings(request: Mapping[str, Any]) -> dict[str, int | float]:
    """The run's settings: the defaults, overridden by the request's numbers (whole ones for counts)."""
    settings: dict[str, int | float] = {}
    for key, default in DEFAULT_SETTINGS.items():
        value = request.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{key} must be a number, got {value!r}") from None
        if isinstance(default, int):
            if isinstance(value, bool) or not number.is_integer():
                raise InvalidParameterError(f"{key} must be a whole number, got {value!r}")
            settings[key] = int(number)
        else:
            settings[key] = number
    return settings


def _best_dice(history_file: Path) -> tuple[float | None, int]:
    """The best validation Dice of a run's history and the number of epochs it ran."""
    from monai_despeckle.engines.handlers import read_history

    rows = read_history(history_file)
    dice = [row["val_dice"] for row in rows if np.isfinite(row.get("val_dice", np.nan))]
    return (max(dice) if dice else None), len(rows)


class FineTuneTask(TrainTask):
    """Train request of one segmentation task: fine-tune the newest version on the final labels.

    Args:
        name: the model's name (``segment_breast``), which final labels may name as theirs.
        task: ``breast`` or ``carotid``.
        versions: the task's model versions (the run writes the next one).
        device: where training runs (``"auto"``: CUDA if available).
    """

    def __init__(self, name: str, task: str, versions: ModelVersions, device: str = "auto") -> None:
        super().__init__(f"fine-tune the {task} segmenter on the final labels (bundle recipe, monai.engines)")
        self.name = name
        self.task = task
        self.versions = versions
        self.device = device

    @property
    def stats_file(self) -> Path:
        """Where the last run's statistics are kept."""
        return self.versions.root / STATS_FILE

    def config(self) -> dict[str, Any]:
        """Options shown to clients."""
        return dict(DEFAULT_SETTINGS)

    def stats(self) -> dict[str, Any]:
        """The last run's statistics (``best_metric`` is its best validation Dice), or ``{}``."""
        try:
            return json.loads(self.stats_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def __call__(self, request: Mapping[str, Any], datastore: Any) -> dict[str, Any]:
        from monai_despeckle.bundle_training import train_bundle

        settings = _settings(request)
        pairs = final_label_pairs(datastore, self.name)
        if len(pairs) < 2:
            raise InvalidParameterError(
                f"training {self.name} needs at least 2 images with a final label for it (one to "
                f"validate on); the datastore has {len(pairs)}"
            )
        started = time.time()
        base_version, base = self.versions.latest()
        number, target = self.versions.next_folder()
        separator = TASKS[self.task].group_separator or FRAME_SEPARATOR
        overrides = {
            "device": self.device,
            "train#init_weights": str(base / MODEL_FILE),
            "train#max_epochs": settings["max_epochs"],
            "train#batch_size": settings["batch_size"],
            "train#lr": settings["lr"],
            "train#phantom_count": settings["phantom_count"],
            "train#val_interval": 1,
            "train#progress": False,
            "train#tensorboard": False,
            "train#plot": False,
        }
        with tempfile.TemporaryDirectory(prefix="monai_despeckle_label_train_") as data:
            samples = export_training_data(pairs, Path(data), separator)
            logger.info(
                "fine-tuning %s v%d on %d frame(s) of %d image(s)",
                self.task,
                base_version,
                samples,
                len(pairs),
            )
            trained = train_bundle(
                base,
                data,
                target,
                overrides=overrides,
                note=f"fine-tuned in MONAI Label on {len(pairs)} image(s) from version {base_version}",
            )
        dice, epochs = _best_dice(trained.run_dir / "history.csv")
        stats = {
            "model_version": number,
            "bundle": f"{self.versions.root.name}/{target.name}",
            "best_metric": dice if dice is not None else 0.0,  # what clients show as accuracy
            "val_dice": dice,
            "epoch": epochs,
            "total_epochs": settings["max_epochs"],
            "start_ts": int(started),
            "total_time": str(datetime.timedelta(seconds=int(time.time() - started))),
            "images": len(pairs),
            "samples": samples,
            "settings": settings,
        }
        write_file(self.stats_file, json.dumps(stats, indent=2) + "\n")
        logger.info("model version %d written to %s (best validation Dice %s)", number, target, dice)
        return stats
