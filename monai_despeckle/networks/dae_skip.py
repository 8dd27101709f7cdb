"""Convolutional denoising autoencoder with (or without) skip connections.

Bhute, Mandal & Guha, "Speckle noise reduction in ultrasound images using denoising auto-encoder
with skip connection", IEEE SAUS 2024 (arXiv 2403.02750): a convolutional encoder that halves the
resolution with max pooling, a decoder that doubles it back with transposed convolutions, and the
encoder's feature maps concatenated into the decoder at each scale. Trained with MSE on BUSI images
corrupted by scikit-image speckle. The same network without the concatenations is the paper's
ablation ("auto-encoder without skip connections"), which loses fine detail through the bottleneck.

The paper describes the layers in prose only (no official code), so the block layout below is our
reading of it: one 3×3 convolution + ReLU per encoder scale, a 2×2 stride-2 transposed convolution
+ ReLU then (after the concatenation) one 3×3 convolution + ReLU per decoder scale, and a 3×3
convolution to one channel with a sigmoid, so the output is in [0, 1] like the input.

``upsample="bilinear"`` replaces each 2×2 stride-2 transposed convolution by a 1×1 convolution
followed by bilinear ×2 upsampling (the same cost: the 1×1 convolution runs at the coarse scale).
A 2×2 stride-2 transposed convolution gives each of the four output phases its own kernel, which
leaves a checkerboard at the decoder's stride (Odena, Dumoulin & Olah, "Deconvolution and
Checkerboard Artifacts", Distill 2016); on real frames, whose speckle differs from the training
data, the default model shows it as periodic banding (``docs/benchmarks.md`` §3). Bilinear
upsampling treats every phase alike. It is a departure from the paper's layers, so it is opt-in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from monai_despeckle.errors import InvalidParameterError

__all__ = ["PAPER_FEATURES", "REALTIME_FEATURES", "UPSAMPLING", "DenoisingAutoencoder"]

UPSAMPLING = ("transpose", "bilinear")
"""Decoder upsampling: the paper's 2×2 stride-2 transposed convolution, or 1×1 conv + bilinear ×2."""

PAPER_FEATURES: tuple[int, ...] = (64, 128, 256)
"""Widths of the three encoder scales, as in the paper's Keras-style description."""

REALTIME_FEATURES: tuple[int, ...] = (12, 24, 48)
"""Widths that meet the project's real-time target on 2 CPU cores: ≥ 30 frames/s at 256² and ≥ 10
at 512² (measured ≈ 57 and ≈ 13 frames/s in torch eager, ``torch.set_num_threads(2)``, batch 1,
contiguous tensors; ≈ 100 and ≈ 18 with ``channels_last``). The paper's widths run at ≈ 5 and ≈ 1."""


def _check_features(features: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(int(f) for f in features)
    if not widths or any(w < 1 for w in widths) or any(w != f for w, f in zip(widths, features, strict=True)):
        raise InvalidParameterError(
            f"DenoisingAutoencoder: features must be positive integers, one per scale, got {features!r}"
        )
    return widths


def _conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))


class _UpBlock(nn.Module):
    """Upsample ×2 + ReLU, then (optionally) concatenate the encoder map and fuse by conv + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, upsample: str) -> None:
        super().__init__()
        if upsample == "transpose":
            grow: list[nn.Module] = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)]
        else:
            grow = [
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            ]
        self.up = nn.Sequential(*grow, nn.ReLU(inplace=True))
        self.fuse = _conv_relu(out_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.fuse(x)


class DenoisingAutoencoder(nn.Module):
    """Skip-connected convolutional denoising autoencoder (Bhute et al., arXiv 2403.02750).

    ``[N, C, H, W]`` in [0, 1] → same shape in [0, 1] (sigmoid output). H and W must be multiples of
    :attr:`size_multiple` = ``2 ** len(features)`` (one max pooling per encoder scale).

    Args:
        features: channels of the encoder scales, finest first. The paper's widths are
            :data:`PAPER_FEATURES` ``(64, 128, 256)``; :data:`REALTIME_FEATURES` ``(12, 24, 48)``
            runs in real time on 2 CPU cores.
        skip: concatenate the encoder maps into the decoder (False = the paper's ablation).
        in_channels: input channels (1 for B-mode).
        out_channels: output channels.
        upsample: ``"transpose"`` (the paper's 2×2 stride-2 transposed convolutions) or
            ``"bilinear"`` (1×1 convolution + bilinear ×2: no checkerboard at the stride).
    """

    def __init__(
        self,
        features: Sequence[int] = PAPER_FEATURES,
        skip: bool = True,
        in_channels: int = 1,
        out_channels: int = 1,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        widths = _check_features(features)
        if upsample not in UPSAMPLING:
            raise InvalidParameterError(
                f"DenoisingAutoencoder: upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}"
            )
        self.upsample = upsample
        self.skip = bool(skip)
        self.size_multiple = 2 ** len(widths)
        encoders, previous = [], in_channels
        for width in widths:
            encoders.append(_conv_relu(previous, width))
            previous = width
        self.encoders = nn.ModuleList(encoders)
        self.pool = nn.MaxPool2d(2)
        decoders = []
        for width in reversed(widths):  # each decoder scale mirrors the encoder scale of that width
            decoders.append(_UpBlock(previous, width, width if self.skip else 0, upsample))
            previous = width
        self.decoders = nn.ModuleList(decoders)
        self.head = nn.Conv2d(previous, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Despeckle ``x`` ``[N, C, H, W]`` (H, W multiples of :attr:`size_multiple`)."""
        skips: list[torch.Tensor] = []  # typed and indexed so that torch.jit.script compiles it
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        for level, decoder in enumerate(self.decoders):
            skip = skips[len(skips) - 1 - level]
            x = decoder(x, skip if self.skip else None)
        return torch.sigmoid(self.head(x))
