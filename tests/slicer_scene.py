"""Scenes, volumes and cine loops built with Slicer's own API (slicer-core), for the Slicer module's tests.

Import only after ``pytest.importorskip("slicer")``: this module needs slicer-core.
"""

from __future__ import annotations

import numpy as np
import pytest
import slicer
import vtk
from vtk.util import numpy_support

from monai_despeckle.simulation import simulate_breast

FRAME_TIME_S = 0.0333


def matrix_from_vtk(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


@pytest.fixture
def scene():
    """A bare MRML scene with the sequences and segmentations logics attached (as Slicer has them)."""
    mrml = slicer.vtkMRMLScene()
    sequences_logic = slicer.vtkSlicerSequencesLogic()
    sequences_logic.SetMRMLScene(mrml)
    segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations_logic.SetMRMLScene(mrml)
    mrml.sequences_logic = sequences_logic  # keep the logics alive with the scene
    mrml.segmentations_logic = segmentations_logic
    yield mrml
    mrml.Clear(1)


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix_from_vtk(matrix)


def make_volume(
    scene,
    values: np.ndarray,
    *,
    spacing=(0.5, 0.6, 2.0),
    origin=(10.0, -20.0, 30.0),
    directions=None,
    name="input",
    node_class="vtkMRMLScalarVolumeNode",
):
    """A volume node holding ``values`` [K, J, I] (or [K, J, I, C]), made with Slicer's API only."""
    node = getattr(slicer, node_class)()
    node.SetName(name)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(values.shape[2], values.shape[1], values.shape[0])
    components = values.shape[3] if values.ndim == 4 else 1
    array = numpy_support.numpy_to_vtk(np.ascontiguousarray(values).reshape(-1, components), deep=True)
    image_data.GetPointData().SetScalars(array)
    node.SetAndObserveImageData(image_data)
    node.SetSpacing(*spacing)
    node.SetOrigin(*origin)
    node.SetIJKToRASDirections(np.eye(3) if directions is None else np.asarray(directions, dtype=float))
    if scene is not None:
        scene.AddNode(node)
        node.CreateDefaultDisplayNodes()
    return node


def voxels(node) -> np.ndarray:
    data = node.GetImageData()
    columns, rows, slices = data.GetDimensions()
    return numpy_support.vtk_to_numpy(data.GetPointData().GetScalars()).reshape(slices, rows, columns)


def phantom_frames(count: int, size: int = 64) -> np.ndarray:
    """uint8 frames [T, H, W] of a breast phantom, the probe sliding one pixel sideways per frame."""
    bmode = simulate_breast(size=size, seed=3).bmode
    return np.stack([np.rint(np.roll(bmode, t, axis=1) * 255).astype(np.uint8) for t in range(count)])


def make_cine(scene, frames: np.ndarray, name: str = "cine"):
    """A sequence of 2-D volume items with a browser and its proxy, as Slicer's DICOM loader makes."""
    sequence = slicer.vtkMRMLSequenceNode()
    sequence.SetName(f"{name} sequence")
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("s")
    sequence.SetIndexType(slicer.vtkMRMLSequenceNode.NumericIndex)
    for t, frame in enumerate(frames):
        item = make_volume(None, frame[None], spacing=(0.2, 0.25, 1.0), origin=(5.0, 7.0, 0.0), name=name)
        sequence.SetDataNodeAtValue(item, f"{t * FRAME_TIME_S:.4f}")
    scene.AddNode(sequence)
    browser = slicer.vtkMRMLSequenceBrowserNode()
    browser.SetName(f"{name} browser")
    scene.AddNode(browser)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    scene.sequences_logic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    proxy.SetName(name)
    return sequence, browser, proxy


def node_ids(scene) -> list[str]:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def add_views(scene, names=("Red", "Yellow", "Green")):
    """A layout node and the slice (composite) nodes of the named views, as Slicer's layout has them."""
    layout = slicer.vtkMRMLLayoutNode()
    scene.AddNode(layout)
    composites, slices = {}, {}
    for view in names:
        composites[view] = slicer.vtkMRMLSliceCompositeNode()
        composites[view].SetLayoutName(view)
        scene.AddNode(composites[view])
        slices[view] = slicer.vtkMRMLSliceNode()
        slices[view].SetLayoutName(view)
        scene.AddNode(slices[view])
    return layout, composites, slices
