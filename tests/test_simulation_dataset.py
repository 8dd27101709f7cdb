"""write_dataset, the ``simulate`` command and the phantom gallery, on real files in tmp_path."""

from __future__ import annotations

import argparse
import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from monai.data import load_decathlon_datalist
from PIL import Image

from monai_despeckle import cli
from monai_despeckle.commands import simulate as simulate_command
from monai_despeckle.errors import DespeckleError, OutputPathError
from monai_despeckle.simulation import dataset as dataset_module
from monai_despeckle.simulation import (
    label_map,
    sample_seed,
    simulate_breast,
    simulate_carotid,
    write_dataset,
)
from monai_despeckle.simulation.carotid import CAROTID_FOV_MM
from monai_despeckle.simulation.figure import phantom_gallery

SIZE = 64


def test_nifti_dataset_files_geometry_and_datalist(tmp_path):
    out = write_dataset("carotid", 5, tmp_path / "carotid", size=SIZE, seed=3, progress=False)
    assert out == tmp_path / "carotid"
    training = load_decathlon_datalist(out / "datalist.json", data_list_key="training")
    validation = load_decathlon_datalist(out / "datalist.json", data_list_key="validation")
    assert (len(training), len(validation)) == (4, 1)
    spacing = CAROTID_FOV_MM / SIZE
    for item in training + validation:
        assert set(item) == {"image", "clean", "label"}
        image = sitk.ReadImage(item["image"])
        assert image.GetSize() == (SIZE, SIZE)
        assert image.GetSpacing() == pytest.approx((spacing, spacing))
        values = sitk.GetArrayFromImage(image)
        assert values.dtype == np.float32 and values.min() >= 0.0 and values.max() <= 1.0
        clean = nib.load(item["clean"])
        assert clean.header.get_zooms()[:2] == pytest.approx((spacing, spacing))
        labels = np.asarray(nib.load(item["label"]).dataobj)
        assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
    meta = json.loads((out / "datalist.json").read_text())
    assert meta["labels"] == {"0": "background", "1": "lumen", "2": "wall"}
    assert meta["provenance"]["seed"] == 3 and meta["provenance"]["spacing_mm"] == [spacing, spacing]
    assert meta["numTraining"] == 4 and meta["numValidation"] == 1
    assert "description" in meta
    provenance = json.loads((out / "provenance.json").read_text())
    assert [r["seed"] for r in provenance["samples"]] == [sample_seed(3, i) for i in range(5)]


def test_written_sample_matches_the_phantom_for_its_seed(tmp_path):
    out = write_dataset("carotid", 2, tmp_path / "c", size=SIZE, seed=8, progress=False, view="longitudinal")
    expected = simulate_carotid(SIZE, sample_seed(8, 1), view="longitudinal")
    entries = {e["image"]: e for e in json.loads((out / "datalist.json").read_text())["training"]}
    entries |= {e["image"]: e for e in json.loads((out / "datalist.json").read_text())["validation"]}
    entry = entries["images/carotid_00001.nii.gz"]
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(out / entry["image"])))
    np.testing.assert_array_equal(stored, expected.bmode)  # [H, W] orientation kept
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(out / entry["clean"]))), expected.clean
    )
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / entry["label"])))
    np.testing.assert_array_equal(labels, label_map(expected))


def test_sample_i_does_not_depend_on_n(tmp_path):
    small = write_dataset("breast", 2, tmp_path / "a", size=SIZE, seed=5, progress=False, val_fraction=0.0)
    large = write_dataset("breast", 3, tmp_path / "b", size=SIZE, seed=5, progress=False, val_fraction=0.0)
    for i in range(2):
        name = f"images/breast_{i:05d}.nii.gz"
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(small / name)))
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(large / name)))
        np.testing.assert_array_equal(a, b)
    other = write_dataset("breast", 1, tmp_path / "c", size=SIZE, seed=6, progress=False)
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(small / "images/breast_00000.nii.gz")))
    c = sitk.GetArrayFromImage(sitk.ReadImage(str(other / "images/breast_00000.nii.gz")))
    assert not np.array_equal(a, c)


def test_png_dataset_is_uint8_with_binary_masks(tmp_path):
    out = write_dataset(
        "breast", 3, tmp_path / "png", size=SIZE, seed=1, fmt="png", progress=False, lesion="cyst"
    )
    items = load_decathlon_datalist(out / "datalist.json") + load_decathlon_datalist(
        out / "datalist.json", data_list_key="validation"
    )
    assert len(items) == 3
    for item in items:
        image, label = np.asarray(Image.open(item["image"])), np.asarray(Image.open(item["label"]))
        assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE)
        assert set(np.unique(label)) == {0, 255}
        assert image[label == 255].mean() < image[label == 0].mean()  # the cyst is dark
    expected = simulate_breast(SIZE, sample_seed(1, 0), lesion="cyst")
    stored = np.asarray(Image.open(out / "images/breast_00000.png"))
    np.testing.assert_array_equal(stored, np.rint(expected.bmode * 255).astype(np.uint8))


def test_refuses_non_empty_output_and_accepts_empty_folder(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="busy"):
        write_dataset("breast", 1, busy, size=SIZE, progress=False)
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    write_dataset("breast", 1, empty, size=SIZE, progress=False)
    assert (empty / "datalist.json").is_file()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        write_dataset("breast", 1, a_file, size=SIZE, progress=False)


def test_failure_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def flaky(size, seed, **kwargs):
        calls.append(seed)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return simulate_breast(size, seed, **kwargs)

    monkeypatch.setitem(dataset_module.PHANTOMS, "breast", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_dataset("breast", 3, tmp_path / "out", size=SIZE, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary folder


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "liver"}, "unknown phantom kind"),
        ({"n": 0}, "number of samples"),
        ({"size": 16}, "image size"),
        ({"fmt": "jpeg"}, "format"),
        ({"val_fraction": 1.0}, "validation fraction"),
        ({"view": "transverse"}, "do not take view"),
    ],
)
def test_bad_arguments_raise_despeckle_error(tmp_path, kwargs, message):
    arguments = {"kind": "breast", "n": 1, "size": SIZE, "progress": False} | kwargs
    with pytest.raises(DespeckleError, match=message):
        write_dataset(out_dir=tmp_path / "x", **arguments)
    assert not (tmp_path / "x").exists()


def _simulate_via_cli(argv: list[str]) -> int:
    """Run ``monai-despeckle simulate`` through the CLI, or through the module if not wired yet."""
    if "simulate" in cli.COMMANDS:
        return cli.main(["simulate", *argv])
    parser = argparse.ArgumentParser()
    simulate_command.add_arguments(parser)
    return simulate_command.run(parser.parse_args(argv))


def test_cli_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--kind", "carotid", "--n", "3", "--size", str(SIZE), "--seed", "4", "--out", str(out)]
    rc = _simulate_via_cli([*argv, "--format", "png", "--view", "longitudinal", "--no-progress"])
    assert rc == 0
    assert "datalist" in capsys.readouterr().out
    assert len(list((out / "images").glob("*.png"))) == 3
    meta = json.loads((out / "datalist.json").read_text())
    assert meta["provenance"]["phantom_kwargs"] == {"view": "longitudinal"}
    label = np.asarray(Image.open(out / "labels/carotid_00000.png"))
    assert set(np.unique(label)) == {0, 1, 2}  # multi-class label maps keep their class index


def test_cli_reports_bad_options_without_traceback(tmp_path, capsys):
    rc = cli.main(["simulate", "--kind", "breast", "--n", "0", "--out", str(tmp_path / "o")])
    assert rc == cli.EXIT_USER_ERROR
    assert "number of samples" in capsys.readouterr().err
    rc = cli.main(
        ["simulate", "--kind", "breast", "--view", "transverse", "--n", "1", "--out", str(tmp_path / "o")]
    )
    assert rc == cli.EXIT_USER_ERROR
    assert "--view applies to carotid" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_phantom_gallery_writes_a_picture(tmp_path):
    path = phantom_gallery(tmp_path / "docs" / "phantoms.png", size=64)
    image = np.asarray(Image.open(path).convert("L"))
    assert image.shape[0] > 400 and image.shape[1] > 400
    assert image.std() > 20  # panels with content, not a blank canvas
    assert [p.name for p in path.parent.iterdir()] == ["phantoms.png"]  # no temporary left over
