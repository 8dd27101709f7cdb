"""Training workflows on tiny data: data lists and pipelines, the three trainers, history and figure."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser
from PIL import Image
from torch import nn

from monai_despeckle.engines import (
    Pix2PixTrainer,
    Speckle2SelfTrainer,
    TrainConfig,
    datalists,
    folder_datalists,
    phantom_datalists,
    plot_training_curve,
    read_history,
    self_supervised_lists,
    self_supervised_transform,
    supervised_transform,
    train_dae,
    train_pix2pix,
    train_speckle2self,
)
from monai_despeckle.errors import (
    CorruptFileError,
    DespeckleError,
    InputNotFoundError,
    InvalidParameterError,
    OutputPathError,
)
from monai_despeckle.losses import Speckle2SelfLoss
from monai_despeckle.networks import Pix2PixGenerator, Speckle2Self, build_network
from monai_despeckle.networks.patch_gan import PatchDiscriminator
from monai_despeckle.simulation import write_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TINY = {
    "patch_size": 64,
    "batch_size": 2,
    "max_epochs": 3,
    "progress": False,
    "tensorboard": False,
    "plot": False,
}
PHANTOMS = {"data": "phantoms:breast", "phantom_count": 8, "val_fraction": 0.25}


@pytest.fixture(autouse=True)
def quiet_single_threaded():
    """No per-iteration log lines; one torch thread: these tiny models gain nothing from two, and
    two threads slow down many times over when another process holds one of the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logging.disable(logging.INFO)  # the StatsHandlers log every iteration
    yield
    logging.disable(logging.NOTSET)
    torch.set_num_threads(threads)


def real_folder(name: str) -> Path:
    folder = DATA / name
    if not (folder / "split.json").is_file():
        pytest.skip(f"{folder} not available")
    return folder


def load_weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def column(history: list[dict], name: str) -> list[float]:
    return [row[name] for row in history]


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


# --- data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["busi", "ccaui"])
def test_split_lists_keep_validation_images_out_of_training(name):
    folder = real_folder(name)
    split = json.loads((folder / "split.json").read_text())
    lists = folder_datalists(folder)
    train = {Path(e["image"]).name for e in lists.train}
    val = {Path(e["image"]).name for e in lists.val}
    assert train == set(split["train"]) and val == set(split["val"])
    assert not train & val
    assert all(Path(e["image"]).is_file() for e in lists.train + lists.val)
    assert not lists.paired and all(set(e) == {"image"} for e in lists.train)


def test_a_split_that_shares_an_image_is_refused(tmp_path):
    for i in range(3):
        write_png(tmp_path / "images" / f"im{i}.png", np.full((20, 20), 40 * i))
    (tmp_path / "split.json").write_text(json.dumps({"train": ["im0.png", "im1.png"], "val": ["im1.png"]}))
    with pytest.raises(InvalidParameterError, match=r"split\.json.*im1\.png"):
        folder_datalists(tmp_path)
    (tmp_path / "split.json").write_text(json.dumps({"train": ["im0.png", "gone.png"], "val": ["im2.png"]}))
    with pytest.raises(DespeckleError, match=r"gone\.png"):
        folder_datalists(tmp_path)
    with pytest.raises(InputNotFoundError):
        datalists(tmp_path / "nowhere")


def test_supervised_pipeline_speckles_a_copy_of_the_clean_frame(tmp_path):
    write_png(tmp_path / "images" / "flat.png", np.full((80, 100), 64))  # 64/255 ≈ 0.251
    write_png(tmp_path / "images" / "other.png", np.full((80, 100), 200))
    (tmp_path / "split.json").write_text(json.dumps({"train": ["flat.png"], "val": ["other.png"]}))
    entry = folder_datalists(tmp_path).train[0]

    gaussian = supervised_transform(False, size=64, variances=(0.01,))
    gaussian.set_random_state(0)
    out = gaussian(dict(entry))
    assert out["image"].shape == out["label"].shape == (1, 64, 64)
    assert torch.allclose(out["label"], torch.tensor(64 / 255), atol=1e-6)
    noise = out["image"] / out["label"] - 1  # scikit-image speckle: img + img * N(0, var)
    assert abs(float(noise.mean())) < 0.01 and float(noise.std()) == pytest.approx(0.1, rel=0.05)

    rayleigh = supervised_transform(False, size=64, noise="rayleigh", rayleigh_strength=1.0)
    rayleigh.set_random_state(0)
    ratio = (lambda d: d["image"] / d["label"])(rayleigh(dict(entry)))
    # unit-mean Rayleigh multiplier: mean 1, std sqrt(4/π − 1) ≈ 0.523
    assert float(ratio.mean()) == pytest.approx(1.0, abs=0.03)
    assert float(ratio.std()) == pytest.approx(np.sqrt(4 / np.pi - 1), rel=0.06)
    with pytest.raises(InvalidParameterError, match="noise"):
        supervised_transform(False, noise="poisson")


def test_crop_mode_takes_a_centred_patch_for_validation(tmp_path):
    ramp = np.add.outer(np.arange(80), np.arange(100)).astype(np.uint8)  # value = row + column
    write_png(tmp_path / "images" / "ramp.png", ramp)
    write_png(tmp_path / "images" / "other.png", ramp[::-1])
    (tmp_path / "split.json").write_text(json.dumps({"train": ["ramp.png"], "val": ["other.png"]}))
    entry = folder_datalists(tmp_path).train[0]
    out = supervised_transform(False, size=64, train=False, patch_mode="crop")(dict(entry))
    expected = torch.from_numpy(ramp[8:72, 18:82] / np.float32(255))[None]
    assert out["label"].shape == (1, 64, 64) and torch.allclose(out["label"], expected, atol=1e-6)
    patch = supervised_transform(False, size=64, train=True, patch_mode="crop", augment=False)
    patch.set_random_state(0)
    label = patch(dict(entry))["label"][0].numpy() * 255
    # a window of the ramp, inside the frame: steps of 1 along both axes, corner = top + left
    assert np.allclose(np.diff(label, axis=0), 1, atol=1e-3)
    assert np.allclose(np.diff(label, axis=1), 1, atol=1e-3)
    assert 0 <= label[0, 0] <= (80 - 64) + (100 - 64)


def test_self_supervised_data_has_three_views_and_no_clean_image():
    lists = phantom_datalists("breast", 3, 64, seed=1)
    assert all(set(e) == {"image", "label"} for e in lists.train + lists.val)
    noisy = self_supervised_lists(lists)
    assert all(set(e) == {"image"} for e in noisy.train)
    assert noisy.val == lists.val  # clean references stay for validation only
    out = self_supervised_transform(64, augment=False)(dict(noisy.train[0]))
    assert set(out) == {"image", "image_view_0", "image_view_1", "image_view_2"}
    image = out["image"]
    expected0 = (image - image.min()) / (image.max() - image.min())
    assert torch.allclose(out["image_view_0"], expected0, atol=1e-6)
    for key in ("image_view_1", "image_view_2"):
        assert float(out[key].min()) == 0.0 and float(out[key].max()) == pytest.approx(1.0)
        assert not torch.allclose(out[key], expected0, atol=1e-2)  # coarser scales smooth the speckle


def test_simulated_dataset_folder_gives_clean_labels(tmp_path):
    root = write_dataset("breast", 4, tmp_path / "sim", size=64, fmt="nifti", progress=False)
    lists = datalists(root)
    assert lists.paired and len(lists.train) == 3 and len(lists.val) == 1
    out = supervised_transform(True, size=64, train=False)(dict(lists.val[0]))
    table = json.loads((root / "datalist.json").read_text())
    assert lists.val[0]["label"].endswith(table["validation"][0]["clean"])
    assert out["image"].shape == out["label"].shape == (1, 64, 64)
    assert not torch.allclose(out["image"], out["label"], atol=0.05)


def test_a_mixed_source_speckles_the_real_frames_and_keeps_the_phantom_pairs(tmp_path):
    write_png(tmp_path / "real" / "images" / "flat.png", np.full((80, 100), 64))
    write_png(tmp_path / "real" / "images" / "other.png", np.full((80, 100), 200))
    (tmp_path / "real" / "split.json").write_text(json.dumps({"train": ["flat.png"], "val": ["other.png"]}))
    source = f"{tmp_path / 'real'}+phantoms:breast"
    lists = datalists(source, size=64, phantom_count=4, val_fraction=0.25)
    phantoms = phantom_datalists("breast", 4, 64, val_fraction=0.25)
    assert not lists.paired and len(lists.train) == 1 + 3 and len(lists.val) == 1 + 1
    assert [set(e) for e in lists.train] == [{"image"}] + [{"image", "label"}] * 3
    assert lists.source == f"{tmp_path / 'real'}+phantoms:breast"

    pipeline = supervised_transform(lists.paired, size=64, variances=(0.01,), augment=False)
    pipeline.set_random_state(0)
    real, phantom = pipeline(dict(lists.train[0])), pipeline(dict(lists.train[1]))
    assert torch.allclose(real["label"], torch.tensor(64 / 255), atol=1e-6)
    assert float((real["image"] / real["label"] - 1).std()) == pytest.approx(0.1, rel=0.05)
    # the phantom keeps its physics speckle and its own clean reference, untouched
    assert np.allclose(phantom["image"].numpy(), phantoms.train[0]["image"], atol=1e-6)
    assert np.allclose(phantom["label"].numpy(), phantoms.train[0]["label"], atol=1e-6)
    noisy = self_supervised_lists(lists)
    assert all(set(e) == {"image"} for e in noisy.train)
    with pytest.raises(InvalidParameterError, match="empty source"):
        datalists(f"{tmp_path / 'real'}+")
    with pytest.raises(InputNotFoundError):
        datalists(f"{tmp_path / 'nowhere'}+phantoms:breast")


# --- workflows -----------------------------------------------------------------------------------


def test_train_dae_on_busi_learns_and_keeps_the_best_checkpoint(tmp_path):
    busi = real_folder("busi")
    features = [8, 16, 32]
    result = train_dae(
        data=str(busi),
        max_train=6,
        max_val=2,
        output_dir=str(tmp_path / "dae"),
        model={"features": features},
        amp=True,
        **{**TINY, "tensorboard": True, "plot": True},
    )
    history = result.history
    assert [row["epoch"] for row in history] == [1, 2, 3] and result.epochs == 3
    losses = column(history, "train_loss")
    assert losses[-1] < 0.95 * losses[0]
    # the best checkpoint belongs to the best validation epoch and reloads strictly
    psnrs = column(history, "val_psnr")
    assert result.best_metric == pytest.approx(max(psnrs)) and result.best_epoch == 1 + int(np.argmax(psnrs))
    model = build_network("dae_skip", features=features)
    model.load_state_dict(load_weights(result.best_checkpoint), strict=True)
    final = load_weights(result.final_checkpoint)
    assert all(torch.equal(final[k], v) for k, v in result.network.state_dict().items())
    # history on disk: CSV and JSON rows agree; the noisy input's score is there to compare against
    on_disk = read_history(result.history_file)
    assert len(on_disk) == 3 and on_disk[-1]["train_loss"] == pytest.approx(losses[-1])
    assert read_history(result.history_file.with_suffix(".json")) == on_disk
    assert {"val_ssim", "input_psnr", "input_ssim"} <= set(on_disk[0])
    assert result.input_metrics["psnr"] == pytest.approx(on_disk[0]["input_psnr"])
    assert list((result.output_dir / "tensorboard").glob("events.out.tfevents.*"))
    with Image.open(result.output_dir / "training_curve.png") as figure:
        assert figure.size[0] > 500
    config = json.loads((result.output_dir / "config.json").read_text())
    assert config["workflow"] == "dae_skip" and config["config"]["max_train"] == 6


def test_training_is_reproducible_and_stops_early(tmp_path):
    run = {**TINY, **PHANTOMS, "max_epochs": 1, "model": {"features": [4, 8, 16]}}
    a = train_dae(output_dir=str(tmp_path / "a"), seed=3, **run)
    # the same run built from a bundle-style config, as a train.json would
    config = {"train": {"_target_": "monai_despeckle.engines.train_dae", "output_dir": str(tmp_path / "b")}}
    config["train"].update(seed=3, **run)
    b = ConfigParser(config).get_parsed_content("train")
    c = train_dae(output_dir=str(tmp_path / "c"), seed=4, **run)
    assert column(a.history, "train_loss") == column(b.history, "train_loss")
    weights_a, weights_b = load_weights(a.final_checkpoint), load_weights(b.final_checkpoint)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert column(a.history, "train_loss") != column(c.history, "train_loss")
    # a learning rate too small to move float32 weights: no improvement, so patience 1 ends the run
    frozen = train_dae(
        output_dir=str(tmp_path / "frozen"), lr=1e-12, early_stop_patience=1, **{**run, "max_epochs": 5}
    )
    assert frozen.epochs == 2 and frozen.best_epoch == 1


def test_train_speckle2self_never_gives_the_model_a_clean_image(tmp_path):
    seen: list[set] = []

    class RecordBatchKeys:
        def attach(self, engine):
            engine.add_event_handler(Events.ITERATION_STARTED, lambda e: seen.append(set(e.state.batch)))

    features = [8, 16, 32, 64]
    result = train_speckle2self(
        output_dir=str(tmp_path / "s2s"),
        model={"features": features},
        train_handlers=[RecordBatchKeys()],
        min_view_grain=None,  # 64² phantoms: the paper's pixel scales, all three views
        **TINY,
        **PHANTOMS,
    )
    assert len(seen) == 3 * 3  # 6 training phantoms, batches of 2, 3 epochs
    assert all(keys == {"image", "image_view_0", "image_view_1", "image_view_2"} for keys in seen)
    losses = column(result.history, "train_loss")
    assert losses[-1] < 0.9 * losses[0]
    first = result.history[0]
    assert first["train_loss"] == pytest.approx(first["train_reconstruction"] + first["train_consistency"])
    assert "val_psnr" in first and "val_ssim" in first
    network = build_network("speckle2self", features=features)
    network.load_state_dict(load_weights(result.best_checkpoint), strict=True)
    trainer_model = Speckle2Self(features=features)
    trainer_model.load_state_dict(
        load_weights(result.output_dir / "speckle2self_train_final.pt"), strict=True
    )


def test_speckle2self_trainer_refuses_a_batch_with_a_clean_image():
    model = Speckle2Self(features=(4, 8, 16, 32))
    views = {f"image_view_{i}": torch.rand(2, 1, 32, 32) for i in range(3)}
    batches = [{**views, "label": torch.rand(2, 1, 32, 32)}]  # already batched
    trainer = Speckle2SelfTrainer(
        "cpu", 1, batches, model, torch.optim.Adam(model.parameters()), Speckle2SelfLoss(), epoch_length=1
    )
    with pytest.raises(InvalidParameterError, match="clean image under label"):
        trainer.run()


def test_train_pix2pix_learns_the_clean_image_and_saves_both_networks(tmp_path):
    result = train_pix2pix(
        output_dir=str(tmp_path / "p2p"),
        model={"features": 8, "discriminator": {"features": 16}},
        lr=1e-3,
        **TINY,
        **PHANTOMS,
    )
    l1 = column(result.history, "train_reconstruction_loss")
    assert l1[-1] < 0.9 * l1[0]
    d_loss = column(result.history, "train_discriminator_loss")
    assert d_loss[-1] < d_loss[0]
    first = result.history[0]
    assert first["train_loss"] == pytest.approx(first["train_generator_loss"] + l1[0])
    Pix2PixGenerator(features=8).load_state_dict(load_weights(result.best_checkpoint), strict=True)
    discriminator = PatchDiscriminator(features=16)
    discriminator.load_state_dict(load_weights(result.output_dir / "discriminator_final.pt"), strict=True)


def test_pix2pix_loss_weight_and_criterion_reach_the_trainer_and_the_record(tmp_path):
    seen = {}

    class Capture:
        def attach(self, engine):
            seen["generator"] = engine.state.recon_loss_function.__self__
            seen["discriminator"] = engine.state.d_loss_function

    result = train_pix2pix(
        output_dir=str(tmp_path / "p2p"),
        model={"features": 4, "num_downs": 4, "discriminator": {"features": 4}},
        train_handlers=[Capture()],
        lambda_l1=10.0,
        gan_criterion="lsgan",
        **{**TINY, **PHANTOMS, "max_epochs": 1},
    )
    assert seen["generator"].lambda_l1 == 10.0 and seen["generator"].criterion == "lsgan"
    assert seen["discriminator"].criterion == "lsgan"
    record = json.loads((result.output_dir / "config.json").read_text())
    assert record["loss"] == {"lambda_l1": 10.0, "criterion": "lsgan", "image_scale": "[-1, 1]"}


def test_pix2pix_refuses_a_negative_loss_weight_before_writing(tmp_path):
    with pytest.raises(InvalidParameterError, match="lambda_l1"):
        train_pix2pix(output_dir=str(tmp_path / "p2p"), lambda_l1=-1.0, **{**TINY, **PHANTOMS})
    assert not (tmp_path / "p2p").exists()


def test_pix2pix_learning_rates_stay_constant_then_decay_linearly(tmp_path):
    seen: list[tuple[float, float]] = []

    class RecordRates:
        def attach(self, engine):
            def record(e):
                g, d = e.state.g_optimizer, e.state.d_optimizer
                seen.append((g.param_groups[0]["lr"], d.param_groups[0]["lr"]))

            engine.add_event_handler(Events.EPOCH_STARTED, record)

    lr = 1e-3
    settings = {**TINY, **PHANTOMS, "max_epochs": 5, "lr_decay_epochs": 3, "lr": lr}
    train_pix2pix(
        output_dir=str(tmp_path / "p2p"),
        model={"features": 4, "num_downs": 4, "discriminator": {"features": 4}},
        train_handlers=[RecordRates()],
        **settings,
    )
    expected = [lr, lr, 0.75 * lr, 0.5 * lr, 0.25 * lr]
    assert [g for g, _ in seen] == pytest.approx(expected)
    assert [d for _, d in seen] == pytest.approx(expected)
    with pytest.raises(InvalidParameterError, match="lr_decay_epochs"):
        TrainConfig(max_epochs=5, lr_decay_epochs=6)


def test_pix2pix_discriminator_judges_speckled_clean_and_speckled_generated_pairs():
    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = PatchDiscriminator(features=8)
            self.inputs: list[torch.Tensor] = []

        def forward(self, x):
            self.inputs.append(x.detach().clone())
            return self.net(x)

    torch.manual_seed(0)
    generator, recorder = Pix2PixGenerator(features=4, num_downs=4), Recorder()
    image, label = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    batches = [{"image": image, "label": label}]
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        batches,
        generator,
        recorder,
        torch.optim.Adam(generator.parameters()),
        torch.optim.Adam(recorder.parameters()),
        epoch_length=1,
    )
    trainer.run()
    fake = trainer.state.output["pred"]
    generator_step, real_pair, fake_pair = recorder.inputs

    def signed(condition, candidate):  # pairs are judged on pix2pix's [-1, 1] scale
        return torch.cat([condition, candidate], dim=1) * 2.0 - 1.0

    for pair in recorder.inputs:
        assert torch.allclose(pair[:, :1], image * 2.0 - 1.0)  # always conditioned on the speckled image
    assert torch.allclose(real_pair, signed(image, label))
    assert torch.allclose(generator_step, signed(image, fake))
    assert torch.allclose(fake_pair, signed(image, fake))


def test_configuration_errors_are_reported(tmp_path):
    with pytest.raises(InvalidParameterError, match="not a multiple of 8"):
        train_dae(output_dir=str(tmp_path / "a"), **{**TINY, **PHANTOMS, "patch_size": 60})
    with pytest.raises(InvalidParameterError, match="unknown training option"):
        train_dae(output_dir=str(tmp_path / "b"), epochs=3)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(InvalidParameterError, match="SSIM"):
        TrainConfig(patch_size=8)
    with pytest.raises(InvalidParameterError, match="patch_size >= 32"):
        train_speckle2self(output_dir=str(tmp_path / "d"), **{**TINY, **PHANTOMS, "patch_size": 16})
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "model.pt").write_bytes(b"")
    with pytest.raises(OutputPathError, match="already holds a trained model"):
        train_speckle2self(output_dir=str(tmp_path / "used"), min_view_grain=None, **TINY, **PHANTOMS)
    with pytest.raises(InputNotFoundError, match="missing"):
        train_pix2pix(output_dir=str(tmp_path / "c"), data=str(tmp_path / "missing"), **TINY)
    # nothing was written for the refused runs, and the earlier run's folder is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["used"]
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["model.pt"]


def test_plot_training_curve_from_csv_and_json(tmp_path):
    rows = [
        {"epoch": 1, "train_loss": 0.05, "val_psnr": 18.0, "val_ssim": 0.5, "input_psnr": 15.0},
        {"epoch": 2, "train_loss": 0.03, "input_psnr": 15.0},
        {"epoch": 3, "train_loss": 0.02, "val_psnr": 20.0, "val_ssim": 0.6, "input_psnr": 15.0},
    ]
    csv_file = tmp_path / "history.csv"
    names = ["epoch", "train_loss", "val_psnr", "val_ssim", "input_psnr"]
    csv_file.write_text(
        ",".join(names) + "\n" + "".join(",".join(str(r.get(n, "")) for n in names) + "\n" for r in rows)
    )
    (tmp_path / "history.json").write_text(json.dumps(rows))
    assert read_history(csv_file) == read_history(tmp_path / "history.json")
    assert "val_psnr" not in read_history(csv_file)[1]
    for source in ("history.csv", "history.json"):
        out = plot_training_curve(tmp_path / source, tmp_path / "figs" / f"{source}.png")
        with Image.open(out) as figure:
            assert figure.format == "PNG" and figure.size[0] > 500
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    with pytest.raises(CorruptFileError, match=r"bad\.csv"):
        plot_training_curve(tmp_path / "bad.csv", tmp_path / "bad.png")
    with pytest.raises(InputNotFoundError):
        read_history(tmp_path / "none.csv")


def test_msp_scales_follow_the_speckle_grain_not_the_pixels(tmp_path):
    """At 128² the phantoms' grain is ~2.4 px: the 0.25 view (0.6 px) is dropped, 0.5 kept."""
    from monai_despeckle.engines.self_supervised import grain_relative_scales

    assert grain_relative_scales((1.0, 0.5, 0.25), 8.0) == (1.0, 0.5, 0.25)
    assert grain_relative_scales((1.0, 0.5, 0.25), 2.4) == (1.0, 0.5)
    with pytest.raises(InvalidParameterError, match="too fine"):
        grain_relative_scales((1.0, 0.5, 0.25), 1.2)
    result = train_speckle2self(
        output_dir=str(tmp_path / "s2s"),
        model={"features": [4, 8, 16, 32]},
        **{**TINY, "patch_size": 128, "max_epochs": 1},
        **{**PHANTOMS, "data": "phantoms:mixed"},
    )
    msp = json.loads((result.output_dir / "config.json").read_text())["msp"]
    assert msp["scales"] == [1.0, 0.5] and msp["normalization"] == "shared"
    assert 1.5 < msp["training_grain_px"] < 4.0
    with pytest.raises(InvalidParameterError, match="too fine"):
        train_speckle2self(output_dir=str(tmp_path / "fine"), **TINY, **PHANTOMS)  # 64²: ~1.2 px
