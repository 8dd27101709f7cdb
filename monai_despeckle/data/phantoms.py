"""Phantom sources: the kinds ``phantoms:KIND`` names and the phantoms a source draws.

The simulators themselves are the one table :data:`monai_despeckle.simulation.PHANTOMS`; a source
adds the kind ``"mixed"`` (the families in turn) and the rule that phantom ``i`` of a set with
seed ``s`` is ``PHANTOMS[kind](size, sample_seed(s, i))``, the same as sample ``i`` of
``monai-despeckle simulate``, so a larger set extends a smaller one without changing it.
"""

from __future__ import annotations

from collections.abc import Callable

from monai_despeckle.errors import InvalidParameterError
from monai_despeckle.simulation import PHANTOMS, PhantomSample, sample_seed

__all__ = ["MIXED", "PHANTOM_KINDS", "check_kind", "draw_phantom", "phantom_family", "simulator"]

MIXED = "mixed"
"""Phantom kind that alternates every simulated family (breast, carotid, breast, ...)."""
PHANTOM_KINDS: tuple[str, ...] = (*PHANTOMS, MIXED)


def check_kind(kind: str) -> str:
    """``kind`` if a phantom source may name it (a family or ``"mixed"``), else a clear error."""
    if kind not in PHANTOM_KINDS:
        raise InvalidParameterError(
            f"unknown phantom kind {kind!r}; choose one of: {', '.join(PHANTOM_KINDS)}"
        )
    return kind


def simulator(family: str) -> Callable[..., PhantomSample]:
    """The simulator of one phantom family (``"breast"``, ``"carotid"``)."""
    if family not in PHANTOMS:
        raise InvalidParameterError(
            f"unknown phantom family {family!r}; choose one of: {', '.join(PHANTOMS)}"
        )
    return PHANTOMS[family]


def phantom_family(kind: str, index: int) -> str:
    """The family of phantom ``index`` of a ``kind`` source (``mixed``: the families in turn)."""
    families = list(PHANTOMS) if check_kind(kind) == MIXED else [kind]
    return families[index % len(families)]


def draw_phantom(kind: str, index: int, size: int, seed: int) -> PhantomSample:
    """Phantom ``index`` of a ``kind`` source with set seed ``seed``, ``size``×``size`` pixels.

    It is ``PHANTOMS[family](size, sample_seed(seed, index))``: the same phantom whatever the
    size of the set, and sample ``index`` of ``monai-despeckle simulate --seed seed``.
    """
    return PHANTOMS[phantom_family(kind, index)](size, sample_seed(seed, index))
