"""Scalar volume nodes <-> :class:`~monai_despeckle.io.image.UltrasoundImage`, geometry included.

A node's voxels ``[K, J, I]`` become the image's frames ``[T, H, W]`` in [0, 1] through
monai_despeckle's own reader checks (:func:`~monai_despeckle.io.validation.as_frames`: empty data,
NaN, colour reduced to grey by luminance) and intensity mapping, and go back to a node in the
source's data type, so that an unchanged image returns the very same voxel values.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.io.validation import as_frames
from UltrasoundDespeckleLib.display import copy_window_level
from UltrasoundDespeckleLib.scene_geometry import VolumeGeometry

# A single-slice node keeps its K spacing here: UltrasoundImage stores 1.0 for the leading axis of a
# 2-D image (see its docstring), and the node built back from it must not lose the slice thickness.
SLICE_SPACING_KEY = "slicer_slice_spacing_mm"


def node_label(node: vtk.vtkObject) -> str:
    """How errors name a node: its name and ID."""
    return f"node {node.GetName()!r} ({node.GetID() or 'not in a scene'})"


def volume_array(node: vtk.vtkObject) -> np.ndarray:
    """The voxels of a volume node as a numpy view ``[K, J, I]`` (``[K, J, I, C]`` for C components).

    Raises:
        InvalidImageError: not a volume node, a label map, or no voxels.
    """
    if node is None or not node.IsA("vtkMRMLVolumeNode"):
        kind = "nothing" if node is None else node.GetClassName()
        raise InvalidImageError(f"expected a scalar or vector volume node, got {kind}")
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InvalidImageError(f"{node_label(node)} is a label map, not an ultrasound image")
    image_data = node.GetImageData()
    scalars = image_data.GetPointData().GetScalars() if image_data is not None else None
    if scalars is None or 0 in image_data.GetDimensions():
        raise InvalidImageError(f"{node_label(node)} has no voxels (no image data loaded)")
    columns, rows, slices = image_data.GetDimensions()
    components = image_data.GetNumberOfScalarComponents()
    shape = (slices, rows, columns) + ((components,) if components > 1 else ())
    return numpy_support.vtk_to_numpy(scalars).reshape(shape)


def grey_values(node: vtk.vtkObject) -> np.ndarray:
    """The node's voxels as grey-level source values ``[K, J, I]`` (RGB(A) reduced by luminance).

    Raises:
        InvalidImageError: as :func:`volume_array`, or pixels monai_despeckle cannot read as grey
            levels (e.g. two components, NaN values).
    """
    values = volume_array(node)
    return as_frames(values, node_label(node), vector_pixels=values.ndim == 4)


def image_from_volume_node(
    node: vtk.vtkObject,
    *,
    kind: ImageKind | None = None,
    intensity: IntensityMapping | None = None,
) -> UltrasoundImage:
    """The node's voxels and geometry as an :class:`UltrasoundImage`.

    Args:
        node: a ``vtkMRMLScalarVolumeNode`` or ``vtkMRMLVectorVolumeNode`` (RGB ultrasound is
            reduced to grey by luminance, as monai_despeckle's readers do).
        kind: what the K axis means; default a single image for one slice, else a volume.
        intensity: the mapping to [0, 1] (default: the natural one for the node's values, e.g. 0..255
            for uint8); pass one shared mapping for all frames of a sequence.

    Raises:
        InvalidImageError: naming the node: no voxels, a label map, unreadable pixels.
    """
    values = grey_values(node)
    spacing, origin, direction = VolumeGeometry.from_node(node).to_array_order()
    metadata = {"format": "slicer", "slicer_node_id": node.GetID(), "slicer_node_name": node.GetName()}
    if values.shape[0] == 1:
        metadata[SLICE_SPACING_KEY] = spacing[0]
        spacing = (1.0, spacing[1], spacing[2])
    mapping = intensity or IntensityMapping.for_array(values)
    return UltrasoundImage(
        frames=mapping.to_unit(values),
        spacing=spacing,
        origin=origin,
        direction=direction,
        kind=kind or (ImageKind.IMAGE if values.shape[0] == 1 else ImageKind.VOLUME),
        intensity=mapping,
        metadata=metadata,
    )


def image_data_from_array(values: np.ndarray) -> vtk.vtkImageData:
    """A new ``vtkImageData`` holding a copy of ``values`` ``[K, J, I]`` (its own scalar type)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 3:
        raise ValueError(f"expected voxels [K, J, I], got shape {values.shape}")
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(values.shape[2], values.shape[1], values.shape[0])
    scalars = numpy_support.numpy_to_vtk(values.reshape(-1), deep=True)
    scalars.SetName("ImageScalars")
    image_data.GetPointData().SetScalars(scalars)
    return image_data


def geometry_of_image(image: UltrasoundImage) -> VolumeGeometry:
    """The Slicer geometry of an image (a single frame gets back its stored slice spacing)."""
    spacing = image.spacing
    if image.num_frames == 1 and SLICE_SPACING_KEY in image.metadata:
        spacing = (float(image.metadata[SLICE_SPACING_KEY]), spacing[1], spacing[2])
    return VolumeGeometry.from_array_order(spacing, image.origin, image.direction)


def update_volume_node(
    node: vtk.vtkObject,
    image: UltrasoundImage,
    *,
    geometry_from: vtk.vtkObject | None = None,
) -> vtk.vtkObject:
    """Put ``image`` (converted back to its source data type) into a scalar volume node.

    Args:
        node: the ``vtkMRMLScalarVolumeNode`` to fill (in a scene or not).
        image: frames ``[T, H, W]`` in [0, 1]; stored as ``image.source_values()``.
        geometry_from: copy spacing, origin and directions from this volume node (exactly) instead of
            converting the image's own geometry.

    Returns:
        ``node``.
    """
    node.SetAndObserveImageData(image_data_from_array(image.source_values()))
    if geometry_from is not None:
        node.CopyOrientation(geometry_from)
    else:
        geometry_of_image(image).apply_to(node)
    return node


def add_volume_node(
    scene: vtk.vtkObject,
    image: UltrasoundImage,
    name: str,
    *,
    reference: vtk.vtkObject | None = None,
) -> vtk.vtkObject:
    """A new scalar volume node in ``scene`` holding ``image``, with a display node.

    Args:
        scene: the ``vtkMRMLScene``.
        image: what the node holds.
        name: the node's name (made unique in the scene).
        reference: a volume node whose geometry, parent transform and window/level the new node takes
            (the input of a despeckling, so that both are displayed alike; see
            :func:`~UltrasoundDespeckleLib.display.copy_window_level`).
    """
    node = slicer.vtkMRMLScalarVolumeNode()
    node.SetName(scene.GenerateUniqueName(name))
    update_volume_node(node, image, geometry_from=reference)
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    if reference is not None:
        node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
        copy_window_level(reference, node, image.intensity)
    return node


def write_voxels(node: vtk.vtkObject, values: np.ndarray) -> None:
    """Overwrite the voxels of a volume node in place (same shape, cast to its dtype) and notify observers."""
    target = volume_array(node)
    if target.shape != values.shape:
        raise ValueError(f"{node_label(node)} holds voxels of shape {target.shape}, not {values.shape}")
    target[...] = values
    image_data = node.GetImageData()
    image_data.GetPointData().GetScalars().Modified()
    image_data.Modified()
