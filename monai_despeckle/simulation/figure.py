"""A picture of the phantom families, for the docs (``docs/images/phantoms.png``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from monai_despeckle.io.safe_write import replacing_file
from monai_despeckle.simulation.breast import simulate_breast
from monai_despeckle.simulation.carotid import simulate_carotid
from monai_despeckle.simulation.sample import PhantomSample

ECHO_DISPLAY_DB = (-30.0, 20.0)  # echogenicity range shown in the first column, dB re tissue
MASK_COLORS = ((1.0, 0.2, 0.2), (0.2, 0.9, 1.0))  # first mask red, second cyan


def gallery_samples(size: int = 256, seed: int = 0) -> dict[str, PhantomSample]:
    """The four example phantoms of the gallery, by row title."""
    return {
        "breast, benign": simulate_breast(size, seed, lesion="benign"),
        "breast, malignant": simulate_breast(size, seed + 1, lesion="malignant"),
        "carotid, transverse": simulate_carotid(size, seed, view="transverse"),
        "carotid, longitudinal + plaque": simulate_carotid(size, seed, view="longitudinal", plaque=True),
    }


def phantom_gallery(path: str | Path, size: int = 256, seed: int = 0) -> Path:
    """Save a grid of example phantoms: echogenicity, clean, speckled B-mode and masks per row.

    Args:
        path: output PNG path (written to a temporary file and renamed into place).
        size: phantom size in pixels.
        seed: seed of the first phantom.

    Returns:
        the written path.
    """
    # The object-oriented Figure needs no pyplot and no GUI backend, and leaves global state alone.
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    samples = gallery_samples(size, seed)
    columns = ("echogenicity (dB)", "clean", "B-mode (speckled)", "masks")
    fig = Figure(figsize=(3.0 * len(columns), 3.0 * len(samples)))
    axes = fig.subplots(len(samples), len(columns))
    for row, (title, sample) in enumerate(samples.items()):
        depth, width = (n * s for n, s in zip(sample.shape, sample.spacing_mm, strict=True))
        extent = (0.0, width, depth, 0.0)
        echo_db = 10.0 * np.log10(np.maximum(sample.echogenicity, 1e-6))
        panels = (
            (echo_db, dict(vmin=ECHO_DISPLAY_DB[0], vmax=ECHO_DISPLAY_DB[1])),
            (sample.clean, dict(vmin=0.0, vmax=1.0)),
            (sample.bmode, dict(vmin=0.0, vmax=1.0)),
            (sample.bmode, dict(vmin=0.0, vmax=1.0)),
        )
        for col, (image, scale) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", extent=extent, interpolation="nearest", **scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=10)
        legend = []
        for (name, mask), color in zip(sample.masks.items(), MASK_COLORS, strict=False):
            overlay = np.zeros((*mask.shape, 4), dtype=np.float32)
            overlay[mask.astype(bool)] = (*color, 0.45)
            axes[row, 3].imshow(overlay, extent=extent, interpolation="nearest")
            legend.append(Patch(color=color, label=name))
        axes[row, 3].legend(handles=legend, loc="lower right", fontsize=7)
        axes[row, 0].set_ylabel(f"{title}\n{depth:.0f} × {width:.0f} mm", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    buffer.seek(0)
    # Speckle is incompressible noise: an adaptive palette keeps the picture ~3× smaller in git.
    picture = Image.open(buffer).convert("RGB").quantize(colors=256)
    with replacing_file(path) as partial:
        picture.save(partial, format="PNG", optimize=True)
    return path
