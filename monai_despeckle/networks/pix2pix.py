"""pix2pix for despeckling: the U-Net generator (the discriminator is :mod:`.patch_gan`).

Isola et al., "Image-to-image translation with conditional adversarial networks", CVPR 2017;
used for ultrasound despeckling by Vieira et al., IEEE Access 12:45811 (2024), trained on
(clean, Rayleigh-speckled) pairs. The generator maps the speckled image to a clean estimate; the
discriminator judges overlapping 70×70 patches of ``cat(speckled, candidate)``, so it learns what a
clean image looks like *given* its speckled input.

The generator is written here rather than built from ``monai.networks.nets.UNet``: that class
uses one activation for encoder and decoder (pix2pix: LeakyReLU 0.2 down, ReLU up), applies dropout
to every layer or none (pix2pix: only the innermost decoder layers), normalises the outermost
encoder layer and the bottleneck (pix2pix does not), and its transposed convolutions cannot take
the 4×4 stride-2 kernels of pix2pix (the output would be 2H + 1). The discriminator is MONAI's
:class:`monai.networks.nets.PatchDiscriminator`, which with ``num_layers_d=3`` is exactly the
70×70 PatchGAN (C64 s2 without norm, C128 s2, C256 s2, C512 s1, 1-channel 4×4 conv, BatchNorm,
LeakyReLU 0.2, N(0, 0.02) initialisation).
"""

from __future__ import annotations

import torch
from torch import nn

from monai_despeckle.errors import InvalidParameterError

__all__ = ["Pix2PixGenerator", "to_signed"]

MAX_MULTIPLIER = 8  # widths stop doubling at 8 × base, as in pix2pix (C64-C128-C256-C512-C512...)


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] on the [-1, 1] scale pix2pix's networks and L1 loss work on."""
    return images * 2.0 - 1.0


def _down(in_channels: int, out_channels: int, outermost: bool, innermost: bool) -> nn.Sequential:
    """pix2pix encoder step: [LeakyReLU 0.2] → 4×4 conv stride 2 → [BatchNorm]."""
    layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
    normed = not (outermost or innermost)
    layers.append(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not normed))
    if normed:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


def _up(in_channels: int, out_channels: int, outermost: bool, dropout: float) -> nn.Sequential:
    """pix2pix decoder step: ReLU → 4×4 transposed conv stride 2 → [BatchNorm] → [Dropout]."""
    layers: list[nn.Module] = [
        nn.ReLU(),
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=outermost),
    ]
    if not outermost:
        layers.append(nn.BatchNorm2d(out_channels))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Pix2PixGenerator(nn.Module):
    """pix2pix U-Net generator: ``[N, 1, H, W]`` in [0, 1] → same shape in [0, 1].

    ``num_downs`` 4×4 stride-2 convolutions (LeakyReLU 0.2, BatchNorm except the first and the
    innermost) down to ``H / 2**num_downs``, then as many 4×4 transposed convolutions (ReLU,
    BatchNorm, dropout in the ``dropout_layers`` innermost), each concatenated with the encoder map
    of its scale. Widths double from ``features`` up to ``8 × features``. Inputs are mapped to
    [-1, 1] and the tanh output back to [0, 1], as pix2pix works on [-1, 1] images.

    ``features=64, num_downs=8`` is pix2pix's "unet_256" (54.4 M parameters, ``size_multiple``
    256). The defaults, ``features=32, num_downs=6`` (7.3 M parameters, 2×2 bottleneck for the
    128×128 training patches, ``size_multiple`` 64), are 7× lighter, trainable on a CPU, and need
    frames padded only to a multiple of 64 at inference.

    Args:
        features: channels of the first encoder layer.
        num_downs: number of stride-2 levels; H and W must be multiples of ``2**num_downs``.
        dropout: dropout probability in the innermost decoder layers (0.5 in pix2pix).
        dropout_layers: how many decoder layers, from the innermost, use dropout (3 in pix2pix).
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(
        self,
        features: int = 32,
        num_downs: int = 6,
        dropout: float = 0.5,
        dropout_layers: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        for name, value, low in (("features", features, 1), ("num_downs", num_downs, 2)):
            if isinstance(value, bool) or int(value) != value or value < low:
                raise InvalidParameterError(
                    f"Pix2PixGenerator: {name} must be an integer >= {low}, got {value!r}"
                )
        if not 0.0 <= dropout < 1.0:
            raise InvalidParameterError(f"Pix2PixGenerator: dropout must be in [0, 1), got {dropout!r}")
        self.size_multiple = 2**num_downs
        widths = [features * min(2**i, MAX_MULTIPLIER) for i in range(num_downs)]
        self.downs = nn.ModuleList(
            _down(in_channels if i == 0 else widths[i - 1], widths[i], i == 0, i == num_downs - 1)
            for i in range(num_downs)
        )
        ups = []
        for k in range(num_downs):  # k = 0 is the innermost decoder layer
            level = num_downs - 1 - k  # encoder level whose resolution this layer starts from
            in_ch = widths[level] if k == 0 else 2 * widths[level]
            outermost = level == 0
            out_ch = out_channels if outermost else widths[level - 1]
            ups.append(_up(in_ch, out_ch, outermost, dropout if k < dropout_layers else 0.0))
        self.ups = nn.ModuleList(ups)
        # imported here: MONAI takes seconds to import, and inference (weights loaded over this
        # initialisation) needs none of it
        from monai.networks.utils import normal_init

        self.apply(normal_init)  # N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales, as pix2pix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x`` ``[N, C, H, W]`` in [0, 1] (H, W multiples of :attr:`size_multiple`)."""
        skips = []
        h = to_signed(x)
        for down in self.downs:
            h = down(h)
            skips.append(h)
        h = skips.pop()
        for index, up in enumerate(self.ups):
            if index > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            h = up(h)
        return (torch.tanh(h) + 1.0) * 0.5
