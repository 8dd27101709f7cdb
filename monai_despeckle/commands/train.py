"""``monai-despeckle train BUNDLE --data DATA --out NEW_BUNDLE``: run a bundle's training workflow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "train a despeckling bundle's network on your data into a new, verified bundle"


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``adapt``: what overrides the bundle's train.json."""
    parser.add_argument(
        "--epochs",
        type=int,
        help="maximum number of epochs (default: the bundle's; a learning-rate decay keeps its share)",
    )
    parser.add_argument("--batch-size", type=int, help="images per batch (default: the bundle's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the bundle's)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="any other train.json override, e.g. --set train#patch_size=96 (repeatable)",
    )


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The train.json overrides named by the shared options (only literal JSON values)."""
    import json

    from monai_despeckle.errors import DespeckleError

    overrides: dict[str, Any] = {}
    for key, value in (
        ("train#max_epochs", args.epochs),
        ("train#batch_size", args.batch_size),
        ("train#lr", args.lr),
        ("device", args.device),
    ):
        if value is not None:
            overrides[key] = value
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise DespeckleError(f"--set {item!r}: expected KEY=JSON, e.g. train#patch_size=96")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise DespeckleError(f"--set {item!r}: the value must be JSON (strings quoted)") from None
        if isinstance(value, str) and value.startswith(("$", "@", "%")):  # never run config code from the CLI
            raise DespeckleError(f"--set {item!r}: expressions and references are not accepted")
        overrides[key.strip()] = value
    return overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``train`` subcommand."""
    parser.add_argument(
        "bundle",
        metavar="BUNDLE",
        help="a shipped bundle (dae_skip, dae_lite, speckle2self, pix2pix) or folder",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="training data: a folder of images with split.json, a simulated data set "
        "(monai-despeckle simulate), or phantoms:breast / phantoms:carotid / phantoms:mixed; "
        "join several with + (e.g. ../shared/data/busi+phantoms:mixed)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the new bundle folder (must not exist)")
    add_training_options(parser)


def run(args: argparse.Namespace) -> int:
    """Train and print where the new bundle is."""
    from monai_despeckle.bundle_training import train_bundle

    result = train_bundle(args.bundle, args.data, args.out, overrides=training_overrides(args))
    print(f"trained bundle {result.path} (weights {result.weights}, run {result.run_dir})")
    print(f"use it with: monai-despeckle denoise IN OUT --method {result.path}")
    return 0
