"""The segmentation network of the downstream bundles: MONAI's U-Net, sized for 2 CPU cores.

Not a network of our own: :func:`segmentation_unet` only fixes the arguments of
:class:`monai.networks.nets.UNet` for single-channel B-mode frames and records the size multiple
the inference code pads/resizes to, so that a bundle's ``network_def`` can name it with literal
arguments (the bundle loader accepts only ``monai_despeckle.networks.*`` targets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from monai_despeckle.errors import InvalidParameterError

__all__ = ["SEGMENTATION_CHANNELS", "segmentation_unet"]

SEGMENTATION_CHANNELS: tuple[int, ...] = (16, 32, 64, 128, 256)
"""Feature maps per level: 0.66 M parameters, trainable at 192² on two CPU cores."""


def segmentation_unet(
    out_channels: int = 2,
    channels: Sequence[int] = SEGMENTATION_CHANNELS,
    strides: Sequence[int] | None = None,
    num_res_units: int = 0,
    dropout: float = 0.1,
) -> nn.Module:
    """A 2D :class:`monai.networks.nets.UNet` from one B-mode channel to ``out_channels`` logits.

    Args:
        out_channels: classes including the background (2 for one structure).
        channels: feature maps of each level, coarsest last.
        strides: down-sampling factor between levels (default 2 each).
        num_res_units: residual units per block (0: plain conv–norm–act blocks).
        dropout: dropout probability inside the blocks.

    Returns:
        The network, with ``size_multiple`` (frames must be a multiple of it) set.
    """
    channels = tuple(int(c) for c in channels)
    if len(channels) < 2:
        raise InvalidParameterError(f"segmentation_unet needs at least two levels, got channels={channels}")
    strides = tuple(int(s) for s in strides) if strides is not None else (2,) * (len(channels) - 1)
    if len(strides) != len(channels) - 1:
        raise InvalidParameterError(
            f"need {len(channels) - 1} strides for {len(channels)} levels, got {strides}"
        )
    if out_channels < 2:
        raise InvalidParameterError(f"out_channels counts the background too: >= 2, got {out_channels}")
    from monai.networks.nets import UNet  # here: MONAI takes seconds to import (despeckling needs none)

    network = UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=int(out_channels),
        channels=channels,
        strides=strides,
        num_res_units=int(num_res_units),
        norm="batch",
        dropout=float(dropout),
    )
    # nn.Module.__setattr__ is typed for tensors and modules only; a plain int attribute is fine
    network.size_multiple = math.prod(strides)  # type: ignore[assignment]
    return network
