"""Packages whose names are imported on first use (PEP 562), not when the package is imported.

Importing any submodule runs its package's ``__init__`` first, so a package that re-exports every
submodule makes the lightest of them cost as much as the heaviest: ``metrics.speckle_size`` (which
inference needs) would bring in MONAI through the full-reference metrics, ``data.folders`` (which
the pipeline needs) scikit-image through ``data.frames``. A package built with
:func:`lazy_exports` keeps its names (``from monai_despeckle.metrics import psnr`` still works, and
type checkers read the ``TYPE_CHECKING`` imports beside it) but imports a submodule only when one
of its names is first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, submodules: Mapping[str, Sequence[str]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: the package's ``__name__``.
        submodules: submodule name → the names it exports through the package.
        namespace: the package's ``globals()``; a name is stored there once imported.
    """
    module_of = {name: module for module, names in submodules.items() for name in names}

    def attribute(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *module_of})

    return attribute, names
