"""The two downstream segmentation tasks: what each segments, from which data, into which bundle."""

from __future__ import annotations

from dataclasses import dataclass, field

from monai_despeckle.errors import InvalidParameterError

__all__ = ["TASKS", "SegTask", "get_task"]


@dataclass(frozen=True)
class SegTask:
    """One segmentation task.

    Attributes:
        name: ``"breast"`` or ``"carotid"``.
        bundle: folder name of its bundle under ``bundles/``.
        labels: structure name -> label value (0 is the background).
        data: default data folder (with ``images/``, ``masks/`` and ``split.json``), relative to
            the repository root.
        phantom_kind: simulator family whose phantoms can be mixed into training.
        phantom_labels: label value in the phantom's label map -> label value of this task (values
            not listed become background).
        group_separator: frames whose names share the part before this separator come from one
            acquisition and stay on one side of the internal validation split ("" = no grouping).
    """

    name: str
    bundle: str
    labels: dict[str, int]
    data: str
    phantom_kind: str
    phantom_labels: dict[int, int] = field(default_factory=dict)
    group_separator: str = ""

    @property
    def num_classes(self) -> int:
        """Output channels of the network, background included."""
        return max(self.labels.values()) + 1


TASKS: dict[str, SegTask] = {
    "breast": SegTask(
        name="breast",
        bundle="seg_breast_lesion",
        labels={"lesion": 1},
        data="../shared/data/busi",
        phantom_kind="breast",
        phantom_labels={1: 1},
    ),
    # CCAUI has expert lumen masks only, so the shipped carotid model has one label (lumen);
    # the phantoms also draw the wall (label 2), which a wall model could be trained on.
    "carotid": SegTask(
        name="carotid",
        bundle="seg_carotid",
        labels={"lumen": 1},
        data="../shared/data/ccaui",
        phantom_kind="carotid",
        phantom_labels={1: 1},
        group_separator="_slice_",
    ),
}


def get_task(name: str) -> SegTask:
    """The task called ``name`` (``breast`` or ``carotid``)."""
    if name not in TASKS:
        raise InvalidParameterError(f"unknown segmentation task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]
