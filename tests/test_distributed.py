"""Distributed (DDP) training: real two-process ``torchrun`` launches on the CPU with Gloo.

Each launch starts two Python processes that import torch and MONAI, so the runs are kept tiny
(a few 32 × 32 phantoms, two epochs, narrow networks) and single-threaded.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from monai_despeckle.bundles import install_weights
from monai_despeckle.engines import train_dae
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.networks import Pix2PixGenerator, Speckle2Self, build_network
from monai_despeckle.networks.patch_gan import PatchDiscriminator

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "despeckle_dae_skip"
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
LAUNCH_TIMEOUT = 240  # seconds; a launch takes ~10-30 s on two busy cores


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --nproc_per_node=2 <args>``, single-threaded, on the CPU."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        *args,
    ]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, check=False
    )
    assert done.returncode == 0, (
        f"torchrun failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    )
    return done


def load_state(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state and not any(key.startswith("module.") for key in state), list(state)[:5]
    return state


def test_bundle_trains_on_two_processes_and_installs_unwrapped_weights(tmp_path):
    bundle = tmp_path / "despeckle_dae_skip"
    shutil.copytree(BUNDLE / "configs", bundle / "configs")  # configs only: the repo's bundle is untouched
    configs = [str(bundle / "configs" / name) for name in ("train.json", "multi_gpu_train.json")]
    out = tmp_path / "run"
    torchrun(
        [
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            repr(configs),  # fire parses the list literal
            "--bundle_root",
            str(bundle),
            "--dataset_dir",
            "phantoms:breast",
            "--output_dir",
            str(out),
            "--network_def#features",
            "[4, 8, 16]",
            "--train#phantom_count",
            "8",
            "--train#patch_size",
            "32",
            "--train#max_epochs",
            "2",
            "--train#lr_decay_epochs",
            "0",
            "--train#batch_size",
            "2",
            "--train#progress",
            "False",  # fire reads Python literals: "false" would be a (true) string
            "--train#tensorboard",
            "False",
            "--train#plot",
            "False",
        ],
        cwd=tmp_path,
    )
    weights = bundle / "models" / "model.pt"
    state = load_state(weights)
    build_network("dae_skip", features=[4, 8, 16]).load_state_dict(state, strict=True)
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["model_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert [row["epoch"] for row in history] == [1, 2]
    assert "val_psnr" in history[-1]  # train.json validates every 2 epochs
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["config"]["distributed"] is True
    assert not (out / "tensorboard").exists()
    load_state(out / "model_final.pt")


SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import torch
    import torch.distributed as dist
    from ignite.engine import Events

    from monai_despeckle.engines import train_pix2pix, train_speckle2self

    out = sys.argv[1]
    dist.init_process_group("gloo")  # the caller's group: the workflows must leave it alive
    rank = dist.get_rank()
    common = dict(
        data="phantoms:breast", phantom_count=10, val_fraction=0.2, patch_size=32, batch_size=2,
        max_epochs=2, device="cpu", progress=False, tensorboard=False, plot=False, distributed=True,
    )
    seen = {}

    class Record:
        def __init__(self, name):
            self.name = name

        def attach(self, engine):
            def started(engine):
                networks = [getattr(engine, "network", None)]
                networks += [getattr(engine.state, k, None) for k in ("g_network", "d_network")]
                seen[self.name] = {
                    "wrappers": [type(n).__name__ for n in networks if n is not None],
                    "sampler": type(engine.data_loader.sampler).__name__,
                    "epoch_length": engine.state.epoch_length,
                }
            engine.add_event_handler(Events.STARTED, started)

    results = {}
    for name, train, model, extra in (
        # 32² phantoms have sub-pixel speckle grain: the paper's pixel scales, all three views
        ("s2s", train_speckle2self, {"features": [4, 8, 16, 32]}, {"min_view_grain": None}),
        ("p2p", train_pix2pix, {"features": 4, "num_downs": 5, "discriminator": {"features": 4}}, {}),
    ):
        result = train(
            output_dir=f"{out}/{name}", model=model, train_handlers=[Record(name)], **common, **extra
        )
        assert dist.is_initialized(), "the workflow destroyed the caller's process group"
        results[name] = {
            **seen[name],
            "epochs": result.epochs,
            "history": len(result.history),
            "best_checkpoint": str(result.best_checkpoint),
            "weights": float(sum(v.double().sum() for v in result.network.state_dict().values())),
        }
    with open(f"{out}/rank{rank}.json", "w") as handle:
        json.dump(results, handle)
    dist.destroy_process_group()
    """
)


def test_speckle2self_and_pix2pix_train_with_ddp(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    torchrun([str(script), str(tmp_path)], cwd=tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text(encoding="utf-8")) for r in (0, 1)]
    for name, wrappers in (("s2s", ["DistributedDataParallel"]), ("p2p", ["DistributedDataParallel"] * 2)):
        for rank in ranks:
            run = rank[name]
            assert run["wrappers"] == wrappers
            assert run["sampler"] == "DistributedSampler"
            assert run["epoch_length"] == 2  # 8 training phantoms, 4 per rank, batches of 2
            assert run["epochs"] == run["history"] == 2
            assert run["best_checkpoint"] == str(tmp_path / name / "model.pt")
        # DDP keeps the replicas identical: both ranks end with the same weights
        assert ranks[0][name]["weights"] == pytest.approx(ranks[1][name]["weights"], rel=1e-6)
    s2s, p2p = tmp_path / "s2s", tmp_path / "p2p"
    features = [4, 8, 16, 32]
    build_network("speckle2self", features=features).load_state_dict(load_state(s2s / "model.pt"))
    Speckle2Self(features=features).load_state_dict(load_state(s2s / "speckle2self_train_final.pt"))
    Pix2PixGenerator(features=4, num_downs=5).load_state_dict(load_state(p2p / "model.pt"))
    PatchDiscriminator(features=4).load_state_dict(load_state(p2p / "discriminator_final.pt"))
    assert [row["epoch"] for row in json.loads((p2p / "history.json").read_text(encoding="utf-8"))] == [1, 2]


def test_distributed_without_torchrun_environment_is_refused(tmp_path, monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidParameterError, match="torchrun"):
        train_dae(
            output_dir=str(tmp_path / "run"),
            data="phantoms:breast",
            phantom_count=4,
            patch_size=32,
            device="cpu",
            distributed=True,
        )
    assert not (tmp_path / "run").exists()
    assert not torch.distributed.is_initialized()


def test_install_weights_writes_nothing_on_other_ranks(tmp_path, monkeypatch):
    bundle = tmp_path / "despeckle_dae_skip"
    shutil.copytree(BUNDLE / "configs", bundle / "configs")
    before = (bundle / "configs" / "metadata.json").read_bytes()
    monkeypatch.setenv("RANK", "1")
    assert install_weights(tmp_path / "no_such_model.pt", bundle) is None
    assert not (bundle / "models").exists()
    assert (bundle / "configs" / "metadata.json").read_bytes() == before
