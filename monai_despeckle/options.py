"""User-facing choices shared by the command line and the runtime, importable without torch.

The command line builds its parser from these (``monai-despeckle --help`` must not import torch);
the runtime modules validate against the same tuples, so the two cannot drift.
"""

from __future__ import annotations

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
BACKENDS: tuple[str, ...] = ("torch", "torchscript", "onnx")
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript")
# "auto": a network runs at the speckle grain it was trained at (runtime/scale.py); "native": as given
SCALE_CHOICES: tuple[str, ...] = ("auto", "native")
DEFAULT_CHUNK_FRAMES = "auto"  # frames streamed at a time: sized from the memory budget (budget.py)
PHANTOM_FAMILIES: tuple[str, ...] = ("breast", "carotid")  # the simulated anatomies (simulation.PHANTOMS)
PHANTOM_PREFIX = "phantoms:"  # a data source of simulated phantoms: phantoms:breast|carotid|mixed
SIM_PREFIX = "sim:"  # the older spelling of PHANTOM_PREFIX, still accepted
DEFAULT_EVAL_SIZE = 128  # frame side of the seed protocol's evaluation (Bhute et al. 2024)

__all__ = [
    "BACKENDS",
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_EVAL_SIZE",
    "DEVICE_CHOICES",
    "EXPORT_FORMATS",
    "PHANTOM_FAMILIES",
    "PHANTOM_PREFIX",
    "PRECISION_CHOICES",
    "SCALE_CHOICES",
    "SIM_PREFIX",
    "phantom_kind",
]


def phantom_kind(source: object) -> str | None:
    """The phantom kind a data source names (``phantoms:carotid`` or ``sim:carotid``), else None.

    Only the prefix is read here (the command line must not import torch); the whole grammar,
    the kind checked, is :func:`monai_despeckle.data.sources.parse_source`. ``sim:`` is the
    spelling ``evaluate`` used first.
    """
    text = str(source)
    for prefix in (PHANTOM_PREFIX, SIM_PREFIX):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return None
