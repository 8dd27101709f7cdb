"""Find, verify and load the MONAI bundles shipped in ``bundles/``.

A despeckling bundle is a MONAI bundle directory (``configs/metadata.json``,
``configs/inference.json``, ``models/model.pt``, ``docs/README.md``). Loading one here never runs
code from its configs: MONAI's ``ConfigParser`` evaluates ``$`` expressions and imports any
``_target_``, which is fine for our own bundles run with ``python -m monai.bundle`` but not for a
folder a user points us at. So :func:`load_network` reads ``network_def`` as plain JSON, accepts
only a ``_target_`` inside :mod:`monai_despeckle.networks` with literal arguments, checks the
weights' sha256 against ``metadata.json`` and loads them with ``torch.load(weights_only=True)``
into the network, strictly.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monai_despeckle.errors import BundleError

BUNDLES_ENV = "MONAI_DESPECKLE_BUNDLES"
# Despeckling bundles are named ``despeckle_<method>``; the method is registered as ``<method>``.
DESPECKLE_PREFIX = "despeckle_"
ALLOWED_TARGET_PREFIX = "monai_despeckle.networks."
MODEL_FILE = Path("models") / "model.pt"
CHECKSUM_KEY = "model_sha256"
# A bundle whose inference.json names a learned "despeckler" (a segmenter trained on despeckled
# frames) records that despeckler's weights checksum here when it is installed.
DESPECKLER_CHECKSUM_KEY = "despeckler_model_sha256"


@dataclass(frozen=True)
class BundleInfo:
    """A bundle found on disk: its folder, its metadata and the method name it provides."""

    path: Path
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        """The bundle's folder name, e.g. ``despeckle_dae_skip``."""
        return self.path.name

    @property
    def method_name(self) -> str:
        """The registry name of the despeckler, e.g. ``dae_skip``."""
        return self.name.removeprefix(DESPECKLE_PREFIX)

    @property
    def has_weights(self) -> bool:
        """Whether ``models/model.pt`` exists (a bundle checked out before training has none)."""
        return (self.path / MODEL_FILE).is_file()


def bundles_root() -> Path:
    """Where bundles are looked for: ``$MONAI_DESPECKLE_BUNDLES`` or ``bundles/`` of the checkout."""
    if os.environ.get(BUNDLES_ENV):
        return Path(os.environ[BUNDLES_ENV])
    return Path(__file__).resolve().parents[1] / "bundles"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or :class:`BundleError` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError("missing bundle file", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"not a readable JSON file ({err})", path) from None
    if not isinstance(data, dict):
        raise BundleError("expected a JSON object", path)
    return data


def read_bundle(path: str | Path) -> BundleInfo:
    """The bundle at ``path`` (must hold ``configs/metadata.json``)."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError("no such bundle folder", path)
    return BundleInfo(path=path, metadata=read_json(path / "configs" / "metadata.json"))


def find_bundles(root: str | Path | None = None, prefix: str = DESPECKLE_PREFIX) -> list[BundleInfo]:
    """Every bundle under ``root`` whose folder name starts with ``prefix``, sorted by name."""
    root = Path(root) if root is not None else bundles_root()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(prefix) and (child / "configs" / "metadata.json").is_file():
            found.append(read_bundle(child))
    return found


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(bundle: BundleInfo) -> Path:
    """Path of the bundle's weights after checking their sha256 against ``metadata.json``.

    Raises:
        BundleError: no weights, no recorded checksum, or a checksum mismatch.
    """
    weights = bundle.path / MODEL_FILE
    if not weights.is_file():
        raise BundleError("the bundle has no trained weights (models/model.pt); train it first", bundle.path)
    expected = bundle.metadata.get(CHECKSUM_KEY)
    if not isinstance(expected, str) or len(expected) != 64:
        raise BundleError(f"metadata.json records no {CHECKSUM_KEY} for models/model.pt", bundle.path)
    actual = sha256_of(weights)
    if actual != expected.lower():
        raise BundleError(
            f"checksum mismatch: models/model.pt has sha256 {actual}, metadata.json expects {expected}",
            bundle.path,
        )
    return weights


def _is_literal(value: Any) -> bool:
    """JSON made of numbers, booleans, null, lists, dicts and strings that are not config syntax."""
    if isinstance(value, str):
        return not value.startswith(("$", "@", "%"))
    if isinstance(value, list):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and not k.startswith("_") and _is_literal(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float))


def build_network_from_def(network_def: Any, source: Path) -> nn.Module:
    """Instantiate a ``network_def`` config entry without evaluating any config expression.

    Only ``{"_target_": "monai_despeckle.networks.<Name>", <literal kwargs>}`` is accepted.
    """
    if not isinstance(network_def, dict) or not isinstance(network_def.get("_target_"), str):
        raise BundleError("network_def must be an object with a _target_", source)
    target = network_def["_target_"]
    kwargs = {k: v for k, v in network_def.items() if k != "_target_"}
    if not target.startswith(ALLOWED_TARGET_PREFIX) or not _is_literal(kwargs):
        raise BundleError(
            f"refusing network_def {target!r}: only {ALLOWED_TARGET_PREFIX}* with literal arguments "
            "is loaded outside `python -m monai.bundle`",
            source,
        )
    module_name, _, attribute = target.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        network = factory(**kwargs)
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        raise BundleError(f"cannot build network_def {target!r}: {err}", source) from None
    if not isinstance(network, nn.Module):
        raise BundleError(f"network_def {target!r} did not build a torch.nn.Module", source)
    return network


def load_weights(network: nn.Module, bundle: BundleInfo | str | Path) -> nn.Module:
    """Load the bundle's checksum-verified weights into ``network`` (strictly); returns it in eval mode.

    Used by the bundles' ``inference.json`` (``"$monai_despeckle.bundles.load_weights(@network_def,
    @bundle_root)"``) and by :func:`load_network`.
    """
    if not isinstance(bundle, BundleInfo):
        bundle = read_bundle(bundle)
    weights = verify_weights(bundle)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise BundleError(f"cannot load weights ({type(err).__name__}: {err})", weights) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:
        raise BundleError(f"weights do not fit the network: {err}", weights) from None
    return network.eval()


def load_network(bundle: BundleInfo | str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The bundle's inference network with its verified weights, in eval mode on ``device``."""
    if not isinstance(bundle, BundleInfo):
        bundle = read_bundle(bundle)
    config_path = bundle.path / "configs" / "inference.json"
    network = build_network_from_def(read_json(config_path).get("network_def"), config_path)
    return load_weights(network, bundle).to(device)


def despeckler_bundle(name: str | Path | None) -> BundleInfo | None:
    """The bundle behind a despeckler name (``"dae_skip"``) or bundle folder; None for a classical method."""
    if not name:
        return None
    for folder in (Path(name), bundles_root() / f"{DESPECKLE_PREFIX}{name}"):
        if (folder / "configs" / "metadata.json").is_file():
            return read_bundle(folder)
    return None


def despeckler_checksum(name: str | Path | None) -> str | None:
    """The recorded weights checksum of a learned despeckler; None for classical methods (no weights)."""
    bundle = despeckler_bundle(name)
    return None if bundle is None else bundle.metadata.get(CHECKSUM_KEY)


def install_weights(checkpoint: str | Path | Any, bundle: str | Path) -> Path | None:
    """Copy a trained state_dict into ``bundle/models/model.pt`` and record its sha256 in the metadata.

    The last step of every ``train.json``: it makes the freshly trained bundle loadable by
    :func:`load_network`. The training curve and history of the run are copied into ``docs/``.
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
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # see load_network
        raise BundleError(f"cannot load trained weights ({type(err).__name__}: {err})", checkpoint) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError("expected a state_dict of tensors", checkpoint)
    target = info.path / MODEL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".pt.partial")
    torch.save({k: v.contiguous() for k, v in state.items()}, partial)
    os.replace(partial, target)
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
    partial_meta = metadata_path.with_suffix(".json.partial")
    partial_meta.write_text(json.dumps(metadata, indent=4) + "\n", encoding="utf-8")
    os.replace(partial_meta, metadata_path)
    if run_dir is not None:
        docs = info.path / "docs"
        docs.mkdir(exist_ok=True)
        for name in ("training_curve.png", "history.csv", "config.json", "split_used.json"):
            if (run_dir / name).is_file():
                target_name = "training_config.json" if name == "config.json" else name
                (docs / target_name).write_bytes((run_dir / name).read_bytes())
    return target
