"""``monai-despeckle demo``: despeckle embedded samples and write a before/after figure."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "despeckle a simulated phantom (and a real sample if present) and write a before/after figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``demo``."""
    parser.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="output folder (default: %(default)s)"
    )
    parser.add_argument("--method", default=None, help="method name (default: the best available)")
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="folder with images/ (and masks/) of real ultrasound "
        "(default: ../shared/data/real_us_samples if present)",
    )
    parser.add_argument("--no-real", action="store_true", help="use the simulated phantom only")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its outputs are."""
    from monai_despeckle.defaults import default_method_name, real_samples_dir
    from monai_despeckle.demo import run_demo
    from monai_despeckle.errors import DespeckleError
    from monai_despeckle.resolver import method_spec

    method_name = args.method or default_method_name()
    method_spec(method_name)  # fail early, with the list of choices, on a bad name
    samples = None if args.no_real else (args.samples or real_samples_dir())
    if samples is not None and not (samples / "images").is_dir():
        raise DespeckleError("no images/ folder of real samples here", samples)
    cases, figure = run_demo(args.out, method_name, samples)
    print(f"method: {method_name}")
    for case in cases:
        print(f"\n{case.title}")
        for name, (before, after) in case.metrics.items():
            print(f"  {name:<14} input {before:8.3f}   despeckled {after:8.3f}")
        for path in case.outputs:
            print(f"  wrote {path}")
    if samples is None:
        print("\n(no real samples found: simulated phantom only)")
    print(f"\nfigure: {figure.resolve()}")
    return 0
