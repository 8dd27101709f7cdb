"""The demo: despeckle a simulated phantom and a real sample, save outputs and a figure.

``monai-despeckle demo`` (and ``make demo``) run :func:`run_demo`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from monai_despeckle import io
from monai_despeckle.data.folders import folder_images, mask_path
from monai_despeckle.data.frames import read_mask
from monai_despeckle.inference import despeckle
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.io.safe_write import created_folder
from monai_despeckle.metrics import auto_regions, cnr, enl, epi, gcnr, psnr, speckle_index, ssim
from monai_despeckle.resolver import create_method
from monai_despeckle.simulation import simulate_breast


@dataclass
class DemoCase:
    """One despeckled example with the metrics shown in the figure."""

    title: str
    noisy: np.ndarray
    despeckled: np.ndarray
    third: np.ndarray | None  # clean reference (phantom) or structure mask (real image)
    third_title: str
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (input, output)
    outputs: list[Path] = field(default_factory=list)


def phantom_case(method_name: str, out_dir: Path, size: int = 256, seed: int = 7) -> DemoCase:
    """Simulate a breast phantom, despeckle it, and score it against its clean reference."""
    sample = simulate_breast(size=size, seed=seed, lesion="malignant")
    spacing = (1.0, *sample.spacing_mm)
    noisy = UltrasoundImage(
        sample.bmode,
        spacing=spacing,
        intensity=IntensityMapping("float32", 0.0, 1.0),
        metadata={"description": "simulated breast phantom (physics speckle)"},
    )
    clean = noisy.with_frames(sample.clean[None])
    result = despeckle(noisy, create_method(method_name))
    paths = [
        io.save(noisy, out_dir / "phantom_noisy.nii.gz", overwrite=True),
        io.save(result, out_dir / f"phantom_{method_name}.nii.gz", overwrite=True),
        io.save(clean, out_dir / "phantom_clean.nii.gz", overwrite=True),
    ]
    out = result.frames[0]
    metrics = {
        "PSNR (dB)": (float(psnr(sample.bmode, sample.clean)[0]), float(psnr(out, sample.clean)[0])),
        "SSIM": (float(ssim(sample.bmode, sample.clean)[0]), float(ssim(out, sample.clean)[0])),
    }
    return DemoCase(
        "simulated breast phantom", sample.bmode, out, sample.clean, "clean reference", metrics, paths
    )


def real_case(method_name: str, out_dir: Path, samples: Path) -> DemoCase:
    """Despeckle the first real sample and score it with no-reference metrics in its mask's regions."""
    image_path = folder_images(samples)[0]
    mask_file = mask_path(image_path)
    image = io.load(image_path)
    result = despeckle(image, create_method(method_name))
    saved = io.save(result, out_dir / f"{image_path.stem}_{method_name}.png", overwrite=True)
    noisy, out = image.frames[0], result.frames[0]
    metrics: dict[str, tuple[float, float]] = {}
    mask = None
    if mask_file is not None:
        mask = read_mask(mask_file)
        regions = auto_regions(noisy, mask)
        metrics = {
            "ENL": (enl(noisy, regions.homogeneous), enl(out, regions.homogeneous)),
            "speckle index": (
                speckle_index(noisy, regions.homogeneous),
                speckle_index(out, regions.homogeneous),
            ),
            "CNR": (
                cnr(noisy, regions.target, regions.background),
                cnr(out, regions.target, regions.background),
            ),
            "gCNR": (
                gcnr(noisy, regions.target, regions.background),
                gcnr(out, regions.target, regions.background),
            ),
            "EPI": (1.0, epi(noisy, out, regions.field_of_view)),
        }
    return DemoCase(f"real: {image_path.name}", noisy, out, mask, "structure mask", metrics, [saved])


def save_figure(cases: list[DemoCase], method_name: str, path: Path) -> Path:
    """Side-by-side figure: input | despeckled | reference or mask, metrics in the titles."""
    fig, axes = plt.subplots(
        len(cases), 3, figsize=(12, 4.6 * len(cases)), squeeze=False, layout="constrained"
    )
    for row, case in zip(axes, cases, strict=True):
        lines_in = ", ".join(f"{k} {v[0]:.2f}" for k, v in case.metrics.items())
        lines_out = ", ".join(f"{k} {v[1]:.2f}" for k, v in case.metrics.items())
        panels = [
            (case.noisy, f"{case.title}: input\n{lines_in}"),
            (case.despeckled, f"despeckled: {method_name}\n{lines_out}"),
            (case.third, case.third_title),
        ]
        for ax, (img, title) in zip(row, panels, strict=True):
            ax.axis("off")
            if img is None:
                continue
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            wrapped = "\n".join(textwrap.fill(line, 64) for line in title.splitlines())
            ax.set_title(wrapped, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def run_demo(out_dir: Path, method_name: str, samples: Path | None) -> tuple[list[DemoCase], Path]:
    """Run the demo cases and write their outputs and figure under ``out_dir``.

    The real sample (the input that can be bad) is read first, so that a bad one stops the demo
    before anything is written; folders the demo created are removed if it fails.
    """
    with created_folder(out_dir):
        real = real_case(method_name, out_dir, samples) if samples is not None else None
        cases = [phantom_case(method_name, out_dir), *([real] if real is not None else [])]
        figure = save_figure(cases, method_name, out_dir / "demo.png")
    return cases, figure
