"""Write a simulated phantom data set on disk with a MONAI (Decathlon-style) datalist."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from monai_despeckle import __version__
from monai_despeckle.errors import InvalidParameterError, OutputPathError
from monai_despeckle.io.safe_write import check_writable, staging_folder
from monai_despeckle.simulation.families import LABEL_NAMES, PHANTOMS, label_map, sample_seed
from monai_despeckle.simulation.sample import PhantomSample, jsonable

FORMATS: dict[str, str] = {"nifti": ".nii.gz", "png": ".png"}
MIN_SIZE = 32


def write_dataset(
    kind: str,
    n: int,
    out_dir: str | Path,
    *,
    size: int = 256,
    seed: int = 0,
    fmt: str = "nifti",
    val_fraction: float = 0.2,
    progress: bool = True,
    **phantom_kwargs: Any,
) -> Path:
    """Simulate ``n`` phantoms and write images, clean references, labels and ``datalist.json``.

    Layout of ``out_dir``: ``images/<id>`` (speckled B-mode), ``clean/<id>`` (speckle-free
    reference), ``labels/<id>`` (binary lesion mask for breast; 0/1/2 background/lumen/wall for
    carotid), ``datalist.json`` (``training`` / ``validation`` lists of ``{"image", "clean",
    "label"}`` relative paths, readable by ``monai.data.load_decathlon_datalist``, plus the
    provenance) and ``provenance.json`` (every sample's seed and drawn parameters).

    NIfTI files hold float32 images in [0, 1] and uint8 labels, with the pixel spacing in mm in
    the header (array ``[H, W]`` written with SimpleITK: x = lateral, y = depth). PNG files are
    uint8: images scaled to 0–255, binary masks 0/255, multi-class label maps their class index.

    The data set is built in a temporary folder next to ``out_dir`` and renamed into place at the
    end, so an interrupted run leaves nothing half-written.

    Args:
        kind: phantom family, ``"breast"`` or ``"carotid"``.
        n: number of samples (≥ 1).
        out_dir: output folder; must not exist or be empty.
        size: image size in pixels (≥ 32).
        seed: data-set seed; sample ``i`` uses :func:`sample_seed` ``(seed, i)``, so it is the same
            whatever ``n``.
        fmt: ``"nifti"`` or ``"png"``.
        val_fraction: fraction of samples in the ``validation`` list, in [0, 1).
        progress: show a tqdm progress bar.
        **phantom_kwargs: passed to the phantom function (e.g. ``lesion=`` or ``view=``).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    simulate = _check_arguments(kind, n, size, fmt, val_fraction, phantom_kwargs)
    out_dir = Path(out_dir)
    _check_output(out_dir)
    validation = _validation_indices(n, val_fraction, seed)
    with staging_folder(out_dir, ".tmp") as tmp:
        tmp.chmod(0o777 & ~_current_umask())  # mkdtemp makes it private; the data set should not be
        entries: dict[str, list[dict[str, str]]] = {"training": [], "validation": []}
        records = []
        spacing = None
        for index in _progress(range(n), progress, f"simulating {kind}"):
            sample_id = f"{kind}_{index:05d}"
            this_seed = sample_seed(seed, index)
            sample = simulate(size, this_seed, **phantom_kwargs)
            spacing = sample.spacing_mm
            entry = _write_sample(tmp, sample_id, sample, fmt)
            split = "validation" if index in validation else "training"
            entries[split].append(entry)
            records.append({"id": sample_id, "seed": this_seed, "split": split, "params": sample.params})
        provenance = {
            "kind": kind,
            "n": n,
            "size": size,
            "seed": seed,
            "spacing_mm": list(spacing) if spacing is not None else None,
            "format": fmt,
            "val_fraction": val_fraction,
            "phantom_kwargs": jsonable(phantom_kwargs),
            "generator": f"monai-despeckle {__version__}",
        }
        datalist = {
            "name": f"monai-despeckle simulated {kind} phantoms",
            "description": (
                f"{n} simulated {kind} ultrasound phantoms ({size}x{size} px, spacing "
                f"{provenance['spacing_mm']} mm axial/lateral, seed {seed}): speckled B-mode images, "
                "speckle-free references and ground-truth labels."
            ),
            "tensorImageSize": "2D",
            "modality": {"0": "US"},
            "labels": {"0": "background", **{str(i): m for i, m in enumerate(LABEL_NAMES[kind], start=1)}},
            "numTraining": len(entries["training"]),
            "numValidation": len(entries["validation"]),
            "provenance": provenance,
            **entries,
        }
        _write_json(tmp / "datalist.json", datalist)
        _write_json(tmp / "provenance.json", {"dataset": provenance, "samples": records})
        if out_dir.exists():
            out_dir.rmdir()  # checked empty above; rename needs it gone on every platform
        os.replace(tmp, out_dir)
    return out_dir


def _check_arguments(
    kind: str, n: int, size: int, fmt: str, val_fraction: float, phantom_kwargs: dict[str, Any]
) -> Callable[..., PhantomSample]:
    if kind not in PHANTOMS:
        raise InvalidParameterError(f"unknown phantom kind {kind!r}; choose from {', '.join(PHANTOMS)}")
    if int(n) != n or n < 1:
        raise InvalidParameterError(f"the number of samples must be an integer ≥ 1, got {n!r}")
    if int(size) != size or size < MIN_SIZE:
        raise InvalidParameterError(f"the image size must be an integer ≥ {MIN_SIZE} pixels, got {size!r}")
    if fmt not in FORMATS:
        raise InvalidParameterError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidParameterError(f"the validation fraction must be in [0, 1), got {val_fraction!r}")
    simulate = PHANTOMS[kind]
    accepted = {
        name
        for name, p in inspect.signature(simulate).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(phantom_kwargs) - accepted)
    if unknown:
        raise InvalidParameterError(
            f"{kind} phantoms do not take {', '.join(unknown)}; they take {', '.join(sorted(accepted))}"
        )
    return simulate


def _check_output(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError("exists and is not a folder", out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise OutputPathError("output folder exists and is not empty; choose a new one", out_dir)
    check_writable(out_dir)


def _validation_indices(n: int, val_fraction: float, seed: int) -> set[int]:
    """Which samples go to validation: ``round(n · fraction)`` of them (≥ 1 and < n when possible)."""
    count = round(n * val_fraction)
    if val_fraction > 0 and n > 1:
        count = min(max(count, 1), n - 1)
    order = np.random.default_rng([int(seed), 0x5EED]).permutation(n)
    return {int(i) for i in order[:count]}


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _progress(iterable, enabled: bool, description: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, disable=not enabled, unit="phantom")


def _write_sample(root: Path, sample_id: str, sample: PhantomSample, fmt: str) -> dict[str, str]:
    """Write one sample's three files; return their paths relative to ``root``."""
    suffix = FORMATS[fmt]
    labels = label_map(sample)
    binary = len(LABEL_NAMES[sample.kind]) == 1
    entry = {}
    for key, folder, array in (
        ("image", "images", sample.bmode),
        ("clean", "clean", sample.clean),
        ("label", "labels", labels),
    ):
        relative = Path(folder) / f"{sample_id}{suffix}"
        (root / folder).mkdir(exist_ok=True)
        if fmt == "nifti":
            _write_nifti(root / relative, array, sample.spacing_mm)
        elif key == "label":
            _write_png(root / relative, array * np.uint8(255) if binary else array)
        else:
            _write_png(root / relative, np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8))
        entry[key] = relative.as_posix()
    return entry


def _write_nifti(path: Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))  # [H, W] -> x = lateral, y = depth
    image.SetSpacing((float(spacing_mm[1]), float(spacing_mm[0])))
    sitk.WriteImage(image, str(path), useCompression=True)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(array.astype(np.uint8)).save(path)  # 2-D uint8 -> 8-bit grey


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
