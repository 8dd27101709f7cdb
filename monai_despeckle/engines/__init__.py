"""Training workflows of the learned despecklers, on ``monai.engines`` and ``monai.handlers``.

One entry point per model, each taking a :class:`TrainConfig` (or its fields as keywords) and
returning a :class:`TrainResult`:

- :func:`train_dae`: skip-connected denoising autoencoder (and its no-skip ablation), supervised
  (``SupervisedTrainer``);
- :func:`train_speckle2self`: Speckle2Self, self-supervised on noisy images only
  (:class:`Speckle2SelfTrainer`);
- :func:`train_pix2pix`: pix2pix generator + PatchGAN (:class:`Pix2PixTrainer`, an
  ``AdversarialTrainer``).

From a bundle config::

    {"_target_": "monai_despeckle.engines.train_dae", "data": "../shared/data/busi",
     "output_dir": "runs/dae", "max_epochs": 300}
"""

from monai_despeckle.engines.adversarial import Pix2PixTrainer, train_pix2pix
from monai_despeckle.engines.data import (
    DataLists,
    LoadFramed,
    datalists,
    folder_datalists,
    phantom_datalists,
    self_supervised_lists,
    self_supervised_transform,
    simulated_dataset_lists,
    supervised_transform,
)
from monai_despeckle.engines.handlers import (
    TrainingHistory,
    metric_handlers,
    plot_training_curve,
    read_history,
)
from monai_despeckle.engines.self_supervised import Speckle2SelfTrainer, train_speckle2self
from monai_despeckle.engines.supervised import train_dae
from monai_despeckle.engines.workflow import TrainConfig, TrainResult, make_evaluator, resolve_device

__all__ = [
    "DataLists",
    "LoadFramed",
    "Pix2PixTrainer",
    "Speckle2SelfTrainer",
    "TrainConfig",
    "TrainResult",
    "TrainingHistory",
    "datalists",
    "folder_datalists",
    "make_evaluator",
    "metric_handlers",
    "phantom_datalists",
    "plot_training_curve",
    "read_history",
    "resolve_device",
    "self_supervised_lists",
    "self_supervised_transform",
    "simulated_dataset_lists",
    "supervised_transform",
    "train_dae",
    "train_pix2pix",
    "train_speckle2self",
]
