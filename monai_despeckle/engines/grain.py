"""The speckle grain of a bundle's training inputs, recorded in its metadata for scale-aware inference.

A network is valid at the speckle grain it was trained at (:mod:`monai_despeckle.runtime.scale`).
:func:`training_grain` rebuilds the training inputs of a run exactly as the workflow makes them
(the same datalists and the same transform: resize or crop, synthetic speckle for real frames,
simulated phantoms as they are) and measures the grain of a seeded sample of them with
:func:`~monai_despeckle.metrics.speckle_size.estimate_speckle_size`. :func:`bundle_training_grain`
does so from a bundle's own ``configs/train.json`` (run with MONAI's ``ConfigParser``, as training
itself runs it: only for the project's bundles and bundles being trained, never for a folder
merely loaded for inference) and :func:`record_training_grain` writes the result into
``configs/metadata.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from monai_despeckle.bundle_format import METADATA_FILE
from monai_despeckle.data.sources import PhantomSource, parse_sources
from monai_despeckle.engines.data import (
    DataLists,
    self_supervised_transform,
)
from monai_despeckle.engines.settings import TrainConfig
from monai_despeckle.engines.workflow import pair_transform, training_datalists
from monai_despeckle.errors import InvalidImageError, InvalidParameterError
from monai_despeckle.io.safe_write import write_file
from monai_despeckle.metrics.speckle_size import estimate_speckle_size
from monai_despeckle.runtime.scale import GRAIN_KEY, PERCENTILES, GrainRange, TrainedGrain

__all__ = ["DEFAULT_SAMPLES", "bundle_training_grain", "record_training_grain", "training_grain"]

DEFAULT_SAMPLES = 240  # training inputs measured (about 9 ms each at 128²)
PHANTOM_FIELD_MM = 40.0  # field of view of the simulated phantoms (monai_despeckle.simulation)
SELF_SUPERVISED_WORKFLOWS = ("speckle2self",)
"""Workflow names (``workflow#name`` in ``train.json``) whose inputs are the noisy frames themselves."""


def _percentiles(values: list[float]) -> GrainRange:
    low, median, high = np.percentile(values, PERCENTILES)
    return GrainRange(float(low), float(median), float(high))


def training_grain(
    config: TrainConfig,
    *,
    self_supervised: bool,
    samples: int = DEFAULT_SAMPLES,
    lists: DataLists | None = None,
) -> TrainedGrain:
    """The grain of ``samples`` training inputs of a run with ``config`` (seeded by ``config.seed``).

    Args:
        config: the run's settings (data source, patch size and mode, synthetic speckle).
        self_supervised: the inputs are the noisy frames themselves (Speckle2Self) rather than
            real frames given synthetic speckle (the supervised workflows).
        samples: how many training inputs to measure (all if fewer).
        lists: the run's datalists if it already made them (simulated phantoms are not made twice).
    """
    lists = training_datalists(config) if lists is None else lists
    if self_supervised:  # the "image" of the pipeline is the full-scale input, before any view
        transform = self_supervised_transform(config.patch_size, config.patch_mode, (1.0,), augment=False)
        entries = [{"image": entry["image"]} for entry in lists.train]
    else:
        transform = pair_transform(config, lists.paired, train=True, augment=False)
        entries = list(lists.train)
    transform.set_random_state(config.seed)
    rng = np.random.default_rng(config.seed)
    picks = rng.choice(len(entries), size=min(samples, len(entries)), replace=False)
    axial, lateral = [], []
    for index in tqdm(sorted(picks), desc="training grain", unit="frame", disable=not config.progress):
        frame = np.asarray(transform(dict(entries[int(index)]))["image"], dtype=np.float32)
        try:
            grain = estimate_speckle_size(frame.reshape(frame.shape[-2:]))
        except InvalidImageError:  # a frame too dark or flat to measure says nothing about the grain
            continue
        axial.append(grain.axial_px)
        lateral.append(grain.lateral_px)
    if not axial:
        raise InvalidParameterError(f"no training input of {config.data} has measurable speckle")
    phantoms_only = all(isinstance(source, PhantomSource) for source in parse_sources(config.data))
    return TrainedGrain(
        axial=_percentiles(axial),
        lateral=_percentiles(lateral),
        pixel_mm=round(PHANTOM_FIELD_MM / config.patch_size, 4) if phantoms_only else None,
        measured_on=f"{len(axial)} training inputs of {config.data} at {config.patch_size} px",
    )


def bundle_training_grain(
    bundle: str | Path,
    dataset_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> TrainedGrain:
    """The grain of the training inputs a bundle's ``configs/train.json`` makes.

    Args:
        bundle: the bundle folder.
        dataset_dir: the data the bundle was (or is being) trained on; default: its config's.
        overrides: ``train.json`` entries overridden for the run (``{"train#patch_size": 256}``).
        samples: how many training inputs to measure.
    """
    from monai.bundle import ConfigParser

    root = Path(bundle)
    parser = ConfigParser()
    parser.read_config(str(root / "configs" / "train.json"))
    parser["bundle_root"] = str(root)
    if dataset_dir is not None:
        parser["dataset_dir"] = str(dataset_dir)
    for key, value in (overrides or {}).items():
        parser[key] = value
    parser.parse()
    known = {field.name for field in fields(TrainConfig)}
    settings = {key: parser.get_parsed_content(f"train#{key}") for key in parser["train"] if key in known}
    settings["progress"] = False
    config = TrainConfig(**settings)
    self_supervised = parser.get("workflow#name") in SELF_SUPERVISED_WORKFLOWS
    return training_grain(config, self_supervised=self_supervised, samples=samples)


def record_training_grain(bundle: str | Path, grain: TrainedGrain, *, keep_axes: bool = True) -> Path:
    """Write ``grain`` into the bundle's ``configs/metadata.json`` (atomically); returns the file.

    Args:
        keep_axes: keep the resampled axes the metadata already records (a choice tuned on
            held-out phantoms, see :mod:`monai_despeckle.runtime.scale`) rather than ``grain``'s.
    """
    path = Path(bundle) / METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8"))
    entry = grain.as_metadata()
    if keep_axes and isinstance(metadata.get(GRAIN_KEY), dict) and "resample_axes" in metadata[GRAIN_KEY]:
        entry["resample_axes"] = metadata[GRAIN_KEY]["resample_axes"]
    metadata[GRAIN_KEY] = entry
    return write_file(path, json.dumps(metadata, indent=4) + "\n")
