"""The one frame pipeline: any FrameProcessor gets checks, staging, the byte budget, one progress
bar and clean stops from process_file / process_folder; Despeckler and Segmenter are processors."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from monai_despeckle import budget, io
from monai_despeckle.errors import CorruptFileError, InvalidImageError, OutputPathError, StopSignal
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.pipeline import (
    CHUNKS_IN_FLIGHT,
    FrameProcessor,
    process_file,
    process_folder,
)
from monai_despeckle.segmentation import Segmenter
from monai_despeckle.segmentation.files import segment_file, segment_folder
from monai_despeckle.simulation import simulate_carotid


class Inverter:
    """A third processor: the negative of each frame, written as uint16; records the chunks it gets."""

    name = "invert"

    def __init__(
        self, *, progress: bool = False, fail_after: int | None = None, stop_after: int | None = None
    ):
        self.progress = progress
        self.frames_processed = 0
        self.chunks: list[int] = []
        self.fail_after = fail_after
        self.stop_after = stop_after

    def output_header(self, header: UltrasoundImage) -> UltrasoundImage:
        return dataclasses.replace(header, intensity=IntensityMapping("uint16", 0.0, 65535.0))

    def iter_frames(
        self, chunks: Iterable[np.ndarray], *, total: int | None = None, progress: bool | None = None
    ) -> Iterator[np.ndarray]:
        from tqdm.auto import tqdm

        show = self.progress if progress is None else progress
        with tqdm(total=total, unit="frame", desc=self.name, disable=not show) as bar:
            for chunk in chunks:
                if self.fail_after is not None and len(self.chunks) == self.fail_after:
                    raise InvalidImageError("the inverter gave up")
                if self.stop_after is not None and len(self.chunks) == self.stop_after:
                    os.kill(os.getpid(), signal.SIGTERM)
                self.chunks.append(len(chunk))
                self.frames_processed += len(chunk)
                bar.update(len(chunk))
                yield 1.0 - chunk

    def process_image(
        self, image: UltrasoundImage, axis: int = 0, *, progress: bool | None = None
    ) -> UltrasoundImage:
        self.frames_processed += image.frames.shape[axis]
        return self.output_header(image).with_frames(1.0 - image.frames)


def cine(path: Path, frames: int = 40, side: int = 64, seed: int = 0) -> Path:
    values = np.random.default_rng(seed).integers(0, 256, (frames, side, side), dtype=np.uint8)
    image = UltrasoundImage(
        values.astype(np.float32) / 255.0,
        spacing=(0.05, 0.2, 0.3),
        kind="cine",
        frame_time_ms=25.0,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    io.save(image, path)
    return path


def leftovers(folder: Path) -> list[str]:
    """Hidden staging entries left in ``folder``."""
    return sorted(entry.name for entry in folder.iterdir() if entry.name.startswith("."))


def test_despeckler_segmenter_and_a_third_processor_are_frame_processors():
    assert isinstance(Despeckler("mean", device="cpu"), FrameProcessor)
    assert isinstance(Segmenter("carotid", device="cpu"), FrameProcessor)
    assert isinstance(Inverter(), FrameProcessor)
    assert not isinstance(object(), FrameProcessor)


def test_a_third_processor_streams_a_file_in_chunks_sized_by_the_byte_budget(tmp_path, monkeypatch):
    monkeypatch.setenv(budget.BUDGET_ENV, "16")
    source = cine(tmp_path / "cine.nii.gz")
    per_chunk = budget.overlapped_chunk_frames((64, 64), 1, CHUNKS_IN_FLIGHT)
    assert per_chunk is not None and 1 < per_chunk < 40  # the budget, not the file, cuts the chunks
    inverter = Inverter()
    out = process_file(inverter, source, tmp_path / "out" / "inverted.nrrd", chunk_frames="auto")
    assert inverter.chunks == [per_chunk] * (40 // per_chunk) + ([40 % per_chunk] if 40 % per_chunk else [])
    written, original = io.load(out), io.load(source)
    assert written.intensity.dtype == "uint16"  # the processor's output header
    assert np.array_equal(written.source_values(), (255 - original.source_values().astype(np.uint16)) * 257)
    assert written.kind == "cine" and written.spacing == pytest.approx(original.spacing)
    assert leftovers(tmp_path / "out") == []
    fixed = Inverter()
    process_file(fixed, source, tmp_path / "fixed.nii.gz", chunk_frames=7)
    assert fixed.chunks == [7] * 5 + [5]
    assert np.array_equal(io.load(tmp_path / "fixed.nii.gz").frames, written.frames)


def test_a_whole_image_along_another_axis_goes_through_process_image(tmp_path):
    source = cine(tmp_path / "volume.nii.gz", frames=6)
    inverter = Inverter()
    out = process_file(inverter, source, tmp_path / "along.nii.gz", axis=2)
    assert inverter.chunks == [] and inverter.frames_processed == 64
    negative = 255 - io.load(source).source_values().astype(np.uint16)
    assert np.array_equal(io.load(out).source_values(), negative * 257)


def test_a_failure_mid_stream_leaves_nothing_and_the_input_is_never_the_output(tmp_path):
    source = cine(tmp_path / "cine.nii.gz")
    with pytest.raises(InvalidImageError, match="gave up"):
        process_file(Inverter(fail_after=2), source, tmp_path / "new" / "out.nii.gz", chunk_frames=4)
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []
    before = source.read_bytes()
    with pytest.raises(OutputPathError, match="input"):
        process_file(Inverter(), source, source, overwrite=True)
    assert source.read_bytes() == before


def test_a_stop_signal_mid_stream_unwinds_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(budget.BUDGET_ENV, "16")  # "auto": chunks of 15 frames, three of them
    source = cine(tmp_path / "cine.nii.gz")
    handler = signal.getsignal(signal.SIGTERM)
    for chunk_frames in (4, "auto"):  # serial, and with reading and writing in threads
        with pytest.raises(StopSignal):
            process_file(Inverter(stop_after=2), source, tmp_path / "out.nii.gz", chunk_frames=chunk_frames)
        assert not (tmp_path / "out.nii.gz").exists() and leftovers(tmp_path) == []
        assert signal.getsignal(signal.SIGTERM) is handler  # the previous handler is back
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        cine(folder / f"c{index}.nii.gz", frames=4, seed=index)
    with pytest.raises(StopSignal):  # on the second file, one chunk a file
        process_folder(Inverter(stop_after=1), folder, tmp_path / "out", chunk_frames=4)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is handler


def test_a_folder_shows_one_bar_over_the_files_and_a_single_file_one_over_its_frames(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        cine(folder / f"c{index}.nii.gz", frames=5, seed=index)
    inverter = Inverter(progress=True)
    assert process_folder(inverter, folder, tmp_path / "out") == 3
    err = capsys.readouterr().err
    assert "3/3" in err and "file" in err and "frames/s" in err
    assert "5/5" not in err  # no bar per file
    assert inverter.progress is True  # the setting is left as it was
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c0.nii.gz", "c1.nii.gz", "c2.nii.gz"]
    process_file(inverter, folder / "c0.nii.gz", tmp_path / "one.nii.gz", chunk_frames=2)
    assert "5/5" in capsys.readouterr().err
    process_file(inverter, folder / "c0.nii.gz", tmp_path / "quiet.nii.gz", progress=False)
    assert capsys.readouterr().err == ""


def test_a_failing_file_in_a_folder_leaves_nothing_unless_skipped(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cine(folder / "a.nii.gz", frames=3)
    (folder / "b.nii.gz").write_bytes(b"not a NIfTI file at all")
    cine(folder / "c.nii.gz", frames=3, seed=1)
    with pytest.raises(CorruptFileError):
        process_folder(Inverter(), folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    with pytest.warns(UserWarning, match="skipped"):
        written = process_folder(
            Inverter(),
            folder,
            tmp_path / "out",
            skip_errors=True,
            output_name=lambda p: p.name.replace("nii.gz", "nrrd"),
        )
    assert written == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.nrrd", "c.nrrd"]


def test_despeckler_through_the_pipeline_matches_the_whole_image_run(tmp_path):
    source = cine(tmp_path / "cine.nii.gz", frames=9)
    despeckler = Despeckler("mean", device="cpu", batch_size=4)
    expected = despeckler.run(io.load(source))
    for chunk_frames in ("auto", 2):
        out = process_file(
            despeckler, source, tmp_path / f"out{chunk_frames}.nii.gz", chunk_frames=chunk_frames
        )
        written = io.load(out)
        assert np.array_equal(written.source_values(), expected.source_values())


def test_segmenter_through_the_pipeline_with_overlap_matches_the_whole_stack(tmp_path):
    frames = np.stack([simulate_carotid(size=96, seed=seed).bmode for seed in range(4)]).astype(np.float32)
    folder = tmp_path / "in"
    folder.mkdir()
    io.save(UltrasoundImage(frames, kind="cine"), folder / "cine.nii.gz")
    segmenter = Segmenter("carotid", device="cpu", batch_size=2)
    expected = segmenter.predict(frames)
    out = segment_file(segmenter, folder / "cine.nii.gz", tmp_path / "seg.nii.gz", chunk_frames="auto")
    assert np.array_equal(io.load(out).source_values(), expected) and 1 in expected
    assert segment_folder(segmenter, folder, tmp_path / "labels") == 1
    assert np.array_equal(io.load(tmp_path / "labels" / "cine_seg.nii.gz").source_values(), expected)
    assert segmenter.frames_processed == 3 * len(frames)
