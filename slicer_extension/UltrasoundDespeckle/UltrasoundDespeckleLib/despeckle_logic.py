"""Despeckle a volume node or a whole cine sequence with monai_despeckle's Despeckler, chunk by chunk.

Frames go through :meth:`monai_despeckle.inference.Despeckler.iter_frames` one batch at a time;
after each batch the progress callback runs (the GUI redraws and may cancel there). The output
node or sequence is built outside the scene and added only once every frame is done, so a
cancelled or failed run leaves the scene untouched.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import slicer
import vtk

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.inference import AXES, Despeckler
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.resolver import available_methods
from UltrasoundDespeckleLib.progress import ProgressCallback, report
from UltrasoundDespeckleLib.sequences import (
    SequenceFrames,
    add_synchronized_sequence,
    browser_for_proxy,
    new_sequence_like,
)
from UltrasoundDespeckleLib.volume_nodes import add_volume_node, image_from_volume_node, update_volume_node

# Node attributes recording how an output was made (kept when the scene is saved).
METHOD_ATTRIBUTE = "UltrasoundDespeckle.Method"
SOURCE_ATTRIBUTE = "UltrasoundDespeckle.SourceNodeID"
DERIVATION_ATTRIBUTE = "UltrasoundDespeckle.Derivation"


@dataclass(frozen=True)
class MethodChoice:
    """One entry of the method selector: a registered despeckling method."""

    name: str
    family: str
    gpu: bool
    description: str


def method_choices() -> list[MethodChoice]:
    """Every method of monai_despeckle's registry (classical filters and learned bundles)."""
    return [
        MethodChoice(spec.name, spec.family, spec.gpu, spec.description)
        for spec in available_methods().values()
    ]


def create_despeckler(method: str, device: str = "auto") -> Despeckler:
    """A :class:`Despeckler` for ``method`` on ``device`` (``auto``: the GPU when there is one).

    Batch size and precision are chosen by the engine (``"auto"``: from free GPU memory, bf16/fp16
    on a GPU, fp32 on the CPU).

    Raises:
        UnknownMethodError: no method of that name.
        InvalidParameterError: an unknown device, or ``cuda`` without a CUDA GPU.
    """
    return Despeckler(method, device=device, batch_size="auto", precision="auto")


@dataclass
class DespeckleResult:
    """What a despeckling run added to the scene.

    Attributes:
        output: the new volume node, or for a sequence the proxy node of the new sequence.
        sequence: the new sequence node (None for a volume).
        browser: the browser that now replays input and output together (None for a volume).
        frames: number of frames (or slices) despeckled.
        seconds: wall time of the run.
        description: what was done (the output's provenance).
    """

    output: vtk.vtkObject
    sequence: vtk.vtkObject | None
    browser: vtk.vtkObject | None
    frames: int
    seconds: float
    description: str

    @property
    def frames_per_second(self) -> float:
        """Throughput of the run."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def _check_axis(axis: int, num_frames: int) -> None:
    if axis not in AXES:
        raise InvalidParameterError(f"slice axis must be 0, 1 or 2, got {axis!r}")
    if axis != 0 and num_frames < 2:
        raise InvalidParameterError(
            f"slice axis {axis} processes slices across the frames, but the image has a single frame; "
            "use axis 0"
        )


def despeckle_frames(
    frames: np.ndarray,
    despeckler: Despeckler,
    *,
    axis: int = 0,
    progress: ProgressCallback | None = None,
    done: int = 0,
    total: int | None = None,
) -> np.ndarray:
    """Despeckle ``frames`` ``[T, H, W]`` slice by slice along ``axis``, one batch at a time.

    Axis 0 processes each ``[H, W]`` frame; axis 1 or 2 each ``[T, W]`` or ``[T, H]`` slice (as
    :meth:`Despeckler.run` does), the result put back in ``[T, H, W]`` order.

    Args:
        frames: float32 frames in [0, 1].
        despeckler: the engine.
        axis: the slicing axis.
        progress: called with ``(done + slices finished, total)`` after each batch.
        done: slices already finished before this call (for a running total over many calls).
        total: slices of the whole job (default: this call's).

    Raises:
        OperationCancelledError: ``progress`` asked to stop.
    """
    _check_axis(axis, frames.shape[0])
    slices = np.moveaxis(frames, axis, 0)
    count = slices.shape[0]
    total = done + count if total is None else total
    step = despeckler.batch_size_for(slices.shape[1:])
    starts = range(0, count, step)
    out = np.empty(slices.shape, dtype=np.float32)
    results = despeckler.iter_frames((slices[start : start + step] for start in starts), total=count)
    try:
        for start, result in zip(starts, results, strict=True):
            out[start : start + result.shape[0]] = result
            report(progress, done + start + result.shape[0], total)
    finally:
        results.close()
    return np.moveaxis(out, 0, axis)


def _mark(node: vtk.vtkObject, source: vtk.vtkObject, despeckler: Despeckler) -> None:
    node.SetAttribute(METHOD_ATTRIBUTE, despeckler.name)
    node.SetAttribute(SOURCE_ATTRIBUTE, source.GetID() or "")
    node.SetAttribute(DERIVATION_ATTRIBUTE, despeckler.derivation_description())


def output_name(source: vtk.vtkObject, despeckler: Despeckler) -> str:
    """Default name of a result: ``"<input> despeckled (<method>)"``."""
    return f"{source.GetName()} despeckled ({despeckler.name})"


def despeckle_volume_node(
    scene: vtk.vtkObject,
    node: vtk.vtkObject,
    despeckler: Despeckler,
    *,
    axis: int = 0,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> DespeckleResult:
    """Despeckle a 2-D image or 3-D volume node into a new scalar volume node with the same geometry.

    Args:
        scene: the scene of ``node``; the output is added to it.
        node: a scalar (or RGB vector) volume node.
        despeckler: the engine (see :func:`create_despeckler`).
        axis: slicing axis of a 3-D volume in array order ``[K, J, I]`` (0: the K slices).
        name: the output's name (default :func:`output_name`).
        progress: called after each batch with ``(slices done, slices total)``; return True to cancel.

    Raises:
        InvalidImageError: the node has no voxels or unreadable pixels.
        InvalidParameterError: a bad axis.
        OperationCancelledError: cancelled; nothing was added to the scene.
    """
    start = time.perf_counter()
    image = image_from_volume_node(node)
    _check_axis(axis, image.num_frames)
    slices = image.frames.shape[axis]
    report(progress, 0, slices)
    result = image.with_frames(despeckle_frames(image.frames, despeckler, axis=axis, progress=progress))
    result.metadata["derivation_description"] = despeckler.derivation_description()
    output = add_volume_node(scene, result, name or output_name(node, despeckler), reference=node)
    _mark(output, node, despeckler)
    return DespeckleResult(
        output, None, None, slices, time.perf_counter() - start, despeckler.derivation_description()
    )


def _despeckled_items(
    frames: SequenceFrames,
    despeckler: Despeckler,
    axis: int,
    progress: ProgressCallback | None,
    total: int,
) -> Iterator[tuple[int, UltrasoundImage]]:
    """``(item, despeckled image)`` for every item, in order; along axis 0 frames stream across items."""
    if axis != 0:
        done = 0
        for item, image in enumerate(frames.iter_images()):
            out = despeckle_frames(
                image.frames, despeckler, axis=axis, progress=progress, done=done, total=total
            )
            done += image.frames.shape[axis]
            yield item, image.with_frames(out)
        return
    pending: deque[UltrasoundImage] = deque()

    def chunks() -> Iterator[np.ndarray]:
        for image in frames.iter_images():
            pending.append(image)
            yield image.frames

    results = despeckler.iter_frames(chunks(), total=total)
    done = 0
    try:
        for item, result in enumerate(results):
            image = pending.popleft()
            done += result.shape[0]
            yield item, image.with_frames(result)
            report(progress, done, total)
    finally:
        results.close()


def despeckle_sequence(
    scene: vtk.vtkObject,
    browser: vtk.vtkObject,
    sequence: vtk.vtkObject,
    despeckler: Despeckler,
    sequences_logic: vtk.vtkObject,
    *,
    axis: int = 0,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> DespeckleResult:
    """Despeckle every item of a sequence into a new sequence, synchronised in the same browser.

    Each output item has the geometry and index value of its input item. A cine of 2-D frames is
    streamed through the engine in batches across items; the items of a 3-D+t sequence are
    volumes, sliced along ``axis`` one by one.

    Args:
        scene: the scene of the browser.
        browser: the ``vtkMRMLSequenceBrowserNode`` replaying ``sequence``.
        sequence: the input ``vtkMRMLSequenceNode`` (its items are volume nodes).
        despeckler: the engine.
        sequences_logic: the scene's ``vtkSlicerSequencesLogic`` (creates the output's proxy node).
        axis: slicing axis of 3-D items (2-D frames need 0).
        name: the output proxy's name (default :func:`output_name` of the input proxy or sequence).
        progress: called after each batch with ``(frames done, frames total)``; return True to cancel.

    Returns:
        The result; ``output`` is the new sequence's proxy node.

    Raises:
        InvalidImageError: an empty sequence, items that are not volumes or have no voxels.
        InvalidParameterError: a bad axis.
        OperationCancelledError: cancelled; nothing was added to the scene.
    """
    start = time.perf_counter()
    frames = SequenceFrames.of(sequence)
    per_item = frames.frames_per_item()
    _check_axis(axis, per_item)
    sizes = [item.GetImageData().GetDimensions() for item in frames.items]
    total = sum((size[2], size[1], size[0])[axis] for size in sizes)
    report(progress, 0, total)
    source_proxy = browser.GetProxyNode(sequence) or sequence
    proxy_name = name or output_name(source_proxy, despeckler)
    output = new_sequence_like(sequence, f"{proxy_name} sequence")
    item_node = slicer.vtkMRMLScalarVolumeNode()
    for item, image in _despeckled_items(frames, despeckler, axis, progress, total):
        update_volume_node(item_node, image, geometry_from=frames.items[item])
        output.SetDataNodeAtValue(item_node, frames.index_value(item))
    _mark(output, sequence, despeckler)
    proxy = add_synchronized_sequence(scene, browser, output, sequences_logic, proxy_name)
    _mark(proxy, source_proxy, despeckler)
    return DespeckleResult(
        proxy, output, browser, total, time.perf_counter() - start, despeckler.derivation_description()
    )


def despeckle_node(
    scene: vtk.vtkObject,
    node: vtk.vtkObject,
    despeckler: Despeckler,
    *,
    sequences_logic: vtk.vtkObject | None = None,
    whole_sequence: bool = True,
    axis: int = 0,
    progress: ProgressCallback | None = None,
) -> DespeckleResult:
    """Despeckle what ``node`` shows: its whole sequence if it is a browser's proxy, else the volume.

    Args:
        scene: the scene of ``node``.
        node: the volume node selected by the user (possibly the proxy of a cine loop).
        despeckler: the engine.
        sequences_logic: the scene's ``vtkSlicerSequencesLogic`` (needed for sequences).
        whole_sequence: for a proxy node, despeckle every frame of its sequence (else only the frame
            shown now, into a plain volume).
        axis: slicing axis of 3-D volumes.
        progress: see :func:`despeckle_volume_node`.
    """
    browser = browser_for_proxy(scene, node) if whole_sequence else None
    if browser is None:
        return despeckle_volume_node(scene, node, despeckler, axis=axis, progress=progress)
    if sequences_logic is None:
        raise ValueError("despeckling a sequence needs the scene's sequences logic")
    sequence = browser.GetSequenceNode(node)
    return despeckle_sequence(
        scene, browser, sequence, despeckler, sequences_logic, axis=axis, progress=progress
    )
