"""Training losses on tensors whose loss values can be worked out by hand."""

import math

import pytest
import torch
from monai.losses import PatchAdversarialLoss

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.losses import (
    LossParts,
    Pix2PixDiscriminatorLoss,
    Pix2PixGeneratorLoss,
    Speckle2SelfLoss,
    gan_loss,
)


def const(value: float, shape=(2, 1, 4, 4)) -> torch.Tensor:
    return torch.full(shape, value)


def test_speckle2self_loss_by_hand():
    outputs = [const(0.5), const(0.25), const(0.0)]
    views = [const(1.0), const(0.25), const(0.5)]
    parts = Speckle2SelfLoss()(outputs, views)
    # MSE per view: 0.25, 0, 0.25; pairwise L1: |0.5-0.25| + |0.5-0| + |0.25-0| = 1.0
    assert isinstance(parts, LossParts)
    assert parts["reconstruction"].item() == pytest.approx(0.5)
    assert parts["consistency"].item() == pytest.approx(1.0)
    assert parts.total.item() == pytest.approx(1.5)
    weighted = Speckle2SelfLoss(reconstruction_weight=2.0, consistency_weight=3.0)(outputs, views)
    assert weighted.total.item() == pytest.approx(2.0 * 0.5 + 3.0 * 1.0)
    assert weighted.detached() == pytest.approx({"total": 4.0, "reconstruction": 0.5, "consistency": 1.0})


def test_speckle2self_loss_is_zero_only_when_outputs_agree_and_match_the_views():
    same = [const(0.3)] * 3
    assert Speckle2SelfLoss()(same, same).total.item() == 0.0
    # agreeing outputs that miss the views: only the reconstruction term remains
    parts = Speckle2SelfLoss()(same, [const(0.3), const(0.5), const(0.1)])
    assert parts["consistency"].item() == 0.0
    assert parts["reconstruction"].item() == pytest.approx(2 * 0.2**2)


def test_speckle2self_loss_gradients_reach_every_output():
    outputs = [torch.rand(1, 1, 8, 8, requires_grad=True) for _ in range(3)]
    views = [torch.rand(1, 1, 8, 8) for _ in range(3)]
    Speckle2SelfLoss()(outputs, views).total.backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outputs)


def test_speckle2self_loss_rejects_mismatched_inputs():
    with pytest.raises(InvalidParameterError, match="one output per view"):
        Speckle2SelfLoss()([const(0.1)] * 2, [const(0.1)] * 3)
    with pytest.raises(InvalidParameterError, match="consistency_weight"):
        Speckle2SelfLoss(consistency_weight=-1.0)


def test_gan_loss_values_from_constructed_logits():
    # BCE with logits: real -> log(1 + e^-x), fake -> log(1 + e^x)
    x = math.log(3.0)
    logits = torch.full((2, 1, 30, 30), x)
    assert gan_loss(logits, real=True).item() == pytest.approx(math.log(4.0 / 3.0), rel=1e-6)
    assert gan_loss(logits, real=False).item() == pytest.approx(math.log(4.0), rel=1e-6)
    # least squares: mean (x - label)^2
    assert gan_loss(logits, real=True, criterion="lsgan").item() == pytest.approx((x - 1.0) ** 2, rel=1e-6)
    # stays finite where sigmoid + BCELoss would saturate
    assert gan_loss(torch.full((1, 1, 2, 2), -200.0), real=True).item() == pytest.approx(200.0)
    with pytest.raises(InvalidParameterError, match="hinge"):
        gan_loss(logits, real=True, criterion="hinge")


def test_gan_loss_agrees_with_monai_patch_adversarial_loss():
    logits = torch.randn(3, 1, 14, 14, generator=torch.Generator().manual_seed(0)) * 3
    monai_bce = PatchAdversarialLoss(criterion="bce")
    for real in (True, False):
        expected = monai_bce(logits, target_is_real=real, for_discriminator=True)
        assert gan_loss(logits, real=real).item() == pytest.approx(expected.item(), rel=1e-5)


def test_pix2pix_generator_loss_is_adversarial_plus_100_l1_on_the_signed_scale():
    loss = Pix2PixGeneratorLoss()
    fake_logits = torch.zeros(2, 1, 6, 6)  # D undecided: BCE = log 2
    fake, target = const(0.3), const(0.5)  # 0.2 apart in [0, 1], 0.4 apart in pix2pix's [-1, 1]
    parts = loss(fake_logits, fake, target)
    assert parts["adversarial"].item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert parts["reconstruction"].item() == pytest.approx(100.0 * 0.4, rel=1e-5)
    assert parts.total.item() == pytest.approx(40.0 + math.log(2.0), rel=1e-5)
    # the two halves AdversarialTrainer calls separately add up to the same total
    split = loss.adversarial(fake_logits) + loss.reconstruction(fake, target)
    assert split.item() == pytest.approx(parts.total.item())
    assert Pix2PixGeneratorLoss(lambda_l1=10.0).reconstruction(fake, target).item() == pytest.approx(4.0)


def test_pix2pix_discriminator_loss_halves_real_plus_fake():
    loss = Pix2PixDiscriminatorLoss()
    undecided = torch.zeros(2, 1, 6, 6)
    assert loss(undecided, undecided).item() == pytest.approx(math.log(2.0), rel=1e-6)  # ½(log2 + log2)
    confident = loss(torch.full((2, 1, 6, 6), 20.0), torch.full((2, 1, 6, 6), -20.0))
    assert confident.item() == pytest.approx(0.0, abs=1e-8)
    parts = loss.parts(torch.full((1, 1, 2, 2), math.log(3.0)), torch.full((1, 1, 2, 2), math.log(3.0)))
    assert parts["real"].item() == pytest.approx(math.log(4 / 3), rel=1e-6)
    assert parts["fake"].item() == pytest.approx(math.log(4.0), rel=1e-6)
    assert parts.total.item() == pytest.approx(0.5 * (math.log(4 / 3) + math.log(4.0)), rel=1e-6)
    with pytest.raises(InvalidParameterError, match="criterion"):
        Pix2PixDiscriminatorLoss(criterion="wasserstein")
