"""Draw docs/images/slicer_layout.png: a mock of the UltrasoundDespeckle module in 3D Slicer.

The module panel on the left (its widgets as labelled boxes) and the Red / Yellow slice views on the
right, showing a simulated breast phantom before and after despeckling with the dae_skip bundle as
monai_despeckle computes it. Run from the repository root::

    .venv/bin/python slicer_extension/tools/make_layout_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from PIL import Image

from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.simulation import simulate_breast

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "slicer_layout.png"
BACKGROUND, PANEL, WIDGET, TEXT, ACCENT = "#262626", "#f0f0f0", "#ffffff", "#202020", "#3b7dd8"
PALETTE_COLOURS = 64  # keeps the PNG under 200 kB
VIEW_COLOURS = {"Red": "#e05a5a", "Yellow": "#e8c83c"}


def phantom_before_after(method: str = "dae_skip") -> tuple[np.ndarray, np.ndarray]:
    """A breast phantom's speckled B-mode and its despeckled version (both [H, W] in [0, 1])."""
    phantom = simulate_breast(size=256, seed=4, lesion="benign")
    image = UltrasoundImage(frames=phantom.bmode[None], spacing=(1.0, *phantom.spacing_mm))
    despeckled = Despeckler(method, device="cpu").run(image)
    return image.frames[0], despeckled.frames[0]


class PanelMock:
    """Draws the module panel's widgets as labelled boxes on an axes of 100 × 100 units."""

    def __init__(self, axes: Axes) -> None:
        self.axes = axes
        axes.set_xlim(0, 100)
        axes.set_ylim(0, 100)
        axes.axis("off")
        axes.add_patch(Rectangle((0, 0), 100, 100, color=PANEL))

    def title(self) -> None:
        self.axes.text(3, 96.5, "Ultrasound Despeckle", fontsize=13, weight="bold", color=TEXT, va="center")
        self.axes.text(
            3, 93.2, "Modules ▸ Ultrasound ▸ Ultrasound Despeckle", fontsize=8, color="#606060", va="center"
        )

    def section(self, y: float, title: str) -> None:
        self.axes.add_patch(Rectangle((2, y - 2.2), 96, 4.4, color="#d9d9d9"))
        self.axes.text(4, y, "▾ " + title, fontsize=10, weight="bold", color=TEXT, va="center")

    def row(self, y: float, label: str, value: str, *, combo: bool = True) -> None:
        self.axes.text(4, y, label, fontsize=9, color=TEXT, va="center")
        box = FancyBboxPatch(
            (36, y - 2.0),
            60,
            4.0,
            boxstyle="round,pad=0.2,rounding_size=0.8",
            fc=WIDGET,
            ec="#9a9a9a",
            lw=0.8,
        )
        self.axes.add_patch(box)
        self.axes.text(38, y, value, fontsize=8.5, color=TEXT, va="center")
        if combo:
            self.axes.text(93.5, y, "▾", fontsize=9, color="#606060", va="center", ha="center")

    def checkbox(self, y: float, label: str) -> None:
        self.axes.add_patch(Rectangle((4, y - 1.3), 2.6, 2.6, fc=ACCENT, ec="#2b5fa8"))
        self.axes.text(8, y, label, fontsize=9, color=TEXT, va="center")

    def button(self, y: float, text: str) -> None:
        box = FancyBboxPatch(
            (4, y - 2.3), 92, 4.6, boxstyle="round,pad=0.2,rounding_size=1.0", fc=ACCENT, ec="#2b5fa8", lw=0.8
        )
        self.axes.add_patch(box)
        self.axes.text(50, y, text, fontsize=10, color="white", weight="bold", va="center", ha="center")

    def table(self, top: float, headers: list[str], note: str) -> None:
        self.axes.add_patch(Rectangle((4, 3), 92, top - 3, fc=WIDGET, ec="#9a9a9a", lw=0.8))
        for x, header in zip((6, 18, 31, 53, 84), headers, strict=True):
            self.axes.text(x, top - 2.7, header, fontsize=7.5, color=TEXT, va="center", weight="bold")
        self.axes.plot([4, 96], [top - 4.9, top - 4.9], color="#9a9a9a", lw=0.6)
        self.axes.text(50, 9, note, fontsize=7.5, color="#707070", ha="center", va="center", style="italic")


def draw_panel(axes: Axes) -> None:
    """The module panel as the .ui file lays it out."""
    panel = PanelMock(axes)
    panel.title()
    panel.section(87, "Input")
    panel.row(82, "Ultrasound image:", "BreastPhantom")
    panel.checkbox(77.5, "All frames of a cine loop")
    panel.section(71, "Despeckling")
    panel.row(66, "Method:", "dae_skip  (learned, GPU)")
    panel.row(61, "Device:", "auto")
    panel.row(56, "Slices (3-D):", "K (slices / frames)")
    panel.button(50.5, "Despeckle")
    panel.row(45, "Result:", "BreastPhantom despeckled (dae_skip)", combo=False)
    panel.section(39, "Segmentation check")
    panel.row(34, "Segment:", "Breast lesion")
    panel.button(28.5, "Segment input and result")
    panel.row(23, "Comparison:", "… segmentation comparison", combo=False)
    panel.table(
        19.5,
        ["Frame", "Index", "area input\n(mm²)", "area despeckled\n(mm²)", "Dice"],
        "one row per frame: lesion area on the input and\non the result, and the Dice between them",
    )


def draw_view(axes: Axes, view: str, picture: np.ndarray, caption: str) -> None:
    """A slice view: coloured title bar, the image, the background volume's name."""
    colour = VIEW_COLOURS[view]
    axes.set_facecolor("black")
    axes.imshow(picture, cmap="gray", vmin=0, vmax=1, extent=(0, 40, 45, 5))
    axes.set_xlim(-2, 42)
    axes.set_ylim(50, -2.5)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color(colour)
        spine.set_linewidth(2)
    axes.add_patch(Rectangle((-2, -2.5), 44, 2.6, color=colour, clip_on=False))
    axes.text(-1, -1.2, f"{view}   ▸ S", fontsize=9, color="black", va="center", weight="bold")
    axes.text(0, 48, caption, fontsize=8.5, color="#ffd84a", va="center")
    axes.text(40, 48, "linked", fontsize=8, color="#cccccc", va="center", ha="right")


def main(output: Path = OUTPUT) -> Path:
    """Render the figure and write it as a palette PNG (small enough for the README)."""
    before, after = phantom_before_after()
    figure = Figure(figsize=(13.0, 6.2), dpi=100, facecolor=BACKGROUND)
    draw_panel(figure.add_axes((0.005, 0.01, 0.30, 0.98)))
    draw_view(figure.add_axes((0.31, 0.01, 0.343, 0.98)), "Red", before, "B: BreastPhantom (input)")
    draw_view(
        figure.add_axes((0.656, 0.01, 0.343, 0.98)), "Yellow", after, "B: BreastPhantom despeckled (dae_skip)"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, facecolor=BACKGROUND, dpi=100)
    with Image.open(output) as rendered:
        palette = rendered.convert("RGB").quantize(
            colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    palette.save(output, optimize=True)
    return output


if __name__ == "__main__":
    print(main())
