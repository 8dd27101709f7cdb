"""``monai-despeckle adapt speckle2self --data MY_SCANS/ --out NEW_BUNDLE``: fit Speckle2Self to a scanner."""

from __future__ import annotations

import argparse
from pathlib import Path

from monai_despeckle.commands.train import add_training_options, training_overrides

HELP = "fine-tune Speckle2Self self-supervised on your own unlabelled scans (no clean images needed)"

ADAPTABLE = ("speckle2self",)
ADAPT_EPOCHS = 20
ADAPT_LR = 1e-4  # a tenth of the paper's rate: fine-tuning, not training from scratch
ADAPT_PATCH = 128


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``adapt`` subcommand."""
    parser.add_argument(
        "bundle",
        metavar="BUNDLE",
        help="the bundle to start from: speckle2self or its folder",
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="folder of your noisy images (PNG, JPEG, TIFF...), no labels"
    )
    parser.add_argument("--out", type=Path, required=True, help="the new bundle folder (must not exist)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="images held out to monitor the fine-tuning (default 0.1; written to docs/split.json)",
    )
    add_training_options(parser)


def run(args: argparse.Namespace) -> int:
    """Fine-tune from the bundle's weights on the user's images into a new bundle."""
    from monai_despeckle.bundle_format import MODEL_FILE, verify_weights
    from monai_despeckle.bundle_training import make_split, train_bundle, trains_self_supervised
    from monai_despeckle.errors import DespeckleError
    from monai_despeckle.resolver import find_bundle

    source = find_bundle(args.bundle)
    network = source.metadata.get("name", "")
    if not trains_self_supervised(source):
        raise DespeckleError(
            f"adapt fine-tunes self-supervised bundles ({', '.join(ADAPTABLE)}); "
            f"{source.name} ({network}) needs clean targets: use monai-despeckle train"
        )
    verify_weights(source)
    split = make_split(args.data, args.val_fraction)
    overrides = {
        "train#init_weights": str(source.path / MODEL_FILE),
        "train#max_epochs": ADAPT_EPOCHS,
        "train#lr": ADAPT_LR,
        "train#lr_decay_epochs": 0,  # a constant small rate: the recipe's decay is for training from scratch
        "train#patch_size": ADAPT_PATCH,
        "train#patch_mode": "crop",  # native resolution: the scanner's own speckle size
        **training_overrides(args),
    }
    note = (
        f"{source.name} fine-tuned self-supervised on {len(split['train'])} unlabelled images "
        f"of {args.data.name} ({len(split['val'])} held out)"
    )
    result = train_bundle(source, args.data, args.out, overrides=overrides, note=note, split=split)
    print(f"adapted bundle {result.path} (weights {result.weights}, run {result.run_dir})")
    print(f"use it with: monai-despeckle denoise IN OUT --method {result.path}")
    return 0
