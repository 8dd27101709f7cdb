"""Cine loops as Slicer sequences: read their frames, build new sequences, synchronise browsers.

A cine loop in Slicer is a ``vtkMRMLSequenceNode`` whose data nodes are volume nodes (one 2-D frame
each, e.g. a DICOM ultrasound multi-frame loaded by Slicer's DICOM module), replayed by a
``vtkMRMLSequenceBrowserNode`` through a proxy node that the views show. A result sequence is
added to the *same* browser, so its proxy follows the input frame by frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import slicer
import vtk

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.io.image import ImageKind, IntensityMapping, UltrasoundImage
from UltrasoundDespeckleLib.volume_nodes import grey_values, image_from_volume_node, node_label, volume_array

# Index units a frame time can be read from, in milliseconds per unit.
TIME_UNITS_MS = {"s": 1000.0, "sec": 1000.0, "ms": 1.0}


def nodes_of_class(scene: vtk.vtkObject, class_name: str) -> list[vtk.vtkObject]:
    """All nodes of ``class_name`` (and its subclasses) in ``scene``, in scene order."""
    collection = scene.GetNodesByClass(class_name)
    return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]


def browser_for_proxy(scene: vtk.vtkObject, node: vtk.vtkObject) -> vtk.vtkObject | None:
    """The sequence browser that shows ``node`` as one of its proxies, if any."""
    if node is None:
        return None
    for browser in nodes_of_class(scene, "vtkMRMLSequenceBrowserNode"):
        if browser.IsProxyNodeID(node.GetID()):
            return browser
    return None


def browser_of_sequence(scene: vtk.vtkObject, sequence: vtk.vtkObject) -> vtk.vtkObject | None:
    """The first sequence browser that replays ``sequence``, if any."""
    for browser in nodes_of_class(scene, "vtkMRMLSequenceBrowserNode"):
        if browser.IsSynchronizedSequenceNode(sequence):
            return browser
    return None


@dataclass
class SequenceFrames:
    """The volume items of a sequence, read as frames with one intensity mapping for all of them.

    Attributes:
        sequence: the ``vtkMRMLSequenceNode``.
        items: its data nodes (volume nodes), in index order.
        intensity: one mapping to [0, 1] for every item (so that all frames are scaled alike).
    """

    sequence: vtk.vtkObject
    items: list[vtk.vtkObject]
    intensity: IntensityMapping

    @classmethod
    def of(cls, sequence: vtk.vtkObject) -> SequenceFrames:
        """Check that ``sequence`` holds volumes and find one intensity mapping for all of them.

        Raises:
            InvalidImageError: the sequence is empty or holds something other than volumes, or an
                item has no voxels or unreadable pixels.
        """
        count = sequence.GetNumberOfDataNodes()
        if count == 0:
            raise InvalidImageError(f"sequence {node_label(sequence)} has no items")
        items = [sequence.GetNthDataNode(i) for i in range(count)]
        for item in items:
            if item is None or not item.IsA("vtkMRMLVolumeNode"):
                kind = item.GetClassName() if item is not None else "nothing"
                raise InvalidImageError(f"sequence {node_label(sequence)} holds {kind} items, not volumes")
        return cls(sequence, items, _shared_intensity(items))

    @property
    def num_items(self) -> int:
        """Number of items (frames of a cine, or volumes of a 3-D+t sequence)."""
        return len(self.items)

    def index_value(self, item: int) -> str:
        """The index value (e.g. the time) of item ``item``, as Slicer stores it."""
        return self.sequence.GetNthIndexValue(item)

    def image(self, item: int) -> UltrasoundImage:
        """Item ``item`` as an image (its own geometry, the sequence's intensity mapping)."""
        return image_from_volume_node(self.items[item], intensity=self.intensity)

    def frames_per_item(self) -> int:
        """Slices per item: 1 for a cine loop of 2-D frames."""
        return int(self.items[0].GetImageData().GetDimensions()[2])

    def iter_images(self) -> Iterator[UltrasoundImage]:
        """Every item as an image, one at a time (a long cine is never all in memory)."""
        for item in range(self.num_items):
            yield self.image(item)

    def frame_time_ms(self) -> float | None:
        """The median time between items when the index is numeric time in s or ms, else None."""
        unit = self.sequence.GetIndexUnit().strip().lower()
        if (
            self.sequence.GetIndexType() != slicer.vtkMRMLSequenceNode.NumericIndex
            or unit not in TIME_UNITS_MS
        ):
            return None
        if self.num_items < 2:
            return None
        times = np.array([float(self.index_value(i)) for i in range(self.num_items)])
        return float(np.median(np.diff(times))) * TIME_UNITS_MS[unit]

    def cine_image(self, start: int = 0, stop: int | None = None) -> UltrasoundImage:
        """Frames ``start:stop`` of a cine of 2-D items as one :class:`UltrasoundImage` (kind ``CINE``).

        The geometry is that of item ``start``; the frame time comes from the index.

        Raises:
            InvalidImageError: an item is not a single 2-D frame, or the frame sizes differ.
        """
        stop = self.num_items if stop is None else stop
        images = [self.image(item) for item in range(start, stop)]
        shapes = {image.frames.shape for image in images}
        if len(shapes) != 1 or images[0].num_frames != 1:
            raise InvalidImageError(
                f"sequence {node_label(self.sequence)} is not a cine of equal 2-D frames "
                f"(item shapes {sorted(shapes)})"
            )
        first = images[0]
        return UltrasoundImage(
            frames=np.concatenate([image.frames for image in images]),
            spacing=first.spacing,
            origin=first.origin,
            direction=first.direction,
            kind=ImageKind.CINE,
            frame_time_ms=self.frame_time_ms(),
            intensity=self.intensity,
            metadata={**first.metadata, "slicer_sequence_id": self.sequence.GetID()},
        )


def _shared_intensity(items: list[vtk.vtkObject]) -> IntensityMapping:
    """One intensity mapping for all items: the natural one of their combined value range.

    8-bit data always maps 0..255 (as monai_despeckle's readers do), so only other data types are
    scanned for their minimum and maximum.
    """
    lows, highs, dtype = [], [], None
    for item in items:
        stored = volume_array(item).dtype
        if dtype is not None and stored != dtype:
            raise InvalidImageError(
                f"{node_label(item)} stores {stored} voxels but earlier items store {dtype}"
            )
        dtype = stored
        if stored != np.uint8:
            values = grey_values(item)
            lows.append(values.min())
            highs.append(values.max())
    if dtype == np.uint8:
        return IntensityMapping.for_array(np.zeros(1, dtype=np.uint8))
    return IntensityMapping.for_array(np.array([min(lows), max(highs)], dtype=dtype))


def new_sequence_like(source: vtk.vtkObject, name: str) -> vtk.vtkObject:
    """An empty sequence node (not yet in a scene) with the index name, unit and type of ``source``."""
    sequence = slicer.vtkMRMLSequenceNode()
    sequence.SetName(name)
    sequence.SetIndexName(source.GetIndexName())
    sequence.SetIndexUnit(source.GetIndexUnit())
    sequence.SetIndexType(source.GetIndexType())
    return sequence


def add_synchronized_sequence(
    scene: vtk.vtkObject,
    browser: vtk.vtkObject,
    sequence: vtk.vtkObject,
    sequences_logic: vtk.vtkObject,
    proxy_name: str,
) -> vtk.vtkObject:
    """Add ``sequence`` to the scene and to ``browser``, and return its proxy node.

    Args:
        scene: the scene of ``browser``.
        browser: the ``vtkMRMLSequenceBrowserNode`` that replays the input.
        sequence: a filled sequence node not yet in the scene.
        sequences_logic: the ``vtkSlicerSequencesLogic`` of the scene (in Slicer:
            ``slicer.modules.sequences.logic()``); it creates and updates proxy nodes.
        proxy_name: name of the proxy node the views show.
    """
    sequence.SetName(scene.GenerateUniqueName(sequence.GetName()))
    scene.AddNode(sequence)
    browser.AddSynchronizedSequenceNode(sequence)
    browser.SetOverwriteProxyName(sequence, False)
    browser.SetSaveChanges(sequence, False)
    sequences_logic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is None:
        raise RuntimeError(f"the sequences logic made no proxy node for {node_label(sequence)}")
    proxy.SetName(scene.GenerateUniqueName(proxy_name))
    if proxy.GetDisplayNode() is None:
        proxy.CreateDefaultDisplayNodes()
    return proxy
