"""Per-frame agreement of two segmentations (input vs despeckled): Dice and areas, as a table node.

For every frame (a cine frame, or a slice of a volume along the processing axis) and every label:
the area the segmenter found on the input and on the despeckled image (in mm² when the pixel size
is calibrated, else in px², see :mod:`.area_units`), and the Dice coefficient
``2 |A ∩ B| / (|A| + |B|)`` between the two (1 when both are empty: they agree).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import slicer
import vtk

from UltrasoundDespeckleLib.area_units import PIXELS, AreaUnit

FRAME_COLUMN = "Frame"
INDEX_COLUMN = "Index"
AREA_UNIT_ATTRIBUTE = "UltrasoundDespeckle.AreaUnit"
AREA_WARNING_ATTRIBUTE = "UltrasoundDespeckle.AreaWarning"


def dice(first: np.ndarray, second: np.ndarray) -> float:
    """Dice coefficient of two boolean masks of the same shape (1.0 when both are empty)."""
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"masks of shapes {first.shape} and {second.shape} cannot be compared")
    total = int(first.sum()) + int(second.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(first, second).sum()) / total


@dataclass
class FrameMetrics:
    """Areas and Dice per frame and label, accumulated chunk by chunk.

    Attributes:
        label_values: label name -> value, e.g. ``{"lesion": 1}``.
        unit: the unit of the areas (mm² or px²); the first frames measured set it.
        index: the index value of each frame (sequence index, or slice number).
        area_input / area_despeckled / dice: label name -> one value per frame.
    """

    label_values: dict[str, int]
    unit: AreaUnit = PIXELS
    index: list[str] = field(default_factory=list)
    area_input: dict[str, list[float]] = field(default_factory=dict)
    area_despeckled: dict[str, list[float]] = field(default_factory=dict)
    dice: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.label_values:
            self.area_input.setdefault(name, [])
            self.area_despeckled.setdefault(name, [])
            self.dice.setdefault(name, [])

    @property
    def num_frames(self) -> int:
        """Frames measured so far."""
        return len(self.index)

    def add(
        self,
        input_labels: np.ndarray,
        despeckled_labels: np.ndarray,
        unit: AreaUnit,
        index: Sequence[str],
        *,
        axis: int = 0,
    ) -> None:
        """Measure the frames (slices along ``axis``) of two label arrays of the same shape.

        Args:
            input_labels: labels ``[T, H, W]`` found on the input.
            despeckled_labels: labels found on the despeckled image.
            unit: the area unit of these frames (its pixel area scales the pixel counts).
            index: one index value per frame.
            axis: the axis along which the frames are taken.

        Raises:
            ValueError: shapes differ, the index does not fit, or the unit differs from the one of
                earlier frames (one table, one unit).
        """
        if input_labels.shape != despeckled_labels.shape:
            raise ValueError(
                f"label arrays differ in shape: {input_labels.shape} vs {despeckled_labels.shape}"
            )
        first, second = np.moveaxis(input_labels, axis, 0), np.moveaxis(despeckled_labels, axis, 0)
        if len(index) != first.shape[0]:
            raise ValueError(f"{len(index)} index values for {first.shape[0]} frames")
        if self.num_frames == 0:
            self.unit = unit
        elif unit.label != self.unit.label:
            raise ValueError(f"frames measured in {unit.label} cannot join a table in {self.unit.label}")
        self.index.extend(str(value) for value in index)
        for name, value in self.label_values.items():
            for frame_in, frame_out in zip(first == value, second == value, strict=True):
                self.area_input[name].append(float(frame_in.sum()) * unit.pixel_area)
                self.area_despeckled[name].append(float(frame_out.sum()) * unit.pixel_area)
                self.dice[name].append(dice(frame_in, frame_out))

    def mean_dice(self) -> dict[str, float]:
        """Mean Dice over the frames, per label."""
        return {
            name: float(np.mean(values)) if values else float("nan") for name, values in self.dice.items()
        }


def column_names(label_values: Mapping[str, int], unit: str = "mm²") -> list[str]:
    """The table's columns: frame number, index value, then per label the two areas and the Dice."""
    names = [FRAME_COLUMN, INDEX_COLUMN]
    for label in label_values:
        names += [f"{label} area input ({unit})", f"{label} area despeckled ({unit})", f"{label} Dice"]
    return names


def _add_column(table: vtk.vtkObject, array: vtk.vtkAbstractArray, name: str, values: Sequence) -> None:
    array.SetName(name)
    for value in values:
        array.InsertNextValue(value)
    table.GetTable().AddColumn(array)


def metrics_table(scene: vtk.vtkObject, metrics: FrameMetrics, name: str) -> vtk.vtkObject:
    """A new ``vtkMRMLTableNode`` in ``scene``: one row per frame, columns of :func:`column_names`.

    The mean Dice of each label is also stored as a node attribute ``UltrasoundDespeckle.MeanDice.<label>``,
    the area unit as ``UltrasoundDespeckle.AreaUnit`` and, when areas are in px², the reason as
    ``UltrasoundDespeckle.AreaWarning``.
    """
    table = slicer.vtkMRMLTableNode()
    table.SetName(scene.GenerateUniqueName(name))
    names = iter(column_names(metrics.label_values, metrics.unit.label))
    _add_column(table, vtk.vtkIntArray(), next(names), range(metrics.num_frames))
    _add_column(table, vtk.vtkStringArray(), next(names), metrics.index)
    for label in metrics.label_values:
        for values in (
            metrics.area_input[label],
            metrics.area_despeckled[label],
            metrics.dice[label],
        ):
            _add_column(table, vtk.vtkDoubleArray(), next(names), values)
    for label, value in metrics.mean_dice().items():
        table.SetAttribute(f"UltrasoundDespeckle.MeanDice.{label}", f"{value:.6g}")
    table.SetAttribute(AREA_UNIT_ATTRIBUTE, metrics.unit.label)
    if metrics.unit.warning:
        table.SetAttribute(AREA_WARNING_ATTRIBUTE, metrics.unit.warning)
    table.SetLocked(True)
    scene.AddNode(table)
    return table


def table_column(table: vtk.vtkObject, name: str) -> list:
    """The values of one column of a table node (e.g. to check or plot them)."""
    column = table.GetTable().GetColumnByName(name)
    if column is None:
        raise KeyError(f"table {table.GetName()!r} has no column {name!r}")
    return [column.GetValue(row) for row in range(column.GetNumberOfTuples())]
