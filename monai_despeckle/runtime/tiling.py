"""Run a method over frames too large for memory in overlapping tiles, blended without seams.

A frame is cut into tiles of the planned shape (see :func:`monai_despeckle.budget.tile_shape`)
that overlap their neighbours by a quarter of a tile (at least :data:`MIN_OVERLAP` pixels). Each
tile's result is weighted, along each side that borders another tile, by a taper that is 0 over
the outer third of the overlap (where the network's view is cut off by the tile edge) and rises
smoothly to 1 across the rest; sides on the frame's own border keep weight 1, since there the tile
sees exactly what the whole frame sees. The weighted results are summed and divided by the summed
weights. A network whose receptive field reaches no further than the dead zone (a third of the
overlap) therefore gives exactly its whole-frame output; a wider one differs only by what its
view loses beyond that, faded in and out, so no seam shows.

MONAI's ``sliding_window_inference`` with Gaussian blending was tried first: its importance map is
floored at 1e-3, and along the frame border, where every covering tile's weight is that small, a
tile's cut-off edge then counts as much as its neighbour's centre (errors up to 0.1 on the
default network at tile edges meeting the frame border). Per-tile weights that know which sides
border another tile avoid that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

OVERLAP_FRACTION = 0.25
MIN_OVERLAP = 64


def overlap_for(tile: int) -> int:
    """Pixels two neighbouring tiles of side ``tile`` share: a quarter of it, at least :data:`MIN_OVERLAP`."""
    return min(tile - 1, max(MIN_OVERLAP, int(tile * OVERLAP_FRACTION)))


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` pixels, neighbours sharing ``overlap``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def taper(size: int, before: bool, after: bool, overlap: int) -> np.ndarray:
    """1-D weights of a tile side ``size`` long: tapered over ``overlap`` at each side that has a neighbour.

    The outer third of the overlap gets weight 0, the rest rises as a smoothstep to 1.
    """
    weights = np.ones(size, dtype=np.float64)
    dead = overlap // 3
    distance = np.arange(size, dtype=np.float64)
    ramp = np.clip((distance - dead + 0.5) / max(overlap - dead, 1), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    if before:
        weights *= ramp
    if after:
        weights *= ramp[::-1]
    return weights


def _windows(height: int, width: int, tile: tuple[int, int]) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Every tile of a ``height × width`` frame: its rows, its columns and its weight map."""
    overlap_h, overlap_w = overlap_for(tile[0]), overlap_for(tile[1])
    rows, columns = tile_starts(height, tile[0], overlap_h), tile_starts(width, tile[1], overlap_w)
    for top in rows:
        bottom = min(top + tile[0], height)
        weight_h = taper(bottom - top, top > 0, bottom < height, overlap_h)
        for left in columns:
            right = min(left + tile[1], width)
            weight_w = taper(right - left, left > 0, right < width, overlap_w)
            yield slice(top, bottom), slice(left, right), np.outer(weight_h, weight_w).astype(np.float32)


def run_tiled(
    method: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor, tile: tuple[int, int]
) -> torch.Tensor:
    """``method`` over ``[N, 1, H, W]`` frames, one tile of one frame at a time.

    The frames stay where they are (host memory for a CPU run) and so does the result; only one
    tile's activations exist at once. Besides the result, one ``[H, W]`` float32 weight sum is held.

    Args:
        method: ``[1, 1, h, w]`` → same shape (e.g. a :class:`~monai_despeckle.runtime.NetworkMethod`).
        frames: the batch.
        tile: (h, w) of a tile; a frame smaller than it in a direction is not cut in that direction.

    Returns:
        float32 ``[N, 1, H, W]`` on the frames' device.
    """
    height, width = frames.shape[-2:]
    result = torch.zeros(frames.shape, dtype=torch.float32, device=frames.device)
    weight_sum = torch.zeros((height, width), dtype=torch.float32, device=frames.device)
    windows = list(_windows(height, width, tile))
    with torch.no_grad():
        for rows, columns, weights in windows:
            weight_sum[rows, columns] += torch.from_numpy(weights).to(frames.device)
        for index in range(frames.shape[0]):
            for rows, columns, weights in windows:
                window = frames[index : index + 1, :, rows, columns].to(torch.float32)
                out = method(window).to(device=frames.device, dtype=torch.float32)
                result[index : index + 1, :, rows, columns] += out * torch.from_numpy(weights).to(
                    frames.device
                )
        result /= weight_sum
    return result
