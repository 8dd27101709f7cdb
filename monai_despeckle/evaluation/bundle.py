"""Evaluate one despeckling bundle beside classical baselines (what each bundle's ``evaluate.json`` runs).

The bundle's network is evaluated from its own folder (checksum-verified weights), under the
method name it would get in the bundles folder, so a bundle being trained or adapted elsewhere
is measured exactly as shipped bundles are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monai_despeckle.data.sources import SOURCE_SEPARATOR, PhantomSource, parse_sources
from monai_despeckle.errors import DespeckleError, InvalidParameterError
from monai_despeckle.evaluation.datasets import EvalSet, folder_set, simulated_set
from monai_despeckle.evaluation.output import check_output_dir, write_report
from monai_despeckle.evaluation.runner import EvalResult, evaluate
from monai_despeckle.options import DEFAULT_EVAL_SIZE
from monai_despeckle.resolver import create_method, create_methods, find_bundle

__all__ = ["DEFAULT_BASELINES", "SEED_VARIANCES", "evaluate_bundle", "load_eval_set"]

DEFAULT_SIZE = DEFAULT_EVAL_SIZE
DEFAULT_PHANTOMS = 20
SEED_VARIANCES: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
DEFAULT_BASELINES: tuple[str, ...] = ("none", "median", "gaussian", "srad", "lee", "frost", "nlm")
"""The identity (scores the input itself) and the strongest classical filters of docs/benchmarks.md."""


def load_eval_set(
    data: str | Path,
    *,
    size: int | None = None,
    n: int | None = None,
    seed: int = 0,
    split: str | None = None,
    split_file: str | Path | None = None,
    no_reference: bool = False,
) -> tuple[EvalSet, str]:
    """The evaluation set named by ``data`` and a title for its report.

    Args:
        data: one source (:mod:`monai_despeckle.data.sources`): ``phantoms:breast`` /
            ``phantoms:carotid`` / ``phantoms:mixed`` (phantoms with physics speckle and clean
            reference; ``sim:`` also accepted), or a folder of real images: clean references
            that get synthetic speckle, or, with ``no_reference``, noisy inputs scored with
            no-reference metrics inside their masks.
        size: square frame side (default 128; native size for ``no_reference``; 0 = native).
        n: number of phantoms (default 20) or the first ``n`` images of a folder.
        seed: seed of the phantoms (the synthetic noise seed is given to ``evaluate``).
        split: key of the folder's split file to keep (e.g. ``"val"``).
        split_file: split file (default ``<folder>/split.json``).
        no_reference: the folder's images are noisy inputs without reference.
    """
    if n is not None and n < 1:
        raise DespeckleError(f"n must be at least 1; got {n}")
    if size is not None and size < 0:
        raise DespeckleError(f"size must be positive (or 0 for native); got {size}")
    sources = parse_sources(data)
    if len(sources) > 1:
        joined = f"several joined by {SOURCE_SEPARATOR!r}"
        raise InvalidParameterError(f"evaluate takes one data source, not {joined}: {data}")
    source = sources[0]
    if isinstance(source, PhantomSource):
        phantoms = simulated_set(source.kind, size=size or DEFAULT_SIZE, n=n or DEFAULT_PHANTOMS, seed=seed)
        return phantoms, f"Evaluation on simulated {source.kind} phantoms"
    side = size if size is not None else (None if no_reference else DEFAULT_SIZE)
    images = folder_set(source.folder, side or None, no_reference, split=split, split_file=split_file, n=n)
    return images, f"Evaluation on {source.folder.name}" + (f" ({split} split)" if split else "")


def evaluate_bundle(
    bundle_root: str | Path,
    data: str | Path,
    output_dir: str | Path,
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    variances: Sequence[float] = SEED_VARIANCES,
    size: int | None = None,
    n: int | None = None,
    seed: int = 0,
    split: str | None = "val",
    no_reference: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Score a bundle's network beside ``baselines`` on ``data``; write the report into ``output_dir``.

    Args:
        bundle_root: the bundle folder (``configs/metadata.json`` and ``models/model.pt``).
        data: as :func:`load_eval_set`: ``phantoms:<kind>`` or a folder of images.
        output_dir: report folder (``results.csv``, ``summary.md``, figures, ``config.json``).
        baselines: registered methods to score beside the bundle.
        variances: synthetic speckle variances for a folder of clean references.
        size: frame side (see :func:`load_eval_set`).
        n: number of phantoms or images.
        seed: seed of the phantoms and of the synthetic noise.
        split: split to keep for a folder (``None``: every image; ignored for phantoms).
        no_reference: the folder holds noisy images with masks (no-reference metrics).
        overwrite: replace an earlier report in ``output_dir``.
        progress: show a progress bar.

    Returns:
        The evaluation result (also written to ``output_dir``).
    """
    bundle = find_bundle(bundle_root, kind="despeckle")
    model = create_method(bundle.path)  # verified weights; errors name the bundle
    check_output_dir(output_dir, overwrite)
    eval_set, title = load_eval_set(data, size=size, n=n, seed=seed, split=split, no_reference=no_reference)
    split = None if eval_set.mode == "simulated" else split  # phantoms have no split
    methods = {model.name: model, **create_methods([b for b in baselines if b != model.name])}
    names = list(methods)
    result = evaluate(eval_set, methods, list(variances), seed=seed, progress=progress)
    config = {
        "bundle": str(bundle.path),
        "data": str(data),
        "split": split,
        "methods": names,
        "variances": list(variances),
        "size": size,
        "n": n,
        "seed": seed,
        "no_reference": no_reference,
    }
    write_report(result, output_dir, overwrite, f"{bundle.name}: {title}", None, config)
    return result
