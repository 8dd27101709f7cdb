"""Reading ahead and writing behind: same results, errors where the caller sees them, no thread left."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from monai_despeckle import io
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import ImageKind, IntensityMapping
from monai_despeckle.io.streaming.overlap import WriteBehind, read_ahead
from monai_despeckle.pipeline import process_file


def _background_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("read-ahead", "write-behind")]


def test_read_ahead_keeps_order_and_runs_ahead():
    produced: list[int] = []

    def items():
        for i in range(5):
            produced.append(i)
            yield i

    with contextlib.closing(read_ahead(items())) as stream:
        first = next(stream)
        time.sleep(0.2)
        assert first == 0 and produced[:2] == [0, 1]  # the next item was read while we waited
        assert [first, *stream] == [0, 1, 2, 3, 4]
    assert _background_threads() == []


def test_read_ahead_raises_the_producers_error_and_stops_when_closed_early():
    def failing():
        yield 1
        raise ValueError("corrupt chunk")

    with pytest.raises(ValueError, match="corrupt chunk"):
        list(read_ahead(failing()))
    endless = read_ahead(iter(range(10**9)))
    assert next(endless) == 0
    endless.close()  # what process_file's contextlib.closing does when the run stops
    assert _background_threads() == []


def test_write_behind_writes_everything_in_order():
    written: list[int] = []
    with WriteBehind(written.append) as write:
        for i in range(20):
            write(i)
    assert written == list(range(20)) and _background_threads() == []


def test_write_behind_raises_a_write_error_and_stops_on_the_callers_error():
    def refuse(item: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"), WriteBehind(refuse) as write:
        for i in range(10):
            write(i)
    written: list[int] = []

    def slow(item: int) -> None:
        time.sleep(0.05)
        written.append(item)

    with pytest.raises(KeyboardInterrupt), WriteBehind(slow) as write:
        write(1)
        write(2)
        raise KeyboardInterrupt
    # item 2 was queued but never written: the stop came first (item 1 too, if it was not yet taken)
    assert written in ([], [1]) and _background_threads() == []


def test_overlapped_process_file_equals_the_serial_run(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.random((12, 48, 40), dtype=np.float32)
    cine = io.UltrasoundImage(frames, kind=ImageKind.CINE, intensity=IntensityMapping("uint8", 0.0, 255.0))
    source = io.save(cine, tmp_path / "cine.nii.gz")
    engine = Despeckler("median", device="cpu")
    process_file(engine, source, tmp_path / "overlapped.nii.gz")  # chunk_frames="auto": overlapped
    process_file(engine, source, tmp_path / "serial.nii.gz", chunk_frames=5)  # a fixed chunk: serial
    overlapped = io.load(tmp_path / "overlapped.nii.gz")
    np.testing.assert_array_equal(overlapped.frames, io.load(tmp_path / "serial.nii.gz").frames)
    np.testing.assert_array_equal(overlapped.frames, engine.run(io.load(source)).frames)
    assert _background_threads() == []


def test_overlap_only_where_the_budget_holds_every_chunk_in_flight():
    from monai_despeckle.budget import chunk_frames, overlapped_chunk_frames

    mib = 1 << 20
    assert overlapped_chunk_frames((2048, 2048), 1, 5, budget=16 * mib) is None  # not 5 frames
    overlapped = overlapped_chunk_frames((512, 512), 1, 5, budget=512 * mib)
    assert overlapped is not None and overlapped >= 1
    assert 5 * overlapped * 512 * 512 * 13 <= 0.25 * 512 * mib  # five chunks fit the chunk share
    assert overlapped < chunk_frames((512, 512), 1, budget=512 * mib)  # smaller than a serial chunk
