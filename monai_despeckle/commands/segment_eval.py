"""``monai-despeckle segment-eval``: despeckle, segment, and measure whether it helped."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

HELP = "segment breast lesions or carotid lumens after each despeckler; Dice, HD95 and paired tests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment-eval``."""
    parser.add_argument("--task", required=True, choices=("breast", "carotid"), help="what to segment")
    parser.add_argument("--data", required=True, type=Path, help="folder with images/, masks/ and split.json")
    parser.add_argument(
        "--despecklers",
        default="none,dae_skip",
        help="comma-separated methods (none = raw input, always included; default none,dae_skip)",
    )
    parser.add_argument(
        "--split", default="val", help="key of split.json to evaluate (default val; 'all' for every image)"
    )
    parser.add_argument("--n", type=int, help="evaluate the first N images only")
    parser.add_argument(
        "--ways",
        default="test_time,trained",
        help="test_time (despeckle at test time, raw-trained segmenter) and/or trained (segmenter "
        "trained on despeckled images); default both",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--examples", type=int, default=3, help="images shown in overlays.png (default 3)")
    parser.add_argument("--out", required=True, type=Path, help="report folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the report folder."""
    from monai_despeckle.errors import DespeckleError
    from monai_despeckle.reports import check_output_dir
    from monai_despeckle.segmentation.evaluation import segment_eval, write_segment_report

    if args.n is not None and args.n < 1:
        raise DespeckleError(f"--n must be >= 1, got {args.n}")
    check_output_dir(args.out, args.overwrite)  # before the long run, not after it
    result = segment_eval(
        args.task,
        args.data,
        _split(args.despecklers),
        split=None if args.split == "all" else args.split,
        n=args.n,
        ways=_split(args.ways),
        device=args.device,
        examples=args.examples,
    )
    parts = ["monai-despeckle", "segment-eval", "--task", args.task, "--data", str(args.data)]
    parts += ["--despecklers", args.despecklers, "--split", args.split, "--ways", args.ways]
    parts += ["--n", str(args.n)] if args.n else []
    parts += ["--out", str(args.out)]
    config = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")
    }
    files = write_segment_report(
        result, args.out, overwrite=args.overwrite, command=shlex.join(parts), config=config
    )
    print(f"wrote {len(result.rows)} result rows to {args.out}: {', '.join(p.name for p in files)}")
    return 0
