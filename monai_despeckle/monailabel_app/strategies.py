"""Active learning: which unlabelled image an annotator should label next.

Besides MONAI Label's ``random`` and ``first`` strategies the app offers ``uncertainty``: the
segmenter labels each candidate image as it is, mirrored left-right and with its gamma lowered
and raised (changes a scan's appearance may undergo without changing its anatomy), and the image
whose label maps disagree most (1 − mean Dice against the unchanged image's) is served: there
the model is least sure, so a correction teaches it most (test-time augmentation as an
uncertainty estimate, Wang et al., Neurocomputing 338:34, 2019).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
from monailabel.interfaces.tasks.strategy import Strategy

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.monailabel_app.errors import NotFoundError
from monai_despeckle.monailabel_app.inputs import read_request_file
from monai_despeckle.monailabel_app.models import ModelVersions

__all__ = ["TTAUncertainty", "augmentation_disagreement", "dice"]

GAMMAS = (0.8, 1.25)
DEFAULT_CANDIDATES = 16
FRAMES_PER_IMAGE = 4


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of the structures (label > 0) of two label maps; 1 when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def augmentation_disagreement(segmenter: Any, frames: np.ndarray) -> float:
    """1 − mean Dice between the label maps of ``frames`` and of their augmented copies, in [0, 1]."""
    reference = segmenter.predict(frames)
    mirrored = segmenter.predict(frames[:, :, ::-1].copy())[:, :, ::-1]
    views = [mirrored] + [segmenter.predict(np.power(frames, gamma)) for gamma in GAMMAS]
    return 1.0 - float(np.mean([dice(reference, view) for view in views]))


class TTAUncertainty(Strategy):
    """The unlabelled image whose segmentation is least stable under test-time augmentation.

    Request parameters: ``model`` (whose segmenter judges; default the first), ``max_candidates``
    (unlabelled images scored per request, drawn at random when there are more).

    Args:
        versions: the model versions by infer task name (``segment_breast``...).
    """

    def __init__(self, versions: Mapping[str, ModelVersions]) -> None:
        super().__init__("unlabelled image the segmenter is least sure of (test-time augmentation)")
        self.versions = dict(versions)

    def info(self) -> dict[str, Any]:
        """Description and the options clients show."""
        return {
            "description": self.description,
            "config": {"model": list(self.versions), "max_candidates": DEFAULT_CANDIDATES},
        }

    def __call__(self, request: Mapping[str, Any], datastore: Any) -> dict[str, Any] | None:
        model = request.get("model") or next(iter(self.versions))
        if model not in self.versions:
            raise NotFoundError(
                f"no model {model!r} to judge uncertainty; choose one of: {', '.join(self.versions)}"
            )
        count = request.get("max_candidates", DEFAULT_CANDIDATES)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidParameterError(f"max_candidates must be an integer >= 1, got {count!r}")
        candidates = sorted(datastore.get_unlabeled_images())
        if not candidates:
            return None
        if len(candidates) > count:
            candidates = random.sample(candidates, count)
        segmenter = self.versions[model].segmenter(mirror=False)
        scores = {}
        for image_id in candidates:
            image = read_request_file(datastore.get_image_uri(image_id), f"image {image_id!r}")
            picks = np.unique(np.linspace(0, image.num_frames - 1, FRAMES_PER_IMAGE).round().astype(int))
            scores[image_id] = augmentation_disagreement(segmenter, image.frames[picks])
        chosen = max(scores, key=lambda key: scores[key])
        return {"id": chosen, "uncertainty": scores[chosen], "model": model, "candidates": len(scores)}
