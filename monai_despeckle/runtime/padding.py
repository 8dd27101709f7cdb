"""Pad frames to a network's size multiple and crop the result back.

Encoder-decoder networks halve the frame size at every level, so H and W must be multiples of
``2**levels`` (the network's ``size_multiple``). Frames are padded by reflection, split evenly
between both sides as MONAI's ``DivisiblePad(method="symmetric")`` does, so the border the
network sees continues the speckle texture instead of a flat band. Written with
``torch.nn.functional.pad`` rather than ``DivisiblePad`` because it runs on whole batches on the
GPU in the inference loop, without MetaTensor bookkeeping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Crop = tuple[slice, slice]


def _reflect(frames: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Reflect-pad; pads wider than the frame are done in several reflections (torch allows < size)."""
    while left or right or top or bottom:
        height, width = frames.shape[-2:]
        step = (min(left, width - 1), min(right, width - 1), min(top, height - 1), min(bottom, height - 1))
        if not any(step):  # a side only one pixel wide: nothing to reflect, repeat it instead
            return F.pad(frames, (left, right, top, bottom), mode="replicate")
        frames = F.pad(frames, step, mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step, strict=True))
    return frames


def pad_to_multiple(frames: torch.Tensor, multiple: int) -> tuple[torch.Tensor, Crop]:
    """Reflect-pad ``[N, C, H, W]`` frames so that H and W are multiples of ``multiple``.

    Args:
        frames: the batch.
        multiple: the network's ``size_multiple`` (1 = no padding).

    Returns:
        The padded batch and the ``(rows, columns)`` slices that crop a result back to ``H × W``.
    """
    height, width = frames.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    crop = (slice(pad_h // 2, pad_h // 2 + height), slice(pad_w // 2, pad_w // 2 + width))
    if pad_h == 0 and pad_w == 0:
        return frames, crop
    return _reflect(frames, pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), crop


def crop_back(frames: torch.Tensor, crop: Crop) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on a result of the padded size."""
    return frames[..., crop[0], crop[1]]
