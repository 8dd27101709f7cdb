"""Atomic writing and the never-over-the-input rule of monai_despeckle.io.save."""

import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

from monai_despeckle import io
from monai_despeckle.errors import OutputPathError
from monai_despeckle.io import ImageKind, UltrasoundImage, registry


def _png(path, value=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8), value, dtype=np.uint8)).save(path)
    return path


def _leftovers(folder):
    return [entry.name for entry in folder.iterdir() if entry.name.startswith(".")]


def test_never_writes_onto_the_input_even_with_overwrite(tmp_path):
    source = _png(tmp_path / "scan.png")
    before = source.read_bytes()
    image = io.load(source)
    for target in (source, tmp_path / "sub" / ".." / "scan.png"):
        with pytest.raises(OutputPathError) as caught:
            io.save(image.with_frames(np.ones_like(image.frames)), target, overwrite=True)
        assert "scan.png" in str(caught.value) and "input" in str(caught.value)
    assert source.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_symlink_to_the_input_is_recognised(tmp_path):
    source = _png(tmp_path / "scan.png")
    link = tmp_path / "alias.png"
    link.symlink_to(source)
    with pytest.raises(OutputPathError):
        io.save(io.load(source), link, overwrite=True)
    assert np.asarray(Image.open(source)).max() == 10


def test_existing_output_needs_overwrite(tmp_path):
    image = io.load(_png(tmp_path / "in.png", value=200))
    existing = _png(tmp_path / "out.png", value=3)
    with pytest.raises(OutputPathError) as caught:
        io.save(image, existing)
    assert "out.png" in str(caught.value) and "overwrite" in str(caught.value)
    assert np.asarray(Image.open(existing)).max() == 3
    io.save(image, existing, overwrite=True)
    assert np.asarray(Image.open(existing)).max() == 200


def test_parent_folders_are_created(tmp_path):
    out = io.save(io.load(_png(tmp_path / "in.png")), tmp_path / "a" / "b" / "c.nrrd")
    assert out.is_file() and _leftovers(out.parent) == []


def _failing_png_writer(monkeypatch, error):
    def write_half_then_fail(image, path):
        path.write_bytes(b"\x89PNG partial")
        raise error

    fmt = registry.BY_SUFFIX[".png"]
    monkeypatch.setitem(registry.BY_SUFFIX, ".png", dataclasses.replace(fmt, write=write_half_then_fail))


@pytest.mark.parametrize(
    ("error", "raised"), [(OSError("disk full"), OutputPathError), (KeyError("bug"), KeyError)]
)
def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, error, raised):
    image = io.load(_png(tmp_path / "in.png"))
    _failing_png_writer(monkeypatch, error)
    with pytest.raises(raised):
        io.save(image, tmp_path / "out" / "result.png")
    assert not (tmp_path / "out").exists()  # the folder the failed save created is gone too


def test_failed_overwrite_keeps_the_previous_file(tmp_path, monkeypatch):
    image = io.load(_png(tmp_path / "in.png"))
    previous = _png(tmp_path / "result.png", value=77)
    before = previous.read_bytes()
    _failing_png_writer(monkeypatch, OSError("disk full"))
    with pytest.raises(OutputPathError) as caught:
        io.save(image, previous, overwrite=True)
    assert "result.png" in str(caught.value) and "disk full" in str(caught.value)
    assert previous.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_detached_header_cannot_clobber_the_inputs_data_file(tmp_path):
    # An input a.mhd whose pixels live in b.zraw; writing b.mhd would produce (and replace) b.zraw.
    original = UltrasoundImage(
        np.random.default_rng(0).random((2, 3, 4)), kind=ImageKind.VOLUME, direction=io.DEFAULT_DIRECTION
    )
    io.save(original, tmp_path / "b.mhd")
    (tmp_path / "a.mhd").write_text((tmp_path / "b.mhd").read_text())
    (tmp_path / "b.mhd").unlink()
    data_before = (tmp_path / "b.zraw").read_bytes()
    image = io.load(tmp_path / "a.mhd")
    with pytest.raises(OutputPathError) as caught:
        io.save(image, tmp_path / "b.mhd", overwrite=True)
    assert "b.zraw" in str(caught.value)
    assert (tmp_path / "b.zraw").read_bytes() == data_before
    assert not (tmp_path / "b.mhd").exists() and _leftovers(tmp_path) == []


def test_folder_rules_protect_a_frames_folder_input(tmp_path):
    folder = tmp_path / "loop"
    for index in range(2):
        _png(folder / f"f{index}.png", value=index)
    image = io.load(folder)
    with pytest.raises(OutputPathError) as inside:
        io.save(image, folder / "extra.tif", overwrite=True)
    assert "inside the input folder" in str(inside.value)
    single = io.load(folder / "f0.png")
    with pytest.raises(OutputPathError) as parent:
        io.save(single, folder, overwrite=True)
    assert "holds the input" in str(parent.value)
    assert sorted(os.listdir(folder)) == ["f0.png", "f1.png"]


def test_replacing_file_swaps_in_only_a_complete_file(tmp_path):
    from monai_despeckle.io.safe_write import replacing_file, write_file

    target = tmp_path / "metadata.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing_file(target) as partial:
        partial.write_text("half")
        raise RuntimeError("stopped mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]  # no temporary file left
    assert write_file(target, "new") == target and target.read_text() == "new"
    write_file(tmp_path / "weights.bin", b"\x00\x01")
    assert (tmp_path / "weights.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "weights.bin"]
