"""The DICOM reader: single-frame and multi-frame images (ultrasound first) with pydicom.

The header is parsed with the pixel data left on disk (``dcmread(defer_size=...)``) and checked
(SOP class, photometric interpretation, decoder, Number of Frames against the stored bytes) before
any pixel is decoded. Frames are then decoded one by one with pydicom 3's
:func:`pydicom.pixels.iter_pixels` (native and compressed transfer syntaxes alike), MONOCHROME1
inverted, palette and colour reduced to grey, each frame on its own. Files without a Part 10
header and Float Pixel Data, which ``iter_pixels`` does not read, are decoded whole.

MONAI's DICOM reader is not used: it puts the frames of an ultrasound multi-frame file on the
wrong axis and ignores the ultrasound calibration regions (MONAI issue 8265). Here Number of
Frames is always the leading axis T.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels

from monai_despeckle.errors import CorruptFileError, InvalidImageError, UnsupportedFormatError
from monai_despeckle.io.dicom import geometry, pixel_extent, sop
from monai_despeckle.io.dicom.pixel_extent import PixelExtent
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.source import FrameSource, InMemorySource, placeholder_frames
from monai_despeckle.io.validation import as_frames, image_from_values

_PIXEL_KEYWORDS = pixel_extent.PIXEL_KEYWORDS
PIXEL_KEYWORD_KEY = "dicom_pixel_keyword"  # metadata: which element held the pixels (float or not)
DEFER_SIZE = "64 KB"  # elements larger than this (the pixel data) stay on disk until accessed


def _invert_monochrome1(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """MONOCHROME1 shows low values bright: flip within the stored bit range."""
    if values.dtype.kind == "u":
        return ((1 << int(ds.get("BitsStored", values.dtype.itemsize * 8))) - 1 - values).astype(values.dtype)
    if values.dtype.kind == "i":
        return np.invert(values)  # -1 - v maps [-2^(b-1), 2^(b-1) - 1] onto itself
    return (values.max() + values.min() - values).astype(values.dtype)


def _palette_to_rgb(values: np.ndarray, ds: Dataset) -> np.ndarray:
    return apply_color_lut(values, ds)


def _unchanged(values: np.ndarray, ds: Dataset) -> np.ndarray:
    return values


# Photometric interpretation -> (how to turn decoded values into grey-or-RGB, whether it is colour).
# pydicom already converts YBR_* to RGB while decoding.
_PHOTOMETRIC: dict[str, tuple[Callable[[np.ndarray, Dataset], np.ndarray], bool]] = {
    "MONOCHROME1": (_invert_monochrome1, False),
    "MONOCHROME2": (_unchanged, False),
    "PALETTE COLOR": (_palette_to_rgb, True),
    "RGB": (_unchanged, True),
    "YBR_FULL": (_unchanged, True),
    "YBR_FULL_422": (_unchanged, True),
    "YBR_PARTIAL_420": (_unchanged, True),
    "YBR_ICT": (_unchanged, True),
    "YBR_RCT": (_unchanged, True),
}


def _parse(path: Path) -> Dataset | None:
    """Parse a Part 10 file, or a bare dataset without preamble/file meta (None if neither)."""
    try:
        return pydicom.dcmread(path, defer_size=DEFER_SIZE)
    except InvalidDicomError:
        pass
    # Some producers omit the 128-byte preamble and file meta; accept those only if the parsed
    # content really is a DICOM instance (has a SOP Class UID).
    ds = pydicom.dcmread(path, force=True, defer_size=DEFER_SIZE)
    return ds if "SOPClassUID" in ds else None


def read_dataset(path: Path) -> Dataset:
    """Parse a DICOM file and check it is an image we can decode (pixels not decoded yet).

    Raises:
        CorruptFileError: not DICOM, unparsable, or truncated before its pixel data.
        UnsupportedFormatError: a non-image SOP class, an unknown photometric interpretation, or
            a compressed transfer syntax with no decoder installed.
        InvalidImageError: an image SOP class without Pixel Data.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = _parse(path)
        except Exception as err:  # pydicom reports malformed files with many exception types
            raise CorruptFileError(f"cannot parse DICOM ({err})", path) from err
    if ds is None:
        raise CorruptFileError("not a DICOM file", path)
    file_meta = getattr(ds, "file_meta", Dataset())
    sop_class = ds.get("SOPClassUID") or file_meta.get("MediaStorageSOPClassUID")
    if sop_class and sop_class not in sop.READABLE:
        raise UnsupportedFormatError(f"not a supported DICOM image: {sop.describe(sop_class)}", path)
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        if caught:
            raise CorruptFileError(f"DICOM file is truncated or damaged ({caught[0].message})", path)
        raise InvalidImageError("DICOM file has no Pixel Data", path)
    for warning in caught:
        warnings.warn(warning.message, warning.category, stacklevel=2)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric not in _PHOTOMETRIC:
        raise UnsupportedFormatError(f"photometric interpretation {photometric!r} is not supported", path)
    syntax = file_meta.get("TransferSyntaxUID")
    if syntax is not None and syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError as err:
            raise UnsupportedFormatError(f"no decoder for transfer syntax {syntax.name}", path) from err
        if not decoder.is_available:
            needs = "; ".join(decoder.missing_dependencies)
            raise UnsupportedFormatError(f"cannot decode {syntax.name}: install one of: {needs}", path)
    return ds


def _kind(ds: Dataset, num_frames: int, sop_class: str, frame_time: float | None) -> ImageKind:
    """Single frame: IMAGE. Several: CINE for ultrasound or timed frames, VOLUME when a slice
    spacing is given, else CINE (an untimed loop, e.g. from a folder of frames)."""
    if num_frames == 1:
        return ImageKind.IMAGE
    if sop_class in sop.ULTRASOUND or frame_time is not None:
        return ImageKind.CINE
    if any(ds.get(keyword) not in (None, "") for keyword in geometry.SLICE_SPACING_KEYWORDS):
        return ImageKind.VOLUME
    return ImageKind.CINE


def _frame_by_frame(ds: Dataset) -> bool:
    """Whether :func:`pydicom.pixels.iter_pixels` decodes this dataset: a Part 10 file with a
    transfer syntax and (integer) Pixel Data."""
    file_meta = getattr(ds, "file_meta", None)
    return bool(file_meta and file_meta.get("TransferSyntaxUID") and "PixelData" in ds)


def _header(ds: Dataset, num_frames: int, path: Path) -> UltrasoundImage:
    """Geometry, kind, frame time and metadata (the header without pixel data); placeholder frames.

    ``metadata`` gets ``"dicom"`` (the header without pixel data, for saving a derived series),
    ``"spacing_source"``, ``"ultrasound_regions"``, ``"sop_class"`` and ``"photometric"``.
    """
    row_mm, column_mm, spacing_source = geometry.in_plane_spacing(ds, path)
    frame_time = geometry.frame_time_ms(ds)
    sop_class = str(ds.get("SOPClassUID", ""))
    kind = _kind(ds, num_frames, sop_class, frame_time)
    origin, direction = geometry.patient_position(ds)
    metadata: dict[str, Any] = {
        "spacing_source": spacing_source,
        "ultrasound_regions": geometry.region_records(ds),
        "sop_class": sop_class,
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        PIXEL_KEYWORD_KEY: pixel_extent.pixel_keyword(ds),
    }
    header = copy.deepcopy(ds)  # the pixel data is still on disk (deferred) or small
    for keyword in _PIXEL_KEYWORDS:
        if keyword in header:
            delattr(header, keyword)
    metadata["dicom"] = header
    return UltrasoundImage(
        frames=placeholder_frames(num_frames, int(ds.Rows), int(ds.Columns)),
        spacing=(geometry.slice_spacing(ds) if kind is ImageKind.VOLUME else 1.0, row_mm, column_mm),
        origin=origin,
        direction=direction,
        kind=kind,
        frame_time_ms=frame_time if kind is ImageKind.CINE else None,
        metadata=metadata,
        source=path,
    )


def open_source(path: Path) -> FrameSource:
    """Open a DICOM image: frames on axis 0, spacing from ultrasound regions or Pixel Spacing.

    Frames hold the stored pixel values (MONOCHROME1 inverted, colour reduced to grey); the
    Modality LUT (Rescale Slope/Intercept) is not applied but is carried over when saving, so
    it stays valid.

    Raises:
        DespeckleError: corrupt, unsupported, no pixels, a header that disagrees with its data, or
            (decoded whole) too large an image.
    """
    ds = read_dataset(path)
    extent = pixel_extent.check_extent(ds, path)
    header = _header(ds, extent.frames, path)
    if _frame_by_frame(ds):
        return DicomSource(header, path, ds, extent)
    pixel_extent.check_whole(extent, path)
    try:
        values = ds.pixel_array
    except Exception as err:  # decoders raise ValueError, RuntimeError, ... for corrupt data
        raise CorruptFileError(f"cannot decode pixel data ({err})", path) from err
    convert, is_color = _PHOTOMETRIC[str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()]
    values = convert(values, ds)
    if extent.frames == 1:
        values = values[None]
    if values.shape[0] != extent.frames:
        raise CorruptFileError(f"pixel data holds {values.shape[0]} of {extent.frames} frames", path)
    fields = {
        name: getattr(header, name) for name in ("spacing", "origin", "direction", "kind", "frame_time_ms")
    }
    image = image_from_values(values, path, vector_pixels=is_color, metadata=header.metadata, **fields)
    return InMemorySource(image, streamable=True)


class DicomSource(FrameSource):
    """The frames of a DICOM Part 10 file, decoded one by one (see the module docstring).

    Args:
        header: geometry and metadata (placeholder frames).
        path: the file.
        dataset: the parsed header, pixel data left on disk (palette LUTs stay readable).
        extent: what the header declares about the pixel data.
    """

    def __init__(self, header: UltrasoundImage, path: Path, dataset: Dataset, extent: PixelExtent) -> None:
        self._file = path
        self._dataset = dataset
        photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
        self._convert, self._is_color = _PHOTOMETRIC[photometric]
        self._warned: set[str] = set()
        frames = self._frames([0])  # the grey values' dtype, from the first frame
        first = next(frames)
        frames.close()
        super().__init__(header, first.dtype, pixel_extent.whole_dtype(extent))

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        """One decoded frame → ``[1, H, W]`` grey source values, as a whole-image decode gives."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = as_frames(
                self._convert(frame, self._dataset)[None], self._file, vector_pixels=self._is_color
            )
        for warning in caught:  # report a conversion warning once per file, not once per frame
            if str(warning.message) not in self._warned:
                self._warned.add(str(warning.message))
                warnings.warn(warning.message, warning.category, stacklevel=4)
        return values

    def _frames(self, indices: list[int] | None = None) -> Generator[np.ndarray, None, None]:
        frames = iter_pixels(self._file, indices=indices)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except Exception as err:  # decoders raise many types for corrupt or truncated data
                raise CorruptFileError(f"cannot decode pixel data ({err})", self._file) from err
            yield self._grey(frame)

    def _values(self, start: int, stop: int, chunk_frames: int) -> Iterator[np.ndarray]:
        whole = start == 0 and stop == self.num_frames
        pending: list[np.ndarray] = []
        count = 0
        for frame in self._frames(None if whole else list(range(start, stop))):
            pending.append(frame)
            count += 1
            if len(pending) == chunk_frames:
                yield np.concatenate(pending, axis=0)
                pending = []
        if pending:
            yield np.concatenate(pending, axis=0)
        if count != stop - start:
            raise CorruptFileError(f"pixel data holds {start + count} of {self.num_frames} frames", self.path)
