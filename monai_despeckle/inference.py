"""Run a despeckling Method over every frame of an UltrasoundImage.

This is the single path the CLI, the demo, the Slicer module and the MONAI Label app use to
apply a method: frames go through in batches of ``[N, 1, H, W]`` tensors and come back into an
image with unchanged geometry and metadata.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.methods import Method


def iter_batches(frames: np.ndarray, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, frames[start:start + batch_size])`` over the leading axis."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, frames.shape[0], batch_size):
        yield start, frames[start : start + batch_size]


def despeckle(
    image: UltrasoundImage,
    method: Method,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> UltrasoundImage:
    """Apply ``method`` to every frame of ``image`` and return a new image with the same geometry.

    Args:
        image: the input; its frames are float32 ``[T, H, W]`` in [0, 1].
        method: any registered Method (classical filter or network).
        batch_size: frames per call of the method.
        device: where the frames are sent before calling the method.
        progress: show a progress bar (frames).
    """
    out = np.empty_like(image.frames)
    with (
        torch.inference_mode(),
        tqdm(total=image.num_frames, unit="frame", disable=not progress, desc=method.name) as bar,
    ):
        for start, chunk in iter_batches(image.frames, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(chunk)).unsqueeze(1).to(device)
            result = method(batch)
            if result.shape != batch.shape:
                raise RuntimeError(
                    f"method {method.name!r} changed the shape {batch.shape} -> {result.shape}"
                )
            out[start : start + chunk.shape[0]] = result.squeeze(1).clamp_(0.0, 1.0).cpu().numpy()
            bar.update(chunk.shape[0])
    return image.with_frames(out)
