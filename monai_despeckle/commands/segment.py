"""``monai-despeckle segment IN OUT --task breast|carotid``: label maps with the input's geometry."""

from __future__ import annotations

import argparse
from pathlib import Path

from monai_despeckle.options import DEFAULT_CHUNK_FRAMES

HELP = "segment breast lesions or carotid lumens in an image, cine, volume or folder (label maps)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment``."""
    parser.add_argument(
        "input", type=Path, metavar="IN", help="image file, cine/volume file or folder of images"
    )
    parser.add_argument(
        "output",
        type=Path,
        metavar="OUT",
        help="label-map file (.nii.gz, .nrrd, .png...) or folder for a folder",
    )
    parser.add_argument(
        "--task", default="breast", help="breast or carotid, a segmentation bundle name or a bundle folder"
    )
    parser.add_argument("--axis", type=int, default=0, help="slice axis of a volume (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--batch-size", type=int, default=8, help="frames per forward pass (default 8)")
    parser.add_argument(
        "--frames",
        action="store_true",
        help="read a folder IN as the frames of one cine loop (default: a folder is a batch of files)",
    )
    parser.add_argument(
        "--chunk-frames",
        default=DEFAULT_CHUNK_FRAMES,
        help="frames read, segmented and written at a time along axis 0, or auto (default): as many "
        "as the memory budget ($MONAI_DESPECKLE_MEMORY_MB, default 512) holds",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    """Segment and report what was written."""
    from monai_despeckle.io.validation import check_input_path
    from monai_despeckle.segmentation import Segmenter
    from monai_despeckle.segmentation.files import segment_file, segment_folder

    source = check_input_path(args.input)
    streaming = {"axis": args.axis, "chunk_frames": args.chunk_frames, "overwrite": args.overwrite}
    segmenter = Segmenter(args.task, device=args.device, batch_size=args.batch_size, progress=True)
    if source.is_dir() and not args.frames:
        count = segment_folder(segmenter, source, args.output, **streaming)
        print(f"segmented {count} file(s) into {args.output} ({segmenter.name}, labels {segmenter.labels})")
    else:
        path = segment_file(segmenter, source, args.output, **streaming)
        print(f"wrote {path} ({segmenter.name}, labels {segmenter.labels})")
    return 0
