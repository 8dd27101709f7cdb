"""PNG, JPEG, TIFF and BMP via Pillow.

Raster files carry no usable physical geometry (a PNG's dpi is not the probe's pixel size), so
spacing is 1.0 with ``metadata["spacing_source"] = "default"``. 16-bit PNG/TIFF stay uint16 and
float TIFF stays float32; colour is reduced to grey by luminance. A multi-page TIFF (or an
animated PNG/GIF) is read as a cine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from monai_despeckle.errors import CorruptFileError, InvalidImageError, UnsupportedFormatError
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
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

# dtypes each format family stores as they are (Pillow picks the mode from the dtype:
# uint8 -> "L", uint16 -> "I;16", int32 -> "I", float32 -> "F").
_NATIVE_DTYPES: dict[str, tuple[str, ...]] = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "bmp": ("uint8",),
    "tiff": ("uint8", "uint16", "int32", "float32"),
}
_MULTI_FRAME_FAMILIES = {"tiff"}


def read_values(path: Path) -> np.ndarray:
    """Decode every frame of a raster file into grey source values ``[T, H, W]``.

    Raises:
        CorruptFileError: Pillow cannot identify or fully decode the file (e.g. it is truncated).
        InvalidImageError: frames differ in size, or the content is not a usable image.
    """
    try:
        with Image.open(path) as image:
            frames = [_frame_values(frame, path) for frame in ImageSequence.Iterator(image)]
    except UnidentifiedImageError as err:
        raise CorruptFileError("not a readable PNG/JPEG/TIFF/BMP image", path) from err
    except (OSError, SyntaxError, ValueError) as err:  # Pillow reports truncation/corruption this way
        raise CorruptFileError(f"cannot decode image ({err})", path) from err
    shapes = {frame.shape for frame in frames}
    if len(shapes) > 1:
        raise InvalidImageError(f"frames of different sizes {sorted(shapes)} in one file", path)
    return np.concatenate(frames, axis=0)


def _frame_values(frame: Image.Image, path: Path) -> np.ndarray:
    if frame.mode in _CONVERT_MODE:
        frame = frame.convert(_CONVERT_MODE[frame.mode])
    values = np.asarray(frame)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))  # e.g. big-endian "I;16B"
    return as_frames(values, path, vector_pixels=values.ndim == 3)


def read(path: Path) -> UltrasoundImage:
    """Read a PNG/JPEG/TIFF/BMP file: one frame is an IMAGE, several (multi-page TIFF) a CINE."""
    values = read_values(path)
    kind = ImageKind.IMAGE if values.shape[0] == 1 else ImageKind.CINE
    return image_from_values(values, path, kind=kind, metadata={"spacing_source": "default"})


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
    float32/int32 in TIFF). Otherwise the [0, 1] frames are written at the format's widest
    integer depth (uint16 PNG, uint8 JPEG/BMP) or, for TIFF, as float32 source values.
    """
    native = _NATIVE_DTYPES[_family(path)]
    if image.intensity.dtype in native:
        return image.source_values()
    if "float32" in native:
        return image.source_values().astype(np.float32)
    widest = "uint16" if "uint16" in native else "uint8"
    info = np.iinfo(widest)
    return IntensityMapping(widest, float(info.min), float(info.max)).from_unit(image.frames)


def write(image: UltrasoundImage, path: Path) -> None:
    """Write frames with Pillow (several frames as a multi-page TIFF)."""
    pages = [Image.fromarray(frame) for frame in encoded_values(image, path)]
    options = {"quality": 95} if _family(path) == "jpeg" else {}
    if len(pages) > 1:
        options.update(save_all=True, append_images=pages[1:])
    pages[0].save(path, **options)
