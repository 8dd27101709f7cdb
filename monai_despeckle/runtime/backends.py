"""Execution backends of a despeckling network: eager torch, TorchScript, ONNX Runtime.

Each backend is a callable ``[N, 1, H, W]`` float32 tensor → tensor of the same shape, fed with
frames already padded to the network's size multiple (see :mod:`monai_despeckle.runtime.padding`).
Only the torch backend runs under autocast (mixed precision); TorchScript and ONNX files run in
the precision they were exported in (float32).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from monai_despeckle.errors import CorruptFileError, InputNotFoundError, MissingDependencyError
from monai_despeckle.runtime.device import cpu_threads

SIZE_MULTIPLE_KEY = "size_multiple"  # ONNX metadata_props key / TorchScript extra file name
ONNX_SUFFIXES = (".onnx",)
MAX_SIZE_MULTIPLE = 4096  # frames are padded to a multiple of this: more would mean a bogus record


class Backend(Protocol):
    """A compiled or eager network: padded ``[N, 1, H, W]`` float32 → same shape."""

    name: str
    supports_autocast: bool

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


class TorchBackend:
    """Eager PyTorch (optionally ``torch.compile``-d), channels-last if asked.

    Args:
        module: the network; it is put in eval mode and moved to ``device``.
        device: where it runs.
        channels_last: store weights and inputs NHWC, the layout cuDNN's fastest convolution
            kernels (tensor cores) use; on the CPU it only helps some oneDNN kernels.
        compile: wrap the module with ``torch.compile`` (first batches are slow while it compiles).
    """

    name = "torch"
    supports_autocast = True

    def __init__(
        self, module: nn.Module, device: torch.device, *, channels_last: bool = False, compile: bool = False
    ) -> None:
        module = module.eval().to(device)
        if channels_last:
            # Module.to takes memory_format (it is documented) but its typed overloads leave it out
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.module = module
        self.channels_last = channels_last
        self._forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(module) if compile else module

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return self._forward(frames)


class TorchScriptBackend:
    """A TorchScript module (traced from a network, or loaded from an exported file)."""

    name = "torchscript"
    supports_autocast = False

    def __init__(self, scripted: torch.jit.ScriptModule, device: torch.device) -> None:
        self.module = scripted.eval().to(device)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return self.module(frames)


def _onnxruntime():
    if importlib.util.find_spec("onnxruntime") is None:
        raise MissingDependencyError("the ONNX backend needs onnxruntime: pip install onnxruntime")
    import onnxruntime

    return onnxruntime


class OnnxBackend:
    """ONNX Runtime inference session on the CPU (or CUDA with onnxruntime-gpu).

    Frames travel through host memory as numpy arrays; with the CUDA execution provider ORT copies
    them to the GPU itself.

    Args:
        model: an ``.onnx`` file or the serialised model bytes.
        device: ``cuda`` uses the CUDA execution provider when onnxruntime-gpu is installed.
    """

    name = "onnx"
    supports_autocast = False

    def __init__(self, model: bytes | Path, device: torch.device) -> None:
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads()
        # ORT's idle threads spin for a while after each run; torch's own threads (padding, clamp)
        # then fight them for the same cores: a 512² clamp took 6 ms instead of 0.17 (profiled)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = ort.InferenceSession(source, sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types for bad models
            where = model if isinstance(model, Path) else None
            raise CorruptFileError(f"cannot load ONNX model ({err})", where) from err
        self.input_name = self.session.get_inputs()[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(frames.detach().to("cpu", torch.float32).numpy())
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(frames.device)


def is_exported_model(path: str | Path) -> bool:
    """Whether ``path`` names an exported network file (``.onnx``, ``.ts``, ``.torchscript``, ``.pt``)."""
    return Path(path).suffix.lower() in (*ONNX_SUFFIXES, ".ts", ".torchscript", ".pt")


def load_backend(path: str | Path, device: torch.device) -> tuple[Backend, int]:
    """Open an exported network file written by :mod:`monai_despeckle.export`.

    Args:
        path: ``.onnx`` (ONNX Runtime) or a TorchScript archive (any other suffix).
        device: where it runs.

    Returns:
        The backend and the network's size multiple (stored in the file at export; 1 if absent).

    Raises:
        InputNotFoundError: no such file.
        CorruptFileError: the file is not a loadable ONNX model or TorchScript archive.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError("no such model file", path)
    if path.suffix.lower() in ONNX_SUFFIXES:
        backend = OnnxBackend(path, device)
        return backend, _size_multiple(backend.metadata.get(SIZE_MULTIPLE_KEY, ""), path)
    extra = {SIZE_MULTIPLE_KEY: ""}
    try:
        with (
            warnings.catch_warnings()
        ):  # TorchScript is deprecated in torch 2.13 but still the portable format
            warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated")
            scripted = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except (RuntimeError, ValueError) as err:
        raise CorruptFileError(f"not a TorchScript archive ({str(err).splitlines()[0]})", path) from err
    return TorchScriptBackend(scripted, device), _size_multiple(extra[SIZE_MULTIPLE_KEY], path)


def _size_multiple(recorded: str | bytes, path: Path) -> int:
    """The size multiple an exported file records (1 if none), checked to be 1 … :data:`MAX_SIZE_MULTIPLE`.

    Raises:
        CorruptFileError: naming the file, for anything but a whole number in that range.
    """
    text = recorded.decode("utf-8", "replace") if isinstance(recorded, bytes) else str(recorded)
    if not text.strip():
        return 1
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SIZE_MULTIPLE:
        raise CorruptFileError(
            f"recorded {SIZE_MULTIPLE_KEY} {text.strip()[:40]!r} is not a whole number from 1 to "
            f"{MAX_SIZE_MULTIPLE}",
            path,
        )
    return value
