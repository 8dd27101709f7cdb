"""Image an :class:`Anatomy` with the physics-based speckle model into a :class:`PhantomSample`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from monai_despeckle.simulation.grid import PixelGrid
from monai_despeckle.simulation.sample import Anatomy, PhantomSample, jsonable

if TYPE_CHECKING:
    from monai_despeckle.speckle.physics import PhysicsSpeckleParams


def torch_generator(rng: np.random.Generator):
    """A ``torch.Generator`` seeded from ``rng``, so one numpy seed fixes the whole phantom."""
    import torch

    return torch.Generator().manual_seed(int(rng.integers(0, 2**62)))


def render_phantom(
    anatomy: Anatomy,
    grid: PixelGrid,
    kind: str,
    rng: np.random.Generator,
    physics: PhysicsSpeckleParams | None = None,
) -> PhantomSample:
    """Render the clean and speckled B-mode images of an anatomy.

    The speckled image comes from random scatterers weighted by the echogenicity, convolved with
    the transducer's point-spread function, envelope-detected and log-compressed
    (:func:`monai_despeckle.speckle.physics.simulate_bmode`); the clean reference is the same
    echogenicity through the same display mapping without the scatterer randomness
    (:func:`~monai_despeckle.speckle.physics.clean_bmode`).

    Args:
        anatomy: echogenicity map, masks and the parameters drawn to build them.
        grid: pixel grid (its spacing sets the physical PSF size in pixels).
        kind: phantom family, recorded in the sample.
        rng: source of randomness for the scatterers (a torch generator is seeded from it).
        physics: transducer and display parameters; ``None`` uses the model's defaults.
    """
    # Imported here so building anatomies (masks, echogenicity) needs neither torch nor the
    # physics model.
    import torch

    from monai_despeckle.speckle.physics import PhysicsSpeckleParams, clean_bmode, simulate_bmode

    physics = physics if physics is not None else PhysicsSpeckleParams()
    echo = torch.from_numpy(np.ascontiguousarray(anatomy.echogenicity, dtype=np.float32))
    spacing = grid.spacing_mm
    clean = clean_bmode(echo, spacing_mm=spacing, params=physics)
    bmode = simulate_bmode(echo, spacing_mm=spacing, params=physics, generator=torch_generator(rng))
    params = dict(anatomy.params)
    params["physics"] = jsonable(physics)
    return PhantomSample(
        clean=_to_image(clean, grid.shape),
        bmode=_to_image(bmode, grid.shape),
        echogenicity=anatomy.echogenicity.astype(np.float32, copy=False),
        masks={name: m.astype(np.uint8, copy=False) for name, m in anatomy.masks.items()},
        spacing_mm=spacing,
        kind=kind,
        params=params,
    )


def _to_image(tensor, shape: tuple[int, int]) -> np.ndarray:
    """A [H, W] / [1, H, W] / [1, 1, H, W] tensor -> float32 [H, W] numpy array in [0, 1]."""
    array = tensor.detach().cpu().numpy().astype(np.float32, copy=False).reshape(shape)
    return np.clip(array, 0.0, 1.0)
