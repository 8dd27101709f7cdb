"""ONNX exports of shipped networks, made once and reused: the fast CPU backend without the wait.

Exporting a network with ``torch.onnx.export(dynamo=True)`` takes about ten seconds; ONNX Runtime
then runs the default skip-DAE 1.4–2× faster than eager torch on a CPU (see
``docs/benchmarks.md``). So the export of a bundle's network is written once to a cache folder,
named after the bundle's weights checksum, the opset and the torch version, and opened directly
afterwards. A cached file is only used if its own sha256 matches the one recorded beside it when
it was written (an interrupted or altered file is exported again). ONNX files hold no code.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

from monai_despeckle.runtime.backends import OnnxBackend

__all__ = ["CACHE_ENV", "cache_dir", "cached_onnx_backend"]

CACHE_ENV = "MONAI_DESPECKLE_CACHE"


def cache_dir() -> Path:
    """``$MONAI_DESPECKLE_CACHE``, else ``$XDG_CACHE_HOME/monai-despeckle`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monai-despeckle"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached_onnx_backend(module: nn.Module, device: torch.device, size_multiple: int, key: str) -> OnnxBackend:
    """An ONNX Runtime backend of ``module``, exported once per ``key`` (e.g. name + weights sha256).

    Falls back to an in-memory export when the cache folder cannot be written.
    """
    from monai_despeckle.export import ONNX_OPSET, onnx_model

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{key}-opset{ONNX_OPSET}-torch{torch.__version__}")
    folder = cache_dir() / "onnx"
    path, record = folder / f"{safe}.onnx", folder / f"{safe}.sha256"
    if path.is_file() and record.is_file():
        data = path.read_bytes()
        if record.read_text(encoding="ascii").strip() == _digest(data):
            return OnnxBackend(data, device)
    data = onnx_model(module, size_multiple).SerializeToString()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for target, content in ((path, data), (record, _digest(data).encode("ascii"))):
            handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".partial")
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
            os.replace(partial, target)
    except OSError:
        pass  # a read-only home: run from the in-memory export
    return OnnxBackend(data, device)
