"""The MONAI Label app: despeckle-assisted annotation of breast lesions and carotid lumens.

A thin layer over :class:`~monai_despeckle.inference.Despeckler` and
:class:`~monai_despeckle.segmentation.Segmenter`:

- infer tasks ``segment_breast`` / ``segment_carotid`` (label maps) and ``despeckle`` (images);
- train tasks of the same names, fine-tuning the newest model version on the final labels;
- strategies ``random``, ``first`` (MONAI Label's) and ``uncertainty``;
- a datastore over the studies folder that refuses files monai-despeckle cannot read.

Requests naming an image, model or strategy that does not exist are answered 404, other bad
requests 400 (see :mod:`~monai_despeckle.monailabel_app.errors`).

App configuration (``conf``): ``device`` (``auto``, ``cpu``, ``cuda``...).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

from monai_despeckle import __version__
from monai_despeckle.defaults import default_method_name
from monai_despeckle.monailabel_app.datastore import CheckedDatastore
from monai_despeckle.monailabel_app.despecklers import DespecklerPool
from monai_despeckle.monailabel_app.errors import NotFoundError
from monai_despeckle.monailabel_app.infer import DespeckleTask, SegmentTask
from monai_despeckle.monailabel_app.models import ModelVersions
from monai_despeckle.monailabel_app.strategies import TTAUncertainty
from monai_despeckle.monailabel_app.training import FineTuneTask
from monai_despeckle.segmentation.tasks import TASKS

__all__ = ["DespeckleLabelApp", "segment_model_name"]

MODEL_FOLDER = "model"
DESPECKLE_MODEL = "despeckle"


def segment_model_name(task: str) -> str:
    """The infer/train task name of a segmentation task: ``segment_breast``, ``segment_carotid``."""
    return f"segment_{task}"


class DespeckleLabelApp(MONAILabelApp):
    """MONAI Label app over monai-despeckle's despecklers and segmenters."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.device = (conf or {}).get("device", "auto")
        self.despecklers = DespecklerPool(self.device)
        self.versions = {
            segment_model_name(task): ModelVersions(
                task, Path(app_dir) / MODEL_FOLDER / segment_model_name(task), self.device
            )
            for task in TASKS
        }
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai-despeckle",
            description="Despeckle-assisted annotation of breast lesions and carotid lumens in ultrasound",
            version=__version__,
        )

    def init_datastore(self) -> Datastore:
        """The studies folder (a remote DICOMweb/XNAT/DSA studies URL is left to MONAI Label)."""
        if self.studies.startswith(("http://", "https://")):
            return super().init_datastore()
        return CheckedDatastore(
            self.studies,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self) -> dict[str, Any]:
        infers: dict[str, Any] = {
            name: SegmentTask(versions.task, versions, self.despecklers)
            for name, versions in self.versions.items()
        }
        infers[DESPECKLE_MODEL] = DespeckleTask(self.despecklers, default_method_name())
        return infers

    def init_trainers(self) -> dict[str, Any]:
        return {
            name: FineTuneTask(name, versions.task, versions, self.device)
            for name, versions in self.versions.items()
        }

    def init_strategies(self) -> dict[str, Any]:
        return {"random": Random(), "first": First(), "uncertainty": TTAUncertainty(self.versions)}

    def init_scoring_methods(self) -> dict[str, Any]:
        return {}

    def _check_model(self, model: Any, known: dict[str, Any]) -> None:
        if model not in known:
            raise NotFoundError(f"no model {model!r}; choose one of: {', '.join(known)}")

    def infer(self, request: dict[str, Any], datastore: Datastore | None = None) -> dict[str, Any]:
        """Check the model and the image before MONAI Label runs the task.

        An image is a datastore id, or a file MONAI Label stored from the request (an upload in
        the temporary folder, a session's image); other server paths are never read.
        """
        self._check_model(request.get("model"), self._infers)
        image = request.get("image")
        store = datastore or self.datastore()
        if isinstance(image, str) and not self._is_request_file(image) and not store.get_image_uri(image):
            raise NotFoundError(f"no image {image!r} in the datastore")
        return super().infer(request, datastore)

    def _is_request_file(self, path: str) -> bool:
        """Whether ``path`` is a file MONAI Label saved from a request.

        Uploads are saved directly in the temporary folder, session images in the session store.
        """
        if not os.path.isfile(path):
            return False
        resolved = Path(path).resolve()
        if resolved.parent == Path(tempfile.gettempdir()).resolve():
            return True
        sessions = self.sessions()
        return sessions is not None and resolved.is_relative_to(Path(sessions.store_path).resolve())

    def next_sample(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check the strategy before MONAI Label runs it."""
        strategy = request.get("strategy") or "random"
        if strategy not in self._strategies:
            raise NotFoundError(f"no strategy {strategy!r}; choose one of: {', '.join(self._strategies)}")
        return super().next_sample(request)

    def bundle_path(self, model: Any) -> None:
        """Called by MONAI Label before a train, batch-infer or scoring request: refuse an unknown model."""
        if model is not None:
            self._check_model(model, {**self._infers, **self._trainers})
        return None
