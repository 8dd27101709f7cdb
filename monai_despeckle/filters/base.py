"""Plumbing shared by the classical filters: input checks and the two :class:`Method` adapters.

Every filter is written once as a plain function (scikit-image style). The adapters turn such a
function into a registered Method that takes frames ``[N, 1, H, W]`` float in [0, 1]:

- :class:`NumpyFrameFilter` runs a 2D numpy function frame by frame on the CPU and moves the result
  back to the input's device;
- :class:`TorchFilter` runs a batched torch function on the whole batch, on the input's device.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from monai_despeckle.errors import InvalidImageError, InvalidParameterError


def check_frames(frames: torch.Tensor, name: str) -> None:
    """Raise :class:`InvalidImageError` unless ``frames`` is a floating tensor ``[N, 1, H, W]``."""
    if not isinstance(frames, torch.Tensor):
        raise InvalidImageError(f"{name}: expected a torch.Tensor of frames, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[1] != 1:
        raise InvalidImageError(f"{name}: expected frames of shape [N, 1, H, W], got {list(frames.shape)}")
    if not frames.is_floating_point():
        raise InvalidImageError(f"{name}: expected float frames in [0, 1], got dtype {frames.dtype}")


def check_image_2d(image: np.ndarray, name: str) -> np.ndarray:
    """Return ``image`` as a float numpy array, or raise if it is not a 2D floating array."""
    array = np.asarray(image)
    if array.ndim != 2:
        raise InvalidImageError(f"{name}: expected a 2D image, got an array of shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidImageError(f"{name}: expected a float image in [0, 1], got dtype {array.dtype}")
    return array


def check_window(window: int, name: str, parameter: str = "window") -> int:
    """Return ``window`` if it is an odd integer ≥ 3, else raise :class:`InvalidParameterError`."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 3 or window % 2 == 0:
        raise InvalidParameterError(f"{name}: {parameter} must be an odd integer >= 3, got {window!r}")
    return int(window)


def check_fits(frames: torch.Tensor, window: int, name: str) -> None:
    """Raise :class:`InvalidImageError` if mirror padding by ``window // 2`` does not fit the frames."""
    height, width = frames.shape[-2:]
    least = window // 2 + 1
    if least > min(height, width):
        raise InvalidImageError(
            f"{name}: a {window}×{window} window needs frames of at least {least}×{least} pixels, "
            f"got {height}×{width}"
        )


def check_positive(value: float, name: str, parameter: str) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise :class:`InvalidParameterError`."""
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameterError(f"{name}: {parameter} must be a positive number, got {value!r}")
    return float(value)


def as_frames(
    image: np.ndarray | torch.Tensor, name: str
) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """Accept a 2D image (numpy or torch) or frames ``[N, 1, H, W]``; return frames and an inverse.

    The inverse turns a result computed on the frames back into the caller's type and shape, so the
    torch filters can be called like the numpy ones on a single 2D array.
    """
    if isinstance(image, np.ndarray):
        check_image_2d(image, name)
        return torch.from_numpy(np.ascontiguousarray(image))[None, None], lambda out: out[0, 0].numpy()
    if isinstance(image, torch.Tensor) and image.ndim == 2:
        check_frames(image[None, None], name)
        return image[None, None], lambda out: out[0, 0]
    check_frames(image, name)
    return image, lambda out: out


def _bind_parameters(name: str, function: Callable[..., Any], params: dict[str, Any]) -> None:
    """Fail early, with the accepted names, if ``params`` do not fit ``function(image, **params)``."""
    signature = inspect.signature(function)
    try:
        signature.bind(None, **params)
    except TypeError as err:
        accepted = ", ".join(list(signature.parameters)[1:]) or "(none)"
        raise InvalidParameterError(f"{name}: {err}; accepted parameters: {accepted}") from None


class NumpyFrameFilter:
    """A Method running a 2D numpy filter on each frame, on the CPU, in float32.

    Args:
        name: the registered method name.
        function: ``function(image_2d, **params) -> image_2d``.
        params: keyword parameters passed to ``function``.
    """

    gpu: ClassVar[bool] = False

    def __init__(self, name: str, function: Callable[..., np.ndarray], **params: Any) -> None:
        _bind_parameters(name, function, params)
        self.name = name
        self.function = function
        self.params = params

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        check_frames(frames, self.name)
        cpu = frames.detach().to("cpu", torch.float32).numpy()
        out = np.empty_like(cpu)
        for i in range(cpu.shape[0]):
            out[i, 0] = self.function(cpu[i, 0], **self.params)
        np.clip(out, 0.0, 1.0, out=out)
        return torch.from_numpy(out).to(device=frames.device, dtype=frames.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.params})"


class TorchFilter:
    """A Method running a batched torch filter on the input's device (GPU when the frames are there).

    Args:
        name: the registered method name.
        function: ``function(frames, **params) -> frames`` on ``[N, 1, H, W]`` tensors.
        params: keyword parameters passed to ``function``.
    """

    gpu: ClassVar[bool] = True

    def __init__(self, name: str, function: Callable[..., torch.Tensor], **params: Any) -> None:
        _bind_parameters(name, function, params)
        self.name = name
        self.function = function
        self.params = params

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        check_frames(frames, self.name)
        with torch.no_grad():
            return self.function(frames, **self.params).clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.params})"


def identity(image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """No filtering: a copy of ``image``, the reference point of every comparison."""
    return image.copy() if isinstance(image, np.ndarray) else image.clone()
