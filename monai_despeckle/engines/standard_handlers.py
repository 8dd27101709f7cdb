"""The handlers every training run has: they make a run's output folder what a bundle expects.

Validation every ``val_interval`` epochs, the best-metric checkpoint ``model.pt`` and the final
``model_final.pt``, early stopping on the key metric, console / TensorBoard statistics, a progress
bar and the per-epoch ``history.csv``. A recipe's own handlers (its learning-rate schedule, a
user's additions in ``train.json``) are attached beside them.

Distributed validation: every rank validates the whole (small) validation set, not rank 0 alone.
MONAI's metrics all-gather their per-image scores across ranks when aggregating (a collective that
would wait forever for ranks that skipped validation), and early stopping must end every rank at
the same epoch, or the others would hang in DDP's next all-reduce. With the gathered scores every
rank computes the same metric, hence the same decision; the duplicated scores leave the mean
unchanged. Sharding the set instead would leave a rank with no image when it is smaller than the
world size. Only rank 0 logs and writes.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ignite.engine import Events
from monai.engines import SupervisedEvaluator, Trainer
from monai.handlers import (
    CheckpointSaver,
    EarlyStopHandler,
    StatsHandler,
    TensorBoardStatsHandler,
    ValidationHandler,
    stopping_fn_from_metric,
)
from torch import nn

from monai_despeckle.engines.distributed import BroadcastBuffers, DistributedHistory, DistributedRun
from monai_despeckle.engines.handlers import TrainingHistory, output_scalar
from monai_despeckle.engines.output import BEST_CHECKPOINT, FINAL_CHECKPOINT, HISTORY_CSV
from monai_despeckle.engines.settings import RunSettings

__all__ = ["StandardHandlers", "attach_standard_handlers"]

logger = logging.getLogger(__name__)


@dataclass
class StandardHandlers:
    """What :func:`attach_standard_handlers` attached that the run needs afterwards."""

    history: TrainingHistory
    writer: Any = None

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()


def _tensorboard_writer(out: Path) -> Any:
    if importlib.util.find_spec("tensorboard") is None:  # an optional extra: logs are a bonus
        logger.warning("no TensorBoard event files: pip install 'monai-despeckle[train]' for them")
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out / "tensorboard"))


def _log_handlers(trainer: Trainer, evaluator: SupervisedEvaluator, first: str, writer: Any) -> None:
    """Console (and, with ``writer``, TensorBoard) statistics: training loss, validation metrics."""

    def loss(output: Any) -> float:
        return output_scalar(output, first)

    def epoch(_: Any) -> int:
        return int(trainer.state.epoch)

    StatsHandler(tag_name="train_loss", output_transform=loss).attach(trainer)
    StatsHandler(iteration_log=False, output_transform=lambda _: None, global_epoch_transform=epoch).attach(
        evaluator
    )
    if writer is not None:
        TensorBoardStatsHandler(summary_writer=writer, tag_name="train_loss", output_transform=loss).attach(
            trainer
        )
        TensorBoardStatsHandler(
            summary_writer=writer,
            iteration_log=False,
            output_transform=lambda _: None,
            global_epoch_transform=epoch,
        ).attach(evaluator)


def attach_standard_handlers(
    config: RunSettings,
    out: Path,
    trainer: Trainer,
    evaluator: SupervisedEvaluator,
    network: nn.Module,
    *,
    loss_keys: Sequence[str],
    baseline: Mapping[str, float],
    extra_final: Mapping[str, nn.Module],
    ddp: DistributedRun | None,
    handlers: Sequence[Any] = (),
    val_handlers: Sequence[Any] = (),
) -> StandardHandlers:
    """Attach the standard handlers, then ``handlers`` (trainer) and ``val_handlers`` (evaluator).

    Args:
        config: the run's settings (``val_interval``, ``early_stop_patience``, ``progress``,
            ``tensorboard``).
        out: the output folder.
        trainer: a ``monai.engines`` trainer, not yet run.
        evaluator: validates ``network``; its key metric picks ``model.pt`` and stops early.
        network: the plain (unwrapped) inference network whose state_dict is checkpointed.
        loss_keys: scalar entries of the trainer's output to average per epoch (first = the loss).
        baseline: metrics of the noisy validation inputs (history columns ``input_<name>``).
        extra_final: other plain modules saved after the last epoch, ``{file name: module}``.
        ddp: this process's place in a distributed run, or None.
        handlers: the recipe's own trainer handlers (objects with ``attach(engine)``).
        val_handlers: the recipe's own evaluator handlers.
    """
    main = ddp is None or ddp.is_main
    key_name = evaluator.state.key_metric_name  # the best checkpoint and early stopping follow it
    first = loss_keys[0]
    if ddp is not None:  # first on EPOCH_COMPLETED: before the validation
        trainer.add_event_handler(Events.EPOCH_COMPLETED, BroadcastBuffers([network, *extra_final.values()]))
    ValidationHandler(interval=config.val_interval, validator=evaluator, epoch_level=True).attach(trainer)
    writer = _tensorboard_writer(out) if config.tensorboard and main else None
    if main:
        _log_handlers(trainer, evaluator, first, writer)
    if config.progress and main:
        from ignite.handlers import ProgressBar

        ProgressBar(desc="train ").attach(
            trainer, output_transform=lambda o: {first: output_scalar(o, first)}
        )
    if main:  # the savers hold the plain modules: state_dict keys without DDP's "module." prefix
        CheckpointSaver(
            str(out),
            {"model": network},
            save_key_metric=True,
            key_metric_name=key_name,
            key_metric_filename=BEST_CHECKPOINT,
        ).attach(evaluator)
        finals = {FINAL_CHECKPOINT: network, **extra_final}
        for filename, module in finals.items():
            CheckpointSaver(str(out), {"model": module}, save_final=True, final_filename=filename).attach(
                trainer
            )
    if config.early_stop_patience:  # on every rank (see the module's docstring)
        EarlyStopHandler(
            patience=config.early_stop_patience,
            score_function=stopping_fn_from_metric(key_name),
            trainer=trainer,
        ).attach(evaluator)
    for handler in handlers:
        handler.attach(trainer)
    for handler in val_handlers:
        handler.attach(evaluator)
    history_args = (out / HISTORY_CSV, loss_keys, evaluator)
    columns = {f"input_{k}": v for k, v in baseline.items()}
    if ddp is None:
        history = TrainingHistory(*history_args, baseline=columns)
    else:
        history = DistributedHistory(
            *history_args, baseline=columns, main=main, device=evaluator.state.device
        )
    history.attach(trainer)  # last: runs after validation on EPOCH_COMPLETED
    return StandardHandlers(history, writer)
