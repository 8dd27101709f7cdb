"""A short phantom cine loop, as a scanner's screen capture, for trying the module in one click.

A simulated breast phantom (monai_despeckle's simulator, with a benign lesion) is scanned by a probe
sliding sideways: each frame is a window moving across the phantom, so the speckle moves with the
tissue as it does in a real loop. Around it the frame carries what real screen captures carry and
what despeckling must not touch: a text banner, depth markers, two calipers with a dotted
measurement line drawn over the tissue, and a grey bar. All of these are identical in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import slicer
import vtk
from PIL import Image, ImageDraw
from vtk.util import numpy_support

from monai_despeckle.simulation import simulate_breast

NAME = "US phantom cine"
FRAME_TIME_MS = 40.0  # 25 frames per second
STEP_PX = 2  # probe travel per frame
BAR_WIDTH = 10


@dataclass(frozen=True)
class PhantomCine:
    """The loop: uint8 frames ``[T, H, W]``, the pixel size, and where the tissue and overlays are.

    Attributes:
        frames: the screen captures, 8-bit grey.
        spacing_mm: (row, column) pixel size in mm.
        tissue: boolean ``[H, W]``, the B-mode image area.
        overlay: boolean ``[H, W]``, the burnt-in annotations (banner text, markers, calipers, bar).
    """

    frames: np.ndarray
    spacing_mm: tuple[float, float]
    tissue: np.ndarray
    overlay: np.ndarray


def _overlay_layer(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    """The annotations as an 8-bit layer (0: nothing drawn)."""
    layer = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    draw.text((left, 4), "PHANTOM  L12-5  25 Hz  D 4 cm", fill=235)
    for depth in range(0, size + 1, size // 8):  # depth markers, right of the image
        draw.rectangle((left + size + 3, top + depth - 1, left + size + 5, top + depth + 1), fill=220)
    first, second = (left + size // 4, top + size // 3), (left + 3 * size // 5, top + 2 * size // 3)
    for x, y in (first, second):  # calipers
        draw.line((x - 4, y, x + 4, y), fill=255)
        draw.line((x, y - 4, x, y + 4), fill=255)
    steps = 12
    for step in range(1, steps):  # dotted measurement line
        x = first[0] + (second[0] - first[0]) * step // steps
        y = first[1] + (second[1] - first[1]) * step // steps
        draw.point((x, y), fill=250)
    bar_left = left + size + 16
    for row in range(size):  # grey bar, bright at the top
        draw.line(
            (bar_left, top + row, bar_left + BAR_WIDTH, top + row), fill=255 - (255 * row) // max(size - 1, 1)
        )
    return np.asarray(layer)


def phantom_cine(frames: int = 24, size: int = 160, seed: int = 0) -> PhantomCine:
    """Simulate the loop.

    Args:
        frames: number of frames.
        size: side of the square B-mode image, in pixels.
        seed: the phantom's random seed.
    """
    phantom = simulate_breast(size=size + STEP_PX * frames, seed=seed, lesion="benign")
    bmode = np.rint(np.clip(phantom.bmode, 0.0, 1.0) * 255.0).astype(np.uint8)
    top, left = 20, 16
    shape = (top + size + 12, left + size + 16 + BAR_WIDTH + 12)
    tissue = np.zeros(shape, dtype=bool)
    tissue[top : top + size, left : left + size] = True
    layer = _overlay_layer(shape, top, left, size)
    overlay = layer > 0
    row0 = (bmode.shape[0] - size) // 2
    screens = np.zeros((frames, *shape), dtype=np.uint8)
    for t in range(frames):
        column0 = STEP_PX * t
        screens[t, top : top + size, left : left + size] = bmode[row0 : row0 + size, column0 : column0 + size]
        screens[t][overlay] = layer[overlay]
    return PhantomCine(screens, (float(phantom.spacing_mm[0]), float(phantom.spacing_mm[1])), tissue, overlay)


def add_phantom_cine(
    scene: vtk.vtkObject,
    sequences_logic: vtk.vtkObject,
    *,
    name: str = NAME,
    frames: int = 24,
    size: int = 160,
    seed: int = 0,
) -> tuple[vtk.vtkObject, vtk.vtkObject, vtk.vtkObject]:
    """Add the phantom loop to the scene as Slicer's DICOM module adds an ultrasound cine.

    Each frame is a single-slice volume node in a sequence indexed by time (s); a browser replays
    it at 25 frames per second through a proxy node. The image is shown upright (I to the left, J to
    the posterior, as Slicer loads ultrasound), with its pixel size in mm and the full 8-bit range as
    window/level. Loading again replaces nothing: a new, uniquely named loop is added.

    Args:
        scene: where to add it.
        sequences_logic: the scene's ``vtkSlicerSequencesLogic`` (makes the proxy node).
        name: the sequence's name (made unique).
        frames, size, seed: see :func:`phantom_cine`.

    Returns:
        ``(sequence, browser, proxy)``.
    """
    cine = phantom_cine(frames=frames, size=size, seed=seed)
    sequence = slicer.vtkMRMLSequenceNode()
    sequence.SetName(scene.GenerateUniqueName(name))
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("s")
    sequence.SetIndexType(slicer.vtkMRMLSequenceNode.NumericIndex)
    item = slicer.vtkMRMLScalarVolumeNode()
    item.SetIJKToRASDirections(np.diag([-1.0, -1.0, 1.0]))
    item.SetSpacing(cine.spacing_mm[1], cine.spacing_mm[0], 1.0)
    for t, frame in enumerate(cine.frames):
        image_data = vtk.vtkImageData()
        image_data.SetDimensions(frame.shape[1], frame.shape[0], 1)
        image_data.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
        numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())[:] = frame.reshape(-1)
        item.SetAndObserveImageData(image_data)
        sequence.SetDataNodeAtValue(item, f"{t * FRAME_TIME_MS / 1000.0:.3f}")
    scene.AddNode(sequence)
    browser = slicer.vtkMRMLSequenceBrowserNode()
    browser.SetName(scene.GenerateUniqueName(f"{sequence.GetName()} browser"))
    browser.SetPlaybackRateFps(1000.0 / FRAME_TIME_MS)
    browser.SetPlaybackLooped(True)
    scene.AddNode(browser)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    sequences_logic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    proxy.SetName(sequence.GetName())
    if proxy.GetDisplayNode() is None:
        proxy.CreateDefaultDisplayNodes()
    display = proxy.GetDisplayNode()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(255.0, 127.5)
    return sequence, browser, proxy
