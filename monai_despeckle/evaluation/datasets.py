"""Evaluation data: what images the ``evaluate`` harness runs on, and how they are read.

Three sources, one item type (:class:`EvalItem`):

- a folder of real images used as **clean references**; the harness adds synthetic speckle to
  each (the protocol of Bhute et al., arXiv 2403.02750: scikit-image speckle on BUSI at 128²);
- **simulated phantoms** (``phantoms:breast``, ``phantoms:carotid``, ``phantoms:mixed``): a
  speckle-free reference and its physics-speckled B-mode (:mod:`monai_despeckle.data.phantoms`);
- a folder of real **noisy** images with structure masks (``masks/<stem>_mask.png`` beside
  ``images/``), for the no-reference metrics.

Sources are spelt and folders read as everywhere else (:mod:`monai_despeckle.data`): a folder may
hold the images directly or in ``images/``; with a split name, only the files listed under that
key of ``split.json`` (``{"train": [...], "val": [...]}``) are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monai_despeckle.data.folders import folder_images, mask_path, stem
from monai_despeckle.data.frames import read_frame, read_mask, resize_frame
from monai_despeckle.data.phantoms import draw_phantom, phantom_family
from monai_despeckle.errors import InvalidImageError

__all__ = ["EvalItem", "EvalSet", "folder_set", "simulated_set"]


@dataclass
class EvalItem:
    """One image to evaluate.

    Attributes:
        name: identifier in the results (the file stem, or ``breast_003`` for a phantom).
        clean: float32 ``[H, W]`` reference in [0, 1], or None (no-reference data).
        noisy: float32 ``[H, W]`` given noisy input, or None when the harness adds speckle to ``clean``.
        mask: boolean ``[H, W]`` structure mask (lesion, vessel) or None.
    """

    name: str
    clean: np.ndarray | None
    noisy: np.ndarray | None
    mask: np.ndarray | None = None


@dataclass
class EvalSet:
    """A named, sized, lazily loaded list of :class:`EvalItem` (one image in memory at a time).

    Attributes:
        mode: ``"reference"`` (add synthetic speckle to clean images), ``"simulated"`` or
            ``"no_reference"``.
        names: item names, in evaluation order.
        loader: ``loader(i)`` builds item ``i``.
    """

    mode: str
    names: list[str]
    loader: Callable[[int], EvalItem]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[EvalItem]:
        return (self.loader(i) for i in range(len(self.names)))


def folder_set(
    folder: str | Path,
    size: int | None,
    no_reference: bool = False,
    split: str | None = None,
    split_file: str | Path | None = None,
    n: int | None = None,
) -> EvalSet:
    """Real images of a folder: clean references (default) or noisy inputs with their masks.

    Args:
        folder: data folder (images directly or in ``images/``, masks in ``masks/``).
        size: side of the square frames to resize to, or None to keep the native size.
        no_reference: the images are noisy inputs (no-reference metrics) rather than references.
        split: key of the split file to keep, or None.
        split_file: split file (default ``folder/split.json``).
        n: keep the first ``n`` images (after the split), or None for all.
    """
    files = folder_images(folder, split, split_file)[: n if n else None]

    def load_item(i: int) -> EvalItem:
        path = files[i]
        if not no_reference:
            return EvalItem(stem(path), clean=read_frame(path, size), noisy=None)
        frame = read_frame(path)
        found = mask_path(path)
        mask = None
        if found is not None:
            mask = read_mask(found)
            if mask.shape != frame.shape:
                raise InvalidImageError(f"mask is {mask.shape}, its image {path.name} {frame.shape}", found)
        if size:
            frame = np.clip(resize_frame(frame, (size, size)), 0.0, 1.0)
            mask = (
                resize_frame(mask.astype(np.float32), (size, size), order=0) > 0.5
                if mask is not None
                else None
            )
        return EvalItem(stem(path), clean=None, noisy=frame, mask=mask)

    return EvalSet("no_reference" if no_reference else "reference", [stem(p) for p in files], load_item)


def simulated_set(kind: str, size: int, n: int, seed: int) -> EvalSet:
    """``n`` simulated phantoms of ``kind`` (``breast``, ``carotid`` or ``mixed``) at ``size``×``size``.

    Phantom ``i`` is :func:`~monai_despeckle.data.phantoms.draw_phantom` ``(kind, i, size, seed)``
    (a seed derived from ``(seed, i)``), so a larger ``n`` extends the set without changing its
    first phantoms. Items are named ``<family>_<i>`` (``breast_003``).
    """
    names = [f"{phantom_family(kind, i)}_{i:03d}" for i in range(n)]

    def load_item(i: int) -> EvalItem:
        sample = draw_phantom(kind, i, size, seed)
        masks = [np.asarray(m) > 0 for m in sample.masks.values()]
        mask = np.logical_or.reduce(masks) if masks else None
        clean = np.asarray(sample.clean, dtype=np.float32)
        return EvalItem(names[i], clean=clean, noisy=np.asarray(sample.bmode, np.float32), mask=mask)

    return EvalSet("simulated", names, load_item)
