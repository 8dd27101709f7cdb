"""PNG / JPEG / TIFF files and folders of frames through monai_despeckle.io."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_despeckle import io
from monai_despeckle.errors import InvalidImageError, OutputPathError, UnsupportedFormatError
from monai_despeckle.io import ImageKind, UltrasoundImage

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _noise(shape, dtype, seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize(("dtype", "mode"), [(np.uint8, "L"), (np.uint16, "I;16")])
def test_png_round_trip_is_lossless_and_keeps_bit_depth(tmp_path, dtype, mode):
    pixels = _noise((37, 53), dtype)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    image = io.load(tmp_path / "in.png")
    assert image.kind is ImageKind.IMAGE and image.frames.shape == (1, 37, 53)
    assert image.intensity.dtype == np.dtype(dtype).name
    assert image.metadata == {"spacing_source": "default", "format": "png"}
    assert image.frames.min() >= 0.0 and image.frames.max() <= 1.0
    io.save(image, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == mode
        np.testing.assert_array_equal(np.asarray(written), pixels)


def test_rgb_png_becomes_luminance_with_a_warning(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 150, 250
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    with pytest.warns(io.ColorConvertedWarning, match="colour.png"):
        image = io.load(tmp_path / "colour.png")
    expected = round(0.299 * 100 + 0.587 * 150 + 0.114 * 250)
    np.testing.assert_array_equal(image.source_values(), np.full((1, 4, 5), expected, dtype=np.uint8))


def test_rgba_and_grey_palette_png_convert_without_warning(tmp_path):
    grey = _noise((6, 7), np.uint8, seed=1)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 128)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", io.ColorConvertedWarning)
        for name in ("rgba.png", "palette.png"):
            np.testing.assert_array_equal(io.load(tmp_path / name).source_values()[0], grey)


def test_float_tiff_keeps_float_values(tmp_path):
    values = np.linspace(-2.0, 7.5, 30, dtype=np.float32).reshape(5, 6)
    Image.fromarray(values).save(tmp_path / "f.tif")
    image = io.load(tmp_path / "f.tif")
    assert image.intensity.dtype == "float32"
    io.save(image, tmp_path / "g.tiff")
    with Image.open(tmp_path / "g.tiff") as written:
        assert written.mode == "F"
        np.testing.assert_allclose(np.asarray(written), values, atol=1e-5)


def test_multipage_tiff_is_a_cine_and_round_trips(tmp_path):
    frames = _noise((3, 8, 9), np.uint16, seed=2)
    pages = [Image.fromarray(frame) for frame in frames]
    pages[0].save(tmp_path / "loop.tif", save_all=True, append_images=pages[1:])
    image = io.load(tmp_path / "loop.tif")
    assert image.kind is ImageKind.CINE and image.frames.shape == (3, 8, 9)
    np.testing.assert_array_equal(image.source_values(), frames)
    io.save(image, tmp_path / "copy.tif")
    np.testing.assert_array_equal(io.load(tmp_path / "copy.tif").source_values(), frames)


def test_several_frames_cannot_go_into_a_png(tmp_path):
    cine = UltrasoundImage(np.zeros((2, 4, 4)), kind=ImageKind.CINE)
    with pytest.raises(UnsupportedFormatError) as caught:
        io.save(cine, tmp_path / "sub" / "two.png")
    assert "two.png" in str(caught.value) and "folder" in str(caught.value)
    assert not (tmp_path / "sub").exists()


def test_float_source_is_written_as_16_bit_png(tmp_path):
    image = UltrasoundImage(
        np.linspace(0, 1, 12).reshape(3, 4), intensity=io.IntensityMapping("float64", -1.0, 1.0)
    )
    io.save(image, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as written:
        values = np.asarray(written)
    assert values.dtype == np.uint16 and values.min() == 0 and values.max() == 65535
    np.testing.assert_allclose(io.load(tmp_path / "f.png").frames, image.frames, atol=1 / 65535)


def test_jpeg_round_trip_is_close(tmp_path):
    yy, xx = np.mgrid[0:32, 0:48]
    smooth = (128 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0)).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=95)
    image = io.load(tmp_path / "a.jpg")
    io.save(image, tmp_path / "b.jpeg")
    reread = io.load(tmp_path / "b.jpeg")
    assert reread.intensity.dtype == "uint8"
    assert np.abs(reread.source_values().astype(int) - image.source_values().astype(int)).mean() < 2.0


# ---- folders of frames -------------------------------------------------------------------------


def test_frames_folder_is_naturally_sorted_cine(tmp_path):
    folder = tmp_path / "loop"
    folder.mkdir()
    for index in (10, 2, 1):  # lexical order would give 1, 10, 2
        Image.fromarray(np.full((5, 6), index, dtype=np.uint8)).save(folder / f"img{index}.png")
    (folder / "notes.json").write_text("{}")
    (folder / ".hidden.png").write_bytes(b"not an image")
    image = io.load(folder)
    assert image.kind is ImageKind.CINE and image.frame_time_ms is None
    assert image.metadata["frame_files"] == ["img1.png", "img2.png", "img10.png"]
    np.testing.assert_array_equal(image.source_values()[:, 0, 0], [1, 2, 10])


def test_cine_saved_to_a_folder_writes_numbered_pngs_and_reloads(tmp_path):
    frames = _noise((3, 7, 8), np.uint16, seed=3)
    cine = UltrasoundImage(
        frames / 65535.0, kind=ImageKind.CINE, intensity=io.IntensityMapping("uint16", 0.0, 65535.0)
    )
    out = io.save(cine, tmp_path / "frames_out")
    assert sorted(p.name for p in out.iterdir()) == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    back = io.load(out)
    assert back.kind is ImageKind.CINE
    np.testing.assert_array_equal(back.source_values(), frames)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_existing_folder_is_replaced_only_with_overwrite(tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    (target / "old.txt").write_text("keep me")
    cine = UltrasoundImage(np.zeros((2, 3, 3)), kind=ImageKind.CINE)
    with pytest.raises(OutputPathError) as caught:
        io.save(cine, target)
    assert "existing" in str(caught.value)
    assert (target / "old.txt").read_text() == "keep me"
    io.save(cine, target, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["frame_00000.png", "frame_00001.png"]


def test_frames_of_different_sizes_are_refused_naming_the_file(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(folder / "a1.png")
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(folder / "a2.png")
    with pytest.raises(InvalidImageError) as caught:
        io.load(folder)
    assert "a2.png" in str(caught.value)


def test_folder_without_frames_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidImageError) as caught:
        io.load(tmp_path / "empty")
    assert "empty" in str(caught.value) and "no frame images" in str(caught.value)


# ---- real data -----------------------------------------------------------------------------------


def _real_png(dataset: str) -> Path:
    files = sorted((DATA / dataset / "images").glob("*.png")) if (DATA / dataset).is_dir() else []
    if not files:
        pytest.skip(f"{dataset} data not available")
    return files[0]


def test_real_busi_png_round_trips_losslessly_through_nifti(tmp_path):
    src = _real_png("busi")
    with Image.open(src) as original:
        pixels = np.asarray(original.convert("L"))
    image = io.load(src)
    assert image.frame_shape == pixels.shape
    io.save(image, tmp_path / "busi.nii.gz")
    io.save(io.load(tmp_path / "busi.nii.gz"), tmp_path / "busi.png")
    with Image.open(tmp_path / "busi.png") as written:
        np.testing.assert_array_equal(np.asarray(written), pixels)


def test_real_colour_ultrasound_screenshot_warns_and_matches_pillow_luma(tmp_path):
    if not (DATA / "real_us_samples").is_dir():
        pytest.skip("real_us_samples not available")
    colour = [
        p for p in sorted((DATA / "real_us_samples" / "images").glob("*.png")) if Image.open(p).mode == "RGB"
    ]
    if not colour:
        pytest.skip("no RGB sample")
    with pytest.warns(io.ColorConvertedWarning):
        image = io.load(colour[0])
    with Image.open(colour[0]) as original:
        pillow_grey = np.asarray(original.convert("L")).astype(int)
    # Pillow's convert("L") uses the same ITU-R 601 weights in fixed point: within one grey level.
    assert np.abs(image.source_values()[0].astype(int) - pillow_grey).max() <= 1
