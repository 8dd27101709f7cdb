"""Export a despeckling network to ONNX or TorchScript, and check the export reproduces it.

The exported graph is the bare network (``[N, 1, H, W]`` → same shape, H and W multiples of its
``size_multiple``); the engine pads and crops around it (:class:`monai_despeckle.inference.NetworkMethod`),
so one file serves every frame size. ONNX models are written by the ``torch.export``-based
exporter with dynamic batch, height and width (opset :data:`ONNX_OPSET`); TorchScript archives
are traced. Both record ``size_multiple`` (ONNX ``metadata_props``, a TorchScript extra file),
which :func:`monai_despeckle.runtime.load_backend` reads back.

Every export is checked on a random input of a size other than the tracing example: the largest
absolute difference to eager PyTorch must stay within :data:`TOLERANCE` (TorchScript 1e-5: the
same kernels; ONNX Runtime 1e-4: other convolution kernels and operator fusion reorder float32 sums).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import pickle
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from monai_despeckle.errors import (
    BundleError,
    CorruptFileError,
    DespeckleError,
    InputNotFoundError,
    InvalidParameterError,
    UnknownMethodError,
)
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.methods import available_methods
from monai_despeckle.runtime.backends import SIZE_MULTIPLE_KEY, load_backend
from monai_despeckle.runtime.network_method import NetworkMethod

EXPORT_FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 18
TOLERANCE = {"torchscript": 1e-5, "onnx": 1e-4}
EXAMPLE_SIZE = 64  # frames of about this size are traced
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and how closely it matches eager PyTorch."""

    path: Path
    format: str
    size_multiple: int
    max_abs_diff: float
    tolerance: float


def example_input(size_multiple: int, *, extra: int = 0, seed: int = 0) -> torch.Tensor:
    """A random batch ``[2, 1, H, W]`` with H ≠ W, both multiples of ``size_multiple``.

    Two frames and unequal sides keep the exporter from specialising the batch or tying H to W.
    ``extra`` adds that many multiples to each side (a second, different size for checking).
    """
    side = size_multiple * max(1, math.ceil(EXAMPLE_SIZE / size_multiple)) + extra * size_multiple
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((2, 1, side, side + size_multiple), generator=generator)


def _cpu_copy(module: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode (exporting must not move the caller's module)."""
    return copy.deepcopy(module).to("cpu", torch.float32).eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
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
    with _quiet(), torch.no_grad():
        return torch.jit.trace(_cpu_copy(module), example_input(size_multiple))


def onnx_model(module: nn.Module, size_multiple: int, *, opset: int = ONNX_OPSET):
    """The network as an ``onnx.ModelProto`` with dynamic batch, height and width.

    Args:
        module: the network (a CPU float32 copy is exported).
        size_multiple: recorded in the model's metadata.
        opset: ONNX opset (≥ 17).

    Raises:
        MissingDependencyError: onnx / onnxscript are not installed.
    """
    _require("onnx", "onnxscript")
    dynamic = torch.export.Dim.DYNAMIC
    with _quiet():
        program = torch.onnx.export(
            _cpu_copy(module),
            (example_input(size_multiple),),
            input_names=["frames"],
            output_names=["despeckled"],
            dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = SIZE_MULTIPLE_KEY, str(size_multiple)
    return model


def _require(*packages: str) -> None:
    import importlib.util

    from monai_despeckle.errors import MissingDependencyError

    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"ONNX export needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def _write(module: nn.Module, fmt: str, path: Path, size_multiple: int) -> None:
    if fmt == "onnx":
        import onnx

        onnx.save(onnx_model(module, size_multiple), str(path))
    else:
        traced = trace_torchscript(module, size_multiple)
        with _quiet():
            torch.jit.save(traced, str(path), _extra_files={SIZE_MULTIPLE_KEY: str(size_multiple)})


def max_abs_difference(module: nn.Module, exported: Path, size_multiple: int) -> float:
    """Largest |exported − eager| on random frames of a size the export was not traced with."""
    frames = example_input(size_multiple, extra=1, seed=1)
    reference = _cpu_copy(module)
    with _quiet():
        backend, _ = load_backend(exported, torch.device("cpu"))
    with torch.inference_mode():
        expected = reference(frames)
        actual = backend(frames)
    return float((actual.float() - expected.float()).abs().max())


def export_network(
    module: nn.Module,
    out: str | Path,
    fmt: str,
    *,
    size_multiple: int | None = None,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
) -> ExportResult:
    """Export ``module`` to ``out`` and verify it; the file appears only if the check passes.

    Args:
        module: the network ``[N, 1, H, W]`` → same shape.
        out: output file (``.onnx`` for ONNX; ``.pt`` or ``.ts`` for TorchScript by convention).
        fmt: ``"onnx"`` or ``"torchscript"``.
        size_multiple: default ``module.size_multiple`` (else 1).
        overwrite: replace an existing file.
        protected: files that must never be overwritten (e.g. the weights the network came from).

    Raises:
        InvalidParameterError: unknown format.
        OutputPathError: ``out`` exists (without ``overwrite``) or cannot be written.
        DespeckleError: export failed, or the export differs from eager PyTorch beyond
            :data:`TOLERANCE`.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidParameterError(
            f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}"
        )
    out = Path(out)
    multiple = int(size_multiple or getattr(module, "size_multiple", 1) or 1)
    with staged_output(out, protected=protected, overwrite=overwrite) as staging:
        try:
            _write(module, fmt, staging, multiple)
        except DespeckleError:
            raise
        except Exception as err:  # exporter failures come in many types (unsupported operators...)
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DespeckleError(f"{fmt} export failed: {reason}", out) from err
        difference = max_abs_difference(module, staging, multiple)
        if not difference <= TOLERANCE[fmt]:
            raise DespeckleError(
                f"the {fmt} export differs from the PyTorch network by {difference:.3g} "
                f"(tolerance {TOLERANCE[fmt]:g}); nothing written",
                out,
            )
    return ExportResult(out, fmt, multiple, difference, TOLERANCE[fmt])


def load_weights(module: nn.Module, weights: str | Path) -> None:
    """Load a ``state_dict`` file into ``module`` (``torch.load(weights_only=True)``, strict).

    Raises:
        InputNotFoundError: no such file.
        CorruptFileError: not a state_dict saved with ``torch.save``.
        BundleError: its keys or shapes do not fit the network.
    """
    weights = Path(weights)
    if not weights.is_file():
        raise InputNotFoundError("no such weights file", weights)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorruptFileError(f"not a state_dict saved with torch.save ({reason})", weights) from err
    if not isinstance(state, dict):
        raise CorruptFileError(f"holds a {type(state).__name__}, not a state_dict", weights)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise BundleError(
            f"weights do not fit the network: {' '.join(lines[1:3] or lines[:1])}", weights
        ) from err


def network_names() -> list[str]:
    """Names :func:`monai_despeckle.networks.build_network` accepts (empty if that module is absent)."""
    try:
        from monai_despeckle.networks import NETWORKS
    except ImportError:
        return []
    return list(NETWORKS)


def load_network(model: str, weights: str | Path | None = None) -> nn.Module:
    """The network behind ``model``: a registered learned method, else a network name (untrained).

    Args:
        model: a learned method name (``monai-despeckle methods --family learned``) or a name
            :func:`monai_despeckle.networks.build_network` knows (``dae_skip``, ``speckle2self``...).
        weights: optional state_dict file loaded into it (strict).

    Raises:
        UnknownMethodError: neither a learned method nor a network name (the choices are listed).
        InvalidParameterError: a classical filter (nothing to export).
    """
    methods = available_methods()
    if model in methods:
        spec = methods[model]
        if spec.family != "learned":
            raise InvalidParameterError(
                f"{model!r} is a {spec.family} filter, not a network: nothing to export"
            )
        built = spec.factory()
        module = built.module if isinstance(built, NetworkMethod) else built
        if not isinstance(module, nn.Module):
            raise InvalidParameterError(f"method {model!r} does not expose a torch network to export")
    elif model in network_names():
        from monai_despeckle.networks import build_network

        module = build_network(model)
    else:
        learned = [name for name, spec in methods.items() if spec.family == "learned"]
        raise UnknownMethodError(
            f"unknown model {model!r}; choose a learned method ({', '.join(learned) or 'none registered'}) "
            f"or a network ({', '.join(network_names()) or 'none available'})"
        )
    if weights is not None:
        load_weights(module, weights)
    return module.eval()


def export_model(
    model: str, fmt: str, out: str | Path, *, weights: str | Path | None = None, overwrite: bool = False
) -> ExportResult:
    """Export a learned method or network by name (see :func:`load_network`, :func:`export_network`)."""
    protected = [Path(weights)] if weights is not None else []
    return export_network(load_network(model, weights), out, fmt, overwrite=overwrite, protected=protected)
