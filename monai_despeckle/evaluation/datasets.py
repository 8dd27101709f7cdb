"""Evaluation data: what images the ``evaluate`` harness runs on, and how they are read.

Three sources, one item type (:class:`EvalItem`):

- a folder of real images used as **clean references**; the harness adds synthetic speckle to
  each (the protocol of Bhute et al., arXiv 2403.02750: scikit-image speckle on BUSI at 128²);
- **simulated phantoms** (``phantoms:breast``, ``phantoms:carotid``): a speckle-free reference and its
  physics-speckled B-mode from :mod:`monai_despeckle.simulation`;
- a folder of real **noisy** images with structure masks (``masks/<stem>_mask.png`` beside
  ``images/``), for the no-reference metrics.

A folder may hold the images directly or in ``images/``; with a split name, only the files listed
under that key of ``split.json`` (``{"train": [...], "val": [...]}``) are used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.transform import resize

from monai_despeckle.errors import CorruptFileError, DespeckleError, InvalidImageError
from monai_despeckle.io import SUPPORTED_SUFFIXES, InputNotFoundError, load
from monai_despeckle.simulation import PhantomSample, simulate_breast, simulate_carotid

__all__ = [
    "SIMULATORS",
    "EvalItem",
    "EvalSet",
    "folder_set",
    "image_files",
    "mask_path",
    "read_frame",
    "read_mask",
    "resize_frame",
    "simulated_set",
    "stem",
]

IMAGE_SUFFIXES: tuple[str, ...] = tuple(SUPPORTED_SUFFIXES)  # what monai_despeckle.io.load reads
SIMULATORS: dict[str, Callable[..., PhantomSample]] = {"breast": simulate_breast, "carotid": simulate_carotid}


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


def stem(path: Path) -> str:
    """File name without its image suffix (``a.nii.gz`` -> ``a``)."""
    name = path.name
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _image_folder(folder: Path) -> Path:
    return folder / "images" if (folder / "images").is_dir() else folder


def image_files(
    folder: str | Path, split: str | None = None, split_file: str | Path | None = None
) -> list[Path]:
    """Image files of a data folder (``folder/images`` if present), sorted, optionally one split.

    Args:
        folder: data folder.
        split: key of the split file to keep (e.g. ``"val"``), or None for every image.
        split_file: JSON file ``{"train": [...], "val": [...]}`` of image file names; default
            ``folder/split.json``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError("data folder does not exist", folder)
    images = _image_folder(folder)
    files = sorted(p for p in images.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
    files = [p for p in files if not stem(p).endswith("_mask")]
    if split is not None:
        split_path = Path(split_file) if split_file is not None else folder / "split.json"
        try:
            table = json.loads(split_path.read_text())
        except FileNotFoundError:
            raise InputNotFoundError("split file not found", split_path) from None
        except json.JSONDecodeError as err:
            raise CorruptFileError(f"not valid JSON ({err})", split_path) from None
        if not isinstance(table, dict) or split not in table:
            keys = ", ".join(table) if isinstance(table, dict) else "none"
            raise InvalidImageError(f"no split {split!r} (splits: {keys})", split_path)
        wanted = {Path(str(name)).name for name in table[split]}
        missing = wanted - {p.name for p in files}
        if missing:
            names = ", ".join(sorted(missing)[:5])
            raise InvalidImageError(f"split {split!r} names files not in {images}: {names}", split_path)
        files = [p for p in files if p.name in wanted]
    if not files:
        raise InvalidImageError("no image files found", images)
    return files


def mask_path(image_path: Path) -> Path | None:
    """``masks/<stem>_mask.png`` beside the image's ``images/`` folder (or beside the image), if any."""
    image_path = Path(image_path)
    name = f"{stem(image_path)}_mask.png"
    for folder in (image_path.parent.parent / "masks", image_path.parent / "masks", image_path.parent):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def resize_frame(frame: np.ndarray, shape: tuple[int, int] | None, order: int = 1) -> np.ndarray:
    """Resize a 2D frame to ``shape`` (None: unchanged).

    Bilinear with anti-aliasing (scikit-image ``resize``) for images; ``order=0`` (nearest, no
    anti-aliasing) for masks and label maps.
    """
    if shape is None or frame.shape == tuple(shape):
        return frame
    out = resize(frame, shape, order=order, anti_aliasing=order > 0, preserve_range=True, mode="reflect")
    return out.astype(frame.dtype, copy=False)


def read_frame(path: Path, size: int | None = None) -> np.ndarray:
    """The first frame of an image file as float32 ``[H, W]`` in [0, 1], optionally resized to ``size``².

    Reading goes through :func:`monai_despeckle.io.load` (every supported format, colour folded
    to grey); a multi-frame file contributes its first frame.
    """
    try:
        frame = np.asarray(load(path).frames[0], dtype=np.float32)
    except DespeckleError:
        raise
    except Exception as err:  # a decoder's own exception: report the file, not a traceback
        raise CorruptFileError(f"cannot read image ({type(err).__name__}: {err})", path) from None
    return np.clip(resize_frame(frame, (size, size) if size else None), 0.0, 1.0)


def read_mask(path: Path) -> np.ndarray:
    """A mask file as a boolean array (any non-zero label, in any channel, is structure)."""
    from monai_despeckle.io.raster import open_checked
    from monai_despeckle.io.validation import reading

    with reading(path, "mask"), open_checked(path) as image:  # size limits before decoding
        labels = np.asarray(image)
    return labels.max(axis=2) > 0 if labels.ndim == 3 else labels > 0


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
    files = image_files(folder, split, split_file)[: n if n else None]

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
    """``n`` simulated phantoms of ``kind`` (``breast`` or ``carotid``) at ``size``×``size``.

    Phantom ``i`` uses a seed derived from ``(seed, i)`` (numpy ``SeedSequence``), so a larger
    ``n`` extends the set without changing its first phantoms.
    """
    if kind not in SIMULATORS:
        raise DespeckleError(f"unknown phantom {kind!r}; choose one of: {', '.join(SIMULATORS)}")
    simulate = SIMULATORS[kind]

    def load_item(i: int) -> EvalItem:
        phantom_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        sample = simulate(size=size, seed=phantom_seed)
        masks = [np.asarray(m) > 0 for m in sample.masks.values()]
        mask = np.logical_or.reduce(masks) if masks else None
        clean = np.asarray(sample.clean, dtype=np.float32)
        return EvalItem(f"{kind}_{i:03d}", clean=clean, noisy=np.asarray(sample.bmode, np.float32), mask=mask)

    return EvalSet("simulated", [f"{kind}_{i:03d}" for i in range(n)], load_item)
