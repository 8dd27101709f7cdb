"""Remember the layout and views the user had before comparing, and put them back afterwards.

The state is plain JSON (kept in the module's parameter node, so it survives saving the scene): the
layout's view arrangement and, for every slice view, its volumes, foreground opacity, linking,
orientation and position (slice-to-RAS matrix) and field of view.
"""

from __future__ import annotations

import json

import vtk

from UltrasoundDespeckleLib.sequences import nodes_of_class
from UltrasoundDespeckleLib.views import layout_node, slice_composite_node, slice_node


def _matrix(matrix: vtk.vtkMatrix4x4) -> list[float]:
    return [matrix.GetElement(row, column) for row in range(4) for column in range(4)]


def save_views(scene: vtk.vtkObject) -> str:
    """The current layout and slice views as a JSON string."""
    layout = layout_node(scene)
    views = {}
    for composite in nodes_of_class(scene, "vtkMRMLSliceCompositeNode"):
        name = composite.GetLayoutName()
        slice_ = slice_node(scene, name)
        views[name] = {
            "background": composite.GetBackgroundVolumeID(),
            "foreground": composite.GetForegroundVolumeID(),
            "label": composite.GetLabelVolumeID(),
            "foreground_opacity": composite.GetForegroundOpacity(),
            "linked": bool(composite.GetLinkedControl()),
            "slice_to_ras": _matrix(slice_.GetSliceToRAS()) if slice_ is not None else None,
            "field_of_view": list(slice_.GetFieldOfView()) if slice_ is not None else None,
        }
    arrangement = layout.GetViewArrangement() if layout is not None else None
    return json.dumps({"arrangement": arrangement, "views": views})


def restore_views(scene: vtk.vtkObject, saved: str) -> bool:
    """Put back a state from :func:`save_views`; return False when there is nothing to restore.

    Volumes that were removed since are simply not shown again.
    """
    if not saved:
        return False
    state = json.loads(saved)
    for name, view in state.get("views", {}).items():
        composite = slice_composite_node(scene, name)
        if composite is not None:
            for role, setter in (
                ("background", composite.SetBackgroundVolumeID),
                ("foreground", composite.SetForegroundVolumeID),
                ("label", composite.SetLabelVolumeID),
            ):
                node_id = view.get(role)
                setter(node_id if node_id and scene.GetNodeByID(node_id) is not None else None)
            composite.SetForegroundOpacity(float(view.get("foreground_opacity", 0.0)))
            composite.SetLinkedControl(bool(view.get("linked", False)))
        slice_ = slice_node(scene, name)
        if slice_ is not None and view.get("slice_to_ras"):
            matrix = slice_.GetSliceToRAS()
            for index, value in enumerate(view["slice_to_ras"]):
                matrix.SetElement(index // 4, index % 4, float(value))
            if view.get("field_of_view"):
                slice_.SetFieldOfView(*view["field_of_view"])
            slice_.UpdateMatrices()
    layout = layout_node(scene)
    if layout is not None and state.get("arrangement") is not None:
        layout.SetViewArrangement(int(state["arrangement"]))
    return True
