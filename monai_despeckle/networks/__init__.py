"""Despeckling networks: skip-connected DAE, Speckle2Self and pix2pix, built by name.

Every *inference* network maps ``[N, 1, H, W]`` float frames in [0, 1] to the same shape in
[0, 1] and has an integer attribute ``size_multiple``: H and W must be multiples of it (the
inference engine pads to it and crops back). :func:`build_network` builds them by name so that
bundle configs and the engine need no import paths::

    {"_target_": "monai_despeckle.networks.build_network", "name": "dae_skip"}

pix2pix's discriminator, used in training only, is :mod:`monai_despeckle.networks.patch_gan`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks.dae_skip import PAPER_FEATURES, REALTIME_FEATURES, DenoisingAutoencoder
from monai_despeckle.networks.pix2pix import Pix2PixGenerator
from monai_despeckle.networks.segmentation import segmentation_unet
from monai_despeckle.networks.speckle2self import (
    ResidualBlock,
    Speckle2Self,
    Speckle2SelfDecoder,
    Speckle2SelfEncoder,
    Speckle2SelfInference,
)

__all__ = [
    "NETWORKS",
    "PAPER_FEATURES",
    "REALTIME_FEATURES",
    "DenoisingAutoencoder",
    "Pix2PixGenerator",
    "ResidualBlock",
    "Speckle2Self",
    "Speckle2SelfDecoder",
    "Speckle2SelfEncoder",
    "Speckle2SelfInference",
    "build_network",
    "segmentation_unet",
]

NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "dae_skip": partial(DenoisingAutoencoder, skip=True),
    "dae_noskip": partial(DenoisingAutoencoder, skip=False),
    "speckle2self": Speckle2SelfInference,
    "pix2pix": Pix2PixGenerator,
}
"""Inference networks by name: ``name -> factory(**kwargs)``."""


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Build the inference network registered as ``name`` with its keyword arguments.

    Args:
        name: ``"dae_skip"``, ``"dae_noskip"`` (:class:`DenoisingAutoencoder` with/without skips),
            ``"speckle2self"`` (:class:`Speckle2SelfInference`) or ``"pix2pix"``
            (:class:`Pix2PixGenerator`).
        **kwargs: passed to the class, e.g. ``features=(16, 32, 64)``.
    """
    if name not in NETWORKS:
        raise InvalidParameterError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    if name.startswith("dae_") and "skip" in kwargs:
        raise InvalidParameterError(f"network {name!r} fixes skip; choose dae_skip or dae_noskip instead")
    try:
        return NETWORKS[name](**kwargs)
    except TypeError as err:  # an unknown keyword: report it as a parameter error, not a traceback
        raise InvalidParameterError(f"network {name!r}: {err}") from None
