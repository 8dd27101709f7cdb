"""``monai-despeckle evaluate``: benchmark despeckling methods and write a report folder."""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from monai_despeckle.errors import DespeckleError
from monai_despeckle.options import DEFAULT_EVAL_SIZE

HELP = "benchmark despeckling methods on real or simulated images (metrics, tables, figures)"

DEFAULT_NOISE = "speckle:0.1,0.3,0.5,0.7,0.9"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``evaluate`` subcommand."""
    parser.add_argument(
        "--data",
        required=True,
        help="folder of images (directly or in images/), "
        "or phantoms:breast / phantoms:carotid / phantoms:mixed",
    )
    parser.add_argument("--split", help="keep only this key of the split file (e.g. val)")
    parser.add_argument("--split-file", type=Path, help="split JSON (default: DATA/split.json)")
    parser.add_argument("--methods", default="all", help="'all' or a comma-separated list (default: all)")
    parser.add_argument(
        "--noise",
        default=DEFAULT_NOISE,
        help="speckle:V1,V2,... scikit-image speckle variances added to clean images "
        f"(default {DEFAULT_NOISE}); phantoms carry their own physics speckle, "
        "and real noisy images (--no-reference) get none",
    )
    parser.add_argument(
        "--size",
        type=int,
        help=f"resize frames to SIZE×SIZE (default {DEFAULT_EVAL_SIZE}; with --no-reference: native size); "
        "0 = native",
    )
    parser.add_argument("--n", type=int, help="use the first N images (phantoms: how many; default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and phantoms (default 0)")
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="images are real noisy inputs with masks/<stem>_mask.png: report ENL, speckle index, CNR, "
        "gCNR, GLCM homogeneity, EPI, the intensity step and CNR across the mask's boundary (relative "
        "to the input) and banding at the method's stride instead of PSNR/SSIM/MSE",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="networks run frames at their own size (default: at the speckle grain each was trained at)",
    )
    parser.add_argument("--examples", type=int, default=2, help="images shown in comparison.png (default 2)")
    parser.add_argument("--out", required=True, type=Path, help="report folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")


def parse_noise(spec: str) -> list[float]:
    """``speckle:0.1,0.3`` (or ``0.1,0.3``) -> ``[0.1, 0.3]``; every variance must be > 0."""
    text = spec.strip()
    if text.lower().startswith("speckle:"):
        text = text.split(":", 1)[1]
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DespeckleError(f"--noise {spec!r}: expected speckle:V1,V2,... with numeric variances") from None
    if not values or any(not v > 0 for v in values):
        raise DespeckleError(f"--noise {spec!r}: give at least one variance, each > 0")
    return values


def _command_line(args: argparse.Namespace, simulated: bool) -> str:
    """The canonical command line of this run (for the report); ``simulated``: the data are phantoms."""
    synthetic_noise = not (simulated or args.no_reference)
    parts = ["monai-despeckle", "evaluate", "--data", str(args.data)]
    for flag, value in (
        ("--split", args.split),
        ("--split-file", args.split_file),
        ("--methods", args.methods),
        ("--noise", args.noise if synthetic_noise else None),
        ("--size", args.size),
        ("--n", args.n),
        ("--seed", args.seed),
    ):
        if value is not None:
            parts += [flag, str(value)]
    if args.no_reference:
        parts.append("--no-reference")
    if args.native:
        parts.append("--native")
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Build the data set, evaluate every method, write the report folder."""
    from monai_despeckle.evaluation import check_output_dir, evaluate, load_eval_set, write_report
    from monai_despeckle.resolver import create_methods

    check_output_dir(args.out, args.overwrite)
    methods = create_methods(args.methods)  # unknown names fail before the data set is built
    variances = None
    data, title = load_eval_set(
        args.data,
        size=args.size,
        n=args.n,
        seed=args.seed,
        split=args.split,
        split_file=args.split_file,
        no_reference=args.no_reference,
    )
    simulated = data.mode == "simulated"
    if simulated and args.noise not in (DEFAULT_NOISE, "physics"):
        logger.info("phantoms carry their own physics speckle: --noise %s is ignored", args.noise)
    if not (simulated or args.no_reference):
        variances = parse_noise(args.noise)
    scale = "native" if args.native else "auto"
    result = evaluate(data, methods, variances, seed=args.seed, n_examples=args.examples, scale=scale)
    config = {key: value for key, value in vars(args).items() if not key.startswith("_")}
    files = write_report(result, args.out, args.overwrite, title, _command_line(args, simulated), config)
    print(f"wrote {len(result.rows)} result rows to {args.out}: {', '.join(p.name for p in files)}")
    return 0
