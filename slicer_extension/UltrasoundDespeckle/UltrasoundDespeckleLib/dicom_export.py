"""Write a despeckled image or cine back as a derived DICOM series, with monai_despeckle's writer.

The result is read from the scene as an :class:`~monai_despeckle.io.image.UltrasoundImage` (a cine
with its frame time, from the sequence's index) and handed to :func:`monai_despeckle.io.dicom.write`:
with the input's DICOM header as source, the new series joins the same patient and study, is flagged
DERIVED, keeps the ultrasound calibration regions and references the source instance.
"""

from __future__ import annotations

import re
from pathlib import Path

import vtk

from monai_despeckle.errors import InvalidImageError, OutputPathError
from monai_despeckle.io import save
from monai_despeckle.io.image import UltrasoundImage
from UltrasoundDespeckleLib.dicom_source import DicomSource
from UltrasoundDespeckleLib.result_nodes import DERIVATION_ATTRIBUTE, MASK_ATTRIBUTE
from UltrasoundDespeckleLib.sequences import SequenceFrames, browser_for_proxy
from UltrasoundDespeckleLib.strength import STRENGTH_ATTRIBUTE, current_strength
from UltrasoundDespeckleLib.volume_nodes import image_from_volume_node, node_label


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "despeckled"


def result_image(scene: vtk.vtkObject, node: vtk.vtkObject) -> tuple[UltrasoundImage, vtk.vtkObject]:
    """What a result node shows as one image: its whole cine for a sequence proxy, else its voxels.

    Returns:
        The image and the node that carries the result's attributes (the sequence, or ``node``).
    """
    browser = browser_for_proxy(scene, node)
    if browser is None:
        return image_from_volume_node(node), node
    sequence = browser.GetSequenceNode(node)
    frames = SequenceFrames.of(sequence)
    if frames.frames_per_item() != 1:
        raise InvalidImageError(
            f"{node_label(node)} is a sequence of 3-D volumes; export exports 2-D cine loops and single "
            "volumes"
        )
    return frames.cine_image(), sequence


def _derivation(holder: vtk.vtkObject) -> str:
    parts = [holder.GetAttribute(DERIVATION_ATTRIBUTE) or "Speckle reduction by monai-despeckle"]
    if holder.GetAttribute(STRENGTH_ATTRIBUTE):
        parts.append(f"strength {100.0 * current_strength(holder):.0f} %")
    if holder.GetAttribute(MASK_ATTRIBUTE):
        parts.append(holder.GetAttribute(MASK_ATTRIBUTE))
    return "; ".join(parts)[:1024]  # ST value length


def export_dicom(
    scene: vtk.vtkObject, node: vtk.vtkObject, folder: str | Path, source: DicomSource | None = None
) -> Path:
    """Write the result shown by ``node`` as a derived DICOM file in ``folder``; return its path.

    The file is written through :func:`monai_despeckle.io.save` (a temporary file renamed into
    place, never over an existing file) with the package's DICOM writer.

    Args:
        scene: the scene of ``node``.
        node: a result volume node, or the proxy of a result cine.
        folder: where to write (created if missing); the file is named after the node.
        source: the input's DICOM header (same patient and study, calibration kept); None writes a
            new anonymous patient and study.

    Raises:
        InvalidImageError: the node holds no voxels, or a sequence of 3-D volumes.
        OutputPathError: the folder cannot be created, or a file of that name exists.
    """
    image, holder = result_image(scene, node)
    image.metadata["derivation_description"] = _derivation(holder)
    if source is not None:
        image.metadata["dicom"] = source.header
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"cannot create the export folder: {err}", folder) from err
    return save(image, folder / f"{_file_name(node.GetName())}.dcm")
