"""ONNX / TorchScript export, the engine's backends, and the ``export`` command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_inference import TinyNet

from monai_despeckle import cli, io, methods
from monai_despeckle.errors import OutputPathError
from monai_despeckle.export import export_network
from monai_despeckle.inference import Despeckler, NetworkMethod
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.methods import MethodSpec
from monai_despeckle.runtime import load_backend
from monai_despeckle.runtime.conversion import TOLERANCE


@pytest.fixture
def image() -> UltrasoundImage:
    """Odd-sized frames (37 × 53): padding to the network's multiple of 4 is exercised."""
    values = np.random.default_rng(5).random((5, 37, 53), dtype=np.float32)
    return UltrasoundImage(values, kind=ImageKind.CINE, intensity=IntensityMapping("float32", 0.0, 1.0))


@pytest.fixture
def tiny_learned(monkeypatch):
    """A learned method ``tiny`` registered for the test only (the registry is restored after)."""
    spec = MethodSpec(
        "tiny", lambda: NetworkMethod(TinyNet(), "tiny", device="cpu"), "test net", "learned", True
    )
    monkeypatch.setitem(methods._REGISTRY, "tiny", spec)
    return spec


def test_onnx_export_has_dynamic_axes_and_matches_eager_torch(tmp_path, image):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    result = export_network(TinyNet(), tmp_path / "tiny.onnx", "onnx")
    assert result.max_abs_diff <= TOLERANCE["onnx"] == 1e-4
    model = onnx.load(str(result.path))
    assert max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")) >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [bool(dim.dim_param) for dim in dims] == [True, False, True, True]  # batch, 1, H, W
    assert {entry.key: entry.value for entry in model.metadata_props}["size_multiple"] == "4"
    # the engine runs the file through ONNX Runtime, padding 37 × 53 frames itself
    from_file = Despeckler(result.path, device="cpu").run(image).frames
    eager = Despeckler(TinyNet(), device="cpu").run(image).frames
    np.testing.assert_allclose(from_file, eager, rtol=0, atol=1e-4)


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_backends_match_eager_torch_within_their_tolerances(image, backend):
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
    eager = Despeckler(TinyNet(), device="cpu").run(image).frames
    engine = Despeckler(TinyNet(), device="cpu", backend=backend)
    assert engine.backend == backend and engine.method.backend.name == backend
    assert np.abs(engine.run(image).frames - eager).max() <= TOLERANCE[backend]


def test_torchscript_file_records_size_multiple_and_runs_anywhere(tmp_path, image):
    result = export_network(TinyNet(seed=3), tmp_path / "tiny.pt", "torchscript")
    assert result.max_abs_diff <= 1e-5
    backend, multiple = load_backend(result.path, torch.device("cpu"))
    assert multiple == 4 and backend.name == "torchscript"
    eager = Despeckler(TinyNet(seed=3), device="cpu").run(image).frames
    np.testing.assert_allclose(Despeckler(str(result.path)).run(image).frames, eager, rtol=0, atol=1e-5)


def test_export_refuses_to_overwrite_without_permission(tmp_path):
    out = tmp_path / "tiny.pt"
    out.write_bytes(b"earlier")
    with pytest.raises(OutputPathError, match="already exists"):
        export_network(TinyNet(), out, "torchscript")
    assert out.read_bytes() == b"earlier"


def test_export_command_with_weights_then_denoise_with_the_file(tmp_path, capsys, tiny_learned):
    weights = tmp_path / "weights.pt"
    torch.save(TinyNet(seed=7).state_dict(), weights)
    out = tmp_path / "tiny.pt"
    assert (
        cli.main(["export", "tiny", "--format", "torchscript", "--out", str(out), "--weights", str(weights)])
        == 0
    )
    assert "max |torchscript - torch|" in capsys.readouterr().out
    cine = UltrasoundImage(
        np.random.default_rng(0).random((4, 21, 30), dtype=np.float32),
        kind=ImageKind.CINE,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    source = io.save(cine, tmp_path / "cine.nii.gz")
    assert (
        cli.main(
            ["denoise", str(source), str(tmp_path / "out.nii.gz"), "--method", str(out), "--no-progress"]
        )
        == 0
    )
    expected = Despeckler(TinyNet(seed=7), device="cpu").run(
        io.load(source)
    )  # the loaded weights, not seed 0
    np.testing.assert_array_equal(io.load(tmp_path / "out.nii.gz").source_values(), expected.source_values())


@pytest.mark.parametrize("case", ["wrong_weights", "garbage_weights", "unknown_model", "classical"])
def test_export_user_errors_exit_2_and_write_nothing(tmp_path, capsys, tiny_learned, case):
    weights = tmp_path / "weights.pt"
    if case == "wrong_weights":
        torch.save({"conv.weight": torch.zeros(1, 1, 3, 3)}, weights)
    elif case == "garbage_weights":
        weights.write_bytes(b"not a torch file")
    model = {"unknown_model": "no_such_net", "classical": "median"}.get(case, "tiny")
    args = ["export", model, "--format", "torchscript", "--out", str(tmp_path / "model.pt")]
    if case.endswith("weights"):
        args += ["--weights", str(weights)]
    assert cli.main(args) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    expected = {
        "wrong_weights": "do not fit",
        "garbage_weights": "not a state_dict",
        "unknown_model": "no_such_net",
        "classical": "not a network",
    }[case]
    assert err.startswith("error:") and expected in err
    assert not (tmp_path / "model.pt").exists()


def test_export_a_network_by_name(tmp_path, capsys):
    pytest.importorskip("monai_despeckle.networks")
    out = tmp_path / "dae.pt"
    assert cli.main(["export", "dae_skip", "--format", "torchscript", "--out", str(out)]) == 0
    backend, multiple = load_backend(out, torch.device("cpu"))
    assert multiple >= 2 and "dae" in out.name
    frames = torch.rand(1, 1, 2 * multiple, 3 * multiple)
    assert backend(frames).shape == frames.shape
