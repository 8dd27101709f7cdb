"""Despeckling strength: a 0-100 % blend of the input and the full-strength result, applied live.

``blended = (1 - s) * input + s * full`` on the grey levels (the stored values; colour input by its
luminance, as the method saw it), rounded back to the stored data type: 0 % gives the input's exact
values, 100 % the full-strength result's. The full-strength copy
kept beside each result (see :mod:`.result_nodes`) makes a new strength a numpy blend of what is
already in the scene: the method is not run again.
"""

from __future__ import annotations

import numpy as np
import vtk

from monai_despeckle.errors import InvalidParameterError
from UltrasoundDespeckleLib.result_nodes import full_strength_of, source_of
from UltrasoundDespeckleLib.sequences import browser_for_proxy, browser_of_sequence
from UltrasoundDespeckleLib.volume_nodes import grey_values, node_label, volume_array, write_voxels

STRENGTH_ATTRIBUTE = "UltrasoundDespeckle.Strength"


def check_strength(strength: float) -> float:
    """``strength`` as a float in [0, 1].

    Raises:
        InvalidParameterError: outside [0, 1] or not a number.
    """
    value = float(strength)
    if not 0.0 <= value <= 1.0:
        raise InvalidParameterError(f"strength must be between 0 and 1 (0-100 %), got {strength!r}")
    return value


def blend(original: np.ndarray, full: np.ndarray, strength: float) -> np.ndarray:
    """``(1 - strength) * original + strength * full``, in float64."""
    strength = check_strength(strength)
    return (1.0 - strength) * np.asarray(original, dtype=np.float64) + strength * np.asarray(
        full, dtype=np.float64
    )


def blend_values(original: np.ndarray, full: np.ndarray, strength: float) -> np.ndarray:
    """Blend two arrays of stored values, rounded and clipped back to ``full``'s data type.

    The intensity mapping to [0, 1] is affine, so blending stored values is blending grey levels;
    doing it on the stored values keeps 0 % and 100 % exact.
    """
    mixed = blend(original, full, strength)
    dtype = np.asarray(full).dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        mixed = np.clip(np.rint(mixed), info.min, info.max)
    return mixed.astype(dtype)


def current_strength(result: vtk.vtkObject) -> float:
    """The strength a result (volume node, sequence or sequence proxy) is shown at (1.0 if never set)."""
    holder = _strength_holder(result)
    value = holder.GetAttribute(STRENGTH_ATTRIBUTE) if holder is not None else None
    return float(value) if value else 1.0


def _strength_holder(result: vtk.vtkObject) -> vtk.vtkObject | None:
    """The node that carries a result's references: itself, or the sequence behind a proxy."""
    if result is None:
        return None
    if full_strength_of(result) is not None:
        return result
    scene = result.GetScene()
    browser = browser_for_proxy(scene, result) if scene is not None else None
    return browser.GetSequenceNode(result) if browser is not None else None


def apply_strength(
    scene: vtk.vtkObject, result: vtk.vtkObject, strength: float, sequences_logic: vtk.vtkObject | None = None
) -> None:
    """Show ``result`` at ``strength`` (0-1): re-blend its voxels, or every item of its sequence.

    Args:
        scene: the scene of the result.
        result: a result volume node, a result sequence, or the proxy node of a result sequence.
        strength: 0 (the input) to 1 (the full-strength result).
        sequences_logic: the scene's ``vtkSlicerSequencesLogic``, to refresh the proxy of a sequence.

    Raises:
        InvalidParameterError: ``result`` is not a result of this module, its input or full-strength
            copy is gone, or the strength is outside [0, 1].
    """
    strength = check_strength(strength)
    holder = _strength_holder(result)
    full = full_strength_of(holder) if holder is not None else None
    source = source_of(holder) if holder is not None else None
    if full is None or source is None:
        raise InvalidParameterError(
            f"{node_label(result)} is not a despeckling result of this scene (its input or its "
            "full-strength copy is missing); despeckle again"
        )
    if holder.IsA("vtkMRMLSequenceNode"):
        _blend_sequence(holder, source, full, strength)
        browser = browser_for_proxy(scene, result) or browser_of_sequence(scene, holder)
        if browser is not None and sequences_logic is not None:
            sequences_logic.UpdateProxyNodesFromSequences(browser)
    else:
        write_voxels(holder, blend_values(grey_values(source), volume_array(full), strength))
    holder.SetAttribute(STRENGTH_ATTRIBUTE, f"{strength:.6g}")


def _blend_sequence(
    output: vtk.vtkObject, source: vtk.vtkObject, full: vtk.vtkObject, strength: float
) -> None:
    count = source.GetNumberOfDataNodes()
    if output.GetNumberOfDataNodes() != count or full.GetNumberOfDataNodes() != count:
        raise InvalidParameterError(
            f"sequence {node_label(output)} no longer matches its input {node_label(source)} item for item; "
            "despeckle again"
        )
    for item in range(count):
        values = blend_values(
            grey_values(source.GetNthDataNode(item)), volume_array(full.GetNthDataNode(item)), strength
        )
        write_voxels(output.GetNthDataNode(item), values)
    output.Modified()
