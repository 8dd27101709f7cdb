"""The MONAI Label app's parts without a server: results, model versions, training data, strategies."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("monailabel", reason="MONAI Label server not installed (requirements/label.txt)")

from monai_despeckle import io
from monai_despeckle.errors import (
    DespeckleError,
    InvalidParameterError,
    OutputPathError,
    UnknownMethodError,
    UnsupportedFormatError,
)
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.monailabel_app import launcher
from monai_despeckle.monailabel_app.errors import NotFoundError, http_status
from monai_despeckle.monailabel_app.models import ModelVersions, shipped_bundle
from monai_despeckle.monailabel_app.results import (
    image_dtype,
    image_result,
    label_dtype,
    label_result,
    result_suffix,
    write_result,
)
from monai_despeckle.monailabel_app.strategies import (
    TTAUncertainty,
    augmentation_disagreement,
    dice,
)
from monai_despeckle.monailabel_app.training import (
    FineTuneTask,
    _settings,
    export_training_data,
    final_label_pairs,
)


def _image(frames: np.ndarray, source: Path | None = None) -> UltrasoundImage:
    return UltrasoundImage(frames=frames, spacing=(1.0, 0.2, 0.3), origin=(5.0, -2.0, 1.5), source=source)


@pytest.mark.parametrize(
    ("dtype", "suffix", "pixel"),
    [
        ("uint8", ".nrrd", sitk.sitkUInt8),
        ("uint16", ".png", sitk.sitkUInt16),
        ("int16", ".nii.gz", sitk.sitkInt16),
        ("float32", ".mha", sitk.sitkFloat32),
        (None, ".nii.gz", sitk.sitkUInt8),
    ],
)
def test_label_maps_keep_their_values_in_any_dtype(dtype, suffix, pixel) -> None:
    labels = np.zeros((1, 6, 7), dtype=np.uint8)
    labels[0, 1:4, 2:5] = 1
    labels[0, 5, 6] = 3
    image = _image(np.random.default_rng(0).random((1, 6, 7), dtype=np.float32))
    path = write_result(label_result(image, labels, {"a": 1, "c": 3}, label_dtype(dtype, suffix)), suffix)
    try:
        written = sitk.ReadImage(str(path))
        assert written.GetPixelID() == pixel
        np.testing.assert_array_equal(sitk.GetArrayFromImage(written).reshape(labels.shape), labels)
        assert io.load(path).frame_shape == (6, 7)
    finally:
        path.unlink()


def test_label_maps_refuse_lossy_dicom_and_unknown_outputs(tmp_path: Path) -> None:
    image = _image(np.zeros((1, 4, 4), np.float32), source=tmp_path / "scan.dcm")
    assert result_suffix({}, image, label_map=True) == ".nii.gz"  # a DICOM input's label map
    assert result_suffix({}, image, label_map=False) == ".dcm"  # a despeckled DICOM stays DICOM
    assert result_suffix({"result_extension": "nrrd"}, image, label_map=True) == ".nrrd"
    for suffix in (".jpg", ".dcm"):
        with pytest.raises(UnsupportedFormatError, match="label maps are not written"):
            result_suffix({"result_extension": suffix}, image, label_map=True)
    with pytest.raises(UnsupportedFormatError, match="unknown result_extension"):
        result_suffix({"result_extension": ".xyz"}, image, label_map=True)
    with pytest.raises(InvalidParameterError, match="stored as uint8 or uint16"):
        label_dtype("float32", ".png")
    with pytest.raises(InvalidParameterError, match="result_dtype"):
        label_dtype("complex64", ".nrrd")
    with pytest.raises(InvalidParameterError, match="unknown result_dtype"):
        image_dtype("bogus")


def test_despeckled_images_keep_or_spread_their_range() -> None:
    frames = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(1, 3, 4)
    uint8 = UltrasoundImage(frames=frames, intensity=IntensityMapping("uint8", 0.0, 255.0))
    widened = image_result(uint8, image_dtype("uint16"))
    np.testing.assert_array_equal(widened.source_values(), uint8.source_values())  # same values
    assert widened.source_values().dtype == np.uint16
    floats = UltrasoundImage(frames=frames, intensity=IntensityMapping("float32", 0.0, 1.0))
    narrowed = image_result(floats, image_dtype("uint8"))
    assert narrowed.source_values().max() == 255 and narrowed.source_values().dtype == np.uint8
    assert image_result(floats, None) is floats


def test_model_versions_take_the_newest_complete_folder(tmp_path: Path) -> None:
    versions = ModelVersions("breast", tmp_path / "segment_breast", device="cpu")
    assert versions.folders() == [shipped_bundle("breast")]
    assert versions.latest() == (0, shipped_bundle("breast"))
    assert versions.describe()["model_version"] == 0
    for name, weights in (("v0001", True), ("v0002", True), ("v0004", False), (".v0003.tmp", True)):
        folder = tmp_path / "segment_breast" / name
        (folder / "models").mkdir(parents=True)
        if weights:
            (folder / "models" / "model.pt").write_bytes(b"x")
    assert versions.latest() == (2, tmp_path / "segment_breast" / "v0002")
    assert versions.next_folder() == (3, tmp_path / "segment_breast" / "v0003")


def test_http_status_of_errors() -> None:
    from monailabel.interfaces.exception import ImageNotFoundException, MONAILabelError, MONAILabelException

    assert http_status(NotFoundError("x")) == 404
    assert http_status(UnknownMethodError("x")) == 404
    assert http_status(ImageNotFoundException("x")) == 404
    assert http_status(InvalidParameterError("x")) == 400
    assert http_status(MONAILabelException(MONAILabelError.INVALID_INPUT, "x")) == 400
    assert http_status(RuntimeError("bug")) == 500


def test_pydicom_seg_resolves_to_the_pydicom3_fork() -> None:
    import pydicom_seg
    from monailabel.datastore.utils import convert

    assert pydicom_seg.__name__ == "pydicom_seg_rb"
    assert convert.pydicom_seg.MultiClassWriter is pydicom_seg.MultiClassWriter


def test_app_folder_and_socket(tmp_path: Path) -> None:
    app_dir = launcher.prepare_app_dir(tmp_path / "app")
    assert (app_dir / "main.py").read_text() == launcher.APP_MAIN
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "main.py").write_text("class MyApp: ...\n")
    with pytest.raises(OutputPathError, match="another MONAI Label app"):
        launcher.prepare_app_dir(foreign)
    sock = launcher.listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening before any server runs: clients queue, no port race
        with pytest.raises(DespeckleError, match=f"cannot listen on 127.0.0.1:{port}"):
            launcher.listen("127.0.0.1", port).close()
    finally:
        sock.close()


def test_label_command_imports_nothing_heavy() -> None:
    code = (
        "import sys, monai_despeckle.commands.label as m; "
        "print(sorted(n for n in ('torch', 'monai', 'monailabel', 'numpy') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class FakeDatastore:
    """The part of a MONAI Label datastore the training and strategies read."""

    def __init__(self, root: Path, labelled: dict[str, str | None], unlabelled: list[str] = ()) -> None:
        self.root, self.labelled, self.unlabelled = root, labelled, list(unlabelled)

    def get_labeled_images(self) -> list[str]:
        return list(self.labelled)

    def get_unlabeled_images(self) -> list[str]:
        return list(self.unlabelled)

    def get_label_info(self, image_id: str, tag: str) -> dict:
        return {"model": self.labelled[image_id]} if self.labelled[image_id] else {}

    def get_image_uri(self, image_id: str) -> str:
        return str(next(self.root.glob(f"{image_id}.*")))

    def get_label_uri(self, image_id: str, tag: str) -> str:
        return str(next((self.root / "labels").glob(f"{image_id}.*")))


def test_training_data_one_sample_per_frame_of_the_models_labels(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    rng = np.random.default_rng(1)
    cine = UltrasoundImage(frames=rng.random((2, 8, 9), dtype=np.float32))
    io.save(cine, tmp_path / "cine.nii.gz")
    masks = np.zeros((2, 8, 9), np.float32)
    masks[0, 2:5, 3:6] = 1 / 255
    io.save(cine.with_frames(masks), tmp_path / "labels" / "cine.nii.gz")
    io.save(UltrasoundImage(frames=rng.random((1, 8, 9), dtype=np.float32)), tmp_path / "other.png")
    io.save(UltrasoundImage(frames=masks[:1]), tmp_path / "labels" / "other.png")
    store = FakeDatastore(tmp_path, {"cine": None, "other": "segment_carotid"})
    pairs = final_label_pairs(store, "segment_breast")
    assert [p["id"] for p in pairs] == ["cine"]  # the other label is the carotid model's
    assert len(final_label_pairs(store, "segment_carotid")) == 2  # an untagged label serves both
    count = export_training_data(pairs, tmp_path / "train", "_frame_")
    assert count == 2
    names = sorted(p.name for p in (tmp_path / "train" / "images").iterdir())
    assert names == ["cine_frame_0000.png", "cine_frame_0001.png"]
    mask = io.load(tmp_path / "train" / "masks" / "cine_frame_0000_mask.png").source_values()[0]
    assert mask.sum() == 9 and mask[2:5, 3:6].all()
    image = io.load(tmp_path / "train" / "images" / "cine_frame_0001.png").frames[0]
    np.testing.assert_allclose(image, cine.frames[1], atol=1 / 255)


def test_training_refuses_too_few_labels_and_bad_settings(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    io.save(UltrasoundImage(frames=np.zeros((1, 4, 4), np.float32)), tmp_path / "a.png")
    io.save(UltrasoundImage(frames=np.zeros((1, 4, 4), np.float32)), tmp_path / "labels" / "a.png")
    task = FineTuneTask("segment_breast", "breast", ModelVersions("breast", tmp_path / "m"), device="cpu")
    with pytest.raises(InvalidParameterError, match="at least 2 images"):
        task({}, FakeDatastore(tmp_path, {"a": "segment_breast"}))
    assert not (tmp_path / "m").exists() and task.stats() == {}
    assert _settings({"max_epochs": "3", "lr": 0.01}) == {
        "max_epochs": 3,
        "batch_size": 8,
        "lr": 0.01,
        "phantom_count": 0,
    }
    for bad in ({"max_epochs": 1.5}, {"batch_size": "many"}, {"phantom_count": True}):
        with pytest.raises(InvalidParameterError):
            _settings(bad)


class ThresholdSegmenter:
    """Labels the pixels brighter than 0.5: stable for black/white frames, not for mid-grey ones."""

    def predict(self, frames: np.ndarray) -> np.ndarray:
        return (np.asarray(frames) > 0.5).astype(np.uint8)


class FixedVersions:
    def segmenter(self, *, mirror: bool = True) -> ThresholdSegmenter:
        return ThresholdSegmenter()


def test_uncertainty_serves_the_least_stable_image(tmp_path: Path) -> None:
    assert dice(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    crisp = np.zeros((1, 8, 8), np.float32)
    crisp[:, 2:6, 2:6] = 1.0
    ramp = np.tile(np.linspace(0.3, 0.7, 8, dtype=np.float32), (1, 8, 1))  # gamma moves its threshold
    assert augmentation_disagreement(ThresholdSegmenter(), crisp) == 0.0
    assert augmentation_disagreement(ThresholdSegmenter(), ramp) > 0.05  # gamma moves 1 of 8 columns
    io.save(UltrasoundImage(frames=crisp), tmp_path / "crisp.png")
    io.save(UltrasoundImage(frames=ramp), tmp_path / "ramp.png")
    strategy = TTAUncertainty({"segment_breast": FixedVersions()})
    chosen = strategy({"strategy": "uncertainty"}, FakeDatastore(tmp_path, {}, ["crisp", "ramp"]))
    assert chosen["id"] == "ramp" and chosen["candidates"] == 2
    assert strategy({}, FakeDatastore(tmp_path, {}, [])) is None
    with pytest.raises(NotFoundError, match="segment_nope"):
        strategy({"model": "segment_nope"}, FakeDatastore(tmp_path, {}, ["crisp"]))
