"""The one registry of despeckling methods.

A *Method* is anything with a ``name`` and ``__call__(frames) -> frames`` where ``frames`` is a
float32 tensor ``[N, 1, H, W]`` in [0, 1] and the result has the same shape and range. Classical
filters, networks and bundles are all Methods, registered here by name, so that evaluation, the
CLI, the Slicer module and the MONAI Label app treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from monai_despeckle.errors import UnknownMethodError


@runtime_checkable
class Method(Protocol):
    """A despeckler: ``[N, 1, H, W]`` float tensor in [0, 1] -> same shape, [0, 1]."""

    name: str

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class MethodSpec:
    """How to build a registered method, and what to tell users about it."""

    name: str
    factory: Callable[..., Method]
    description: str
    family: str  # "classical" or "learned"
    gpu: bool  # whether it runs on a CUDA device (else it runs on the CPU whatever the input device)
    reference: str = ""


_REGISTRY: dict[str, MethodSpec] = {}
_PLUGINS_LOADED = False


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a method named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


@contextmanager
def method_override(spec: MethodSpec) -> Iterator[MethodSpec]:
    """Within the block, ``spec`` is the method of its name (e.g. a bundle outside the bundles folder)."""
    _load_builtin_methods()
    previous = _REGISTRY.get(spec.name)
    _REGISTRY[spec.name] = spec
    try:
        yield spec
    finally:
        if previous is None:
            _REGISTRY.pop(spec.name, None)
        else:
            _REGISTRY[spec.name] = previous


def _load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (lazily, to keep imports light)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    import importlib

    for module in ("monai_despeckle.filters", "monai_despeckle.learned"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a family not installed yet must not break the others
            if err.name != module:
                raise


def available_methods() -> dict[str, MethodSpec]:
    """All registered methods, by name, in registration order."""
    _load_builtin_methods()
    return dict(_REGISTRY)


def get_method_spec(name: str) -> MethodSpec:
    """The spec registered under ``name``, or :class:`UnknownMethodError` listing the choices.

    ``name`` may also be the folder of a trained despeckling bundle (e.g. one written by
    ``monai-despeckle adapt``), which then provides its network without being registered.
    """
    methods = available_methods()
    if name in methods:
        return methods[name]
    if (Path(name) / "configs" / "metadata.json").is_file():
        from monai_despeckle.bundles import read_bundle
        from monai_despeckle.learned import bundle_method_spec

        return bundle_method_spec(read_bundle(name))
    raise UnknownMethodError(
        f"unknown method {name!r}; choose one of: {', '.join(methods) or '(none)'} (or a bundle folder)"
    )


def create_method(name: str, **kwargs: Any) -> Method:
    """Build the method registered under ``name`` with optional keyword parameters."""
    return get_method_spec(name).factory(**kwargs)
