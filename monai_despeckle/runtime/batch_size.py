"""How many frames go through a method at once.

GPU: the batch is sized from the free memory (``torch.cuda.mem_get_info``) and the memory one frame
needs, measured by running a probe batch. CPU, networks: the batch is sized from a working-memory
budget and the network's activation memory per pixel, estimated once on a small probe frame
(batching helps some networks several-fold on a CPU, but a wide full-resolution network needs
hundreds of MB per 512² frame). CPU, classical filters: a few megapixels per batch, enough to
amortise per-call overhead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch
from torch import nn

from monai_despeckle.budget import method_budget
from monai_despeckle.errors import InvalidParameterError

CPU_PIXELS_PER_BATCH = 4 * 512 * 512  # classical filters: 4 MB of float32 input (4 frames of 512²)
# Networks on the CPU: at most the method's share of the memory budget (256 MiB by default, see
# monai_despeckle.budget) or 1/4 of free RAM. A CPU gains almost no throughput from batches beyond a
# few frames, while ONNX Runtime's memory arena keeps the peak of the largest batch resident:
# streaming a 10,000-frame 512² cine with the default model peaked at 2.6 GB RSS with a 1 GiB
# budget (batches of 7) and at 1.1 GB with 256 MiB (batches of 1); on 56 frames the two batch
# sizes ran at 16.6 and 17.6 frames/s.
MAX_CPU_BATCH = 16
MAX_GPU_BATCH = 256
GPU_MEMORY_FRACTION = 0.6  # of the free memory; the rest absorbs fragmentation and the output copies
ACTIVATION_BYTES_PER_PIXEL = 4 * 64  # fallback estimate: float32 × ~64 live feature maps per pixel
PROBE_SIDE = 64  # side of the probe frame used to estimate activation memory


def parse_batch_size(value: int | str) -> int | None:
    """``"auto"`` → None; ``8`` or ``"8"`` → 8.

    Raises:
        InvalidParameterError: not ``"auto"`` and not an integer ≥ 1.
    """
    if value == "auto":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"batch size must be 'auto' or an integer >= 1, got {value!r}") from None
    if number < 1 or isinstance(value, bool):
        raise InvalidParameterError(f"batch size must be 'auto' or an integer >= 1, got {value!r}")
    return number


def estimate_activation_bytes_per_pixel(module: nn.Module, size_multiple: int = 1) -> float:
    """Bytes of float32 layer outputs per input pixel, summed over every layer of ``module``.

    Runs one probe frame (about :data:`PROBE_SIDE` pixels square) with forward hooks on the leaf
    layers. The sum counts every intermediate tensor as if all were alive at once, so it
    over-estimates the peak (by 1.5–4× for encoder-decoders): a safe basis for a memory budget.
    """
    side = size_multiple * max(1, math.ceil(PROBE_SIDE / size_multiple))
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    total = 0

    def count(_layer: nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * 4  # float32, whatever the autocast dtype

    leaves = [layer for layer in module.modules() if not any(True for _ in layer.children())]
    hooks = [layer.register_forward_hook(count) for layer in leaves]
    try:
        with torch.inference_mode():
            module(torch.rand((1, 1, side, side), device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return max(total, 4 * side * side) / (side * side)


def measure_bytes_per_frame(
    run: Callable[[torch.Tensor], torch.Tensor], frame_shape: tuple[int, int], device: torch.device
) -> int:
    """Peak CUDA memory one frame costs in ``run``, measured on a probe batch of two random frames."""
    probe_frames = 2
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    probe = torch.rand((probe_frames, 1, *frame_shape), device=device)
    run(probe)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    return max(1, int(peak) // probe_frames)


def cpu_memory_budget() -> int:
    """Working memory for network activations on the CPU: the method's share of the memory budget
    (:func:`monai_despeckle.budget.method_budget`) or a quarter of the physical memory currently
    available, whichever is smaller."""
    share = method_budget()
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return share
    return int(min(share, max(available // 4, 1)))


def gpu_memory_budget(device: torch.device) -> int:
    """Working memory on a CUDA device: :data:`GPU_MEMORY_FRACTION` of its free memory."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free * GPU_MEMORY_FRACTION)


def choose_batch_size(
    requested: int | str,
    device: torch.device,
    frame_shape: tuple[int, int],
    *,
    bytes_per_frame: int | None = None,
) -> int:
    """The batch size to use.

    Args:
        requested: an integer ≥ 1 (used as given) or ``"auto"``.
        device: the device the method computes on.
        frame_shape: (H, W) of the frames (after padding).
        bytes_per_frame: memory one frame needs: measured on CUDA (see
            :func:`measure_bytes_per_frame`), estimated for a network on the CPU (see
            :func:`estimate_activation_bytes_per_pixel`); None for a classical filter on the CPU.

    Returns:
        CUDA: ``GPU_MEMORY_FRACTION × free memory // bytes_per_frame`` (default estimate
        :data:`ACTIVATION_BYTES_PER_PIXEL` per pixel) in [1, :data:`MAX_GPU_BATCH`]. CPU:
        ``cpu_memory_budget() // bytes_per_frame`` for a network, ``CPU_PIXELS_PER_BATCH // (H·W)``
        for a filter, in [1, :data:`MAX_CPU_BATCH`].
    """
    fixed = parse_batch_size(requested)
    if fixed is not None:
        return fixed
    pixels = max(1, frame_shape[0] * frame_shape[1])
    if device.type == "cuda":
        per_frame = bytes_per_frame if bytes_per_frame else pixels * ACTIVATION_BYTES_PER_PIXEL
        return int(min(MAX_GPU_BATCH, max(1, gpu_memory_budget(device) // per_frame)))
    if bytes_per_frame is None:
        return int(min(MAX_CPU_BATCH, max(1, CPU_PIXELS_PER_BATCH // pixels)))
    return int(min(MAX_CPU_BATCH, max(1, cpu_memory_budget() // max(1, bytes_per_frame))))
