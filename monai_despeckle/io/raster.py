"""PNG, JPEG, TIFF and BMP via Pillow.

Raster files carry no usable physical geometry (a PNG's dpi is not the probe's pixel size), so
spacing is 1.0 with ``metadata["spacing_source"] = "default"``. 16-bit PNG/TIFF stay uint16, signed
16-bit TIFF stays int16 (Pillow decodes it as 32-bit; the file's sample format says what it was)
and float TIFF stays float32; colour is reduced to grey by luminance. A 1-bit image reads as 0/255
and is written back as 1-bit while its values are still black and white (else as 8-bit grey, with a
warning). A multi-page TIFF (or an animated PNG/GIF) is read as a cine.

Frame size and page count are checked against :mod:`monai_despeckle.budget` from the header, before
a pixel is decoded, so a small file declaring a huge image (a decompression bomb) is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from monai_despeckle import budget
from monai_despeckle.errors import (
    CorruptFileError,
    ImageTooLargeError,
    InvalidImageError,
    UnsupportedFormatError,
)
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage, ValuesConvertedWarning
from monai_despeckle.io.source import InMemorySource
from monai_despeckle.io.validation import as_frames, image_from_values

# Pillow modes that are first converted to a mode numpy understands as grey or RGB.
_CONVERT_MODE = {
    "1": "L",
    "LA": "L",
    "La": "L",
    "P": "RGB",
    "PA": "RGB",
    "RGBa": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}
# dtype of the values a frame of a Pillow mode decodes to (8-bit modes: uint8).
_MODE_DTYPES = {
    "I;16": "uint16",
    "I;16B": "uint16",
    "I;16L": "uint16",
    "I;16N": "uint16",
    "I": "int32",
    "F": "float32",
}
_TIFF_BITS_PER_SAMPLE, _TIFF_SAMPLE_FORMAT, _TIFF_SIGNED = 258, 339, 2
BILEVEL_KEY = "bilevel"  # metadata flag: the source was a 1-bit image

# dtypes each format family stores as they are (Pillow picks the mode from the dtype:
# uint8 -> "L", uint16 -> "I;16", int32 -> "I", float32 -> "F"; int16 TIFF goes through tifffile).
_NATIVE_DTYPES: dict[str, tuple[str, ...]] = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "bmp": ("uint8",),
    "tiff": ("uint8", "uint16", "int16", "int32", "float32"),
}
_MULTI_FRAME_FAMILIES = {"tiff"}


def open_checked(path: Path) -> Image.Image:
    """Open (header only), refusing images beyond :data:`monai_despeckle.budget.MAX_FRAME_PIXELS`."""
    try:
        with warnings.catch_warnings():  # Pillow warns from 89 Mpixels; our own limit is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(
            f"image exceeds the limit of {budget.MAX_FRAME_PIXELS:,} pixels (8192×8192) per frame ({err})",
            path,
        ) from err
    try:
        width, height = image.size
        frame_count = int(getattr(image, "n_frames", 1))
        dtype = _MODE_DTYPES.get(image.mode, "uint8")
        budget.check_whole_image(frame_count, height, width, dtype, path)
    except BaseException:
        image.close()
        raise
    return image


def read_values(path: Path) -> np.ndarray:
    """Decode every frame of a raster file into grey source values ``[T, H, W]``.

    Raises:
        CorruptFileError: Pillow cannot identify or fully decode the file (e.g. it is truncated).
        ImageTooLargeError: the header declares frames or pages beyond the limits (nothing decoded).
        InvalidImageError: frames differ in size, or the content is not a usable image.
    """
    try:
        with open_checked(path) as image:
            frames = [_frame_values(frame, path) for frame in ImageSequence.Iterator(image)]
    except UnidentifiedImageError as err:
        raise CorruptFileError("not a readable PNG/JPEG/TIFF/BMP image", path) from err
    except (OSError, SyntaxError, ValueError) as err:  # Pillow reports truncation/corruption this way
        raise CorruptFileError(f"cannot decode image ({err})", path) from err
    shapes = {frame.shape for frame in frames}
    if len(shapes) > 1:
        raise InvalidImageError(f"frames of different sizes {sorted(shapes)} in one file", path)
    dtypes = {frame.dtype for frame in frames}
    if len(dtypes) > 1:
        raise InvalidImageError(
            f"pages of different pixel types {sorted(map(str, dtypes))} in one file", path
        )
    return np.concatenate(frames, axis=0)


def is_bilevel(path: Path) -> bool:
    """Whether a raster file holds 1-bit (black and white) pixels."""
    with open_checked(path) as image:
        return image.mode == "1"


def _signed_16_bit_tiff(frame: Image.Image) -> bool:
    tags = getattr(frame, "tag_v2", None)
    if frame.format != "TIFF" or tags is None:
        return False
    return tags.get(_TIFF_BITS_PER_SAMPLE) == (16,) and tags.get(_TIFF_SAMPLE_FORMAT) == (_TIFF_SIGNED,)


def _frame_values(frame: Image.Image, path: Path) -> np.ndarray:
    signed_16 = _signed_16_bit_tiff(frame)
    if frame.mode in _CONVERT_MODE:
        frame = frame.convert(_CONVERT_MODE[frame.mode])
    values = np.asarray(frame)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))  # e.g. big-endian "I;16B"
    if signed_16:  # Pillow widens signed 16-bit samples to 32-bit: the values fit back exactly
        values = values.astype(np.int16)
    return as_frames(values, path, vector_pixels=values.ndim == 3)


def open_source(path: Path) -> InMemorySource:
    """Read a PNG/JPEG/TIFF/BMP file whole: one frame is an IMAGE, several (multi-page TIFF) a CINE."""
    values = read_values(path)
    kind = ImageKind.IMAGE if values.shape[0] == 1 else ImageKind.CINE
    metadata: dict[str, object] = {"spacing_source": "default"}
    if is_bilevel(path):
        metadata[BILEVEL_KEY] = True
    return InMemorySource(image_from_values(values, path, kind=kind, metadata=metadata))


_FAMILY_BY_SUFFIX = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
}


def _family(path: Path) -> str:
    return _FAMILY_BY_SUFFIX[path.suffix.lower()]


def check_writable(image: UltrasoundImage, path: Path) -> None:
    """Refuse several frames in a single-frame format, before anything is written."""
    family = _family(path)
    if image.num_frames > 1 and family not in _MULTI_FRAME_FAMILIES:
        raise UnsupportedFormatError(
            f"{family.upper()} holds a single frame but the image has {image.num_frames}; save it to a "
            "folder (one PNG per frame), .tif, .nrrd, .nii.gz, .mha or .dcm instead",
            path,
        )


def encoded_values(image: UltrasoundImage, path: Path) -> np.ndarray:
    """Source values ``[T, H, W]`` in a dtype the format stores.

    The source dtype is kept when the format stores it (uint8 everywhere, uint16 in PNG/TIFF,
    int16/int32/float32 in TIFF). Otherwise the [0, 1] frames are written at the format's widest
    integer depth (uint16 PNG, uint8 JPEG/BMP) or, for TIFF, as float32 source values, and a
    :class:`ValuesConvertedWarning` says so.
    """
    family = _family(path)
    native = _NATIVE_DTYPES[family]
    dtype = image.intensity.dtype
    if dtype in native:
        return image.source_values()
    if "float32" in native:
        stored = "float32"
        values = image.source_values().astype(np.float32)
    else:
        stored = "uint16" if "uint16" in native else "uint8"
        info = np.iinfo(stored)
        values = IntensityMapping(stored, float(info.min), float(info.max)).from_unit(image.frames)
    warnings.warn(
        f"{path.name}: {family.upper()} cannot hold {dtype} values; written as {stored} spanning the "
        f"source range [{image.intensity.low:.6g}, {image.intensity.high:.6g}]",
        ValuesConvertedWarning,
        stacklevel=4,
    )
    return values


def _bilevel_pages(image: UltrasoundImage, values: np.ndarray, path: Path) -> bool:
    """Whether a 1-bit source is written back as 1-bit: while its values are still only 0 and 255."""
    if not image.metadata.get(BILEVEL_KEY) or values.dtype != np.uint8 or _family(path) == "jpeg":
        return False
    if np.isin(values, (0, 255)).all():
        return True
    warnings.warn(
        f"{path.name}: the 1-bit source now holds grey levels; written as 8-bit grey",
        ValuesConvertedWarning,
        stacklevel=4,
    )
    return False


def write(image: UltrasoundImage, path: Path) -> None:
    """Write frames with Pillow (several frames as a multi-page TIFF; int16 TIFF with tifffile)."""
    values = encoded_values(image, path)
    if values.dtype == np.int16:  # Pillow cannot write signed 16-bit samples
        import tifffile

        tifffile.imwrite(path, values if len(values) > 1 else values[0], photometric="minisblack")
        return
    pages = [Image.fromarray(frame) for frame in values]
    if _bilevel_pages(image, values, path):
        pages = [page.convert("1") for page in pages]
    options: dict[str, Any] = {"quality": 95} if _family(path) == "jpeg" else {}
    if len(pages) > 1:
        options.update(save_all=True, append_images=pages[1:])
    pages[0].save(path, **options)
