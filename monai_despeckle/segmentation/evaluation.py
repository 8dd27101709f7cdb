"""``segment-eval``: does despeckling help segmentation? Two ways, scored per image, paired.

For every image of a split (native resolution) and every despeckler (``none`` = the raw input):

- **test_time**: despeckle the image, then segment it with the task's segmenter trained on raw
  images (``bundles/seg_breast_lesion`` / ``bundles/seg_carotid``);
- **trained**: segment with a segmenter trained *and* tested on images despeckled by that
  method: any segmentation bundle of the task whose ``inference.json`` names it as its
  ``despeckler`` (e.g. ``bundles/seg_breast_lesion_dae_skip``). The raw model is this way's
  ``none`` row as well.

Each despeckler runs once per image; both ways reuse its output. The report folder
(:func:`write_segment_report`) holds ``results.csv`` (one row per image × way × despeckler),
``summary.md`` (mean ± std Dice and HD95, paired difference against ``none`` of the same way with
a Wilcoxon signed-rank p-value), ``config.json`` and ``overlays.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from monai_despeckle.data.folders import SPLIT_FILE, folder_images, required_mask, stem
from monai_despeckle.data.frames import read_frame, read_mask
from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.reports import (
    RESULTS_CSV,
    markdown_table,
    mean_std_text,
    report_heading,
    write_csv_rows,
    write_report_folder,
)
from monai_despeckle.resolver import list_bundles
from monai_despeckle.segmentation.data import segmentation_folder
from monai_despeckle.segmentation.segmenter import Segmenter
from monai_despeckle.segmentation.statistics import mean_std, paired_comparison, segmentation_scores
from monai_despeckle.segmentation.tasks import SegTask, get_task

__all__ = ["WAYS", "SegEvalResult", "find_trained_segmenters", "segment_eval", "write_segment_report"]

WAYS = ("test_time", "trained")
NONE = "none"
COLUMNS = (
    "image",
    "way",
    "despeckler",
    "segmenter",
    "has_structure",
    "dice",
    "hd95",
    "predicted_area",
    "true_area",
)


@dataclass
class SegEvalResult:
    """Everything ``segment-eval`` measured.

    Attributes:
        task: the task's name.
        rows: one dict per image × way × despeckler (see ``COLUMNS``).
        despecklers: despecklers in report order (``none`` first).
        segmenters: ``(way, despeckler) -> segmentation bundle name``.
        missing: despecklers without a segmenter trained on their output (the ``trained`` way skips them).
        examples: frames kept for the overlay figure:
            ``(name, raw, truth, {(way, despeckler): (input, labels)})``.
        seconds: ``despeckler -> mean seconds per image``.
    """

    task: str
    rows: list[dict[str, Any]]
    despecklers: list[str]
    segmenters: dict[tuple[str, str], str]
    missing: list[str] = field(default_factory=list)
    examples: list[
        tuple[str, np.ndarray, np.ndarray, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]
    ] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def find_trained_segmenters(task: SegTask) -> dict[str, Path]:
    """``despeckler -> bundle folder`` of the task's segmentation bundles trained on despeckled images.

    Every segmentation bundle on the bundle search path counts (the first of each name).
    """
    found: dict[str, Path] = {}
    for bundle in list_bundles("segment"):
        if not bundle.has_weights:
            continue
        settings = bundle.inference_config()
        if settings.get("task") == task.name and settings.get("despeckler"):
            found.setdefault(str(settings["despeckler"]), bundle.path)
    return found


def _items(data: Path, split: str | None, n: int | None) -> list[tuple[str, Path, Path]]:
    data = segmentation_folder(data)
    split_file = data / SPLIT_FILE
    files = folder_images(data, split if split_file.is_file() else None, split_file)
    files = files[:n] if n else files
    items = [(stem(path), path, required_mask(path, data)) for path in files]
    if not items:
        raise InvalidParameterError(
            f"no images to evaluate in {data}" + (f" (split {split!r})" if split else "")
        )
    return items


def segment_eval(
    task: str,
    data: str | Path,
    despecklers: Sequence[str] = (NONE,),
    *,
    split: str | None = "val",
    n: int | None = None,
    ways: Sequence[str] = WAYS,
    device: str = "auto",
    examples: int = 3,
    progress: bool = True,
) -> SegEvalResult:
    """Score segmentation after each despeckler, both ways (see the module docstring).

    Args:
        task: ``"breast"`` or ``"carotid"``.
        data: folder with ``images/``, ``masks/`` and ``split.json``.
        despecklers: registered method names; ``none`` (raw input) is always added first.
        split: key of ``split.json`` to evaluate on (None: every image).
        n: evaluate the first ``n`` images only.
        ways: ``test_time`` and/or ``trained``.
        device: where the despecklers and segmenters run.
        examples: images kept for the overlay figure.
        progress: show a progress bar.
    """
    seg_task = get_task(task)
    unknown = sorted(set(ways) - set(WAYS))
    if unknown or not ways:
        raise InvalidParameterError(f"ways must be among {', '.join(WAYS)}, got {list(ways)}")
    names = [NONE] + [d for d in dict.fromkeys(despecklers) if d != NONE]
    # at their own size, as the segmenters' training despeckled them (segmentation/data.py);
    # built first: unknown names fail before any work
    engines = {d: Despeckler(d, device=device, scale="native") for d in names if d != NONE}
    raw_model = Segmenter(seg_task.name, device=device)
    segmenters: dict[tuple[str, str], Segmenter] = {}
    missing: list[str] = []
    trained = find_trained_segmenters(seg_task) if "trained" in ways else {}
    for despeckler in names:
        if "test_time" in ways:
            segmenters[("test_time", despeckler)] = raw_model
        if "trained" in ways:
            if despeckler == NONE:
                segmenters[("trained", NONE)] = raw_model
            elif despeckler in trained:
                segmenters[("trained", despeckler)] = Segmenter(trained[despeckler], device=device)
            else:
                missing.append(despeckler)
    label = min(raw_model.labels.values())
    items = _items(Path(data), split, n)
    result = SegEvalResult(seg_task.name, [], names, {k: s.name for k, s in segmenters.items()}, missing)
    timings: dict[str, list[float]] = {d: [] for d in names}
    for index, (name, image_path, truth_path) in enumerate(
        tqdm(items, desc="segment-eval", unit="image", disable=not progress)
    ):
        raw = read_frame(image_path)
        truth = read_mask(truth_path).astype(np.uint8) * np.uint8(label)
        if truth.shape != raw.shape:
            raise InvalidParameterError(f"{name}: mask is {truth.shape} but the image is {raw.shape}")
        example: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for despeckler in names:
            start = time.perf_counter()
            frame = (
                raw
                if despeckler == NONE
                else engines[despeckler].run(UltrasoundImage(frames=raw[None])).frames[0]
            )
            timings[despeckler].append(time.perf_counter() - start)
            for way in ways:
                segmenter = segmenters.get((way, despeckler))
                if segmenter is None:
                    continue
                labels = segmenter.predict(frame, despeckled=True)
                scores = segmentation_scores(labels, truth, label)
                result.rows.append(
                    {
                        "image": name,
                        "way": way,
                        "despeckler": despeckler,
                        "segmenter": segmenter.name,
                        "has_structure": bool(truth.any()),
                        **scores,
                    }
                )
                if index < examples:
                    example[(way, despeckler)] = (frame, labels)
        if index < examples:
            result.examples.append((name, raw, truth, example))
    result.seconds = {d: float(np.mean(t)) if t else math.nan for d, t in timings.items()}
    return result


def _values(
    result: SegEvalResult, way: str, despeckler: str, metric: str, structure_only: bool
) -> dict[str, float]:
    return {
        r["image"]: float(r[metric])
        for r in result.rows
        if r["way"] == way and r["despeckler"] == despeckler and (r["has_structure"] or not structure_only)
    }


def summary_rows(result: SegEvalResult) -> list[dict[str, Any]]:
    """One row per way × despeckler: Dice / HD95 statistics and the paired comparison with ``none``."""
    rows = []
    for way in WAYS:
        for despeckler in result.despecklers:
            if (way, despeckler) not in result.segmenters:
                continue
            dice = _values(result, way, despeckler, "dice", True)
            hd95 = _values(result, way, despeckler, "hd95", True)
            all_dice = _values(result, way, despeckler, "dice", False)
            reference = _values(result, way, NONE, "dice", True)
            ref_hd = _values(result, way, NONE, "hd95", True)
            common = sorted(set(dice) & set(reference))
            compare = paired_comparison([dice[k] for k in common], [reference[k] for k in common])
            common_hd = sorted(set(hd95) & set(ref_hd))
            compare_hd = paired_comparison([hd95[k] for k in common_hd], [ref_hd[k] for k in common_hd])
            empty = [
                r
                for r in result.rows
                if r["way"] == way and r["despeckler"] == despeckler and not r["has_structure"]
            ]
            rows.append(
                {
                    "way": way,
                    "despeckler": despeckler,
                    "segmenter": result.segmenters[(way, despeckler)],
                    "dice": mean_std(list(dice.values())),
                    "hd95": mean_std(list(hd95.values())),
                    "dice_all": mean_std(list(all_dice.values())),
                    "false_positive_rate": (
                        sum(r["predicted_area"] > 0 for r in empty) / len(empty) if empty else math.nan
                    ),
                    "n_empty": len(empty),
                    "delta_dice": compare,
                    "delta_hd95": compare_hd,
                }
            )
    return rows


def _ms(stats: tuple[float, float, int], decimals: int) -> str:
    mean, std, count = stats
    return "–" if count == 0 else mean_std_text(mean, std, decimals)


def _delta(compare: Any, decimals: int, is_reference: bool) -> str:
    if is_reference:
        return "(reference)"
    if compare.n == 0:
        return "–"
    return f"{compare.mean_difference:+.{decimals}f} (p = {compare.p_value:.3g})"


def summary_markdown(result: SegEvalResult, command: str | None = None) -> str:
    """The report's summary: one table per way, then the despecklers' time per image."""
    rows = summary_rows(result)
    structure = "lesion" if result.task == "breast" else "lumen"
    n_images = len({r["image"] for r in result.rows})
    n_structure = len({r["image"] for r in result.rows if r["has_structure"]})
    lines = report_heading(f"Downstream segmentation: {result.task}", command)
    lines += [
        f"{n_images} images ({n_structure} with a {structure}), native resolution. Dice and HD95 "
        f"(pixels) over the images with a {structure}; Δ = paired mean difference against `none` "
        "of the same way, p = two-sided Wilcoxon signed-rank test.",
        "",
    ]
    titles = {
        "test_time": "Way (a): despeckle at test time only (segmenter trained on raw images)",
        "trained": "Way (b): segmenter trained and tested on despeckled images",
    }
    for way in WAYS:
        selected = [r for r in rows if r["way"] == way]
        if not selected:
            continue
        lines += [f"## {titles[way]}", ""]
        header = ["despeckler", "segmenter", "Dice ↑", "Δ Dice", "HD95 ↓", "Δ HD95", "Dice (all images)"]
        if any(r["n_empty"] for r in selected):
            header.append(f"false positives on images without a {structure}")
        body = []
        for r in selected:
            reference = r["despeckler"] == NONE
            cells = [
                r["despeckler"],
                r["segmenter"],
                _ms(r["dice"], 3),
                _delta(r["delta_dice"], 3, reference),
                _ms(r["hd95"], 1),
                _delta(r["delta_hd95"], 1, reference),
                _ms(r["dice_all"], 3),
            ]
            if len(header) == 8:
                cells.append(f"{r['false_positive_rate']:.0%} of {r['n_empty']}")
            body.append(cells)
        lines += [*markdown_table(header, body), ""]
    if result.missing:
        lines += [
            "No segmenter trained on the output of: " + ", ".join(result.missing) + " (way (b) skips them; "
            'train one with `train.json` and `"despeckler"` set, see '
            f"bundles/{get_task(result.task).bundle}).",
            "",
        ]
    lines += ["## Despeckling time", ""]
    lines += markdown_table(["despeckler", "s / image"], [[d, f"{s:.3f}"] for d, s in result.seconds.items()])
    return "\n".join(lines) + "\n"


def overlay_figure(result: SegEvalResult, path: Path) -> None:
    """Each example once per way × despeckler: its input, truth (green) and prediction (red) contours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not result.examples:
        return
    keys = [k for k in result.examples[0][3]]
    rows, cols = len(result.examples), len(keys)
    figure, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    for r, (name, _, truth, outputs) in enumerate(result.examples):
        for c, key in enumerate(keys):
            axis = axes[r, c]
            frame, labels = outputs[key]
            axis.imshow(frame, cmap="gray", vmin=0, vmax=1)
            if truth.any():
                axis.contour(truth > 0, levels=[0.5], colors="lime", linewidths=0.8)
            if labels.any():
                axis.contour(labels > 0, levels=[0.5], colors="red", linewidths=0.8)
            dice = next(
                x["dice"] for x in result.rows if x["image"] == name and (x["way"], x["despeckler"]) == key
            )
            way = "(a)" if key[0] == "test_time" else "(b)"
            axis.set_title(f"{way} {key[1]}\nDice {dice:.2f}", fontsize=7)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=6)
    figure.suptitle("green: reference mask, red: prediction", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_segment_report(
    result: SegEvalResult,
    out: str | Path,
    *,
    overwrite: bool = False,
    command: str | None = None,
    config: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``results.csv``, ``summary.md``, ``config.json`` and ``overlays.png`` into ``out`` atomically."""
    config_text = json.dumps(config or {}, indent=2) + "\n"
    return write_report_folder(
        out,
        {
            RESULTS_CSV: lambda path: write_csv_rows(path, COLUMNS, result.rows),
            "summary.md": lambda path: path.write_text(summary_markdown(result, command), encoding="utf-8"),
            "config.json": lambda path: path.write_text(config_text, encoding="utf-8"),
            "overlays.png": lambda path: overlay_figure(result, path),
        },
        overwrite=overwrite,
    )
