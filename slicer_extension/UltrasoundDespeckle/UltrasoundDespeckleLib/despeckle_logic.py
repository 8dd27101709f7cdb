"""Despeckle a volume node or a whole cine sequence with monai_despeckle's Despeckler, chunk by chunk.

Frames go through :meth:`monai_despeckle.inference.Despeckler.iter_frames` one batch at a time;
after each batch the progress callback runs (the GUI redraws and may cancel there). The output
is built outside the scene and added only once every frame is done, so a cancelled or failed run
leaves the scene untouched. With ``protect`` the pixels outside the ultrasound region (burnt-in
text, calipers, colour bar; see :mod:`.region_mask`) keep their input values. A run replaces the
earlier result of the same method on the same input (see :mod:`.result_nodes`), keeps a hidden
full-strength copy and shows the result at the requested strength (see :mod:`.strength`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import slicer
import vtk

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.inference import AXES, Despeckler
from monai_despeckle.io.dicom.geometry import UltrasoundRegion
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.resolver import available_methods
from UltrasoundDespeckleLib.display import copy_window_level
from UltrasoundDespeckleLib.progress import ProgressCallback, report
from UltrasoundDespeckleLib.region_mask import RegionMask, keep_outside, mask_for_frames
from UltrasoundDespeckleLib.result_nodes import (
    DERIVATION_ATTRIBUTE,
    MASK_ATTRIBUTE,
    METHOD_ATTRIBUTE,
    SOURCE_ATTRIBUTE,
    find_result,
    mark_result,
    place_beside,
    store_full_strength,
)
from UltrasoundDespeckleLib.sequences import (
    SequenceFrames,
    add_synchronized_sequence,
    browser_for_proxy,
    new_sequence_like,
)
from UltrasoundDespeckleLib.strength import STRENGTH_ATTRIBUTE, apply_strength, check_strength
from UltrasoundDespeckleLib.volume_nodes import add_volume_node, image_from_volume_node, update_volume_node

__all__ = [
    "DERIVATION_ATTRIBUTE",
    "METHOD_ATTRIBUTE",
    "SOURCE_ATTRIBUTE",
    "DespeckleResult",
    "MethodChoice",
    "create_despeckler",
    "despeckle_frames",
    "despeckle_node",
    "despeckle_sequence",
    "despeckle_volume_node",
    "method_choices",
]


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
    """What a despeckling run put in the scene.

    Attributes:
        output: the result volume node, or for a sequence the proxy node of the result sequence.
        sequence: the result sequence node (None for a volume).
        browser: the browser that now replays input and output together (None for a volume).
        frames: number of frames (or slices) despeckled.
        seconds: wall time of the run.
        description: what was done (the output's provenance).
        mask: the pixels despeckled, when burnt-in annotations were protected (None: all of them).
        reused: the earlier result of the same method on the same input was replaced.
    """

    output: vtk.vtkObject
    sequence: vtk.vtkObject | None
    browser: vtk.vtkObject | None
    frames: int
    seconds: float
    description: str
    mask: RegionMask | None = None
    reused: bool = False

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


def output_name(source: vtk.vtkObject, despeckler: Despeckler) -> str:
    """Default name of a result: ``"<input> despeckled (<method>)"``."""
    return f"{source.GetName()} despeckled ({despeckler.name})"


def _record_mask(node: vtk.vtkObject, mask: RegionMask | None) -> None:
    if mask is not None and mask.sources:
        node.SetAttribute(MASK_ATTRIBUTE, mask.describe())
    else:
        node.RemoveAttribute(MASK_ATTRIBUTE)


def _show_at_strength(scene: vtk.vtkObject, result: vtk.vtkObject, strength: float, logic=None) -> None:
    if strength == 1.0:
        result.SetAttribute(STRENGTH_ATTRIBUTE, "1")
    else:
        apply_strength(scene, result, strength, logic)


def despeckle_volume_node(
    scene: vtk.vtkObject,
    node: vtk.vtkObject,
    despeckler: Despeckler,
    *,
    axis: int = 0,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    protect: bool = False,
    regions: Sequence[UltrasoundRegion] = (),
    strength: float = 1.0,
) -> DespeckleResult:
    """Despeckle a 2-D image or 3-D volume node into a scalar volume node with the same geometry.

    Args:
        scene: the scene of ``node``; the output is added to it (or the earlier output of the same
            method on ``node`` is overwritten).
        node: a scalar (or RGB vector) volume node.
        despeckler: the engine (see :func:`create_despeckler`).
        axis: slicing axis of a 3-D volume in array order ``[K, J, I]`` (0: the K slices).
        name: the name of a new output (default :func:`output_name`).
        progress: called after each batch with ``(slices done, slices total)``; return True to cancel.
        protect: keep the input's values outside the ultrasound region (see :mod:`.region_mask`).
        regions: the input's DICOM ultrasound regions (for ``protect``).
        strength: 0-1, the blend of input and full-strength result to show (see :mod:`.strength`).

    Raises:
        InvalidImageError: the node has no voxels or unreadable pixels.
        InvalidParameterError: a bad axis or strength.
        OperationCancelledError: cancelled; the scene is unchanged.
    """
    start = time.perf_counter()
    strength = check_strength(strength)
    image = image_from_volume_node(node)
    _check_axis(axis, image.num_frames)
    slices = image.frames.shape[axis]
    report(progress, 0, slices)
    frames = despeckle_frames(image.frames, despeckler, axis=axis, progress=progress)
    mask = mask_for_frames([image.frames], image.frame_shape, regions) if protect else None
    if mask is not None:
        frames = keep_outside(frames, image.frames, mask.mask)
    derivation = despeckler.derivation_description()
    full = image.with_frames(frames)
    full.metadata["derivation_description"] = derivation

    output = find_result(scene, node, despeckler.name)
    reused = output is not None
    if output is None:
        output = add_volume_node(scene, full, name or output_name(node, despeckler), reference=node)
        place_beside(scene, output, node)
    else:
        update_volume_node(output, full, geometry_from=node)
        output.SetAndObserveTransformNodeID(node.GetTransformNodeID())
        copy_window_level(node, output, image.intensity)
    mark_result(output, node, despeckler.name, derivation)
    _record_mask(output, mask)
    store_full_strength(
        scene, output, update_volume_node(slicer.vtkMRMLScalarVolumeNode(), full, geometry_from=node)
    )
    _show_at_strength(scene, output, strength)
    return DespeckleResult(
        output, None, None, slices, time.perf_counter() - start, derivation, mask=mask, reused=reused
    )


def _despeckled_items(
    frames: SequenceFrames,
    despeckler: Despeckler,
    axis: int,
    progress: ProgressCallback | None,
    total: int,
) -> Iterator[tuple[int, UltrasoundImage, np.ndarray]]:
    """``(item, input image, despeckled frames)`` for every item, in order.

    Along axis 0 frames stream across items (one batch may span several cine frames).
    """
    if axis != 0:
        done = 0
        for item, image in enumerate(frames.iter_images()):
            out = despeckle_frames(
                image.frames, despeckler, axis=axis, progress=progress, done=done, total=total
            )
            done += image.frames.shape[axis]
            yield item, image, out
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
            yield item, image, result
            report(progress, done, total)
    finally:
        results.close()


def _cine_mask(frames: SequenceFrames, regions: Sequence[UltrasoundRegion]) -> RegionMask | None:
    """The region mask of a cine of 2-D items (3-D items are not masked)."""
    if frames.frames_per_item() != 1:
        return None
    shape = frames.image(0).frame_shape
    return mask_for_frames((image.frames for image in frames.iter_images()), shape, regions)


def _copy_items(source: vtk.vtkObject, target: vtk.vtkObject) -> None:
    """Make ``target``'s items copies of ``source``'s (same index values)."""
    target.RemoveAllDataNodes()
    for item in range(source.GetNumberOfDataNodes()):
        target.SetDataNodeAtValue(source.GetNthDataNode(item), source.GetNthIndexValue(item))


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
    protect: bool = False,
    regions: Sequence[UltrasoundRegion] = (),
    strength: float = 1.0,
) -> DespeckleResult:
    """Despeckle every item of a sequence into a result sequence, synchronised in the same browser.

    Each output item has the geometry and index value of its input item. A cine of 2-D frames is
    streamed through the engine in batches across items; the items of a 3-D+t sequence are
    volumes, sliced along ``axis`` one by one. The earlier result sequence of the same method on
    the same input sequence is refilled instead of adding another.

    Args:
        scene: the scene of the browser.
        browser: the ``vtkMRMLSequenceBrowserNode`` replaying ``sequence``.
        sequence: the input ``vtkMRMLSequenceNode`` (its items are volume nodes).
        despeckler: the engine.
        sequences_logic: the scene's ``vtkSlicerSequencesLogic`` (creates and updates proxy nodes).
        axis: slicing axis of 3-D items (2-D frames need 0).
        name: the proxy name of a new output (default :func:`output_name` of the input proxy).
        progress: called after each batch with ``(frames done, frames total)``; return True to cancel.
        protect: keep the input's values outside the ultrasound region (cine of 2-D frames only).
        regions: the input's DICOM ultrasound regions (for ``protect``).
        strength: 0-1, the blend of input and full-strength result to show.

    Returns:
        The result; ``output`` is the result sequence's proxy node.

    Raises:
        InvalidImageError: an empty sequence, items that are not volumes or have no voxels.
        InvalidParameterError: a bad axis or strength.
        OperationCancelledError: cancelled; the scene is unchanged.
    """
    start = time.perf_counter()
    strength = check_strength(strength)
    frames = SequenceFrames.of(sequence)
    _check_axis(axis, frames.frames_per_item())
    sizes = [item.GetImageData().GetDimensions() for item in frames.items]
    total = sum((size[2], size[1], size[0])[axis] for size in sizes)
    report(progress, 0, total)
    mask = _cine_mask(frames, regions) if protect else None
    source_proxy = browser.GetProxyNode(sequence) or sequence
    proxy_name = name or output_name(source_proxy, despeckler)
    full = new_sequence_like(sequence, f"{proxy_name} sequence")
    item_node = slicer.vtkMRMLScalarVolumeNode()
    for item, image, despeckled in _despeckled_items(frames, despeckler, axis, progress, total):
        if mask is not None:
            despeckled = keep_outside(despeckled, image.frames, mask.mask)
        update_volume_node(item_node, image.with_frames(despeckled), geometry_from=frames.items[item])
        full.SetDataNodeAtValue(item_node, frames.index_value(item))

    derivation = despeckler.derivation_description()
    output = find_result(scene, sequence, despeckler.name, "vtkMRMLSequenceNode")
    reused = output is not None and browser.IsSynchronizedSequenceNode(output)
    if reused:
        _copy_items(full, output)
        sequences_logic.UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(output)
    else:
        output = new_sequence_like(sequence, full.GetName())
        _copy_items(full, output)
        proxy = add_synchronized_sequence(scene, browser, output, sequences_logic, proxy_name)
        place_beside(scene, output, source_proxy)
        place_beside(scene, proxy, source_proxy)
    mark_result(output, sequence, despeckler.name, derivation)
    _record_mask(output, mask)
    store_full_strength(scene, output, full)
    copy_window_level(source_proxy, proxy, frames.intensity)
    _show_at_strength(scene, output, strength, sequences_logic)
    return DespeckleResult(
        proxy, output, browser, total, time.perf_counter() - start, derivation, mask=mask, reused=reused
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
    protect: bool = False,
    regions: Sequence[UltrasoundRegion] = (),
    strength: float = 1.0,
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
        protect: keep the input's values outside the ultrasound region.
        regions: the input's DICOM ultrasound regions (for ``protect``).
        strength: 0-1, the blend of input and full-strength result to show.
    """
    browser = browser_for_proxy(scene, node) if whole_sequence else None
    options = {
        "axis": axis,
        "progress": progress,
        "protect": protect,
        "regions": regions,
        "strength": strength,
    }
    if browser is None:
        return despeckle_volume_node(scene, node, despeckler, **options)
    if sequences_logic is None:
        raise ValueError("despeckling a sequence needs the scene's sequences logic")
    sequence = browser.GetSequenceNode(node)
    return despeckle_sequence(scene, browser, sequence, despeckler, sequences_logic, **options)
