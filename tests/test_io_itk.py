"""NIfTI / NRRD / MetaImage through monai_despeckle.io, checked against nibabel and pynrrd."""

import warnings
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from monai_despeckle import io
from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io import ImageKind, UltrasoundImage

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _rotation_z(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    return np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )


def _oblique_affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = _rotation_z(30.0) @ np.diag([0.3, 0.4, 2.0])
    affine[:3, 3] = (12.5, -40.0, 7.25)
    return affine


def _lps_position(image: UltrasoundImage, index_thw) -> np.ndarray:
    return np.asarray(image.origin) + image.direction @ (np.asarray(index_thw) * np.asarray(image.spacing))


def test_nifti_volume_geometry_matches_nibabel_and_survives_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(-500, 3000, size=(20, 24, 6)).astype(np.int16)  # nibabel order (i, j, k)
    affine = _oblique_affine()
    source_image = nib.Nifti1Image(data, affine)
    source_image.set_qform(affine, code=1)
    source_image.set_sform(affine, code=1)
    src = tmp_path / "volume.nii.gz"
    nib.save(source_image, src)

    image = io.load(src)
    assert image.kind is ImageKind.VOLUME
    assert image.frames.shape == (6, 24, 20)  # [k, j, i]
    assert image.intensity.dtype == "int16"
    np.testing.assert_array_equal(image.source_values(), np.transpose(data, (2, 1, 0)))
    np.testing.assert_allclose(image.spacing, (2.0, 0.4, 0.3), rtol=1e-6)
    # Every voxel lands where nibabel's affine (RAS) puts it, expressed in LPS.
    for i, j, k in [(0, 0, 0), (19, 0, 0), (0, 23, 0), (0, 0, 5), (7, 11, 3)]:
        expected = RAS_TO_LPS @ (affine @ [i, j, k, 1.0])[:3]
        np.testing.assert_allclose(_lps_position(image, (k, j, i)), expected, atol=1e-4)

    out = tmp_path / "out" / "copy.nii.gz"
    assert io.save(image, out) == out
    reloaded = nib.load(out)
    np.testing.assert_allclose(reloaded.affine, affine, atol=1e-4)
    assert reloaded.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(reloaded.dataobj), data)


def test_nifti_float_volume_keeps_dtype_and_values(tmp_path):
    data = np.linspace(-3.0, 5.0, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    nib.save(nib.Nifti1Image(data, np.diag([0.5, 0.5, 1.5, 1.0])), tmp_path / "f.nii")
    image = io.load(tmp_path / "f.nii")
    assert image.intensity.dtype == "float32"
    assert image.frames.min() == 0.0 and image.frames.max() == 1.0
    io.save(image, tmp_path / "g.nii")
    back = nib.load(tmp_path / "g.nii")
    assert back.get_data_dtype() == np.float32
    np.testing.assert_allclose(np.asarray(back.dataobj), data, atol=1e-5)


def test_nifti_4d_singleton_z_is_a_cine_with_frame_time(tmp_path):
    data = np.random.default_rng(2).integers(0, 255, size=(16, 12, 1, 5)).astype(np.uint8)
    image_4d = nib.Nifti1Image(data, np.diag([0.2, 0.25, 1.0, 1.0]))
    image_4d.header.set_xyzt_units("mm", "msec")
    image_4d.header["pixdim"][4] = 40.0
    nib.save(image_4d, tmp_path / "cine.nii.gz")

    image = io.load(tmp_path / "cine.nii.gz")
    assert image.kind is ImageKind.CINE
    assert image.frames.shape == (5, 12, 16)
    assert image.frame_time_ms == pytest.approx(40.0)
    np.testing.assert_allclose(image.spacing[1:], (0.25, 0.2), rtol=1e-6)
    np.testing.assert_array_equal(image.source_values()[3], data[:, :, 0, 3].T)

    io.save(image, tmp_path / "again.nii.gz")
    header = nib.load(tmp_path / "again.nii.gz").header
    assert tuple(header.get_data_shape()) == (16, 12, 1, 5)
    scale_to_ms = {"sec": 1000.0, "msec": 1.0}[header.get_xyzt_units()[1]]
    assert float(header["pixdim"][4]) * scale_to_ms == pytest.approx(40.0, rel=1e-5)
    assert io.load(tmp_path / "again.nii.gz").frame_time_ms == pytest.approx(40.0, rel=1e-5)


def test_cine_without_frame_time_stays_without_one_in_nifti(tmp_path):
    cine = UltrasoundImage(
        np.random.default_rng(3).random((4, 6, 7)), direction=io.DEFAULT_DIRECTION, kind=ImageKind.CINE
    )
    io.save(cine, tmp_path / "c.nii.gz")
    assert nib.load(tmp_path / "c.nii.gz").header.get_xyzt_units()[1] == "unknown"
    back = io.load(tmp_path / "c.nii.gz")
    assert back.kind is ImageKind.CINE and back.frame_time_ms is None


def test_3d_nifti_with_millisecond_unit_reads_third_axis_as_time(tmp_path):
    data = np.zeros((8, 9, 4), dtype=np.uint8)
    image_3d = nib.Nifti1Image(data, np.diag([0.3, 0.3, 25.0, 1.0]))
    image_3d.header.set_xyzt_units("mm", "msec")
    nib.save(image_3d, tmp_path / "t.nii")
    image = io.load(tmp_path / "t.nii")
    assert image.kind is ImageKind.CINE
    assert image.frame_time_ms == pytest.approx(25.0)
    assert image.spacing[0] == 1.0


def test_3d_nifti_written_by_itk_is_a_volume_despite_its_seconds_stamp(tmp_path):
    volume = sitk.GetImageFromArray(np.zeros((4, 5, 6), dtype=np.uint8))
    sitk.WriteImage(volume, str(tmp_path / "itk.nii"))
    assert nib.load(tmp_path / "itk.nii").header.get_xyzt_units()[1] == "sec"  # ITK's blanket stamp
    assert io.load(tmp_path / "itk.nii").kind is ImageKind.VOLUME


def test_4d_nifti_with_space_and_time_extent_is_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 2, 3), np.float32), np.eye(4)), tmp_path / "xyzt.nii")
    with pytest.raises(InvalidImageError) as caught:
        io.load(tmp_path / "xyzt.nii")
    assert "xyzt.nii" in str(caught.value) and "3-D+t" in str(caught.value)


def test_nrrd_spacing_and_origin_match_pynrrd_both_ways(tmp_path):
    rng = np.random.default_rng(4)
    data = rng.integers(0, 65535, size=(10, 8, 3)).astype(np.uint16)  # pynrrd Fortran order (x, y, z)
    directions = np.diag([0.5, 0.6, 2.0])
    origin = np.array([10.0, -20.0, 5.0])
    header = {
        "space": "left-posterior-superior",
        "space directions": directions,
        "space origin": origin,
        "kinds": ["domain"] * 3,
    }
    nrrd.write(str(tmp_path / "v.nrrd"), data, header)

    image = io.load(tmp_path / "v.nrrd")
    assert image.kind is ImageKind.VOLUME and image.intensity.dtype == "uint16"
    np.testing.assert_allclose(image.spacing, (2.0, 0.6, 0.5))
    np.testing.assert_allclose(image.origin, origin)
    np.testing.assert_array_equal(image.source_values(), np.transpose(data, (2, 1, 0)))

    io.save(image, tmp_path / "w.nrrd")
    back, back_header = nrrd.read(str(tmp_path / "w.nrrd"))
    np.testing.assert_allclose(back_header["space directions"], directions)
    np.testing.assert_allclose(back_header["space origin"], origin)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, data)


def test_nrrd_cine_keeps_kind_and_frame_time(tmp_path):
    cine = UltrasoundImage(
        np.random.default_rng(5).random((3, 6, 7)),
        spacing=(1.0, 0.2, 0.3),
        kind=ImageKind.CINE,
        frame_time_ms=33.3,
    )
    io.save(cine, tmp_path / "c.nrrd")
    assert float(nrrd.read_header(str(tmp_path / "c.nrrd"))["monai_despeckle_frame_time_ms"]) == 33.3
    back = io.load(tmp_path / "c.nrrd")
    assert back.kind is ImageKind.CINE and back.frame_time_ms == pytest.approx(33.3)
    np.testing.assert_allclose(back.spacing, (1.0, 0.2, 0.3))


def _metaimage_fields(path):
    fields = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            break
    return fields


@pytest.mark.parametrize("name", ["v.mha", "v.mhd"])
def test_metaimage_geometry_round_trip(tmp_path, name):
    direction = np.column_stack([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    image = UltrasoundImage(
        np.random.default_rng(6).random((4, 5, 6)),
        spacing=(1.5, 0.25, 0.125),
        origin=(3.0, -4.0, 5.5),
        direction=direction,
        kind=ImageKind.VOLUME,
        intensity=io.IntensityMapping("float32", -1.0, 1.0),
    )
    io.save(image, tmp_path / name)
    fields = _metaimage_fields(tmp_path / name)  # text header: an independent oracle
    assert [float(v) for v in fields["ElementSpacing"].split()] == [0.125, 0.25, 1.5]
    assert [float(v) for v in fields["Offset"].split()] == [3.0, -4.0, 5.5]
    assert fields["ElementType"] == "MET_FLOAT"
    back = io.load(tmp_path / name)
    np.testing.assert_allclose(back.spacing, image.spacing)
    np.testing.assert_allclose(back.origin, image.origin)
    np.testing.assert_allclose(back.direction, direction)
    np.testing.assert_allclose(back.source_values(), image.source_values(), atol=1e-6)
    if name.endswith(".mhd"):
        assert [Path(p).name for p in back.metadata["source_files"]] == ["v.zraw"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mhd", "v.zraw"]


def test_2d_image_round_trips_as_2d_nifti(tmp_path):
    image = UltrasoundImage(
        np.random.default_rng(7).integers(0, 256, (9, 11)).astype(np.uint8) / 255.0,
        spacing=(1.0, 0.4, 0.3),
        direction=io.DEFAULT_DIRECTION,
    )
    io.save(image, tmp_path / "slice.nii")
    assert nib.load(tmp_path / "slice.nii").shape == (11, 9)
    back = io.load(tmp_path / "slice.nii")
    assert back.kind is ImageKind.IMAGE and back.frames.shape == (1, 9, 11)
    np.testing.assert_allclose(back.spacing, (1.0, 0.4, 0.3), rtol=1e-6)
    np.testing.assert_array_equal(back.source_values(), image.source_values())


def test_rgb_nifti_is_converted_to_grey_with_a_warning(tmp_path):
    rgb = np.zeros((6, 7, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 50
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.nii"))
    with pytest.warns(io.ColorConvertedWarning, match="rgb.nii"):
        image = io.load(tmp_path / "rgb.nii")
    np.testing.assert_array_equal(image.source_values(), np.full((1, 6, 7), round(0.299 * 200 + 0.114 * 50)))


def test_grey_stored_as_rgb_converts_silently(tmp_path):
    rgb = np.repeat(np.arange(42, dtype=np.uint8).reshape(6, 7, 1), 3, axis=2)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "grey.nii"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", io.ColorConvertedWarning)
        image = io.load(tmp_path / "grey.nii")
    np.testing.assert_array_equal(image.source_values()[0], rgb[..., 0])
