"""One memory budget, in bytes, from which every streamed run sizes its chunks, batches and tiles.

A frame on the streamed path (read → despeckle or segment → write) costs, per pixel:

- while it waits in a chunk: its stored values (source dtype) and its float32 copy in [0, 1], and
  later its float32 result (the writer converts back to the source dtype one frame at a time);
- while it is in the method: the method's working memory, for a network its activations (estimated
  per pixel, see :func:`monai_despeckle.runtime.estimate_activation_bytes_per_pixel`).

The budget (:data:`BUDGET_ENV` in MiB, default :data:`DEFAULT_BUDGET`) is split: :data:`CHUNK_SHARE`
for frames held between reader and writer, :data:`METHOD_SHARE` for the method (batch size ×
memory per frame). A frame whose method memory alone exceeds the method share is processed in
overlapping tiles (:mod:`monai_despeckle.runtime.tiling`). The interpreter, the libraries and the
weights are not counted: about 0.6 GB for the CLI with the default network.

Two hard limits keep a small hostile file from expanding in memory before any of this applies:
frames above :data:`MAX_FRAME_PIXELS`, and images read whole (formats that cannot be streamed)
whose decoded size exceeds :func:`whole_image_limit`, are refused from their header, before a
pixel is decoded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from monai_despeckle.errors import ImageTooLargeError, InvalidParameterError
from monai_despeckle.options import DEFAULT_CHUNK_FRAMES

BUDGET_ENV = "MONAI_DESPECKLE_MEMORY_MB"
DEFAULT_BUDGET = 512 << 20
MIN_BUDGET = 16 << 20
CHUNK_SHARE = 0.25
METHOD_SHARE = 0.5
# float32 bytes per pixel a chunked frame holds besides its stored values: its [0, 1] copy, its
# result, and the regrouped batch the engine hands to the method.
HELD_BYTES_PER_PIXEL = 12
MAX_CHUNK_FRAMES = 32  # beyond this a chunk brings no speed, only latency
MAX_FRAME_PIXELS = 8192 * 8192
WHOLE_IMAGE_FACTOR = 4  # formats read whole may decode up to this many budgets
MIN_TILE_SIDE = 256  # smaller tiles would cut most networks' receptive fields; 256² costs < 64 MB


def _mib(size: float) -> str:
    return f"{size / 2**20:,.0f} MiB"


def memory_budget() -> int:
    """The budget in bytes: ``$MONAI_DESPECKLE_MEMORY_MB`` MiB, else :data:`DEFAULT_BUDGET`.

    Raises:
        InvalidParameterError: the variable is not a number of MiB ≥ 16.
    """
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_BUDGET
    try:
        size = float(text) * 2**20
    except ValueError:
        size = float("nan")
    if not size >= MIN_BUDGET or not math.isfinite(size):
        raise InvalidParameterError(f"{BUDGET_ENV}={text!r}: give the memory budget in MiB, at least 16")
    return int(size)


def method_budget(budget: int | None = None) -> int:
    """Bytes the method may use at once (a batch of frames, or the tiles of one frame)."""
    return int(METHOD_SHARE * (memory_budget() if budget is None else budget))


def parse_chunk_frames(value: int | str) -> int | None:
    """``"auto"`` → None; an integer ≥ 1 (or its text) → that integer.

    Raises:
        InvalidParameterError: anything else.
    """
    if value == "auto":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1 or str(number) != str(value).strip():
        raise InvalidParameterError(f"chunk_frames must be 'auto' or an integer >= 1, got {value!r}")
    return number


def chunk_frames(
    frame_shape: tuple[int, int],
    source_itemsize: int,
    requested: int | str = DEFAULT_CHUNK_FRAMES,
    *,
    budget: int | None = None,
) -> int:
    """Frames to read (and hold) at a time: ``requested``, or if ``"auto"`` as many as
    :data:`CHUNK_SHARE` of the budget allows.

    Args:
        frame_shape: (H, W).
        source_itemsize: bytes of one stored value (1 for uint8, 2 for uint16...).
        requested: an integer ≥ 1, or ``"auto"``.
        budget: the budget in bytes (default :func:`memory_budget`).

    Returns:
        A count ≥ 1 (≤ :data:`MAX_CHUNK_FRAMES` when sized from the budget).
    """
    fixed = parse_chunk_frames(requested)
    if fixed is not None:
        return fixed
    return int(min(MAX_CHUNK_FRAMES, max(1, _frames_held(frame_shape, source_itemsize, budget))))


def _frames_held(frame_shape: tuple[int, int], source_itemsize: int, budget: int | None) -> int:
    """How many frames the budget's chunk share holds (possibly 0)."""
    budget = memory_budget() if budget is None else budget
    per_frame = max(1, frame_shape[0] * frame_shape[1]) * (source_itemsize + HELD_BYTES_PER_PIXEL)
    return int(CHUNK_SHARE * budget // per_frame)


def overlapped_chunk_frames(
    frame_shape: tuple[int, int], source_itemsize: int, in_flight: int, *, budget: int | None = None
) -> int | None:
    """Frames per chunk when ``in_flight`` chunks are held at once (reading and writing overlapped
    with the computation), or None when the chunk share cannot hold one frame per chunk in flight.
    """
    held = _frames_held(frame_shape, source_itemsize, budget)
    return min(MAX_CHUNK_FRAMES, held // in_flight) if held >= in_flight else None


def _round_down(value: float, multiple: int) -> int:
    return max(multiple, int(value) // multiple * multiple)


def tile_shape(
    frame_shape: tuple[int, int], bytes_per_pixel: float, multiple: int = 1, allowed: int | None = None
) -> tuple[int, int] | None:
    """The tile (h, w) a method processes when a whole frame does not fit, else None.

    Args:
        frame_shape: (H, W) of a frame.
        bytes_per_pixel: the method's working memory per pixel.
        multiple: tile sides are multiples of it (a network's ``size_multiple``).
        allowed: bytes the method may use (default :func:`method_budget`).

    Returns:
        None when ``H × W × bytes_per_pixel`` fits; else the largest tile (square where the frame
        allows, sides multiples of ``multiple``, at least :data:`MIN_TILE_SIDE`) that fits.
    """
    allowed = method_budget() if allowed is None else allowed
    height, width = frame_shape
    if height * width * bytes_per_pixel <= allowed:
        return None
    pixels = allowed / max(bytes_per_pixel, 1e-9)
    least = math.ceil(MIN_TILE_SIDE / multiple) * multiple
    side = max(least, _round_down(math.sqrt(pixels), multiple))
    tile_h = min(side, math.ceil(height / multiple) * multiple)
    tile_w = max(least, _round_down(pixels / tile_h, multiple))
    tile_w = min(tile_w, math.ceil(width / multiple) * multiple)
    return int(tile_h), int(tile_w)


def check_frame_size(height: int, width: int, path: str | Path | None) -> None:
    """Refuse frames of more than :data:`MAX_FRAME_PIXELS` (8192 × 8192) pixels.

    Raises:
        ImageTooLargeError: naming ``path``, before any pixel is decoded.
    """
    if int(height) * int(width) > MAX_FRAME_PIXELS:
        raise ImageTooLargeError(
            f"frames of {height}×{width} pixels exceed the limit of {MAX_FRAME_PIXELS:,} pixels "
            "(8192×8192) per frame; refusing to decode them",
            path,
        )


def whole_image_limit(budget: int | None = None) -> int:
    """Bytes an image read whole may decode to: :data:`WHOLE_IMAGE_FACTOR` budgets."""
    return WHOLE_IMAGE_FACTOR * (memory_budget() if budget is None else budget)


def check_whole_image(
    num_frames: int,
    height: int,
    width: int,
    dtype: np.dtype | str,
    path: str | Path | None,
    *,
    streamable: bool = False,
) -> None:
    """Refuse an image read whole whose decoded values plus float32 frames exceed the limit.

    Args:
        num_frames, height, width, dtype: what the header declares.
        path: the file, named in the error.
        streamable: the format can be streamed (NIfTI, DICOM): the error then says which commands
            stream it, rather than which formats to convert to.

    Raises:
        ImageTooLargeError: naming ``path`` and both sizes, before any pixel is decoded.
    """
    check_frame_size(height, width, path)
    pixels = int(num_frames) * int(height) * int(width)
    decoded = pixels * (np.dtype(dtype).itemsize + 4)
    limit = whole_image_limit()
    if decoded > limit:
        raise ImageTooLargeError(
            f"{num_frames} frames of {height}×{width} {np.dtype(dtype).name} would take "
            f"{_mib(decoded)} decoded, above the {_mib(limit)} limit for images read whole "
            f"({WHOLE_IMAGE_FACTOR} × {BUDGET_ENV}); "
            + (
                "denoise and segment stream it along axis 0"
                if streamable
                else "save it as .nii, .nii.gz or DICOM to stream it"
            ),
            path,
        )
