"""The DICOM file a Slicer node was loaded from, and what its header says.

Slicer's DICOM module records the SOP Instance UID of the source file on every loaded volume (and
on every frame of a multi-frame ultrasound loop loaded as a sequence) in the attribute
``DICOM.instanceUIDs``; its DICOM database maps the UID back to the file. The header gives the
ultrasound calibration regions (for the region mask and the area units) and the patient, study and
series to derive an exported series from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
import vtk
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from monai_despeckle.io.dicom.geometry import UltrasoundRegion, regions

INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"


@dataclass(frozen=True)
class DicomSource:
    """The header (without pixel data) of the file a node was loaded from."""

    header: Dataset
    path: Path

    @property
    def regions(self) -> list[UltrasoundRegion]:
        """Its ultrasound calibration regions (empty if none)."""
        return regions(self.header)


def instance_uid(node: vtk.vtkObject | None, sequence: vtk.vtkObject | None = None) -> str | None:
    """The first SOP Instance UID recorded on ``node``, else on the first item of ``sequence``."""
    for candidate in (node, sequence.GetNthDataNode(0) if sequence is not None else None):
        value = candidate.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) if candidate is not None else None
        if value and value.split():
            return value.split()[0]
    return None


def dicom_source(
    node: vtk.vtkObject | None,
    file_for_instance: Callable[[str], str | None],
    sequence: vtk.vtkObject | None = None,
) -> DicomSource | None:
    """The DICOM header of the file ``node`` (or the cine ``sequence``) came from, or None.

    Args:
        node: a volume node, or the proxy of a cine.
        file_for_instance: UID -> file path (in Slicer ``slicer.dicomDatabase.fileForInstance``).
        sequence: the cine's sequence, whose items carry the UID when the proxy does not.
    """
    uid = instance_uid(node, sequence)
    path = file_for_instance(uid) if uid else None
    if not path or not Path(path).is_file():
        return None
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError):
        return None
    return DicomSource(header, Path(path))
