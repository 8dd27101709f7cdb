"""A despeckling network as a Method: padding to its size multiple, device, precision, layout, backend.

:class:`NetworkMethod` is how every network (a module in memory, a registered bundle, an exported
ONNX / TorchScript file) enters the method registry and the inference engine.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from monai_despeckle.errors import InvalidImageError, InvalidParameterError
from monai_despeckle.options import BACKENDS
from monai_despeckle.runtime.backends import Backend, load_backend
from monai_despeckle.runtime.batch_size import ACTIVATION_BYTES_PER_PIXEL, estimate_activation_bytes_per_pixel
from monai_despeckle.runtime.conversion import build_backend
from monai_despeckle.runtime.device import precision_name, resolve_device, resolve_precision
from monai_despeckle.runtime.onnx_cache import cached_onnx_backend
from monai_despeckle.runtime.padding import crop_back, pad_to_multiple
from monai_despeckle.runtime.scale import TrainedGrain


class NetworkMethod:
    """A Method wrapping a despeckling network: padding, device, precision, layout, backend.

    The network maps ``[N, 1, H, W]`` float in [0, 1] to the same shape; its ``size_multiple``
    attribute (H and W must be multiples of it) is honoured by reflect-padding and cropping back.
    The result is clamped to [0, 1], cast to float32 and returned on the input's device.

    Args:
        module: the network (moved to ``device`` and put in eval mode).
        name: the method name (registry name, or the network's class name).
        size_multiple: overrides ``module.size_multiple`` (default: that attribute, else 1).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... (see :func:`~monai_despeckle.runtime.resolve_device`).
        precision: ``"auto"`` (bf16/fp16 autocast on CUDA, fp32 on CPU), ``"fp32"``, ``"bf16"``, ``"fp16"``.
        backend: ``"torch"`` (eager), ``"torchscript"`` (traced) or ``"onnx"`` (ONNX Runtime).
        channels_last: NHWC memory layout; default: on CUDA only.
        compile: ``torch.compile`` the network (torch backend).
        weights_sha256: sha256 of the checksum-verified weights ``module`` was built from (a
            bundle's): the ONNX backend then exports once into the cache folder and reuses the
            file while it still reproduces this network (see
            :mod:`~monai_despeckle.runtime.onnx_cache`); None exports in memory every time.
        trained_grain: the speckle grain of the network's training inputs (a bundle's metadata
            records it); the inference engine then resamples frames to it
            (:mod:`~monai_despeckle.runtime.scale`). None: frames run at their own size.
    """

    gpu = True

    def __init__(
        self,
        module: nn.Module,
        name: str,
        *,
        size_multiple: int | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        backend: str = "torch",
        channels_last: bool | None = None,
        compile: bool = False,
        weights_sha256: str | None = None,
        trained_grain: TrainedGrain | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise InvalidParameterError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.name = name
        self.module: nn.Module | None = module  # None: an exported file runs (from_file)
        self.path: Path | None = None
        self._activation_bytes: float | None = None
        self.size_multiple = int(size_multiple or getattr(module, "size_multiple", 1) or 1)
        self.device = resolve_device(device)
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.compile = compile
        self.weights_sha256 = weights_sha256
        self.trained_grain = trained_grain
        self._precision_request = precision
        self.dtype = resolve_precision(precision, self.device)
        if backend == "onnx" and weights_sha256 is not None:
            self.backend: Backend = cached_onnx_backend(
                module, self.device, self.size_multiple, weights_sha256, name=name
            )
        else:
            self.backend = build_backend(
                backend,
                module,
                self.device,
                self.size_multiple,
                channels_last=self.channels_last,
                compile=compile,
            )

    @classmethod
    def from_file(
        cls, path: str | Path, *, name: str | None = None, device: str | torch.device = "auto"
    ) -> NetworkMethod:
        """A method running an exported ``.onnx`` or TorchScript file (see :mod:`monai_despeckle.export`).

        Raises:
            InputNotFoundError, CorruptFileError: naming the file.
        """
        method = cls.__new__(cls)
        method.name = name or Path(path).stem
        method.module = None
        method.path = Path(path)
        method._activation_bytes = None
        method.device = resolve_device(device)
        method.channels_last = False
        method.compile = False
        method.weights_sha256 = None
        method.trained_grain = None  # an exported file carries no bundle metadata
        method._precision_request = "fp32"
        method.dtype = torch.float32
        method.backend, method.size_multiple = load_backend(path, method.device)
        return method

    def configured(
        self,
        *,
        device: str | torch.device | None = None,
        precision: str | None = None,
        backend: str | None = None,
        channels_last: bool | None = None,
        compile: bool | None = None,
    ) -> NetworkMethod:
        """The same network with other runtime settings (None keeps the current one).

        The module is shared (and moved to the new device); a file-based method can only change
        device.
        """
        if self.module is None:
            if backend not in (None, self.backend.name):
                raise InvalidParameterError(
                    f"{self.path} is an exported {self.backend.name} model; it cannot run on the "
                    f"{backend} backend"
                )
            if device is None or resolve_device(device) == self.device:
                return self
            assert self.path is not None  # a method without a module runs a file (from_file)
            return NetworkMethod.from_file(self.path, name=self.name, device=device)
        return NetworkMethod(
            self.module,
            self.name,
            size_multiple=self.size_multiple,
            device=self.device if device is None else device,
            precision=self._precision_request if precision is None else precision,
            backend=self.backend.name if backend is None else backend,
            channels_last=channels_last,
            compile=self.compile if compile is None else compile,
            weights_sha256=self.weights_sha256,
            trained_grain=self.trained_grain,
        )

    @property
    def activation_bytes_per_pixel(self) -> float:
        """Estimated memory of the network's layer outputs per input pixel (for batch sizing)."""
        if self._activation_bytes is None:
            self._activation_bytes = (
                estimate_activation_bytes_per_pixel(self.module, self.size_multiple)
                if self.module is not None
                else float(ACTIVATION_BYTES_PER_PIXEL)  # an exported file: no layers to inspect
            )
        return self._activation_bytes

    @property
    def precision(self) -> str:
        """The compute precision actually used: ``"fp32"``, ``"bf16"`` or ``"fp16"``."""
        return precision_name(self.dtype) if self.backend.supports_autocast else "fp32"

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[1] != 1 or not frames.is_floating_point():
            raise InvalidImageError(
                f"{self.name}: expected float frames [N, 1, H, W], got {frames.dtype} {list(frames.shape)}"
            )
        x = frames.to(self.device, torch.float32, non_blocking=True)
        x, crop = pad_to_multiple(x, self.size_multiple)
        autocast = self.backend.supports_autocast and self.dtype != torch.float32
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype, enabled=autocast):
            y = self.backend(x)
        if y.shape != x.shape:
            raise InvalidParameterError(
                f"network {self.name!r} changed the frame shape {list(x.shape)} -> {list(y.shape)}; a "
                "despeckling network must return frames of the size it is given",
                self.path,
            )
        y = crop_back(y, crop).to(torch.float32).clamp(0.0, 1.0).contiguous()
        return y.to(frames.device)

    def __repr__(self) -> str:
        return (
            f"NetworkMethod({self.name!r}, backend={self.backend.name}, device={self.device}, "
            f"precision={self.precision}, size_multiple={self.size_multiple})"
        )
