"""What a MONAI bundle folder is, and how its network is built and verified.

A bundle is a folder with ``configs/metadata.json`` (the one test: :func:`is_bundle_folder`),
``configs/inference.json``, ``configs/network.json`` (the ``network_def`` that ``inference.json``
and ``train.json`` both build, so they cannot drift) and, once trained, ``models/model.pt``. A
bundle of the older layout keeps a literal ``network_def`` in ``inference.json`` instead.
Loading one here never runs code from its configs: MONAI's ``ConfigParser`` evaluates ``$``
expressions and imports any ``_target_``, which is fine for our own bundles run with
``python -m monai.bundle`` but not for a folder a user points us at. So :func:`build_network`
reads ``network_def`` as plain JSON (:func:`network_definition`) and accepts only a ``_target_``
inside :mod:`monai_despeckle.networks` with literal arguments, and
:func:`load_verified_weights` loads exactly the bytes whose sha256 matched ``metadata.json``
(``torch.load(weights_only=True)``, strict). Which folder a *name* means is decided elsewhere, in
:mod:`monai_despeckle.resolver`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from monai_despeckle.errors import BundleError
from monai_despeckle.weights import load_into, parse_state_dict

__all__ = [
    "ALLOWED_TARGET_PREFIX",
    "CHECKSUM_KEY",
    "DESPECKLER_CHECKSUM_KEY",
    "DESPECKLE_PREFIX",
    "FOLDER",
    "METADATA_FILE",
    "MODEL_FILE",
    "SEGMENTATION_PREFIX",
    "SHIPPED",
    "USER",
    "BundleInfo",
    "build_network",
    "build_network_from_def",
    "is_bundle_folder",
    "load_verified_weights",
    "network_definition",
    "read_bundle",
    "read_json",
    "sha256_of",
    "undefined_references",
    "verify_weights",
]

# Despeckling bundles are named ``despeckle_<method>``; the method is registered as ``<method>``.
DESPECKLE_PREFIX = "despeckle_"
SEGMENTATION_PREFIX = "seg_"
ALLOWED_TARGET_PREFIX = "monai_despeckle.networks."
METADATA_FILE = Path("configs") / "metadata.json"
INFERENCE_FILE = Path("configs") / "inference.json"
NETWORK_FILE = Path("configs") / "network.json"
MODEL_FILE = Path("models") / "model.pt"
CHECKSUM_KEY = "model_sha256"
# A bundle whose inference.json names a learned "despeckler" (a segmenter trained on despeckled
# frames) records that despeckler's weights checksum here when it is installed.
DESPECKLER_CHECKSUM_KEY = "despeckler_model_sha256"

# Where a bundle was found (shown by ``monai-despeckle methods``).
SHIPPED = "shipped"  # inside the installed package
USER = "user folder"  # a folder of $MONAI_DESPECKLE_BUNDLES
FOLDER = "folder"  # a bundle folder named explicitly


@dataclass(frozen=True)
class BundleInfo:
    """A bundle found on disk: its folder, its metadata and where it was found."""

    path: Path
    metadata: dict[str, Any]
    source: str = FOLDER

    @property
    def name(self) -> str:
        """The bundle's folder name, e.g. ``despeckle_dae_skip``."""
        return self.path.name

    @property
    def method_name(self) -> str:
        """The registry name of the despeckler, e.g. ``dae_skip``."""
        return self.name.removeprefix(DESPECKLE_PREFIX)

    @property
    def version(self) -> str:
        """The version recorded in ``metadata.json`` (``"?"`` if none)."""
        return str(self.metadata.get("version", "?"))

    @property
    def has_weights(self) -> bool:
        """Whether ``models/model.pt`` exists (a bundle checked out before training has none)."""
        return (self.path / MODEL_FILE).is_file()

    def inference_config(self) -> dict[str, Any]:
        """``configs/inference.json`` as plain JSON (nothing evaluated)."""
        return read_json(self.path / INFERENCE_FILE)


def is_bundle_folder(path: str | Path) -> bool:
    """Whether ``path`` is a bundle folder (holds ``configs/metadata.json``)."""
    return (Path(path) / METADATA_FILE).is_file()


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


def read_bundle(path: str | Path, source: str = FOLDER) -> BundleInfo:
    """The bundle at ``path`` (must hold ``configs/metadata.json``)."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError("no such bundle folder", path)
    return BundleInfo(path=path, metadata=read_json(path / METADATA_FILE), source=source)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _expected_checksum(bundle: BundleInfo) -> str:
    expected = bundle.metadata.get(CHECKSUM_KEY)
    if not isinstance(expected, str) or len(expected) != 64:
        raise BundleError(f"metadata.json records no {CHECKSUM_KEY} for models/model.pt", bundle.path)
    return expected.lower()


def _verified_bytes(bundle: BundleInfo) -> bytes:
    """The bytes of ``models/model.pt``, read once and checked against ``metadata.json``."""
    weights = bundle.path / MODEL_FILE
    if not weights.is_file():
        raise BundleError("the bundle has no trained weights (models/model.pt); train it first", bundle.path)
    expected = _expected_checksum(bundle)
    data = weights.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise BundleError(
            f"checksum mismatch: models/model.pt has sha256 {actual}, metadata.json expects {expected}",
            bundle.path,
        )
    return data


def verify_weights(bundle: BundleInfo) -> Path:
    """Path of the bundle's weights after checking their sha256 against ``metadata.json``.

    Raises:
        BundleError: no weights, no recorded checksum, or a checksum mismatch.
    """
    _verified_bytes(bundle)
    return bundle.path / MODEL_FILE


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
        # a dynamic import by design: the allow-list above restricts it to monai_despeckle.networks
        factory = getattr(importlib.import_module(module_name), attribute)
        network = factory(**kwargs)
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        raise BundleError(f"cannot build network_def {target!r}: {err}", source) from None
    if not isinstance(network, nn.Module):
        raise BundleError(f"network_def {target!r} did not build a torch.nn.Module", source)
    return network


def load_verified_weights(network: nn.Module, bundle: BundleInfo) -> nn.Module:
    """Load the bundle's checksum-verified weights into ``network`` (strictly); returns it in eval mode.

    The file is read once; the bytes whose sha256 matched are the bytes deserialised, so the
    weights cannot change between the check and the load.
    """
    weights = bundle.path / MODEL_FILE
    state = parse_state_dict(_verified_bytes(bundle), weights, error=BundleError)
    load_into(network, state, weights)
    return network.eval()


def network_definition(bundle: str | Path) -> tuple[Any, Path]:
    """The bundle's ``network_def`` as plain JSON (nothing evaluated) and the file it came from.

    ``configs/network.json`` when the bundle has one, else the literal ``network_def`` of
    ``configs/inference.json`` (the older layout). Whether it may be built is
    :func:`build_network_from_def`'s decision.
    """
    root = Path(bundle)
    path = root / NETWORK_FILE
    if not path.is_file():
        path = root / INFERENCE_FILE
    return read_json(path).get("network_def"), path


def build_network(bundle: BundleInfo) -> nn.Module:
    """The bundle's inference network (its ``network_def``) with its verified weights, in eval mode."""
    network = build_network_from_def(*network_definition(bundle.path))
    return load_verified_weights(network, bundle)


# "@id" or "@id#key#0" inside a config string, plain or in a "$" expression (MONAI's reference syntax)
_REFERENCE = re.compile(r"@([A-Za-z_][\w#]*)")


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return _REFERENCE.findall(node) if isinstance(node, str) else []


def _defined(config: Any, reference: str) -> bool:
    node = config
    for key in reference.split("#"):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


def undefined_references(config: dict[str, Any]) -> list[str]:
    """The ``@`` references of a bundle config (read as plain JSON) that name no entry of it, sorted.

    Checked before a run starts, so a recipe that refers to a setting it lacks fails at once with
    the names, instead of after the data are loaded with MONAI's resolver traceback.
    """
    return sorted({ref for ref in _references(config) if not _defined(config, ref)})
