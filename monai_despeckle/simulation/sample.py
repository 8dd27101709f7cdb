"""Containers for simulated phantoms: the anatomy (echogenicity + masks) and the rendered sample."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Anatomy:
    """What a phantom is made of, before any imaging.

    Attributes:
        echogenicity: float32 ``[H, W]`` relative backscattered intensity (1 = reference soft
            tissue, 0 = anechoic fluid, > 1 hyperechoic); H = depth, W = lateral.
        masks: named uint8 ``[H, W]`` masks with values 0/1.
        params: everything drawn at random, JSON-serialisable.
    """

    echogenicity: np.ndarray
    masks: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhantomSample:
    """One simulated B-mode image with its speckle-free reference and ground-truth masks.

    Attributes:
        clean: float32 ``[H, W]`` in [0, 1]: speckle-free image in the B-mode display mapping.
        bmode: float32 ``[H, W]`` in [0, 1]: the speckled B-mode (same geometry as ``clean``).
        echogenicity: float32 ``[H, W]`` map the two images were rendered from.
        masks: named uint8 ``[H, W]`` masks with values 0/1.
        spacing_mm: ``(axial, lateral)`` pixel size in mm.
        kind: phantom family, e.g. ``"breast"`` or ``"carotid"``.
        params: provenance: every random draw and the imaging parameters, JSON-serialisable.
    """

    clean: np.ndarray
    bmode: np.ndarray
    echogenicity: np.ndarray
    masks: dict[str, np.ndarray]
    spacing_mm: tuple[float, float]
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of every array in the sample."""
        return int(self.clean.shape[0]), int(self.clean.shape[1])


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples and numpy scalars / arrays -> plain JSON types (for provenance)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value
