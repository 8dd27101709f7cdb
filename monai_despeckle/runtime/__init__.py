"""Inference runtime: device and precision choice, batch sizing, padding, transfers, backends, the
conversion of a network into a backend (and its cached ONNX export), and the network Method built
from them.

:mod:`monai_despeckle.inference` builds on these. Nothing here knows about images, files, method
names or bundles: it imports no module of the application above it (a test walks the imports).
"""

from monai_despeckle.options import BACKENDS, DEVICE_CHOICES, PRECISION_CHOICES
from monai_despeckle.runtime.backends import (
    Backend,
    OnnxBackend,
    TorchBackend,
    TorchScriptBackend,
    is_exported_model,
    load_backend,
)
from monai_despeckle.runtime.batch_size import (
    ACTIVATION_BYTES_PER_PIXEL,
    choose_batch_size,
    cpu_memory_budget,
    estimate_activation_bytes_per_pixel,
    gpu_memory_budget,
    measure_bytes_per_frame,
    parse_batch_size,
)
from monai_despeckle.runtime.conversion import build_backend
from monai_despeckle.runtime.device import (
    configure_torch,
    cpu_threads,
    precision_name,
    resolve_device,
    resolve_precision,
)
from monai_despeckle.runtime.memory import PeakMemory
from monai_despeckle.runtime.network_method import NetworkMethod
from monai_despeckle.runtime.onnx_cache import CACHE_ENV, cache_dir, cached_onnx_backend
from monai_despeckle.runtime.padding import crop_back, pad_to_multiple
from monai_despeckle.runtime.transfer import FrameTransfer

__all__ = [
    "ACTIVATION_BYTES_PER_PIXEL",
    "BACKENDS",
    "CACHE_ENV",
    "DEVICE_CHOICES",
    "PRECISION_CHOICES",
    "Backend",
    "FrameTransfer",
    "NetworkMethod",
    "OnnxBackend",
    "PeakMemory",
    "TorchBackend",
    "TorchScriptBackend",
    "build_backend",
    "cache_dir",
    "cached_onnx_backend",
    "choose_batch_size",
    "configure_torch",
    "cpu_memory_budget",
    "cpu_threads",
    "crop_back",
    "estimate_activation_bytes_per_pixel",
    "gpu_memory_budget",
    "is_exported_model",
    "load_backend",
    "measure_bytes_per_frame",
    "pad_to_multiple",
    "parse_batch_size",
    "precision_name",
    "resolve_device",
    "resolve_precision",
]
