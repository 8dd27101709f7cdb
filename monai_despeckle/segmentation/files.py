"""Segment image files and folders into label-map files: all or nothing, inputs never written.

Label maps are written as NIfTI, NRRD/MHA, PNG or TIFF holding the label values (0 background,
1 … for the structures) with the input's geometry. DICOM is refused as an output: a label map is
not an ultrasound image, and DICOM SEG is out of scope (write ``.nii.gz`` and convert if needed).
A DICOM input in a folder gets a ``.nii.gz`` label map.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from monai_despeckle import io
from monai_despeckle.batch import folder_job
from monai_despeckle.budget import DEFAULT_CHUNK_FRAMES, parse_chunk_frames
from monai_despeckle.errors import UnsupportedFormatError, naming_file
from monai_despeckle.inference import chunk_frames_for
from monai_despeckle.io.registry import BY_SUFFIX, DICOM, suffix_of
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.streaming import open_sink, open_source
from monai_despeckle.segmentation.segmenter import Segmenter, label_frames

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


def segment_file(
    segmenter: Segmenter,
    source: str | Path,
    output: str | Path,
    *,
    axis: int = 0,
    chunk_frames: int | str = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
) -> Path:
    """Segment every frame (or slice along ``axis``) of ``source`` into the label-map file ``output``.

    Along axis 0 the frames are read, despeckled (if the bundle asks for it), segmented and
    written ``chunk_frames`` at a time where the formats allow (see
    :mod:`monai_despeckle.io.streaming`), so a long cine is never held whole; axis 1 or 2 needs the
    whole volume. Nothing is left at ``output`` on error, and the input is never written.
    """
    output = Path(output)
    _check_label_output(output)
    parse_chunk_frames(chunk_frames)
    with naming_file(source):
        if axis != 0:
            return io.save(segmenter.label_image(io.load(source), axis=axis), output, overwrite=overwrite)
        with (
            open_source(source) as frames,
            open_sink(output, segmenter.label_header(frames.header), overwrite=overwrite) as sink,
        ):
            chunks = frames.iter_chunks(chunk_frames_for(frames.header, chunk_frames))
            for labels in segmenter.iter_labels(chunks, total=frames.num_frames):
                sink.write(label_frames(labels))
    return output


def segment_folder(
    segmenter: Segmenter,
    source: str | Path,
    output: str | Path,
    *,
    axis: int = 0,
    chunk_frames: int | str = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
) -> int:
    """Segment every image file of ``source`` into the folder ``output`` (``<stem>_seg.<ext>``).

    The output folder is staged and renamed into place only when every file is done.

    Returns:
        The number of label maps written.
    """
    source, output, files = folder_job(source, output)
    show = segmenter.progress
    segmenter.progress = False  # one bar over the files instead of one per file
    try:
        with staged_output(output, protected=[source], overwrite=overwrite) as staging:
            staging.mkdir()
            for file in tqdm(files, unit="file", desc=segmenter.name, disable=not show):
                segment_file(
                    segmenter, file, staging / label_map_name(file), axis=axis, chunk_frames=chunk_frames
                )
    finally:
        segmenter.progress = show
    return len(files)
