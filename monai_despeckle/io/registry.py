"""Which source and sink handle which path: one table keyed by file suffix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from monai_despeckle.errors import UnsupportedFormatError
from monai_despeckle.io import dicom, frames_folder, itk_formats, raster
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.nifti import reader as nifti_reader
from monai_despeckle.io.nifti import writer as nifti_writer
from monai_despeckle.io.sink import FrameSink, WholeImageSink
from monai_despeckle.io.source import FrameSource


def _any_image(image: UltrasoundImage, path: Path) -> None:
    """Formats that store any [T, H, W] image need no extra check."""


class SinkOpener(Protocol):
    """``open(path, header, fmt, overwrite=...)``: a :class:`FrameSink` class or a function choosing one."""

    def __call__(
        self, path: Path, header: UltrasoundImage, fmt: Format, *, overwrite: bool = False
    ) -> FrameSink: ...


@dataclass(frozen=True)
class Format:
    """A file format family: its suffixes, its one source and its one sink.

    Attributes:
        name: short name recorded in ``metadata["format"]``.
        suffixes: lower-case suffixes, compound ones included (``.nii.gz``).
        open: ``open(path) -> FrameSource``: the header checked, frames read on demand (or decoded
            whole for formats that cannot stream).
        sink: opens the writer (:class:`FrameSink`) of an output in this format; what
            :func:`~monai_despeckle.io.save` and :func:`~monai_despeckle.io.open_sink` write with.
        write: ``write(image, path)`` for formats written whole (by :class:`WholeImageSink`), only
            ever called on a staging path.
        check: ``check(image, path)`` raises before anything is written if the format cannot
            hold the image (e.g. several frames in a PNG).
    """

    name: str
    suffixes: tuple[str, ...]
    open: Callable[[Path], FrameSource]
    sink: SinkOpener = WholeImageSink
    write: Callable[[UltrasoundImage, Path], None] | None = None
    check: Callable[[UltrasoundImage, Path], None] = _any_image


FORMATS: tuple[Format, ...] = (
    Format("nifti", (".nii", ".nii.gz"), nifti_reader.open_source, nifti_writer.NiftiSink),
    Format("nrrd", (".nrrd", ".nhdr"), itk_formats.open_source, write=itk_formats.write),
    Format("metaimage", (".mha", ".mhd"), itk_formats.open_source, write=itk_formats.write),
    Format("dicom", dicom.DICOM_SUFFIXES, dicom.open_source, dicom.open_sink, dicom.write),
    Format("png", (".png",), raster.open_source, write=raster.write, check=raster.check_writable),
    Format("jpeg", (".jpg", ".jpeg"), raster.open_source, write=raster.write, check=raster.check_writable),
    Format("tiff", (".tif", ".tiff"), raster.open_source, write=raster.write, check=raster.check_writable),
    Format("bmp", (".bmp",), raster.open_source, write=raster.write, check=raster.check_writable),
)
FRAMES_FOLDER = Format("frames-folder", (), frames_folder.open_source, frames_folder.FramesFolderSink)
DICOM = next(fmt for fmt in FORMATS if fmt.name == "dicom")

BY_SUFFIX: dict[str, Format] = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(BY_SUFFIX)


def suffix_of(path: Path) -> str:
    """The known (possibly compound) suffix of ``path``, else its last suffix, lower-cased."""
    name = path.name.lower()
    for suffix in sorted(BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return path.suffix.lower()


def _unsupported(path: Path, suffix: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"unsupported file type {suffix or '(no suffix)'}; supported: {', '.join(SUPPORTED_SUFFIXES)} "
        "or a folder of frame images",
        path,
    )


def format_for_input(path: Path) -> Format:
    """The format to read ``path`` with: a folder of frames, by suffix, or DICOM by its marker."""
    if path.is_dir():
        return FRAMES_FOLDER
    suffix = suffix_of(path)
    if suffix in BY_SUFFIX:
        return BY_SUFFIX[suffix]
    if dicom.looks_like_dicom(path):  # DICOM files often have no suffix at all
        return DICOM
    raise _unsupported(path, suffix)


def format_for_output(path: Path) -> Format:
    """The format to write ``path`` with: by suffix; an existing folder, or a name without a dot, is a
    frames folder; a name ending in a dot is refused."""
    if path.is_dir():
        return FRAMES_FOLDER
    suffix = suffix_of(path)
    if suffix in BY_SUFFIX:
        return BY_SUFFIX[suffix]
    if "." not in path.name.lstrip("."):  # "out", ".out": a folder of frames
        return FRAMES_FOLDER
    if path.name.endswith("."):  # "o.nii." is a mistyped file name, not a folder
        raise UnsupportedFormatError(
            "output name ends with a dot; name a file with a supported suffix "
            f"({', '.join(SUPPORTED_SUFFIXES)}) or a folder without dots",
            path,
        )
    raise _unsupported(path, suffix)
