"""The phantom families by name: the one table of simulators, their masks and the seed of sample ``i``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from monai_despeckle.simulation.breast import simulate_breast
from monai_despeckle.simulation.carotid import simulate_carotid
from monai_despeckle.simulation.sample import PhantomSample

__all__ = ["LABEL_NAMES", "PHANTOMS", "label_map", "sample_seed"]

PHANTOMS: dict[str, Callable[..., PhantomSample]] = {
    "breast": simulate_breast,
    "carotid": simulate_carotid,
}
"""Phantom families by name: ``f(size, seed, **kwargs) -> PhantomSample``."""

LABEL_NAMES: dict[str, tuple[str, ...]] = {
    "breast": ("lesion",),
    "carotid": ("lumen", "wall"),
}
"""Masks of each family, in label-map order (mask k has label value k + 1; 0 is background)."""


def sample_seed(seed: int, index: int) -> int:
    """Seed of sample ``index`` of a data set: a hash of ``(seed, index)``, independent of its size."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def label_map(sample: PhantomSample) -> np.ndarray:
    """uint8 ``[H, W]`` label map: 0 background, k + 1 inside the k-th mask of ``LABEL_NAMES``."""
    labels = np.zeros(sample.shape, dtype=np.uint8)
    for value, name in enumerate(LABEL_NAMES[sample.kind], start=1):
        labels[sample.masks[name].astype(bool)] = value
    return labels
