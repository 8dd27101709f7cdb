"""Malformed and hostile image files, crafted byte by byte, for the corpus and fuzzing tests.

Each maker writes one file into a folder and returns its path; :data:`HOSTILE` pairs it with a
phrase the error message must contain. The files are small (a few kB at most) whatever they
declare, so a reader that trusted them would try to allocate gigabytes.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image
from pydicom import examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    BasicTextSRStorage,
    ExplicitVRLittleEndian,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

# --- NIfTI ------------------------------------------------------------------------------------


def nifti_bytes(data: np.ndarray | None = None) -> bytearray:
    """A valid NIfTI-1 file (header + voxels) of ``data`` (default: 6 frames of 20×16 uint8)."""
    if data is None:
        data = np.random.default_rng(0).integers(0, 256, (16, 20, 6)).astype(np.uint8)
    header = nib.Nifti1Image(data, np.eye(4)).header
    header.set_data_offset(352)
    return bytearray(header.binaryblock + b"\x00" * 4 + np.asfortranarray(data).tobytes(order="F"))


def set_field(raw: bytearray, offset: int, fmt: str, *values: object) -> bytearray:
    """``raw`` with little-endian header fields overwritten."""
    struct.pack_into(f"<{fmt}", raw, offset, *values)
    return raw


NIFTI_DIM, NIFTI_DATATYPE, NIFTI_BITPIX, NIFTI_PIXDIM, NIFTI_VOX_OFFSET = 40, 70, 72, 76, 108


def _nifti(tmp: Path, name: str, raw: bytes) -> Path:
    path = tmp / name
    path.write_bytes(gzip.compress(bytes(raw)) if name.endswith(".gz") else bytes(raw))
    return path


def nifti_negative_pixdim(tmp: Path) -> Path:
    return _nifti(tmp, "negative_pixdim.nii", set_field(nifti_bytes(), NIFTI_PIXDIM + 4, "f", -1.0))


def nifti_nan_pixdim(tmp: Path) -> Path:
    return _nifti(tmp, "nan_pixdim.nii.gz", set_field(nifti_bytes(), NIFTI_PIXDIM + 8, "f", float("nan")))


def nifti_zero_frames(tmp: Path) -> Path:
    return _nifti(tmp, "dim3_zero.nii", set_field(nifti_bytes(), NIFTI_DIM + 6, "h", 0))


def nifti_negative_dim(tmp: Path) -> Path:
    return _nifti(tmp, "negative_dim.nii.gz", set_field(nifti_bytes(), NIFTI_DIM + 4, "h", -16))


def nifti_rank_nine(tmp: Path) -> Path:
    return _nifti(tmp, "rank_nine.nii", set_field(nifti_bytes(), NIFTI_DIM, "h", 9))


def nifti_fewer_frames_declared(tmp: Path) -> Path:
    return _nifti(tmp, "dim3_smaller.nii", set_field(nifti_bytes(), NIFTI_DIM + 6, "h", 4))


def nifti_bitpix_lies(tmp: Path) -> Path:
    return _nifti(tmp, "bitpix_lies.nii", set_field(nifti_bytes(), NIFTI_BITPIX, "h", 64))


def nifti_unknown_datatype(tmp: Path) -> Path:
    return _nifti(tmp, "datatype_3.nii", set_field(nifti_bytes(), NIFTI_DATATYPE, "h", 3))


def nifti_offset_inside_header(tmp: Path) -> Path:
    return _nifti(tmp, "offset_100.nii", set_field(nifti_bytes(), NIFTI_VOX_OFFSET, "f", 100.0))


def nifti_bad_sizeof_hdr(tmp: Path) -> Path:
    return _nifti(tmp, "sizeof_hdr.nii", set_field(nifti_bytes(), 0, "i", 999))


def nifti_gzip_bomb(tmp: Path) -> Path:
    """Declares one 20000×20000 frame (400 MB); holds 1 MB of compressed zeros."""
    raw = nifti_bytes(np.zeros((4, 4, 1), np.uint8))[:352]
    set_field(raw, NIFTI_DIM, "8h", 3, 20000, 20000, 1, 1, 1, 1, 1)
    return _nifti(tmp, "gzip_bomb.nii.gz", bytes(raw) + b"\x00" * (1 << 20))


def nifti_not_gzip(tmp: Path) -> Path:
    path = tmp / "not_gzip.nii.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    return path


def nifti_truncated_stream(tmp: Path) -> Path:
    packed = gzip.compress(bytes(nifti_bytes(np.arange(16 * 20 * 40, dtype=np.uint16).reshape(16, 20, 40))))
    path = tmp / "cut_stream.nii.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    return path


def nifti_five_d(tmp: Path) -> Path:
    return _nifti(tmp, "five_d.nii", nifti_bytes(np.zeros((4, 5, 2, 2, 2), np.float32)))


def nifti_nan(tmp: Path) -> Path:
    data = np.ones((5, 6, 3), np.float32)
    data[2, 3, 1] = np.nan
    return _nifti(tmp, "nan.nii", nifti_bytes(data))


def nifti_half(tmp: Path) -> Path:
    raw = nifti_bytes(np.random.default_rng(1).random((20, 20, 5), dtype=np.float32))
    return _nifti(tmp, "half.nii", raw[: len(raw) // 2])


# --- DICOM ------------------------------------------------------------------------------------


def dicom_cine(
    path: Path,
    *,
    frames: int = 6,
    number_of_frames: object = None,
    extra: bytes = b"",
    **attributes,
) -> Path:
    """A native (uncompressed) US multi-frame cine; header fields can be overridden to lie."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, generate_uid()
    ds.PatientName, ds.Modality, ds.FrameTime = "Hostile^Input", "US", "40"
    values = np.random.default_rng(2).integers(0, 200, (frames, 16, 20)).astype(np.uint8)
    ds.set_pixel_data(values, "MONOCHROME2", 8)
    if number_of_frames is not None:
        ds.NumberOfFrames = number_of_frames
    if extra:
        ds.PixelData = ds.PixelData + extra
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_frames_negative(tmp: Path) -> Path:
    return dicom_cine(tmp / "frames_minus_3.dcm", number_of_frames=-3)


def dicom_frames_zero(tmp: Path) -> Path:
    return dicom_cine(tmp / "frames_0_of_6.dcm", number_of_frames=0)


def dicom_frames_fewer(tmp: Path) -> Path:
    return dicom_cine(tmp / "frames_4_of_6.dcm", number_of_frames=4)


def dicom_frames_more(tmp: Path) -> Path:
    return dicom_cine(tmp / "frames_9_of_6.dcm", number_of_frames=9)


def dicom_extra_bytes(tmp: Path) -> Path:
    return dicom_cine(tmp / "extra_bytes.dcm", extra=b"\x00" * 100)


def dicom_zero_rows(tmp: Path) -> Path:
    return dicom_cine(tmp / "rows_0.dcm", Rows=0)


def dicom_huge_frame(tmp: Path) -> Path:
    return dicom_cine(tmp / "huge_frame.dcm", Rows=60000, Columns=60000)


def dicom_float_nan(tmp: Path) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundImageStorage, generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = 4, 5, 1, 32
    ds.PhotometricInterpretation = "MONOCHROME2"
    values = np.ones((4, 5), "<f4")
    values[1, 2] = np.nan
    ds.FloatPixelData = values.tobytes()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp / "float_nan.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_header(path: Path, sop_class: str, *, with_pixels: bool) -> Path:
    """A minimal DICOM file of ``sop_class``, with a 4 × 4 image or without pixels."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientName = "Bad^Input"
    if with_pixels:
        ds.set_pixel_data(np.zeros((4, 4), np.uint8), "MONOCHROME2", 8)
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_without_pixels(tmp: Path) -> Path:
    return dicom_header(tmp / "no_pixels.dcm", UltrasoundImageStorage, with_pixels=False)


def dicom_structured_report(tmp: Path) -> Path:
    return dicom_header(tmp / "report.dcm", BasicTextSRStorage, with_pixels=False)


def dicom_rt_structure_set(tmp: Path) -> Path:
    target = tmp / "rtstruct.dcm"
    target.write_bytes(Path(examples.rt_ss.filename).read_bytes())
    return target


def _half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def dicom_truncated_pixels(tmp: Path) -> Path:
    return _half(Path(examples.ct.filename), tmp / "cut_ct.dcm")


def dicom_truncated_jpeg(tmp: Path) -> Path:
    return _half(Path(examples.ybr_color.filename), tmp / "cut_cine.dcm")


def dicom_empty(tmp: Path) -> Path:
    (tmp / "empty.dcm").touch()
    return tmp / "empty.dcm"


def png_named_dcm(tmp: Path) -> Path:
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp / "image.dcm", format="PNG")
    return tmp / "image.dcm"


# --- PNG, TIFF and other rasters ------------------------------------------------------------------


def png_bytes(
    width: int, height: int, *, bit_depth: int = 8, colour: int = 0, rows: bytes | None = None
) -> bytes:
    """A PNG whose IHDR declares ``width × height``; its IDAT holds zero rows (compressed: tiny)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + max(1, width * bit_depth // 8))
    if rows is None:
        data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        data = zlib.compress(rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def png_bomb_14000(tmp: Path) -> Path:
    path = tmp / "bomb_14000.png"
    path.write_bytes(png_bytes(14000, 14000))
    return path


def png_bomb_9000(tmp: Path) -> Path:
    """Below Pillow's own error threshold, above ours."""
    path = tmp / "bomb_9000.png"
    path.write_bytes(png_bytes(9000, 9000))
    return path


def png_bad_crc(tmp: Path) -> Path:
    raw = bytearray(png_bytes(16, 16))
    raw[29] ^= 0xFF  # inside the IHDR CRC
    path = tmp / "bad_crc.png"
    path.write_bytes(bytes(raw))
    return path


def png_short_idat(tmp: Path) -> Path:
    path = tmp / "short_idat.png"
    path.write_bytes(png_bytes(64, 64, rows=b"\x00" * 100))
    return path


def png_empty(tmp: Path) -> Path:
    (tmp / "empty.png").touch()
    return tmp / "empty.png"


def png_truncated(tmp: Path) -> Path:
    full = tmp / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128)).astype(np.uint8)).save(full)
    cut = _half(full, tmp / "cut.png")
    full.unlink()
    return cut


def png_is_text(tmp: Path) -> Path:
    (tmp / "notes.png").write_text("this is not a picture")
    return tmp / "notes.png"


def tiff_huge_declared(tmp: Path) -> Path:
    """A TIFF whose one strip claims a 100000×100000 page."""
    path = tmp / "huge.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    raw = bytearray(path.read_bytes())
    for tag, value in ((256, 100000), (257, 100000)):  # ImageWidth, ImageLength
        for offset in range(8, len(raw) - 12):
            if struct.unpack_from("<HH", raw, offset) == (tag, 3) or struct.unpack_from(
                "<HH", raw, offset
            ) == (tag, 4):
                struct.pack_into("<HHII", raw, offset, tag, 4, 1, value)
                break
    path.write_bytes(bytes(raw))
    return path


def tiff_inf(tmp: Path) -> Path:
    data = np.zeros((5, 6), np.float32)
    data[1, 1] = np.inf
    Image.fromarray(data).save(tmp / "inf.tif")
    return tmp / "inf.tif"


def tiff_pages_differ(tmp: Path) -> Path:
    pages = [Image.fromarray(np.zeros((8, 8), np.uint8)), Image.fromarray(np.zeros((9, 8), np.uint8))]
    pages[0].save(tmp / "pages_differ.tif", save_all=True, append_images=pages[1:])
    return tmp / "pages_differ.tif"


def jpeg_truncated(tmp: Path) -> Path:
    full = tmp / "full.jpg"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (64, 64)).astype(np.uint8)).save(full)
    cut = _half(full, tmp / "cut.jpg")
    full.unlink()
    return cut


def bmp_is_text(tmp: Path) -> Path:
    (tmp / "notes.bmp").write_text("BM not really a bitmap")
    return tmp / "notes.bmp"


# --- NRRD, MetaImage, others ------------------------------------------------------------------------


def nrrd_is_text(tmp: Path) -> Path:
    (tmp / "notes.nrrd").write_text("hello")
    return tmp / "notes.nrrd"


def nrrd_gzip_bomb(tmp: Path) -> Path:
    """Declares 40 frames of 8000×8000 (2.5 GB); holds a few kB of gzip."""
    header = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8000 8000 40\nencoding: gzip\n\n"
    path = tmp / "bomb.nrrd"
    path.write_bytes(header.encode() + gzip.compress(b"\x00" * (1 << 20)))
    return path


def mha_zero_size(tmp: Path) -> Path:
    header = (
        "ObjectType = Image\nNDims = 3\nDimSize = 0 4 5\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )
    (tmp / "zero.mha").write_text(header)
    return tmp / "zero.mha"


def mha_huge_declared(tmp: Path) -> Path:
    header = (
        "ObjectType = Image\nNDims = 3\nDimSize = 8000 8000 50\nElementType = MET_USHORT\n"
        "CompressedData = True\nElementDataFile = LOCAL\n"
    )
    path = tmp / "huge.mha"
    path.write_bytes(header.encode() + zlib.compress(b"\x00" * 4096))
    return path


def unknown_suffix(tmp: Path) -> Path:
    (tmp / "scan.xyz").write_bytes(b"\x00" * 64)
    return tmp / "scan.xyz"


def missing(tmp: Path) -> Path:
    return tmp / "nope.nii.gz"


# name -> (maker, phrase the error must contain)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "nifti_negative_pixdim": (nifti_negative_pixdim, "pixdim[1] = -1"),
    "nifti_nan_pixdim": (nifti_nan_pixdim, "pixdim[2] = nan"),
    "nifti_zero_frames": (nifti_zero_frames, "dim[3] = 0"),
    "nifti_negative_dim": (nifti_negative_dim, "dim[2] = -16"),
    "nifti_rank_nine": (nifti_rank_nine, "dim[0] = 9"),
    "nifti_fewer_frames_declared": (nifti_fewer_frames_declared, "one more frame"),
    "nifti_bitpix_lies": (nifti_bitpix_lies, "bitpix = 64"),
    "nifti_unknown_datatype": (nifti_unknown_datatype, "datatype = 3"),
    "nifti_offset_inside_header": (nifti_offset_inside_header, "vox_offset = 100"),
    "nifti_bad_sizeof_hdr": (nifti_bad_sizeof_hdr, "not a NIfTI"),
    "nifti_gzip_bomb": (nifti_gzip_bomb, "exceed the limit"),
    "nifti_not_gzip": (nifti_not_gzip, "NIfTI header"),
    "nifti_truncated_stream": (nifti_truncated_stream, "truncated"),
    "nifti_five_d": (nifti_five_d, "5-D"),
    "nifti_nan": (nifti_nan, "NaN"),
    "nifti_half": (nifti_half, "truncated"),
    "dicom_frames_negative": (dicom_frames_negative, "Number of Frames is -3"),
    "dicom_frames_zero": (dicom_frames_zero, "Number of Frames is 0, while the PixelData holds 6 frames"),
    "dicom_frames_fewer": (dicom_frames_fewer, "Number of Frames is 4 but PixelData holds 6 frames"),
    "dicom_frames_more": (dicom_frames_more, "fewer than the"),
    "dicom_extra_bytes": (dicom_extra_bytes, "100 bytes more than its frames"),
    "dicom_zero_rows": (dicom_zero_rows, "Rows is 0"),
    "dicom_huge_frame": (dicom_huge_frame, "exceed the limit"),
    "dicom_float_nan": (dicom_float_nan, "NaN"),
    "dicom_without_pixels": (dicom_without_pixels, "no Pixel Data"),
    "dicom_structured_report": (dicom_structured_report, "Basic Text SR"),
    "dicom_rt_structure_set": (dicom_rt_structure_set, "RT Structure Set"),
    "dicom_truncated_pixels": (dicom_truncated_pixels, "pixel data"),
    "dicom_truncated_jpeg": (dicom_truncated_jpeg, "truncated"),
    "dicom_empty": (dicom_empty, "empty"),
    "png_named_dcm": (png_named_dcm, "not a DICOM file"),
    "png_bomb_14000": (png_bomb_14000, "exceeds the limit"),
    "png_bomb_9000": (png_bomb_9000, "exceed the limit"),
    "png_bad_crc": (png_bad_crc, "not a readable"),
    "png_short_idat": (png_short_idat, "decode"),
    "png_empty": (png_empty, "empty"),
    "png_truncated": (png_truncated, "decode"),
    "png_is_text": (png_is_text, "not a readable"),
    "tiff_huge_declared": (tiff_huge_declared, "limit"),
    "tiff_inf": (tiff_inf, "NaN or infinite"),
    "tiff_pages_differ": (tiff_pages_differ, "different sizes"),
    "jpeg_truncated": (jpeg_truncated, "decode"),
    "bmp_is_text": (bmp_is_text, "decode"),
    "nrrd_is_text": (nrrd_is_text, "cannot read"),
    "nrrd_gzip_bomb": (nrrd_gzip_bomb, "limit for images read whole"),
    "mha_zero_size": (mha_zero_size, "no pixels"),
    "mha_huge_declared": (mha_huge_declared, "limit for images read whole"),
    "unknown_suffix": (unknown_suffix, ".nii.gz"),
    "missing": (missing, "no such file"),
}
