"""A handler for tests that change a bundle's handlers by config (``recording_handlers.Recorder``)."""

from __future__ import annotations

from typing import Any

import torch
from ignite.engine import Engine, Events


class Recorder:
    """After every iteration: the batch's size, and for a trainer its loss, learning rate and L1/MSE."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.losses: list[float] = []
        self.l1: list[float] = []
        self.mse: list[float] = []
        self.rates: list[float] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._record)

    def _record(self, engine: Any) -> None:
        output = engine.state.output  # the supervised engines decollate: one dict per image
        self.batch_sizes.append(len(output))
        if "loss" not in output[0]:  # an evaluator
            return
        pred = torch.stack([item["pred"] for item in output]).float()
        label = torch.stack([item["label"] for item in output]).float()
        self.losses.append(float(output[0]["loss"]))
        self.l1.append(float((pred - label).abs().mean()))
        self.mse.append(float(((pred - label) ** 2).mean()))
        self.rates.append(float(engine.optimizer.param_groups[0]["lr"]))
