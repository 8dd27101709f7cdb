"""Where and in which precision inference runs: device and precision choice, CPU threads.

``device="auto"`` picks the first CUDA device when one is visible, else the CPU.
``precision="auto"`` picks bfloat16 autocast on GPUs that support it (Ampere and later: the same
exponent range as float32, so no loss scaling or overflow worries), float16 on older GPUs, and
float32 on the CPU (CPU autocast gains little for these small convolutional networks and costs
accuracy).
"""

from __future__ import annotations

import os

import torch

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.options import DEVICE_CHOICES, PRECISION_CHOICES

THREADS_ENV = "MONAI_DESPECKLE_THREADS"  # a thread limit for torch and ONNX Runtime (e.g. benchmarks)
# the names match options.PRECISION_CHOICES (a test checks it)
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: ``"auto"`` → ``cuda`` if available, else ``cpu``.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a :class:`torch.device`.

    Raises:
        InvalidParameterError: unknown device string, or CUDA asked for but not available.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError):
            raise InvalidParameterError(
                f"unknown device {device!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)"
            ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise InvalidParameterError(f"device {resolved} is not supported; use cpu or cuda")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def resolve_precision(precision: str = "auto", device: torch.device | None = None) -> torch.dtype:
    """The compute dtype of network inference.

    Args:
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: the inference device (``"auto"`` depends on it).

    Returns:
        ``torch.float32`` for full precision, else the autocast dtype.

    Raises:
        InvalidParameterError: unknown precision name.
    """
    if precision == "auto":
        if device is not None and device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if precision not in PRECISIONS:
        raise InvalidParameterError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}"
        )
    return PRECISIONS[precision]


def precision_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` → ``"bf16"`` (for logs and benchmark tables)."""
    return next(name for name, value in PRECISIONS.items() if value == dtype)


def cpu_threads() -> int:
    """Threads inference may use: ``$MONAI_DESPECKLE_THREADS`` if set, else the usable CPU cores.

    The cores are the process's affinity mask, which containers and ``taskset`` set:
    ``os.cpu_count()`` reports every core of the host, so a container limited to two cores would
    otherwise start one thread per host core and oversubscribe them.
    """
    limit = os.environ.get(THREADS_ENV, "").strip()
    if limit.isdigit() and int(limit) >= 1:
        return int(limit)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_torch(device: torch.device) -> None:
    """Process-wide torch settings for fast inference on ``device``.

    CPU: intra-op threads = :func:`cpu_threads` (torch's default may count host cores a container
    cannot use). CUDA: ``cudnn.benchmark`` so cuDNN picks the fastest convolution algorithm for
    the (fixed) frame size, and TF32 matrix maths where the GPU has it.
    """
    if device.type == "cpu":
        threads = cpu_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
