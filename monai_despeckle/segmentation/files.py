"""Segment image files and folders into label-map files: all or nothing, inputs never written.

Label maps are written as NIfTI, NRRD/MHA, PNG or TIFF holding the label values (0 background,
1 … for the structures) with the input's geometry. DICOM is refused as an output: a label map is
not an ultrasound image, and DICOM SEG is out of scope (write ``.nii.gz`` and convert if needed).
A DICOM input in a folder gets a ``.nii.gz`` label map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monai_despeckle.errors import UnsupportedFormatError
from monai_despeckle.io.registry import BY_SUFFIX, DICOM, suffix_of
from monai_despeckle.pipeline import process_file, process_folder
from monai_despeckle.segmentation.segmenter import Segmenter

__all__ = ["label_map_name", "segment_file", "segment_folder"]

LABEL_SUFFIX = "_seg"


def _check_label_output(path: Path) -> None:
    suffix = suffix_of(path)
    if suffix not in BY_SUFFIX:
        raise UnsupportedFormatError(f"unknown output format {suffix!r} for a label map", path)
    if BY_SUFFIX[suffix] is DICOM:
        raise UnsupportedFormatError("label maps are not written as DICOM: use .nii.gz, .nrrd or .png", path)


def label_map_name(source: Path) -> str:
    """Output file name of a source's label map: ``<stem>_seg<suffix>`` (DICOM → ``.nii.gz``)."""
    suffix = suffix_of(source)
    if suffix not in BY_SUFFIX or BY_SUFFIX[suffix] is DICOM:
        base = source.name[: -len(suffix)] if suffix and source.name.lower().endswith(suffix) else source.name
        return f"{base}{LABEL_SUFFIX}.nii.gz"
    return f"{source.name[: -len(suffix)]}{LABEL_SUFFIX}{source.name[-len(suffix) :]}"


def segment_file(segmenter: Segmenter, source: str | Path, output: str | Path, **options: Any) -> Path:
    """Segment every frame (or slice along ``axis``) of ``source`` into the label-map file ``output``.

    :func:`~monai_despeckle.pipeline.process_file` (``options`` are its keywords: ``axis``,
    ``chunk_frames``, ``overwrite``, ``progress``) after refusing a label map that cannot be
    written (DICOM, unknown format): along axis 0 the frames are read, despeckled (if the bundle
    asks for it), segmented and written a chunk at a time, so a long cine is never held whole.
    Nothing is left at ``output`` on error, and the input is never written.
    """
    _check_label_output(Path(output))
    return process_file(segmenter, source, output, **options)


def segment_folder(segmenter: Segmenter, source: str | Path, output: str | Path, **options: Any) -> int:
    """Segment every image file of ``source`` into the folder ``output`` (``<stem>_seg.<ext>``).

    :func:`~monai_despeckle.pipeline.process_folder` with :func:`label_map_name` (``options`` are
    its other keywords): the output folder is staged and renamed into place only when every file
    is done.

    Returns:
        The number of label maps written.
    """
    return process_folder(segmenter, source, output, output_name=label_map_name, **options)
