"""pix2pix training on ``monai.engines.AdversarialTrainer``.

Isola et al. (CVPR 2017), as used for ultrasound despeckling by Vieira et al. (IEEE Access 2024):
the U-Net generator maps the speckled image x to G(x); the PatchGAN discriminator D judges pairs
``cat(x, y)`` (real, y = clean) and ``cat(x, G(x))`` (fake). Generator loss: adversarial BCE +
100 · L1(G(x), y); discriminator loss: ½ (real + fake). Both networks and the L1 work on
pix2pix's [-1, 1] image scale. Adam, lr 2e-4, betas (0.5, 0.999), both; ``lr_decay_epochs``
gives pix2pix's schedule (constant, then linear decay towards zero).

``AdversarialTrainer`` is written for an autoencoder-style GAN: its discriminator sees the
generator's output alone and takes the *input* batch as the "real" images. :class:`Pix2PixTrainer`
adapts it through its public hooks only, without rewriting the iteration: ``prepare_batch`` passes
the speckled image on as a ``condition`` keyword; the discriminator's inferer concatenates that
condition with what it judges (the generator's inferer ignores it); and a handler on
``GENERATOR_MODEL_COMPLETED`` (after the generator step, before the discriminator step) makes the
clean label the discriminator's "real" images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.engines import AdversarialTrainer, default_prepare_batch
from monai.inferers import Inferer
from monai.utils import AdversarialIterationEvents, AdversarialKeys
from monai.utils import CommonKeys as Keys
from torch import nn
from torch.optim import Optimizer

from monai_despeckle.engines.schedules import linear_decay
from monai_despeckle.engines.settings import TrainConfig
from monai_despeckle.engines.supervised import supervised_loaders
from monai_despeckle.engines.validation import make_evaluator
from monai_despeckle.engines.workflow import DespeckleWorkflow, TrainResult
from monai_despeckle.losses import Pix2PixDiscriminatorLoss, Pix2PixGeneratorLoss
from monai_despeckle.networks import Pix2PixGenerator
from monai_despeckle.networks.patch_gan import PatchDiscriminator

__all__ = [
    "PIX2PIX_BETAS",
    "PIX2PIX_LAMBDA_L1",
    "PIX2PIX_LR",
    "ConditionalDiscriminatorInferer",
    "GeneratorInferer",
    "Pix2PixTrainer",
    "conditional_prepare_batch",
    "loss_record",
    "train_pix2pix",
]

PIX2PIX_LR = 2e-4
PIX2PIX_BETAS = (0.5, 0.999)
PIX2PIX_LAMBDA_L1 = 100.0
LOSS_KEYS = tuple(
    str(key)
    for key in (
        Keys.LOSS,
        AdversarialKeys.GENERATOR_LOSS,
        AdversarialKeys.RECONSTRUCTION_LOSS,
        AdversarialKeys.DISCRIMINATOR_LOSS,
    )
)
DISCRIMINATOR_FINAL = "discriminator_final.pt"


def conditional_prepare_batch(
    batchdata: dict[str, torch.Tensor],
    device: torch.device | str | None = None,
    non_blocking: bool = False,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None, tuple, dict[str, torch.Tensor]]:
    """``(image, label, (), {"condition": image})``: the inferers receive the speckled image as condition."""
    image, label = default_prepare_batch(batchdata, device, non_blocking, **kwargs)
    return image, label, (), {"condition": image}


class GeneratorInferer(Inferer):
    """Run the generator on its input; the ``condition`` keyword is for the discriminator only."""

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        return network(inputs)


class ConditionalDiscriminatorInferer(Inferer):
    """Run the discriminator on ``cat(condition, inputs)``: a pix2pix D judges (speckled, candidate) pairs."""

    def __call__(
        self,
        inputs: torch.Tensor,
        network: Callable[..., Any],
        *args: Any,
        condition: torch.Tensor,
        **kwargs: Any,
    ) -> torch.Tensor:
        return network(PatchDiscriminator.pair(condition.to(inputs.dtype), inputs))


def _clean_images_are_real(engine: AdversarialTrainer) -> None:
    """After the generator step: the discriminator's real pairs hold the clean label, and log G's loss."""
    output = engine.state.output
    output[AdversarialKeys.REALS] = output[Keys.LABEL]
    if Keys.LOSS not in output:  # AdversarialTrainer stores the summed G loss only on its AMP path
        output[Keys.LOSS] = (
            output[AdversarialKeys.RECONSTRUCTION_LOSS] + output[AdversarialKeys.GENERATOR_LOSS]
        ).detach()


class Pix2PixTrainer(AdversarialTrainer):
    """``AdversarialTrainer`` wired for conditional (pix2pix) training; see the module docstring.

    Batches are ``{"image": speckled, "label": clean}``. The output dict holds MONAI's adversarial
    keys plus ``loss`` (generator total).

    Args:
        device: where to train.
        max_epochs: number of epochs.
        train_data_loader: batches of pairs.
        generator: the :class:`~monai_despeckle.networks.Pix2PixGenerator`.
        discriminator: the conditional :class:`~monai_despeckle.networks.patch_gan.PatchDiscriminator`.
        g_optimizer: generator optimiser.
        d_optimizer: discriminator optimiser.
        generator_loss: adversarial + λ·L1 (:class:`~monai_despeckle.losses.Pix2PixGeneratorLoss`).
        discriminator_loss: ½ (real + fake) (:class:`~monai_despeckle.losses.Pix2PixDiscriminatorLoss`).
        train_handlers: handlers to attach.
        amp: autocast + gradient scaling on CUDA.
        **kwargs: other ``AdversarialTrainer`` arguments.
    """

    def __init__(
        self,
        device: torch.device | str,
        max_epochs: int,
        train_data_loader: Any,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        generator_loss: Pix2PixGeneratorLoss | None = None,
        discriminator_loss: Pix2PixDiscriminatorLoss | None = None,
        train_handlers: Sequence[Any] | None = None,
        amp: bool = False,
        **kwargs: Any,
    ) -> None:
        generator_loss = generator_loss if generator_loss is not None else Pix2PixGeneratorLoss()
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            g_network=generator,
            g_optimizer=g_optimizer,
            g_loss_function=generator_loss.adversarial,
            recon_loss_function=generator_loss.reconstruction,
            d_network=discriminator,
            d_optimizer=d_optimizer,
            d_loss_function=discriminator_loss
            if discriminator_loss is not None
            else Pix2PixDiscriminatorLoss(),
            prepare_batch=conditional_prepare_batch,
            g_inferer=GeneratorInferer(),
            d_inferer=ConditionalDiscriminatorInferer(),
            train_handlers=train_handlers,
            amp=amp,
            decollate=False,
            **kwargs,
        )
        self.add_event_handler(AdversarialIterationEvents.GENERATOR_MODEL_COMPLETED, _clean_images_are_real)


def loss_record(
    workflow: DespeckleWorkflow,
    generator_loss: Pix2PixGeneratorLoss,
    discriminator_loss: Pix2PixDiscriminatorLoss,
) -> dict[str, Any]:
    """Record the losses' settings in the run's ``config.json`` (``loss``); returns the entry."""
    entry: dict[str, Any] = {
        "lambda_l1": generator_loss.lambda_l1,
        "criterion": generator_loss.criterion,
        "image_scale": "[-1, 1]",  # both networks' inputs and the L1, as in pix2pix
    }
    if discriminator_loss.criterion != generator_loss.criterion:  # a config may swap one of them
        entry["discriminator_criterion"] = discriminator_loss.criterion
    workflow.record["loss"] = entry
    return entry


def train_pix2pix(
    config: TrainConfig | None = None,
    train_handlers: Sequence[Any] = (),
    lambda_l1: float = PIX2PIX_LAMBDA_L1,
    gan_criterion: str = "bce",
    **overrides: Any,
) -> TrainResult:
    """Train the pix2pix generator and discriminator on speckled/clean pairs.

    Pairs come from simulated sources as they are, or from real frames with synthetic speckle
    (``config.noise="rayleigh"`` follows Vieira et al.; ``"gaussian"`` the seed paper).

    Args:
        config: the run's settings; ``config.model`` holds
            :class:`~monai_despeckle.networks.Pix2PixGenerator` keyword arguments and may hold
            ``"discriminator"``: keyword arguments of
            :class:`~monai_despeckle.networks.patch_gan.PatchDiscriminator`.
        train_handlers: more handlers to attach to the trainer (objects with ``attach(engine)``).
        lambda_l1: weight λ of the L1 term against the adversarial one (pix2pix: 100; larger
            trusts the paired clean target more, smaller lets the discriminator shape texture).
        gan_criterion: ``"bce"`` (pix2pix) or ``"lsgan"`` for both networks' adversarial losses.
        **overrides: :class:`TrainConfig` fields to override.

    Returns:
        :class:`TrainResult`; ``model.pt`` is the generator's best state_dict,
        ``discriminator_final.pt`` the discriminator after the last epoch.
    """
    config = TrainConfig.build(config, **overrides)
    generator_loss = Pix2PixGeneratorLoss(lambda_l1=lambda_l1, criterion=gan_criterion)
    discriminator_loss = Pix2PixDiscriminatorLoss(criterion=gan_criterion)
    workflow = DespeckleWorkflow(config, "pix2pix")
    generator_kwargs = {k: v for k, v in config.model.items() if k != "discriminator"}
    generator = workflow.prepare_network(Pix2PixGenerator(**generator_kwargs))
    discriminator = workflow.place(PatchDiscriminator(**config.model.get("discriminator", {})))
    loss_record(workflow, generator_loss, discriminator_loss)
    data = supervised_loaders(workflow)
    lr = config.lr or PIX2PIX_LR
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=lr, betas=PIX2PIX_BETAS)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=PIX2PIX_BETAS)
    trainer = Pix2PixTrainer(
        device=workflow.device,
        max_epochs=config.max_epochs,
        train_data_loader=data.train,
        generator=workflow.distribute(generator),
        discriminator=workflow.distribute(discriminator),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        generator_loss=generator_loss,
        discriminator_loss=discriminator_loss,
        amp=workflow.amp,
    )
    evaluator = make_evaluator(generator, data.val, workflow.device, workflow.amp, config.key_metric)
    schedules = [
        linear_decay(opt, config.max_epochs, config.lr_decay_epochs) for opt in (g_optimizer, d_optimizer)
    ]
    return workflow.run(
        trainer,
        evaluator,
        generator,
        loss_keys=LOSS_KEYS,
        handlers=[*schedules, *train_handlers],
        extra_final={DISCRIMINATOR_FINAL: discriminator},
    )
