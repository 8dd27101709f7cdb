"""Chunked reading and writing of long cine loops and volumes.

A 10,000-frame 512×512 uint8 cine is 2.6 GB as stored and 10.5 GB as float32; streamed, only a
chunk of frames is ever decoded, converted and written at a time:

>>> with open_source("cine.nii.gz") as source, open_sink("out.nii.gz", source.header) as sink:
...     for chunk in source.iter_chunks(32):            # float32 [n, H, W] in [0, 1]
...         sink.write(process(chunk))

=====================  ===========================================  ===========================
format                 reading                                      writing
=====================  ===========================================  ===========================
NIfTI ``.nii``         reads from the frame's offset (seek)         header, then frames
NIfTI ``.nii.gz``      sequential gzip stream                       gzip stream
DICOM multi-frame      ``pydicom.pixels.iter_pixels``, frame by     derived series, pixel data
                       frame (native or compressed)                 streamed from a temp file
folder of frames       one frame file at a time                     one PNG per frame
NRRD, MetaImage        whole (SimpleITK reads them whole)           whole (collected, then ITK)
PNG/JPEG/TIFF/BMP      whole (a single image)                       whole
=====================  ===========================================  ===========================

Each format has one reader, a :class:`FrameSource` (:mod:`monai_despeckle.io.source`), and
:func:`monai_despeckle.io.load` is that source read whole, so streamed and whole-image reads give
identical frames, headers and intensity mapping (streamed 16-bit and float data take one extra pass
for their value range); :func:`monai_despeckle.io.save` is the format's one sink given every frame.
:mod:`.overlap` runs reading and writing in threads beside the computation.
"""

from __future__ import annotations

from monai_despeckle.io.files import open_sink, open_source
from monai_despeckle.io.sink import FrameSink, WholeImageSink
from monai_despeckle.io.source import FrameSource, InMemorySource, placeholder_frames

__all__ = [
    "FrameSink",
    "FrameSource",
    "InMemorySource",
    "WholeImageSink",
    "open_sink",
    "open_source",
    "placeholder_frames",
]
