"""``monai-despeckle info FILE``: what the loader sees in an image file (geometry, timing, dtype)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from monai_despeckle.io.image import UltrasoundImage

SPECKLE_SAMPLE_FRAMES = 5  # the speckle grain is measured on the first frames

HELP = "show kind, frames, spacing, origin, frame time and source dtype of an image file or frames folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``FILE`` and ``--json``."""
    parser.add_argument(
        "file", metavar="FILE", help="image file (NIfTI, NRRD, MHA, DICOM, PNG...) or frames folder"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _speckle_size(frames: np.ndarray | None) -> dict[str, float] | None:
    """The speckle grain in pixels (None for an image without measurable speckle, e.g. a label map)."""
    from monai_despeckle.errors import DespeckleError
    from monai_despeckle.metrics.speckle_size import estimate_speckle_size

    if frames is None:
        return None
    try:
        return estimate_speckle_size(frames).as_dict()
    except DespeckleError:
        return None


def summarize(image: UltrasoundImage, sample: np.ndarray | None = None) -> dict[str, Any]:
    """The facts ``info`` reports, as JSON-serialisable values.

    Args:
        image: the image (or a streamed source's header).
        sample: frames ``[n, H, W]`` in [0, 1] to measure the speckle grain on (default: the
            image's own frames).
    """
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
        "speckle_size_px": _speckle_size(image.frames if sample is None else sample),
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


def _read_through(path: str) -> tuple[UltrasoundImage, np.ndarray | None]:
    """The header of ``path`` after decoding every frame once, and its first frames in [0, 1].

    Streamed a budget-sized chunk at a time rather than loaded, so a long cine or a gzip NIfTI that
    expands to gigabytes is checked in bounded memory; every frame is decoded so that ``info``
    refuses what ``denoise`` would (a truncated or corrupt frame anywhere in the file). The first
    frames (up to 5) are kept to measure the speckle grain on.
    """
    import numpy as np

    from monai_despeckle.budget import chunk_frames
    from monai_despeckle.io.streaming import open_source

    sample = None
    with open_source(path) as source:
        chunk = chunk_frames(source.frame_shape, np.dtype(source.header.intensity.dtype).itemsize)
        for values in source.iter_chunks(chunk, unit=False):
            if sample is None:
                sample = source.header.intensity.to_unit(values[:SPECKLE_SAMPLE_FRAMES])
        return source.header, sample


def run(args: argparse.Namespace) -> int:
    """Read the file and print its summary; reader warnings go to stderr (and into the JSON)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image, sample = _read_through(args.file)
    summary = summarize(image, sample)
    summary["warnings"] = [str(warning.message) for warning in caught]
    for message in summary["warnings"]:
        print(f"warning: {message}", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else _text(summary))
    return 0
