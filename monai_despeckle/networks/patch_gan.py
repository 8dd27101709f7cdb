"""The conditional 70×70 PatchGAN discriminator of pix2pix (training only).

Isola et al., CVPR 2017: the discriminator judges overlapping 70×70 patches of
``cat(speckled, candidate)``, so it learns what a clean image looks like *given* its speckled
input. It is MONAI's :class:`monai.networks.nets.PatchDiscriminator`, which with
``num_layers_d=3`` is exactly that network (C64 s2 without norm, C128 s2, C256 s2, C512 s1,
1-channel 4×4 conv, BatchNorm, LeakyReLU 0.2, N(0, 0.02) initialisation). A module of its own so
that inference, which never builds it, does not import MONAI's network zoo.
"""

from __future__ import annotations

import torch
from monai.networks.nets import PatchDiscriminator as MonaiPatchDiscriminator

from monai_despeckle.networks.pix2pix import to_signed

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(MonaiPatchDiscriminator):
    """Conditional 70×70 PatchGAN: MONAI's PatchDiscriminator returning the patch logits only.

    The input is ``cat(speckled, candidate)`` on the channel axis (:meth:`pair`), 2 channels for
    B-mode; the output ``[N, 1, H/8 - 2, W/8 - 2]`` holds one real/fake logit per overlapping patch
    (no sigmoid: losses use ``binary_cross_entropy_with_logits``).

    Args:
        in_channels: channels of the condition and the candidate together.
        features: channels of the first layer (64 in pix2pix), doubled at each layer.
        num_layers: layers after the first (3 gives the 70×70 receptive field).
    """

    def __init__(self, in_channels: int = 2, features: int = 64, num_layers: int = 3) -> None:
        super().__init__(
            spatial_dims=2,
            channels=features,
            in_channels=in_channels,
            out_channels=1,
            num_layers_d=num_layers,
        )

    @staticmethod
    def pair(condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """The discriminator's input: the speckled condition and a (real or generated) clean candidate.

        Both in [0, 1]; the pair is mapped to [-1, 1], the scale pix2pix's discriminator sees.
        """
        return to_signed(torch.cat([condition, candidate], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Patch logits of ``x`` ``[N, in_channels, H, W]``."""
        return super().forward(x)[-1]

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output, the logits last (for feature-matching losses)."""
        return super().forward(x)
