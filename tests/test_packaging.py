"""The product is what users install: build the sdist and the wheel, install the wheel into a fresh
environment outside the checkout, and run the command line there as a user would.

The wheel is built from the sdist (``python -m build``), so a file missing from either fails here.
It is installed with ``--no-deps`` into a new virtual environment whose only link to this one is a
``.pth`` line naming the dependencies' ``site-packages`` (a folder added that way has its own
``.pth`` files ignored, so the editable install of the checkout is not active there). Every command
runs from a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from monai_despeckle import io

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MAX_WHEEL_MB = 100


def _tracked_bundle_files() -> list[str]:
    """The bundle files under version control (what must ship), relative to ``bundles/``."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "bundles"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked bundle files are unknown")
    return sorted(path.removeprefix("bundles/") for path in listed)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel built from it, by ``python -m build`` (no network: no isolation)."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (no deps); returns its ``bin`` folder."""
    _, wheel = dists
    venv = tmp_path_factory.mktemp("user-env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the dependencies come from this environment's site-packages, the package only from the wheel
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MONAI_DESPECKLE_BUNDLES")}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _real_image(folder: Path) -> Path:
    """A real breast scan from the shared data, or a simulated phantom when there is none."""
    candidates = sorted((SHARED / "busi" / "images").glob("*.png"))
    if candidates:
        return candidates[0]
    from monai_despeckle.simulation import simulate_breast

    phantom = simulate_breast(size=128, seed=0)
    return io.save(io.UltrasoundImage(phantom.bmode[None].astype(np.float32)), folder / "phantom.png")


def test_the_wheel_and_the_sdist_carry_every_bundle_file(dists):
    sdist, wheel = dists
    tracked = _tracked_bundle_files()
    assert wheel.stat().st_size < MAX_WHEEL_MB * 1e6, f"wheel of {wheel.stat().st_size / 1e6:.0f} MB"
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {n.removeprefix("monai_despeckle/bundled/") for n in archive.namelist()}
        assert "monai_despeckle/py.typed" in archive.namelist()
    missing = [f for f in tracked if f not in in_wheel]
    assert not missing, f"bundle files missing from the wheel: {missing}"
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(f"{root}/bundles/") for n in archive.getnames()}
    missing = [f for f in tracked if f not in in_sdist]
    assert not missing, f"bundle files missing from the sdist: {missing}"


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    check = (
        "import sys, monai_despeckle, monai_despeckle.resolver as r;"
        "print(monai_despeckle.__file__); print(r.shipped_bundles_root());"
        "print(any(type(f).__module__.startswith('__editable__') for f in sys.meta_path));"
        "print([p for p in sys.path if p.startswith(sys.argv[1])])"
    )
    result = _run(installed, tmp_path, "python", "-c", check, str(REPO))
    assert result.returncode == 0, result.stderr
    package_file, shipped_root, editable, checkout_paths = result.stdout.splitlines()
    venv = str(installed.parent)
    assert package_file.startswith(venv) and shipped_root.startswith(venv)
    assert editable == "False"
    # the only path into the checkout is the dependencies' folder (the checkout's .venv), which
    # holds no copy of the package: the editable install there is only a finder that is not active
    dependencies = sysconfig.get_paths()["purelib"]
    assert checkout_paths in ("[]", repr([dependencies]))
    assert not (Path(dependencies) / "monai_despeckle").exists()


def test_methods_lists_every_shipped_bundle_from_the_installed_copy(installed, tmp_path):
    result = _run(installed, tmp_path, "monai-despeckle", "methods", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    shipped = sorted(p.name.removeprefix("despeckle_") for p in (REPO / "bundles").glob("despeckle_*"))
    assert shipped and all(rows[name]["source"] == "shipped" for name in shipped), rows.keys()
    for name in shipped:
        metadata = json.loads(
            (REPO / "bundles" / f"despeckle_{name}" / "configs" / "metadata.json").read_text()
        )
        assert rows[name]["version"] == metadata["version"]
    assert rows["srad"]["source"] == "registry"


def test_every_shipped_network_loads_verified_from_the_installed_copy(installed, tmp_path):
    script = (
        "import torch; from monai_despeckle.resolver import list_bundles, load_network\n"
        "for b in list_bundles():\n"
        "    net = load_network(b)\n"
        "    print(b.name, b.source, sum(p.numel() for p in net.parameters()))\n"
    )
    result = _run(installed, tmp_path, "python", "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    expected = {p.name for p in (REPO / "bundles").iterdir() if (p / "configs" / "metadata.json").is_file()}
    assert set(loaded) == expected and set(loaded.values()) == {"shipped"}


def test_denoise_and_segment_run_from_the_installed_copy(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    image = _real_image(work)
    source = io.load(image)
    for method in (None, "dae_lite"):  # the default (a learned bundle) and another learned method
        out = work / f"out_{method or 'default'}.png"
        args = ["monai-despeckle", "denoise", str(image), str(out), "--no-progress"]
        result = _run(installed, work, *(args + (["--method", method] if method else [])))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "dae_skip" in result.stdout if method is None else method in result.stdout
        written = io.load(out)
        assert written.frames.shape == source.frames.shape
        assert not np.array_equal(written.frames, source.frames)
    labels = work / "labels.png"
    result = _run(installed, work, "monai-despeckle", "segment", str(image), str(labels), "--task", "breast")
    assert result.returncode == 0, result.stderr[-2000:]
    label_map = io.load(labels)
    assert label_map.frames.shape == source.frames.shape
    assert set(np.unique(label_map.source_values())) <= {0, 1}


def test_a_shipped_recipe_trains_from_the_installed_copy(installed, tmp_path):
    """``train`` runs the installed bundle's train.json (its network.json found from the bundle root)."""
    work = tmp_path / "work"
    work.mkdir()
    out = work / "my_lite"
    settings = ["phantom_count=6", "patch_size=32", "batch_size=2", "val_fraction=0.34"]
    args = ["monai-despeckle", "train", "dae_lite", "--data", "phantoms:breast", "--out", str(out)]
    sets = [arg for setting in settings for arg in ("--set", f"train#{setting}")]
    result = _run(installed, work, *args, "--epochs", "1", *sets)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = work / "trained.png"
    image = _real_image(work)
    command = ["monai-despeckle", "denoise", str(image), str(trained), "--method", str(out)]
    result = _run(installed, work, *command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert io.load(trained).frames.shape == io.load(image).frames.shape
