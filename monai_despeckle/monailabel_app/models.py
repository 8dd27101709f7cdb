"""Versions of a task's segmentation model: the shipped bundle, then every fine-tuned one.

Version 0 is the shipped segmentation bundle, used in place (never copied or written). Each
training run of the app writes the next version as a complete bundle folder
``<app dir>/model/<model name>/v0001``, ``v0002``... (:func:`~monai_despeckle.bundle_training.train_bundle`
builds it in a hidden staging folder and renames it into place, so a version folder is either
complete or absent). Inference always uses the newest version.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from monai_despeckle.errors import BundleError

__all__ = ["ModelVersions", "shipped_bundle"]

VERSION_PATTERN = re.compile(r"^v(\d{4,})$")
MODEL_FILE = Path("models") / "model.pt"


def shipped_bundle(task: str) -> Path:
    """The folder of the segmentation bundle shipped for ``task`` (``breast`` or ``carotid``).

    The app's only dependency on where bundles are installed: everything else works on folders.
    """
    from monai_despeckle.segmentation.segmenter import resolve_segmentation_bundle

    return resolve_segmentation_bundle(task).path


class ModelVersions:
    """The model versions of one segmentation task, and a cached :class:`Segmenter` of the newest.

    Args:
        task: ``breast`` or ``carotid`` (a key of :data:`monai_despeckle.segmentation.tasks.TASKS`).
        root: folder holding the fine-tuned versions (created on demand).
        device: where segmenters run (``"auto"``, ``"cpu"``, ``"cuda"``...).
    """

    def __init__(self, task: str, root: Path, device: str = "auto") -> None:
        self.task = task
        self.root = Path(root)
        self.device = device
        self._lock = threading.Lock()
        self._segmenters: dict[tuple[Path, bool], Any] = {}

    def folders(self) -> list[Path]:
        """Every version's bundle folder, oldest (the shipped bundle) first."""
        found: list[tuple[int, Path]] = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                match = VERSION_PATTERN.match(path.name)
                if match and (path / MODEL_FILE).is_file():
                    found.append((int(match.group(1)), path))
        return [shipped_bundle(self.task)] + [path for _, path in sorted(found)]

    def latest(self) -> tuple[int, Path]:
        """The newest version number and its bundle folder (0: the shipped bundle)."""
        folders = self.folders()
        newest = folders[-1]
        match = VERSION_PATTERN.match(newest.name) if len(folders) > 1 else None
        return (int(match.group(1)) if match else 0), newest

    def next_folder(self) -> tuple[int, Path]:
        """The number and (not yet existing) folder of the version a training run writes next."""
        number = self.latest()[0] + 1
        return number, self.root / f"v{number:04d}"

    def describe(self) -> dict[str, Any]:
        """The newest version as shown to clients: number, bundle name, version and weights checksum."""
        number, folder = self.latest()
        try:
            metadata = json.loads((folder / "configs" / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise BundleError(f"cannot read the model's metadata ({err})", folder) from None
        return {
            "model_version": number,
            "bundle": folder.name if number == 0 else f"{self.root.name}/{folder.name}",
            "bundle_version": str(metadata.get("version", "")),
            "model_sha256": str(metadata.get("model_sha256", "")),
        }

    def segmenter(self, *, mirror: bool = True) -> Any:
        """A :class:`~monai_despeckle.segmentation.Segmenter` of the newest version, loaded once."""
        from monai_despeckle.segmentation import Segmenter

        folder = self.latest()[1]
        with self._lock:
            key = (folder, mirror)
            if key not in self._segmenters:
                self._segmenters = {k: v for k, v in self._segmenters.items() if k[0] == folder}
                self._segmenters[key] = Segmenter(folder, device=self.device, mirror=mirror)
            return self._segmenters[key]
