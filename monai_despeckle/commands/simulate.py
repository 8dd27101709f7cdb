"""``monai-despeckle simulate``: write a data set of simulated breast or carotid phantoms."""

from __future__ import annotations

import argparse
from pathlib import Path

from monai_despeckle.options import PHANTOM_FAMILIES

HELP = "simulate breast or carotid ultrasound phantoms (speckled, clean, labels) with a MONAI datalist"

LESIONS = ("random", "benign", "malignant", "cyst", "none")
VIEWS = ("transverse", "longitudinal")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``simulate``."""
    parser.add_argument("--kind", required=True, choices=PHANTOM_FAMILIES, help="phantom family")
    parser.add_argument("--n", type=int, required=True, help="number of phantoms to write")
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="data-set seed (default %(default)s)")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=("nifti", "png"),
        default="nifti",
        help="file format: NIfTI with spacing, or 8-bit PNG (default %(default)s)",
    )
    parser.add_argument(
        "--view", choices=VIEWS, default=None, help="carotid only: imaging plane (default transverse)"
    )
    parser.add_argument(
        "--lesion", choices=LESIONS, default=None, help="breast only: lesion type (default random)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of samples in the datalist's validation list (default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args: argparse.Namespace) -> int:
    """Validate the options, write the data set and print where it is."""
    from monai_despeckle.errors import InvalidParameterError
    from monai_despeckle.simulation import write_dataset

    phantom_kwargs = {}
    if args.view is not None:
        if args.kind != "carotid":
            raise InvalidParameterError(f"--view applies to carotid phantoms only, not {args.kind}")
        phantom_kwargs["view"] = args.view
    if args.lesion is not None:
        if args.kind != "breast":
            raise InvalidParameterError(f"--lesion applies to breast phantoms only, not {args.kind}")
        phantom_kwargs["lesion"] = args.lesion
    out = write_dataset(
        args.kind,
        args.n,
        args.out,
        size=args.size,
        seed=args.seed,
        fmt=args.fmt,
        val_fraction=args.val_fraction,
        progress=not args.no_progress,
        **phantom_kwargs,
    )
    print(f"wrote {args.n} {args.kind} phantoms to {out}")
    print(f"datalist: {out / 'datalist.json'}")
    return 0
