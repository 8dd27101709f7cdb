"""Write an image as a new derived DICOM series (uncompressed, MONOCHROME2).

A multi-frame output is written a chunk of frames at a time (:class:`DicomSink`): the derived
dataset is built from a two-frame stand-in of the image, the stored values of each chunk go to a
temporary file beside the output, and pydicom streams that file into *Pixel Data* when the dataset
is saved, so the frames are never all in memory. A single frame is written whole.

The output belongs to the same patient and study as its DICOM source (patient and study modules
are copied) but is a new series and instance (fresh UIDs), flagged DERIVED\\SECONDARY, with the
calibration the source had (ultrasound regions, Pixel Spacing, Frame Time) so that it reopens with
the same geometry. Without a DICOM source a new anonymous patient and study are created.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from monai_despeckle import __version__
from monai_despeckle.io.dicom import geometry, sop
from monai_despeckle.io.dicom.reader import PIXEL_KEYWORD_KEY
from monai_despeckle.io.dicom.stored_values import StoredValues, state_conversion, stored_values
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.io.sink import FrameSink, WholeImageSink, stored_blocks
from monai_despeckle.io.validation import DEFAULT_DIRECTION

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from monai_despeckle.io.registry import Format

PATIENT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "OtherPatientIDsSequence",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientComments",
    "EthnicGroup",
)
STUDY_KEYWORDS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
    "PhysiciansOfRecord",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
)
CONTEXT_KEYWORDS = (
    "SpecificCharacterSet",
    "TimezoneOffsetFromUTC",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "BodyPartExamined",
    "PatientOrientation",
)
# Only valid while the stored values keep the source's meaning (same dtype, no rescaling).
VALUE_KEYWORDS = ("RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth")
LOSSY_KEYWORDS = ("LossyImageCompressionRatio", "LossyImageCompressionMethod")

DERIVED_SUFFIX = " (despeckled)"
DEFAULT_DERIVATION = f"Speckle reduction by monai-despeckle {__version__}"
_SERIES_DESCRIPTION_MAX = 64  # LO value length


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def _copy(source: Dataset | None, target: Dataset, keywords: tuple[str, ...]) -> None:
    if source is None:
        return
    for keyword in keywords:
        if keyword in source:
            setattr(target, keyword, copy.deepcopy(source[keyword].value))


def source_header(image: UltrasoundImage) -> Dataset | None:
    """The DICOM header the image was read from, if any."""
    header = image.metadata.get("dicom")
    return header if isinstance(header, Dataset) else None


def choose_sop_class(image: UltrasoundImage, source_sop: str | None) -> str:
    """US Multi-frame for an ultrasound cine, the source's class for a kept single frame, else SC."""
    if image.num_frames > 1:
        if source_sop in sop.ULTRASOUND and image.kind is ImageKind.CINE:
            return sop.US_MULTIFRAME
        byte = image.intensity.dtype == "uint8"
        return sop.MULTIFRAME_GRAY_BYTE_SC if byte else sop.MULTIFRAME_GRAY_WORD_SC
    if source_sop in sop.ULTRASOUND:
        return sop.US_IMAGE
    if source_sop in sop.KEEPABLE_SINGLE_FRAME:
        return str(source_sop)
    return sop.SECONDARY_CAPTURE


def stored_for(image: UltrasoundImage, sop_class: str) -> StoredValues:
    """How ``image``'s frames are stored under ``sop_class`` (see :mod:`.stored_values`)."""
    return stored_values(image.intensity, sop_class, image.metadata.get(PIXEL_KEYWORD_KEY))


def pixel_values(image: UltrasoundImage, sop_class: str) -> tuple[np.ndarray, bool]:
    """Stored values ``[T, H, W]`` and whether they are the source's own values."""
    stored = stored_for(image, sop_class)
    return stored.values(image.frames), stored.source_values


def _set_pixels(ds: Dataset, values: np.ndarray, keyword: str) -> None:
    """Pixel Data via pydicom, or Float / Double Float Pixel Data with the attributes they need."""
    pixels = values if values.shape[0] > 1 else values[0]
    if keyword == "PixelData":
        bits = values.dtype.itemsize * 8
        ds.set_pixel_data(pixels, "MONOCHROME2", bits_stored=bits, generate_instance_uid=False)
        return
    ds.Rows, ds.Columns = values.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = values.dtype.itemsize * 8
    if values.shape[0] > 1:
        ds.NumberOfFrames = values.shape[0]
    little = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    setattr(ds, keyword, little.tobytes())


def _patient_and_study(ds: Dataset, source: Dataset | None, now: datetime) -> None:
    if source is not None:
        _copy(source, ds, PATIENT_KEYWORDS + STUDY_KEYWORDS)
    if "PatientName" not in ds:
        ds.PatientName = "anonymous"
        ds.PatientID = "anonymous"
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = generate_uid()
        ds.StudyDate = now.strftime("%Y%m%d")
        ds.StudyTime = now.strftime("%H%M%S")
        ds.ReferringPhysicianName = ""
        ds.StudyID = ""
        ds.AccessionNumber = ""


def _series_and_instance(
    ds: Dataset, image: UltrasoundImage, source: Dataset | None, sop_class: str, now: datetime
) -> None:
    _copy(source, ds, CONTEXT_KEYWORDS)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    source_modality = source.get("Modality") if source is not None else None
    ds.Modality = sop.DEFAULT_MODALITY.get(sop_class) or source_modality or "OT"
    series_number = source.get("SeriesNumber") if source is not None else None
    ds.SeriesNumber = 1000 + (int(series_number) if series_number not in (None, "") else 0)
    ds.InstanceNumber = 1
    base = (source.get("SeriesDescription") if source is not None else None) or (
        image.source.stem if image.source is not None else "monai-despeckle"
    )
    ds.SeriesDescription = str(base)[: _SERIES_DESCRIPTION_MAX - len(DERIVED_SUFFIX)] + DERIVED_SUFFIX
    extra_types = list(source.get("ImageType", []))[2:] if source is not None else []
    ds.ImageType = ["DERIVED", "SECONDARY", *extra_types]
    ds.DerivationDescription = str(image.metadata.get("derivation_description", DEFAULT_DERIVATION))
    ds.SoftwareVersions = f"monai-despeckle {__version__}"
    ds.ContentDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.ContentTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    if "PatientOrientation" not in ds:
        ds.PatientOrientation = ""
    if sop_class not in sop.DEFAULT_MODALITY:  # Secondary Capture equipment module
        ds.ConversionType = "WSD"
        ds.SecondaryCaptureDeviceManufacturer = "monai-despeckle"
    if source is not None and "SOPInstanceUID" in source:
        reference = Dataset()
        reference.ReferencedSOPClassUID = source.SOPClassUID
        reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
        ds.SourceImageSequence = Sequence([reference])


def _regions_reproduce_spacing(image: UltrasoundImage, source: Dataset, shape: tuple[int, ...]) -> bool:
    if "SequenceOfUltrasoundRegions" not in source:
        return False
    if (int(source.get("Rows", 0)), int(source.get("Columns", 0))) != tuple(shape[-2:]):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", geometry.UltrasoundRegionWarning)
        row_mm, column_mm, how = geometry.in_plane_spacing(source)
    same = np.allclose((row_mm, column_mm), image.spacing[1:], rtol=1e-9)
    return same and how.startswith("ultrasound_region")


def _geometry(ds: Dataset, image: UltrasoundImage, source: Dataset | None, shape: tuple[int, ...]) -> None:
    spacing_source = str(image.metadata.get("spacing_source", ""))
    if source is not None and _regions_reproduce_spacing(image, source, shape):
        ds.SequenceOfUltrasoundRegions = copy.deepcopy(source.SequenceOfUltrasoundRegions)
    elif spacing_source != "default":
        keyword = "ImagerPixelSpacing" if spacing_source == "imager_pixel_spacing" else "PixelSpacing"
        setattr(ds, keyword, [_ds(image.spacing[1]), _ds(image.spacing[2])])
    if image.kind is ImageKind.CINE and image.frame_time_ms:
        ds.FrameTime = _ds(image.frame_time_ms)
        if image.num_frames > 1:
            ds.FrameIncrementPointer = tag_for_keyword("FrameTime")
    if image.kind is ImageKind.VOLUME and image.num_frames > 1:
        ds.SpacingBetweenSlices = _ds(image.spacing[0])
    has_plane = source is not None and "ImageOrientationPatient" in source
    placed = not (np.allclose(image.origin, 0.0) and np.allclose(image.direction, DEFAULT_DIRECTION))
    if image.num_frames == 1 and (has_plane or placed):
        ds.ImagePositionPatient = [_ds(v) for v in image.origin]
        ds.ImageOrientationPatient = [_ds(v) for v in (*image.direction[:, 2], *image.direction[:, 1])]
        frame_of_reference = source.get("FrameOfReferenceUID") if source is not None else None
        ds.FrameOfReferenceUID = frame_of_reference or generate_uid()


def _lossy_history(ds: Dataset, source: Dataset | None) -> None:
    if source is None:
        return
    syntax = getattr(source, "file_meta", Dataset()).get("TransferSyntaxUID")
    if source.get("LossyImageCompression") == "01" or syntax in sop.LOSSY_TRANSFER_SYNTAXES:
        ds.LossyImageCompression = "01"  # once lossy, always flagged lossy (PS3.3 C.7.6.1.1.5)
        _copy(source, ds, LOSSY_KEYWORDS)


def derived_dataset(image: UltrasoundImage) -> Dataset:
    """Build the complete derived DICOM dataset (file meta included) for ``image``."""
    source = source_header(image)
    source_sop = str(source.get("SOPClassUID", "")) if source is not None else None
    sop_class = choose_sop_class(image, source_sop)
    stored = stored_for(image, sop_class)
    state_conversion(stored, image.intensity.dtype, image.source.name if image.source else "image")
    values = stored.values(image.frames)
    now = datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    _patient_and_study(ds, source, now)
    _series_and_instance(ds, image, source, sop_class, now)
    _geometry(ds, image, source, values.shape)
    if stored.source_values:
        _copy(source, ds, VALUE_KEYWORDS)
    elif stored.rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = (_ds(value) for value in stored.rescale)
        ds.RescaleType = "US"  # unspecified units
    _lossy_history(ds, source)
    _set_pixels(ds, values, stored.keyword)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write(image: UltrasoundImage, path: Path) -> None:
    """Write ``image`` as a derived DICOM file (Explicit VR Little Endian)."""
    derived_dataset(image).save_as(path, enforce_file_format=True)


class DicomSink(FrameSink):
    """Write a derived multi-frame DICOM (two frames or more) chunk by chunk (see the module docstring)."""

    def _open(self, staging: Path) -> None:
        stand_in = dataclasses.replace(
            self.header,
            frames=np.zeros((2, *self.header.frame_shape), dtype=np.float32),
            metadata=dict(self.header.metadata),
        )
        self._staging = staging
        self._dataset = derived_dataset(stand_in)
        self._stored = stored_for(stand_in, str(self._dataset.SOPClassUID))
        self._dtype = np.dtype(self._stored.mapping.dtype).newbyteorder("<")
        self._pixels_path = staging.with_name(f".{staging.name}.pixels")
        self._pixels = self._pixels_path.open("wb")
        self._length = 0

    def _write(self, frames: np.ndarray) -> None:
        for values in stored_blocks(frames, self._stored.mapping, self._dtype):
            # numpy types ndarray as a buffer (__buffer__) from Python 3.12 on only; it is one on 3.10 too
            self._pixels.write(cast("Buffer", values.view(np.uint8)))
            self._length += values.nbytes

    def _finish(self) -> None:
        if self._length % 2:
            self._pixels.write(b"\x00")  # DICOM values have even length
        self._pixels.close()
        self._dataset.NumberOfFrames = self.header.num_frames
        try:
            with self._pixels_path.open("rb") as pixels:
                setattr(self._dataset, self._stored.keyword, pixels)  # pydicom 3 copies a buffered value
                self._dataset.save_as(self._staging, enforce_file_format=True)
        finally:
            self._pixels_path.unlink(missing_ok=True)

    def _abort(self) -> None:
        pixels = getattr(self, "_pixels", None)
        if pixels is not None:
            pixels.close()


def open_sink(path: Path, header: UltrasoundImage, fmt: Format, *, overwrite: bool = False) -> FrameSink:
    """The DICOM sink for ``header``: chunked for several frames, whole for one."""
    sink = DicomSink if header.num_frames > 1 else WholeImageSink
    return sink(path, header, fmt, overwrite=overwrite)
