"""``monai-despeckle denoise IN OUT``: despeckle an image file, cine, volume or a folder of files.

Frames are streamed (read, despeckled and written ``--chunk-frames`` at a time) where the format
allows, so long cines run in bounded memory; outputs keep the input's geometry, dtype and
metadata, appear only when complete, and never replace the input.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from monai_despeckle.options import BACKENDS, DEFAULT_CHUNK_FRAMES, PRECISION_CHOICES

HELP = "despeckle an image, cine loop, volume or a folder of images (geometry and dtype kept)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``denoise`` subcommand."""
    parser.add_argument("input", metavar="IN", type=Path, help="image file, or a folder of image files")
    parser.add_argument(
        "output",
        metavar="OUT",
        type=Path,
        help="output file (format from its suffix) or folder (for a folder IN)",
    )
    parser.add_argument(
        "--method",
        help="registered method (see `monai-despeckle methods`) or an exported .onnx/.pt network; "
        "default: the best available",
    )
    parser.add_argument(
        "--axis",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="0: each frame / slice of the [T, H, W] array (default); 1 or 2: reslice a volume and process "
        "its [T, W] or [T, H] slices (needs the whole volume in memory)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", default="auto", help="frames per call, or auto (default)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto", help="networks only")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto", help="networks only")
    parser.add_argument(
        "--native",
        action="store_true",
        help="networks: run frames at their own size (default: at the speckle grain the network was "
        "trained at, frames resampled across the beam for it and back)",
    )
    parser.add_argument(
        "--chunk-frames",
        default=DEFAULT_CHUNK_FRAMES,
        help="frames read and written at a time, or auto (default): as many as the memory budget "
        "($MONAI_DESPECKLE_MEMORY_MB, default 512) holds",
    )
    parser.add_argument(
        "--frames",
        action="store_true",
        help="read a folder IN as the frames of one cine loop (default: a folder is a batch of files)",
    )
    parser.add_argument(
        "--skip-errors",
        action="store_true",
        help="folder IN: skip files that cannot be read (default: stop, write nothing)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT (never IN)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Despeckle IN into OUT and print a one-line summary."""
    from monai_despeckle.inference import Despeckler
    from monai_despeckle.io.safe_write import check_output_path
    from monai_despeckle.io.validation import check_input_path
    from monai_despeckle.pipeline import process_file, process_folder

    source = check_input_path(args.input)
    check_output_path(args.output, protected=[source], overwrite=args.overwrite)
    despeckler = Despeckler(
        args.method,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        backend=args.backend,
        progress=not args.no_progress,
        scale="native" if args.native else "auto",
    )
    options = {"axis": args.axis, "chunk_frames": args.chunk_frames, "overwrite": args.overwrite}
    start = time.perf_counter()
    if source.is_dir() and not args.frames:
        files = process_folder(despeckler, source, args.output, skip_errors=args.skip_errors, **options)
        what = f"{files} file{'s' if files != 1 else ''}"
    else:
        process_file(despeckler, source, args.output, **options)
        what = args.output.name
    seconds = time.perf_counter() - start
    frames = despeckler.frames_processed
    rate = f", {frames / seconds:.1f} frames/s" if seconds > 0 else ""
    grain = despeckler.last_grain
    scale = "" if grain is None else f", speckle grain {grain.axial_px:.1f} x {grain.lateral_px:.1f} px"
    print(
        f"wrote {args.output} ({what}: {frames} frames, {despeckler.name} on {despeckler.device}, "
        f"{seconds:.1f} s{rate}{scale})"
    )
    return 0
