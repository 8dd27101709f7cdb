"""Peak memory of a block of code: resident set size on the CPU, allocated memory on CUDA.

On Linux the kernel's RSS high-water mark (``VmHWM`` in ``/proc/self/status``) is reset by writing
``5`` to ``/proc/self/clear_refs``, so a peak can be measured per block without psutil. Where that
is not possible the process-lifetime peak of ``resource.getrusage`` is reported instead (and
:attr:`PeakMemory.resettable` is False).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_RESET_PEAK_RSS = "5"


def _read_status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def _rusage_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20  # kB on Linux, bytes on macOS


class PeakMemory:
    """Context manager measuring peak memory in MB: process RSS (CPU) or CUDA allocated memory.

    Attributes:
        kind: ``"rss"`` or ``"cuda"``.
        peak_mb: the peak during the block (absolute, not an increase), set on exit.
        resettable: whether the RSS peak was reset at entry (else it is the process-lifetime peak).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda" if device.type == "cuda" else "rss"
        self.peak_mb = float("nan")
        self.resettable = True

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.resettable = _reset_peak_rss() and _read_status_kb("VmHWM") is not None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.resettable:
            self.peak_mb = (_read_status_kb("VmHWM") or 0) / 1024.0
        else:
            self.peak_mb = _rusage_peak_mb()
