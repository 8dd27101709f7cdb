"""Training losses of the learned despecklers.

- :class:`Speckle2SelfLoss`: reconstruction of every multi-scale view plus agreement between the
  reconstructions (Li, Navab & Jiang, Speckle2Self, Medical Image Analysis 2025, arXiv 2507.06828).
- pix2pix (Isola et al., CVPR 2017): :class:`Pix2PixGeneratorLoss` (adversarial + λ·L1, λ = 100)
  and :class:`Pix2PixDiscriminatorLoss` (½ (real + fake)). The adversarial term is the
  binary cross-entropy of pix2pix (``criterion="bce"``), computed from logits with
  ``binary_cross_entropy_with_logits`` — stable for large logits and safe under CUDA autocast,
  unlike ``monai.losses.PatchAdversarialLoss(criterion="bce")`` which applies a sigmoid and then
  ``BCELoss``. ``criterion="lsgan"`` gives the least-squares GAN variant (Mao et al., ICCV 2017).

Each loss returns its total together with the named parts (:class:`LossParts`), so training
handlers can log them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks.pix2pix import to_signed

__all__ = [
    "GAN_CRITERIA",
    "LossParts",
    "Pix2PixDiscriminatorLoss",
    "Pix2PixGeneratorLoss",
    "Speckle2SelfLoss",
    "gan_loss",
]

GAN_CRITERIA: tuple[str, ...] = ("bce", "lsgan")


class LossParts(dict):
    """A loss total and its named parts: ``parts["total"]`` plus one tensor per term.

    A plain ``dict`` of scalar tensors (so it can be logged or put in an engine's output as is) with
    :attr:`total` as a shortcut.
    """

    @property
    def total(self) -> torch.Tensor:
        """The value to back-propagate."""
        return self["total"]

    def detached(self) -> dict[str, float]:
        """The parts as Python floats, for logging."""
        return {name: float(value.detach()) for name, value in self.items()}


def _check_weight(name: str, value: float) -> float:
    if not float(value) >= 0.0:  # also rejects NaN
        raise InvalidParameterError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class Speckle2SelfLoss(nn.Module):
    """Speckle2Self objective: ``Σ_v MSE(out_v, view_v) + Σ_{a<b} L1(out_a, out_b)``.

    The reconstruction term makes each branch reproduce its own view; the consistency term makes
    the reconstructions of different views agree, which they can only do on what the views share
    (the tissue), not on the speckle, which the multi-scale perturbation changes from view to view.

    Args:
        reconstruction_weight: weight of the summed per-view MSE (1.0 in the paper).
        consistency_weight: weight of the summed pairwise L1 (1.0 in the paper).
    """

    def __init__(self, reconstruction_weight: float = 1.0, consistency_weight: float = 1.0) -> None:
        super().__init__()
        self.reconstruction_weight = _check_weight("reconstruction_weight", reconstruction_weight)
        self.consistency_weight = _check_weight("consistency_weight", consistency_weight)

    def forward(self, outputs: Sequence[torch.Tensor], views: Sequence[torch.Tensor]) -> LossParts:
        """Loss of the network ``outputs`` (one per view) against the input ``views``.

        Returns:
            :class:`LossParts` with ``total``, ``reconstruction`` (unweighted sum of MSEs) and
            ``consistency`` (unweighted sum of pairwise L1s).
        """
        if len(outputs) != len(views) or len(views) < 2:
            raise InvalidParameterError(
                f"Speckle2SelfLoss needs one output per view and at least 2 views, "
                f"got {len(outputs)} outputs for {len(views)} views"
            )
        reconstruction = sum(F.mse_loss(out, view) for out, view in zip(outputs, views, strict=True))
        consistency = sum(F.l1_loss(a, b) for a, b in combinations(outputs, 2))
        total = self.reconstruction_weight * reconstruction + self.consistency_weight * consistency
        return LossParts(total=total, reconstruction=reconstruction, consistency=consistency)


def gan_loss(logits: torch.Tensor, real: bool, criterion: str = "bce") -> torch.Tensor:
    """Mean GAN loss of discriminator ``logits`` against the label real (1) or fake (0).

    Args:
        logits: raw discriminator outputs (before any sigmoid), e.g. PatchGAN maps.
        real: the target label of every logit.
        criterion: ``"bce"`` (binary cross-entropy on logits, pix2pix) or ``"lsgan"`` (mean squared
            error to the label).
    """
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if criterion == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    if criterion == "lsgan":
        return F.mse_loss(logits, target)
    raise InvalidParameterError(
        f"unknown GAN criterion {criterion!r}; choose one of: {', '.join(GAN_CRITERIA)}"
    )


def _check_criterion(criterion: str) -> str:
    if criterion not in GAN_CRITERIA:
        raise InvalidParameterError(
            f"unknown GAN criterion {criterion!r}; choose one of: {', '.join(GAN_CRITERIA)}"
        )
    return criterion


class Pix2PixGeneratorLoss(nn.Module):
    """pix2pix generator objective: ``GAN(D(x, G(x)) → real) + λ · L1(G(x), y)``, λ = 100.

    Usable whole (:meth:`forward`) or as the two callables ``monai.engines.AdversarialTrainer``
    takes: :meth:`adversarial` as ``g_loss_function`` and :meth:`reconstruction` as
    ``recon_loss_function`` (the trainer adds them).

    Args:
        lambda_l1: weight of the L1 term (100 in pix2pix).
        criterion: ``"bce"`` (pix2pix) or ``"lsgan"``.
    """

    def __init__(self, lambda_l1: float = 100.0, criterion: str = "bce") -> None:
        super().__init__()
        self.lambda_l1 = _check_weight("lambda_l1", lambda_l1)
        self.criterion = _check_criterion(criterion)

    def adversarial(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """How far the discriminator is from calling the generated pairs real."""
        return gan_loss(fake_logits, real=True, criterion=self.criterion)

    def reconstruction(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``λ · mean |fake − target|`` on pix2pix's [-1, 1] scale (images here are in [0, 1]).

        pix2pix normalises images to [-1, 1] before its L1, so on [0, 1] images the same λ
        would weigh the L1 half as much against the adversarial term: the difference is
        mapped to [-1, 1] (doubled) first.
        """
        return self.lambda_l1 * F.l1_loss(to_signed(fake), to_signed(target))

    def forward(self, fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor) -> LossParts:
        """Total generator loss with its ``adversarial`` and (weighted) ``reconstruction`` parts."""
        adversarial = self.adversarial(fake_logits)
        reconstruction = self.reconstruction(fake, target)
        return LossParts(
            total=adversarial + reconstruction, adversarial=adversarial, reconstruction=reconstruction
        )


class Pix2PixDiscriminatorLoss(nn.Module):
    """pix2pix discriminator objective: ``½ (GAN(D(x, y) → real) + GAN(D(x, G(x)) → fake))``.

    Halving slows the discriminator relative to the generator, as in pix2pix. Called with
    ``(real_logits, fake_logits)``, the signature of ``AdversarialTrainer``'s ``d_loss_function``;
    that trainer takes the mean of what it returns, so the result is the total tensor. Use
    :meth:`parts` for the split.

    Args:
        criterion: ``"bce"`` (pix2pix) or ``"lsgan"``.
    """

    def __init__(self, criterion: str = "bce") -> None:
        super().__init__()
        self.criterion = _check_criterion(criterion)

    def parts(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> LossParts:
        """Total with its ``real`` and ``fake`` terms (unhalved)."""
        real = gan_loss(real_logits, real=True, criterion=self.criterion)
        fake = gan_loss(fake_logits, real=False, criterion=self.criterion)
        return LossParts(total=0.5 * (real + fake), real=real, fake=fake)

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``½ (real + fake)``."""
        return self.parts(real_logits, fake_logits).total
