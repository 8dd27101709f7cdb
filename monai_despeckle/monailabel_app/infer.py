"""The infer tasks: label maps of breast lesions and carotid lumens, and despeckled images."""

from __future__ import annotations

import time
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from monai_despeckle.monailabel_app.despecklers import NO_DESPECKLING, DespecklerPool
from monai_despeckle.monailabel_app.inputs import read_request_file
from monai_despeckle.monailabel_app.models import ModelVersions
from monai_despeckle.monailabel_app.results import (
    image_dtype,
    image_result,
    label_dtype,
    label_result,
    result_suffix,
    write_result,
)
from monai_despeckle.segmentation.tasks import TASKS

__all__ = ["DespeckleTask", "SegmentTask"]


def _choices(default: str, names: list[str]) -> list[str]:
    """A client option list: the default first (clients show it as the selected entry)."""
    return [default] + [name for name in names if name != default]


class SegmentTask(InferTask):
    """Label map of one task's structures, optionally despeckling the frames first.

    Request parameters: ``despeckle`` (a registered method or ``none``; default: the despeckler
    the model was trained with), ``result_extension`` and ``result_dtype`` (default: the input's
    file type, ``uint8``).
    """

    def __init__(self, task: str, versions: ModelVersions, despecklers: DespecklerPool) -> None:
        self.task = task
        self.versions = versions
        self.despecklers = despecklers
        structures = ", ".join(TASKS[task].labels)
        super().__init__(
            type=InferType.SEGMENTATION,
            labels=dict(TASKS[task].labels),
            dimension=2,
            description=f"{structures} in {task} ultrasound, frame by frame (monai-despeckle)",
        )

    def default_despeckler(self) -> str:
        """The despeckler the newest model was trained with (``none`` for raw B-mode)."""
        return self.versions.segmenter().despeckler_name or NO_DESPECKLING

    def config(self) -> dict[str, Any]:
        """Options shown to clients: the despecklers, the model's own first."""
        return {"despeckle": _choices(self.default_despeckler(), self.despecklers.names())}

    def info(self) -> dict[str, Any]:
        """MONAI Label's model description plus the model version in use."""
        return {**super().info(), **self.versions.describe()}

    def is_valid(self) -> bool:
        return True

    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        segmenter = self.versions.segmenter()
        despeckle = self.despecklers.check(request.get("despeckle") or self.default_despeckler())
        image = read_request_file(request.get("image"), "image")
        suffix = result_suffix(request, image, label_map=True)
        dtype = label_dtype(request.get("result_dtype"), suffix)
        frames = image.frames
        if despeckle != NO_DESPECKLING:
            frames = self.despecklers.get(despeckle).run(image).frames
        labels = segmenter.predict(frames, despeckled=True)
        result = label_result(image, labels, segmenter.labels, dtype)
        path = write_result(result, suffix)
        params = {
            **self.versions.describe(),
            "despeckle": despeckle,
            "label_names": dict(segmenter.labels),
            "frames": image.num_frames,
            "latencies": {"total": round(time.perf_counter() - started, 3)},
        }
        return str(path), params


class DespeckleTask(InferTask):
    """A despeckled copy of the image, with any registered method (an image, not a label map).

    Request parameters: ``method`` (default: the project's default method), ``result_extension``
    and ``result_dtype`` (default: the input's file type and pixel type).
    """

    def __init__(self, despecklers: DespecklerPool, default: str) -> None:
        self.despecklers = despecklers
        self.default = default
        super().__init__(
            type=InferType.OTHERS,
            labels=None,
            dimension=2,
            description="speckle reduction with any monai-despeckle method (returns an image)",
        )

    def config(self) -> dict[str, Any]:
        """Options shown to clients: every method, the default first."""
        return {"method": _choices(self.default, self.despecklers.names())}

    def is_valid(self) -> bool:
        return True

    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        method = self.despecklers.check(request.get("method") or self.default)
        image = read_request_file(request.get("image"), "image")
        suffix = result_suffix(request, image, label_map=False)
        dtype = image_dtype(request.get("result_dtype"))
        despeckled = self.despecklers.get(method).run(image)
        path = write_result(image_result(despeckled, dtype), suffix)
        params = {
            "method": method,
            "frames": image.num_frames,
            "latencies": {"total": round(time.perf_counter() - started, 3)},
        }
        return str(path), params
