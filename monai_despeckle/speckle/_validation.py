"""Argument checks shared by the speckle generators."""

from __future__ import annotations

import math

import numpy as np
import torch

from monai_despeckle.errors import InvalidImageError, InvalidParameterError

# Kept as an alias: speckle code and its tests name it, and it is the shared InvalidParameterError.
SpeckleParameterError = InvalidParameterError


def check_range(
    name: str, value: float, low: float = 0.0, high: float = math.inf, *, open_low: bool = False
) -> float:
    """``float(value)`` if it lies in ``[low, high]`` (``(low, high]`` if ``open_low``), else raise."""
    value = float(value)
    inside = (low < value if open_low else low <= value) and value <= high  # False for NaN
    if not inside:
        bracket = "(" if open_low else "["
        raise SpeckleParameterError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    return value


def as_tensor(image: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """A plain ``torch.Tensor`` view of ``image`` (MetaTensor and other subclasses are stripped)."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise InvalidImageError(f"{name} must be a torch.Tensor or numpy array, got {type(image).__name__}")
    return image.as_subclass(torch.Tensor)


def as_float_image(image: torch.Tensor | np.ndarray, name: str = "image") -> torch.Tensor:
    """Plain floating-point tensor of ``image``; integer data is refused (its [0, 1] range is unknown)."""
    tensor = as_tensor(image, name)
    if not tensor.is_floating_point():
        raise InvalidImageError(
            f"{name} must be a floating-point image in [0, 1], got dtype {tensor.dtype}; "
            "convert it first (e.g. monai_despeckle.io.load or ScaleIntensity)"
        )
    if tensor.numel() == 0:
        raise InvalidImageError(f"{name} is empty (shape {tuple(tensor.shape)})")
    return tensor
