"""Downstream segmentation: data split, training workflow, Segmenter, label-map files, statistics."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import wilcoxon

from monai_despeckle import io
from monai_despeckle.bundles import install_weights
from monai_despeckle.cli import main
from monai_despeckle.data.frames import read_mask
from monai_despeckle.errors import BundleError, InputNotFoundError, InvalidParameterError
from monai_despeckle.networks import segmentation_unet
from monai_despeckle.segmentation import Segmenter, get_task, train_segmenter
from monai_despeckle.segmentation.data import (
    acquisition_of,
    segmentation_datalists,
    segmentation_transform,
)
from monai_despeckle.segmentation.files import segment_file
from monai_despeckle.segmentation.statistics import mean_std, paired_comparison, segmentation_scores
from monai_despeckle.simulation import simulate_carotid

REPO = Path(__file__).resolve().parents[1]
CAROTID = get_task("carotid")


def phantom_folder(root: Path, acquisitions: int, frames: int, val_acquisitions: int, size: int = 96) -> Path:
    """A CCAUI-like folder of carotid phantoms: images/, masks/<stem>_mask.png, split.json by acquisition."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    split: dict[str, list[str]] = {"train": [], "val": []}
    for a in range(acquisitions):
        for f in range(frames):
            sample = simulate_carotid(size=size, seed=100 * a + f)
            name = f"acq{a:02d}_slice_{f:03d}"
            io.save(io.UltrasoundImage(sample.bmode), root / "images" / f"{name}.png")
            mask = sample.masks["lumen"].astype(np.float32)
            io.save(io.UltrasoundImage(mask), root / "masks" / f"{name}_mask.png")
            split["val" if a < val_acquisitions else "train"].append(f"{name}.png")
    (root / "split.json").write_text(json.dumps(split))
    return root


def test_hold_out_keeps_whole_acquisitions_on_one_side_and_never_reads_val(tmp_path):
    folder = phantom_folder(tmp_path / "data", acquisitions=5, frames=4, val_acquisitions=1)
    lists = segmentation_datalists(folder, CAROTID, val_fraction=0.25, seed=3)
    val_split = set(json.loads((folder / "split.json").read_text())["val"])
    used = {e["name"] for e in lists.train + lists.val}
    assert not {n + ".png" for n in used} & val_split  # the evaluation split is never touched
    train_groups = {acquisition_of(e["name"], "_slice_") for e in lists.train}
    val_groups = {acquisition_of(e["name"], "_slice_") for e in lists.val}
    assert train_groups and val_groups and not train_groups & val_groups
    assert len(lists.val) == 4  # one acquisition of four frames: 25 % of the 16 training frames


def test_missing_mask_is_a_clear_error(tmp_path):
    folder = phantom_folder(tmp_path / "data", acquisitions=2, frames=2, val_acquisitions=0)
    next((folder / "masks").iterdir()).unlink()
    with pytest.raises(InputNotFoundError, match="no mask"):
        segmentation_datalists(folder, CAROTID)


def test_training_pipeline_keeps_image_and_label_aligned_and_labels_integral(tmp_path):
    folder = phantom_folder(tmp_path / "data", acquisitions=2, frames=2, val_acquisitions=0)
    lists = segmentation_datalists(folder, CAROTID, val_fraction=0.5)
    transform = segmentation_transform(CAROTID, 64, train=True)
    transform.set_random_state(0)
    checked = 0
    for entry in lists.train:
        item = transform(dict(entry))
        assert item["image"].shape == item["label"].shape == (1, 64, 64)
        assert set(torch.unique(item["label"]).tolist()) <= {0.0, 1.0}
        assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0
        # the lumen is dark: inside the label the image is darker than outside
        inside = item["image"][item["label"] > 0]
        if inside.numel() > 20:
            assert float(inside.mean()) < float(item["image"][item["label"] == 0].mean())
            checked += 1
    assert checked >= 1


def test_segmentation_network_overfits_one_batch():
    torch.manual_seed(0)
    sample = simulate_carotid(size=64, seed=1)
    x = torch.from_numpy(sample.bmode[None, None].astype(np.float32))
    y = torch.from_numpy(sample.masks["lumen"][None, None].astype(np.float32))
    network = segmentation_unet(channels=(8, 16, 32), dropout=0.0)
    from monai.losses import DiceCELoss

    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = loss_fn(network(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    network.eval()
    prediction = network(x).argmax(1)[0].numpy()
    assert segmentation_scores(prediction, sample.masks["lumen"])["dice"] > 0.8


def test_training_workflow_runs_two_iterations_and_checkpoints(tmp_path):
    folder = phantom_folder(tmp_path / "data", acquisitions=3, frames=3, val_acquisitions=1)
    result = train_segmenter(
        task="carotid",
        data=str(folder),
        output_dir=str(tmp_path / "run"),
        size=32,
        batch_size=3,
        max_epochs=1,
        val_interval=1,
        model={"channels": [8, 16, 32]},
        tensorboard=False,
        progress=False,
    )
    assert result.epochs == 1 and result.best_checkpoint is not None
    assert 0.0 <= result.best_metric <= 1.0
    assert {"train_loss", "val_dice", "val_hd95"} <= set(result.history[0])
    state = torch.load(result.best_checkpoint, weights_only=True)
    segmentation_unet(channels=(8, 16, 32)).load_state_dict(state, strict=True)
    split = json.loads((tmp_path / "run" / "split_used.json").read_text())
    assert split["train"] and split["checkpoint_selection"]


def test_bad_training_options_are_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match="unknown segmentation training option"):
        train_segmenter(task="carotid", data=str(tmp_path), colour="red")
    with pytest.raises(InvalidParameterError, match="unknown segmentation task"):
        train_segmenter(task="liver", data=str(tmp_path))


# --- statistics ---------------------------------------------------------------------------------


def test_dice_and_hd95_on_a_constructed_case():
    truth = np.zeros((40, 40), np.uint8)
    truth[10:30, 10:30] = 1
    half = np.zeros_like(truth)
    half[10:30, 10:20] = 1
    scores = segmentation_scores(half, truth)
    assert scores["dice"] == pytest.approx(2 * 200 / (200 + 400))
    assert scores["hd95"] == pytest.approx(10.0, abs=1.0)  # the missing half is 10 px wide
    assert scores["predicted_area"] == 200 and scores["true_area"] == 400
    empty = np.zeros_like(truth)
    assert segmentation_scores(empty, empty)["dice"] == 1.0
    assert segmentation_scores(half, empty)["dice"] == 0.0
    assert math.isnan(segmentation_scores(half, empty)["hd95"])
    # spacing scales HD95 into physical units
    assert segmentation_scores(half, truth, spacing=(0.5, 0.5))["hd95"] == pytest.approx(scores["hd95"] / 2)


def test_paired_comparison_matches_the_exact_wilcoxon_test():
    reference = [0.70, 0.80, 0.60, 0.75, 0.65, 0.72, 0.81, 0.59, 0.66, 0.74]
    better = [r + 0.01 * (i + 1) for i, r in enumerate(reference)]  # all ten differences positive
    result = paired_comparison(better, reference)
    assert result.n == 10
    assert result.mean_difference == pytest.approx(0.055)
    assert result.p_value == pytest.approx(2 / 2**10)  # exact: only the all-positive sign pattern
    shifts = [0.02, -0.01, 0.03, -0.02, 0.01, 0.0, 0.04, -0.03, 0.02, 0.01]
    mixed = [r + d for r, d in zip(reference, shifts, strict=True)]
    expected = wilcoxon(np.subtract(mixed, reference), zero_method="wilcox")
    assert paired_comparison(mixed, reference).p_value == pytest.approx(expected.pvalue)
    assert paired_comparison(reference, reference).p_value == 1.0
    nan_pair = paired_comparison([0.5, math.nan, 0.7], [0.4, 0.5, 0.6])
    assert nan_pair.n == 2
    with pytest.raises(ValueError):
        paired_comparison([0.1], [0.1, 0.2])


def test_mean_std_ignores_nan():
    assert mean_std([1.0, math.nan, 3.0]) == (2.0, pytest.approx(math.sqrt(2)), 2)
    assert mean_std([math.nan])[2] == 0


# --- the shipped segmentation bundles -----------------------------------------------------------


def test_unknown_segmenter_is_a_clear_error():
    with pytest.raises(BundleError, match="no segmentation bundle"):
        Segmenter("liver")


@pytest.mark.parametrize("task", ["breast", "carotid"])
def test_segmenter_returns_masks_with_the_input_shape_for_odd_sizes_and_volumes(task):
    segmenter = Segmenter(task, device="cpu")
    frames = np.random.default_rng(0).random((3, 45, 61), dtype=np.float32)
    labels = segmenter.predict(frames)
    assert labels.shape == (3, 45, 61) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, *segmenter.labels.values()}
    volume = io.UltrasoundImage(frames, spacing=(2.0, 0.5, 0.4), kind="volume")
    along = segmenter.run(volume, axis=2)
    assert along.shape == frames.shape


def test_carotid_segmenter_finds_the_lumen_of_a_phantom():
    sample = simulate_carotid(size=256, seed=5)
    labels = Segmenter("carotid", device="cpu").predict(sample.bmode)
    assert segmentation_scores(labels, sample.masks["lumen"])["dice"] > 0.6


def test_segment_cli_writes_label_maps_with_the_input_geometry(tmp_path):
    sample = simulate_carotid(size=96, seed=2)
    volume = io.UltrasoundImage(
        np.stack([sample.bmode] * 3), spacing=(1.5, 0.2, 0.25), origin=(4.0, -3.0, 2.0), kind="volume"
    )
    source = tmp_path / "volume.nii.gz"
    io.save(volume, source)
    out = tmp_path / "labels.nii.gz"
    assert main(["segment", str(source), str(out), "--task", "carotid", "--device", "cpu"]) == 0
    written = io.load(out)
    assert written.frames.shape == (3, 96, 96)
    assert written.spacing == pytest.approx(io.load(source).spacing)
    assert written.origin == pytest.approx(io.load(source).origin)
    values = np.unique(written.source_values())
    assert set(values.tolist()) <= {0, 1} and 1 in values
    # DICOM is refused as a label-map output, and nothing is written
    assert main(["segment", str(source), str(tmp_path / "labels.dcm"), "--task", "carotid"]) == 2
    assert not (tmp_path / "labels.dcm").exists()
    # a missing input is a clear error
    assert main(["segment", str(tmp_path / "nope.png"), str(tmp_path / "x.png")]) == 2


def test_segmenting_a_cine_file_streams_chunks_and_matches_the_whole_stack(tmp_path, monkeypatch):
    frames = np.stack([simulate_carotid(size=96, seed=seed).bmode for seed in range(5)]).astype(np.float32)
    cine = io.UltrasoundImage(frames, spacing=(0.04, 0.2, 0.25), kind="cine", frame_time_ms=40.0)
    source = tmp_path / "cine.nii.gz"
    io.save(cine, source)
    segmenter = Segmenter("seg_carotid_dae_skip", device="cpu", batch_size=2)  # despeckles first
    expected = segmenter.predict(io.load(source).frames)
    seen: list[int] = []
    label_frames = Segmenter._label_frames

    def record(self, chunk, bar):
        seen.append(len(chunk))
        return label_frames(self, chunk, bar)

    monkeypatch.setattr(Segmenter, "_label_frames", record)
    out = segment_file(segmenter, source, tmp_path / "cine_seg.nii.gz", chunk_frames=2)
    assert seen == [2, 2, 1]  # never more than one chunk of frames at a time
    written, reopened = io.load(out), io.load(source)
    assert np.array_equal(written.source_values(), expected) and 1 in expected
    assert written.kind == reopened.kind == "cine"
    assert written.spacing == pytest.approx(reopened.spacing)
    assert written.frame_time_ms == pytest.approx(reopened.frame_time_ms)
    with pytest.raises(InvalidParameterError, match="chunk_frames"):
        segment_file(segmenter, source, tmp_path / "other_seg.nii.gz", chunk_frames=0)
    assert not (tmp_path / "other_seg.nii.gz").exists()


def test_segment_eval_end_to_end_on_a_small_set(tmp_path, capsys):
    folder = phantom_folder(tmp_path / "data", acquisitions=2, frames=2, val_acquisitions=1, size=128)
    out = tmp_path / "report"
    args = [
        "segment-eval",
        "--task",
        "carotid",
        "--data",
        str(folder),
        "--despecklers",
        "none,median,dae_skip",
    ]
    assert main([*args, "--device", "cpu", "--out", str(out)]) == 0
    rows = (out / "results.csv").read_text().splitlines()
    # 2 val images × (test_time: none, median, dae_skip + trained: none, dae_skip if shipped)
    trained_dae = (REPO / "bundles" / "seg_carotid_dae_skip" / "models" / "model.pt").is_file()
    assert len(rows) - 1 == 2 * (3 + 1 + int(trained_dae))
    summary = (out / "summary.md").read_text()
    assert "Way (a)" in summary and "Way (b)" in summary and "Wilcoxon" in summary
    assert "median" in summary.split("No segmenter trained on the output of:")[1]
    assert (out / "overlays.png").stat().st_size > 1000
    # a report folder is never overwritten by accident, and bad input writes nothing
    assert main([*args, "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (
        main(
            [
                "segment-eval",
                "--task",
                "carotid",
                "--data",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "r2"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("bundle", ["seg_breast_lesion", "seg_carotid"])
def test_tampered_segmentation_weights_are_refused(bundle, tmp_path):
    copy = tmp_path / bundle
    shutil.copytree(REPO / "bundles" / bundle / "configs", copy / "configs")
    shutil.copytree(REPO / "bundles" / bundle / "models", copy / "models")
    Segmenter(copy, device="cpu")  # the intact copy loads
    weights = copy / "models" / "model.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        Segmenter(copy, device="cpu")


def test_install_weights_makes_a_retrained_segmentation_bundle_loadable(tmp_path):
    copy = tmp_path / "seg_carotid"
    shutil.copytree(REPO / "bundles" / "seg_carotid" / "configs", copy / "configs")
    torch.manual_seed(0)
    weights = tmp_path / "trained.pt"
    torch.save(segmentation_unet(out_channels=2).state_dict(), weights)
    install_weights(weights, copy)
    assert Segmenter(copy, device="cpu").labels == {"lumen": 1}


def test_segmenter_warns_when_its_despeckler_was_retrained(tmp_path):
    from monai_despeckle.bundles import CHECKSUM_KEY, DESPECKLER_CHECKSUM_KEY, read_bundle
    from monai_despeckle.networks import build_network

    despeckler = tmp_path / "despeckle_mine"
    shutil.copytree(REPO / "bundles" / "despeckle_dae_skip" / "configs", despeckler / "configs")
    shutil.copytree(REPO / "bundles" / "despeckle_dae_skip" / "models", despeckler / "models")
    segmenter = tmp_path / "seg_mine"
    shutil.copytree(REPO / "bundles" / "seg_carotid" / "configs", segmenter / "configs")
    config = json.loads((segmenter / "configs" / "inference.json").read_text())
    config["despeckler"] = str(despeckler)
    (segmenter / "configs" / "inference.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    torch.save(segmentation_unet(out_channels=2).state_dict(), tmp_path / "seg.pt")
    install_weights(tmp_path / "seg.pt", segmenter)
    recorded = read_bundle(segmenter).metadata[DESPECKLER_CHECKSUM_KEY]
    assert recorded == read_bundle(despeckler).metadata[CHECKSUM_KEY]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pinned weights are the installed ones: no warning
        Segmenter(segmenter, device="cpu")
    torch.save(build_network("dae_skip", features=[12, 24, 48]).state_dict(), tmp_path / "dae.pt")
    install_weights(tmp_path / "dae.pt", despeckler)  # the despeckler is retrained
    assert read_bundle(despeckler).metadata[CHECKSUM_KEY] != recorded
    with pytest.warns(UserWarning, match="was trained on the output of"):
        Segmenter(segmenter, device="cpu")


def test_reference_masks_are_read_as_binary():
    mask_file = next((REPO.parent / "shared" / "data" / "ccaui" / "masks").glob("*.png"), None)
    if mask_file is None:
        pytest.skip("shared CCAUI data not available")
    mask = read_mask(mask_file)
    assert mask.dtype == bool and 0 < mask.mean() < 0.5


SEG_BUNDLES = ["seg_breast_lesion", "seg_breast_lesion_dae_skip", "seg_carotid", "seg_carotid_dae_skip"]


@pytest.mark.parametrize("bundle", SEG_BUNDLES)
def test_segmentation_bundles_verify_offline_and_ship_checksummed_weights(bundle):
    from monai.bundle import verify_metadata

    from monai_despeckle.bundles import CHECKSUM_KEY, read_bundle, sha256_of

    folder = REPO / "bundles" / bundle
    verify_metadata(
        meta_file=str(folder / "configs" / "metadata.json"),
        filepath=str(REPO / "bundles" / "metadata_schema.json"),
    )
    for name in ("network.json", "inference.json", "train.json", "evaluate.json"):
        assert (folder / "configs" / name).is_file()
    assert (folder / "docs" / "README.md").is_file() and (folder / "docs" / "training_curve.png").is_file()
    weights = folder / "models" / "model.pt"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    assert sha256_of(weights) == read_bundle(folder).metadata[CHECKSUM_KEY]
    inference = json.loads((folder / "configs" / "inference.json").read_text())
    train = json.loads((folder / "configs" / "train.json").read_text())
    # both build the one network.json definition: the shipped weights fit what trained them
    shared = {"_target_": "monai_despeckle.bundles.network_def", "bundle": "@bundle_root"}
    assert inference["network_def"] == shared
    assert {k: v for k, v in train["network_def"].items() if k != "_requires_"} == shared
    assert inference["despeckler"] == train["train"]["despeckler"]
    if inference["despeckler"]:  # trained on the output of the despeckler that ships beside it
        from monai_despeckle.bundles import DESPECKLER_CHECKSUM_KEY, despeckler_checksum

        pinned = read_bundle(folder).metadata[DESPECKLER_CHECKSUM_KEY]
        assert pinned == despeckler_checksum(inference["despeckler"])


def test_segmentation_inference_config_runs_with_monai_bundle_on_a_folder(tmp_path):
    import subprocess
    import sys

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shapes = [(90, 110), (77, 64)]
    for index, shape in enumerate(shapes):
        sample = simulate_carotid(size=max(shape), seed=index)
        io.save(io.UltrasoundImage(sample.bmode[: shape[0], : shape[1]]), inputs / f"frame{index}.png")
    out = tmp_path / "labels"
    bundle = REPO / "bundles" / "seg_carotid"
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(bundle / "configs" / "inference.json"),
    ]
    command += [
        "--bundle_root",
        str(bundle),
        "--dataset_dir",
        str(inputs),
        "--output_dir",
        str(out),
        "--device",
        "cpu",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    for index, shape in enumerate(shapes):
        written = io.load(out / f"frame{index}_seg.png")
        assert written.frames.shape[-2:] == shape
        assert set(np.unique(written.source_values()).tolist()) <= {0, 1}
