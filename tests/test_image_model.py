"""UltrasoundImage and IntensityMapping: the in-memory model every module shares."""

import numpy as np
import pytest

from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integer_round_trip_is_lossless(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    values = rng.integers(info.min, info.max, size=(3, 17, 23), endpoint=True).astype(dtype)
    mapping = IntensityMapping.for_array(values)
    unit = mapping.to_unit(values)
    assert unit.dtype == np.float32
    assert unit.min() >= 0.0 and unit.max() <= 1.0
    back = mapping.from_unit(unit)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, values)


def test_uint8_uses_full_dtype_range_not_data_range():
    values = np.array([[10, 20]], dtype=np.uint8)
    mapping = IntensityMapping.for_array(values)
    assert (mapping.low, mapping.high) == (0.0, 255.0)
    np.testing.assert_allclose(mapping.to_unit(values), [[10 / 255, 20 / 255]], rtol=1e-6)


def test_float_data_outside_unit_range_is_rescaled_and_restored():
    values = np.array([[-3.0, 0.0, 5.0]], dtype=np.float32)
    mapping = IntensityMapping.for_array(values)
    np.testing.assert_allclose(mapping.to_unit(values), [[0.0, 3 / 8, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(mapping.from_unit(mapping.to_unit(values)), values, atol=1e-5)


def test_from_unit_clips_out_of_range_network_output():
    mapping = IntensityMapping("uint8", 0.0, 255.0)
    out = mapping.from_unit(np.array([-0.5, 0.5, 1.5]))
    np.testing.assert_array_equal(out, [0, 128, 255])


def test_constant_image_does_not_divide_by_zero():
    values = np.full((4, 4), 7.0, dtype=np.float64)
    mapping = IntensityMapping.for_array(values)
    unit = mapping.to_unit(values)
    assert np.isfinite(unit).all()


def test_image_promotes_2d_frames_and_validates_rank():
    image = UltrasoundImage(np.zeros((8, 9)))
    assert image.frames.shape == (1, 8, 9)
    assert image.frames.dtype == np.float32
    assert image.kind is ImageKind.IMAGE
    with pytest.raises(ValueError, match="T, H, W"):
        UltrasoundImage(np.zeros((2, 3, 4, 5)))


def test_with_frames_keeps_geometry_and_copies_metadata():
    direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
    image = UltrasoundImage(
        np.zeros((2, 4, 5)),
        spacing=(2.0, 0.3, 0.2),
        origin=(1, 2, 3),
        direction=direction,
        kind="volume",
        metadata={"format": "nifti"},
    )
    out = image.with_frames(np.ones((2, 4, 5)))
    assert out.spacing == (2.0, 0.3, 0.2) and out.origin == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(out.direction, direction)
    assert out.kind is ImageKind.VOLUME
    out.metadata["format"] = "changed"
    assert image.metadata["format"] == "nifti"
    with pytest.raises(ValueError):
        image.with_frames(np.ones((1, 4, 5)))


def test_spacing_and_origin_hold_one_value_per_array_axis():
    frames = np.zeros((2, 4, 5), dtype=np.float32)
    image = UltrasoundImage(frames=frames, spacing=[1, 0.5, 0.25], origin=np.array([1.0, 2.0, 3.0]))
    assert image.spacing == (1.0, 0.5, 0.25) and all(type(s) is float for s in image.spacing)
    assert image.origin == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="spacing must hold 3 values"):
        UltrasoundImage(frames=frames, spacing=(0.5, 0.25))
    with pytest.raises(ValueError, match="origin must hold 3 values"):
        UltrasoundImage(frames=frames, origin=(0.0, 0.0, 0.0, 0.0))
