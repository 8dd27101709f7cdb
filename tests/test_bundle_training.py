"""``monai-despeckle train`` / ``adapt`` and each bundle's ``evaluate.json``, on tiny real runs."""

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_despeckle import io
from monai_despeckle.bundle_format import read_bundle
from monai_despeckle.bundle_training import make_split, train_bundle
from monai_despeckle.bundles import install_weights
from monai_despeckle.cli import main
from monai_despeckle.data import datalists
from monai_despeckle.engines import train_dae
from monai_despeckle.errors import BundleError, InvalidParameterError, OutputPathError
from monai_despeckle.inference import Despeckler
from monai_despeckle.networks import build_network
from monai_despeckle.resolver import load_network
from monai_despeckle.runtime.scale import TrainedGrain

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "data" / "real_us_samples" / "images"
TINY_DAE = [
    "--epochs",
    "2",
    "--set",
    "train#phantom_count=6",
    "--set",
    "train#patch_size=32",
    "--set",
    "network_def#features=[4, 8, 16]",
    "--set",
    "train#progress=false",
    "--set",
    "train#tensorboard=false",
]
TINY_S2S = [4, 8, 16, 32]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def speckle2self_bundle(tmp_path: Path) -> Path:
    """The Speckle2Self bundle's configs with narrow, randomly initialised installed weights."""
    bundle = tmp_path / "despeckle_speckle2self"
    shutil.copytree(REPO / "bundles" / "despeckle_speckle2self" / "configs", bundle / "configs")
    path = bundle / "configs" / "network.json"  # what inference.json and train.json both build
    config = json.loads(path.read_text())
    config["network_def"]["features"] = TINY_S2S
    path.write_text(json.dumps(config, indent=4))
    torch.manual_seed(0)
    weights = tmp_path / "random.pt"
    torch.save(build_network("speckle2self", features=TINY_S2S).state_dict(), weights)
    install_weights(weights, bundle)
    return bundle


def test_train_writes_a_new_verified_bundle_and_leaves_the_source_alone(tmp_path, capsys):
    source = REPO / "bundles" / "despeckle_dae_skip"
    before = tree_digest(source / "configs")
    out = tmp_path / "my_dae"
    assert main(["train", "dae_skip", "--data", "phantoms:breast", "--out", str(out), *TINY_DAE]) == 0
    assert tree_digest(source / "configs") == before
    bundle = read_bundle(out)
    weights = out / "models" / "model.pt"
    assert bundle.metadata["model_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert bundle.metadata["version"].endswith("+my_dae")
    # the grain of what it was trained on, which inference resamples frames to, is re-measured
    grain = TrainedGrain.from_metadata(bundle.metadata)
    assert grain is not None and "phantoms:breast" in grain.measured_on
    assert grain.measured_on != TrainedGrain.from_metadata(read_bundle(source).metadata).measured_on
    # the overridden width reached inference.json: the new bundle loads strictly and runs
    network = load_network(out)
    assert sum(p.numel() for p in network.parameters()) == sum(
        p.numel() for p in build_network("dae_skip", features=[4, 8, 16]).parameters()
    )
    frames = Despeckler(str(out), device="cpu").run(io.UltrasoundImage(np.random.rand(2, 20, 28)))
    assert frames.frames.shape == (2, 20, 28)
    history = list(csv.DictReader((out / "runs" / "train" / "history.csv").open()))
    assert [row["epoch"] for row in history] == ["1", "2"]
    assert "features" in (out / "docs" / "README.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["my_dae"]  # no staging folder left behind
    assert "my_dae" in capsys.readouterr().out


def test_train_refuses_an_existing_output_and_missing_data(tmp_path):
    existing = tmp_path / "taken"
    existing.mkdir()
    with pytest.raises(OutputPathError, match="already exists"):
        train_bundle("dae_skip", "phantoms:breast", existing)
    assert main(["train", "dae_skip", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 2
    assert main(["train", "no_such_bundle", "--data", "phantoms:breast", "--out", str(tmp_path / "b")]) == 2
    assert (
        main(
            ["train", "dae_skip", "--data", "phantoms:breast", "--out", str(tmp_path / "b"), "--set", "x=$1"]
        )
        == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_failed_training_leaves_nothing(tmp_path):
    out = tmp_path / "broken"
    with pytest.raises(InvalidParameterError):  # patch too small for the network: fails inside train.json
        train_bundle(
            "dae_skip",
            "phantoms:breast",
            out,
            overrides={"train#phantom_count": 4, "train#patch_size": 4, "train#progress": False},
        )
    assert list(tmp_path.iterdir()) == []


def test_make_split_is_deterministic_disjoint_and_complete(tmp_path):
    for index in range(25):
        io.save(io.UltrasoundImage(np.full((8, 8), index / 30, np.float32)), tmp_path / f"f{index:02d}.png")
    split = make_split(tmp_path, 0.1)
    assert split == make_split(tmp_path, 0.1)
    assert not set(split["train"]) & set(split["val"])
    assert sorted(split["train"] + split["val"]) == sorted(p.name for p in tmp_path.iterdir())
    assert len(split["val"]) == 2
    empty = tmp_path / "one"
    empty.mkdir()
    io.save(io.UltrasoundImage(np.zeros((8, 8), np.float32)), empty / "only.png")
    with pytest.raises(Exception, match="at least 2 images"):
        make_split(empty)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="needs ../shared/data/real_us_samples")
def test_adapt_fine_tunes_speckle2self_on_unlabelled_scans(tmp_path, speckle2self_bundle, capsys):
    scans = tmp_path / "my_scans"
    shutil.copytree(SAMPLES, scans)
    before_scans = tree_digest(scans)
    before_source = tree_digest(speckle2self_bundle)
    out = tmp_path / "adapted"
    args = [
        "adapt",
        str(speckle2self_bundle),
        "--data",
        str(scans),
        "--out",
        str(out),
        "--val-fraction",
        "0.34",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--set",
        "train#patch_size=64",
        "--set",
        "train#progress=false",
        "--set",
        "train#tensorboard=false",
        "--set",
        "train#val_interval=1",
    ]
    assert main(args) == 0
    assert tree_digest(scans) == before_scans and tree_digest(speckle2self_bundle) == before_source
    split = json.loads((out / "docs" / "split.json").read_text())
    names = sorted(p.name for p in SAMPLES.iterdir())
    assert split == {"train": [n for n in names if n not in names[2::3]], "val": names[2::3]}
    config = json.loads((out / "runs" / "train" / "config.json").read_text())["config"]
    assert config["init_weights"].endswith("models/model.pt") and config["patch_mode"] == "crop"
    start = torch.load(speckle2self_bundle / "models" / "model.pt", weights_only=True)
    adapted = torch.load(out / "models" / "model.pt", weights_only=True)
    assert start.keys() == adapted.keys()
    assert any(not torch.equal(start[k], adapted[k]) for k in start)  # it trained
    assert (
        "fine-tuned self-supervised"
        in read_bundle(out).metadata["changelog"][read_bundle(out).metadata["version"]]
    )
    grain = TrainedGrain.from_metadata(read_bundle(out).metadata)
    assert grain is not None and grain.measured_on.endswith(f"{scans} at 64 px")
    assert grain.pixel_mm is None  # real scans: no known pixel size
    image = SAMPLES / sorted(p.name for p in SAMPLES.iterdir())[0]
    assert main(["denoise", str(image), str(tmp_path / "clean.png"), "--method", str(out)]) == 0
    assert (tmp_path / "clean.png").is_file()
    assert "adapted bundle" in capsys.readouterr().out


def test_adapt_refuses_a_supervised_bundle(tmp_path, capsys):
    assert main(["adapt", "dae_skip", "--data", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "monai-despeckle train" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_init_weights_of_another_architecture_are_refused(tmp_path):
    weights = tmp_path / "other.pt"
    torch.save(build_network("dae_skip", features=[4, 8, 16]).state_dict(), weights)
    with pytest.raises(BundleError, match="do not fit"):
        train_dae(
            output_dir=str(tmp_path / "run"),
            data="phantoms:breast",
            phantom_count=4,
            patch_size=32,
            model={"features": [8, 16, 32]},
            init_weights=str(weights),
            device="cpu",
            progress=False,
        )


def test_mixed_phantoms_alternate_the_anatomies():
    lists = datalists("phantoms:mixed", size=32, phantom_count=4, val_fraction=0.25)
    breast = datalists("phantoms:breast", size=32, phantom_count=4, val_fraction=0.25)
    carotid = datalists("phantoms:carotid", size=32, phantom_count=4, val_fraction=0.25)
    entries = lists.train + lists.val
    assert np.array_equal(entries[0]["image"], (breast.train + breast.val)[0]["image"])
    assert np.array_equal(entries[1]["image"], (carotid.train + carotid.val)[1]["image"])


def test_evaluate_config_scores_the_bundle_beside_baselines(tmp_path, speckle2self_bundle):
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(speckle2self_bundle / "configs" / "evaluate.json"),
            "--bundle_root",
            str(speckle2self_bundle),
            "--dataset_dir",
            "sim:carotid",
            "--n",
            "2",
            "--size",
            "64",
            "--baselines",
            "['none', 'median']",
            "--output_dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted({row["method"] for row in rows}) == ["median", "none", "speckle2self"]
    assert len(rows) == 6 and all(float(row["psnr"]) > 0 for row in rows)
    assert (out / "summary.md").is_file() and (out / "comparison.png").is_file()


def test_overriding_the_epochs_keeps_the_recipes_share_of_learning_rate_decay():
    from monai_despeckle.bundle_training import _scaled_lr_decay

    bundle = read_bundle(REPO / "bundles" / "despeckle_dae_skip")  # 110 epochs, decay over the last 40
    assert _scaled_lr_decay(bundle, {"train#max_epochs": 11}) == {"train#lr_decay_epochs": 4}
    assert _scaled_lr_decay(bundle, {"train#max_epochs": 2}) == {"train#lr_decay_epochs": 1}
    assert _scaled_lr_decay(bundle, {"train#max_epochs": 11, "train#lr_decay_epochs": 0}) == {}
    assert _scaled_lr_decay(bundle, {"train#batch_size": 4}) == {}
