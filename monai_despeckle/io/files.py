"""Read and write whole images by file suffix: :func:`load` and :func:`save`.

Streaming a long file chunk by chunk is :mod:`monai_despeckle.io.streaming`; both go through the
same format registry (:mod:`monai_despeckle.io.registry`).
"""

from __future__ import annotations

from pathlib import Path

from monai_despeckle.errors import OutputPathError
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.registry import format_for_input, format_for_output
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.validation import check_input_path, check_savable, reading

__all__ = ["load", "save"]


def load(path: str | Path) -> UltrasoundImage:
    """Read an image file or a folder of frames.

    Args:
        path: a file with a supported suffix (see :data:`SUPPORTED_SUFFIXES`), a DICOM file with
            any name, or a folder of PNG/JPEG/TIFF/BMP frames (read as a cine).

    Returns:
        The image with ``source`` set and ``metadata["format"]`` naming the format.

    Raises:
        DespeckleError: a subclass naming the file: :class:`InputNotFoundError`,
            :class:`~monai_despeckle.errors.UnsupportedFormatError`,
            :class:`~monai_despeckle.errors.CorruptFileError` (empty, truncated, undecodable) or
            :class:`~monai_despeckle.errors.InvalidImageError` (no pixels, >4-D, NaN/Inf...).
    """
    path = check_input_path(path).absolute()  # absolute: the input guard must survive a chdir
    fmt = format_for_input(path)
    with reading(path, f"{fmt.name} file"):
        image = fmt.read(path)
    image.source = path
    image.metadata["format"] = fmt.name
    return image


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
    fmt.check(image, path)
    protected = [image.source] if image.source is not None else []
    protected += [Path(p) for p in image.metadata.get("source_files", [])]
    with staged_output(path, protected=protected, overwrite=overwrite) as staging_path:
        try:
            fmt.write(image, staging_path)
        except (OSError, RuntimeError) as err:  # disk full, permissions, ITK writer errors
            raise OutputPathError(f"could not write {fmt.name} file ({err})", path) from err
    return path
