"""DICOM SOP classes we read and write, as small tables (no if/elif chains on class names)."""

from __future__ import annotations

from pydicom import uid

US_IMAGE = uid.UltrasoundImageStorage
US_MULTIFRAME = uid.UltrasoundMultiFrameImageStorage
SECONDARY_CAPTURE = uid.SecondaryCaptureImageStorage
MULTIFRAME_GRAY_BYTE_SC = uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage
MULTIFRAME_GRAY_WORD_SC = uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage
_RETIRED_US_IMAGE = uid.UID("1.2.840.10008.5.1.4.1.1.6")
_RETIRED_US_MULTIFRAME = uid.UID("1.2.840.10008.5.1.4.1.1.3")

ULTRASOUND = frozenset({US_IMAGE, US_MULTIFRAME, _RETIRED_US_IMAGE, _RETIRED_US_MULTIFRAME})

# Image storage classes whose pixels and top-level geometry attributes we understand. Enhanced
# (functional-group) multi-frame classes are left out: their geometry lives per frame.
READABLE = ULTRASOUND | frozenset(
    {
        SECONDARY_CAPTURE,
        MULTIFRAME_GRAY_BYTE_SC,
        MULTIFRAME_GRAY_WORD_SC,
        uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
        uid.CTImageStorage,
        uid.MRImageStorage,
        uid.ComputedRadiographyImageStorage,
        uid.DigitalXRayImageStorageForPresentation,
        uid.DigitalXRayImageStorageForProcessing,
        uid.XRayAngiographicImageStorage,
        uid.NuclearMedicineImageStorage,
    }
)

# Single-frame classes a derived image may keep (we can fill their mandatory attributes).
KEEPABLE_SINGLE_FRAME = frozenset({US_IMAGE, SECONDARY_CAPTURE, uid.CTImageStorage, uid.MRImageStorage})

# Modality written for a SOP class when the source does not say.
DEFAULT_MODALITY: dict[str, str] = {
    US_IMAGE: "US",
    US_MULTIFRAME: "US",
    uid.CTImageStorage: "CT",
    uid.MRImageStorage: "MR",
}

# Transfer syntaxes that lose information; a derived image must keep Lossy Image Compression "01".
LOSSY_TRANSFER_SYNTAXES = frozenset(
    {
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLSNearLossless,
        uid.JPEG2000,
        uid.UID("1.2.840.10008.1.2.4.203"),  # HTJ2K (lossy or lossless)
    }
)


def describe(sop_class: str) -> str:
    """Human name of a SOP class UID, e.g. 'Ultrasound Multi-frame Image Storage'."""
    name = uid.UID(sop_class).name
    return f"{name} ({sop_class})" if name != sop_class else sop_class
