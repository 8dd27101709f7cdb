"""Exported model files that lie (bad ``size_multiple``) or misbehave (change the frame shape).

``denoise --method model.pt|model.onnx`` must end with one error line naming the model file,
status 2, no traceback and nothing written.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from test_inference import TinyNet
from torch import nn

from monai_despeckle import cli
from monai_despeckle.export import onnx_model
from monai_despeckle.runtime.backends import SIZE_MULTIPLE_KEY


def _torchscript(path: Path, module: nn.Module, size_multiple: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), torch.rand(1, 1, 16, 16))
        torch.jit.save(traced, str(path), _extra_files={SIZE_MULTIPLE_KEY: size_multiple})
    return path


def _onnx(path: Path, size_multiple: str) -> Path:
    model = onnx_model(TinyNet(), 4)
    for entry in model.metadata_props:
        if entry.key == SIZE_MULTIPLE_KEY:
            entry.value = size_multiple
    onnx.save(model, str(path))
    return path


class Shrinks(nn.Module):
    """A 3×3 convolution without padding: every frame comes back two pixels smaller."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {value: _onnx(folder / f"size_{index}.onnx", value) for index, value in enumerate(["0", "abc"])}


def _refused(capfd, tmp_path: Path, model: Path, phrase: str) -> None:
    image = tmp_path / "scan.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32)).astype(np.uint8)).save(image)
    before = sorted(path.name for path in tmp_path.iterdir())
    argv = ["denoise", str(image), str(tmp_path / "out" / "o.png"), "--method", str(model), "--no-progress"]
    assert cli.main(argv) == cli.EXIT_USER_ERROR
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and model.name in lines[0], captured.err
    assert phrase in lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == before


@pytest.mark.parametrize("size_multiple", ["0", "-8", "abc", "1000000"])
def test_a_torchscript_file_with_a_bad_size_multiple_is_refused(tmp_path, capfd, size_multiple):
    model = _torchscript(tmp_path / "model.pt", TinyNet(), size_multiple)
    _refused(capfd, tmp_path, model, SIZE_MULTIPLE_KEY)


@pytest.mark.parametrize("size_multiple", ["0", "abc"])
def test_an_onnx_file_with_a_bad_size_multiple_is_refused(tmp_path, capfd, onnx_models, size_multiple):
    model = tmp_path / "model.onnx"
    model.write_bytes(onnx_models[size_multiple].read_bytes())
    _refused(capfd, tmp_path, model, SIZE_MULTIPLE_KEY)


def test_a_network_that_changes_the_frame_shape_is_refused(tmp_path, capfd):
    model = _torchscript(tmp_path / "shrinks.pt", Shrinks(), "1")
    _refused(capfd, tmp_path, model, "changed the frame shape")


def test_a_model_file_that_is_not_a_model_is_refused(tmp_path, capfd):
    model = tmp_path / "notes.pt"
    model.write_text("not a TorchScript archive")
    _refused(capfd, tmp_path, model, "not a TorchScript archive")
