"""Register every trained despeckling bundle of :func:`monai_despeckle.bundles.bundles_root` as a method.

A bundle ``bundles/despeckle_<name>`` with weights becomes the method ``<name>`` (family
"learned"). Nothing is loaded at registration: the factory reads, verifies (sha256) and loads
the weights when the method is first built, as a :class:`~monai_despeckle.runtime.NetworkMethod`
(padding, device, precision and backend handled by the runtime). Bundles without weights (not trained yet) and
unreadable bundles are skipped with a one-line warning, so one broken folder never hides the
other methods.
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path
from typing import Any

from monai_despeckle.bundles import CHECKSUM_KEY, BundleInfo, find_bundles, load_network
from monai_despeckle.errors import BundleError
from monai_despeckle.methods import MethodSpec, available_methods, register_method
from monai_despeckle.runtime import NetworkMethod

__all__ = ["bundle_method_spec", "register_bundles"]


def _build(bundle: BundleInfo, **runtime: Any) -> NetworkMethod:
    """The bundle's network as a method; ``runtime``: device, precision, backend... of NetworkMethod."""
    key = f"{bundle.method_name}-{str(bundle.metadata.get(CHECKSUM_KEY, 'unknown'))[:16]}"
    return NetworkMethod(load_network(bundle), bundle.method_name, cache_key=key, **runtime)


def bundle_method_spec(bundle: BundleInfo) -> MethodSpec:
    """The method a trained bundle provides, named after the bundle (``despeckle_x`` -> ``x``)."""
    references = bundle.metadata.get("references") or [""]
    return MethodSpec(
        name=bundle.method_name,
        factory=partial(_build, bundle),
        description=str(bundle.metadata.get("name") or bundle.metadata.get("task", "")),
        family="learned",
        gpu=True,
        reference=str(references[0]),
    )


def register_bundles(root: str | Path | None = None) -> list[str]:
    """Register the trained despeckling bundles under ``root`` (default: the bundles folder).

    Returns:
        The names registered by this call.
    """
    try:
        bundles = find_bundles(root)
    except BundleError as err:
        warnings.warn(f"despeckling bundles skipped: {err}", stacklevel=2)
        return []
    registered = []
    known = set(available_methods())
    for bundle in bundles:
        if not bundle.has_weights or bundle.method_name in known:
            continue
        spec = register_method(bundle_method_spec(bundle))
        registered.append(spec.name)
    return registered


register_bundles()
