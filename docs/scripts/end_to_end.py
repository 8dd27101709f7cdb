"""``denoise`` wall clock, start-up included, against the in-process rate on the same frames.

Usage: ``python docs/scripts/end_to_end.py WORKDIR [--frames 200] [--size 512] [--rounds 3]``

Writes a uint8 ``.nii.gz`` cine of breast phantoms (physics speckle, so the default model resamples
to its trained grain as it does on real frames), then, in interleaved rounds, times
``Despeckler.iter_frames`` over the frames already in memory in this running process (the
in-process rate) and the whole ``monai-despeckle denoise`` command in a fresh process (the wall
clock a user sees). Prints one Markdown row per round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from monai_despeckle import io
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import ImageKind, UltrasoundImage
from monai_despeckle.simulation import simulate_breast

DISTINCT_PHANTOMS = 10  # simulated once each, then repeated: the timing does not depend on content


def write_cine(path: Path, frames: int, size: int) -> np.ndarray:
    """A ``frames``-long uint8 cine of repeated breast phantoms; returns its float frames."""
    phantoms = [simulate_breast(size=size, seed=seed).bmode for seed in range(DISTINCT_PHANTOMS)]
    stack = np.stack([np.asarray(phantoms[i % DISTINCT_PHANTOMS]) for i in range(frames)])
    stored = np.round(np.clip(stack, 0.0, 1.0) * 255.0).astype(np.uint8)
    io.save(
        UltrasoundImage(frames=stored.astype(np.float32) / 255.0, kind=ImageKind.CINE), path, overwrite=True
    )
    return io.load(path).frames


def in_process_seconds(despeckler: Despeckler, frames: np.ndarray, chunk: int = 32) -> float:
    chunks = (frames[i : i + chunk] for i in range(0, len(frames), chunk))
    start = time.perf_counter()
    for _ in despeckler.iter_frames(chunks, total=len(frames), progress=False):
        pass
    return time.perf_counter() - start


def denoise_seconds(source: Path, output: Path) -> float:
    command = [str(Path(sys.executable).with_name("monai-despeckle")), "denoise", str(source), str(output)]
    start = time.perf_counter()
    subprocess.run([*command, "--overwrite"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / "cine.nii.gz"
    frames = write_cine(source, args.frames, args.size)
    despeckler = Despeckler("dae_skip")  # the default model, as denoise builds it
    in_process_seconds(despeckler, frames[:8])  # warm-up: backend and grain measured once
    print("| round | in-process | denoise (wall clock) | share |")
    print("|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        inside = in_process_seconds(despeckler, frames)
        wall = denoise_seconds(source, args.workdir / "out.nii.gz")
        print(f"| {round_} | {inside:.2f} s | {wall:.2f} s | {inside / wall:.0%} |", flush=True)
    (args.workdir / "out.nii.gz").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
