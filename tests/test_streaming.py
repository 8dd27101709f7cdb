"""Chunked reading and writing: same frames and headers as whole-image IO, bounded memory, safe writes."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from pydicom import examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from monai_despeckle import io
from monai_despeckle.errors import CorruptFileError, InvalidImageError, OutputPathError
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage, ValuesConvertedWarning
from monai_despeckle.io.streaming import InMemorySource, open_sink, open_source, placeholder_frames

pytestmark = pytest.mark.filterwarnings("ignore::monai_despeckle.io.UltrasoundRegionWarning")
DIRECTION = np.array([[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])
CHUNK = 7  # does not divide the frame counts used below


def _cine(num_frames=30, shape=(37, 53), dtype="uint8", kind=ImageKind.CINE, seed=0) -> UltrasoundImage:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    high = 255 if dtype == "uint8" else 3000
    values = rng.integers(7, high, (num_frames, *shape)).astype(dtype)
    mapping = (
        IntensityMapping(dtype, 0.0, float(info.max))
        if dtype == "uint8"
        else IntensityMapping.for_array(values)
    )
    return UltrasoundImage(
        mapping.to_unit(values),
        spacing=(1.5 if kind is ImageKind.VOLUME else 1.0, 0.3, 0.2),
        origin=(1.0, -2.0, 3.0),
        direction=DIRECTION,
        kind=kind,
        frame_time_ms=33.3 if kind is ImageKind.CINE else None,
        intensity=mapping,
    )


def _assert_same_header(streamed: UltrasoundImage, whole: UltrasoundImage) -> None:
    assert streamed.frames.shape == whole.frames.shape
    assert (streamed.kind, streamed.frame_time_ms, streamed.intensity) == (
        whole.kind,
        whole.frame_time_ms,
        whole.intensity,
    )
    np.testing.assert_allclose(streamed.spacing, whole.spacing, atol=1e-6)
    np.testing.assert_allclose(streamed.origin, whole.origin, atol=1e-5)
    np.testing.assert_allclose(streamed.direction, whole.direction, atol=1e-6)


def _ultrasound_dicom(path: Path, values: np.ndarray) -> Path:
    """A minimal US multi-frame file with MONOCHROME2 pixels and a frame time."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "test", "test"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameTime = "25"
    ds.PixelSpacing = ["0.2", "0.25"]
    ds.set_pixel_data(values, "MONOCHROME2", values.dtype.itemsize * 8)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(("dtype", "kind"), [("uint8", ImageKind.CINE), ("uint16", ImageKind.VOLUME)])
def test_nifti_source_gives_the_frames_and_header_of_io_load(tmp_path, suffix, dtype, kind):
    path = io.save(_cine(dtype=dtype, kind=kind), tmp_path / f"image{suffix}")
    whole = io.load(path)
    with open_source(path) as source:
        assert source.streaming and source.num_frames == 30
        _assert_same_header(source.header, whole)
        assert source.header.metadata["format"] == "nifti" and source.header.source == path.absolute()
        chunks = list(source.iter_chunks(CHUNK))
        assert [len(chunk) for chunk in chunks] == [7, 7, 7, 7, 2]
        np.testing.assert_array_equal(np.concatenate(chunks), whole.frames)
        raw = np.concatenate(list(source.iter_chunks(CHUNK, unit=False)))
        assert raw.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(raw, whole.source_values())
        np.testing.assert_array_equal(source.read_all().frames, whole.frames)


def test_scaled_nifti_falls_back_to_whole_image_reading(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = nib.Nifti1Image(data, np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    path = tmp_path / "scaled.nii"
    nib.save(image, path)
    with open_source(path) as source:
        assert not source.streaming
        np.testing.assert_array_equal(np.concatenate(list(source.iter_chunks(4))), io.load(path).frames)


def test_dicom_colour_cine_streams_like_io_load_and_warns_once(tmp_path):
    path = Path(examples.get_path("ybr_color"))
    with pytest.warns(io.ColorConvertedWarning) as caught:
        whole = io.load(path)
    with pytest.warns(io.ColorConvertedWarning) as streamed_warnings, open_source(path) as source:
        chunks = list(source.iter_chunks(CHUNK))
    colour = [w for w in streamed_warnings if issubclass(w.category, io.ColorConvertedWarning)]
    assert len(colour) == len([w for w in caught if issubclass(w.category, io.ColorConvertedWarning)]) == 1
    _assert_same_header(source.header, whole)
    assert source.header.metadata["sop_class"] == whole.metadata["sop_class"]
    assert "PixelData" not in source.header.metadata["dicom"]
    np.testing.assert_array_equal(np.concatenate(chunks), whole.frames)


def test_dicom_uint16_range_is_found_by_a_streamed_pass(tmp_path):
    values = np.random.default_rng(1).integers(100, 4000, (11, 12, 10)).astype(np.uint16)
    path = _ultrasound_dicom(tmp_path / "cine.dcm", values)
    whole = io.load(path)
    with open_source(path) as source:
        assert (
            source.header.intensity
            == whole.intensity
            == IntensityMapping("uint16", float(values.min()), float(values.max()))
        )
        np.testing.assert_array_equal(np.concatenate(list(source.iter_chunks(4))), whole.frames)


def test_frames_folder_streams_frame_files_in_natural_order(tmp_path):
    image = _cine(num_frames=12, shape=(16, 20))
    folder = io.save(image, tmp_path / "frames")
    (folder / "frame_00011.png").rename(folder / "frame_11.png")  # natural order still puts it last
    whole = io.load(folder)
    with open_source(folder) as source:
        _assert_same_header(source.header, whole)
        np.testing.assert_array_equal(np.concatenate(list(source.iter_chunks(5))), whole.frames)


def _streamed_and_whole(source_path: Path, out_dir: Path, suffix: str, method: str) -> tuple:
    engine = Despeckler(method, device="cpu", batch_size=4)
    whole = engine.run(io.load(source_path))
    whole_path = io.save(whole, out_dir / f"whole{suffix}")
    streamed_path = engine.run_file(source_path, out_dir / f"streamed{suffix}", chunk_frames=CHUNK)
    return io.load(whole_path), io.load(streamed_path), io.load(source_path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_streamed_nifti_run_equals_whole_array_run(tmp_path, suffix):
    source = io.save(_cine(), tmp_path / f"cine{suffix}")
    whole, streamed, original = _streamed_and_whole(source, tmp_path, suffix, "lee")
    np.testing.assert_array_equal(streamed.frames, whole.frames)
    assert not np.array_equal(streamed.frames, original.frames)
    _assert_same_header(streamed, original)


def test_streamed_dicom_run_equals_whole_array_run(tmp_path):
    source = Path(examples.get_path("ybr_color"))
    with pytest.warns(UserWarning):
        whole, streamed, original = _streamed_and_whole(source, tmp_path, ".dcm", "median")
    np.testing.assert_array_equal(streamed.frames, whole.frames)
    _assert_same_header(streamed, original)
    header = pydicom.dcmread(tmp_path / "streamed.dcm", stop_before_pixels=True)
    assert header.SOPClassUID == UltrasoundMultiFrameImageStorage and int(header.NumberOfFrames) == 30
    assert "DERIVED" in header.ImageType and "median" in header.DerivationDescription
    assert header.StudyInstanceUID == pydicom.dcmread(source, stop_before_pixels=True).StudyInstanceUID


def test_streamed_frames_folder_and_nrrd_outputs_equal_whole_array(tmp_path):
    source = io.save(_cine(num_frames=9, shape=(16, 20)), tmp_path / "cine.nii.gz")
    for suffix in ("", ".nrrd"):  # a folder of PNG frames, and a whole-image (ITK) format
        whole, streamed, _ = _streamed_and_whole(source, tmp_path, suffix, "gaussian")
        np.testing.assert_array_equal(streamed.frames, whole.frames)


def test_sink_commits_nothing_on_error_or_missing_frames(tmp_path):
    image = _cine(num_frames=5, shape=(8, 9))
    out = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError, match="boom"), open_sink(out, image) as sink:
        sink.write(image.frames[:3])
        raise RuntimeError("boom")
    with pytest.raises(InvalidImageError, match="only 3 of 5 frames"), open_sink(out, image) as sink:
        sink.write(image.frames[:3])
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"), open_sink(out, image) as sink:
        sink.write(image.frames * 2.0)
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder left


def test_sink_never_writes_onto_its_input(tmp_path):
    path = io.save(_cine(num_frames=3, shape=(8, 9)), tmp_path / "cine.nii")
    before = path.read_bytes()
    with (
        open_source(path) as source,
        pytest.raises(OutputPathError, match="input"),
        open_sink(path, source.header, overwrite=True) as sink,
    ):
        sink.write(next(source.iter_chunks(3)))
    assert path.read_bytes() == before


def test_truncated_gzip_nifti_is_a_corrupt_file_and_nothing_is_written(tmp_path):
    path = io.save(_cine(num_frames=20), tmp_path / "cine.nii.gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="truncated"):
        Despeckler("none", device="cpu").run_file(path, tmp_path / "out.nii.gz")
    assert not (tmp_path / "out.nii.gz").exists()


class NumpyBoxFilter:
    """A Method computing with numpy (so tracemalloc sees its memory) that records its batch sizes."""

    name = "numpy_box"
    gpu = False

    def __init__(self) -> None:
        self.largest = 0

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        self.largest = max(self.largest, frames.shape[0])
        array = frames.numpy()
        out = (array + np.roll(array, 1, axis=-1) + np.roll(array, 1, axis=-2)) / 3.0
        return torch.from_numpy(out.astype(np.float32))


def test_streamed_run_keeps_the_float_working_set_to_a_few_chunks(tmp_path):
    num_frames, side, chunk = 400, 256, 8
    values = np.random.default_rng(0).integers(0, 256, (num_frames, side, side), dtype=np.uint8)
    header = UltrasoundImage(
        placeholder_frames(num_frames, side, side),
        kind=ImageKind.CINE,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    source = tmp_path / "long.nii"
    with open_sink(source, header) as sink:  # the test cine is written chunk by chunk too
        for start in range(0, num_frames, 50):
            sink.write(values[start : start + 50] / np.float32(255.0))
    del values
    method = NumpyBoxFilter()
    engine = Despeckler(method, device="cpu", batch_size=chunk)
    tracemalloc.start()
    try:
        engine.run_file(source, tmp_path / "out.nii.gz", chunk_frames=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_float32 = num_frames * side * side * 4
    chunk_float32 = chunk * side * side * 4
    assert method.largest == chunk
    assert peak < 12 * chunk_float32  # a handful of chunk-sized buffers (float64 conversion included)
    assert peak < full_float32 / 4  # the whole cine as float32 never exists
    with open_source(tmp_path / "out.nii.gz") as result:
        assert result.num_frames == num_frames and result.header.kind is ImageKind.CINE


FORMAT_CASES = [
    *(
        f"{dtype}{suffix}"
        for dtype in ("uint8", "uint16")
        for suffix in (".nii", ".nii.gz", ".nrrd", ".mha", ".dcm", ".tif", "-frames", ".png")
    ),
    *("volume.nii.gz", "volume.dcm", "float.nii", "float.tif", "single.dcm", "ybr_color.dcm", "jpeg"),
]


def _every_format(folder: Path) -> dict[str, Path]:
    """One file (or frames folder) per format family and source dtype that the format keeps."""
    made = {}
    for dtype in ("uint8", "uint16"):
        for suffix in (".nii", ".nii.gz", ".nrrd", ".mha", ".dcm", ".tif"):
            made[f"{dtype}{suffix}"] = io.save(
                _cine(num_frames=9, shape=(13, 17), dtype=dtype), folder / f"{dtype}{suffix}"
            )
        made[f"{dtype}-frames"] = io.save(
            _cine(num_frames=5, shape=(13, 17), dtype=dtype), folder / f"{dtype}-frames"
        )
        made[f"{dtype}.png"] = io.save(
            _cine(num_frames=1, shape=(13, 17), dtype=dtype), folder / f"{dtype}.png"
        )
    volume = _cine(num_frames=6, shape=(13, 17), kind=ImageKind.VOLUME)
    made["volume.nii.gz"] = io.save(volume, folder / "volume.nii.gz")
    made["volume.dcm"] = io.save(volume, folder / "volume.dcm")
    floats = UltrasoundImage(
        np.random.default_rng(2).random((4, 13, 17)), intensity=IntensityMapping("float32", -1.0, 3.0)
    )
    made["float.nii"] = io.save(floats, folder / "float.nii")
    made["float.tif"] = io.save(floats, folder / "float.tif")
    made["single.dcm"] = io.save(
        _cine(num_frames=1, shape=(13, 17), kind=ImageKind.IMAGE), folder / "single.dcm"
    )
    made["ybr_color.dcm"] = Path(examples.get_path("ybr_color"))
    made["jpeg"] = io.save(_cine(num_frames=1, shape=(13, 17)), folder / "image.jpg")
    return made


@pytest.fixture(scope="module")
def every_format(tmp_path_factory) -> dict[str, Path]:
    with warnings.catch_warnings():  # float values into DICOM are rescaled, and say so
        warnings.simplefilter("ignore", ValuesConvertedWarning)
        return _every_format(tmp_path_factory.mktemp("formats"))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", FORMAT_CASES)
@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_load_is_every_frame_of_the_formats_one_source(every_format, name, chunk):
    path = every_format[name]
    whole = io.load(path)
    with open_source(path) as source:
        _assert_same_header(source.header, whole)
        assert source.header.metadata.keys() == whole.metadata.keys()
        assert (source.header.metadata["format"], source.header.source) == (
            whole.metadata["format"],
            whole.source,
        )
        chunks = list(source.iter_chunks(chunk))
        assert all(len(c) == chunk for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= chunk
        np.testing.assert_array_equal(np.concatenate(chunks), whole.frames)
        start, stop = min(1, whole.num_frames - 1), min(whole.num_frames, 1 + chunk)
        np.testing.assert_array_equal(source.read(start, stop), whole.frames[start:stop])
        with pytest.raises(IndexError):
            source.read(0, whole.num_frames + 1)
        raw = np.concatenate(list(source.iter_chunks(chunk, unit=False)))
        assert raw.dtype == np.dtype(whole.intensity.dtype)
        np.testing.assert_array_equal(source.read(start, stop, unit=False), raw[start:stop])
        if raw.dtype.kind in "iu":  # integer values survive the trip through [0, 1] exactly
            np.testing.assert_array_equal(raw, whole.source_values())


def test_a_nii_gz_is_read_from_its_own_bytes_beside_a_nii_of_the_same_name(tmp_path):
    """SimpleITK's NIfTI reader opened ``x.nii`` when asked for ``x.nii.gz`` if both existed."""
    io.save(_cine(seed=1), tmp_path / "x.nii")
    packed = io.save(_cine(seed=2), tmp_path / "x.nii.gz")
    with open_source(packed) as source:
        np.testing.assert_array_equal(source.read(0, 30), _cine(seed=2).frames)
    np.testing.assert_array_equal(io.load(packed).frames, _cine(seed=2).frames)


def test_load_reads_a_16_bit_file_once(tmp_path, monkeypatch):
    """Streamed, the value range takes a pass of its own; read whole, it comes from the values read."""
    from monai_despeckle.io.nifti.reader import NiftiSource

    path = io.save(_cine(dtype="uint16"), tmp_path / "cine.nii.gz")
    passes = []
    values = NiftiSource._values
    monkeypatch.setattr(
        NiftiSource, "_values", lambda self, *args: passes.append(args) or values(self, *args)
    )
    image = io.load(path)
    assert len(passes) == 1 and image.intensity == IntensityMapping.for_array(image.source_values())
    with open_source(path) as source:
        list(source.iter_chunks(CHUNK))
    assert len(passes) == 3  # the range pass, then the frames


def test_an_in_memory_source_keeps_the_images_own_mapping():
    image = UltrasoundImage(
        np.full((2, 3, 4), 0.5, np.float32), intensity=IntensityMapping("uint8", 10.0, 200.0)
    )
    source = InMemorySource(image)
    assert source.header.intensity == IntensityMapping("uint8", 10.0, 200.0)
    np.testing.assert_array_equal(source.read(0, 2, unit=False), np.full((2, 3, 4), 105, np.uint8))
