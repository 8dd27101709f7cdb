"""Render the extension's screenshot and the sample-data thumbnail with Slicer's own slice rendering.

There is no screen (and no Qt) where the project is built, so the module panel cannot be captured.
The slice views can: this script builds the scene the module builds in Slicer (the phantom cine
from the Sample Data button, despeckled with the default learned method, burnt-in annotations
protected, shown side by side in the same orientation) with ``UltrasoundDespeckleLib`` on the MRML
scene of the PyPI package ``slicer-core``, and renders the Red and Yellow views offscreen with
Slicer's ``vtkMRMLSliceLogic`` (reslicing, window/level, colour table: the pixels a slice view
shows, before the view's text overlays). Pillow only lays the two views out with their title bars.
Run from the repository root::

    .venv/bin/python slicer_extension/tools/make_screenshot.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import slicer
import vtk
from PIL import Image, ImageDraw
from vtk.util import numpy_support

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "slicer_extension" / "UltrasoundDespeckle"))

import UltrasoundDespeckleLib as lib  # noqa: E402 -- after the module folder is on the path

SCREENSHOT = ROOT / "docs" / "images" / "slicer_layout.png"
THUMBNAIL = ROOT / "slicer_extension" / "UltrasoundDespeckle" / "Resources" / "Icons" / "PhantomCine.png"
METHOD = "dae_skip"  # the module's default method
FRAME = 12
VIEW_SIZE = (440, 400)  # width, height of one slice view in pixels
VIEW_COLOURS = {"Red": (241, 128, 105), "Yellow": (237, 213, 97)}
BAR_HEIGHT, FOOTER_HEIGHT = 22, 40


def slice_scene() -> tuple[vtk.vtkObject, vtk.vtkObject, dict[str, vtk.vtkObject]]:
    """A scene with the colour tables, the sequences logic and the Red and Yellow slice logics."""
    scene = slicer.vtkMRMLScene()
    colours = slicer.vtkMRMLColorLogic()
    colours.SetMRMLScene(scene)
    sequences = slicer.vtkSlicerSequencesLogic()
    sequences.SetMRMLScene(scene)
    views = {}
    for view in VIEW_COLOURS:
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLScene(scene)
        logic.AddSliceNode(view)
        views[view] = logic
    scene.keep_alive = (colours, sequences)
    return scene, sequences, views


def render(logic: vtk.vtkObject) -> np.ndarray:
    """The RGB pixels a slice view shows, top row first."""
    logic.GetSliceNode().SetDimensions(*VIEW_SIZE, 1)
    logic.FitSliceToAll()
    producer = logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    columns, rows, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(rows, columns, -1)
    return np.ascontiguousarray(np.flipud(pixels[..., :3]))


def view_panel(pixels: np.ndarray, view: str, title: str) -> Image.Image:
    """A slice view with a title bar in its colour, as Slicer draws the view controller."""
    panel = Image.new("RGB", (VIEW_SIZE[0], VIEW_SIZE[1] + BAR_HEIGHT), VIEW_COLOURS[view])
    ImageDraw.Draw(panel).text((8, 5), f"{view[0]}   {title}", fill=(0, 0, 0))
    panel.paste(Image.fromarray(pixels), (0, BAR_HEIGHT))
    return panel


def main() -> Path:
    scene, sequences, views = slice_scene()
    sequence, browser, proxy = lib.add_phantom_cine(scene, sequences)
    result = lib.despeckle_node(
        scene, proxy, lib.create_despeckler(METHOD, "cpu"), sequences_logic=sequences, protect=True
    )
    browser.SetSelectedItemNumber(FRAME)
    sequences.UpdateProxyNodesFromSequences(browser)
    lib.show_side_by_side(scene, proxy, result.output)
    panels = [
        view_panel(render(views["Red"]), "Red", proxy.GetName()),
        view_panel(render(views["Yellow"]), "Yellow", result.output.GetName()),
    ]
    width = sum(panel.width for panel in panels) + 4
    figure = Image.new("RGB", (width, panels[0].height + FOOTER_HEIGHT), (40, 40, 40))
    for index, panel in enumerate(panels):
        figure.paste(panel, (index * (panel.width + 4), 0))
    footer = (
        f"Frame {FRAME} of the phantom cine, {METHOD}, burnt-in annotations kept "
        f"({result.mask.describe()}).\nSlice views rendered offscreen by Slicer's vtkMRMLSliceLogic "
        "(slicer-core) from the scene the module builds; the module panel is not shown (no screen)."
    )
    ImageDraw.Draw(figure).multiline_text((8, panels[0].height + 4), footer, fill=(230, 230, 230))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    figure.save(SCREENSHOT, optimize=True)

    thumbnail = Image.fromarray(lib.volume_array(sequence.GetNthDataNode(0))[0]).convert("RGB")
    thumbnail.thumbnail((128, 128))
    canvas = Image.new("RGB", (128, 128), (0, 0, 0))
    canvas.paste(thumbnail, ((128 - thumbnail.width) // 2, (128 - thumbnail.height) // 2))
    canvas.save(THUMBNAIL, optimize=True)
    return SCREENSHOT


if __name__ == "__main__":
    print(main())
