"""The MONAI Label app served for real: ``monai-despeckle label`` on 127.0.0.1, called over HTTP.

One server per module (started by the project's own command on this interpreter, on a port the
system picks and the server prints), called with raw HTTP (``requests``) and with MONAI Label's
own client (``monailabel.client.MONAILabelClient``, what the 3D Slicer plugin uses), and stopped
by its process id. The data are tiny simulated phantoms, so every result can be checked against
the phantom's ground truth.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monailabel", reason="MONAI Label server not installed (requirements/label.txt)")

import requests
import SimpleITK as sitk

from monai_despeckle import io
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.simulation import label_map, simulate_breast, simulate_carotid

START_TIMEOUT_S = 120
TRAIN_TIMEOUT_S = 180
READY = re.compile(r"MONAI Label server on (http://127\.0\.0\.1:\d+/)")
BREAST_IDS = ("breast_0", "breast_1", "breast_2")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    root: Path
    studies: Path
    log: Path

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path.lstrip("/"), timeout=60, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path.lstrip("/"), timeout=60, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return requests.put(self.url + path.lstrip("/"), timeout=60, **kwargs)


def _write_data(root: Path) -> Path:
    """Studies: three breast phantom PNGs and a 3-frame carotid NIfTI cine with real geometry."""
    studies = root / "studies"
    studies.mkdir()
    for index, image_id in enumerate(BREAST_IDS):
        phantom = simulate_breast(size=96, seed=index)
        io.save(UltrasoundImage(frames=phantom.bmode[None]), studies / f"{image_id}.png")
        io.save(_mask_image(label_map(phantom)), root / f"{image_id}_truth.png")
    frames = [simulate_carotid(size=80, seed=10 + i) for i in range(3)]
    cine = UltrasoundImage(
        frames=np.stack([f.bmode for f in frames]),
        spacing=(1.0, 0.15, 0.2),
        origin=(12.0, -4.0, 3.0),
        kind=ImageKind.CINE,
        frame_time_ms=40.0,
    )
    io.save(cine, studies / "carotid_cine.nii.gz")
    np.save(root / "carotid_truth.npy", np.stack([f.masks["lumen"] for f in frames]))
    return studies


def _mask_image(labels: np.ndarray) -> UltrasoundImage:
    return UltrasoundImage(frames=(labels.astype(np.float32) / 255.0)[None])


def _ready_url(log: Path, process: subprocess.Popen) -> str:
    """The URL the server printed once its socket listened (the port is the one it bound)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = READY.search(log.read_text(errors="replace")) if log.exists() else None
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("monailabel")
    studies = _write_data(root)
    log = root / "server.log"
    command = [sys.executable, "-m", "monai_despeckle.cli", "label", "--studies", str(studies)]
    command += ["--host", "127.0.0.1", "--port", "0", "--device", "cpu", "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    try:
        url = _ready_url(log, process)
        running = Server(url, process, root, studies, log)
        assert running.get("/info/").status_code == 200  # waits for the app's start-up
        yield running
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def client(server: Server, tmp_path_factory: pytest.TempPathFactory):
    from monailabel.client import MONAILabelClient

    return MONAILabelClient(server.url, tmpdir=str(tmp_path_factory.mktemp("client")))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return 2.0 * float(np.logical_and(a, b).sum()) / max(1, int(a.sum()) + int(b.sum()))


def _corners(image: sitk.Image) -> np.ndarray:
    """Physical positions of the first voxel and its neighbours along x and y (geometry in one array)."""
    size = image.GetSize()
    indices = [(0, 0), (size[0] - 1, 0), (0, size[1] - 1)]
    pad = (0,) * (image.GetDimension() - 2)
    return np.array([image.TransformIndexToPhysicalPoint((*index, *pad)) for index in indices])


def assert_same_geometry(result: str | Path, source: str | Path) -> sitk.Image:
    """The result has the source's size, spacing, origin and direction; returns it."""
    out, ref = sitk.ReadImage(str(result)), sitk.ReadImage(str(source))
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), ref.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(out.GetDirection(), ref.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(_corners(out), _corners(ref), atol=1e-5)
    return out


def test_info_lists_tasks_trainers_and_strategies(server: Server, client) -> None:
    raw = server.get("/info/").json()
    assert (
        client.info()["models"].keys()
        == raw["models"].keys()
        == {"segment_breast", "segment_carotid", "despeckle"}
    )
    models = raw["models"]
    assert models["segment_breast"]["type"] == "segmentation"
    assert models["segment_breast"]["labels"] == {"lesion": 1}
    assert models["segment_carotid"]["labels"] == {"lumen": 1}
    assert models["segment_breast"]["config"]["despeckle"][0] == "none"  # the shipped model's own
    assert {"dae_skip", "srad", "none"} <= set(models["segment_breast"]["config"]["despeckle"])
    assert models["despeckle"]["type"] == "others"
    assert models["despeckle"]["config"]["method"][0] == "dae_skip"
    assert set(raw["trainers"]) == {"segment_breast", "segment_carotid"}
    assert {"random", "first", "uncertainty"} <= set(raw["strategies"])
    assert raw["datastore"]["total"] >= 4


def test_segment_png_like_slicer(server: Server, client) -> None:
    """3D Slicer's request: a datastore image, ``.nrrd`` and ``uint8`` results."""
    result, params = client.infer(
        "segment_breast", "breast_0", {"result_extension": ".nrrd", "result_dtype": "uint8"}
    )
    assert result.endswith(".nrrd")
    out = assert_same_geometry(result, server.studies / "breast_0.png")
    labels = sitk.GetArrayFromImage(out)
    assert out.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(labels)) <= {0, 1}
    truth = io.load(server.root / "breast_0_truth.png").source_values()[0]
    assert _dice(labels.reshape(truth.shape), truth) > 0.6  # upright, aligned and right
    assert params["despeckle"] == "none" and params["label_names"] == {"lesion": 1}


def test_segment_nifti_cine_upload_keeps_geometry(server: Server) -> None:
    source = server.studies / "carotid_cine.nii.gz"
    with source.open("rb") as handle:
        response = server.post(
            "/infer/segment_carotid?output=image",
            files={"file": ("scan.nii.gz", handle)},
            data={"params": json.dumps({"result_extension": ".nii.gz"})},
        )
    assert response.status_code == 200, response.text
    result = server.root / "cine_result.nii.gz"
    result.write_bytes(response.content)
    out = assert_same_geometry(result, source)
    assert out.GetDimension() == 4  # still an [X, Y, 1, T] cine
    labels = io.load(result).source_values()
    truth = np.load(server.root / "carotid_truth.npy")
    assert labels.shape == truth.shape == (3, 80, 80)
    assert all(_dice(labels[t], truth[t]) > 0.6 for t in range(3))


def test_segment_despeckles_first_with_the_chosen_method(server: Server, client) -> None:
    from monai_despeckle.inference import Despeckler
    from monai_despeckle.segmentation import Segmenter

    result, params = client.infer("segment_carotid", "carotid_cine", {"despeckle": "lee"})
    assert params["despeckle"] == "lee" and params["frames"] == 3
    cine = io.load(server.studies / "carotid_cine.nii.gz")
    despeckled = Despeckler("lee", device="cpu").run(cine).frames
    expected = Segmenter("carotid", device="cpu").predict(despeckled, despeckled=True)
    served = io.load(result).source_values()
    assert np.mean(served != expected) < 0.002  # the same pipeline (up to float rounding)
    raw = Segmenter("carotid", device="cpu").predict(cine.frames)
    assert not np.array_equal(served, raw)  # the despeckler did change the input


def test_segment_hw1_nifti_upload_like_slicer(server: Server, client) -> None:
    """A PNG loaded in Slicer arrives as an H×W×1 NIfTI with Slicer's geometry; the label map keeps it."""
    phantom = simulate_breast(size=96, seed=1)
    upload = sitk.GetImageFromArray((phantom.bmode * 255).astype(np.uint8)[None])
    upload.SetSpacing((0.3, 0.25, 1.0))
    upload.SetOrigin((-14.0, 11.0, 2.5))
    upload.SetDirection((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    path = server.root / "slicer_upload.nii.gz"
    sitk.WriteImage(upload, str(path))
    params = {"result_extension": ".nrrd", "result_dtype": "uint8"}
    result, _ = client.infer("segment_breast", "", params, file=str(path))
    out = assert_same_geometry(result, path)
    assert out.GetSize() == (96, 96, 1)
    assert _dice(sitk.GetArrayFromImage(out)[0], phantom.masks["lesion"]) > 0.6


def test_segment_nrrd_upload_answers_nrrd_in_its_geometry(server: Server, client) -> None:
    phantom = simulate_breast(size=96, seed=2)
    upload = sitk.GetImageFromArray((phantom.bmode * 255).astype(np.uint8))
    upload.SetSpacing((0.2, 0.3))
    upload.SetOrigin((3.0, -7.0))
    upload.SetDirection((0.0, 1.0, 1.0, 0.0))  # rows along x, columns along y
    path = server.root / "upload.nrrd"
    sitk.WriteImage(upload, str(path))
    result, _ = client.infer("segment_breast", "", {}, file=str(path))
    assert result.endswith(".nrrd")  # no result_extension: the input's own type
    out = assert_same_geometry(result, path)
    assert _dice(sitk.GetArrayFromImage(out), phantom.masks["lesion"]) > 0.6


def test_result_dtype_is_honoured(server: Server) -> None:
    response = server.post(
        "/infer/segment_breast?image=breast_1&output=image",
        data={"params": json.dumps({"result_extension": ".nii.gz", "result_dtype": "float32"})},
    )
    assert response.status_code == 200, response.text
    result = server.root / "float_labels.nii.gz"
    result.write_bytes(response.content)
    labels = sitk.ReadImage(str(result))
    assert labels.GetPixelID() == sitk.sitkFloat32
    assert set(np.unique(sitk.GetArrayFromImage(labels))) == {0.0, 1.0}


def test_despeckle_returns_the_method_output(server: Server, client) -> None:
    from monai_despeckle.inference import Despeckler

    result, params = client.infer("despeckle", "breast_2", {"method": "srad"})
    assert params["method"] == "srad"
    assert_same_geometry(result, server.studies / "breast_2.png")
    expected = Despeckler("srad", device="cpu").run(io.load(server.studies / "breast_2.png"))
    served = io.load(result).source_values().astype(int)
    assert np.abs(served - expected.source_values().astype(int)).max() <= 1  # same filter, same rounding
    original = io.load(server.studies / "breast_2.png").source_values().astype(int)
    assert np.abs(served - original).mean() > 1.0


def test_upload_image_then_segment_it(server: Server, client) -> None:
    phantom = simulate_breast(size=96, seed=7)
    path = server.root / "new_scan.png"
    io.save(UltrasoundImage(frames=phantom.bmode[None]), path)
    assert client.upload_image(str(path), "uploaded_scan")["image"] == "uploaded_scan"
    assert (server.studies / "uploaded_scan.png").is_file()
    assert "uploaded_scan" in client.datastore()["objects"]
    result, _ = client.infer("segment_breast", "uploaded_scan", {})
    assert _dice(io.load(result).source_values()[0], phantom.masks["lesion"]) > 0.6


def test_save_final_label(server: Server, client) -> None:
    label = server.root / "breast_2_truth.png"
    saved = client.save_label("breast_2", str(label), "final", {"model": "segment_breast"})
    assert saved == {"image": "breast_2", "label": "breast_2"}
    stored = server.studies / "labels" / "final" / "breast_2.png"
    np.testing.assert_array_equal(io.load(stored).source_values(), io.load(label).source_values())
    objects = client.datastore()["objects"]
    assert objects["breast_2"]["labels"]["final"]["info"]["model"] == "segment_breast"


def test_training_writes_a_new_model_version(server: Server, client) -> None:
    for image_id in BREAST_IDS:
        client.save_label(
            image_id, str(server.root / f"{image_id}_truth.png"), "final", {"model": "segment_breast"}
        )
    before = client.info()["models"]["segment_breast"]
    started = server.post("/train/segment_breast", json={"max_epochs": 1, "batch_size": 2})
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    status = client.train_status()
    while status["status"] in ("SUBMITTED", "RUNNING"):
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.5)
        status = client.train_status()
    assert status["status"] == "DONE", "\n".join(status.get("details", []))
    info = client.info()
    after = info["models"]["segment_breast"]
    assert after["model_version"] == before["model_version"] + 1
    assert after["model_sha256"] != before["model_sha256"]
    stats = info["train_stats"]["segment_breast"]
    assert stats["model_version"] == after["model_version"] and stats["epoch"] == 1
    assert 0.0 <= stats["val_dice"] <= 1.0 and stats["best_metric"] == stats["val_dice"]
    _, params = client.infer("segment_breast", "breast_0", {})
    assert params["model_version"] == after["model_version"]
    assert params["model_sha256"] == after["model_sha256"]
    assert info["models"]["segment_carotid"]["model_version"] == 0  # other task untouched


def test_next_sample_strategies(server: Server, client) -> None:
    objects = client.datastore()["objects"]
    unlabelled = sorted(k for k, v in objects.items() if "final" not in v["labels"])
    assert unlabelled, "the module's data always keep the carotid cine unlabelled"
    assert client.next_sample("first", {})["id"] == unlabelled[0]
    assert client.next_sample("random", {})["id"] in unlabelled
    judged = client.next_sample("uncertainty", {"model": "segment_carotid"})
    assert judged["id"] in unlabelled and 0.0 <= judged["uncertainty"] <= 1.0


BAD_REQUESTS = [
    ("post", "/infer/segment_breast?image=no_such_image", {}, 404, "no_such_image"),
    ("post", "/infer/no_such_model?image=breast_0", {}, 404, "no_such_model"),
    ("post", "/train/no_such_model", {"json": {}}, 404, "no_such_model"),
    ("post", "/activelearning/no_such_strategy", {}, 404, "no_such_strategy"),
    (
        "post",
        "/infer/segment_breast?image=breast_0",
        {"data": {"params": '{"despeckle": "bogus"}'}},
        404,
        "bogus",
    ),
    ("post", "/infer/despeckle?image=breast_0", {"data": {"params": '{"method": "bogus"}'}}, 404, "bogus"),
    (
        "post",
        "/infer/segment_breast?image=breast_0",
        {"data": {"params": '{"result_extension": ".xyz"}'}},
        400,
        ".xyz",
    ),
    ("post", "/infer/segment_breast", {"files": {"file": ("scan.png", b"not a png")}}, 400, "cannot"),
    (
        "put",
        "/datastore/image?image=broken",
        {"files": {"file": ("broken.nii.gz", b"\x00" * 40)}},
        400,
        "cannot",
    ),
    (
        "put",
        "/datastore/label?image=no_such_image",
        {"files": {"label": ("x.png", b"x")}},
        404,
        "no_such_image",
    ),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "named"), BAD_REQUESTS)
def test_bad_request_is_a_4xx_with_a_message(server: Server, method, path, kwargs, status, named) -> None:
    response = getattr(server, method)(path, **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert named in detail and "Traceback" not in response.text


def test_mismatched_label_is_refused(server: Server, client) -> None:
    from monailabel.client.client import MONAILabelClientException

    with pytest.raises(MONAILabelClientException, match="Status: 400"):
        client.save_label("breast_0", str(server.studies / "carotid_cine.nii.gz"), "final", {})
