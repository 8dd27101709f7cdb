"""Show input and output side by side: the Red slice view left, the Yellow one right, linked.

Only MRML nodes are touched (the layout node, slice composite nodes, display nodes); Slicer's
layout manager reacts to them, so this works the same inside Slicer and in a bare MRML scene.
"""

from __future__ import annotations

import slicer
import vtk

from UltrasoundDespeckleLib.sequences import nodes_of_class

INPUT_VIEW = "Red"
OUTPUT_VIEW = "Yellow"


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


def show_side_by_side(
    scene: vtk.vtkObject, input_volume: vtk.vtkObject, output_volume: vtk.vtkObject
) -> None:
    """Switch to the side-by-side layout: input in the Red view, output in the Yellow view, linked.

    The views' foregrounds are cleared and their controls linked, so panning, zooming and slice
    scrolling move both together.
    """
    layouts = nodes_of_class(scene, "vtkMRMLLayoutNode")
    if layouts:
        layouts[0].SetViewArrangement(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
    for view, volume in ((INPUT_VIEW, input_volume), (OUTPUT_VIEW, output_volume)):
        composite = slice_composite_node(scene, view)
        if composite is None:
            continue
        composite.SetBackgroundVolumeID(volume.GetID() if volume is not None else None)
        composite.SetForegroundVolumeID(None)
        composite.SetLabelVolumeID(None)
        composite.SetLinkedControl(True)


def show_only_in_view(scene: vtk.vtkObject, node: vtk.vtkObject, view: str) -> None:
    """Restrict a displayable node (e.g. a segmentation) to one slice view (and keep it in 3-D off)."""
    display = node.GetDisplayNode()
    target = slice_node(scene, view)
    if display is None or target is None:
        return
    display.SetViewNodeIDs([target.GetID()])
