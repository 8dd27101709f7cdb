"""Tables of docs/benchmarks.md §2b: phantom PSNR / SSIM / homogeneity at 128², 256² and 512².

Reads the ``results.csv`` of the ``evaluate`` runs listed in §2b (default folder
``runs/benchmarks/sizes``) and prints one Markdown table per phantom family: a row per method,
mean PSNR / SSIM at each size, the learned methods once at their trained speckle grain (the
default) and once ``--native``.

    .venv/bin/python docs/scripts/size_tables.py [runs/benchmarks/sizes]
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

SIZES = (128, 256, 512)
KINDS = ("breast", "carotid")


def _means(path: Path) -> dict[str, dict[str, float]]:
    """Mean of each metric per method in one results.csv."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for metric in ("psnr", "ssim", "homogeneity"):
                sums[row["method"]][metric].append(float(row[metric]))
    return {method: {m: sum(v) / len(v) for m, v in metrics.items()} for method, metrics in sums.items()}


def table(root: Path, kind: str) -> str:
    """The Markdown table of one phantom family."""
    cells: dict[str, dict[int, str]] = defaultdict(dict)
    order: list[str] = []
    for size in SIZES:
        runs = [("", root / f"sim_{kind}_{size}{part}") for part in ("", "_bm3d", "_learned")]
        runs.append((" (--native)", root / f"sim_{kind}_{size}_native"))
        for suffix, folder in runs:
            if not (folder / "results.csv").is_file():
                continue
            for method, values in _means(folder / "results.csv").items():
                label = method + suffix
                if label not in order:
                    order.append(label)
                psnr, ssim, homogeneity = values["psnr"], values["ssim"], values["homogeneity"]
                cells[label][size] = f"{psnr:.2f} / {ssim:.3f} / {homogeneity:.3f}"
    header = "| method | " + " | ".join(f"{s}²: PSNR / SSIM / homog." for s in SIZES) + " |"
    lines = [header, "|---|" + "---|" * len(SIZES)]
    for label in order:
        lines.append(f"| {label} | " + " | ".join(cells[label].get(s, "—") for s in SIZES) + " |")
    return "\n".join(lines)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/benchmarks/sizes")
    for kind in KINDS:
        print(f"### {kind.capitalize()}\n\n{table(root, kind)}\n")


if __name__ == "__main__":
    main()
