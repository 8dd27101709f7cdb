"""Show a result the way its input is shown: the same window/level and colour table.

A despeckled image must look like its input at a glance, or every grey level seems to have moved:
the result therefore takes the input's window/level (frozen, so that a cine's frames are shown
alike and a blend at another strength does not re-stretch the contrast). A colour (RGB) input has
no window/level; its grey result is shown over the full range of the stored values, which is how
the colour image's luminance looked.
"""

from __future__ import annotations

import vtk

from monai_despeckle.io.image import IntensityMapping


def _is_grey(node: vtk.vtkObject) -> bool:
    data = node.GetImageData()
    return (
        data is not None
        and data.GetNumberOfScalarComponents() == 1
        and not node.IsA("vtkMRMLVectorVolumeNode")
    )


def copy_window_level(source: vtk.vtkObject, target: vtk.vtkObject, intensity: IntensityMapping) -> None:
    """Display ``target`` (a grey result) as ``source`` (its input) is displayed.

    Args:
        source: the input volume node (grey or colour), or a sequence's proxy node.
        target: the result volume node (grey), with a display node.
        intensity: the mapping between the stored values of the result and [0, 1] (used for a colour
            input, or an input whose window/level is not set yet).
    """
    target_display = target.GetDisplayNode()
    if target_display is None:
        return
    source_display = source.GetDisplayNode() if source is not None else None
    window, level = intensity.high - intensity.low, (intensity.high + intensity.low) / 2.0
    if source_display is not None and _is_grey(source) and source_display.GetWindow() > 0:
        window, level = source_display.GetWindow(), source_display.GetLevel()
        if source_display.GetColorNodeID():
            target_display.SetAndObserveColorNodeID(source_display.GetColorNodeID())
    target_display.SetAutoWindowLevel(False)
    target_display.SetWindowLevel(window, level)
