"""Moving frame batches between host numpy arrays and the compute device.

On CUDA, batches are staged in one reusable page-locked (pinned) host buffer so the copy to the
GPU can run asynchronously (``non_blocking=True``). Reusing the buffer is safe because every batch's
result is copied back to the host (which waits for the stream) before the next batch is staged.
"""

from __future__ import annotations

import numpy as np
import torch


class FrameTransfer:
    """numpy ``[n, H, W]`` float32 ↔ torch ``[n, 1, H, W]`` on ``device``.

    Args:
        device: the compute device.
        pin_memory: stage host→GPU copies in pinned memory (ignored on the CPU).
    """

    def __init__(self, device: torch.device, *, pin_memory: bool = True) -> None:
        self.device = device
        self.pin_memory = pin_memory and device.type == "cuda"
        self._pinned: torch.Tensor | None = None

    def to_device(self, frames: np.ndarray) -> torch.Tensor:
        """A batch ``[n, 1, H, W]`` on the device (a view of ``frames`` on the CPU: no copy)."""
        array = np.ascontiguousarray(frames, dtype=np.float32)
        if not array.flags.writeable:  # torch cannot share read-only memory (e.g. a memory map)
            array = array.copy()
        host = torch.from_numpy(array).unsqueeze(1)
        if self.device.type == "cpu":
            return host
        if not self.pin_memory:
            return host.to(self.device)
        if self._pinned is None or self._pinned.numel() < host.numel():
            self._pinned = torch.empty(host.numel(), dtype=torch.float32, pin_memory=True)
        staged = self._pinned[: host.numel()].view(host.shape)
        staged.copy_(host)
        return staged.to(self.device, non_blocking=True)

    @staticmethod
    def to_host(frames: torch.Tensor) -> np.ndarray:
        """A result ``[n, 1, H, W]`` back as a float32 numpy ``[n, H, W]`` (waits for the GPU)."""
        return frames.detach().squeeze(1).to("cpu", torch.float32).numpy()
