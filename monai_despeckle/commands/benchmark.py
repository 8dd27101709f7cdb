"""``monai-despeckle benchmark``: frames/s and peak memory of methods and backends on this machine."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from monai_despeckle.errors import InvalidParameterError, UnknownMethodError
from monai_despeckle.options import BACKENDS

if TYPE_CHECKING:
    from monai_despeckle.benchmark import BenchmarkRow

HELP = "measure frames/s, memory and SSIM of despeckling methods and backends, interleaved, on this machine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``benchmark`` subcommand."""
    parser.add_argument(
        "--sizes", default="256,512", help="square frame sizes, comma-separated (default 256,512)"
    )
    parser.add_argument("--frames", type=int, default=16, help="frames timed per measurement (default 16)")
    parser.add_argument(
        "--methods", default="all", help="'all' (default) or a comma-separated list of methods"
    )
    parser.add_argument(
        "--backends",
        default="torch",
        help=f"for networks: comma-separated among {', '.join(BACKENDS)} (default torch)",
    )
    parser.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="NAME",
        help="also benchmark an untrained network built by name (dae_skip, speckle2self, pix2pix...); "
        "repeatable",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--batch-size", default="auto", help="frames per call, or auto (default)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed warm-up frames, at least one batch (default 2)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="interleaved timed rounds (each times every method once, in a rotated order); "
        "the median pass and the spread are reported (default 5)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="thread limit of every multi-threaded library: torch, ONNX Runtime, OpenCV, ITK "
        "(default: the CPU cores this process may use)",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also write the speed-quality plot here")
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="METHOD",
        help="also measure METHOD (e.g. nlm) and give every frame rate as a multiple of its, "
        "measured in the same run",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows instead of a table")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_sizes(text: str) -> list[int]:
    """``"256,512"`` → ``[256, 512]``."""
    try:
        return [int(item) for item in _list(text)]
    except ValueError:
        raise InvalidParameterError(
            f"--sizes {text!r}: expected comma-separated integers like 256,512"
        ) from None


def _report(row: BenchmarkRow) -> None:
    outcome = row.error or (
        f"{row.frames_per_second:.2f} frames/s ({row.fps_min:.1f}-{row.fps_max:.1f}), SSIM {row.ssim:.3f}, "
        f"peak {row.peak_memory_mb:.0f} MB"
    )
    print(f"{row.method} [{row.backend}] {row.size}²: {outcome}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table (or JSON)."""
    from monai_despeckle.benchmark import format_table, plot_speed_quality, run_benchmark, speedups
    from monai_despeckle.resolver import method_spec

    methods = "all" if args.methods.strip() == "all" else _list(args.methods)
    if args.baseline:
        try:
            method_spec(args.baseline)
        except UnknownMethodError:
            raise UnknownMethodError(
                f"--baseline {args.baseline!r} is not a method; see monai-despeckle methods"
            ) from None
    if args.baseline and isinstance(methods, list) and args.baseline not in methods:
        methods.insert(0, args.baseline)
    rows = run_benchmark(
        sizes=parse_sizes(args.sizes),
        frames=args.frames,
        methods=methods,
        backends=_list(args.backends),
        networks=args.network,
        device=args.device,
        batch_size=args.batch_size,
        warmup_frames=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        on_row=None if args.json else _report,
    )
    if args.plot is not None:
        print(f"speed-quality plot: {plot_speed_quality(rows, args.plot)}", file=sys.stderr)
    if args.json:
        records = [row.as_dict() for row in rows]
        if args.baseline:
            for record, ratio in zip(records, speedups(rows, args.baseline), strict=True):
                record[f"speedup_vs_{args.baseline}"] = ratio if math.isfinite(ratio) else None
        print(json.dumps(records, indent=2))
    else:
        print(format_table(rows, baseline=args.baseline))
    return 0
