"""Does despeckling change what a downstream segmenter sees? Segment the input and the output, compare.

The segmenter (the breast-lesion or carotid bundle of ``monai_despeckle.segmentation``, or any
object with the same two members, see :class:`Segmenter`) runs on the input and on the despeckled
image; each result becomes a ``vtkMRMLSegmentationNode`` on its image's grid (for a cine: a sequence
of segmentation nodes synchronised in the input's browser) and the per-frame areas and Dice go into
a ``vtkMRMLTableNode``. As for despeckling, nothing is added to the scene until every frame is done;
then the nodes of an earlier check of the same pair of images (and task) are replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import slicer
import vtk

from monai_despeckle.errors import InvalidImageError, InvalidParameterError, MissingDependencyError
from monai_despeckle.io.dicom.geometry import UltrasoundRegion
from monai_despeckle.io.image import UltrasoundImage
from UltrasoundDespeckleLib.area_units import area_unit
from UltrasoundDespeckleLib.comparison_table import FrameMetrics, metrics_table
from UltrasoundDespeckleLib.progress import ProgressCallback, report
from UltrasoundDespeckleLib.result_nodes import remove_node
from UltrasoundDespeckleLib.scene_geometry import VolumeGeometry
from UltrasoundDespeckleLib.segmentation_nodes import add_segmentation_node, fill_segmentation
from UltrasoundDespeckleLib.sequences import (
    SequenceFrames,
    add_synchronized_sequence,
    browser_for_proxy,
    browser_of_sequence,
    new_sequence_like,
    nodes_of_class,
)
from UltrasoundDespeckleLib.volume_nodes import image_from_volume_node, node_label

# The segmentation bundles of monai_despeckle a user can choose from.
SEGMENTATION_BUNDLES = ("seg_breast_lesion", "seg_carotid")
# Cine frames segmented per call (bounded memory; the progress dialog updates in between).
CINE_CHUNK_FRAMES = 16
# How the nodes of a check are recognised (to replace them when the check is run again).
CHECK_ATTRIBUTE = "UltrasoundDespeckle.SegmentationCheck"
INPUT_ROLE = "UltrasoundDespeckle.CheckedInput"
DESPECKLED_ROLE = "UltrasoundDespeckle.CheckedResult"


@runtime_checkable
class Segmenter(Protocol):
    """What the hand-off needs of a segmenter (``monai_despeckle.segmentation.Segmenter`` is one).

    Attributes:
        labels: segment name -> label value in the output, e.g. ``{"lumen": 1, "wall": 2}``.
    """

    labels: dict[str, int]

    def run(self, image: UltrasoundImage, axis: int = 0) -> np.ndarray:
        """Integer labels ``[T, H, W]`` (uint8) for the frames of ``image``, slices taken along ``axis``."""
        ...


def load_segmenter(bundle: str, device: str = "auto") -> Segmenter:
    """monai_despeckle's segmenter for a bundle name (:data:`SEGMENTATION_BUNDLES`) or bundle folder.

    Raises:
        MissingDependencyError: the installed monai_despeckle has no ``segmentation.Segmenter``.
    """
    try:
        from monai_despeckle.segmentation import Segmenter as BundleSegmenter
    except ImportError as err:
        raise MissingDependencyError(
            "this monai_despeckle has no monai_despeckle.segmentation.Segmenter; update monai-despeckle"
        ) from err
    return BundleSegmenter(bundle, device=device)


def run_segmenter(segmenter: Segmenter, image: UltrasoundImage, axis: int = 0) -> np.ndarray:
    """``segmenter.run(image, axis)``, checked: integer labels of the frames' shape."""
    labels = np.asarray(segmenter.run(image, axis=axis))
    if labels.shape != image.frames.shape or not np.issubdtype(labels.dtype, np.integer):
        raise RuntimeError(
            f"the segmenter returned {labels.dtype} labels of shape {labels.shape} "
            f"for frames of shape {image.frames.shape}; expected integer labels of that shape"
        )
    return labels


def checked_labels(segmenter: Segmenter) -> dict[str, int]:
    """The segmenter's labels, checked: names mapped to distinct non-zero integer values."""
    labels = {str(name): int(value) for name, value in dict(segmenter.labels).items()}
    values = list(labels.values())
    if not values or 0 in values or len(set(values)) != len(values):
        raise InvalidParameterError(
            f"segmenter labels must be distinct non-zero values, got {segmenter.labels}"
        )
    return labels


@dataclass
class SegmentationComparison:
    """What the hand-off added to the scene.

    Attributes:
        input_segmentation: segmentation of the input (for a cine: the proxy of its sequence).
        despeckled_segmentation: segmentation of the despeckled image (idem).
        table: the per-frame areas and Dice.
        metrics: the same numbers as Python lists.
        input_sequence: the sequence of input segmentations (None for a volume).
        despeckled_sequence: the sequence of despeckled segmentations (None for a volume).
    """

    input_segmentation: vtk.vtkObject
    despeckled_segmentation: vtk.vtkObject
    table: vtk.vtkObject
    metrics: FrameMetrics
    input_sequence: vtk.vtkObject | None = None
    despeckled_sequence: vtk.vtkObject | None = None


def _check_same_grid(first: UltrasoundImage, second: UltrasoundImage, what: str) -> None:
    if first.frames.shape != second.frames.shape:
        raise InvalidParameterError(
            f"the despeckled {what} has shape {second.frames.shape} but the input {first.frames.shape}; "
            "choose the output despeckled from this input"
        )


def _mark_check(
    nodes: Sequence[vtk.vtkObject], input_node: vtk.vtkObject, despeckled: vtk.vtkObject, name: str
) -> None:
    for node in nodes:
        node.SetAttribute(CHECK_ATTRIBUTE, name)
        node.SetNodeReferenceID(INPUT_ROLE, input_node.GetID())
        node.SetNodeReferenceID(DESPECKLED_ROLE, despeckled.GetID())


def remove_previous_check(
    scene: vtk.vtkObject, input_node: vtk.vtkObject, despeckled: vtk.vtkObject, name: str
) -> int:
    """Remove the nodes of an earlier check of the same two nodes under the same name; return how many.

    Segmentation sequences leave their browser, and their proxy nodes go with them.
    """
    doomed = [
        node
        for node in nodes_of_class(scene, "vtkMRMLNode")
        if node.GetAttribute(CHECK_ATTRIBUTE) == name
        and node.GetNodeReference(INPUT_ROLE) is input_node
        and node.GetNodeReference(DESPECKLED_ROLE) is despeckled
    ]
    for node in doomed:
        if node.IsA("vtkMRMLSequenceNode"):
            browser = browser_of_sequence(scene, node)
            if browser is not None:
                proxy = browser.GetProxyNode(node)
                browser.RemoveSynchronizedSequenceNode(node.GetID())
                if proxy is not None:
                    remove_node(scene, proxy)
        remove_node(scene, node)
    return len(doomed)


def compare_volume_segmentations(
    scene: vtk.vtkObject,
    segmenter: Segmenter,
    input_node: vtk.vtkObject,
    despeckled_node: vtk.vtkObject,
    *,
    axis: int = 0,
    name: str = "segmentation",
    progress: ProgressCallback | None = None,
    regions: Sequence[UltrasoundRegion] = (),
) -> SegmentationComparison:
    """Segment a volume (or 2-D image) node and its despeckled version; compare them slice by slice.

    Args:
        scene: the scene of both nodes.
        segmenter: see :class:`Segmenter`.
        input_node: the input volume node.
        despeckled_node: its despeckled version (same voxel grid).
        axis: slicing axis in array order ``[K, J, I]``; the table has one row per slice along it.
        name: suffix of the new nodes' names (and what identifies this check when it is run again).
        progress: called with ``(images segmented, 2)``; return True to cancel.
        regions: the input's DICOM ultrasound regions (they decide between mm² and px²).

    Raises:
        InvalidImageError: a node without voxels.
        InvalidParameterError: the two nodes do not share a voxel grid.
        OperationCancelledError: cancelled; nothing was added to the scene.
    """
    label_values = checked_labels(segmenter)
    source, despeckled = image_from_volume_node(input_node), image_from_volume_node(despeckled_node)
    _check_same_grid(source, despeckled, "volume")
    report(progress, 0, 2)
    source_labels = run_segmenter(segmenter, source, axis)
    report(progress, 1, 2)
    despeckled_labels = run_segmenter(segmenter, despeckled, axis)
    report(progress, 2, 2)
    metrics = FrameMetrics(label_values)
    unit = area_unit(VolumeGeometry.from_node(input_node).in_plane_spacing(axis), regions)
    metrics.add(
        source_labels,
        despeckled_labels,
        unit,
        [str(i) for i in range(source.frames.shape[axis])],
        axis=axis,
    )
    remove_previous_check(scene, input_node, despeckled_node, name)
    input_segmentation = add_segmentation_node(
        scene, source_labels, label_values, input_node, f"{input_node.GetName()} {name}"
    )
    despeckled_segmentation = add_segmentation_node(
        scene, despeckled_labels, label_values, despeckled_node, f"{despeckled_node.GetName()} {name}"
    )
    table = metrics_table(scene, metrics, f"{input_node.GetName()} {name} comparison")
    _mark_check((input_segmentation, despeckled_segmentation, table), input_node, despeckled_node, name)
    return SegmentationComparison(input_segmentation, despeckled_segmentation, table, metrics)


def _item_groups(frames: SequenceFrames) -> list[range]:
    """Items segmented together: chunks of a 2-D cine, or one 3-D item at a time."""
    step = CINE_CHUNK_FRAMES if frames.frames_per_item() == 1 else 1
    return [range(start, min(start + step, frames.num_items)) for start in range(0, frames.num_items, step)]


def _group_image(frames: SequenceFrames, group: range) -> UltrasoundImage:
    return (
        frames.cine_image(group.start, group.stop)
        if frames.frames_per_item() == 1
        else frames.image(group.start)
    )


def _group_index(frames: SequenceFrames, group: range, labels: np.ndarray, axis: int) -> list[str]:
    if frames.frames_per_item() == 1:
        return [frames.index_value(item) for item in group]
    return [f"{frames.index_value(group.start)} [{s}]" for s in range(labels.shape[axis])]


def compare_sequence_segmentations(
    scene: vtk.vtkObject,
    segmenter: Segmenter,
    browser: vtk.vtkObject,
    input_sequence: vtk.vtkObject,
    despeckled_sequence: vtk.vtkObject,
    sequences_logic: vtk.vtkObject,
    *,
    axis: int = 0,
    name: str = "segmentation",
    progress: ProgressCallback | None = None,
    regions: Sequence[UltrasoundRegion] = (),
) -> SegmentationComparison:
    """Segment every item of a sequence and of its despeckled twin; compare them frame by frame.

    The segmentations become two sequences of segmentation nodes, synchronised in ``browser`` with
    the images, so that scrolling through the cine shows each frame's segments.

    Args:
        scene: the scene of the browser.
        segmenter: see :class:`Segmenter`.
        browser: the browser that replays both image sequences.
        input_sequence: the input image sequence.
        despeckled_sequence: its despeckled version (same items, same index values).
        sequences_logic: the scene's ``vtkSlicerSequencesLogic``.
        axis: slicing axis of 3-D items (cine frames: 0).
        name: suffix of the new nodes' names (and what identifies this check when it is run again).
        progress: called with ``(frames done, frames total)`` after each chunk; True cancels.
        regions: the input's DICOM ultrasound regions (they decide between mm² and px²).

    Raises:
        InvalidImageError: empty sequences or items that are not volumes.
        InvalidParameterError: the two sequences do not match item for item.
        OperationCancelledError: cancelled; nothing was added to the scene.
    """
    source, despeckled = SequenceFrames.of(input_sequence), SequenceFrames.of(despeckled_sequence)
    source_index = [source.index_value(i) for i in range(source.num_items)]
    if source_index != [despeckled.index_value(i) for i in range(despeckled.num_items)]:
        raise InvalidParameterError(
            f"sequences {node_label(input_sequence)} and {node_label(despeckled_sequence)} "
            "do not have the same items; choose the sequence despeckled from this input"
        )
    source_proxy = browser.GetProxyNode(input_sequence) or input_sequence
    despeckled_proxy = browser.GetProxyNode(despeckled_sequence) or despeckled_sequence
    outputs = {
        "input": new_sequence_like(input_sequence, f"{source_proxy.GetName()} {name} sequence"),
        "despeckled": new_sequence_like(despeckled_sequence, f"{despeckled_proxy.GetName()} {name} sequence"),
    }
    label_values = checked_labels(segmenter)
    item_node = slicer.vtkMRMLSegmentationNode()
    metrics = FrameMetrics(label_values)
    total = source.num_items * source.frames_per_item()
    report(progress, 0, total)
    for group in _item_groups(source):
        pairs = (("input", source), ("despeckled", despeckled))
        images = {key: _group_image(frames, group) for key, frames in pairs}
        _check_same_grid(images["input"], images["despeckled"], f"sequence item {group.start}")
        labels = {key: run_segmenter(segmenter, images[key], axis) for key, _ in pairs}
        for key, frames in pairs:
            per_item = np.split(labels[key], len(group)) if frames.frames_per_item() == 1 else [labels[key]]
            for item, item_labels in zip(group, per_item, strict=True):
                fill_segmentation(item_node, item_labels, label_values, frames.items[item])
                outputs[key].SetDataNodeAtValue(item_node, frames.index_value(item))
        unit = area_unit(VolumeGeometry.from_node(source.items[group.start]).in_plane_spacing(axis), regions)
        index = _group_index(source, group, labels["input"], axis)
        metrics.add(labels["input"], labels["despeckled"], unit, index, axis=axis)
        report(progress, group.stop * source.frames_per_item(), total)
    remove_previous_check(scene, input_sequence, despeckled_sequence, name)
    proxies = {
        key: add_synchronized_sequence(
            scene, browser, outputs[key], sequences_logic, f"{proxy.GetName()} {name}"
        )
        for key, proxy in (("input", source_proxy), ("despeckled", despeckled_proxy))
    }
    table = metrics_table(scene, metrics, f"{source_proxy.GetName()} {name} comparison")
    _mark_check((outputs["input"], outputs["despeckled"], table), input_sequence, despeckled_sequence, name)
    return SegmentationComparison(
        proxies["input"], proxies["despeckled"], table, metrics, outputs["input"], outputs["despeckled"]
    )


def compare_segmentations(
    scene: vtk.vtkObject,
    segmenter: Segmenter,
    input_node: vtk.vtkObject,
    despeckled_node: vtk.vtkObject,
    *,
    sequences_logic: vtk.vtkObject | None = None,
    whole_sequence: bool = True,
    axis: int = 0,
    progress: ProgressCallback | None = None,
    name: str = "segmentation",
    regions: Sequence[UltrasoundRegion] = (),
) -> SegmentationComparison:
    """Compare the segmentations of what two nodes show: whole sequences when both are proxies of one browser.

    Raises:
        InvalidParameterError: one node is a sequence proxy and the other is not, or they are in
            different browsers.
    """
    if input_node is None or despeckled_node is None:
        raise InvalidImageError("choose an input volume and its despeckled version")
    browsers = [
        browser_for_proxy(scene, node) if whole_sequence else None for node in (input_node, despeckled_node)
    ]
    if browsers[0] is None and browsers[1] is None:
        return compare_volume_segmentations(
            scene,
            segmenter,
            input_node,
            despeckled_node,
            axis=axis,
            name=name,
            progress=progress,
            regions=regions,
        )
    if browsers[0] is not browsers[1]:
        raise InvalidParameterError(
            "the input and the despeckled volume must both be frames of the same sequence browser "
            "(despeckle the whole sequence first), or both plain volumes"
        )
    if sequences_logic is None:
        raise ValueError("comparing sequences needs the scene's sequences logic")
    browser = browsers[0]
    return compare_sequence_segmentations(
        scene,
        segmenter,
        browser,
        browser.GetSequenceNode(input_node),
        browser.GetSequenceNode(despeckled_node),
        sequences_logic,
        axis=axis,
        name=name,
        progress=progress,
        regions=regions,
    )
