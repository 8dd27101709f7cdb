"""Downstream segmentation: does despeckling help read breast lesions and carotid lumens?

- :mod:`~monai_despeckle.segmentation.tasks`: the two tasks (labels, data, bundle);
- :mod:`~monai_despeckle.segmentation.data`: image/mask datalists and the training pipeline;
- :mod:`~monai_despeckle.segmentation.training`: training on ``monai.engines``;
- :mod:`~monai_despeckle.segmentation.segmenter`: :class:`Segmenter`, a bundle on frames, cines, volumes;
- :mod:`~monai_despeckle.segmentation.files`: label-map files and folders;
- :mod:`~monai_despeckle.segmentation.statistics`: Dice, HD95, paired Wilcoxon tests;
- :mod:`~monai_despeckle.segmentation.evaluation`: ``segment-eval``, both ways of using despeckling.
"""

from monai_despeckle.segmentation.segmenter import Segmenter, resolve_segmentation_bundle
from monai_despeckle.segmentation.tasks import TASKS, SegTask, get_task
from monai_despeckle.segmentation.training import SegTrainConfig, train_segmenter

__all__ = [
    "TASKS",
    "SegTask",
    "SegTrainConfig",
    "Segmenter",
    "get_task",
    "resolve_segmentation_bundle",
    "train_segmenter",
]
