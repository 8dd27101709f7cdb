"""The filters as registered Methods: parameters, optional BM3D, real scans, ``monai-despeckle methods``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai_despeckle import __version__, cli
from monai_despeckle.errors import DespeckleError
from monai_despeckle.filters import (
    InvalidParameterError,
    MissingDependencyError,
    anisotropic_diffusion,
    bilateral,
    bm3d,
    bm3d_available,
    estimate_speckle_cv,
    gaussian,
    mean,
    median,
    nlm,
    wiener,
)
from monai_despeckle.resolver import available_methods, create_method

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASSICAL = [
    name for name, spec in available_methods().items() if spec.family == "classical" and name != "none"
]


def test_method_parameters_are_passed_through_and_checked():
    frames = torch.rand(1, 1, 32, 32)
    narrow = create_method("median", size=3)(frames)
    wide = create_method("median", size=7)(frames)
    assert wide.std() < narrow.std()  # the size really reaches the filter
    with pytest.raises(InvalidParameterError, match=r"median: .*accepted parameters: size") as info:
        create_method("median", window=3)
    assert isinstance(info.value, DespeckleError)
    with pytest.raises(InvalidParameterError, match="srad"):
        create_method("srad", time_step=0.5)(frames)
    with pytest.raises(InvalidParameterError, match="anisotropic_diffusion"):
        create_method("anisotropic_diffusion", time_step=0.2)(frames)
    with pytest.raises(InvalidParameterError, match="mean: size"):
        create_method("mean", size=4)(frames)


@pytest.mark.parametrize("name", ["median", "lee"])
def test_bad_frames_are_refused_with_the_method_name(name):
    method = create_method(name)
    with pytest.raises(DespeckleError, match=rf"{name}: expected frames of shape \[N, 1, H, W\]"):
        method(torch.rand(1, 3, 16, 16))
    with pytest.raises(DespeckleError, match=rf"{name}: expected float frames"):
        method(torch.zeros(1, 1, 16, 16, dtype=torch.uint8))


@pytest.mark.parametrize("function", [median, gaussian, mean, wiener, bilateral, anisotropic_diffusion, nlm])
def test_numpy_filters_keep_shape_dtype_and_constants(function):
    rng = np.random.default_rng(0)
    image = rng.random((37, 53), dtype=np.float32)
    out = function(image)
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.std() < image.std()
    flat = np.full((37, 53), 0.4, dtype=np.float32)
    np.testing.assert_allclose(function(flat), 0.4, atol=1e-6)
    with pytest.raises(DespeckleError, match=function.__name__):
        function(np.zeros((4, 4, 3), dtype=np.float32))


def test_wiener_borders_are_not_darkened():
    # scipy.signal.wiener alone zero-pads: a flat image would come back darker along its borders.
    flat = np.full((20, 30), 0.6, dtype=np.float32)
    flat[10, 15] = 0.65  # one bright pixel so that the local variance is not zero everywhere
    out = wiener(flat)
    assert abs(out[0, 0] - 0.6) < 1e-6 and abs(out[-1, -1] - 0.6) < 1e-6


def test_bm3d_is_registered_only_when_installed():
    assert ("bm3d" in available_methods()) == bm3d_available()
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    if bm3d_available():
        out = bm3d(image)
        assert out.shape == image.shape and out.std() < image.std()
    else:
        with pytest.raises(MissingDependencyError, match="pip install bm3d"):
            bm3d(image)


def _real_frames() -> torch.Tensor:
    folder = DATA / "real_us_samples" / "images"
    if not folder.is_dir():
        pytest.skip(f"real ultrasound samples not found in {folder}")
    paths = sorted(folder.glob("*.png"))[:2]
    crops = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
        crops.append(image[128:256, 128:256])  # a tissue region inside the sector
    return torch.from_numpy(np.stack(crops))[:, None]


@pytest.mark.parametrize("name", CLASSICAL)
def test_real_scans_come_out_smoother(name):
    frames = _real_frames()
    out = create_method(name)(frames)
    assert out.shape == frames.shape and torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    before, after = estimate_speckle_cv(frames), estimate_speckle_cv(out)
    assert (after < 0.9 * before).all(), f"{name}: speckle C_u {before.tolist()} -> {after.tolist()}"
    # brightness is kept: mean within 2 grey levels
    assert (out.mean(dim=(1, 2, 3)) - frames.mean(dim=(1, 2, 3))).abs().max() < 2 / 255


def test_methods_command_prints_every_method(capsys):
    assert cli.main(["methods"]) == 0
    table, _, search_path = capsys.readouterr().out.partition("\n\n")
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["NAME", "FAMILY", "SOURCE", "VERSION", "GPU"]
    listed = {line.split()[0] for line in lines[1:]}
    assert listed == set(available_methods())
    srad_line = next(line for line in lines if line.startswith("srad "))
    assert "classical" in srad_line and " registry " in srad_line and " yes " in srad_line
    assert "Yu & Acton" in srad_line
    dae_line = next(line for line in lines if line.startswith("dae_skip "))
    assert " shipped " in dae_line and available_methods()["dae_skip"].version in dae_line
    assert "bundle search path" in search_path and "shipped" in search_path


def test_methods_command_json(capsys):
    assert cli.main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(available_methods())
    by_name = {row["name"]: row for row in rows}
    assert by_name["median"] == {
        "name": "median",
        "family": "classical",
        "source": "registry",
        "version": __version__,
        "gpu": False,
        "description": available_methods()["median"].description,
        "reference": available_methods()["median"].reference,
    }
    assert by_name["lee"]["gpu"] is True
    assert cli.main(["methods", "--json", "--family", "learned"]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert all(row["family"] == "learned" for row in learned)
    assert not {row["name"] for row in learned} & set(CLASSICAL)
