"""Distributed data parallel (``torchrun``) for the training workflows: the process group, the
wrapped networks, and what keeps every rank in step.

A run with ``distributed=True`` is one process of a ``torchrun`` launch: :func:`init_distributed`
joins the process group (NCCL on CUDA, each process on ``cuda:$LOCAL_RANK``; Gloo on the CPU),
:func:`distribute` wraps the networks the trainer optimises in ``DistributedDataParallel`` (the
rest of the run keeps the plain modules), :class:`BroadcastBuffers` gives every rank rank 0's
buffers before validation, and :class:`DistributedHistory` averages the epoch's losses over all
ranks. Only rank 0 writes files or logs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from ignite.engine import Engine
from monai.engines import Trainer
from torch import nn

from monai_despeckle.engines.handlers import TrainingHistory
from monai_despeckle.errors import InvalidParameterError

__all__ = [
    "TORCHRUN_ENV",
    "BroadcastBuffers",
    "DistributedHistory",
    "DistributedRun",
    "distribute",
    "init_distributed",
    "is_main_process",
]

TORCHRUN_ENV: tuple[str, ...] = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What ``torch.distributed.init_process_group("env://")`` reads; ``torchrun`` sets them (and LOCAL_RANK)."""


@dataclass(frozen=True)
class DistributedRun:
    """This process's place in a distributed (``torchrun``) run.

    Attributes:
        rank: global rank of the process; rank 0 writes the run's files.
        world_size: number of processes.
        owns_group: the workflow initialised ``torch.distributed`` (and destroys it at the end);
            False when the caller had initialised it.
    """

    rank: int
    world_size: int
    owns_group: bool

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes."""
        return self.rank == 0


def is_main_process() -> bool:
    """True unless this is a non-zero rank of an initialised ``torch.distributed`` process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def init_distributed(device: torch.device) -> tuple[DistributedRun, torch.device]:
    """Join the process group of a ``torchrun`` launch, initialising it unless the caller did.

    Args:
        device: the resolved training device; on CUDA each process takes ``cuda:$LOCAL_RANK``.

    Returns:
        This process's :class:`DistributedRun` and its device.

    Raises:
        InvalidParameterError: torchrun's environment (RANK, WORLD_SIZE, ...) is missing.
    """
    owns = not (dist.is_available() and dist.is_initialized())
    if owns:
        if not dist.is_available():
            raise InvalidParameterError("distributed training needs torch.distributed, missing in this build")
        needed = TORCHRUN_ENV + (("LOCAL_RANK",) if device.type == "cuda" else ())
        missing = [name for name in needed if name not in os.environ]
        if missing:
            raise InvalidParameterError(
                f"distributed=True but the environment has no {', '.join(missing)}: launch the run with "
                "torchrun (e.g. `torchrun --nproc_per_node=2 -m monai.bundle run ...`), which sets them, "
                "or train with distributed=False"
            )
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
        if not 0 <= local_rank < torch.cuda.device_count():
            raise InvalidParameterError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedRun(dist.get_rank(), dist.get_world_size(), owns), device


def distribute(module: nn.Module, device: torch.device, ddp: DistributedRun | None) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` for a distributed run, else itself.

    Give the wrapper to the trainer only: it shares the module's parameters, so validation,
    checkpoints and the result keep using the plain module (state_dict keys without ``module.``).
    """
    if ddp is None:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(module)


class BroadcastBuffers:
    """At each epoch's end, give every rank rank 0's buffers (BatchNorm running statistics).

    DDP broadcasts buffers at the start of each forward pass, so after an epoch's last batch every
    rank holds statistics of its own batch. Syncing them before validation makes every rank
    validate exactly the weights rank 0 checkpoints.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        seen: dict[int, torch.Tensor] = {}
        for module in modules:
            for buffer in module.buffers():
                seen.setdefault(id(buffer), buffer)
        self.buffers = list(seen.values())

    def __call__(self, engine: Trainer) -> None:
        for buffer in self.buffers:
            dist.broadcast(buffer, src=0)


class DistributedHistory(TrainingHistory):
    """:class:`TrainingHistory` whose epoch means cover every rank's batches; only rank 0 writes it."""

    def __init__(self, *args: Any, main: bool, device: torch.device, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.main = main
        self.device = device

    def _record(self, engine: Engine) -> None:
        totals = [*(self._sums[key] for key in self.loss_keys), float(self._count)]
        summed = torch.tensor(totals, dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)  # every rank, at every epoch's end: the collectives stay in step
        *sums, count = summed.tolist()
        self._sums, self._count = dict(zip(self.loss_keys, sums, strict=True)), int(count)
        super()._record(engine)

    def write(self) -> None:
        if self.main:
            super().write()
