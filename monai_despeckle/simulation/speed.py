"""How many phantoms per second the simulator makes: ``python -m monai_despeckle.simulation.speed``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from monai_despeckle.simulation.families import PHANTOMS


def phantoms_per_second(kind: str, size: int = 256, n: int = 40, warmup: int = 2, **phantom_kwargs) -> float:
    """Throughput of one phantom family, whole pipeline (anatomy, clean and speckled images).

    Args:
        kind: ``"breast"`` or ``"carotid"``.
        size: image size in pixels.
        n: phantoms timed (seeds ``0..n-1``).
        warmup: untimed phantoms first (imports, FFT plans, cached PSF filters).
        **phantom_kwargs: passed to the phantom function.
    """
    simulate = PHANTOMS[kind]
    for seed in range(warmup):
        simulate(size, 10_000 + seed, **phantom_kwargs)
    start = time.perf_counter()
    for seed in range(n):
        simulate(size, seed, **phantom_kwargs)
    return n / (time.perf_counter() - start)


def main() -> None:
    """Print the throughput of every phantom family."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(f"size {args.size}, {args.n} phantoms each, torch threads {torch.get_num_threads()}")
    variants: tuple[tuple[str, dict[str, Any]], ...] = (
        ("breast", {}),
        ("carotid", {"view": "transverse"}),
        ("carotid", {"view": "longitudinal"}),
    )
    for kind, kwargs in variants:
        rate = phantoms_per_second(kind, args.size, args.n, **kwargs)
        label = " ".join([kind, *map(str, kwargs.values())])
        print(f"{label:<22} {rate:6.1f} phantoms/s")


if __name__ == "__main__":
    main()
