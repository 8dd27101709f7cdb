"""DICOM ultrasound (and other image) files: one reader with calibrated geometry, one writer of derived
series."""

from __future__ import annotations

from pathlib import Path

from monai_despeckle.io.dicom.geometry import UltrasoundRegionWarning
from monai_despeckle.io.dicom.reader import open_source
from monai_despeckle.io.dicom.writer import derived_dataset, open_sink, write

DICOM_SUFFIXES = (".dcm", ".dicom")
_PREAMBLE_LENGTH = 128


def looks_like_dicom(path: Path) -> bool:
    """Whether a file carries the DICOM Part 10 marker ('DICM' after a 128-byte preamble)."""
    try:
        with path.open("rb") as stream:
            stream.seek(_PREAMBLE_LENGTH)
            return stream.read(4) == b"DICM"
    except OSError:
        return False


__all__ = [
    "DICOM_SUFFIXES",
    "UltrasoundRegionWarning",
    "derived_dataset",
    "looks_like_dicom",
    "open_sink",
    "open_source",
    "write",
]
