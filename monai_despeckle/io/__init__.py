"""Load and save ultrasound images, volumes and cine loops with their geometry.

:func:`load` turns NIfTI, NRRD, MetaImage, DICOM (ultrasound multi-frame included), PNG/JPEG/TIFF
and folders of frames into one :class:`UltrasoundImage` (frames ``[T, H, W]`` float32 in [0, 1]);
:func:`save` writes it back in the source's dtype with the same geometry, via a temporary file
renamed into place, and never over its input. :func:`open_source` / :func:`open_sink` do the same
a chunk of frames at a time for long cines and volumes (see :mod:`monai_despeckle.io.streaming`):
each format has one source, and :func:`load` reads all of its frames.
"""

from __future__ import annotations

from monai_despeckle.io.color import ColorConvertedWarning
from monai_despeckle.io.dicom import UltrasoundRegionWarning
from monai_despeckle.io.files import load, open_sink, open_source, save
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.io.registry import SUPPORTED_SUFFIXES
from monai_despeckle.io.sink import FrameSink
from monai_despeckle.io.source import FrameSource
from monai_despeckle.io.validation import DEFAULT_DIRECTION, InputNotFoundError

__all__ = [
    "DEFAULT_DIRECTION",
    "SUPPORTED_SUFFIXES",
    "ColorConvertedWarning",
    "FrameSink",
    "FrameSource",
    "ImageKind",
    "InputNotFoundError",
    "IntensityMapping",
    "UltrasoundImage",
    "UltrasoundRegionWarning",
    "load",
    "open_sink",
    "open_source",
    "save",
]
