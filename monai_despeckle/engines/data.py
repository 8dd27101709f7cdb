"""Training data: datalists from each source and the MONAI transform pipelines of each workflow.

Sources (:func:`datalists`):

- a folder of images (``images/`` or the folder itself) with ``split.json``
  ``{"train": [...], "val": [...]}``, e.g. BUSI or CCAUI: real B-mode frames. For the supervised
  models they are the *clean* references and speckle is synthesised on the fly (Bhute et al.,
  arXiv 2403.02750: scikit-image speckle of variance 0.1 … 0.9; or Rayleigh speckle for pix2pix,
  Vieira et al. 2024); for Speckle2Self they are the noisy inputs themselves;
- a simulated data set written by ``monai-despeckle simulate`` (``datalist.json`` with
  ``training`` / ``validation`` lists of ``image`` (speckled B-mode) and ``clean`` files);
- ``"phantoms:breast"`` / ``"phantoms:carotid"`` / ``"phantoms:mixed"``: phantoms simulated in memory by
  :mod:`monai_despeckle.simulation` (speckled B-mode + speckle-free reference pairs);
- several of these joined by ``+`` (e.g. ``"../shared/data/busi+phantoms:mixed"``): their train
  and validation lists put together. Real frames then get synthetic speckle while the phantoms keep
  their physics speckle, so one supervised model learns from both.

Every datalist entry is a dict with ``"image"`` (a path or a ``[1, H, W]`` array) and, for
paired sources, ``"label"``: the clean reference. Self-supervised training lists never hold a
clean image (:func:`self_supervised_lists`).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import CacheDataset, DataLoader, Dataset, DistributedSampler
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    EnsureTyped,
    MapTransform,
    OneOf,
    RandFlipd,
    RandSpatialCropd,
    SpatialPadd,
    Transform,
)
from monai.transforms.transform import Randomizable

from monai_despeckle.errors import CorruptFileError, InputNotFoundError, InvalidParameterError
from monai_despeckle.evaluation.datasets import image_files, read_frame, resize_frame
from monai_despeckle.options import PHANTOM_PREFIX, phantom_kind
from monai_despeckle.simulation import PHANTOMS, sample_seed
from monai_despeckle.speckle import DEFAULT_SCALES
from monai_despeckle.transforms import MultiScalePerturbationd, RandRayleighSpeckled, RandSpeckleNoised

__all__ = [
    "CLEAN_KEYS",
    "NOISE_MODELS",
    "PHANTOM_PREFIX",
    "SEED_PAPER_VARIANCES",
    "SOURCE_SEPARATOR",
    "DataLists",
    "LoadFramed",
    "SpeckleUnpairedd",
    "combine_datalists",
    "datalists",
    "fixed_dataset",
    "folder_datalists",
    "phantom_datalists",
    "self_supervised_lists",
    "self_supervised_transform",
    "simulated_dataset_lists",
    "supervised_transform",
    "train_loader",
    "view_keys",
]

SOURCE_SEPARATOR = "+"
"""Joins several training sources into one (see :func:`datalists`)."""
SEED_PAPER_VARIANCES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Speckle variances of the seed paper's protocol (scikit-image ``random_noise(mode="speckle")``)."""
NOISE_MODELS: tuple[str, ...] = ("gaussian", "rayleigh")
CLEAN_KEYS: tuple[str, ...] = ("label", "clean")
"""Keys that would carry a clean reference; a self-supervised training batch must hold none."""
PATCH_MODES: tuple[str, ...] = ("resize", "crop")


@dataclass
class DataLists:
    """Train and validation datalists of one source.

    Attributes:
        train: training entries.
        val: validation entries.
        paired: True if every entry carries the clean reference under ``"label"`` (simulated
            pairs); False if some (or all) entries hold only ``"image"``: a real frame (a clean
            reference for supervised training with synthetic speckle, the noisy input for
            self-supervised training). Entries with a ``"label"`` are pairs in either case.
        source: where the lists came from (for messages and provenance).
    """

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    paired: bool
    source: str


class LoadFramed(MapTransform):
    """Load image files as float32 ``[1, H, W]`` frames in [0, 1], optionally resized to ``size``².

    Reads through :func:`monai_despeckle.io.load` and resizes with the evaluation harness's
    :func:`~monai_despeckle.evaluation.datasets.resize_frame` (scikit-image, anti-aliased with
    reflected borders), so training and evaluation frames are prepared identically. Not
    ``monai.transforms.LoadImaged`` + ``Resized``: MONAI's PIL reader transposes PNGs (rows must
    stay depth), keeps colour channels, and ``Resized``'s anti-aliasing zero-pads, darkening the
    frame's border. A multi-frame file contributes its first frame. Entries that already hold an
    array (in-memory phantoms) are only resized and given a channel axis.

    Args:
        keys: keys of the paths (or ``[H, W]`` / ``[1, H, W]`` arrays) to load.
        size: side of the square output, or None to keep the native size.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self, keys: KeysCollection, size: int | None = None, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.size = size

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            frame = (
                read_frame(Path(value)) if isinstance(value, (str, Path)) else np.asarray(value, np.float32)
            )
            frame = frame[0] if frame.ndim == 3 else frame
            if self.size is not None:
                frame = np.clip(resize_frame(frame, (self.size, self.size)), 0.0, 1.0)
            d[key] = torch.from_numpy(np.ascontiguousarray(frame[None], dtype=np.float32))
        return d


def _check_disjoint(train: Sequence[str], val: Sequence[str], where: Path) -> None:
    """A validation image must never be trained on: refuse splits whose lists overlap."""
    shared = sorted({Path(n).name for n in train} & {Path(n).name for n in val})
    if shared:
        raise InvalidParameterError(
            f"{len(shared)} image(s) are in both the training and the validation list "
            f"(e.g. {', '.join(shared[:3])}); fix the split",
            where,
        )


def _limit(entries: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    return entries if n is None else entries[:n]


def folder_datalists(
    folder: str | Path,
    split_file: str | Path | None = None,
    max_train: int | None = None,
    max_val: int | None = None,
) -> DataLists:
    """Train/val lists of a folder of real images with ``split.json`` (e.g. ``/work/shared/data/busi``).

    Args:
        folder: the data folder (images directly or in ``images/``; ``*_mask`` files are skipped).
        split_file: ``{"train": [...], "val": [...]}`` of file names; default ``folder/split.json``.
        max_train: keep the first ``max_train`` training images (None: all).
        max_val: keep the first ``max_val`` validation images (None: all).
    """
    folder = Path(folder)
    split_path = Path(split_file) if split_file is not None else folder / "split.json"
    lists = {split: image_files(folder, split, split_path) for split in ("train", "val")}
    _check_disjoint([p.name for p in lists["train"]], [p.name for p in lists["val"]], split_path)
    return DataLists(
        train=_limit([{"image": str(p)} for p in lists["train"]], max_train),
        val=_limit([{"image": str(p)} for p in lists["val"]], max_val),
        paired=False,
        source=str(folder),
    )


def simulated_dataset_lists(
    folder: str | Path, max_train: int | None = None, max_val: int | None = None
) -> DataLists:
    """Train/val pairs of a data set written by :func:`monai_despeckle.simulation.write_dataset`.

    ``image`` is the speckled B-mode and ``label`` the speckle-free reference (the data set's
    ``clean`` file; its segmentation ``label`` is not used here).
    """
    folder = Path(folder)
    path = folder / "datalist.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFoundError("datalist.json not found", path) from None
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"not valid JSON ({err})", path) from None
    lists: dict[str, list[dict[str, Any]]] = {}
    for split in ("training", "validation"):
        entries = []
        for item in table.get(split, []):
            if not isinstance(item, dict) or "image" not in item or "clean" not in item:
                raise CorruptFileError(f"every {split!r} entry needs 'image' and 'clean' paths", path)
            entries.append({"image": str(folder / item["image"]), "label": str(folder / item["clean"])})
        lists[split] = entries
    _check_disjoint([e["image"] for e in lists["training"]], [e["image"] for e in lists["validation"]], path)
    return DataLists(
        train=_limit(lists["training"], max_train),
        val=_limit(lists["validation"], max_val),
        paired=True,
        source=str(folder),
    )


MIXED_PHANTOMS = "mixed"
"""Phantom kind that alternates every simulated anatomy."""


def phantom_datalists(kind: str, n: int, size: int, seed: int = 0, val_fraction: float = 0.25) -> DataLists:
    """``n`` phantoms simulated in memory, split into train and validation.

    Phantom ``i`` is ``PHANTOMS[kind](size, sample_seed(seed, i))``, the same as sample ``i`` of
    ``monai-despeckle simulate``; the last ``round(n · val_fraction)`` (at least 1) are validation.
    Kind ``"mixed"`` alternates the anatomies (breast, carotid, breast, ...), so one model sees both.

    Args:
        kind: ``"breast"``, ``"carotid"`` or ``"mixed"``.
        n: number of phantoms (≥ 2: one for training, one for validation).
        size: side of the square images.
        seed: data-set seed.
        val_fraction: fraction of validation phantoms, in (0, 1).
    """
    kinds = list(PHANTOMS) if kind == MIXED_PHANTOMS else [kind]
    if kinds[0] not in PHANTOMS:
        choices = ", ".join([*PHANTOMS, MIXED_PHANTOMS])
        raise InvalidParameterError(f"unknown phantom kind {kind!r}; choose one of: {choices}")
    if int(n) != n or n < 2:
        raise InvalidParameterError(f"phantom data needs n >= 2 (train and validation), got {n!r}")
    if not 0.0 < val_fraction < 1.0:
        raise InvalidParameterError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = min(max(round(n * val_fraction), 1), n - 1)
    entries = []
    for index in range(n):
        sample = PHANTOMS[kinds[index % len(kinds)]](size, sample_seed(seed, index))
        entries.append({"image": sample.bmode[None].astype(np.float32), "label": sample.clean[None]})
    return DataLists(
        train=entries[: n - n_val], val=entries[n - n_val :], paired=True, source=f"{PHANTOM_PREFIX}{kind}"
    )


def datalists(
    source: str | Path,
    *,
    size: int = 128,
    seed: int = 0,
    phantom_count: int = 64,
    val_fraction: float = 0.25,
    max_train: int | None = None,
    max_val: int | None = None,
    split_file: str | Path | None = None,
) -> DataLists:
    """Train/val lists of any source: ``"phantoms:<kind>"``, a simulated data set, or an image folder.

    Args:
        source: ``"phantoms:breast"``, ``"phantoms:carotid"``, ``"phantoms:mixed"``, a folder with
            ``datalist.json`` (simulated data set) or a folder with ``split.json`` (real images);
            or several of these joined by ``+`` (:func:`combine_datalists`; the options below
            apply to each, ``max_train`` / ``max_val`` too).
        size: phantom image size (phantoms only).
        seed: phantom data-set seed (phantoms only).
        phantom_count: number of phantoms (phantoms only).
        val_fraction: validation fraction (phantoms only; folders carry their own split).
        max_train: keep at most this many training entries.
        max_val: keep at most this many validation entries.
        split_file: split JSON of a folder of real images (default ``folder/split.json``).
    """
    text = str(source)
    if SOURCE_SEPARATOR in text and not Path(text).exists():
        parts = [part.strip() for part in text.split(SOURCE_SEPARATOR)]
        if any(not part for part in parts):
            raise InvalidParameterError(f"empty source in {text!r}; join sources as SOURCE+SOURCE")
        return combine_datalists(
            [
                datalists(
                    part,
                    size=size,
                    seed=seed,
                    phantom_count=phantom_count,
                    val_fraction=val_fraction,
                    max_train=max_train,
                    max_val=max_val,
                    split_file=split_file,
                )
                for part in parts
            ]
        )
    kind = phantom_kind(text)
    if kind is not None:
        lists = phantom_datalists(kind, phantom_count, size, seed, val_fraction)
        return DataLists(_limit(lists.train, max_train), _limit(lists.val, max_val), True, lists.source)
    folder = Path(source)
    if not folder.is_dir():
        raise InputNotFoundError(
            f"training data folder does not exist (or use {PHANTOM_PREFIX}breast / {PHANTOM_PREFIX}carotid)",
            folder,
        )
    if (folder / "datalist.json").is_file():
        return simulated_dataset_lists(folder, max_train, max_val)
    return folder_datalists(folder, split_file, max_train=max_train, max_val=max_val)


def combine_datalists(parts: Sequence[DataLists]) -> DataLists:
    """One source made of several: their training lists, then their validation lists, in order.

    The result is ``paired`` only if every part is; otherwise each entry keeps its own nature (an
    entry with ``"label"`` is a pair, one without is a real frame), which
    :func:`supervised_transform` and :func:`self_supervised_lists` honour entry by entry.
    """
    if not parts:
        raise InvalidParameterError("no training source given")
    return DataLists(
        train=[entry for part in parts for entry in part.train],
        val=[entry for part in parts for entry in part.val],
        paired=all(part.paired for part in parts),
        source=SOURCE_SEPARATOR.join(part.source for part in parts),
    )


def self_supervised_lists(lists: DataLists) -> DataLists:
    """Training entries reduced to the noisy ``image``: self-supervised training sees no clean image.

    Validation entries keep (paired sources) or get (real folders, via synthetic speckle in the
    validation transform) a clean reference: it is used to *measure*, never to train.
    """
    train = [{"image": entry["image"]} for entry in lists.train]
    return DataLists(train=train, val=lists.val, paired=lists.paired, source=lists.source)


def _load(keys: list[str], size: int, patch_mode: str, train: bool, missing: bool = False) -> list[Any]:
    """Loading and patch extraction steps (``missing``: entries may lack some of ``keys``)."""
    if patch_mode not in PATCH_MODES:
        raise InvalidParameterError(f"patch_mode must be one of {', '.join(PATCH_MODES)}, got {patch_mode!r}")
    if patch_mode == "resize":  # the seed paper resizes whole BUSI frames to 128 × 128
        return [LoadFramed(keys, size, allow_missing_keys=missing)]
    crop = (
        RandSpatialCropd(keys, (size, size), random_size=False, allow_missing_keys=missing)
        if train
        else CenterSpatialCropd(keys, size, allow_missing_keys=missing)
    )
    pad = SpatialPadd(keys, (size, size), mode="reflect", allow_missing_keys=missing)
    return [LoadFramed(keys, allow_missing_keys=missing), pad, crop]


class SpeckleUnpairedd(Randomizable, Transform):
    """Give a real frame its synthetic speckle: ``label`` = the clean frame, ``image`` = its speckled copy.

    Entries that already hold a ``label`` (simulated pairs, with their physics speckle) pass
    unchanged, so one pipeline serves a source mixing real frames and pairs.

    Args:
        noise: the random speckle transform applied to ``image`` (see :func:`supervised_transform`).
    """

    def __init__(self, noise: Any) -> None:
        self.noise = noise

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> Any:
        self.noise.set_random_state(seed, state)
        return self

    def randomize(self, data: Any) -> None:  # the wrapped noise transform draws its own numbers
        pass

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        if "label" in data:
            return dict(data)
        out = dict(data)
        out["label"] = deepcopy(out["image"])
        return self.noise(out)


def _noise(noise: str, variances: Sequence[float], rayleigh_strength: float | Sequence[float]) -> Any:
    if noise == "gaussian":
        if not variances:
            raise InvalidParameterError("variances must name at least one speckle variance")
        # one variance of the set per image, each equally likely (the seed paper's noise levels)
        return OneOf([RandSpeckleNoised("image", prob=1.0, var=float(v)) for v in variances])
    if noise == "rayleigh":
        return RandRayleighSpeckled("image", prob=1.0, strength=rayleigh_strength)
    raise InvalidParameterError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")


def supervised_transform(
    paired: bool,
    size: int = 128,
    train: bool = True,
    patch_mode: str = "resize",
    noise: str = "gaussian",
    variances: Sequence[float] = SEED_PAPER_VARIANCES,
    rayleigh_strength: float | Sequence[float] = 1.0,
    augment: bool = True,
) -> Compose:
    """Pipeline giving ``{"image": speckled [1, size, size], "label": clean [1, size, size]}``.

    For a real-image source (``paired=False``) the loaded frame is the clean ``label`` and the
    ``image`` is its copy with synthetic speckle: scikit-image speckle (``noise="gaussian"``) of a
    variance drawn from ``variances``, or Rayleigh speckle (``noise="rayleigh"``). Paired sources
    already hold both; so do the paired entries of a mixed source, which pass unchanged.

    Args:
        paired: every entry carries ``image`` and ``label`` (simulated pairs).
        size: patch side in pixels.
        train: training pipeline (random crop and lateral flip) or validation (deterministic
            apart from the synthetic speckle; see :func:`fixed_dataset`).
        patch_mode: ``"resize"`` the whole frame to the patch (seed paper) or ``"crop"`` a patch.
        noise: synthetic speckle model for real images: ``"gaussian"`` or ``"rayleigh"``.
        variances: speckle variances to draw from (``noise="gaussian"``).
        rayleigh_strength: Rayleigh strength or ``(min, max)`` range (``noise="rayleigh"``).
        augment: flip left-right at random in training (never up-down: depth has a direction).
    """
    keys = ["image", "label"]
    steps: list[Any] = _load(keys, size, patch_mode, train, missing=not paired)
    if train and augment:
        steps.append(RandFlipd(keys, prob=0.5, spatial_axis=1, allow_missing_keys=not paired))
    if not paired:  # entry by entry: real frames get speckle, pairs of a mixed source pass
        steps.append(SpeckleUnpairedd(_noise(noise, variances, rayleigh_strength)))
    steps.append(EnsureTyped(["image", "label"], dtype=torch.float32, track_meta=False))
    return Compose(steps)


def view_keys(num_views: int = len(DEFAULT_SCALES), key: str = "image") -> list[str]:
    """Names of the multi-scale views :class:`~monai_despeckle.transforms.MultiScalePerturbationd` adds."""
    return [MultiScalePerturbationd.view_key(key, i) for i in range(num_views)]


def self_supervised_transform(
    size: int = 128,
    patch_mode: str = "resize",
    scales: Sequence[float] = DEFAULT_SCALES,
    augment: bool = True,
    normalization: str = "per_view",
) -> Compose:
    """Speckle2Self training pipeline: noisy ``image`` → patch → flip → multi-scale views.

    The augmentation is applied before the views are made, so all views of an image share it (as
    in the paper). Output keys: ``image`` and ``image_view_0`` … (:func:`view_keys`).
    ``normalization``: of the views, ``"per_view"`` or ``"shared"``
    (:mod:`monai_despeckle.speckle.multiscale`).
    """
    steps: list[Any] = _load(["image"], size, patch_mode, True)
    if augment:
        steps.append(RandFlipd("image", prob=0.5, spatial_axis=1))
    steps += [
        EnsureTyped("image", dtype=torch.float32, track_meta=False),
        MultiScalePerturbationd("image", scales=scales, normalization=normalization),
        EnsureTyped(view_keys(len(scales)), dtype=torch.float32, track_meta=False),
    ]
    return Compose(steps)


def fixed_dataset(entries: Sequence[Mapping[str, Any]], transform: Compose, seed: int) -> Dataset:
    """Apply a (random) pipeline once with a fixed seed and keep the results.

    Validation must compare epochs on the *same* noisy images; drawing new speckle at every
    validation would add noise to the learning curve and to the choice of the best checkpoint.
    """
    transform.set_random_state(seed)
    return Dataset([transform(dict(entry)) for entry in entries])


def train_loader(
    entries: Sequence[Mapping[str, Any]],
    transform: Compose,
    batch_size: int,
    seed: int,
    num_workers: int = 0,
    cache_rate: float = 1.0,
    distributed: bool = False,
) -> DataLoader:
    """Shuffled training loader over a :class:`~monai.data.CacheDataset` (loading and resizing cached).

    Args:
        entries: the training datalist.
        transform: the training pipeline.
        batch_size: images per batch (per process in a distributed run).
        seed: seeds the pipeline's random transforms and the shuffling.
        num_workers: loader worker processes.
        cache_rate: fraction of the data whose deterministic prefix is cached in memory.
        distributed: give this process of an initialised ``torch.distributed`` group its share of
            every epoch through a :class:`monai.data.DistributedSampler`: one seeded shuffle of the
            whole set per epoch, the same on every rank (the ``monai.engines`` trainer calls its
            ``set_epoch`` at every epoch start), padded so that every rank runs the same number
            of iterations, as DDP requires. The random transforms are seeded ``seed + rank`` so
            the ranks draw different augmentations and speckle.
    """
    if not entries:
        raise InvalidParameterError("the training list is empty")
    rank = torch.distributed.get_rank() if distributed else 0
    transform.set_random_state(seed + rank)
    dataset = CacheDataset(list(entries), transform, cache_rate=cache_rate, num_workers=None, progress=False)
    if distributed:
        sampler = DistributedSampler(dataset, even_divisible=True, shuffle=True, seed=seed)
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=False
        )
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        generator=generator,
        drop_last=False,
    )
