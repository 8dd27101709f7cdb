"""What a bundle's own configs call: build the shared network (``network.json``), load verified
weights (``inference.json``), install trained ones (``train.json``).

Kept under this name because every bundle's configs, shipped and user-made, refer to
``$monai_despeckle.bundles.network_def(...)``, ``$monai_despeckle.bundles.load_weights(...)`` and
``$monai_despeckle.bundles.install_weights(...)``.
The bundle format itself is :mod:`monai_despeckle.bundle_format`; which folder a name means is
:mod:`monai_despeckle.resolver`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monai_despeckle.bundle_format import (
    CHECKSUM_KEY,
    DESPECKLER_CHECKSUM_KEY,
    MODEL_FILE,
    BundleInfo,
    build_network_from_def,
    load_verified_weights,
    network_definition,
    read_bundle,
    read_json,
    sha256_of,
)
from monai_despeckle.errors import BundleError
from monai_despeckle.io.safe_write import replacing_file, write_file
from monai_despeckle.resolver import despeckler_checksum
from monai_despeckle.weights import parse_state_dict

__all__ = ["install_weights", "load_weights", "network_args", "network_def"]


def _definition(bundle: str | Path, overrides: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    definition, source = network_definition(bundle)
    if not isinstance(definition, dict):
        raise BundleError("network_def must be an object with a _target_", source)
    return {**definition, **overrides}, source


def network_def(bundle: str | Path, **overrides: Any) -> nn.Module:
    """The bundle's network, built from its shared ``configs/network.json`` with ``overrides`` applied.

    ``inference.json`` and ``train.json`` both build their ``network_def`` with it (``@bundle_root``
    anchors the file wherever the config is run from; MONAI's ``%file`` macro would resolve it
    against the working folder), so the two cannot drift. The definition goes through the same
    allow-list as every bundle loaded for inference (:func:`build_network_from_def`).

    Args:
        bundle: the bundle folder.
        **overrides: keyword arguments replacing the file's (``train.json``'s ``network_args``,
            e.g. ``features`` for a narrower network; the trained ones are written back into the
            new bundle's ``network.json`` by ``monai-despeckle train``).
    """
    definition, source = _definition(bundle, overrides)
    return build_network_from_def(definition, source)


def network_args(bundle: str | Path, **overrides: Any) -> dict[str, Any]:
    """The architecture's keyword arguments in the bundle's ``network_def`` (no ``_target_``, no ``name``).

    For a training model built around the inference network (Speckle2Self's multi-view model).
    """
    definition, _ = _definition(bundle, overrides)
    return {key: value for key, value in definition.items() if key not in ("_target_", "name")}


def load_weights(network: nn.Module, bundle: BundleInfo | str | Path) -> nn.Module:
    """Load the bundle's checksum-verified weights into ``network`` (strictly); returns it in eval mode.

    Used by the bundles' ``inference.json``: ``"$monai_despeckle.bundles.load_weights(@network_def,
    @bundle_root)"``.
    """
    return load_verified_weights(network, bundle if isinstance(bundle, BundleInfo) else read_bundle(bundle))


def install_weights(checkpoint: str | Path | Any, bundle: str | Path) -> Path | None:
    """Copy a trained state_dict into ``bundle/models/model.pt`` and record its sha256 in the metadata.

    The last step of every ``train.json``: it makes the freshly trained bundle loadable by
    :func:`~monai_despeckle.resolver.load_network`. The training curve and history of the run are
    copied into ``docs/``.
    A bundle whose ``inference.json`` names a learned ``"despeckler"`` also records that
    despeckler's weights checksum (:data:`DESPECKLER_CHECKSUM_KEY`), which
    :class:`~monai_despeckle.segmentation.Segmenter` checks.
    In a distributed (``torchrun``) run only rank 0 installs; the other ranks return None.

    Args:
        checkpoint: a state_dict file (``model.pt`` of a training run) or a
            :class:`~monai_despeckle.engines.TrainResult` (its best checkpoint is used).
        bundle: the bundle folder.

    Returns:
        The path of the installed weights; None on a non-zero rank, which writes nothing.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
    else:  # the training workflow may have destroyed its process group already
        rank = int(os.environ.get("RANK", "0"))
    if rank != 0:
        return None
    run_dir = None
    if not isinstance(checkpoint, (str, Path)):  # a TrainResult
        run_dir = Path(checkpoint.output_dir)
        checkpoint = checkpoint.best_checkpoint or checkpoint.final_checkpoint
    checkpoint = Path(checkpoint)
    info = read_bundle(bundle)
    state = parse_state_dict(checkpoint, checkpoint, error=BundleError)
    target = info.path / MODEL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing_file(target) as partial:
        torch.save({k: v.contiguous() for k, v in state.items()}, partial)
    metadata = dict(info.metadata)
    metadata[CHECKSUM_KEY] = sha256_of(target)
    inference_config = info.path / "configs" / "inference.json"
    if inference_config.is_file():  # a segmenter trained on a despeckler's output pins those weights
        despeckler = read_json(inference_config).get("despeckler")
        # a segmenter names its despeckler; a despeckling bundle's "despeckler" is a config object
        despeckler_sum = despeckler_checksum(despeckler) if isinstance(despeckler, str) else None
        if despeckler_sum is not None:
            metadata[DESPECKLER_CHECKSUM_KEY] = despeckler_sum
    metadata_path = info.path / "configs" / "metadata.json"
    write_file(metadata_path, json.dumps(metadata, indent=4) + "\n")
    if run_dir is not None:
        docs = info.path / "docs"
        docs.mkdir(exist_ok=True)
        for name in ("training_curve.png", "history.csv", "config.json", "split_used.json"):
            if (run_dir / name).is_file():
                target_name = "training_config.json" if name == "config.json" else name
                (docs / target_name).write_bytes((run_dir / name).read_bytes())
    return target
