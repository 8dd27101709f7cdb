"""NRRD and MetaImage (.mha/.mhd) via SimpleITK, geometry included; NIfTI's header geometry too.

SimpleITK decodes these files whole, so their source is an :class:`InMemorySource`. The NIfTI
reader (:mod:`monai_despeckle.io.nifti.reader`) takes its geometry, kind and frame time from the
same header rules here, and lets SimpleITK decode the NIfTI files it does not stream.

SimpleITK indexes a 3-D image as ``(x, y, z)`` while its numpy view is ``[z, y, x]``; our frames
are that numpy view, so the geometry is reversed axis by axis: ``spacing = (sz, sy, sx)`` and the
direction's columns are ITK's columns in reverse order. Origins are LPS millimetres in both.

Cines: NIfTI stores them as ``[X, Y, 1, T]`` (see :mod:`monai_despeckle.io.nifti.rules`); NRRD and
MetaImage store a 3-D image plus two key/value fields (``monai_despeckle_kind``,
``monai_despeckle_frame_time_ms``) that ITK, pynrrd and Slicer keep as plain metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from monai_despeckle import budget
from monai_despeckle.errors import CorruptFileError, InvalidImageError
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.nifti import rules as nifti
from monai_despeckle.io.source import InMemorySource
from monai_despeckle.io.validation import image_from_values

KIND_KEY = "monai_despeckle_kind"
FRAME_TIME_KEY = "monai_despeckle_frame_time_ms"
MAX_DIMENSION = 4
# Header fields of the two-file variants naming their pixel file: suffix -> (separator, field names).
_DATA_FILE_FIELDS = {".mhd": ("=", ("elementdatafile",)), ".nhdr": (":", ("data file", "datafile"))}


def _itk_reason(err: Exception) -> str:
    """The informative last line of a (long, multi-line) ITK exception message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception thrown", "/"))]
    return (useful or lines or ["unknown ITK error"])[-1]


def companion_files(path: Path) -> list[Path]:
    """Pixel-data files a detached header (.mhd, .nhdr) points to; empty for single-file formats."""
    suffix = path.suffix.lower()
    if suffix not in _DATA_FILE_FIELDS:
        return []
    separator, fields = _DATA_FILE_FIELDS[suffix]
    with path.open("r", encoding="latin-1") as header:
        for line in header:
            key, found, value = line.partition(separator)
            value = value.strip()
            if found and key.strip().lower() in fields and value and value.upper() not in ("LOCAL", "LIST"):
                return [path.parent / value]
    return []


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """Within the block ITK prints no warnings to stderr (a header ITK repairs is checked by us)."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def read_information(path: Path) -> sitk.ImageFileReader:
    """A SimpleITK reader with the header of ``path`` read (no pixels yet).

    Raises:
        CorruptFileError: ITK cannot read the header.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError as err:
        raise CorruptFileError(f"cannot read image header ({_itk_reason(err)})", path) from err
    return reader


def _pixel_dtype(reader: sitk.ImageFileReader) -> np.dtype:
    """The numpy dtype of all components of one pixel (a structured size for vector pixels)."""
    component = sitk.GetArrayViewFromImage(sitk.Image([1, 1], reader.GetPixelID())).dtype
    count = max(1, reader.GetNumberOfComponents())
    return np.dtype((component, (count,))) if count > 1 else component


def _spatial_geometry(
    image: sitk.Image | sitk.ImageFileReader,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITK (x, y, z) spacing, origin and 3×3 direction, 2-D images embedded in the z = 0 plane.

    ``image`` is an image, or a reader that has read the image information.
    """
    dim = image.GetDimension()
    n = min(dim, 3)
    spacing, origin, direction = np.ones(3), np.zeros(3), np.eye(3)
    spacing[:n] = image.GetSpacing()[:n]
    origin[:n] = image.GetOrigin()[:n]
    direction[:n, :n] = np.asarray(image.GetDirection()).reshape(dim, dim)[:n, :n]
    return spacing, origin, direction


def _kind_and_frame_time(
    size: tuple[int, ...], header: dict[str, str], path: Path
) -> tuple[ImageKind, float | None]:
    """What the leading array axis means, from the ITK size and header fields."""
    is_nifti = nifti.is_nifti(path)
    stored_time = header.get(FRAME_TIME_KEY)
    marked_time = float(stored_time) if stored_time else None
    if len(size) == 4:
        if size[3] > 1 and size[2] > 1:
            raise InvalidImageError(f"4-D image of size {size} (x, y, z, t) is 3-D+t; not supported", path)
        if size[3] > 1:  # [X, Y, 1, T]: a 2-D+t cine
            return ImageKind.CINE, nifti.frame_time_ms(header, axis=4) if is_nifti else marked_time
        size = size[:3]
    if len(size) == 2 or size[2] == 1:
        return ImageKind.IMAGE, None
    if header.get(KIND_KEY) == ImageKind.CINE.value:
        return ImageKind.CINE, marked_time
    third_axis_time = nifti.third_axis_frame_time_ms(header) if is_nifti else None
    if third_axis_time is not None:
        return ImageKind.CINE, third_axis_time
    return ImageKind.VOLUME, None


def header_fields(reader: sitk.ImageFileReader, path: Path) -> dict[str, Any]:
    """Geometry (array order), kind, frame time and metadata from a reader that read the header.

    Raises:
        InvalidImageError: a 4-D image with both a z and a t extent.
    """
    size = tuple(reader.GetSize())
    header = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
    kind, frame_time_ms = _kind_and_frame_time(size, header, path)
    spacing, origin, direction = _spatial_geometry(reader)
    if kind is not ImageKind.VOLUME:
        spacing[2] = 1.0  # leading axis of a cine or single image carries no physical step
    return {
        "spacing": tuple(spacing[::-1]),
        "origin": tuple(origin),
        "direction": direction[:, ::-1],
        "kind": kind,
        "frame_time_ms": frame_time_ms,
        "metadata": {
            "spacing_source": "header",
            "itk_header": header,
            "source_files": [str(file) for file in companion_files(path)],
        },
    }


def checked_size(reader: sitk.ImageFileReader, path: Path) -> tuple[int, ...]:
    """The ITK size ``(x, y, ...)`` the header declares, refused beyond 4-D or without pixels."""
    size = tuple(reader.GetSize())
    if len(size) > MAX_DIMENSION:
        raise InvalidImageError(f"{len(size)}-D image of size {size}; at most 4-D is supported", path)
    if 0 in size:
        raise InvalidImageError(f"image has no pixels (size {size})", path)
    return size


def decode(
    reader: sitk.ImageFileReader,
    path: Path,
    *,
    streamable: bool = False,
    before_decoding: Callable[[dict[str, str]], None] | None = None,
) -> UltrasoundImage:
    """Decode the whole image a reader describes, after checking its size against the budget.

    Args:
        reader: a reader that has read the header (:func:`read_information`).
        path: the file.
        streamable: the format also streams (named in the size error).
        before_decoding: a check on the header's key/value fields, run after the size check.

    Raises:
        CorruptFileError: the data cannot be read.
        InvalidImageError: more than 4 dimensions, zero size, a 3-D+t image, or non-finite values.
    """
    size = checked_size(reader, path)
    budget.check_whole_image(
        int(np.prod(size[2:], dtype=np.int64)) if len(size) > 2 else 1,
        size[1] if len(size) > 1 else 1,
        size[0],
        _pixel_dtype(reader),
        path,
        streamable=streamable,
    )
    if before_decoding is not None:
        before_decoding({key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()})
    fields = header_fields(reader, path)
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError as err:
        raise CorruptFileError(f"cannot read image data ({_itk_reason(err)})", path) from err
    return image_from_values(
        sitk.GetArrayFromImage(image),
        path,
        vector_pixels=image.GetNumberOfComponentsPerPixel() > 1,
        **fields,
    )


def open_source(path: Path) -> InMemorySource:
    """Read a NRRD/MetaImage file whole with its geometry.

    Raises:
        CorruptFileError: the header or data cannot be read.
        InvalidImageError: more than 4 dimensions, zero size, or non-finite values.
        ImageTooLargeError: it would decode beyond the whole-image limit (checked first).
    """
    return InMemorySource(decode(read_information(path), path))


def is_planar(image: UltrasoundImage) -> bool:
    """Whether a single frame can be written as a 2-D ITK image without losing geometry."""
    direction = image.direction
    return (
        image.num_frames == 1
        and image.spacing[0] == 1.0
        and image.origin[2] == 0.0
        and np.allclose(direction[:, 0], (0.0, 0.0, 1.0))
        and np.allclose(direction[2, 1:], 0.0)
    )


def to_itk(image: UltrasoundImage) -> sitk.Image:
    """The image as a SimpleITK image in its source dtype (2-D for a single frame in the z = 0 plane)."""
    values = image.source_values()
    spacing = np.asarray(image.spacing[::-1])  # (sx, sy, sz)
    origin = np.asarray(image.origin)
    direction = image.direction[:, ::-1]  # columns for ITK (x, y, z)
    if is_planar(image):
        itk_image = sitk.GetImageFromArray(values[0], isVector=False)
        itk_image.SetSpacing(spacing[:2])
        itk_image.SetOrigin(origin[:2])
        itk_image.SetDirection(direction[:2, :2].ravel())
        return itk_image
    itk_image = sitk.GetImageFromArray(values, isVector=False)
    itk_image.SetSpacing(spacing)
    itk_image.SetOrigin(origin)
    itk_image.SetDirection(direction.ravel())
    if image.kind is ImageKind.CINE:
        itk_image.SetMetaData(KIND_KEY, ImageKind.CINE.value)
        if image.frame_time_ms is not None:
            itk_image.SetMetaData(FRAME_TIME_KEY, repr(float(image.frame_time_ms)))
    return itk_image


def write(image: UltrasoundImage, path: Path) -> None:
    """Write a NRRD/MetaImage file with SimpleITK (compressed)."""
    sitk.WriteImage(to_itk(image), str(path), useCompression=True)
