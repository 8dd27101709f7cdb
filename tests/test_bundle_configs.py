"""The bundles' ``train.json`` declare their training: change it there alone, run it with ``monai.bundle``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser
from test_segmentation import phantom_folder

from monai_despeckle.bundle_format import CHECKSUM_KEY, read_bundle, sha256_of, undefined_references
from monai_despeckle.resolver import load_network

REPO = Path(__file__).resolve().parents[1]
BUNDLES = sorted(p.name for p in (REPO / "bundles").iterdir() if (p / "configs" / "train.json").is_file())
QUIET = {"train#progress": False, "train#tensorboard": False, "train#plot": False}


def test_every_bundle_with_a_train_json_is_covered():
    assert len(BUNDLES) == 8
    assert {name.split("_")[0] for name in BUNDLES} == {"despeckle", "seg"}


def tiny_dae_parser(tmp_path: Path, **changes: object) -> ConfigParser:
    """The shipped DAE recipe for two small epochs (rate decayed in the second), with ``changes``."""
    parser = ConfigParser()
    parser.read_config(str(REPO / "bundles" / "despeckle_dae_skip" / "configs" / "train.json"))
    parser.update(
        {
            "bundle_root": str(REPO / "bundles" / "despeckle_dae_skip"),  # read only: nothing is installed
            "dataset_dir": "phantoms:breast",
            "output_dir": str(tmp_path / "run"),
            "device": "cpu",
            "train#phantom_count": 8,
            "train#val_fraction": 0.25,
            "train#patch_size": 32,
            "train#batch_size": 3,
            "train#max_epochs": 2,
            "train#lr_decay_epochs": 1,  # the recipe's schedule halves the rate in epoch 2
            "train#val_interval": 1,
            **QUIET,
            **changes,
        }
    )
    return parser


def test_the_loss_and_a_handler_are_swapped_in_train_json_alone(tmp_path):
    """L1 instead of MSE, a recording handler instead of the learning-rate decay: nothing else changed."""
    parser = tiny_dae_parser(
        tmp_path,
        loss={"_target_": "torch.nn.L1Loss"},
        handlers=[{"_target_": "recording_handlers.Recorder"}],
    )
    result = parser.get_parsed_content("result")
    recorder = parser.get_parsed_content("handlers")[0]
    assert len(recorder.losses) == 2 * 2  # 6 training phantoms in batches of 3, 2 epochs
    assert recorder.losses == pytest.approx(recorder.l1, rel=1e-5)  # the loss is L1 of the batch...
    assert all(abs(l1 - mse) > 1e-4 for l1, mse in zip(recorder.l1, recorder.mse, strict=True))  # not MSE
    assert set(recorder.rates) == {parser.get_parsed_content("train#lr")}  # the schedule is gone
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert result.history[-1]["train_loss"] == pytest.approx(sum(recorder.losses[2:]) / 2, rel=1e-5)
    assert (tmp_path / "run" / "model.pt").is_file() and (tmp_path / "run" / "history.csv").is_file()
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["workflow"] == "dae_skip" and record["config"]["max_epochs"] == 2


def test_the_recipe_schedule_runs_when_not_swapped(tmp_path):
    """The control of the swap test: the shipped handlers decay the rate, the loss is MSE."""
    parser = tiny_dae_parser(tmp_path, val_handlers=[{"_target_": "recording_handlers.Recorder"}])
    trainer = parser.get_parsed_content("trainer")
    assert isinstance(trainer.loss_function, torch.nn.MSELoss)
    parser.get_parsed_content("result")
    assert trainer.optimizer.param_groups[0]["lr"] < parser.get_parsed_content("train#lr")
    recorder = parser.get_parsed_content("val_handlers")[0]  # a handler added to the evaluator
    assert sum(recorder.batch_sizes) == 2 * 2 and not recorder.losses  # 2 validation images, 2 epochs


def test_the_networks_train_json_builds_load_the_shipped_weights_exactly():
    """train.json and inference.json build the one network.json: the shipped weights fit both, strictly."""
    for bundle in BUNDLES:
        root = REPO / "bundles" / bundle
        expected = torch.load(root / "models" / "model.pt", weights_only=True)
        for name in ("train.json", "inference.json"):
            parser = ConfigParser()
            parser.read_config(str(root / "configs" / name))
            parser["bundle_root"] = str(root)
            parser["network_def"].pop("_requires_", None)  # the network alone, without the run's data
            network = parser.get_parsed_content("network_def")
            network.load_state_dict(expected, strict=True)
            assert network.state_dict().keys() == expected.keys(), (bundle, name)
        assert sha256_of(root / "models" / "model.pt") == read_bundle(root).metadata[CHECKSUM_KEY]


def _tiny_settings(bundle: str, tmp_path: Path) -> list[str]:
    """``monai.bundle run`` arguments for one small epoch of ``bundle``'s own recipe."""
    common = {"train#max_epochs": 1, "train#batch_size": 2, "train#val_interval": 1, **QUIET}
    if bundle.startswith("seg_"):
        task = "breast" if "breast" in bundle else "carotid"
        data = phantom_folder(tmp_path / "data", acquisitions=3, frames=2, val_acquisitions=1, size=48)
        settings = {**common, "train#size": 32, "train#phantom_count": 2 if task == "carotid" else 0}
        if task == "breast":  # the carotid phantoms stand in for breast images: any mask will do here
            settings["train#task"] = "carotid"
    else:
        data = "phantoms:breast"
        patch = {"despeckle_pix2pix": 64, "despeckle_speckle2self": 64}.get(bundle, 32)
        settings = {**common, "train#phantom_count": 6, "train#patch_size": patch}
        recipe = json.loads((REPO / "bundles" / bundle / "configs" / "train.json").read_text())["train"]
        if recipe.get("lr_decay_epochs"):  # a decay cannot outlast the one epoch: it takes that epoch
            settings["train#lr_decay_epochs"] = 1
        if bundle == "despeckle_speckle2self":  # 64² phantoms have a grain of ~1.7 px: views of >= 0.5 px
            settings["views#min_view_grain"] = 0.5
    args = ["--dataset_dir", str(data), "--output_dir", str(tmp_path / "run"), "--device", "cpu"]
    for key, value in settings.items():
        args += [f"--{key}", repr(value)]  # fire reads Python literals
    return args


@pytest.mark.parametrize("bundle", BUNDLES)
def test_monai_bundle_run_trains_every_bundle_from_its_folder(bundle, tmp_path):
    """``python -m monai.bundle run --config_file configs/train.json`` run from the bundle's folder."""
    target = tmp_path / bundle
    shutil.copytree(REPO / "bundles" / bundle / "configs", target / "configs")
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command + _tiny_settings(bundle, tmp_path),
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in rows] == [1]
    assert (tmp_path / "run" / "model.pt").is_file()
    info = read_bundle(target)
    assert info.metadata[CHECKSUM_KEY] == sha256_of(target / "models" / "model.pt")
    # the installed weights fit the network inference.json builds: one network.json for both
    assert isinstance(load_network(target), torch.nn.Module)


SHIPPED_CONFIGS = [
    (bundle, path.name)
    for bundle in BUNDLES
    for path in sorted((REPO / "bundles" / bundle / "configs").glob("*.json"))
    if path.name not in ("metadata.json", "network.json")
]


@pytest.mark.parametrize(("bundle", "config"), SHIPPED_CONFIGS)
def test_every_reference_of_a_shipped_config_names_an_entry(bundle, config):
    """A run of the shipped recipe as it is (no overrides) finds every entry its configs refer to."""
    folder = REPO / "bundles" / bundle / "configs"
    merged: dict = {}
    base = [] if config in ("train.json", "inference.json") else ["train.json"]
    for name in [*base, config]:  # multi_gpu_train.json / evaluate.json extend train.json
        merged.update(json.loads((folder / name).read_text()))
    assert undefined_references(merged) == [], (bundle, config)


def test_undefined_references_names_each_missing_entry():
    config = {
        "train": {"lr": 0.1, "steps": [1, 2]},
        "optimizer": {"lr": "@train#lr", "first": "@train#steps#0", "third": "@train#steps#2"},
        "handlers": ["$@optimizer.zero_grad()", "@train#lr_decay_epochs", "@schedule"],
    }
    assert undefined_references(config) == ["schedule", "train#lr_decay_epochs", "train#steps#2"]


def test_train_refuses_a_recipe_with_a_missing_entry_before_any_work(tmp_path):
    bundle = tmp_path / "my_bundle"
    shutil.copytree(REPO / "bundles" / "despeckle_dae_lite", bundle)
    recipe = json.loads((bundle / "configs" / "train.json").read_text())
    del recipe["train"]["lr_decay_epochs"]  # the decay handler still refers to it
    (bundle / "configs" / "train.json").write_text(json.dumps(recipe))
    out = tmp_path / "new_bundle"
    command = [sys.executable, "-m", "monai_despeckle.cli", "train", str(bundle), "--data", "phantoms:breast"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "refers to entries it does not define: @train#lr_decay_epochs" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_bundle"]  # nothing staged or left behind
