"""The evaluation loop: every image × noise level × method, timed, with per-image metrics.

Noise for the reference protocol is scikit-image's ``random_noise(mode="speckle", var=v)``
(``clip(x + x·n, 0, 1)``, ``n ~ N(0, v)``), the exact corruption of the seed paper (Bhute et al.,
arXiv 2403.02750). Its seed is derived from ``(seed, image name, variance)``, so an image gets the
same noise whichever methods run, in whatever order, and whatever other images are in the set.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage.util import random_noise
from tqdm.auto import tqdm

from monai_despeckle.errors import DespeckleError
from monai_despeckle.evaluation.datasets import EvalItem, EvalSet
from monai_despeckle.inference import Despeckler
from monai_despeckle.methods import Method
from monai_despeckle.metrics import (
    Regions,
    auto_regions,
    boundary_contrast_ratio,
    boundary_step_ratio,
    cnr,
    enl,
    epi,
    gcnr,
    glcm_homogeneity,
    mse,
    periodic_banding,
    psnr,
    speckle_index,
    ssim,
)
from monai_despeckle.metrics.banding import DEFAULT_PERIOD, Period, fit_period
from monai_despeckle.runtime import NetworkMethod

__all__ = [
    "FULL_REFERENCE_METRICS",
    "NO_REFERENCE_METRICS",
    "SIMULATED_METRICS",
    "EvalResult",
    "Example",
    "add_speckle",
    "evaluate",
    "noise_seed",
]

logger = logging.getLogger(__name__)

FULL_REFERENCE_METRICS = ("psnr", "ssim", "mse")
# Phantoms have a clean reference *and* are judged on smoothness, as in Speckle2Self (Li et al.,
# MedIA 2025): GLCM homogeneity of the whole output frame beside the full-reference metrics.
SIMULATED_METRICS = (*FULL_REFERENCE_METRICS, "homogeneity")
# EPI compares the output's edges with the noisy input's, so it rewards keeping speckle; beside it,
# the structure's boundary (the intensity step across it and that step over the bands' spread,
# relative to the input) and the banding a strided network adds at its stride (relative to the input).
NO_REFERENCE_METRICS = (
    "enl",
    "speckle_index",
    "cnr",
    "gcnr",
    "homogeneity",
    "epi",
    "boundary_step",
    "boundary_contrast",
    "banding",
)
PHYSICS = "physics"  # noise label of simulated phantoms (speckle from the imaging model)
REAL = "real"  # noise label of real noisy images


@dataclass
class Example:
    """Frames kept for the comparison figure: one image at one noise level, every method's output.

    ``focus`` is the (row, col) the figure centres a zoomed crop on for large frames: the
    centroid of the structure mask, if there is one.
    """

    name: str
    noise: str
    noisy: np.ndarray
    reference: np.ndarray | None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    focus: tuple[int, int] | None = None


@dataclass
class EvalResult:
    """Everything an evaluation produced.

    Attributes:
        mode: ``"reference"``, ``"simulated"`` or ``"no_reference"``.
        metrics: names of the metric columns, in order.
        rows: one dict per image × method × noise level: ``image``, ``method``, ``noise``, the
            metrics, ``time_ms`` (wall time of the method on that frame).
        examples: frames for the comparison figure.
        methods: the methods that ran, in order.
        noise_levels: the noise labels, in order (variances as strings, or ``physics`` / ``real``).
    """

    mode: str
    metrics: tuple[str, ...]
    rows: list[dict[str, object]]
    examples: list[Example]
    methods: list[str]
    noise_levels: list[str]


def noise_seed(seed: int, image_name: str, variance: float) -> int:
    """Seed of the speckle added to one image at one variance, derived from the run's ``seed``."""
    key = [int(seed), zlib.crc32(image_name.encode("utf-8")), round(float(variance) * 1_000_000)]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def add_speckle(clean: np.ndarray, variance: float, seed: int) -> np.ndarray:
    """The seed protocol's corruption: scikit-image ``random_noise(mode="speckle", var=variance)``.

    Args:
        clean: float frame in [0, 1].
        variance: variance of the zero-mean Gaussian multiplicative noise n in ``x + x·n``.
        seed: random seed.
    """
    noisy = random_noise(np.asarray(clean, dtype=np.float64), mode="speckle", var=float(variance), rng=seed)
    return noisy.astype(np.float32)


def _pipeline(method: Method, scale: str) -> Despeckler:
    """The inference engine users run, around ``method`` (one frame at a time, its own backend).

    Evaluation goes through :class:`~monai_despeckle.inference.Despeckler` so that what it
    measures is what ``denoise`` does (a network runs at its trained speckle grain, results are
    clamped the same way); a network keeps the backend it was built with.
    """
    backend = method.backend.name if isinstance(method, NetworkMethod) else "torch"
    return Despeckler(method, batch_size=1, backend=backend, scale=scale)


def _apply(despeckler: Despeckler, frame: np.ndarray) -> tuple[np.ndarray, float]:
    """Despeckle one frame; return the output and the wall time in ms."""
    frames = np.ascontiguousarray(frame, dtype=np.float32)[None]
    start = time.perf_counter()
    out = despeckler.run_frames(frames)
    elapsed = (time.perf_counter() - start) * 1000.0
    return out[0], elapsed


def _full_reference(output: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return {
        "psnr": float(psnr(output, reference)[0]),
        "ssim": float(ssim(output, reference)[0]),
        "mse": float(mse(output, reference)[0]),
    }


def _safe(function: Callable[..., float], *args: object) -> float:
    """A metric that needs a region the image may lack: NaN instead of an error."""
    try:
        return float(function(*args))
    except DespeckleError:
        return math.nan


def _banding_period(pipeline: Despeckler | Method, frame: np.ndarray) -> Period:
    """Period of the banding check on ``frame``'s output, in output pixels (rows, columns).

    The network's total stride (its ``size_multiple``; 16 for a method without one above 1),
    times, per axis, the factor the frame was resampled by to run it at its trained speckle grain
    (``Despeckler.last_network_shape``, set by the run of ``frame``; 1 when it ran as it is), halved
    while the frame is too short for it (:func:`~monai_despeckle.metrics.banding.fit_period`).
    """
    method = pipeline.method if isinstance(pipeline, Despeckler) else pipeline
    multiple = getattr(method, "size_multiple", None)
    stride = int(multiple) if isinstance(multiple, int) and multiple >= 2 else DEFAULT_PERIOD
    # the shape the pipeline just ran this frame at (evaluate runs it right before)
    network = pipeline.last_network_shape if isinstance(pipeline, Despeckler) else None
    sides = frame.shape[:2]
    scale = (1.0, 1.0) if network is None else (sides[0] / network[0], sides[1] / network[1])
    rows, cols = (fit_period(stride * factor, side) for factor, side in zip(scale, sides, strict=True))
    return rows if rows == cols else (rows, cols)


def _no_reference(
    output: np.ndarray, noisy: np.ndarray, regions: Regions, period: Period = DEFAULT_PERIOD
) -> dict[str, float]:
    has_target = regions.target is not None
    nan = math.nan
    return {
        "enl": enl(output, regions.homogeneous),
        "speckle_index": _safe(speckle_index, output, regions.homogeneous),
        "cnr": cnr(output, regions.target, regions.background) if has_target else nan,
        "gcnr": gcnr(output, regions.target, regions.background) if has_target else nan,
        "homogeneity": glcm_homogeneity(output, regions.field_of_view),
        "epi": _safe(epi, noisy, output, regions.field_of_view),
        # NaN without a structure mask, its boundary in the field of view or a step across it
        "boundary_step": _safe(boundary_step_ratio, noisy, output, regions.target, regions.field_of_view),
        "boundary_contrast": _safe(
            boundary_contrast_ratio, noisy, output, regions.target, regions.field_of_view
        ),
        "banding": _safe(periodic_banding, noisy, output, period),
    }


def _example_noise(noise_levels: list[str]) -> str:
    """The noise level shown in the comparison figure: the one nearest variance 0.5, or the only one."""
    numeric = [(abs(float(v) - 0.5), v) for v in noise_levels if v not in (PHYSICS, REAL)]
    return min(numeric)[1] if numeric else noise_levels[0]


def evaluate(
    data: EvalSet,
    methods: Mapping[str, Method],
    variances: Sequence[float] | None = None,
    seed: int = 0,
    n_examples: int = 2,
    progress: bool = True,
    scale: str = "auto",
) -> EvalResult:
    """Evaluate despeckling methods on a data set.

    Args:
        data: images (:func:`~monai_despeckle.evaluation.datasets.folder_set` or
            :func:`~monai_despeckle.evaluation.datasets.simulated_set`).
        methods: the methods to compare, by the name their results are reported under (e.g.
            :func:`monai_despeckle.resolver.create_methods`).
        variances: speckle variances for ``reference`` data (ignored otherwise).
        seed: base seed of the synthetic noise.
        n_examples: how many images to keep for the comparison figure.
        progress: show a tqdm progress bar.
        scale: ``"auto"``: networks run at the speckle grain they were trained at (as
            ``denoise`` runs them); ``"native"``: frames as they are.
    """
    if not methods:
        raise DespeckleError("no method to evaluate")
    built = {name: _pipeline(method, scale) for name, method in methods.items()}
    if data.mode == "reference":
        if not variances:
            raise DespeckleError("reference evaluation needs at least one speckle variance")
        noise_levels = [f"{float(v):g}" for v in variances]
        metrics: tuple[str, ...] = FULL_REFERENCE_METRICS
    elif data.mode == "simulated":
        noise_levels, metrics = [PHYSICS], SIMULATED_METRICS
    else:
        noise_levels, metrics = [REAL], NO_REFERENCE_METRICS
    example_noise = _example_noise(noise_levels)

    rows: list[dict[str, object]] = []
    examples: list[Example] = []
    warmed: set[str] = set()
    total = len(data) * len(noise_levels) * len(built)
    with tqdm(total=total, desc="evaluate", unit="run", disable=not progress or None) as bar:
        for index, item in enumerate(data):
            regions = _regions(item) if data.mode == "no_reference" else None
            for noise in noise_levels:
                noisy = _noisy_input(item, noise, seed)
                example = None
                if index < n_examples and noise == example_noise:
                    example = Example(item.name, noise, noisy, item.clean, focus=_centroid(item.mask))
                    examples.append(example)
                for name, method in built.items():
                    if name not in warmed:  # first call pays one-off set-up (threads, caches): untimed
                        _apply(method, noisy)
                        warmed.add(name)
                    output, elapsed = _apply(method, noisy)
                    if regions is None:
                        assert item.clean is not None  # reference and simulated items have one
                        values = _full_reference(output, item.clean)
                        if data.mode == "simulated":
                            values["homogeneity"] = glcm_homogeneity(output)
                    else:
                        values = _no_reference(output, noisy, regions, _banding_period(method, noisy))
                    row = {"image": item.name, "method": name, "noise": noise}
                    rows.append({**row, **values, "time_ms": elapsed})
                    if example is not None:
                        example.outputs[name] = output
                    bar.update(1)
    return EvalResult(data.mode, metrics, rows, examples, list(built), noise_levels)


def _regions(item: EvalItem) -> Regions:
    """Target / background / homogeneous regions of a real noisy image (errors name the image)."""
    assert item.noisy is not None  # no-reference items have one
    try:
        return auto_regions(item.noisy, item.mask)
    except DespeckleError as err:
        raise DespeckleError(f"{item.name}: {err}") from None


def _centroid(mask: np.ndarray | None) -> tuple[int, int] | None:
    if mask is None or not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    return int(rows.mean()), int(cols.mean())


def _noisy_input(item: EvalItem, noise: str, seed: int) -> np.ndarray:
    if item.noisy is not None:
        return item.noisy
    if item.clean is None:
        raise DespeckleError(f"{item.name}: neither a clean nor a noisy image")
    variance = float(noise)
    return add_speckle(item.clean, variance, noise_seed(seed, item.name, variance))
