"""``monai-despeckle export MODEL --format onnx|torchscript --out FILE``: a network for deployment."""

from __future__ import annotations

import argparse
from pathlib import Path

from monai_despeckle.options import EXPORT_FORMATS

HELP = "export a learned method or network to ONNX or TorchScript (checked against PyTorch)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``export`` subcommand."""
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a learned method name, or a network name (dae_skip, dae_noskip, speckle2self, pix2pix)",
    )
    parser.add_argument("--format", choices=EXPORT_FORMATS, required=True, help="onnx or torchscript")
    parser.add_argument("--out", type=Path, required=True, help="output file (.onnx, or .pt for TorchScript)")
    parser.add_argument("--weights", type=Path, help="state_dict file to load into the network (strict)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    """Export, verify against eager PyTorch, and print what was written."""
    from monai_despeckle.export import export_model

    result = export_model(args.model, args.format, args.out, weights=args.weights, overwrite=args.overwrite)
    print(
        f"wrote {result.path} ({result.format}, size multiple {result.size_multiple}); "
        f"max |{result.format} - torch| = {result.max_abs_diff:.2g} on random frames "
        f"(tolerance {result.tolerance:g})"
    )
    return 0
