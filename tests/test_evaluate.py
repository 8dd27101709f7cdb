"""``monai-despeckle evaluate`` end to end, plus the harness pieces it is built from."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from monai_despeckle.cli import main
from monai_despeckle.errors import InvalidImageError
from monai_despeckle.evaluation import add_speckle, evaluate, folder_set, noise_seed, write_report
from monai_despeckle.evaluation.runner import _banding_period
from monai_despeckle.inference import Despeckler
from monai_despeckle.runtime.scale import GrainRange, TrainedGrain

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = DATA / "real_us_samples"
METRIC_COLUMNS = ["image", "method", "noise", "psnr", "ssim", "mse", "time_ms"]


def _needs_samples():
    if not (SAMPLES / "images").is_dir():
        pytest.skip("shared real_us_samples data not available")


def _rows(report: Path) -> list[dict[str, str]]:
    with open(report / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _metric_values(rows, columns=("psnr", "ssim", "mse")):
    return [(r["image"], r["method"], r["noise"], *(r[c] for c in columns)) for r in rows]


def _evaluate(out: Path, *extra: str, methods="median,gaussian", noise="speckle:0.3,0.7", seed=0) -> int:
    args = ["evaluate", "--data", str(SAMPLES), "--n", "3", "--size", "64", "--methods", methods]
    return main([*args, "--noise", noise, "--seed", str(seed), "--out", str(out), *extra])


def test_reference_protocol_end_to_end(tmp_path):
    _needs_samples()
    out = tmp_path / "report"
    assert _evaluate(out) == 0
    rows = _rows(out)
    assert len(rows) == 3 * 2 * 2
    assert list(rows[0]) == METRIC_COLUMNS
    assert {r["method"] for r in rows} == {"median", "gaussian"} and {r["noise"] for r in rows} == {
        "0.3",
        "0.7",
    }
    assert len({r["image"] for r in rows}) == 3
    for row in rows:
        psnr, mse = float(row["psnr"]), float(row["mse"])
        assert psnr == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)  # the columns agree
        assert 0 < float(row["ssim"]) < 1 and float(row["time_ms"]) >= 0
    for name in ("summary.md", "comparison.png", "metric_vs_noise.png"):
        assert (out / name).stat().st_size > 0
    summary = (out / "summary.md").read_text()
    assert "| median |" in summary and "var 0.7" in summary and "ms / frame" in summary
    with Image.open(out / "comparison.png") as figure:
        assert figure.width > figure.height  # a grid: input / methods / reference side by side
    # Averages in the summary are those of the CSV rows.
    median_psnr = np.mean([float(r["psnr"]) for r in rows if r["method"] == "median" and r["noise"] == "0.7"])
    assert f"{median_psnr:.2f} ±" in summary


def test_same_seed_same_numbers_and_noise_independent_of_methods(tmp_path):
    _needs_samples()
    assert _evaluate(tmp_path / "a", methods="none,median") == 0
    assert _evaluate(tmp_path / "b", methods="none,median") == 0
    assert _evaluate(tmp_path / "c", methods="none") == 0
    assert _evaluate(tmp_path / "d", methods="none", seed=1) == 0
    a, b, c, d = (_rows(tmp_path / k) for k in "abcd")
    assert _metric_values(a) == _metric_values(b)
    # "none" passes the noisy input through: its scores measure the noise itself, which must not
    # depend on which other methods ran, and must change with the seed.
    assert _metric_values([r for r in a if r["method"] == "none"]) == _metric_values(c)
    assert _metric_values(c) != _metric_values(d)


def test_refuses_non_empty_output_unless_overwrite(tmp_path, capsys):
    _needs_samples()
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _evaluate(out, methods="none") == 2
    assert "not empty" in capsys.readouterr().err
    assert _evaluate(out, "--overwrite", methods="none") == 2  # not an earlier report: still refused
    assert (out / "notes.txt").read_text() == "keep me"
    (out / "notes.txt").unlink()
    assert _evaluate(out, methods="none") == 0
    assert _evaluate(out, methods="none") == 2
    assert _evaluate(out, "--overwrite", methods="median") == 0
    assert {r["method"] for r in _rows(out)} == {"median"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    _needs_samples()
    assert _evaluate(tmp_path / "r1", methods="no_such_filter") == 2
    assert "no_such_filter" in capsys.readouterr().err
    assert _evaluate(tmp_path / "r2", noise="speckle:0.3,abc") == 2
    assert "--noise" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(SAMPLES), "--split", "val", "--out", str(tmp_path / "r3")]) == 2
    assert "split.json" in capsys.readouterr().err
    assert main(["evaluate", "--data", "sim:liver", "--out", str(tmp_path / "r4")]) == 2
    assert "liver" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3", "r4"))


def test_simulated_breast_phantoms(tmp_path):
    out = tmp_path / "sim"
    args = ["evaluate", "--data", "phantoms:breast", "--n", "2", "--size", "64", "--methods", "none,median"]
    assert main([*args, "--out", str(out)]) == 0
    rows = _rows(out)
    # the older spelling names the same phantoms
    older = tmp_path / "older"
    assert main(["evaluate", "--data", "sim:breast", *args[3:], "--out", str(older)]) == 0
    untimed = [{k: v for k, v in row.items() if k != "time_ms"} for row in rows]
    assert [{k: v for k, v in row.items() if k != "time_ms"} for row in _rows(older)] == untimed
    assert len(rows) == 2 * 2 and {r["noise"] for r in rows} == {"physics"}
    scores = {r["method"]: [float(x["psnr"]) for x in rows if x["method"] == r["method"]] for r in rows}
    assert all(np.isfinite(scores["none"])) and all(np.isfinite(scores["median"]))
    # Filtering the physics speckle must bring the B-mode closer to its speckle-free reference.
    assert np.mean(scores["median"]) > np.mean(scores["none"])
    # ... and, being smoother, raise its GLCM homogeneity (reported for phantoms too).
    homogeneity = {m: np.mean([float(x["homogeneity"]) for x in rows if x["method"] == m]) for m in scores}
    assert homogeneity["median"] > homogeneity["none"]
    assert (out / "comparison.png").is_file() and (out / "metrics.png").is_file()


def test_no_reference_mode_on_real_images_with_masks(tmp_path):
    _needs_samples()
    out = tmp_path / "noref"
    args = ["evaluate", "--data", str(SAMPLES), "--no-reference", "--n", "2", "--size", "128"]
    assert main([*args, "--methods", "none,median", "--out", str(out)]) == 0
    rows = _rows(out)
    relative = ["epi", "boundary_step", "boundary_contrast", "banding"]  # output over input
    columns = ["enl", "speckle_index", "cnr", "gcnr", "homogeneity", *relative]
    assert len(rows) == 2 * 2 and list(rows[0]) == ["image", "method", "noise", *columns, "time_ms"]
    for row in rows:
        assert all(math.isfinite(float(row[c])) for c in columns), row
    by = {(r["image"], r["method"]): r for r in rows}
    for image in {r["image"] for r in rows}:
        none, median = by[(image, "none")], by[(image, "median")]
        assert all(float(none[c]) == pytest.approx(1.0) for c in relative)  # the input against itself
        assert float(median["epi"]) < 1.0
        assert float(median["homogeneity"]) > float(none["homogeneity"])  # smoothing is smoother
        assert float(median["speckle_index"]) < float(none["speckle_index"])
    assert (out / "comparison.png").is_file() and (out / "metrics.png").is_file()


def test_add_speckle_is_the_scikit_image_protocol():
    clean = np.full((200, 200), 0.4, dtype=np.float32)
    noisy = add_speckle(clean, 0.04, seed=7)
    relative = (noisy - clean) / clean  # = n ~ N(0, var) where nothing was clipped
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    assert abs(relative.mean()) < 0.01 and relative.var() == pytest.approx(0.04, rel=0.05)
    np.testing.assert_array_equal(noisy, add_speckle(clean, 0.04, seed=7))
    strong = add_speckle(clean, 0.9, seed=7)
    assert strong.min() == 0.0 and strong.max() <= 1.0  # clipped to [0, 1]


def test_noise_seed_depends_on_seed_image_and_variance():
    base = noise_seed(0, "img_1", 0.3)
    assert base == noise_seed(0, "img_1", 0.3)
    assert (
        len({base, noise_seed(1, "img_1", 0.3), noise_seed(0, "img_2", 0.3), noise_seed(0, "img_1", 0.5)})
        == 4
    )


def test_folder_split_and_masks(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(4):
        Image.fromarray(np.full((20, 30), 40 * (i + 1), np.uint8)).save(tmp_path / "images" / f"s{i}.png")
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:15] = 2  # a label map: any non-zero label is structure
    Image.fromarray(mask).save(tmp_path / "masks" / "s2_mask.png")
    (tmp_path / "split.json").write_text(
        json.dumps({"train": ["s0.png", "s1.png"], "val": ["s2.png", "s3.png"]})
    )
    data = folder_set(tmp_path, size=16, no_reference=True, split="val")
    assert data.names == ["s2", "s3"] and data.mode == "no_reference"
    first, second = list(data)
    assert first.noisy.shape == (16, 16) and first.noisy.dtype == np.float32
    assert first.noisy.mean() == pytest.approx(120 / 255, abs=1e-6)
    assert first.mask.shape == (16, 16) and 0 < first.mask.sum() < 16 * 16 and second.mask is None
    reference = folder_set(tmp_path, size=None, split="train", n=1)
    assert reference.names == ["s0"] and next(iter(reference)).clean.shape == (20, 30)
    (tmp_path / "split.json").write_text(json.dumps({"val": ["s9.png"]}))
    with pytest.raises(InvalidImageError, match=r"s9\.png"):
        folder_set(tmp_path, size=16, split="val")


class _Frames:
    """A test despeckler: ``transform`` on the [H, W] frame, optionally a network-like stride."""

    def __init__(self, name, transform, size_multiple=None):
        self.name, self.transform = name, transform
        if size_multiple is not None:
            self.size_multiple = size_multiple
        self.gpu = False

    def __call__(self, frames):
        out = self.transform(frames[0, 0].numpy().astype(np.float64))
        return torch.from_numpy(np.clip(out, 0, 1).astype(np.float32))[None, None]


def _striped(frame, period=8):
    """Smoothing that leaves stripes of one grey level every ``period`` rows, as a strided network might."""
    stripes = ((np.arange(frame.shape[0]) % period) < period // 2)[:, None] / 255
    return ndimage.gaussian_filter(frame, 1.5) + stripes


def test_no_reference_boundary_and_banding_columns(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:128, :128]
    disc = (rows - 64) ** 2 + (cols - 60) ** 2 < 30**2
    for i in range(3):
        noisy = np.clip(np.where(disc, 0.25, 0.6) * rng.gamma(4.0, 0.25, disc.shape), 0, 1)
        Image.fromarray(np.round(noisy * 255).astype(np.uint8)).save(tmp_path / "images" / f"scan{i}.png")
        if i < 2:  # scan2 has no mask: no boundary to measure
            Image.fromarray(disc.astype(np.uint8) * 255).save(tmp_path / "masks" / f"scan{i}_mask.png")
    methods = {
        "none": _Frames("none", lambda x: x),
        "blur": _Frames("blur", lambda x: ndimage.gaussian_filter(x, 3.0)),
        "striped": _Frames("striped", _striped, size_multiple=8),
    }
    result = evaluate(folder_set(tmp_path, size=None, no_reference=True), methods, progress=False)
    assert result.metrics[-3:] == ("boundary_step", "boundary_contrast", "banding")
    by = {(r["image"], r["method"]): r for r in result.rows}
    for image in ("scan0", "scan1"):
        none, blur, striped = (by[(image, m)] for m in ("none", "blur", "striped"))
        assert none["boundary_step"] == none["boundary_contrast"] == none["banding"] == 1.0
        assert blur["boundary_step"] < 0.6  # σ = 3 px across a step edge, 3 px bands: about 0.4 left
        assert blur["banding"] == pytest.approx(1.0, abs=0.2) and striped["banding"] > 5
    for method in methods:  # no mask: NaN boundary columns, banding still measured
        row = by[("scan2", method)]
        assert math.isnan(row["boundary_step"]) and math.isnan(row["boundary_contrast"])
        assert math.isfinite(row["banding"])

    out = tmp_path / "report"
    write_report(result, out)
    summary = (out / "summary.md").read_text()
    for label in (
        "boundary step (× input) ↑",
        "boundary CNR (× input) ↑",
        "banding at stride (× input) ↓",
    ):
        assert label in summary
    assert "| none |" in summary and "1.000 ± 0.000 (n=2) | 1.000 ± 0.000 (n=2) | 1.00 ± 0.00 |" in summary
    csv_rows = _rows(out)
    assert list(csv_rows[0])[-4:] == ["boundary_step", "boundary_contrast", "banding", "time_ms"]
    assert {r["boundary_contrast"] for r in csv_rows if r["image"] == "scan2"} == {"nan"}


def test_banding_period_is_the_methods_stride_in_output_pixels():
    frame = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    # No stride: 16; 64 is too long for 128 px and is halved to 16 (its harmonics 4k/64).
    for multiple, period in ((8, 8.0), (64, 16.0), (None, 16.0), (1, 16.0)):
        method = _Frames("net", lambda x: x, size_multiple=multiple)
        assert _banding_period(method, frame) == period
        assert _banding_period(Despeckler(method, batch_size=1), frame) == period
    # A network run at its trained grain: a frame of 4 px lateral grain shrunk 2× across the beam
    # to the trained 1-2 px has the stride-8 pattern every 16 output columns.
    grain = ndimage.gaussian_filter(np.random.default_rng(1).standard_normal((128, 128)), (0.5, 1.7))
    frame = (0.5 + 0.1 * grain / grain.std()).astype(np.float32)
    trained = TrainedGrain(axial=GrainRange(1.0, 1.5, 2.0), lateral=GrainRange(1.0, 1.5, 2.0))
    network = _Frames("net", lambda x: x, size_multiple=8)
    network.trained_grain = trained
    despeckler = Despeckler(network, batch_size=1)
    assert despeckler.network_shape(frame[None]) == (128, 64)
    despeckler.run_frames(frame[None])  # evaluate runs the frame, then asks for its period
    assert despeckler.last_network_shape == (128, 64)
    assert _banding_period(despeckler, frame) == (8.0, 16.0)
