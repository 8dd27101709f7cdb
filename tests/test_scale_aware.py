"""Scale-aware inference: a network runs at the speckle grain it was trained at.

The policy (runtime/scale.py), the resampling, the engine around it (measured once per stream,
any chunking gives the same output, ``native`` switches it off), the grain a bundle records of its
training inputs, and the quality it buys on phantoms rendered finer than the training frames.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_despeckle import io
from monai_despeckle.errors import BundleError, InvalidParameterError
from monai_despeckle.inference import Despeckler
from monai_despeckle.metrics import psnr
from monai_despeckle.metrics.speckle_size import _wide_gaussian_filter, estimate_speckle_size
from monai_despeckle.pipeline import process_file
from monai_despeckle.resolver import create_method, find_bundle
from monai_despeckle.runtime.scale import (
    GRAIN_KEY,
    MAX_RESAMPLE,
    GrainRange,
    TrainedGrain,
    resample,
    resample_factors,
    resampled_shape,
)
from monai_despeckle.simulation import PHANTOMS, sample_seed

TRAINED = TrainedGrain(axial=GrainRange(1.5, 2.5, 3.5), lateral=GrainRange(1.5, 2.5, 3.0))
TUNING_SEED = 3000  # phantoms kept apart from the evaluation seeds (0-19)


def correlated_speckle(shape: tuple[int, int], sigma: tuple[float, float], seed: int = 0) -> np.ndarray:
    """Texture of a known grain: white noise smoothed by a Gaussian of ``sigma`` (rows, cols), in [0, 1]."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    field = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    field = (field - field.mean()) / field.std()
    return np.clip(0.5 + 0.12 * field, 0.0, 1.0).astype(np.float32)


class ShapeSpy:
    """A method that records the frame shapes it is given and returns them unchanged."""

    name = "spy"
    gpu = False

    def __init__(self, trained_grain: TrainedGrain | None) -> None:
        self.trained_grain = trained_grain
        self.shapes: list[tuple[int, int]] = []

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(frames.shape[-2:]))
        return frames


# -- the policy ---------------------------------------------------------------------------------


def test_a_grain_inside_the_trained_range_is_left_alone():
    assert resample_factors(2.0, 2.0, TRAINED) == (1.0, 1.0)
    assert resample_factors(3.5, 3.0, TRAINED) == (1.0, 1.0)


def test_a_coarser_grain_is_brought_to_the_edge_of_the_range_on_the_allowed_axes_only():
    rows, cols = resample_factors(9.0, 4.5, TRAINED)
    assert rows == 1.0  # axial is not in TRAINED.axes
    assert cols == pytest.approx(3.0 / 4.5)
    both = TrainedGrain(TRAINED.axial, TRAINED.lateral, axes=("axial", "lateral"))
    assert resample_factors(5.0, 4.5, both) == pytest.approx((3.5 / 5.0, 3.0 / 4.5))


def test_no_axis_is_shrunk_more_than_twice():
    assert resample_factors(2.0, 25.0, TRAINED) == (1.0, 1.0 / MAX_RESAMPLE)


def test_a_finer_grain_is_enlarged_but_never_more_than_the_cap():
    assert resample_factors(2.0, 1.2, TRAINED)[1] == pytest.approx(1.5 / 1.2)
    assert resample_factors(2.0, 0.3, TRAINED)[1] == MAX_RESAMPLE


def test_a_negligible_change_is_not_made():
    assert resample_factors(2.0, 3.1, TRAINED) == (1.0, 1.0)  # 3 % off the range: not worth the blur


def test_resampled_shape_keeps_a_minimum_side_and_untouched_axes():
    assert resampled_shape((600, 800), (1.0, 0.3)) == (600, 240)
    assert resampled_shape((600, 40), (1.0, 0.1)) == (600, 16)
    assert resampled_shape((600, 10), (1.0, 0.5)) == (600, 10)  # never below 16, never above the input


def test_resample_shrinks_without_aliasing_and_grows_smoothly_axis_by_axis():
    stripes = torch.zeros(1, 1, 64, 64)
    stripes[..., ::2] = 1.0  # a pattern finer than the shrunk grid can hold
    shrunk = resample(stripes, (64, 16))
    assert shrunk.shape == (1, 1, 64, 16)
    inner = shrunk[..., 1:-1]  # (the outermost columns' windows are cut by the border)
    assert torch.allclose(inner, torch.full_like(inner, 0.5), atol=0.01)  # averaged, not aliased
    mixed = resample(torch.rand(2, 1, 40, 50), (80, 25))  # rows grow while columns shrink
    assert mixed.shape == (2, 1, 80, 25)
    same = torch.rand(1, 1, 8, 8)
    assert resample(same, (8, 8)) is same


def test_trained_grain_round_trips_through_metadata_and_rejects_a_malformed_entry():
    grain = TrainedGrain(TRAINED.axial, TRAINED.lateral, pixel_mm=0.3125, measured_on="test")
    assert TrainedGrain.from_metadata({GRAIN_KEY: grain.as_metadata()}) == grain
    assert TrainedGrain.from_metadata({}) is None
    with pytest.raises(ValueError, match=GRAIN_KEY):
        TrainedGrain.from_metadata({GRAIN_KEY: {"axial_px": {"p5": 1}}})
    with pytest.raises(ValueError):
        TrainedGrain(TRAINED.axial, TRAINED.lateral, axes=("depth",))
    with pytest.raises(ValueError):
        GrainRange(3.0, 2.0, 4.0)


def test_the_fft_trend_filter_equals_scipys():
    array = np.random.default_rng(1).random((90, 130))
    for sigma, axis in ((6.0, 0), (32.0, 1), (40.0, 0)):  # wider than the frame, too
        expected = ndimage.gaussian_filter1d(array, sigma, axis=axis, mode="reflect")
        np.testing.assert_allclose(_wide_gaussian_filter(array, sigma, axis), expected, atol=1e-12)


# -- the engine ---------------------------------------------------------------------------------


def test_the_network_sees_frames_at_its_trained_grain_and_the_output_has_the_input_grid():
    frames = np.stack([correlated_speckle((160, 240), (1.0, 4.0), seed) for seed in range(3)])
    lateral = estimate_speckle_size(frames[:1]).lateral_px
    spy = ShapeSpy(TRAINED)
    despeckler = Despeckler(spy, batch_size=2)
    out = despeckler.run_frames(frames)
    assert out.shape == frames.shape and out.dtype == np.float32
    expected_width = round(240 * max(3.0 / lateral, 1 / MAX_RESAMPLE))
    assert spy.shapes == [(160, expected_width)] * 2  # batches of 2 then 1 frame: same grid
    assert despeckler.last_grain is not None and despeckler.last_grain.lateral_px == pytest.approx(lateral)
    # the spy returns its input: the round trip only smooths across the beam, it does not shift
    assert np.abs(out.mean(axis=(1, 2)) - frames.mean(axis=(1, 2))).max() < 0.01
    assert despeckler.describe()["scale"] == "auto"


def test_native_and_methods_without_a_recorded_grain_run_frames_as_they_are():
    frames = correlated_speckle((96, 160), (1.0, 5.0))[None]
    spy = ShapeSpy(TRAINED)
    assert np.array_equal(Despeckler(spy, scale="native").run_frames(frames), frames)
    assert spy.shapes == [(96, 160)]
    plain = ShapeSpy(None)
    Despeckler(plain).run_frames(frames)
    assert plain.shapes == [(96, 160)]
    with pytest.raises(InvalidParameterError, match="scale"):
        Despeckler(spy, scale="fit")


def test_frames_without_measurable_speckle_run_natively():
    spy = ShapeSpy(TRAINED)
    despeckler = Despeckler(spy)
    despeckler.run_frames(correlated_speckle((64, 96), (1.0, 5.0))[None])
    assert despeckler.last_grain is not None
    flat = np.full((1, 64, 64), 0.4, dtype=np.float32)
    despeckler.run_frames(flat)
    assert spy.shapes[-1] == (64, 64)
    assert despeckler.last_grain is None  # not the previous image's


def test_a_streamed_file_equals_the_whole_array_run_whatever_the_chunking(tmp_path):
    frames = np.stack([correlated_speckle((96, 200), (1.0, 4.5), seed) for seed in range(7)])
    source = tmp_path / "cine.nii.gz"
    io.save(io.UltrasoundImage(frames=frames), source)
    method = create_method("dae_lite", device="cpu")
    in_memory = tmp_path / "whole.nii.gz"
    io.save(Despeckler(method, batch_size=3).run(io.load(source)), in_memory)
    whole = io.load(in_memory).frames  # written the same way (the file's dtype and scaling)
    for chunk in (1, 2, 5):
        out = tmp_path / f"out{chunk}.nii.gz"
        process_file(Despeckler(method, batch_size=3), source, out, chunk_frames=chunk)
        np.testing.assert_array_equal(io.load(out).frames, whole)


def test_a_shipped_network_gains_on_phantoms_rendered_finer_than_its_training_frames():
    """512² phantoms of the same 40 mm field: the lateral grain is ~4x what the network saw."""
    samples = [PHANTOMS[kind](512, sample_seed(TUNING_SEED, 7)) for kind in PHANTOMS]
    method = create_method("dae_skip", device="cpu")
    gains = []
    for sample in samples:
        frame = sample.bmode[None].astype(np.float32)
        native = Despeckler(method, scale="native").run_frames(frame)[0]
        scaled = Despeckler(method).run_frames(frame)[0]
        gains.append(float(psnr(scaled, sample.clean)[0]) - float(psnr(native, sample.clean)[0]))
    assert min(gains) > 1.0, gains


# -- what a bundle records ----------------------------------------------------------------------


def test_every_shipped_despeckling_bundle_records_the_grain_of_its_training_inputs():
    for name in ("dae_skip", "dae_lite", "pix2pix", "speckle2self"):
        grain = TrainedGrain.from_metadata(find_bundle(name, kind="despeckle").metadata)
        assert grain is not None, name
        assert 1.0 <= grain.lateral.low <= grain.lateral.high <= 4.0, (name, grain)
        assert grain.axes == ("lateral",)
        assert create_method(name, device="cpu").trained_grain == grain


def test_the_training_grain_is_measured_from_the_bundles_own_pipeline_and_recorded(tmp_path):
    from monai_despeckle.engines.grain import bundle_training_grain, record_training_grain

    bundle = tmp_path / "despeckle_probe"
    shutil.copytree(find_bundle("speckle2self").path, bundle)
    coarse = bundle_training_grain(
        bundle, "phantoms:breast", {"train#phantom_count": 12, "train#patch_size": 128}, samples=8
    )
    fine = bundle_training_grain(
        bundle, "phantoms:breast", {"train#phantom_count": 12, "train#patch_size": 256}, samples=8
    )
    # the same 40 mm phantoms on a grid twice as fine: the grain doubles in pixels
    assert fine.lateral.median == pytest.approx(2 * coarse.lateral.median, rel=0.25)
    assert coarse.pixel_mm == pytest.approx(40 / 128)
    assert "8 training inputs of phantoms:breast" in coarse.measured_on
    metadata_file = bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata[GRAIN_KEY]["resample_axes"] = ["axial", "lateral"]
    metadata_file.write_text(json.dumps(metadata))
    record_training_grain(bundle, fine)
    recorded = TrainedGrain.from_metadata(json.loads(metadata_file.read_text()))
    assert recorded is not None
    assert recorded.lateral.median == pytest.approx(fine.lateral.median, abs=1e-3)  # (3 decimals kept)
    assert recorded.axes == ("axial", "lateral")  # the tuned choice is kept


def test_a_bundle_with_a_malformed_grain_entry_is_refused_naming_it(tmp_path):
    bundle = tmp_path / "despeckle_broken"
    shutil.copytree(find_bundle("dae_lite").path, bundle)
    metadata_file = bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata[GRAIN_KEY] = {"lateral_px": "wide"}
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match=GRAIN_KEY):
        create_method(str(bundle), device="cpu")


def test_denoise_reports_the_grain_it_ran_at_and_native_does_not_measure(tmp_path, capsys):
    from monai_despeckle.cli import main

    frames = correlated_speckle((96, 200), (1.0, 4.5))[None]
    source = tmp_path / "scan.nii.gz"
    io.save(io.UltrasoundImage(frames=frames), source)
    assert (
        main(["denoise", str(source), str(tmp_path / "a.nii.gz"), "--method", "dae_lite", "--no-progress"])
        == 0
    )
    assert "speckle grain" in capsys.readouterr().out
    args = [
        "denoise",
        str(source),
        str(tmp_path / "b.nii.gz"),
        "--method",
        "dae_lite",
        "--no-progress",
        "--native",
    ]
    assert main(args) == 0
    assert "speckle grain" not in capsys.readouterr().out
    assert not np.array_equal(io.load(tmp_path / "a.nii.gz").frames, io.load(tmp_path / "b.nii.gz").frames)
