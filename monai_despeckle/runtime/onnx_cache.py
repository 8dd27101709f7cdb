"""ONNX exports of verified networks, made once and reused, and never trusted blindly.

Exporting a network with ``torch.onnx.export(dynamo=True)`` takes about ten seconds; ONNX Runtime
then runs the default skip-DAE 1.4–2× faster than eager torch on a CPU (see
``docs/benchmarks.md``). So the export of a bundle's network is written once to a cache folder.

What runs must be what was verified. A cache file lives in the user's home, where anything may
have replaced it (another model's export with its record rewritten, a truncated or edited file),
so a cached export is used only when all of these hold, and is exported again from the verified
network otherwise (with a warning):

1. its name and its record (a JSON file beside it) name the sha256 of the *verified* weights the
   network was built from, and the export settings (opset, torch version, size multiple);
2. the record's sha256 of the ``.onnx`` bytes matches the bytes read (read once, then used);
3. ONNX Runtime, on those bytes, reproduces the verified eager network on a probe batch within the
   export tolerance: a file holding another network, or edited weights, cannot pass this.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monai_despeckle.errors import DespeckleError
from monai_despeckle.io.safe_write import write_file
from monai_despeckle.runtime.backends import OnnxBackend
from monai_despeckle.runtime.conversion import ONNX_OPSET, TOLERANCE, max_abs_difference, onnx_model

__all__ = ["CACHE_ENV", "CACHE_FORMAT", "cache_dir", "cache_paths", "cached_onnx_backend", "export_settings"]

CACHE_ENV = "MONAI_DESPECKLE_CACHE"
CACHE_FORMAT = 2  # bump when the record or the checks change: older files are then ignored


def cache_dir() -> Path:
    """``$MONAI_DESPECKLE_CACHE``, else ``$XDG_CACHE_HOME/monai-despeckle`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monai-despeckle"


def export_settings(weights_sha256: str, size_multiple: int) -> dict[str, Any]:
    """Everything the exported file depends on: the verified weights and how they were exported."""
    return {
        "format": CACHE_FORMAT,
        "weights_sha256": weights_sha256.lower(),
        "opset": ONNX_OPSET,
        "torch": torch.__version__,
        "size_multiple": int(size_multiple),
    }


def cache_paths(settings: dict[str, Any]) -> tuple[Path, Path]:
    """The ``.onnx`` file and its ``.json`` record for these export settings."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:40]
    folder = cache_dir() / "onnx"
    return folder / f"{key}.onnx", folder / f"{key}.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_cached(path: Path, record: Path, settings: dict[str, Any]) -> tuple[bytes | None, str]:
    """The cached bytes if the file and its record agree with ``settings``; else None and why."""
    if not path.is_file() or not record.is_file():
        return None, ""  # nothing cached yet: not worth a warning
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
        data = path.read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"unreadable ({err})"
    if not isinstance(recorded, dict) or {k: recorded.get(k) for k in settings} != settings:
        return None, "its record names other weights or export settings"
    if recorded.get("onnx_sha256") != _digest(data):
        return None, "the file does not match its recorded checksum"
    return data, ""


def _checked_backend(data: bytes, module: nn.Module, device: torch.device, size_multiple: int) -> OnnxBackend:
    """An ONNX Runtime session on ``data``, if it reproduces ``module``; else DespeckleError."""
    backend = OnnxBackend(data, device)  # CorruptFileError (a DespeckleError) for a bad model
    difference = max_abs_difference(module, backend, size_multiple)
    if not difference <= TOLERANCE["onnx"]:
        raise DespeckleError(f"it does not reproduce the verified network (max difference {difference:.3g})")
    return backend


def cached_onnx_backend(
    module: nn.Module, device: torch.device, size_multiple: int, weights_sha256: str, *, name: str = "network"
) -> OnnxBackend:
    """An ONNX Runtime backend of ``module``, exported once per verified weights and settings.

    Args:
        module: the network, built from checksum-verified weights.
        device: where ONNX Runtime runs.
        size_multiple: the network's size multiple (recorded in the export).
        weights_sha256: sha256 of the verified weights ``module`` holds.
        name: the method's name, for warnings.

    A cached export that fails any check of the module docstring is exported again; the cache
    folder not being writable only costs the reuse (the in-memory export still runs).
    """
    settings = export_settings(weights_sha256, size_multiple)
    path, record = cache_paths(settings)
    data, problem = _read_cached(path, record, settings)
    if data is not None:
        try:
            return _checked_backend(data, module, device, size_multiple)
        except DespeckleError as err:
            problem = str(err)
    if problem:
        warnings.warn(
            f"{name}: the cached ONNX export {path} was not used ({problem}); exporting it again "
            "from the verified weights",
            stacklevel=3,
        )
    data = onnx_model(module, size_multiple).SerializeToString()
    backend = _checked_backend(data, module, device, size_multiple)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, data)
        content = json.dumps({**settings, "onnx_sha256": _digest(data), "method": name}, indent=2)
        write_file(record, content)
    except OSError:
        pass  # a read-only home: run from the in-memory export
    return backend
