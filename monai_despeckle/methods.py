"""What a despeckling method is, and the registry that code-defined methods join.

A *Method* is anything with a ``name`` and ``__call__(frames) -> frames`` where ``frames`` is a
float32 tensor ``[N, 1, H, W]`` in [0, 1] and the result has the same shape and range. Classical
filters register here when :mod:`monai_despeckle.filters` is imported; a plug-in or a test may
register its own. Learned methods are not registered: they are the bundles on the bundle search
path. Turning a name, a bundle folder or an exported file into a method is the job of
:mod:`monai_despeckle.resolver`, the one place that combines both, so that evaluation, the CLI,
the Slicer module and the MONAI Label app treat every method alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

__all__ = ["REGISTRY", "Method", "MethodSpec", "register_method", "registered_methods"]

REGISTRY = "registry"  # MethodSpec.source of a method registered in code


@runtime_checkable
class Method(Protocol):
    """A despeckler: ``[N, 1, H, W]`` float tensor in [0, 1] -> same shape, [0, 1]."""

    name: str

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class MethodSpec:
    """How to build a method, and what to tell users about it.

    Attributes:
        name: the name users give (``--method``).
        factory: builds the method (keyword parameters: a filter's settings, or a network's
            runtime settings such as ``device`` and ``backend``).
        description: one line.
        family: ``"classical"`` or ``"learned"``.
        gpu: whether it runs on a CUDA device (else it runs on the CPU whatever the input device).
        reference: the paper or book it comes from.
        source: where it was found: ``"registry"`` (code), ``"shipped"`` (a bundle in the
            package), ``"user folder"`` (a bundle on ``$MONAI_DESPECKLE_BUNDLES``), ``"folder"``
            (a bundle folder named explicitly) or ``"file"`` (an exported network).
        version: the bundle's version; empty for code-defined methods (the package's version).
    """

    name: str
    factory: Callable[..., Method]
    description: str
    family: str
    gpu: bool
    reference: str = ""
    source: str = REGISTRY
    version: str = ""


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a method named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def registered_methods() -> dict[str, MethodSpec]:
    """The code-registered methods, by name, in registration order (a copy)."""
    return dict(_REGISTRY)
