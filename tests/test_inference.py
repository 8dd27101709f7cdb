"""The inference engine: method resolution, padding, batching, slicing, device and precision choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from monai_despeckle import methods
from monai_despeckle.errors import InvalidImageError, InvalidParameterError, UnknownMethodError
from monai_despeckle.inference import Despeckler, NetworkMethod, despeckle
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.methods import MethodSpec
from monai_despeckle.resolver import create_method
from monai_despeckle.runtime import (
    choose_batch_size,
    cpu_memory_budget,
    crop_back,
    estimate_activation_bytes_per_pixel,
    pad_to_multiple,
    resolve_device,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class TinyNet(nn.Module):
    """A two-level encoder-decoder: H and W must be multiples of 4 (it refuses anything else)."""

    size_multiple = 4

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng():  # seeded weights without touching the global generator
            torch.manual_seed(seed)
            self.down1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
            self.down2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
            self.up2 = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.up1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.out = nn.Conv2d(5, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.size_multiple or x.shape[-1] % self.size_multiple:
            raise ValueError(f"input {tuple(x.shape)} is not a multiple of {self.size_multiple}")
        d1 = torch.relu(self.down1(x))
        d2 = torch.relu(self.down2(d1))
        u2 = torch.relu(self.up2(d2))
        u1 = torch.relu(self.up1(torch.cat([u2, d1], dim=1)))
        return torch.sigmoid(self.out(torch.cat([u1, x], dim=1)))


class Multiple8Net(TinyNet):
    size_multiple = 8


class BatchSpy:
    """A Method (3×3 box filter in torch) that records the size of every batch it receives."""

    name = "spy"
    gpu = True

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        self.batches.append(frames.shape[0])
        padded = torch.nn.functional.pad(frames, (1, 1, 1, 1), mode="replicate")
        return torch.nn.functional.avg_pool2d(padded, 3, stride=1)


def _image(frames: np.ndarray, kind: ImageKind = ImageKind.CINE) -> UltrasoundImage:
    direction = np.array([[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])
    return UltrasoundImage(
        frames,
        spacing=(2.0, 0.3, 0.2),
        origin=(1.0, -2.0, 3.0),
        direction=direction,
        kind=kind,
        frame_time_ms=40.0 if kind is ImageKind.CINE else None,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
        metadata={"format": "nifti", "note": "kept"},
    )


@pytest.fixture
def frames() -> np.ndarray:
    return np.random.default_rng(3).random((13, 37, 53), dtype=np.float32)


def test_padding_to_size_multiple_matches_numpy_reflect_oracle(frames):
    net = Multiple8Net().eval()
    method = NetworkMethod(net, "m8", device="cpu")
    batch = torch.from_numpy(frames[:3]).unsqueeze(1)
    out = method(batch)
    assert out.shape == batch.shape and out.dtype == torch.float32
    # oracle: numpy reflect padding split evenly (37 -> 40: 1 + 2 rows; 53 -> 56: 1 + 2 columns)
    padded = np.pad(frames[:3], ((0, 0), (1, 2), (1, 2)), mode="reflect")
    with torch.no_grad():
        expected = net(torch.from_numpy(padded).unsqueeze(1))[:, :, 1:38, 1:54]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_pad_wider_than_the_frame_and_crop_back_round_trip():
    x = torch.arange(15, dtype=torch.float32).reshape(1, 1, 3, 5)
    padded, crop = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (16, 16)
    torch.testing.assert_close(crop_back(padded, crop), x)
    single_row = torch.rand(2, 1, 1, 6)
    padded, crop = pad_to_multiple(single_row, 4)  # nothing to reflect along H: replicated
    assert padded.shape[-2:] == (4, 8)
    torch.testing.assert_close(crop_back(padded, crop), single_row)


def test_run_keeps_geometry_and_metadata_and_records_the_method(frames):
    image = _image(frames)
    result = Despeckler(TinyNet(), device="cpu").run(image)
    assert result.frames.shape == image.frames.shape and result.frames.dtype == np.float32
    assert result.frames.min() >= 0.0 and result.frames.max() <= 1.0
    assert result.spacing == image.spacing and result.origin == image.origin
    np.testing.assert_array_equal(result.direction, image.direction)
    assert (result.kind, result.frame_time_ms, result.intensity) == (image.kind, 40.0, image.intensity)
    assert result.metadata["note"] == "kept" and "TinyNet" in result.metadata["derivation_description"]
    assert "derivation_description" not in image.metadata  # the input is untouched


@pytest.mark.parametrize("method", ["network", "lee"])
@pytest.mark.parametrize("axis", [1, 2])
def test_axis_1_and_2_equal_manual_reslicing(method, axis):
    volume = np.random.default_rng(axis).random((9, 20, 26), dtype=np.float32)
    image = _image(volume, ImageKind.VOLUME)
    engine = Despeckler(TinyNet() if method == "network" else method, device="cpu", batch_size=4)
    resliced = np.moveaxis(volume, axis, 0)  # [H, T, W] or [W, T, H]
    manual = engine.run(_image(np.ascontiguousarray(resliced), ImageKind.VOLUME)).frames
    along = engine.run(image, axis=axis).frames
    np.testing.assert_allclose(along, np.moveaxis(manual, 0, axis), rtol=0, atol=1e-6)
    assert not np.allclose(along, engine.run(image, axis=0).frames, atol=1e-3)  # a different operation


def test_batches_depend_only_on_frame_order_not_on_chunking(frames):
    spy = BatchSpy()
    engine = Despeckler(spy, device="cpu", batch_size=4)
    whole = engine.run(_image(frames)).frames
    assert spy.batches == [4, 4, 4, 1]
    spy.batches.clear()
    chunks = [frames[0:3], frames[3], frames[4:11], frames[11:13]]  # a 2-D frame among 3-D chunks
    outputs = list(engine.iter_frames(chunks, total=13))
    assert spy.batches == [4, 4, 4, 1]
    assert [out.shape for out in outputs] == [chunk.shape for chunk in chunks]
    np.testing.assert_array_equal(np.concatenate([o if o.ndim == 3 else o[None] for o in outputs]), whole)


def test_iter_frames_handles_a_change_of_frame_size(frames):
    spy = BatchSpy()
    engine = Despeckler(spy, device="cpu", batch_size=4)
    small = frames[:6, :20, :24]
    outputs = list(engine.iter_frames([frames[:3], small]))
    assert spy.batches == [3, 4, 2]  # the 37 × 53 frames are finished before the 20 × 24 ones start
    assert [out.shape for out in outputs] == [(3, 37, 53), (6, 20, 24)]
    np.testing.assert_array_equal(outputs[1], engine.run(_image(np.ascontiguousarray(small))).frames)


def test_iter_frames_passes_empty_chunks_of_any_size_through(frames):
    spy = BatchSpy()
    engine = Despeckler(spy, device="cpu", batch_size=4)
    empty = np.empty((0, 9, 9), np.float32)  # a size no frame of the stream has
    outputs = list(engine.iter_frames([empty, frames[:5], empty, frames[5:7]]))
    assert spy.batches == [4, 1, 2]  # a chunk of another size, even empty, finishes the pending frames
    assert [out.shape for out in outputs] == [(0, 9, 9), (5, 37, 53), (0, 9, 9), (2, 37, 53)]
    np.testing.assert_array_equal(
        np.concatenate([outputs[1], outputs[3]]), engine.run(_image(frames[:7])).frames
    )


def test_a_progress_bar_is_asked_per_call_and_the_setting_is_only_the_default(frames, capsys):
    engine = Despeckler("none", device="cpu", progress=True)
    list(engine.iter_frames([frames[:3]], total=3, progress=False))
    engine.run(_image(frames[:2]), progress=False)
    assert capsys.readouterr().err == ""
    list(engine.iter_frames([frames[:3]], total=3))
    assert "3/3" in capsys.readouterr().err
    Despeckler("none", device="cpu").run(_image(frames[:2]), progress=True)
    assert "2/2" in capsys.readouterr().err


def test_iter_frames_refuses_integer_frames():
    engine = Despeckler("none", device="cpu")
    with pytest.raises(InvalidImageError, match="float"):
        list(engine.iter_frames([np.zeros((2, 8, 8), dtype=np.uint8)]))


def test_despeckle_wrapper_equals_despeckler_and_accepts_method_objects(frames):
    image = _image(frames[:4])
    by_object = despeckle(image, create_method("median"))
    by_name = Despeckler("median", device="cpu").run(image)
    np.testing.assert_array_equal(by_object.frames, by_name.frames)
    assert not np.array_equal(by_object.frames, image.frames)


def test_auto_device_on_this_machine_picks_cpu_and_full_precision():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    engine = Despeckler(TinyNet())
    assert engine.device.type == expected
    if expected == "cpu":
        assert engine.precision == "fp32"
        assert 1 <= engine.batch_size_for((512, 512)) <= 16
        assert engine.batch_size_for((64, 64)) >= engine.batch_size_for((512, 512))


class WideNet(nn.Module):
    """256 full-resolution feature maps: about 1 kB of activations per pixel."""

    size_multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.expand = nn.Conv2d(1, 256, 3, padding=1)
        self.reduce = nn.Conv2d(256, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.reduce(self.expand(x)))


def test_cpu_batch_of_a_network_follows_its_activation_memory():
    # TinyNet on a 64² probe: layer outputs 4·32² + 8·16² + 4·32² + 4·64² + 1·64² floats = 30 B/pixel
    assert estimate_activation_bytes_per_pixel(TinyNet(), 4) == pytest.approx(30.0)
    assert estimate_activation_bytes_per_pixel(WideNet()) == pytest.approx(4 * 257)
    if torch.cuda.is_available():
        pytest.skip("the CPU rule is not used on a CUDA machine")
    narrow, wide = Despeckler(TinyNet()), Despeckler(WideNet())
    assert wide.batch_size_for((512, 512)) < narrow.batch_size_for((512, 512)) <= 16
    assert wide.batch_size_for((512, 512)) <= max(1, cpu_memory_budget() // (4 * 257 * 512 * 512))


def test_cpu_only_filters_run_on_the_cpu_and_batch_size_is_parsed():
    assert Despeckler("median", device="cpu").device.type == "cpu"
    assert choose_batch_size("5", torch.device("cpu"), (64, 64)) == 5
    for bad in (0, "many", -2):
        with pytest.raises(InvalidParameterError, match="batch size"):
            Despeckler("median", batch_size=bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a CPU-only machine")
def test_asking_for_cuda_without_a_gpu_is_a_user_error():
    with pytest.raises(InvalidParameterError, match="no CUDA GPU"):
        Despeckler("median", device="cuda")


def test_bad_names_and_options_are_user_errors(frames):
    with pytest.raises(UnknownMethodError, match="no_such_method"):
        Despeckler("no_such_method")
    with pytest.raises(InvalidParameterError, match="needs a network"):
        Despeckler("median", backend="onnx")
    with pytest.raises(InvalidParameterError, match="precision"):
        Despeckler(TinyNet(), precision="fp8")
    with pytest.raises(InvalidParameterError, match="axis"):
        Despeckler("none").run(_image(frames), axis=3)
    with pytest.raises(InvalidParameterError, match="single frame"):
        Despeckler("none").run(_image(frames[:1]), axis=1)


def test_registered_learned_method_returning_a_module_is_wrapped(monkeypatch, frames):
    spec = MethodSpec("tiny_learned", lambda: TinyNet(), "test network", "learned", True)
    monkeypatch.setitem(methods._REGISTRY, spec.name, spec)
    engine = Despeckler("tiny_learned", device="cpu")
    assert isinstance(engine.method, NetworkMethod) and engine.method.size_multiple == 4
    direct = Despeckler(TinyNet(), device="cpu").run(_image(frames)).frames
    np.testing.assert_array_equal(engine.run(_image(frames)).frames, direct)


def test_bf16_autocast_and_channels_last_on_cpu_stay_close_to_fp32(frames):
    image = _image(frames[:4])
    reference = Despeckler(TinyNet(), device="cpu").run(image).frames
    nhwc = Despeckler(TinyNet(), device="cpu", channels_last=True).run(image).frames
    np.testing.assert_allclose(nhwc, reference, atol=1e-5)
    bf16 = Despeckler(TinyNet(), device="cpu", precision="bf16")
    assert bf16.precision == "bf16"
    np.testing.assert_allclose(bf16.run(image).frames, reference, atol=2e-2)


@CUDA
def test_cuda_auto_precision_pinned_transfer_and_memory_based_batch(frames):
    engine = Despeckler(TinyNet(), device="auto")
    assert engine.device.type == "cuda"
    assert engine.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert engine.batch_size_for((512, 512)) >= 1
    assert torch.backends.cudnn.benchmark
    image = _image(frames)
    on_gpu = engine.run(image).frames
    on_cpu = Despeckler(TinyNet(), device="cpu").run(image).frames
    np.testing.assert_allclose(on_gpu, on_cpu, atol=2e-2)


@CUDA
def test_cuda_runs_gpu_capable_filters_on_the_gpu_and_others_on_the_cpu():
    assert Despeckler("lee", device="cuda").device.type == "cuda"
    assert Despeckler("median", device="cuda").device.type == "cpu"
