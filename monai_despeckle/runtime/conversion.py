"""Turn a network (an ``nn.Module``) into a runnable backend: eager, traced TorchScript or ONNX.

The converted graph is the bare network (``[N, 1, H, W]`` → same shape, H and W multiples of its
``size_multiple``); :class:`~monai_despeckle.runtime.NetworkMethod` pads and crops around it, so
one conversion serves every frame size. ONNX models come from the ``torch.export``-based exporter
with dynamic batch, height and width (opset :data:`ONNX_OPSET`); TorchScript modules are traced.

:func:`max_abs_difference` checks a conversion against eager PyTorch on a frame size it was not
traced with: TorchScript runs the same kernels (:data:`TOLERANCE` 1e-5); ONNX Runtime's other
convolution kernels and operator fusion reorder float32 sums (1e-4). Writing conversions to files
for users is :mod:`monai_despeckle.export`; caching them is :mod:`~monai_despeckle.runtime.onnx_cache`.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from monai_despeckle.errors import InvalidParameterError, MissingDependencyError
from monai_despeckle.options import BACKENDS
from monai_despeckle.runtime.backends import (
    SIZE_MULTIPLE_KEY,
    Backend,
    OnnxBackend,
    TorchBackend,
    TorchScriptBackend,
)

__all__ = [
    "EXAMPLE_SIZE",
    "ONNX_OPSET",
    "TOLERANCE",
    "build_backend",
    "example_input",
    "max_abs_difference",
    "onnx_model",
    "quiet",
    "trace_torchscript",
]

ONNX_OPSET = 18
TOLERANCE = {"torchscript": 1e-5, "onnx": 1e-4}
EXAMPLE_SIZE = 64  # frames of about this size are traced


def example_input(size_multiple: int, *, extra: int = 0, seed: int = 0) -> torch.Tensor:
    """A random batch ``[2, 1, H, W]`` with H ≠ W, both multiples of ``size_multiple``.

    Two frames and unequal sides keep the exporter from specialising the batch or tying H to W.
    ``extra`` adds that many multiples to each side (a second, different size for checking).
    """
    side = size_multiple * max(1, math.ceil(EXAMPLE_SIZE / size_multiple)) + extra * size_multiple
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((2, 1, side, side + size_multiple), generator=generator)


def cpu_copy(module: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode (converting must not move the caller's module)."""
    return copy.deepcopy(module).to("cpu", torch.float32).eval()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence exporter chatter (deprecations, tracer notes, optimiser log lines): not the user's code."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def trace_torchscript(module: nn.Module, size_multiple: int) -> torch.jit.ScriptModule:
    """Trace ``module`` (a CPU float32 copy) on :func:`example_input` into TorchScript."""
    with quiet(), torch.no_grad():
        return torch.jit.trace(cpu_copy(module), example_input(size_multiple))


def require(*packages: str) -> None:
    """Raise :class:`MissingDependencyError` naming the ``packages`` that are not installed."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"ONNX export needs {', '.join(missing)}: pip install 'monai-despeckle[onnx]'"
        )


def onnx_model(module: nn.Module, size_multiple: int, *, opset: int = ONNX_OPSET) -> Any:
    """The network as an ``onnx.ModelProto`` with dynamic batch, height and width.

    Args:
        module: the network (a CPU float32 copy is exported).
        size_multiple: recorded in the model's metadata.
        opset: ONNX opset (≥ 17).

    Raises:
        MissingDependencyError: onnx / onnxscript are not installed.
    """
    require("onnx", "onnxscript")
    dynamic = torch.export.Dim.DYNAMIC
    with quiet():
        program = torch.onnx.export(
            cpu_copy(module),
            (example_input(size_multiple),),
            input_names=["frames"],
            output_names=["despeckled"],
            dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    assert program is not None  # export returns None only with dynamo=False
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = SIZE_MULTIPLE_KEY, str(size_multiple)
    return model


def max_abs_difference(module: nn.Module, backend: Backend, size_multiple: int) -> float:
    """Largest |backend − eager| on random frames of a size the conversion was not traced with."""
    frames = example_input(size_multiple, extra=1, seed=1)
    reference = cpu_copy(module)
    with torch.inference_mode(), quiet():
        expected = reference(frames)
        actual = backend(frames).to("cpu")
    if actual.shape != expected.shape:
        return math.inf
    return float((actual.float() - expected.float()).abs().max())


def build_backend(
    name: str,
    module: nn.Module,
    device: torch.device,
    size_multiple: int,
    *,
    channels_last: bool = False,
    compile: bool = False,
) -> Backend:
    """The backend ``name`` (one of :data:`~monai_despeckle.options.BACKENDS`) running ``module``.

    TorchScript traces and ONNX exports in memory on every call; see
    :mod:`~monai_despeckle.runtime.onnx_cache` for an export made once and reused.
    """
    if name == "torch":
        return TorchBackend(module, device, channels_last=channels_last, compile=compile)
    if name == "torchscript":
        return TorchScriptBackend(trace_torchscript(module, size_multiple), device)
    if name == "onnx":
        return OnnxBackend(onnx_model(module, size_multiple).SerializeToString(), device)
    raise InvalidParameterError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
