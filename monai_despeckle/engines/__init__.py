"""Training workflows of the learned despecklers, on ``monai.engines`` and ``monai.handlers``.

Every run is a :class:`~monai_despeckle.engines.workflow.TrainingWorkflow` (settings, data lists,
device, DDP, output folder, standard handlers) plus its recipe's components. A bundle's
``configs/train.json`` declares those components (network, data, loss, optimiser, trainer,
evaluator, handlers) with ``_target_``; the Python entry points build the same ones, each taking a
:class:`TrainConfig` (or its fields as keywords) and returning a :class:`TrainResult`:

- :func:`train_dae`: skip-connected denoising autoencoder (and its no-skip ablation), supervised
  (``SupervisedTrainer``);
- :func:`train_speckle2self`: Speckle2Self, self-supervised on noisy images only
  (:class:`Speckle2SelfTrainer`);
- :func:`train_pix2pix`: pix2pix generator + PatchGAN (:class:`Pix2PixTrainer`, an
  ``AdversarialTrainer``).
"""

from monai_despeckle.engines.adversarial import Pix2PixTrainer, loss_record, train_pix2pix
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
from monai_despeckle.engines.schedules import cosine_decay, linear_decay
from monai_despeckle.engines.self_supervised import (
    MultiScaleViews,
    Speckle2SelfTrainer,
    msp_views,
    self_supervised_loaders,
    speckle2self_model,
    train_speckle2self,
)
from monai_despeckle.engines.settings import RunSettings, TrainConfig
from monai_despeckle.engines.supervised import supervised_loaders, train_dae
from monai_despeckle.engines.validation import make_evaluator
from monai_despeckle.engines.workflow import (
    DespeckleWorkflow,
    Loaders,
    TrainingWorkflow,
    TrainResult,
    resolve_device,
)

__all__ = [
    "DataLists",
    "DespeckleWorkflow",
    "LoadFramed",
    "Loaders",
    "MultiScaleViews",
    "Pix2PixTrainer",
    "RunSettings",
    "Speckle2SelfTrainer",
    "TrainConfig",
    "TrainResult",
    "TrainingHistory",
    "TrainingWorkflow",
    "cosine_decay",
    "datalists",
    "folder_datalists",
    "linear_decay",
    "loss_record",
    "make_evaluator",
    "metric_handlers",
    "msp_views",
    "phantom_datalists",
    "plot_training_curve",
    "read_history",
    "resolve_device",
    "self_supervised_lists",
    "self_supervised_loaders",
    "self_supervised_transform",
    "simulated_dataset_lists",
    "speckle2self_model",
    "supervised_loaders",
    "supervised_transform",
    "train_dae",
    "train_pix2pix",
    "train_speckle2self",
]
