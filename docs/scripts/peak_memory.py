"""Peak resident memory of ``denoise`` and ``segment`` on large inputs (the numbers in benchmarks.md).

Writes the inputs into WORKDIR (about 2.7 GB for the 10,000-frame cine), runs each command as a
child process and reads its peak RSS from the kernel (``os.wait4``), then prints a Markdown table.
Slow on two CPU cores (the default network on 32 frames of 4096² takes several minutes, the
10,000-frame cine about a quarter of an hour): run it on an otherwise idle machine.

    python docs/scripts/peak_memory.py WORKDIR [--skip-cine]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from monai_despeckle.io.streaming import open_sink, placeholder_frames


def make_cine(path: Path, num_frames: int, side: int, *, zeros: bool) -> Path:
    """A uint8 NIfTI cine written a few frames at a time (zeros compress to almost nothing)."""
    if path.exists():
        return path
    header = UltrasoundImage(
        placeholder_frames(num_frames, side, side),
        kind=ImageKind.CINE,
        frame_time_ms=33.0,
        intensity=IntensityMapping("uint8", 0.0, 255.0),
    )
    rng = np.random.default_rng(0)
    step = max(1, (32 << 20) // (side * side))
    with open_sink(path, header) as sink:
        for start in range(0, num_frames, step):
            count = min(step, num_frames - start)
            if zeros:
                sink.write(np.zeros((count, side, side), np.float32))
            else:
                sink.write(rng.integers(0, 256, (count, side, side), dtype=np.uint8) / np.float32(255.0))
    return path


def peak_rss(argv: list[str]) -> tuple[float, float, int]:
    """Run ``argv``; its peak RSS in MB, wall time in s and exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.stderr.write(process.stderr.read().decode(errors="replace"))
    return usage.ru_maxrss / 1024.0, seconds, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--skip-cine", action="store_true", help="leave out the 10,000-frame cine")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    script = shutil.which("monai-despeckle", path=str(Path(sys.executable).parent)) or "monai-despeckle"
    inputs = {
        "32 × 4096² zeros (.nii.gz)": make_cine(args.workdir / "zeros_32x4096.nii.gz", 32, 4096, zeros=True),
        "3 × 4096² random (.nii.gz)": make_cine(args.workdir / "random_3x4096.nii.gz", 3, 4096, zeros=False),
    }
    runs = []
    for label, path in inputs.items():
        runs.append((label, "denoise (default: dae_skip)", ["denoise", str(path), "{out}.nii.gz"]))
        runs.append(
            (label, "denoise --method mean", ["denoise", str(path), "{out}.nii.gz", "--method", "mean"])
        )
        runs.append((label, "segment (breast)", ["segment", str(path), "{out}_seg.nii.gz"]))
    if not args.skip_cine:
        cine = make_cine(args.workdir / "random_10000x512.nii", 10000, 512, zeros=False)
        runs.append(
            (
                "10,000 × 512² random (.nii)",
                "denoise (default: dae_skip)",
                ["denoise", str(cine), "{out}.nii"],
            )
        )
    print("| input | command | peak RSS (MB) | wall time (s) |")
    print("|---|---|---|---|")
    for index, (label, command, argv) in enumerate(runs):
        out = args.workdir / f"out_{index}"
        argv = [arg.replace("{out}", str(out)) for arg in argv]
        megabytes, seconds, status = peak_rss(
            [script, *argv, "--overwrite", *(["--no-progress"] if argv[0] == "denoise" else [])]
        )
        note = "" if status == 0 else f" (exit {status})"
        print(f"| {label} | `{command}` | {megabytes:,.0f}{note} | {seconds:,.0f} |", flush=True)
        for produced in args.workdir.glob(f"out_{index}*"):
            produced.unlink()


if __name__ == "__main__":
    main()
