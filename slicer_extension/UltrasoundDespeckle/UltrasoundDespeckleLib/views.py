"""Compare input and result: side by side in two linked views, or overlaid in one view (flicker / fade).

Only MRML nodes are touched (the layout node, slice nodes, slice composite nodes, display nodes);
Slicer's layout manager and slice views react to them, so this works the same inside Slicer and in a
bare MRML scene. Both views are given the *same* orientation, taken from the volume's own axes: the
slices the method processed, shown the way the array slice reads (rows down, columns right), so a
3-D volume is not compared axial against sagittal.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from UltrasoundDespeckleLib.scene_geometry import VolumeGeometry
from UltrasoundDespeckleLib.sequences import nodes_of_class

INPUT_VIEW = "Red"
OUTPUT_VIEW = "Yellow"
COMPARE_VIEWS = (INPUT_VIEW, OUTPUT_VIEW)


def _by_layout_name(scene: vtk.vtkObject, class_name: str, layout_name: str) -> vtk.vtkObject | None:
    for node in nodes_of_class(scene, class_name):
        if node.GetLayoutName() == layout_name:
            return node
    return None


def slice_composite_node(scene: vtk.vtkObject, view: str) -> vtk.vtkObject | None:
    """The slice composite node (what a slice view shows) of view ``view`` (e.g. ``"Red"``)."""
    return _by_layout_name(scene, "vtkMRMLSliceCompositeNode", view)


def slice_node(scene: vtk.vtkObject, view: str) -> vtk.vtkObject | None:
    """The slice node (the view's plane and its ID for display restrictions) of view ``view``."""
    return _by_layout_name(scene, "vtkMRMLSliceNode", view)


def layout_node(scene: vtk.vtkObject) -> vtk.vtkObject | None:
    """The scene's layout node (Slicer has exactly one)."""
    layouts = nodes_of_class(scene, "vtkMRMLLayoutNode")
    return layouts[0] if layouts else None


def slice_orientation(volume: vtk.vtkObject, axis: int = 0) -> np.ndarray:
    """3×3 slice-to-RAS rotation showing the slices of ``volume`` across array axis ``axis``.

    Columns: the screen's x (the slice's later array axis: columns go right), the screen's y (the
    earlier array axis, negated: rows go down) and the normal (the ``axis`` direction).
    """
    directions = VolumeGeometry.from_node(volume).directions  # columns I, J, K
    along = {0: directions[:, 2], 1: directions[:, 1], 2: directions[:, 0]}  # array axes K, J, I
    earlier, later = (a for a in (0, 1, 2) if a != axis)
    return np.column_stack([along[later], -along[earlier], along[axis]])


def volume_centre(volume: vtk.vtkObject) -> np.ndarray:
    """RAS position of the centre of a volume's voxel grid."""
    dimensions = volume.GetImageData().GetDimensions() if volume.GetImageData() else (1, 1, 1)
    centre_ijk = np.append((np.asarray(dimensions, dtype=float) - 1.0) / 2.0, 1.0)
    return (VolumeGeometry.from_node(volume).ijk_to_ras() @ centre_ijk)[:3]


def align_views(
    scene: vtk.vtkObject, volume: vtk.vtkObject, axis: int = 0, views: tuple[str, ...] = COMPARE_VIEWS
) -> None:
    """Give every view in ``views`` the orientation :func:`slice_orientation`, centred on ``volume``."""
    orientation = slice_orientation(volume, axis)
    centre = volume_centre(volume)
    for view in views:
        node = slice_node(scene, view)
        if node is None:
            continue
        matrix = node.GetSliceToRAS()
        for row in range(3):
            for column in range(3):
                matrix.SetElement(row, column, float(orientation[row, column]))
            matrix.SetElement(row, 3, float(centre[row]))
        node.UpdateMatrices()


def _show(
    composite: vtk.vtkObject, background: vtk.vtkObject | None, foreground: vtk.vtkObject | None
) -> None:
    composite.SetBackgroundVolumeID(background.GetID() if background is not None else None)
    composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
    composite.SetLabelVolumeID(None)


def show_side_by_side(
    scene: vtk.vtkObject, input_volume: vtk.vtkObject, output_volume: vtk.vtkObject, axis: int = 0
) -> None:
    """Side-by-side layout: input in the Red view, output in the Yellow view, linked, same orientation.

    The views' foregrounds are cleared and their controls linked, so panning, zooming and slice
    scrolling move both together.
    """
    layout = layout_node(scene)
    if layout is not None:
        layout.SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
    for view, volume in ((INPUT_VIEW, input_volume), (OUTPUT_VIEW, output_volume)):
        composite = slice_composite_node(scene, view)
        if composite is None:
            continue
        _show(composite, volume, None)
        composite.SetLinkedControl(True)
    if input_volume is not None:
        align_views(scene, input_volume, axis)


def show_overlaid(
    scene: vtk.vtkObject,
    input_volume: vtk.vtkObject,
    output_volume: vtk.vtkObject,
    axis: int = 0,
    opacity: float = 1.0,
) -> None:
    """One large view: the input as background, the output over it at ``opacity`` (1: only the output).

    Switching the opacity between 0 and 1 (:func:`toggle_overlay`) flickers between the two images on
    the very same pixels; the slice view's own foreground slider fades between them.
    """
    layout = layout_node(scene)
    if layout is not None:
        layout.SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView)
    composite = slice_composite_node(scene, INPUT_VIEW)
    if composite is not None:
        _show(composite, input_volume, output_volume)
        composite.SetForegroundOpacity(float(opacity))
    if input_volume is not None:
        align_views(scene, input_volume, axis, (INPUT_VIEW,))


def toggle_overlay(scene: vtk.vtkObject) -> float:
    """Flicker step: show the other image of the overlay; return the new foreground opacity."""
    composite = slice_composite_node(scene, INPUT_VIEW)
    if composite is None:
        return 0.0
    opacity = 0.0 if composite.GetForegroundOpacity() >= 0.5 else 1.0
    composite.SetForegroundOpacity(opacity)
    return opacity


def show_only_in_view(scene: vtk.vtkObject, node: vtk.vtkObject, view: str) -> None:
    """Restrict a displayable node (e.g. a segmentation) to one slice view (and keep it in 3-D off)."""
    display = node.GetDisplayNode()
    target = slice_node(scene, view)
    if display is None or target is None:
        return
    display.SetViewNodeIDs([target.GetID()])
