"""Speckle synthesis: multiplicative (Gaussian, Rayleigh, Gamma), physics-based and multi-scale views.

Every generator is a pure torch function taking an explicit ``torch.Generator`` (or ``None``);
:mod:`monai_despeckle.transforms` wraps them as MONAI transforms.
"""

from monai_despeckle.speckle._validation import SpeckleParameterError
from monai_despeckle.speckle.multiplicative import gamma_speckle, gaussian_speckle, rayleigh_speckle
from monai_despeckle.speckle.multiscale import DEFAULT_SCALES, minmax_normalize, multiscale_views
from monai_despeckle.speckle.physics import (
    PhysicsSpeckleParams,
    analytic_signal,
    clean_bmode,
    expected_intensity,
    log_compress,
    simulate_bmode,
    simulate_envelope,
    simulate_rf,
)

__all__ = [
    "DEFAULT_SCALES",
    "PhysicsSpeckleParams",
    "SpeckleParameterError",
    "analytic_signal",
    "clean_bmode",
    "expected_intensity",
    "gamma_speckle",
    "gaussian_speckle",
    "log_compress",
    "minmax_normalize",
    "multiscale_views",
    "rayleigh_speckle",
    "simulate_bmode",
    "simulate_envelope",
    "simulate_rf",
]
