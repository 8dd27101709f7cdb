"""The four entry points, each through the format registry (:mod:`monai_despeckle.io.registry`).

:func:`open_source` opens a file's one :class:`~monai_despeckle.io.source.FrameSource`;
:func:`load` is that source read whole. :func:`open_sink` opens the format's
:class:`~monai_despeckle.io.sink.FrameSink`; :func:`save` is that sink given every frame at once.
"""

from __future__ import annotations

from pathlib import Path

from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.registry import format_for_input, format_for_output
from monai_despeckle.io.sink import FrameSink
from monai_despeckle.io.source import FrameSource
from monai_despeckle.io.validation import check_input_path, check_savable, reading

__all__ = ["load", "open_sink", "open_source", "save"]


def open_source(path: str | Path) -> FrameSource:
    """Open an image file or frames folder: its header now, its frames on demand.

    Args:
        path: a file with a supported suffix (see :data:`SUPPORTED_SUFFIXES`), a DICOM file with
            any name, or a folder of PNG/JPEG/TIFF/BMP frames (read as a cine).

    Returns:
        A :class:`FrameSource` whose header has ``source`` (absolute) and ``metadata["format"]``
        set; ``streaming`` is False where the format had to be decoded whole.

    Raises:
        DespeckleError: a subclass naming the file: :class:`InputNotFoundError`,
            :class:`~monai_despeckle.errors.UnsupportedFormatError`,
            :class:`~monai_despeckle.errors.CorruptFileError` (empty, truncated, undecodable) or
            :class:`~monai_despeckle.errors.InvalidImageError` (no pixels, >4-D, NaN/Inf...).
    """
    path = check_input_path(path).absolute()  # absolute: the input guard must survive a chdir
    fmt = format_for_input(path)
    with reading(path, f"{fmt.name} file"):
        return fmt.open(path).named(fmt.name)


def load(path: str | Path) -> UltrasoundImage:
    """Read an image file or a folder of frames.

    Args:
        path: a file with a supported suffix (see :data:`SUPPORTED_SUFFIXES`), a DICOM file with
            any name, or a folder of PNG/JPEG/TIFF/BMP frames (read as a cine).

    Returns:
        :meth:`FrameSource.read_all` of :func:`open_source`: the image with ``source`` set and
        ``metadata["format"]`` naming the format; its size is checked from the header first.

    Raises:
        DespeckleError: a subclass naming the file: :class:`InputNotFoundError`,
            :class:`~monai_despeckle.errors.UnsupportedFormatError`,
            :class:`~monai_despeckle.errors.CorruptFileError` (empty, truncated, undecodable) or
            :class:`~monai_despeckle.errors.InvalidImageError` (no pixels, >4-D, NaN/Inf...).
    """
    with open_source(path) as source:
        return source.read_all()


def save(image: UltrasoundImage, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``image`` to ``path`` in the format its suffix names, atomically.

    The frames are converted back to the source dtype and range (see
    :class:`IntensityMapping`) and the geometry is written with them. A path without suffix, or an
    existing folder, receives one PNG per frame.

    Args:
        image: frames ``[T, H, W]`` in [0, 1] with geometry and metadata.
        path: output file or folder; parent folders are created.
        overwrite: replace an existing output. The image's own source is never overwritten.

    Returns:
        The path written.

    Raises:
        InvalidImageError: frames are empty, non-finite or outside [0, 1] (nothing is written).
        UnsupportedFormatError: unknown suffix, or the format cannot hold the image.
        OutputPathError: the output is the input, or exists and ``overwrite`` is False, or
            writing failed (nothing is left at ``path``).
    """
    path = Path(path)
    fmt = format_for_output(path)
    check_savable(image, path)
    with fmt.sink(path, image, fmt, overwrite=overwrite) as sink:
        sink.write(image.frames)
    return path


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
    path = Path(path)
    fmt = format_for_output(path)
    return fmt.sink(path, header, fmt, overwrite=overwrite)
