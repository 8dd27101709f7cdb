"""The evaluation harness behind ``monai-despeckle evaluate``: data sets, the run loop, reports, figures."""

from monai_despeckle.evaluation.bundle import DEFAULT_BASELINES, evaluate_bundle, load_eval_set
from monai_despeckle.evaluation.datasets import EvalItem, EvalSet, folder_set, simulated_set
from monai_despeckle.evaluation.output import check_output_dir, write_report
from monai_despeckle.evaluation.runner import (
    EvalResult,
    Example,
    add_speckle,
    evaluate,
    noise_seed,
)

__all__ = [
    "DEFAULT_BASELINES",
    "EvalItem",
    "EvalResult",
    "EvalSet",
    "Example",
    "add_speckle",
    "check_output_dir",
    "evaluate",
    "evaluate_bundle",
    "folder_set",
    "load_eval_set",
    "noise_seed",
    "simulated_set",
    "write_report",
]
