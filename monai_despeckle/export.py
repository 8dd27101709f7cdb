"""Export a despeckling network to an ONNX or TorchScript file, and check the file reproduces it.

The conversion itself is :mod:`monai_despeckle.runtime.conversion` (the bare network, dynamic
batch, height and width; the engine pads and crops around it). Here: which network a name means
(a learned method or bundle with verified weights, or an architecture with the user's weights),
writing the file all-or-nothing, and checking it: the file appears only if, loaded back, it
matches eager PyTorch on a frame size it was not traced with within
:data:`~monai_despeckle.runtime.conversion.TOLERANCE`. Both formats record ``size_multiple``
(ONNX ``metadata_props``, a TorchScript extra file), which
:func:`monai_despeckle.runtime.load_backend` reads back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from monai_despeckle.bundle_format import is_bundle_folder
from monai_despeckle.errors import DespeckleError, InvalidParameterError, UnknownMethodError
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.networks import NETWORKS, build_network
from monai_despeckle.options import EXPORT_FORMATS
from monai_despeckle.resolver import available_methods, list_bundles, load_network
from monai_despeckle.runtime.backends import SIZE_MULTIPLE_KEY, load_backend
from monai_despeckle.runtime.conversion import (
    TOLERANCE,
    max_abs_difference,
    onnx_model,
    quiet,
    trace_torchscript,
)
from monai_despeckle.weights import load_state_dict

SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and how closely it matches eager PyTorch."""

    path: Path
    format: str
    size_multiple: int
    max_abs_diff: float
    tolerance: float


def _write(module: nn.Module, fmt: str, path: Path, size_multiple: int) -> None:
    if fmt == "onnx":
        import onnx

        onnx.save(onnx_model(module, size_multiple), str(path))
    else:
        traced = trace_torchscript(module, size_multiple)
        with quiet():
            torch.jit.save(traced, str(path), _extra_files={SIZE_MULTIPLE_KEY: str(size_multiple)})


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
        with quiet():
            backend, _ = load_backend(staging, torch.device("cpu"))
        difference = max_abs_difference(module, backend, multiple)
        if not difference <= TOLERANCE[fmt]:
            raise DespeckleError(
                f"the {fmt} export differs from the PyTorch network by {difference:.3g} "
                f"(tolerance {TOLERANCE[fmt]:g}); nothing written",
                out,
            )
    return ExportResult(out, fmt, multiple, difference, TOLERANCE[fmt])


def network_to_export(model: str | Path, weights: str | Path | None = None) -> nn.Module:
    """The network behind ``model``: a learned method or bundle (verified weights), else an architecture.

    Args:
        model: a learned method name (``monai-despeckle methods --family learned``), a bundle
            name or folder, or a name :func:`monai_despeckle.networks.build_network` knows
            (``dae_skip``, ``speckle2self``...; untrained unless ``weights`` is given).
        weights: optional state_dict file loaded into it (strict).

    Raises:
        UnknownMethodError: none of these (the choices are listed).
        InvalidParameterError: a classical filter (nothing to export).
    """
    methods = available_methods()
    spec = methods.get(str(model))
    if spec is not None and spec.family != "learned":
        raise InvalidParameterError(f"{model!r} is a {spec.family} filter, not a network: nothing to export")
    if spec is not None:
        built = spec.factory()
        module = getattr(built, "module", built)  # a NetworkMethod's network, or a bare module
    elif str(model) in NETWORKS:
        module = build_network(str(model))
    elif is_bundle_folder(model) or str(model) in {bundle.name for bundle in list_bundles()}:
        module = load_network(model)
    else:
        learned = [name for name, spec in methods.items() if spec.family == "learned"]
        raise UnknownMethodError(
            f"unknown model {str(model)!r}; choose a learned method ({', '.join(learned) or 'none'}), "
            f"a bundle or a network ({', '.join(NETWORKS)})"
        )
    if not isinstance(module, nn.Module):
        raise InvalidParameterError(f"method {model!r} does not expose a torch network to export")
    if weights is not None:
        load_state_dict(module, weights)
    return module.eval()


def export_model(
    model: str, fmt: str, out: str | Path, *, weights: str | Path | None = None, overwrite: bool = False
) -> ExportResult:
    """Export a learned method, bundle or network (see :func:`network_to_export`, :func:`export_network`)."""
    protected = [Path(weights)] if weights is not None else []
    return export_network(
        network_to_export(model, weights), out, fmt, overwrite=overwrite, protected=protected
    )
