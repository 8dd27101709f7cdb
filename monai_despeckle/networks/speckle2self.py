"""Speckle2Self: self-supervised despeckling from multi-scale perturbation views.

Li, Navab & Jiang, "Speckle2Self: self-supervised ultrasound speckle reduction without clean data",
Medical Image Analysis (2025), arXiv 2507.06828. Views of one noisy image at scales 1, 0.5 and 0.25
(:class:`monai_despeckle.transforms.MultiScalePerturbation`) share the anatomy but not the speckle.
Each view has its own encoder; one shared decoder reconstructs each view, and the reconstructions
are pulled together (:class:`monai_despeckle.losses.Speckle2SelfLoss`), so the decoder can only keep
what the views share: the tissue, not the speckle. At inference the full-scale encoder and the
decoder form the despeckler (:meth:`Speckle2Self.inference_network`).

Architecture (as described in the paper; written from that description, no code reused):

- encoder: 4 levels of [3×3 conv stride 2 → InstanceNorm (no affine) → ReLU → residual block],
  channels 1 → 32 → 64 → 128 → 256, so the bottleneck is H/16 × W/16;
- decoder: a residual block at 256 channels, then 4 levels of [3×3 transposed conv stride 2
  (padding 1, output padding 1) → InstanceNorm → ReLU], the first three followed by a residual
  block, 256 → 128 → 64 → 32 → 1, the last level a plain transposed convolution (no
  normalisation or activation, which would fix the output's mean and spread); the output is
  clamped to [0, 1] outside training;
- output scale: instance normalisation at every level makes the decoded map's mean and spread
  the same for every image (a network built exactly so despeckles only up to a per-image
  brightness and contrast, which min-max normalising the result hides). Here the decoded map
  is scaled by the input's per-image standard deviation and shifted by its mean (reversible
  instance normalisation), so the output is on the input's intensity scale; this is our
  addition, not in the paper;
- residual block: conv-IN-ReLU-conv-IN plus the identity; no skip connections between encoder and
  decoder (they would carry the speckle of the input straight to the output).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from monai_despeckle.errors import InvalidParameterError

__all__ = [
    "DEFAULT_FEATURES",
    "ResidualBlock",
    "Speckle2Self",
    "Speckle2SelfDecoder",
    "Speckle2SelfEncoder",
    "Speckle2SelfInference",
    "image_statistics",
]

DEFAULT_FEATURES: tuple[int, ...] = (32, 64, 128, 256)
"""Channels of the four encoder levels in the paper (≈ 3.91 M parameters at inference)."""


def _check_features(features: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(int(f) for f in features)
    if not widths or any(w < 1 for w in widths) or any(w != f for w, f in zip(widths, features, strict=True)):
        raise InvalidParameterError(
            f"Speckle2Self: features must be positive integers, one per level, got {features!r}"
        )
    return widths


class ResidualBlock(nn.Module):
    """``x + IN(conv(ReLU(IN(conv(x)))))`` with 3×3 convolutions at constant width (He et al., CVPR 2016).

    Args:
        channels: number of channels in and out.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Speckle2SelfEncoder(nn.Sequential):
    """Stride-2 levels [conv 3×3 → IN → ReLU → residual block]: ``[N, C, H, W]`` → ``[N, F, H/16, W/16]``.

    Args:
        features: channels of the levels (the paper's ``(32, 64, 128, 256)``).
        in_channels: input channels.
    """

    def __init__(self, features: Sequence[int] = DEFAULT_FEATURES, in_channels: int = 1) -> None:
        layers, previous = [], in_channels
        for width in _check_features(features):
            layers.append(
                nn.Sequential(
                    nn.Conv2d(previous, width, 3, stride=2, padding=1),
                    nn.InstanceNorm2d(width),
                    nn.ReLU(inplace=True),
                    ResidualBlock(width),
                )
            )
            previous = width
        super().__init__(*layers)


class Speckle2SelfDecoder(nn.Module):
    """Residual block, then stride-2 transposed-conv levels back to full resolution; output in [0, 1].

    Args:
        features: the encoder's channels (the decoder mirrors them).
        out_channels: output channels.
    """

    def __init__(self, features: Sequence[int] = DEFAULT_FEATURES, out_channels: int = 1) -> None:
        super().__init__()
        widths = _check_features(features)
        self.bottleneck = ResidualBlock(widths[-1])
        targets = (*reversed(widths[:-1]), out_channels)
        levels, previous = [], widths[-1]
        for index, width in enumerate(targets):
            layers: list[nn.Module] = [
                nn.ConvTranspose2d(previous, width, 3, stride=2, padding=1, output_padding=1)
            ]
            if index < len(targets) - 1:
                layers += [nn.InstanceNorm2d(width), nn.ReLU(inplace=True), ResidualBlock(width)]
            # the last level maps to the image: a plain (linear) transposed convolution. Instance
            # normalisation or a ReLU there would fix the output's mean and spread whatever the input.
            levels.append(nn.Sequential(*layers))
            previous = width
        self.levels = nn.Sequential(*levels)

    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Decode ``x`` into an image with the input's per-image ``mean`` and ``std`` scale.

        Every level is instance-normalised, so the decoded map has about the same mean and spread
        whatever the image; the input's statistics (``[N, C, 1, 1]``, see :func:`image_statistics`)
        put it back on the input's intensity scale, as reversible instance normalisation does.
        """
        out = self.levels(self.bottleneck(x)) * std + mean
        # clamped to the image range for use; not while training, where a clamp would stop the
        # gradient of every pixel that overshoots
        return out if self.training else out.clamp(0.0, 1.0)


def image_statistics(x: torch.Tensor, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and standard deviation ``[N, C, 1, 1]`` (std at least ``eps``)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True, unbiased=False).clamp_min(eps)
    return mean, std


class Speckle2SelfInference(nn.Module):
    """The despeckler of a trained Speckle2Self: full-scale encoder + shared decoder.

    ``[N, 1, H, W]`` in [0, 1] → same shape in [0, 1]; H and W must be multiples of
    :attr:`size_multiple` (16 for four stride-2 levels).

    Args:
        features: encoder channels (the paper's ``(32, 64, 128, 256)``).
        in_channels: input channels.
        encoder: use this encoder instead of building one (shares its parameters).
        decoder: use this decoder instead of building one (shares its parameters).
    """

    def __init__(
        self,
        features: Sequence[int] = DEFAULT_FEATURES,
        in_channels: int = 1,
        encoder: Speckle2SelfEncoder | None = None,
        decoder: Speckle2SelfDecoder | None = None,
    ) -> None:
        super().__init__()
        widths = _check_features(features)
        self.features = widths  # what a multi-view training model around it is built with
        self.in_channels = in_channels
        self.size_multiple = 2 ** len(widths)
        self.encoder = encoder if encoder is not None else Speckle2SelfEncoder(widths, in_channels)
        self.decoder = decoder if decoder is not None else Speckle2SelfDecoder(widths, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Despeckle ``x`` ``[N, C, H, W]`` (H, W multiples of :attr:`size_multiple`)."""
        mean, std = image_statistics(x)
        return self.decoder(self.encoder(x), mean, std)


class Speckle2Self(nn.Module):
    """Speckle2Self training model: one encoder per multi-scale view, one shared decoder.

    Args:
        features: encoder channels (the paper's ``(32, 64, 128, 256)``).
        num_views: number of views (3: scales 1, 0.5, 0.25); view 0 must be the full-scale one.
        in_channels: channels of each view.
    """

    def __init__(
        self, features: Sequence[int] = DEFAULT_FEATURES, num_views: int = 3, in_channels: int = 1
    ) -> None:
        super().__init__()
        if int(num_views) != num_views or num_views < 2:
            raise InvalidParameterError(f"Speckle2Self: num_views must be an integer >= 2, got {num_views!r}")
        self.features = _check_features(features)
        self.in_channels = in_channels
        self.num_views = int(num_views)
        self.size_multiple = 2 ** len(self.features)
        self.encoders = nn.ModuleList(
            Speckle2SelfEncoder(self.features, in_channels) for _ in range(self.num_views)
        )
        self.decoder = Speckle2SelfDecoder(self.features, in_channels)

    def forward(self, views: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Reconstruct each view ``[N, C, H, W]`` through its own encoder and the shared decoder."""
        if len(views) != self.num_views:
            raise InvalidParameterError(f"Speckle2Self expects {self.num_views} views, got {len(views)}")
        return [
            self.decoder(encoder(view), *image_statistics(view))
            for encoder, view in zip(self.encoders, views, strict=True)
        ]

    def inference_network(self) -> Speckle2SelfInference:
        """The full-scale encoder + decoder as one module, sharing (not copying) their parameters.

        Its ``state_dict`` is what a bundle ships; load it into ``Speckle2SelfInference(features)``.
        """
        encoder = cast(Speckle2SelfEncoder, self.encoders[0])  # ModuleList items are typed as Module
        return Speckle2SelfInference(self.features, self.in_channels, encoder=encoder, decoder=self.decoder)
