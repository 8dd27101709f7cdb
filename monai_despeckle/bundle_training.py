"""Train a despeckling bundle into a new bundle folder: behind ``monai-despeckle train`` and ``adapt``.

The bundle's own ``configs/train.json`` does the work (run with :func:`monai.bundle.run`, as
``python -m monai.bundle run`` would); this module only prepares a fresh copy of the bundle,
points the config at the user's data, and makes the result all-or-nothing: the new bundle is
built in a temporary sibling folder and renamed into place only once its weights are installed
and verified. The source bundle and the data are never written to.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai_despeckle import __version__
from monai_despeckle.bundle_format import (
    CHECKSUM_KEY,
    DESPECKLE_PREFIX,
    MODEL_FILE,
    BundleInfo,
    network_definition,
    read_bundle,
    read_json,
    undefined_references,
    verify_weights,
)
from monai_despeckle.data.folders import folder_images
from monai_despeckle.data.sources import parse_sources
from monai_despeckle.engines.grain import (
    SELF_SUPERVISED_WORKFLOWS,
    bundle_training_grain,
    record_training_grain,
)
from monai_despeckle.errors import BundleError, DespeckleError, InputNotFoundError, OutputPathError
from monai_despeckle.resolver import find_bundle

__all__ = ["TrainedBundle", "make_split", "train_bundle", "trains_self_supervised"]

logger = logging.getLogger(__name__)

RUN_FOLDER = Path("runs") / "train"
DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class TrainedBundle:
    """What :func:`train_bundle` produced.

    Attributes:
        path: the new bundle folder.
        weights: its ``models/model.pt`` (checksum recorded in its metadata).
        run_dir: the training run (checkpoints, history, curves) inside the bundle.
    """

    path: Path
    weights: Path
    run_dir: Path


def make_split(folder: str | Path, val_fraction: float = DEFAULT_VAL_FRACTION) -> dict[str, list[str]]:
    """A deterministic train/val split of a folder of images (sorted names; every n-th to val).

    Args:
        folder: images directly or in ``images/`` (``*_mask`` files are skipped).
        val_fraction: fraction of the images held out for validation (at least one).

    Raises:
        InputNotFoundError: fewer than two images (one to train on, one to validate).
    """
    if not 0.0 < val_fraction < 1.0:
        raise DespeckleError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    names = sorted(p.name for p in folder_images(folder))
    if len(names) < 2:
        raise InputNotFoundError(f"needs at least 2 images to train and validate, found {len(names)}", folder)
    step = max(2, round(1.0 / val_fraction))
    val = names[step - 1 :: step] or names[-1:]
    return {"train": [n for n in names if n not in set(val)], "val": val}


def trains_self_supervised(bundle: BundleInfo) -> bool:
    """Whether the bundle's ``train.json`` runs a self-supervised workflow (read as plain JSON)."""
    workflow = read_json(bundle.path / "configs" / "train.json").get("workflow")
    return isinstance(workflow, dict) and workflow.get("name") in SELF_SUPERVISED_WORKFLOWS


def _copy_configs(source: BundleInfo, target: Path) -> None:
    """Copy the bundle's configs (not its weights, runs or docs) into ``target``."""
    shutil.copytree(source.path / "configs", target / "configs")
    metadata_path = target / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata.pop(CHECKSUM_KEY, None)  # install_weights records the new one
    metadata_path.write_text(json.dumps(metadata, indent=4) + "\n", encoding="utf-8")


def _project_error(err: BaseException) -> BaseException:
    """The first of our own errors in ``err``'s cause chain (a clean message for the user), else ``err``."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, DespeckleError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return err


def _check_references(train_json: Path, settings: Mapping[str, Any], shown: Path) -> None:
    """Refuse a recipe that, with ``settings`` applied, refers to an entry it lacks (before any work).

    ``shown`` is the ``train.json`` the user knows (``train_json`` is its staged copy).
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(train_json))
    for key, value in settings.items():
        try:
            parser[key] = value
        except (KeyError, IndexError, TypeError, ValueError):
            raise BundleError(f"cannot set {key!r}: the recipe has no such entry", shown) from None
    missing = undefined_references(parser.get())
    if missing:
        names = ", ".join(f"@{ref}" for ref in missing)
        raise BundleError(f"train.json refers to entries it does not define: {names}", shown)


def _scaled_lr_decay(bundle: BundleInfo, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the recipe's learning-rate decay share when only the number of epochs is overridden.

    A recipe of 110 epochs decaying over the last 40 becomes, with ``train#max_epochs=11``, 11
    epochs decaying over the last 4 (instead of an error: the decay cannot outlast the run).
    """
    if "train#max_epochs" not in overrides or "train#lr_decay_epochs" in overrides:
        return {}
    recipe = read_json(bundle.path / "configs" / "train.json").get("train", {})
    epochs, decay = recipe.get("max_epochs"), recipe.get("lr_decay_epochs", 0)
    if not isinstance(epochs, int) or not isinstance(decay, int) or epochs < 1 or decay <= 0:
        return {}
    wanted = overrides["train#max_epochs"]
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        return {}  # TrainConfig refuses it with a clear message
    return {"train#lr_decay_epochs": round(decay * wanted / epochs)}


def _record_network(bundle: Path, overrides: Mapping[str, Any]) -> None:
    """Write the network ``train.json`` trained (overrides included) into the new bundle's ``network.json``.

    ``inference.json`` and ``train.json`` both build ``network.json``'s definition; an override such
    as ``network_def#features=[8, 16, 32]`` changes the arguments of the training run only, so the
    trained arguments (references resolved to literals) become the new bundle's definition.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    parser.update(dict(overrides))
    changed = {
        key: parser.get_parsed_content(f"network_def#{key}")
        for key in parser["network_def"]
        if not key.startswith("_") and key != "bundle"
    }
    if not changed:
        return
    definition, source = network_definition(bundle)
    if not isinstance(definition, dict):
        raise BundleError("network_def must be an object with a _target_", source)
    document = read_json(source)
    document["network_def"] = {**definition, **changed}
    source.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")


def _record_provenance(
    bundle: Path, final: Path, source: BundleInfo, data: str, overrides: Mapping[str, Any], note: str
) -> None:
    """Update the new bundle's metadata (version, changelog, data source) and write docs/README.md."""
    metadata_path = bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    base_version = str(source.metadata.get("version", "0.0.0"))
    version = f"{base_version}+{bundle.name}"
    metadata["version"] = version
    metadata["changelog"] = {version: note, **source.metadata.get("changelog", {})}
    metadata["data_source"] = f"{data} ({note})"
    metadata_path.write_text(json.dumps(metadata, indent=4) + "\n", encoding="utf-8")
    settings = "\n".join(f"- `{key}`: `{json.dumps(value)}`" for key, value in overrides.items())
    (bundle / "docs").mkdir(exist_ok=True)
    (bundle / "docs" / "README.md").write_text(
        f"# {bundle.name}\n\n{note}.\n\nMade by monai-despeckle {__version__} from the bundle "
        f"`{source.name}` (version {base_version}) with its `configs/train.json` and these "
        f"settings:\n\n{settings}\n\nThe training run (checkpoints, `history.csv`, "
        f"`training_curve.png`) is in `{RUN_FOLDER.as_posix()}/`. Use it with "
        f"`monai-despeckle denoise IN OUT --method {final}`.\n",
        encoding="utf-8",
    )


def train_bundle(
    source: str | Path | BundleInfo,
    data: str | Path,
    out: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    note: str | None = None,
    split: Mapping[str, Sequence[str]] | None = None,
) -> TrainedBundle:
    """Train ``source``'s ``train.json`` on ``data`` into the new bundle folder ``out``.

    Args:
        source: the bundle whose configs are used (a folder or a shipped bundle's name).
        data: the training data: a folder of images (with ``split.json``, or give ``split``),
            a simulated data set, ``phantoms:<kind>``, or several of these joined by ``+``.
        out: the new bundle folder; must not exist.
        overrides: ``train.json`` entries to override, e.g. ``{"train#max_epochs": 20}``.
        note: one line for the changelog and docs (default: what was trained on what).
        split: train/val file names of ``data``, written to ``docs/split.json`` in the new bundle
            and used instead of ``data/split.json``.

    Returns:
        The new, verified bundle.
    """
    from monai.bundle import run as run_bundle_config

    bundle = source if isinstance(source, BundleInfo) else find_bundle(source)
    target = Path(out)
    if target.exists():
        raise OutputPathError("already exists; choose a new bundle folder", target)
    parse_sources(data)  # an unknown phantom kind or a missing folder fails before any work
    target.parent.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = dict(overrides or {})
    settings.update(_scaled_lr_decay(bundle, settings))
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        work = staging / target.name
        _copy_configs(bundle, work)
        if split is not None:
            split_path = work / "docs" / "split.json"
            split_path.parent.mkdir(parents=True, exist_ok=True)
            split_path.write_text(json.dumps({k: list(v) for k, v in split.items()}, indent=2) + "\n")
            settings["train#split_file"] = str(split_path)
        run_dir = work / RUN_FOLDER
        _check_references(work / "configs" / "train.json", settings, bundle.path / "configs" / "train.json")
        try:
            run_bundle_config(
                config_file=str(work / "configs" / "train.json"),
                bundle_root=str(work),
                dataset_dir=str(data),
                output_dir=str(run_dir),
                **settings,
            )
        except RuntimeError as err:  # monai.bundle wraps errors of the components it builds
            raise _project_error(err) from None
        _record_network(work, settings)
        trained = read_bundle(work)
        if not trained.has_weights:
            raise BundleError("training finished without installing weights", work)
        verify_weights(trained)
        if bundle.name.startswith(DESPECKLE_PREFIX):  # the grain inference resamples frames to
            record_training_grain(work, bundle_training_grain(work, str(data), settings))
        shown = {**settings, **({"train#split_file": "docs/split.json"} if split is not None else {})}
        _record_provenance(work, target, bundle, str(data), shown, note or f"{bundle.name} trained on {data}")
        work.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TrainedBundle(target, target / MODEL_FILE, target / RUN_FOLDER)
