"""Learning-rate schedules as epoch-level ``monai.handlers.LrScheduleHandler``s; used in ``train.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from monai.handlers import LrScheduleHandler

from monai_despeckle.errors import InvalidParameterError

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import _LRScheduler

__all__ = ["cosine_decay", "linear_decay"]


def _handler(schedule: torch.optim.lr_scheduler.LRScheduler) -> LrScheduleHandler:
    # MONAI annotates the old _LRScheduler; every LRScheduler of torch >= 2.0 works
    return LrScheduleHandler(cast("_LRScheduler", schedule), print_lr=False)


def linear_decay(optimizer: torch.optim.Optimizer, max_epochs: int, decay_epochs: int) -> LrScheduleHandler:
    """Hold the learning rate constant, then decay it linearly over the last ``decay_epochs`` epochs.

    The rate falls by equal steps, reaching ``1 / (decay_epochs + 1)`` of its start in the last
    epoch (Isola et al.'s pix2pix schedule); ``decay_epochs=0`` keeps it constant throughout.
    """
    if isinstance(decay_epochs, bool) or not 0 <= decay_epochs <= max_epochs:
        raise InvalidParameterError(
            f"lr_decay_epochs must be an integer from 0 to max_epochs ({max_epochs}), got {decay_epochs!r}"
        )
    constant = max_epochs - decay_epochs

    def factor(epochs_done: int) -> float:
        return 1.0 - max(0, epochs_done + 1 - constant) / (decay_epochs + 1)

    return _handler(torch.optim.lr_scheduler.LambdaLR(optimizer, factor))


def cosine_decay(
    optimizer: torch.optim.Optimizer, max_epochs: int, final_fraction: float
) -> LrScheduleHandler:
    """Cosine annealing over ``max_epochs`` epochs down to ``final_fraction`` of each group's start."""
    start = optimizer.param_groups[0]["lr"]
    return _handler(
        torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max_epochs, eta_min=final_fraction * start
        )
    )
