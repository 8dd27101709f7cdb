"""Chunked reading and writing of long cine loops and volumes.

A 10,000-frame 512×512 uint8 cine is 2.6 GB as stored and 10.5 GB as float32; streamed, only a
chunk of frames is ever decoded, converted and written at a time:

>>> with open_source("cine.nii.gz") as source, open_sink("out.nii.gz", source.header) as sink:
...     for chunk in source.iter_chunks(32):            # float32 [n, H, W] in [0, 1]
...         sink.write(process(chunk))

=====================  ===========================================  ===========================
format                 reading                                      writing
=====================  ===========================================  ===========================
NIfTI ``.nii``         memory map at the data offset                header, then frames
NIfTI ``.nii.gz``      sequential gzip stream                       gzip stream
DICOM multi-frame      ``pydicom.pixels.iter_pixels``, frame by     derived series, pixel data
                       frame (native or compressed)                 streamed from a temp file
folder of frames       one frame file at a time                     one PNG per frame
NRRD, MetaImage        whole (SimpleITK reads them whole)           whole (collected, then ITK)
PNG/JPEG/TIFF/BMP      whole (a single image)                       whole
=====================  ===========================================  ===========================

Streamed and whole-image reads give identical frames, headers and intensity mapping (16-bit and
float data take one extra pass for their value range); streamed writes reopen identically to
:func:`monai_despeckle.io.save` output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.registry import Format, format_for_input
from monai_despeckle.io.streaming.base import (
    FrameSink,
    FrameSource,
    output_format,
    placeholder_frames,
    streamed_mapping,
)
from monai_despeckle.io.streaming.dicom import DicomSink, DicomSource
from monai_despeckle.io.streaming.folder import FramesFolderSink, FramesFolderSource
from monai_despeckle.io.streaming.nifti import NiftiSink, NiftiSource, nifti_header
from monai_despeckle.io.streaming.whole import InMemorySource, WholeImageSink
from monai_despeckle.io.validation import check_input_path, reading

# format name (see monai_despeckle.io.registry) -> streamed reader; others are read whole.
_SOURCES: dict[str, Callable[[Path], FrameSource]] = {
    "nifti": NiftiSource.open,
    "dicom": DicomSource.open,
    "frames-folder": FramesFolderSource.open,
}


def open_source(path: str | Path) -> FrameSource:
    """Open an image file or frames folder for chunked reading.

    Args:
        path: anything :func:`monai_despeckle.io.load` reads.

    Returns:
        A :class:`FrameSource` (``streaming`` False where the format is read whole).

    Raises:
        DespeckleError: the same subclasses, naming the file, as :func:`monai_despeckle.io.load`.
    """
    path = check_input_path(path).absolute()
    fmt = format_for_input(path)
    opener = _SOURCES.get(fmt.name, InMemorySource.load)
    with reading(path, f"{fmt.name} file"):
        return opener(path)


def _sink_class(fmt: Format, header: UltrasoundImage) -> type[FrameSink]:
    if fmt.name == "nifti":
        return NiftiSink
    if fmt.name == "dicom" and header.num_frames > 1:
        return DicomSink
    if fmt.name == "frames-folder":
        return FramesFolderSink
    return WholeImageSink


def open_sink(path: str | Path, header: UltrasoundImage, *, overwrite: bool = False) -> FrameSink:
    """A chunked writer for ``path`` (format from its suffix; a folder or no suffix: PNG frames).

    Use it as a context manager; see :class:`FrameSink`.

    Args:
        path: the output.
        header: geometry, kind, intensity mapping and metadata of the output, usually
            ``source.header``; its ``source`` (and any companion files) are never overwritten.
        overwrite: replace an existing output.

    Raises:
        UnsupportedFormatError: unknown suffix, or the format cannot hold the image (several frames
            into a PNG...), before anything is written.
        OutputPathError: when entering the block, if the output is the input or exists.
    """
    fmt = output_format(path)
    return _sink_class(fmt, header)(path, header, fmt, overwrite=overwrite)


__all__ = [
    "DicomSink",
    "DicomSource",
    "FrameSink",
    "FrameSource",
    "FramesFolderSink",
    "FramesFolderSource",
    "InMemorySource",
    "NiftiSink",
    "NiftiSource",
    "WholeImageSink",
    "nifti_header",
    "open_sink",
    "open_source",
    "placeholder_frames",
    "streamed_mapping",
]
