"""Project-wide defaults: which method to use when the user names none, where sample data lives."""

from __future__ import annotations

import os
from pathlib import Path

from monai_despeckle.resolver import available_methods

# First available wins. The skip-DAE bundle leads: it beats every classical filter on the seed
# protocol and runs in real time on two CPU cores (docs/benchmarks.md). Without its weights (a
# checkout before training) SRAD leads: it was built for ultrasound speckle (Yu & Acton 2002),
# runs batched in torch (GPU when present) and keeps edges better than the generic smoothers.
METHOD_PREFERENCE: tuple[str, ...] = ("dae_skip", "srad", "nlm", "lee", "median")

SAMPLES_ENV = "MONAI_DESPECKLE_SAMPLES"


def default_method_name() -> str:
    """The best method available in this installation."""
    methods = available_methods()
    for name in METHOD_PREFERENCE:
        if name in methods:
            return name
    raise RuntimeError("no despeckling method is registered")


def real_samples_dir() -> Path | None:
    """The folder of real ultrasound samples, if one can be found.

    Looks at ``$MONAI_DESPECKLE_SAMPLES``, then ``../shared/data/real_us_samples`` beside the
    current directory and beside the source checkout.
    """
    candidates = []
    if os.environ.get(SAMPLES_ENV):
        candidates.append(Path(os.environ[SAMPLES_ENV]))
    relative = Path("..") / "shared" / "data" / "real_us_samples"
    candidates.append(Path.cwd() / relative)
    candidates.append(Path(__file__).resolve().parents[1] / relative)
    for candidate in candidates:
        if (candidate / "images").is_dir():
            return candidate.resolve()
    return None
