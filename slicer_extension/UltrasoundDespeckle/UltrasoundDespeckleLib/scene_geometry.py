"""Volume geometry between Slicer (RAS, IJK order) and monai_despeckle (LPS, array order).

A Slicer volume node places voxel ``(i, j, k)`` at ``RAS = origin + D @ ((i, j, k) * spacing)``, where
the columns of ``D`` are the RAS directions of the I, J and K axes. Its voxel array, seen from numpy,
is ``[K, J, I]``. :class:`~monai_despeckle.io.image.UltrasoundImage` follows ITK instead: LPS
millimetres, and spacing, origin and direction columns in array order ``(T, H, W)``, so that
``LPS = origin + direction @ ((t, h, w) * spacing)``. With ``T = K``, ``H = J`` and ``W = I``, the two
differ only by the axis order and by the sign of the first two physical coordinates
(LPS ``(x, y, z)`` is RAS ``(-x, -y, z)``); both are exact in floating point, so a round trip changes
no bit of the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vtk

# LPS <-> RAS: negate x (left/right) and y (posterior/anterior). The matrix is its own inverse.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class VolumeGeometry:
    """The geometry of a Slicer volume node, in Slicer's terms.

    Attributes:
        spacing: voxel size in mm along I, J, K.
        origin: RAS position in mm of the centre of voxel ``(0, 0, 0)``.
        directions: 3×3 matrix whose columns are the RAS unit directions of I, J, K.
    """

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    directions: np.ndarray

    @classmethod
    def from_node(cls, node: vtk.vtkObject) -> VolumeGeometry:
        """The geometry of a ``vtkMRMLVolumeNode`` (or of any node with the same accessors)."""
        directions = np.zeros((3, 3))
        node.GetIJKToRASDirections(directions)
        return cls(tuple(node.GetSpacing()), tuple(node.GetOrigin()), directions)

    @classmethod
    def from_array_order(
        cls,
        spacing: tuple[float, float, float],
        origin: tuple[float, float, float],
        direction: np.ndarray,
    ) -> VolumeGeometry:
        """From monai_despeckle's geometry: LPS, spacing and direction columns in ``(T, H, W)`` order."""
        direction = np.asarray(direction, dtype=np.float64).reshape(3, 3)
        return cls(
            spacing=tuple(float(s) for s in spacing[::-1]),
            origin=tuple(float(v) for v in LPS_TO_RAS @ np.asarray(origin, dtype=np.float64)),
            directions=LPS_TO_RAS @ direction[:, ::-1],
        )

    def to_array_order(self) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
        """``(spacing, origin, direction)`` in the order and frame of :class:`UltrasoundImage` (LPS)."""
        spacing = tuple(float(s) for s in self.spacing[::-1])
        origin = tuple(float(v) for v in LPS_TO_RAS @ np.asarray(self.origin, dtype=np.float64))
        direction = LPS_TO_RAS @ np.asarray(self.directions)[:, ::-1]
        return spacing, origin, direction  # type: ignore[return-value]

    def apply_to(self, node: vtk.vtkObject) -> None:
        """Give ``node`` (a ``vtkMRMLVolumeNode``) this spacing, origin and directions."""
        node.SetSpacing(*self.spacing)
        node.SetOrigin(*self.origin)
        node.SetIJKToRASDirections(np.asarray(self.directions, dtype=np.float64))

    def ijk_to_ras(self) -> np.ndarray:
        """The 4×4 homogeneous IJK-to-RAS matrix."""
        matrix = np.eye(4)
        matrix[:3, :3] = np.asarray(self.directions) * np.asarray(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def ijk_to_ras_vtk(self) -> vtk.vtkMatrix4x4:
        """:meth:`ijk_to_ras` as a ``vtkMatrix4x4`` (e.g. for ``vtkOrientedImageData``)."""
        matrix = vtk.vtkMatrix4x4()
        for row, values in enumerate(self.ijk_to_ras()):
            for column, value in enumerate(values):
                matrix.SetElement(row, column, float(value))
        return matrix

    def in_plane_spacing(self, axis: int = 0) -> tuple[float, float]:
        """The two pixel sizes (mm) of a slice across array axis ``axis`` (0 = K, 1 = J, 2 = I)."""
        array_spacing = self.spacing[::-1]  # (K, J, I)
        others = [float(array_spacing[a]) for a in range(3) if a != axis]
        return others[0], others[1]

    def slice_area_mm2(self, axis: int = 0) -> float:
        """Area in mm² of one pixel of a slice across array axis ``axis`` (0 = K, 1 = J, 2 = I)."""
        rows, columns = self.in_plane_spacing(axis)
        return rows * columns


def matrix_from_vtk(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """A ``vtkMatrix4x4`` as a 4×4 numpy array."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])
