"""Despeckling networks: the inference contract, architecture facts from the papers, export."""

import numpy as np
import pytest
import torch
from torch import nn

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.losses import Speckle2SelfLoss
from monai_despeckle.networks import (
    NETWORKS,
    PAPER_FEATURES,
    DenoisingAutoencoder,
    Pix2PixGenerator,
    Speckle2Self,
    Speckle2SelfInference,
    build_network,
)
from monai_despeckle.networks.patch_gan import PatchDiscriminator
from monai_despeckle.networks.speckle2self import image_statistics
from monai_despeckle.simulation import PHANTOMS
from monai_despeckle.speckle import multiscale_views

# small widths keep the export tests fast; the defaults are checked separately
SMALL = {
    "dae_skip": {"features": (8, 16, 32)},
    "dae_noskip": {"features": (8, 16, 32)},
    "speckle2self": {"features": (8, 16, 32, 64)},
    "pix2pix": {"features": 8},
}


@pytest.fixture(autouse=True)
def single_threaded():
    """Small tensors: one torch thread is as fast, and robust to another process holding a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(params=sorted(NETWORKS))
def name(request) -> str:
    return request.param


def frames(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_every_default_network_honours_the_inference_contract(name):
    torch.manual_seed(0)
    network = build_network(name).eval()
    assert isinstance(network.size_multiple, int) and 64 % network.size_multiple == 0
    x = frames()
    with torch.inference_mode():
        y = network(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.allclose(y[0], y[1])  # the output depends on the input


def test_size_multiple_is_the_total_downsampling():
    assert DenoisingAutoencoder(features=(4, 8)).size_multiple == 4
    assert DenoisingAutoencoder(features=(4, 8, 16, 32)).size_multiple == 16
    assert Speckle2SelfInference(features=(4, 8, 16)).size_multiple == 8
    assert Pix2PixGenerator(features=4, num_downs=8).size_multiple == 256
    with torch.inference_mode():  # 2**levels really is the smallest size that fits
        assert DenoisingAutoencoder(features=(4, 8)).eval()(torch.rand(1, 1, 4, 12)).shape == (1, 1, 4, 12)


def test_skip_connections_concatenate_the_encoder_maps():
    widths = PAPER_FEATURES
    skip, plain = DenoisingAutoencoder(widths, skip=True), DenoisingAutoencoder(widths, skip=False)
    # each decoder scale's 3×3 fusion conv reads `width` more channels with skips
    assert n_params(skip) - n_params(plain) == sum(w * w * 9 for w in widths)
    assert build_network("dae_skip").skip and not build_network("dae_noskip").skip
    x = frames(1)
    with torch.inference_mode():
        assert not torch.allclose(skip.eval()(x), plain.eval()(x))


def test_speckle2self_parameter_counts_match_the_paper():
    model = Speckle2Self()
    inference = model.inference_network()
    assert abs(n_params(inference) - 3.91e6) / 3.91e6 < 0.05
    assert abs(n_params(model) - 7.82e6) / 7.82e6 < 0.05
    assert n_params(build_network("speckle2self")) == n_params(inference)
    # InstanceNorm without affine parameters, everywhere
    norms = [m for m in inference.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)


def test_speckle2self_views_share_the_decoder_and_the_inference_network_shares_weights():
    torch.manual_seed(0)
    model = Speckle2Self(features=(8, 16, 32, 64)).eval()
    views = [frames(2, seed=s) for s in range(3)]
    with torch.inference_mode():
        outputs = model(views)
        inference = model.inference_network()
        assert len(outputs) == 3 and all(o.shape == views[0].shape for o in outputs)
        assert torch.equal(inference(views[0]), outputs[0])
        decoded = model.decoder(model.encoders[2](views[2]), *image_statistics(views[2]))
        assert torch.equal(decoded, outputs[2])
    assert inference.encoder is model.encoders[0] and inference.decoder is model.decoder
    # the three encoders are separate parameter sets
    assert model.encoders[0][0][0].weight.data_ptr() != model.encoders[1][0][0].weight.data_ptr()
    # a state_dict of the inference network loads strictly into the registered class
    fresh = build_network("speckle2self", features=(8, 16, 32, 64))
    fresh.load_state_dict(inference.state_dict(), strict=True)
    with pytest.raises(InvalidParameterError, match="3 views"):
        model(views[:2])


def test_speckle2self_output_follows_the_input_intensity_scale():
    # instance normalisation everywhere would give every image the same output mean and spread
    torch.manual_seed(0)
    inference = build_network("speckle2self", features=(8, 16, 32, 64)).eval()
    dark = frames(2, seed=0) * 0.3
    with torch.inference_mode():
        out_dark, out_bright = inference(dark), inference(dark + 0.5)
    assert out_bright.mean() - out_dark.mean() == pytest.approx(0.5, abs=0.05)


def test_pix2pix_generator_layers_follow_the_paper():
    unet256 = Pix2PixGenerator(features=64, num_downs=8)
    assert abs(n_params(unet256) - 54.4e6) / 54.4e6 < 0.01
    # BatchNorm everywhere except the first and innermost encoder layers and the output layer
    assert sum(isinstance(m, nn.BatchNorm2d) for m in unet256.modules()) == 2 * 8 - 3
    assert sum(isinstance(m, nn.Dropout) for m in unet256.modules()) == 3
    assert all(
        isinstance(m.negative_slope, float) and m.negative_slope == 0.2
        for m in unet256.modules()
        if isinstance(m, nn.LeakyReLU)
    )
    convs = [m for m in unet256.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.kernel_size == (4, 4) and m.stride == (2, 2) for m in convs)


def test_pix2pix_dropout_is_stochastic_in_training_only():
    torch.manual_seed(0)
    generator = Pix2PixGenerator(features=8, num_downs=6)
    x = frames(2)
    generator.train()
    assert not torch.allclose(generator(x), generator(x))
    generator.eval()
    with torch.inference_mode():
        assert torch.equal(generator(x), generator(x))


def test_patch_discriminator_is_a_conditional_70x70_patchgan():
    torch.manual_seed(0)
    disc = PatchDiscriminator().eval()
    assert disc[0].conv.in_channels == 2  # cat(speckled, candidate)
    condition, candidate = frames(1, 256, 1), frames(1, 256, 2)
    pair = PatchDiscriminator.pair(condition, candidate)
    assert pair.shape == (1, 2, 256, 256)
    # on pix2pix's [-1, 1] scale, condition first
    assert torch.allclose(pair[:, :1], condition * 2 - 1) and torch.allclose(pair[:, 1:], candidate * 2 - 1)
    x = pair.clone().requires_grad_(True)
    logits = disc(x)
    assert logits.shape == (1, 1, 30, 30)  # one logit per overlapping patch
    logits[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0)
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)) > 0)
    assert int(rows.max() - rows.min()) + 1 == 70 and int(cols.max() - cols.min()) + 1 == 70
    assert len(disc.layer_outputs(pair)) == 5
    norms = [type(m) for m in disc.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
    assert norms == [nn.BatchNorm2d] * 3  # none on the first layer


def test_build_network_rejects_bad_requests():
    with pytest.raises(InvalidParameterError, match="unknown network 'unet'"):
        build_network("unet")
    with pytest.raises(InvalidParameterError, match="dae_noskip"):
        build_network("dae_skip", skip=False)
    with pytest.raises(InvalidParameterError, match="width"):
        build_network("pix2pix", width=3)
    with pytest.raises(InvalidParameterError, match="features"):
        build_network("dae_skip", features=(16, 0))
    with pytest.raises(InvalidParameterError, match="features"):
        build_network("speckle2self", features=())
    with pytest.raises(InvalidParameterError, match="num_downs"):
        Pix2PixGenerator(num_downs=1)


def test_torchscript_trace_matches_eager_at_other_sizes(name):
    torch.manual_seed(0)
    network = build_network(name, **SMALL[name]).eval()
    with torch.inference_mode():
        traced = torch.jit.trace(network, frames(1))
        x = frames(3, 128, seed=5)
        assert torch.allclose(traced(x), network(x), atol=1e-5)


# every network through the TorchScript-based exporter; the slower torch.export-based one (the
# default since torch 2.9) on the network with InstanceNorm and transposed convolutions
EXPORTS = [(n, False) for n in sorted(NETWORKS)] + [("speckle2self", True)]
EXPORT_IDS = [f"{n}-{'dynamo' if d else 'torchscript'}" for n, d in EXPORTS]


@pytest.mark.parametrize(
    ("name", "dynamo"), EXPORTS, ids=[f"{n}-{'dynamo' if d else 'ts'}" for n, d in EXPORTS]
)
def test_onnx_export_runs_in_onnxruntime_with_dynamic_batch_and_size(name, dynamo, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    network = build_network(name, **SMALL[name]).eval()
    path = tmp_path / f"{name}.onnx"
    if dynamo:
        dim = torch.export.Dim.DYNAMIC
        torch.onnx.export(
            network,
            (frames(1),),
            path,
            input_names=["image"],
            output_names=["out"],
            dynamic_shapes={"x": {0: dim, 2: dim, 3: dim}},
            dynamo=True,
        )
    else:
        axes = {0: "batch", 2: "height", 3: "width"}
        torch.onnx.export(
            network,
            (frames(1),),
            path,
            input_names=["image"],
            output_names=["out"],
            dynamic_axes={"image": axes, "out": axes},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (frames(1, 64, seed=3), frames(2, 128, seed=4)[..., :64]):
        with torch.inference_mode():
            expected = network(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4)


def _fit(network: nn.Module, loss_of, steps: int = 100, lr: float = 3e-3) -> tuple[float, float]:
    """First and last loss of ``steps`` Adam steps on one fixed batch."""
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(network)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses[0], min(losses[-5:])


@pytest.mark.parametrize("name", ["dae_skip", "dae_noskip", "pix2pix"])
def test_supervised_networks_overfit_one_batch(name):
    torch.manual_seed(0)
    phantoms = [PHANTOMS["breast"](64, seed) for seed in (1, 2)]
    clean = torch.tensor(np.stack([p.clean for p in phantoms]))[:, None].float()
    noisy = torch.tensor(np.stack([p.bmode for p in phantoms]))[:, None].float()
    network = build_network(name, **SMALL[name]).train()
    first, last = _fit(network, lambda net: torch.nn.functional.mse_loss(net(noisy), clean))
    assert last < 0.3 * first, (first, last)


def test_speckle2self_overfits_one_batch_of_views():
    torch.manual_seed(0)
    views = multiscale_views(frames(4, size=64, seed=2))
    model = Speckle2Self(features=(8, 16, 32, 64)).train()
    loss = Speckle2SelfLoss()
    first, last = _fit(model, lambda net: loss(net(views), views).total)
    assert last < 0.3 * first, (first, last)


def test_bilinear_decoder_has_no_checkerboard_at_its_stride():
    """A constant frame stays constant away from the borders through the bilinear decoder, while the
    paper's 2×2 stride-2 transposed convolutions give each output phase its own value."""
    torch.manual_seed(0)
    constant = torch.full((1, 1, 64, 64), 0.4)
    interior = (slice(None), slice(None), slice(16, 48), slice(16, 48))
    with torch.no_grad():
        bilinear = DenoisingAutoencoder((4, 8, 16), upsample="bilinear").eval()(constant)[interior]
        transpose = DenoisingAutoencoder((4, 8, 16), upsample="transpose").eval()(constant)[interior]
    assert float(bilinear.std()) < 1e-6
    assert float(transpose.std()) > 1e-4
    with pytest.raises(InvalidParameterError, match="upsample must be one of"):
        DenoisingAutoencoder((4, 8), upsample="nearest")


def test_bilinear_start_keeps_every_layer_but_the_upsampling(tmp_path):
    """tools/bilinear_decoder_init.py: a shipped skip-DAE's weights into the bilinear decoder."""
    import subprocess
    import sys
    from pathlib import Path

    from monai_despeckle.resolver import load_network

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "start.pt"
    tool = repo / "tools" / "bilinear_decoder_init.py"
    done = subprocess.run([sys.executable, str(tool), "dae_lite", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    trained = load_network("dae_lite").state_dict()
    start = torch.load(out, weights_only=True)
    encoder_weights = [v for k, v in start.items() if k.startswith("encoders.") and k.endswith(".weight")]
    features = [int(weight.shape[0]) for weight in encoder_weights]
    network = DenoisingAutoencoder(features, upsample="bilinear")
    network.load_state_dict(start, strict=True)  # the file is a complete bilinear-decoder state_dict
    for key, value in trained.items():
        if ".up.0.weight" in key:  # [in, out, 2, 2] → [out, in, 1, 1]: the mean of the four phases
            assert torch.allclose(start[key][:, :, 0, 0], value.mean(dim=(2, 3)).t())
        else:
            assert torch.equal(start[key], value), key
