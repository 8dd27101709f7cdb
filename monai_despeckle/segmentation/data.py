"""Training data of the segmentation bundles: image/mask pairs, their split and their pipeline.

Sources: a folder of real images with ``masks/<stem>_mask.png`` and ``split.json`` (BUSI, CCAUI)
and, optionally, simulated phantoms mixed into the training list. Only the ``train`` images of
the split file are read. A share of them (``val_fraction``, whole acquisitions together) is held
out to pick the best checkpoint, so the ``val`` split stays untouched for the reported results.

The pipeline (:func:`segmentation_transform`) loads at native resolution, optionally despeckles
the image (the "train on despeckled images" arm of ``segment-eval``), resizes, and in training
applies ultrasound-appropriate augmentation: left-right flips only (never up-down: acoustic
shadows fall below lesions), small rotations / scalings / shifts, gamma and gain changes, a mild
blur and extra multiplicative speckle.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    Compose,
    EnsureTyped,
    Lambdad,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianSmoothd,
    RandScaleIntensityd,
)

from monai_despeckle.data.folders import SPLIT_FILE, folder_images, required_mask, stem
from monai_despeckle.data.frames import read_frame, read_mask, resize_frame
from monai_despeckle.data.lists import DataLists
from monai_despeckle.data.phantoms import simulator
from monai_despeckle.data.sources import FolderSource, parse_source
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.segmentation.tasks import SegTask
from monai_despeckle.simulation import label_map
from monai_despeckle.transforms import RandSpeckleNoised

__all__ = [
    "DespeckleImaged",
    "LoadSegPaird",
    "ResizeSegPaird",
    "acquisition_of",
    "phantom_entries",
    "segmentation_datalists",
    "segmentation_folder",
    "segmentation_transform",
]


def acquisition_of(name: str, separator: str) -> str:
    """The acquisition a frame belongs to: its name up to ``separator`` (the whole name if absent)."""
    if separator and separator in name:
        return name.split(separator, 1)[0]
    return name


def _hold_out(names: Sequence[str], fraction: float, seed: int, separator: str) -> set[str]:
    """Names of the held-out frames: whole acquisitions, chosen by a seeded hash, ~``fraction`` of frames."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(acquisition_of(name, separator), []).append(name)
    order = sorted(groups, key=lambda g: zlib.crc32(f"{seed}:{g}".encode()))
    target = max(1, round(fraction * len(names)))
    held: set[str] = set()
    for group in order:
        if len(held) >= target:
            break
        if len(held) + len(groups[group]) < len(names):  # never hold out every image
            held.update(groups[group])
    if not held:
        raise InvalidParameterError(
            f"cannot hold out a validation share of {len(names)} image(s) in {len(groups)} acquisition(s)"
        )
    return held


def phantom_entries(task: SegTask, n: int, size: int, seed: int) -> list[dict[str, Any]]:
    """``n`` simulated phantoms of the task's family as in-memory ``{"image", "label", "name"}`` entries.

    Phantom ``i`` has seed ``seed + i`` (the shipped segmenters were trained on these).
    """
    simulate = simulator(task.phantom_kind)
    entries = []
    for index in range(n):
        sample = simulate(size=size, seed=seed + index)
        source = label_map(sample)
        label = np.zeros_like(source)
        for value, target in task.phantom_labels.items():
            label[source == value] = target
        entries.append(
            {"image": sample.bmode.astype(np.float32), "label": label, "name": f"phantom_{index:04d}"}
        )
    return entries


def segmentation_folder(data: str | Path) -> Path:
    """The folder of a segmentation data source: real images with masks (not phantoms, not a data set)."""
    source = parse_source(data)
    if not isinstance(source, FolderSource):
        raise InvalidParameterError(
            f"segmentation needs a folder of images with masks/<stem>_mask.png, not {source}"
        )
    return source.folder


def segmentation_datalists(
    data: str | Path,
    task: SegTask,
    *,
    split_file: str | Path | None = None,
    val_fraction: float = 0.15,
    seed: int = 0,
    phantom_count: int = 0,
    phantom_size: int = 256,
    max_train: int | None = None,
) -> DataLists:
    """Training and checkpoint-selection lists of ``{"image": path, "label": mask path, "name"}``.

    Args:
        data: folder with ``images/``, ``masks/<stem>_mask.png`` and ``split.json`` (only its
            ``train`` list is used; without a split file every image is a training image).
        task: the segmentation task (labels, acquisition grouping, phantom family).
        split_file: the split JSON (default ``data/split.json``).
        val_fraction: share of the training images held out, acquisition by acquisition, to pick
            the best checkpoint.
        seed: chooses the held-out acquisitions and the phantoms.
        phantom_count: simulated phantoms added to the training list.
        phantom_size: their side in pixels.
        max_train: keep at most this many real training images, evenly spaced (tests).
    """
    folder = segmentation_folder(data)
    if not 0.0 < val_fraction < 1.0:
        raise InvalidParameterError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    split_path = Path(split_file) if split_file is not None else folder / SPLIT_FILE
    files = folder_images(folder, "train" if split_path.is_file() else None, split_path)
    if max_train is not None and len(files) > max_train:  # spread over the acquisitions
        files = files[:: math.ceil(len(files) / max_train)][:max_train]
    entries = [
        {"image": str(path), "label": str(required_mask(path, folder)), "name": stem(path)} for path in files
    ]
    if len(entries) < 2:
        raise InvalidParameterError(f"{folder} has {len(entries)} training image(s); need at least 2")
    held = _hold_out([e["name"] for e in entries], val_fraction, seed, task.group_separator)
    train = [e for e in entries if e["name"] not in held]
    val = [e for e in entries if e["name"] in held]
    if phantom_count:
        train += phantom_entries(task, phantom_count, phantom_size, seed=10_000 + seed)
    source = f"{folder} ({split_path.name if split_path.is_file() else 'all images'})"
    return DataLists(train=train, val=val, paired=True, source=source)


def read_label(value: Any, labels: Mapping[str, int]) -> np.ndarray:
    """A mask file (any non-zero pixel is the structure) or an in-memory label map as uint8 ``[H, W]``."""
    if isinstance(value, (str, Path)):
        mask = read_mask(Path(value))
        return mask.astype(np.uint8) * np.uint8(min(labels.values()))
    array = np.asarray(value)
    return (array[0] if array.ndim == 3 else array).astype(np.uint8)


class LoadSegPaird(MapTransform):
    """Load ``image`` as float32 ``[H, W]`` in [0, 1] and ``label`` as a uint8 ``[H, W]`` label map.

    Goes through :func:`monai_despeckle.io.load` like every other reader of the project (not
    ``monai.transforms.LoadImaged``, whose PIL reader transposes PNGs). The two must have the same
    shape.
    """

    def __init__(self, labels: Mapping[str, int], keys: Sequence[str] = ("image", "label")) -> None:
        super().__init__(keys)
        self.labels = dict(labels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = d["image"]
        frame = read_frame(Path(image)) if isinstance(image, (str, Path)) else np.asarray(image, np.float32)
        frame = frame[0] if frame.ndim == 3 else frame
        label = read_label(d["label"], self.labels)
        if label.shape != frame.shape:
            raise InvalidParameterError(
                f"{d.get('name', 'image')}: mask is {label.shape} but the image is {frame.shape}"
            )
        d["image"], d["label"] = frame.astype(np.float32), label
        return d


class DespeckleImaged(MapTransform):
    """Despeckle ``image`` (``[H, W]`` at native resolution) with a registered method, before resizing.

    Deterministic, so :class:`~monai.data.CacheDataset` caches its result: each image is
    despeckled once per training run.
    """

    def __init__(
        self, method: str, keys: Sequence[str] = ("image",), device: str = "auto", scale: str = "native"
    ) -> None:
        super().__init__(keys)
        from monai_despeckle.inference import Despeckler

        self.method = method
        # "native": the shipped segmenters were trained on frames despeckled at their own size
        self.despeckler = Despeckler(method, device=device, progress=False, scale=scale)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from monai_despeckle.io import UltrasoundImage

        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.despeckler.run(UltrasoundImage(frames=np.asarray(d[key])[None])).frames[0]
        return d


class ResizeSegPaird(MapTransform):
    """Resize ``image`` (bilinear, anti-aliased) and ``label`` (nearest) to ``size``², add a channel axis."""

    def __init__(self, size: int, keys: Sequence[str] = ("image", "label")) -> None:
        super().__init__(keys)
        self.size = int(size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        shape = (self.size, self.size)
        image = np.clip(resize_frame(np.asarray(d["image"], np.float32), shape), 0.0, 1.0)
        label = resize_frame(np.asarray(d["label"]), shape, order=0)
        d["image"] = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
        d["label"] = torch.from_numpy(np.ascontiguousarray(label[None], dtype=np.float32))
        return d


def segmentation_transform(
    task: SegTask,
    size: int,
    train: bool,
    despeckler: str | None = None,
    augment: bool = True,
    device: str = "auto",
) -> Compose:
    """Pipeline giving ``{"image": [1, size, size] float32, "label": [1, size, size] float32 labels}``.

    Args:
        task: the task (label values).
        size: side of the network input.
        train: add the random augmentation.
        despeckler: despeckle every image with this method first (None: raw images).
        augment: with ``train``, apply the augmentation.
        device: where the despeckler runs.
    """
    keys = ["image", "label"]
    steps: list[Any] = [LoadSegPaird(task.labels)]
    if despeckler:
        steps.append(DespeckleImaged(despeckler, device=device))
    steps.append(ResizeSegPaird(size))
    if train and augment:
        steps += [
            RandFlipd(keys, prob=0.5, spatial_axis=1),  # lateral only: depth has a direction
            RandAffined(
                keys,
                prob=0.5,
                rotate_range=0.17,  # ±10°
                scale_range=0.12,
                translate_range=(0.06 * size, 0.06 * size),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandAdjustContrastd("image", prob=0.3, gamma=(0.7, 1.5)),
            RandScaleIntensityd("image", factors=0.15, prob=0.3),
            RandGaussianSmoothd("image", prob=0.15, sigma_x=(0.4, 1.0), sigma_y=(0.4, 1.0)),
            RandSpeckleNoised("image", prob=0.2, var=(0.02, 0.15)),
            Lambdad("image", lambda x: x.clamp(0.0, 1.0)),
        ]
    steps.append(EnsureTyped(keys, dtype=torch.float32, track_meta=False))
    return Compose(steps)


def write_split_record(lists: DataLists, path: Path) -> None:
    """Record which images trained and which picked the checkpoint (for the bundle's docs)."""
    record = {
        "source": lists.source,
        "train": [e["name"] for e in lists.train],
        "checkpoint_selection": [e["name"] for e in lists.val],
    }
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
