"""Label arrays <-> ``vtkMRMLSegmentationNode``: one segment per label, on the source volume's grid.

A segmenter returns labels ``[K, J, I]`` on the voxel grid of the image it read. Each label value
becomes a segment whose binary labelmap (a ``vtkOrientedImageData``) carries that volume's
IJK-to-RAS matrix, and the segmentation's reference geometry is the volume's, so Slicer shows the
segments exactly on the pixels they were computed from.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from UltrasoundDespeckleLib.scene_geometry import VolumeGeometry
from UltrasoundDespeckleLib.volume_nodes import image_data_from_array

# Segment colours by label value (RGB in [0, 1]): lesion / lumen, wall, and a few more.
SEGMENT_COLORS: dict[int, tuple[float, float, float]] = {
    1: (0.95, 0.78, 0.20),
    2: (0.30, 0.65, 1.00),
    3: (0.90, 0.35, 0.35),
    4: (0.45, 0.85, 0.45),
}
OTHER_COLOR = (0.80, 0.80, 0.80)


def oriented_labelmap(mask: np.ndarray, geometry: VolumeGeometry) -> vtk.vtkObject:
    """A ``vtkOrientedImageData`` holding ``mask`` ``[K, J, I]`` (uint8) on the grid of ``geometry``."""
    image = slicer.vtkOrientedImageData()
    image.ShallowCopy(image_data_from_array(np.ascontiguousarray(mask, dtype=np.uint8)))
    image.SetImageToWorldMatrix(geometry.ijk_to_ras_vtk())
    return image


def fill_segmentation(
    segmentation_node: vtk.vtkObject,
    labels: np.ndarray,
    label_values: Mapping[str, int],
    reference: vtk.vtkObject,
) -> None:
    """Replace the segments of ``segmentation_node`` by one segment per entry of ``label_values``.

    Args:
        segmentation_node: a ``vtkMRMLSegmentationNode`` (in a scene or not).
        labels: integer labels ``[K, J, I]`` on the voxel grid of ``reference``.
        label_values: segment name -> label value, e.g. ``{"lumen": 1, "wall": 2}``.
        reference: the volume node the labels were computed on (its geometry is used).

    Raises:
        ValueError: ``labels`` does not have the shape of ``reference``'s voxels.
    """
    columns, rows, slices = reference.GetImageData().GetDimensions()
    if labels.shape != (slices, rows, columns):
        raise ValueError(f"labels of shape {labels.shape} do not match the voxels {(slices, rows, columns)}")
    geometry = VolumeGeometry.from_node(reference)
    segmentation = segmentation_node.GetSegmentation()
    segmentation.RemoveAllSegments()
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    for name, value in label_values.items():
        segment_id = segmentation.AddEmptySegment(name, name, SEGMENT_COLORS.get(int(value), OTHER_COLOR))
        labelmap = oriented_labelmap(labels == value, geometry)
        if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
            labelmap, segmentation_node, segment_id
        ):
            raise RuntimeError(f"could not store segment {name!r} in {segmentation_node.GetName()!r}")


def add_segmentation_node(
    scene: vtk.vtkObject,
    labels: np.ndarray,
    label_values: Mapping[str, int],
    reference: vtk.vtkObject,
    name: str,
) -> vtk.vtkObject:
    """A new segmentation node in ``scene`` holding ``labels`` (see :func:`fill_segmentation`)."""
    node = slicer.vtkMRMLSegmentationNode()
    node.SetName(scene.GenerateUniqueName(name))
    fill_segmentation(node, labels, label_values, reference)
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    return node


def segment_mask(segmentation_node: vtk.vtkObject, segment_id: str, reference: vtk.vtkObject) -> np.ndarray:
    """The binary mask ``[K, J, I]`` of one segment resampled onto the voxel grid of ``reference``."""
    labelmap = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, labelmap)
    grid = slicer.vtkOrientedImageData()
    columns, rows, slices = reference.GetImageData().GetDimensions()
    grid.SetDimensions(columns, rows, slices)
    grid.SetImageToWorldMatrix(VolumeGeometry.from_node(reference).ijk_to_ras_vtk())
    resampled = slicer.vtkOrientedImageData()
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        labelmap, grid, resampled
    )
    extent = resampled.GetExtent()
    if resampled.GetPointData().GetScalars() is None or extent[1] < extent[0]:
        return np.zeros((slices, rows, columns), dtype=np.uint8)
    values = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars())
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    mask = np.zeros((slices, rows, columns), dtype=np.uint8)
    window = values.reshape(shape)
    mask[extent[4] : extent[5] + 1, extent[2] : extent[3] + 1, extent[0] : extent[1] + 1] = window != 0
    return mask
