"""The one resolver: any reference to a despeckler or a segmenter → a verified, loaded object.

Every front end (the command line, :class:`~monai_despeckle.inference.Despeckler`,
:class:`~monai_despeckle.segmentation.Segmenter`, ``export``, ``evaluate``, ``train`` / ``adapt``,
the Slicer module and the MONAI Label app) turns what a user typed into a method or a network
here, and only here. A reference is, in this order:

1. an exported network file (``.onnx``, ``.ts``, ``.torchscript``, ``.pt``);
2. a method registered in code (the classical filters, plug-ins);
3. a bundle folder (``configs/metadata.json`` inside);
4. a bundle name on the **bundle search path**: the folders of ``$MONAI_DESPECKLE_BUNDLES``
   (``os.pathsep``-separated; each either holds bundles or is one), then the bundles shipped
   inside the package (found with :mod:`importlib.resources`, so a wheel and a checkout behave
   alike). The first bundle of a name wins, so a user's bundle can stand in for a shipped one.
   A despeckling bundle ``despeckle_<x>`` provides the learned method ``<x>``.

Bundle networks are built without evaluating config code and only from weights whose sha256
matches their metadata (:mod:`monai_despeckle.bundle_format`).
"""

from __future__ import annotations

import importlib.resources
import os
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

# importing the filters registers the classical methods in monai_despeckle.methods
import monai_despeckle.filters  # noqa: F401
from monai_despeckle.bundle_format import (
    CHECKSUM_KEY,
    DESPECKLE_PREFIX,
    FOLDER,
    SEGMENTATION_PREFIX,
    SHIPPED,
    USER,
    BundleInfo,
    build_network,
    is_bundle_folder,
    read_bundle,
)
from monai_despeckle.errors import BundleError, DespeckleError, UnknownMethodError
from monai_despeckle.methods import Method, MethodSpec, registered_methods
from monai_despeckle.runtime import NetworkMethod, is_exported_model
from monai_despeckle.runtime.scale import TrainedGrain

__all__ = [
    "BUNDLES_ENV",
    "FILE",
    "SHIPPED_BUNDLES_PACKAGE",
    "available_methods",
    "bundle_search_path",
    "create_method",
    "create_methods",
    "despeckler_checksum",
    "find_bundle",
    "list_bundles",
    "load_network",
    "method_spec",
    "shipped_bundles_root",
]

BUNDLES_ENV = "MONAI_DESPECKLE_BUNDLES"
SHIPPED_BUNDLES_PACKAGE = "monai_despeckle.bundled"  # the top-level bundles/ folder, packaged
FILE = "file"  # MethodSpec.source of an exported network file
KINDS = {"despeckle": DESPECKLE_PREFIX, "segment": SEGMENTATION_PREFIX}


def shipped_bundles_root() -> Path | None:
    """The folder of the bundles shipped with the package (None if this build has none)."""
    try:
        root = importlib.resources.files(SHIPPED_BUNDLES_PACKAGE)
    except ModuleNotFoundError:
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def bundle_search_path() -> list[tuple[Path, str]]:
    """The folders searched for bundles, in order, each with its source label."""
    folders = [(Path(p), USER) for p in os.environ.get(BUNDLES_ENV, "").split(os.pathsep) if p.strip()]
    shipped = shipped_bundles_root()
    if shipped is not None:
        folders.append((shipped, SHIPPED))
    return folders


def _bundles_in(folder: Path, source: str) -> list[BundleInfo]:
    """The bundles directly inside ``folder`` (or ``folder`` itself if it is one), by name."""
    if is_bundle_folder(folder):
        candidates = [folder]
    elif folder.is_dir():
        candidates = sorted(child for child in folder.iterdir() if is_bundle_folder(child))
    else:
        return []
    found = []
    for candidate in candidates:
        try:
            found.append(read_bundle(candidate, source))
        except BundleError as err:  # one broken folder must not hide the others
            warnings.warn(f"bundle skipped: {err}", stacklevel=3)
    return found


def list_bundles(kind: str | None = None) -> list[BundleInfo]:
    """Every bundle on the search path (the first of each name), optionally of one ``kind``.

    Args:
        kind: ``"despeckle"`` (``despeckle_*``), ``"segment"`` (``seg_*``) or None (all).
    """
    prefix = KINDS[kind] if kind is not None else ""
    seen: dict[str, BundleInfo] = {}
    for folder, source in bundle_search_path():
        for bundle in _bundles_in(folder, source):
            if bundle.name.startswith(prefix):
                seen.setdefault(bundle.name, bundle)
    return list(seen.values())


def find_bundle(reference: str | Path, kind: str | None = None) -> BundleInfo:
    """The bundle a reference names: a bundle folder, or a name on the search path.

    Args:
        reference: a folder, a bundle name (``despeckle_dae_skip``, ``seg_carotid``) or, for
            despeckling bundles, the method name (``dae_skip``).
        kind: ``"despeckle"``, ``"segment"`` or None (any bundle).

    Raises:
        BundleError: no such bundle; the message lists the ones there are.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, got {kind!r}")
    if is_bundle_folder(reference):
        return read_bundle(reference, FOLDER)
    text = str(reference)
    names = [text]
    if kind in (None, "despeckle") and not text.startswith(DESPECKLE_PREFIX):
        names.append(DESPECKLE_PREFIX + text)
    known = {bundle.name: bundle for bundle in list_bundles(kind)}
    for name in names:
        if name in known:
            return known[name]
    what = {"despeckle": "despeckling ", "segment": "segmentation ", None: ""}[kind]
    raise BundleError(
        f"no {what}bundle {text!r}; choose one of: {', '.join(known) or '(none found)'}, or give a "
        f"bundle folder (searched: {', '.join(str(p) for p, _ in bundle_search_path()) or 'nothing'})"
    )


def load_network(reference: str | Path | BundleInfo, device: str | torch.device = "cpu") -> nn.Module:
    """The verified network of a bundle (any kind), in eval mode on ``device``."""
    bundle = reference if isinstance(reference, BundleInfo) else find_bundle(reference)
    return build_network(bundle).to(device)


def _bundle_method(bundle: BundleInfo, **runtime: Any) -> NetworkMethod:
    """The bundle's verified network as a method; ``runtime``: device, backend... of NetworkMethod."""
    network = build_network(bundle)
    try:
        grain = TrainedGrain.from_metadata(bundle.metadata)
    except ValueError as err:
        raise BundleError(str(err), bundle.path) from None
    return NetworkMethod(
        network,
        bundle.method_name,
        weights_sha256=str(bundle.metadata[CHECKSUM_KEY]),
        trained_grain=grain,
        **runtime,
    )


def _bundle_spec(bundle: BundleInfo) -> MethodSpec:
    """The learned method a despeckling bundle provides (nothing is loaded until it is built)."""
    references = bundle.metadata.get("references") or [""]
    return MethodSpec(
        name=bundle.method_name,
        factory=partial(_bundle_method, bundle),
        description=str(bundle.metadata.get("name") or bundle.metadata.get("task", "")),
        family="learned",
        gpu=True,
        reference=str(references[0]),
        source=bundle.source,
        version=bundle.version,
    )


def _file_spec(path: Path) -> MethodSpec:
    """An exported network file as a method."""

    def build(*, device: str | torch.device = "auto", **_runtime: Any) -> NetworkMethod:
        return NetworkMethod.from_file(path, device=device)

    return MethodSpec(path.stem, build, f"exported network {path.name}", "learned", True, source=FILE)


def available_methods() -> dict[str, MethodSpec]:
    """Every method by name: the registered ones, then each trained despeckling bundle on the path."""
    specs = registered_methods()
    for bundle in list_bundles("despeckle"):
        if bundle.has_weights and bundle.method_name not in specs:
            specs[bundle.method_name] = _bundle_spec(bundle)
    return specs


def method_spec(reference: str | Path) -> MethodSpec:
    """The method a reference names (see the module docstring for the order).

    Raises:
        UnknownMethodError: nothing of that name; the message lists the choices.
        BundleError: a bundle folder that is not a despeckling bundle with weights.
    """
    text = str(reference)
    if is_exported_model(text):  # registry and bundle names have no file suffix
        return _file_spec(Path(text))
    methods = available_methods()
    if text in methods:
        return methods[text]
    if is_bundle_folder(text):
        bundle = read_bundle(text, FOLDER)
        if not bundle.has_weights:
            raise BundleError("has no trained weights (models/model.pt): train it first", bundle.path)
        return _bundle_spec(bundle)
    raise UnknownMethodError(
        f"unknown method {text!r}; choose one of: {', '.join(methods) or '(none)'} "
        "(or a bundle folder, or an exported .onnx / .ts file)"
    )


def create_method(reference: str | Path, **params: Any) -> Method:
    """Build the method ``reference`` names, with optional keyword parameters."""
    return method_spec(reference).factory(**params)


def create_methods(selection: str | Sequence[str]) -> dict[str, Method]:
    """Methods by their report name from ``"all"``, ``"m1,m2"`` or a list of references.

    ``all`` means every available method; one that cannot be built (e.g. an optional package
    missing) is skipped with a warning. Named methods must all build. A bundle folder is
    reported under its method name.

    Raises:
        DespeckleError: an unknown or duplicated name, or an empty selection.
    """
    if isinstance(selection, str):
        names = [n.strip() for n in selection.split(",") if n.strip()]
    else:
        names = [str(n) for n in selection if str(n)]
    if not names:
        raise DespeckleError("no method given")
    everything = names == ["all"]
    if everything:
        names = list(available_methods())
    if len(set(names)) != len(names):
        raise DespeckleError(f"the method list names a method twice: {','.join(names)}")
    methods: dict[str, Method] = {}
    for name in names:
        try:
            method = create_method(name)
        except DespeckleError as err:
            if not everything:
                raise
            warnings.warn(f"skipping method {name}: {err}", stacklevel=2)
            continue
        label = method.name if Path(name).is_dir() or is_exported_model(name) else name
        if label in methods:
            raise DespeckleError(f"two methods are named {label!r}")
        methods[label] = method
    return methods


def despeckler_checksum(reference: str | Path | None) -> str | None:
    """The recorded weights checksum of a learned despeckler; None for code-registered methods."""
    if not reference or str(reference) in registered_methods():
        return None
    try:
        bundle = find_bundle(reference, kind="despeckle")
    except BundleError:
        return None
    checksum = bundle.metadata.get(CHECKSUM_KEY)
    return str(checksum) if checksum else None
