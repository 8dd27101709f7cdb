"""``monai-despeckle info FILE``: what the loader sees in an image file (geometry, timing, dtype)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monai_despeckle.io.image import UltrasoundImage

HELP = "show kind, frames, spacing, origin, frame time and source dtype of an image file or frames folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``FILE`` and ``--json``."""
    parser.add_argument(
        "file", metavar="FILE", help="image file (NIfTI, NRRD, MHA, DICOM, PNG...) or frames folder"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _speckle_size(image: UltrasoundImage) -> dict[str, float] | None:
    """The speckle grain in pixels (None for an image without measurable speckle, e.g. a label map)."""
    from monai_despeckle.errors import DespeckleError
    from monai_despeckle.metrics.speckle_size import estimate_speckle_size

    try:
        return estimate_speckle_size(image.frames).as_dict()
    except DespeckleError:
        return None


def summarize(image: UltrasoundImage) -> dict[str, Any]:
    """The facts ``info`` reports, as JSON-serialisable values."""
    return {
        "file": str(image.source) if image.source is not None else None,
        "format": image.metadata.get("format"),
        "kind": image.kind.value,
        "frames": image.num_frames,
        "frame_size": list(image.frame_shape),
        "spacing_mm": [float(s) for s in image.spacing],
        "origin_mm": [float(o) for o in image.origin],
        "frame_time_ms": image.frame_time_ms,
        "source_dtype": image.intensity.dtype,
        "source_range": [image.intensity.low, image.intensity.high],
        "spacing_source": image.metadata.get("spacing_source"),
        "speckle_size_px": _speckle_size(image),
    }


def _grain_text(size: dict[str, float] | None) -> str:
    if size is None:
        return "not measurable (no speckle texture)"
    return f"{size['axial_px']:.2f} px axial x {size['lateral_px']:.2f} px lateral (autocovariance FWHM)"


def _text(summary: dict[str, Any]) -> str:
    height, width = summary["frame_size"]
    frame_time = summary["frame_time_ms"]
    low, high = summary["source_range"]
    rows = [
        ("file", summary["file"]),
        ("format", summary["format"]),
        ("kind", summary["kind"]),
        ("frames", summary["frames"]),
        ("frame size", f"{height} x {width} (H x W)"),
        ("spacing", " x ".join(f"{s:.6g}" for s in summary["spacing_mm"]) + " mm (T, H, W)"),
        ("origin", ", ".join(f"{o:.6g}" for o in summary["origin_mm"]) + " mm (LPS)"),
        ("frame time", f"{frame_time:.6g} ms" if frame_time is not None else "unknown"),
        ("source dtype", f"{summary['source_dtype']} [{low:.6g}, {high:.6g}]"),
        ("spacing from", summary["spacing_source"]),
        ("speckle size", _grain_text(summary["speckle_size_px"])),
    ]
    return "\n".join(f"{name + ':':<14}{value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    """Load the file and print its summary; loader warnings go to stderr (and into the JSON)."""
    from monai_despeckle.io import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load(args.file)
    summary = summarize(image)
    summary["warnings"] = [str(warning.message) for warning in caught]
    for message in summary["warnings"]:
        print(f"warning: {message}", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else _text(summary))
    return 0
