"""Training data: the MONAI transform pipelines and loaders of each training workflow.

The datalists come from :mod:`monai_despeckle.data` (any source: ``phantoms:<kind>``, a simulated
data set, a folder with ``split.json``, several joined by ``+``; :func:`datalists` is re-exported
here for the trainers). For the supervised models, real frames are the *clean* references and
speckle is synthesised on the fly (Bhute et al., arXiv 2403.02750: scikit-image speckle of
variance 0.1 … 0.9; or Rayleigh speckle for pix2pix, Vieira et al. 2024), while phantoms keep
their physics speckle, so one supervised model can learn from both; for Speckle2Self real frames
are the noisy inputs themselves. Self-supervised training lists never hold a clean image
(:func:`self_supervised_lists`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from copy import deepcopy
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

from monai_despeckle.data.frames import read_frame, resize_frame
from monai_despeckle.data.lists import (  # re-exported: the trainers and bundle configs name them here
    DataLists,
    datalists,
    folder_datalists,
    phantom_datalists,
    simulated_dataset_lists,
)
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.speckle import DEFAULT_SCALES
from monai_despeckle.transforms import MultiScalePerturbationd, RandRayleighSpeckled, RandSpeckleNoised

__all__ = [
    "CLEAN_KEYS",
    "NOISE_MODELS",
    "PATCH_MODES",
    "SEED_PAPER_VARIANCES",
    "DataLists",
    "LoadFramed",
    "SpeckleUnpairedd",
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

SEED_PAPER_VARIANCES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Speckle variances of the seed paper's protocol (scikit-image ``random_noise(mode="speckle")``)."""
NOISE_MODELS: tuple[str, ...] = ("gaussian", "rayleigh")
CLEAN_KEYS: tuple[str, ...] = ("label", "clean")
"""Keys that would carry a clean reference; a self-supervised training batch must hold none."""
PATCH_MODES: tuple[str, ...] = ("resize", "crop")


class LoadFramed(MapTransform):
    """Load image files as float32 ``[1, H, W]`` frames in [0, 1], optionally resized to ``size``².

    Reads through :func:`monai_despeckle.io.load` and resizes with
    :func:`~monai_despeckle.data.frames.resize_frame` (scikit-image, anti-aliased with
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
