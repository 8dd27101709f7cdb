"""The despeckling bundles: metadata verification, checksummed strict loading, configs that run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ckpt_export, verify_metadata

from monai_despeckle import io
from monai_despeckle.bundle_format import CHECKSUM_KEY, is_bundle_folder, read_bundle
from monai_despeckle.bundles import install_weights
from monai_despeckle.errors import BundleError
from monai_despeckle.inference import Despeckler
from monai_despeckle.networks import build_network
from monai_despeckle.resolver import available_methods, load_network

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "bundles" / "metadata_schema.json"
SHIPPED = [
    read_bundle(folder)
    for folder in sorted((REPO / "bundles").iterdir())
    if folder.name.startswith("despeckle_") and is_bundle_folder(folder)
]
SHIPPED_IDS = [b.name for b in SHIPPED]
CONFIGS = (
    "metadata.json",
    "network.json",
    "inference.json",
    "train.json",
    "evaluate.json",
    "multi_gpu_train.json",
)


def network_def(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / "configs" / "network.json").read_text())["network_def"]


def build_from_def(definition: dict) -> torch.nn.Module:
    kwargs = {k: v for k, v in definition.items() if k not in ("_target_", "name")}
    return build_network(definition["name"], **kwargs)


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    """The DAE bundle's configs in tmp_path with freshly initialised (installed) weights."""
    source = REPO / "bundles" / "despeckle_dae_skip"
    target = tmp_path / "despeckle_dae_skip"
    shutil.copytree(source / "configs", target / "configs")
    torch.manual_seed(0)
    weights = tmp_path / "trained.pt"
    torch.save(build_from_def(network_def(target)).state_dict(), weights)
    install_weights(weights, target)
    return target


def test_despeckling_bundles_ship_complete():
    shipped = {"despeckle_dae_skip", "despeckle_dae_lite", "despeckle_speckle2self", "despeckle_pix2pix"}
    assert shipped <= set(SHIPPED_IDS)
    for bundle in SHIPPED:
        for name in CONFIGS:
            assert (bundle.path / "configs" / name).is_file(), f"{bundle.name} lacks {name}"
        assert (bundle.path / "docs" / "README.md").is_file()


@pytest.mark.parametrize("bundle", SHIPPED, ids=SHIPPED_IDS)
def test_metadata_verifies_offline_against_the_kept_schema(bundle):
    verify_metadata(meta_file=str(bundle.path / "configs" / "metadata.json"), filepath=str(SCHEMA))


def test_verify_metadata_rejects_a_metadata_file_missing_required_keys(tmp_path):
    bad = tmp_path / "metadata.json"
    schema_url = json.loads(
        (REPO / "bundles" / "despeckle_dae_skip" / "configs" / "metadata.json").read_text()
    )
    bad.write_text(json.dumps({"schema": schema_url["schema"], "version": "0.1.0"}))
    with pytest.raises(Exception, match="is a required property"):
        verify_metadata(meta_file=str(bad), filepath=str(SCHEMA))


@pytest.mark.parametrize("bundle", SHIPPED, ids=SHIPPED_IDS)
def test_shipped_weights_match_checksum_and_load_strictly(bundle):
    weights = bundle.path / "models" / "model.pt"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == bundle.metadata[CHECKSUM_KEY]
    network = load_network(bundle)
    frames = torch.rand(1, 1, 45, 61)  # odd sizes: the engine pads to size_multiple and crops back
    out = Despeckler(network, device="cpu").run(io.UltrasoundImage(frames[0].numpy()))
    assert out.frames.shape == (1, 45, 61)
    assert np.isfinite(out.frames).all() and out.frames.min() >= 0 and out.frames.max() <= 1


def test_tampered_weights_are_refused(bundle_copy):
    weights = bundle_copy / "models" / "model.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        load_network(bundle_copy)


def test_missing_checksum_is_refused(bundle_copy):
    meta = bundle_copy / "configs" / "metadata.json"
    metadata = json.loads(meta.read_text())
    del metadata[CHECKSUM_KEY]
    meta.write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="model_sha256"):
        load_network(bundle_copy)


def test_weights_of_another_architecture_are_refused_strictly(bundle_copy, tmp_path):
    other = tmp_path / "other.pt"
    torch.save(build_network("dae_skip", features=[4, 8, 16]).state_dict(), other)
    install_weights(other, bundle_copy)  # checksum fine, shapes wrong
    with pytest.raises(BundleError, match="do not fit"):
        load_network(bundle_copy)


@pytest.mark.parametrize(
    "definition",
    [
        {"_target_": "os.system", "command": "echo pwned"},
        {"_target_": "monai_despeckle.networks.build_network", "name": "$__import__('os').getcwd()"},
        {"_target_": "monai_despeckle.networks.build_network", "name": "@other"},
    ],
)
def test_network_def_outside_the_allow_list_is_refused(bundle_copy, definition):
    config = bundle_copy / "configs" / "network.json"
    data = json.loads(config.read_text())
    data["network_def"] = definition
    config.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="refusing network_def"):
        load_network(bundle_copy)


def test_a_pickled_object_instead_of_a_state_dict_is_refused(bundle_copy, tmp_path):
    weights = bundle_copy / "models" / "model.pt"
    torch.save({"payload": Path("x")}, weights)  # not loadable with weights_only=True
    metadata = json.loads((bundle_copy / "configs" / "metadata.json").read_text())
    metadata[CHECKSUM_KEY] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (bundle_copy / "configs" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="cannot load weights"):
        load_network(bundle_copy)


def test_install_weights_records_the_checksum_and_keeps_metadata(bundle_copy):
    info = read_bundle(bundle_copy)
    assert (
        info.metadata[CHECKSUM_KEY]
        == hashlib.sha256((bundle_copy / "models/model.pt").read_bytes()).hexdigest()
    )
    original = json.loads((REPO / "bundles/despeckle_dae_skip/configs/metadata.json").read_text())
    assert {k: v for k, v in info.metadata.items() if k != CHECKSUM_KEY} == {
        k: v for k, v in original.items() if k != CHECKSUM_KEY
    }


def test_inference_config_runs_with_monai_bundle_on_a_folder(bundle_copy, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for index, shape in enumerate([(40, 52), (33, 64)]):
        io.save(io.UltrasoundImage(rng.random(shape, dtype=np.float32)), inputs / f"frame{index}.png")
    out = tmp_path / "outputs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            str(bundle_copy / "configs" / "inference.json"),
            "--bundle_root",
            str(bundle_copy),
            "--dataset_dir",
            str(inputs),
            "--output_dir",
            str(out),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for index, shape in enumerate([(40, 52), (33, 64)]):
        written = io.load(out / f"frame{index}.png")
        assert written.frames.shape[-2:] == shape
        assert not np.array_equal(written.frames, io.load(inputs / f"frame{index}.png").frames)


def test_ckpt_export_writes_torchscript_that_matches_eager(bundle_copy):
    target = bundle_copy / "models" / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(target),
        ckpt_file=str(bundle_copy / "models" / "model.pt"),
        meta_file=str(bundle_copy / "configs" / "metadata.json"),
        config_file=str(bundle_copy / "configs" / "inference.json"),
        bundle_root=str(bundle_copy),
    )
    scripted = torch.jit.load(str(target), map_location="cpu")
    eager = load_network(bundle_copy)
    frames = torch.rand(2, 1, 64, 96)
    with torch.inference_mode():
        assert torch.allclose(scripted(frames), eager(frames), atol=1e-5)


def test_trained_bundles_on_the_search_path_are_learned_methods(bundle_copy, tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(bundle_copy, root / "despeckle_copytest")
    shutil.copytree(bundle_copy / "configs", root / "despeckle_untrained" / "configs")  # no weights
    monkeypatch.setenv("MONAI_DESPECKLE_BUNDLES", str(root))
    methods = available_methods()
    assert "untrained" not in methods
    spec = methods["copytest"]
    assert spec.family == "learned" and spec.gpu and spec.source == "user folder"
    assert methods["dae_skip"].source == "shipped"  # the shipped bundles come after the user's
    method = spec.factory(device="cpu")
    assert method(torch.rand(1, 1, 24, 40)).shape == (1, 1, 24, 40)
    out = Despeckler("copytest", device="cpu").run(io.UltrasoundImage(np.random.rand(3, 20, 30)))
    assert out.frames.shape == (3, 20, 30)


def test_search_path_is_user_folders_in_order_then_the_shipped_bundles(bundle_copy, tmp_path, monkeypatch):
    from monai_despeckle.resolver import bundle_search_path, find_bundle, list_bundles, shipped_bundles_root

    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(bundle_copy, first / "despeckle_dae_skip")  # stands in for the shipped one
    shutil.copytree(bundle_copy, second / "despeckle_dae_skip")
    alone = tmp_path / "despeckle_solo"  # a search-path entry that is itself a bundle
    shutil.copytree(bundle_copy, alone)
    monkeypatch.setenv("MONAI_DESPECKLE_BUNDLES", os.pathsep.join(map(str, (first, second, alone))))
    assert [source for _, source in bundle_search_path()] == ["user folder"] * 3 + ["shipped"]
    assert bundle_search_path()[-1][0] == shipped_bundles_root() == (REPO / "bundles").resolve()
    assert find_bundle("dae_skip").path == first / "despeckle_dae_skip"  # the first wins
    assert find_bundle("despeckle_dae_skip", kind="despeckle").source == "user folder"
    assert find_bundle("solo").path == alone
    names = [bundle.name for bundle in list_bundles()]
    assert names.count("despeckle_dae_skip") == 1 and "seg_carotid" in names
    assert [b.name for b in list_bundles("segment")] == [n for n in names if n.startswith("seg_")]
    assert find_bundle(str(second / "despeckle_dae_skip")).source == "folder"  # named explicitly
    with pytest.raises(BundleError, match=r"no segmentation bundle 'dae_skip'.*seg_carotid"):
        find_bundle("dae_skip", kind="segment")
