"""One byte budget: chunks sized by bytes per frame, frames too large for it processed in tiles."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from monai_despeckle import budget, io
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.io.streaming import open_sink, open_source, placeholder_frames
from monai_despeckle.pipeline import chunk_frames_for, process_file
from monai_despeckle.runtime.tiling import overlap_for, run_tiled, tile_starts

MIB = 1 << 20


def _cine(path, num_frames: int, side: int):
    """A uint8 NIfTI cine written chunk by chunk (never whole in memory)."""
    header = UltrasoundImage(
        placeholder_frames(num_frames, side, side),
        kind=ImageKind.CINE,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    rng = np.random.default_rng(0)
    with open_sink(path, header) as sink:
        for _ in range(num_frames):
            sink.write(rng.integers(0, 256, (1, side, side), dtype=np.uint8) / np.float32(255.0))
    return path


@pytest.mark.parametrize(
    ("shape", "itemsize", "expected"),
    [
        ((4096, 4096), 1, 1),
        ((2048, 2048), 2, 2),
        ((1024, 1024), 1, 9),
        ((512, 512), 1, 32),
        ((64, 64), 4, 32),
    ],
)
def test_chunks_are_sized_by_bytes_per_frame(shape, itemsize, expected):
    assert budget.chunk_frames(shape, itemsize, budget=512 * MIB) == expected


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(budget.BUDGET_ENV, "64")
    assert budget.memory_budget() == 64 * MIB
    assert budget.chunk_frames((1024, 1024), 1) == 1
    header = UltrasoundImage(placeholder_frames(50, 256, 256), intensity=IntensityMapping("uint16", 0, 1))
    assert chunk_frames_for(header) == budget.chunk_frames((256, 256), 2) == 18
    assert chunk_frames_for(header, 7) == 7
    for bad in ("lots", "4", "-1", "nan"):
        monkeypatch.setenv(budget.BUDGET_ENV, bad)
        with pytest.raises(InvalidParameterError, match=budget.BUDGET_ENV):
            budget.memory_budget()


def test_tiles_fit_the_method_share_and_keep_the_size_multiple():
    assert budget.tile_shape((512, 512), 500.0, 8, allowed=256 * MIB) is None  # 131 MB fits
    tile = budget.tile_shape((4096, 4096), 500.0, 8, allowed=256 * MIB)
    assert tile is not None and tile[0] % 8 == tile[1] % 8 == 0
    assert tile[0] * tile[1] * 500.0 <= 256 * MIB and tile[0] >= budget.MIN_TILE_SIDE
    narrow = budget.tile_shape((300, 20000), 500.0, 16, allowed=64 * MIB)
    assert narrow[0] == 304 and narrow[0] * narrow[1] * 500.0 <= 64 * MIB  # whole height, cut along W


def test_tiles_cover_the_frame_and_overlap_generously():
    for length, tile in ((4096, 712), (1000, 256), (257, 256), (100, 256)):
        starts = tile_starts(length, tile, overlap_for(tile))
        covered = np.zeros(length, bool)
        for start in starts:
            covered[start : start + tile] = True
        assert covered.all() and starts[0] == 0 and starts[-1] + min(tile, length) == length
        for left, right in itertools.pairwise(starts):
            assert left + tile - right >= overlap_for(tile)


def test_tiled_output_of_a_local_network_equals_the_whole_frame_output():
    torch.manual_seed(0)
    # receptive field radius 8 < the dead zone (a third of the 64-pixel overlap): tiles must be exact
    network = nn.Sequential(*[nn.Conv2d(1, 1, 5, padding=2) for _ in range(4)]).eval()
    frames = torch.rand(2, 1, 301, 557)
    with torch.no_grad():
        whole = network(frames)
    tiled = run_tiled(network, frames, (256, 256))
    assert torch.allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize(("method", "tolerance"), [("dae_skip", 1e-4), ("pix2pix", 0.05)])
def test_tiled_frames_show_no_seams(monkeypatch, method, tolerance):
    values = io.load(_sample()).frames[:, :384, :448] if _sample() else _speckle((1, 384, 448))
    image = UltrasoundImage(values)
    whole = Despeckler(method, device="cpu").run(image).frames
    monkeypatch.setenv(budget.BUDGET_ENV, "16")  # 8 MiB for the method: 256² tiles
    engine = Despeckler(method, device="cpu")
    assert engine.tile_for((384, 448)) is not None
    tiled = engine.run(image).frames
    difference = np.abs(tiled - whole)
    assert difference.max() <= tolerance
    # no seam: along every tile boundary the output's step is no larger than the whole frame's there
    boundaries = tile_starts(448, 256, overlap_for(256))[1:]
    for column in boundaries:
        step_tiled = np.abs(np.diff(tiled[0, :, column - 1 : column + 1], axis=1)).mean()
        step_whole = np.abs(np.diff(whole[0, :, column - 1 : column + 1], axis=1)).mean()
        assert step_tiled <= step_whole + 1e-3


def _sample():
    from monai_despeckle.defaults import real_samples_dir

    folder = real_samples_dir()
    files = sorted(folder.glob("images/*.png")) if folder else []
    return files[0] if files and io.load(files[0]).frame_shape >= (384, 448) else None


def _speckle(shape):
    rng = np.random.default_rng(3)
    return np.clip(rng.gamma(4.0, 0.1, shape), 0, 1).astype(np.float32)


def test_a_streamed_run_of_large_frames_holds_one_frame_at_a_time(tmp_path, monkeypatch):
    """Chunk sizes come from bytes: 1 MB frames under a 16 MiB budget are read one at a time."""
    monkeypatch.setenv(budget.BUDGET_ENV, "16")
    source = _cine(tmp_path / "big_frames.nii", num_frames=16, side=1024)
    engine = Despeckler("mean", device="cpu")
    tracemalloc.start()
    try:
        process_file(engine, source, tmp_path / "out.nii")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    frame_float32 = 1024 * 1024 * 4
    assert peak < 8 * frame_float32  # a 32-frame chunk (the old fixed count) alone is 128 MB
    with open_source(tmp_path / "out.nii") as result:
        assert result.num_frames == 16


def test_streamed_tiled_run_equals_the_in_memory_run(tmp_path, monkeypatch):
    monkeypatch.setenv(budget.BUDGET_ENV, "16")
    source = _cine(tmp_path / "cine.nii.gz", num_frames=3, side=320)
    engine = Despeckler("dae_skip", device="cpu")
    assert engine.tile_for((320, 320)) is not None
    process_file(engine, source, tmp_path / "out.nii.gz")
    expected = Despeckler("dae_skip", device="cpu").run(io.load(source))
    np.testing.assert_array_equal(io.load(tmp_path / "out.nii.gz").source_values(), expected.source_values())


def test_a_gzip_nifti_that_expands_hugely_is_streamed_within_the_budget(tmp_path, monkeypatch):
    """128 MB of float32 frames from a 0.1 MB .nii.gz: read, filtered and written a frame at a time."""
    monkeypatch.setenv(budget.BUDGET_ENV, "16")
    header = UltrasoundImage(
        placeholder_frames(8, 2048, 2048), kind=ImageKind.CINE, intensity=IntensityMapping("uint8", 0, 255)
    )
    source = tmp_path / "zeros.nii.gz"
    with open_sink(source, header) as sink:
        for _ in range(8):
            sink.write(np.zeros((1, 2048, 2048), np.float32))
    assert source.stat().st_size < 200_000
    tracemalloc.start()
    try:
        process_file(Despeckler("mean", device="cpu"), source, tmp_path / "out.nii.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2048 * 2048 * 4  # a few frames' worth, not the 128 MB the file expands to


def test_the_segmenter_batches_frames_by_bytes():
    from monai_despeckle.segmentation import Segmenter

    segmenter = Segmenter("breast", device="cpu", batch_size=8)
    assert segmenter.frames_per_batch((256, 256)) == 8
    assert segmenter.frames_per_batch((4096, 4096)) == 1  # 0.8 GB per 4096² frame at full size
