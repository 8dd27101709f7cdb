"""What runs is what was verified: the ONNX export cache never runs a swapped, stale or edited file.

Real bundles, real exports, real ONNX Runtime. The two exports (dae_lite, dae_skip) are made once
per module into a pristine cache; each test works on its own copy of it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_despeckle.inference import Despeckler
from monai_despeckle.resolver import find_bundle
from monai_despeckle.runtime.onnx_cache import CACHE_ENV, cache_paths, export_settings

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

FRAMES = np.random.default_rng(0).random((2, 1, 45, 61), dtype=np.float32)


def _paths(method: str) -> tuple[Path, Path]:
    """The cache file and record the method's verified weights are keyed by (under $CACHE_ENV)."""
    bundle = find_bundle(method, kind="despeckle")
    network = Despeckler(method, device="cpu", backend="torch").method
    return cache_paths(export_settings(bundle.metadata["model_sha256"], network.size_multiple))


def _eager(method: str) -> np.ndarray:
    engine = Despeckler(method, device="cpu", backend="torch")
    return engine.method(torch.from_numpy(FRAMES)).numpy()


def _auto(method: str) -> tuple[Despeckler, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = Despeckler(method, device="cpu")
    return engine, [str(w.message) for w in caught]


def _run(engine: Despeckler) -> np.ndarray:
    return engine.method(torch.from_numpy(FRAMES)).numpy()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the exports of dae_lite and dae_skip, made by the code under test."""
    folder = tmp_path_factory.mktemp("pristine-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        for method in ("dae_lite", "dae_skip"):
            engine, messages = _auto(method)
            assert engine.backend == "onnx" and not messages
    return folder


@pytest.fixture
def cache(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    shutil.copytree(pristine, folder)
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _rewrite_record(record: Path, onnx_file: Path, **changes: object) -> None:
    """What an attacker with write access does: make the record agree with the file they planted."""
    import hashlib

    data = json.loads(record.read_text())
    data["onnx_sha256"] = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    data.update(changes)
    record.write_text(json.dumps(data))


def test_the_export_is_keyed_by_the_verified_weights_and_reused(cache):
    path, record = _paths("dae_lite")
    recorded = json.loads(record.read_text())
    assert recorded["weights_sha256"] == find_bundle("dae_lite").metadata["model_sha256"]
    assert recorded["opset"] and recorded["torch"] == torch.__version__
    stamp = path.stat().st_mtime_ns
    engine, messages = _auto("dae_lite")
    assert engine.backend == "onnx" and not messages
    assert path.stat().st_mtime_ns == stamp  # opened, not exported again
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4
    assert len(list(cache.glob("onnx/*.onnx"))) == 2  # one per verified network


def test_another_models_export_swapped_in_is_detected_and_rebuilt(cache):
    lite, lite_record = _paths("dae_lite")
    skip, _ = _paths("dae_skip")
    shutil.copyfile(skip, lite)  # dae_skip's export under dae_lite's name...
    _rewrite_record(lite_record, lite)  # ...and a record that agrees with it
    engine, messages = _auto("dae_lite")
    assert any("was not used" in m and "verified network" in m for m in messages), messages
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4  # dae_lite ran, not dae_skip
    assert np.abs(_run(engine) - _eager("dae_skip")).max() > 1e-3
    assert lite.read_bytes() != skip.read_bytes()  # the cache holds dae_lite's export again


def test_a_record_naming_other_weights_is_not_trusted(cache):
    lite, lite_record = _paths("dae_lite")
    skip, skip_record = _paths("dae_skip")
    shutil.copyfile(skip, lite)
    shutil.copyfile(skip_record, lite_record)  # the whole pair of another model
    engine, messages = _auto("dae_lite")
    assert any("other weights" in m for m in messages), messages
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4


def test_a_truncated_export_is_rebuilt(cache):
    path, record = _paths("dae_lite")
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2])
    _rewrite_record(record, path)
    engine, messages = _auto("dae_lite")
    assert any("was not used" in m for m in messages), messages
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4
    assert len(path.read_bytes()) == len(original)


def test_an_export_with_edited_weights_is_rebuilt(cache):
    path, record = _paths("dae_lite")
    model = onnx.load(str(path))
    tensor = next(t for t in model.graph.initializer if len(onnx.numpy_helper.to_array(t).shape) == 4)
    values = onnx.numpy_helper.to_array(tensor).copy()
    values.flat[0] += 0.5  # one convolution weight
    tensor.CopyFrom(onnx.numpy_helper.from_array(values, tensor.name))
    onnx.save(model, str(path))
    _rewrite_record(record, path)
    engine, messages = _auto("dae_lite")
    assert any("does not reproduce the verified network" in m for m in messages), messages
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4


def test_a_tampered_file_without_its_record_update_is_rebuilt(cache):
    path, _ = _paths("dae_lite")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    engine, messages = _auto("dae_lite")
    assert any("recorded checksum" in m for m in messages), messages
    assert np.abs(_run(engine) - _eager("dae_lite")).max() < 1e-4
