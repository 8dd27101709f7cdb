"""The inference engine: apply a despeckling Method to every frame of an image, a volume or a file.

:class:`Despeckler` is the one path the CLI, the demo, the Slicer module and the MONAI Label app
use. It resolves a method (a registered name, a network, an exported ONNX/TorchScript file),
chooses the device, precision and batch size, and runs frames through in batches of
``[N, 1, H, W]`` tensors:

- :meth:`Despeckler.run`: an in-memory :class:`UltrasoundImage`, frame by frame along axis 0,
  or slice by slice along axis 1 or 2 of a volume (MONAI's ``SliceInferer``);
- :meth:`Despeckler.iter_frames`: a stream of frame chunks (bounded memory).

A :class:`Despeckler` is a :class:`~monai_despeckle.pipeline.FrameProcessor`: files and folders
go through :func:`~monai_despeckle.pipeline.process_file` and
:func:`~monai_despeckle.pipeline.process_folder`, which stream a long cine a chunk at a time.

A network that knows the speckle grain it was trained at (a bundle's ``speckle_grain``) runs at
that grain: the grain of each stream is measured once on its first frame, the frames are
resampled for the network and its output resampled back (:mod:`monai_despeckle.runtime.scale`);
``scale="native"`` runs frames as they are.

Networks enter as :class:`~monai_despeckle.runtime.NetworkMethod` (re-exported here).
Batches are formed from the global frame order only, so a streamed run and a whole-array run put
the same frames together and give bit-identical output. Geometry and metadata pass through
unchanged.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from monai_despeckle import __version__
from monai_despeckle.budget import tile_shape
from monai_despeckle.defaults import default_method_name
from monai_despeckle.errors import InvalidImageError, InvalidParameterError
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.methods import Method
from monai_despeckle.metrics.speckle_size import SpeckleSize, estimate_speckle_size
from monai_despeckle.options import BACKENDS, SCALE_CHOICES
from monai_despeckle.resolver import FILE, method_spec
from monai_despeckle.runtime import (
    FrameTransfer,
    NetworkMethod,
    choose_batch_size,
    configure_torch,
    cpu_memory_budget,
    gpu_memory_budget,
    measure_bytes_per_frame,
    parse_batch_size,
    resolve_device,
    resolve_precision,
)
from monai_despeckle.runtime.scale import TrainedGrain, resample, resample_factors, resampled_shape
from monai_despeckle.runtime.tiling import run_tiled

logger = logging.getLogger(__name__)

PROBE_SIDE = 256  # CUDA: memory per pixel is measured on a probe of at most this side
AXES = (0, 1, 2)
ONNX_PACKAGES = ("onnxruntime", "onnx", "onnxscript")  # run, and export to, ONNX


def _method_from_reference(
    reference: str,
    params: Mapping[str, Any],
    device: torch.device,
    precision: str,
    backend: str | None,
    **runtime: Any,
) -> tuple[Method, bool]:
    """The method a name, bundle folder or exported file names, and whether it may use a GPU."""
    spec = method_spec(reference)
    device = device if spec.gpu else torch.device("cpu")
    if spec.source == FILE:
        return spec.factory(device=device), True
    built = spec.factory(**params)
    if isinstance(built, nn.Module):
        built = NetworkMethod(
            built, spec.name, device=device, precision=precision, backend=backend or "torch", **runtime
        )
    elif isinstance(built, NetworkMethod):
        built = built.configured(device=device, precision=precision, backend=backend, **runtime)
    return built, spec.gpu


def _fastest_backend(method: Method) -> Method:
    """``backend="auto"``: ONNX Runtime for a shipped network on the CPU, else the method as it is.

    On two CPU cores ONNX Runtime ran the default skip-DAE 2.0× (256²) and 1.4× (512²) faster than
    eager torch and pix2pix 1.5×, and Speckle2Self about as fast (``monai-despeckle benchmark``,
    ``docs/benchmarks.md``); its export is cached per weights
    checksum and checked against the verified network (:mod:`monai_despeckle.runtime.onnx_cache`),
    so only a network built from verified weights (a bundle's) switches, and only where the ONNX
    packages are installed (``monai-despeckle[onnx]``). On a GPU eager torch with mixed precision
    is kept.
    """
    if not (
        isinstance(method, NetworkMethod)
        and method.module is not None
        and method.weights_sha256 is not None
        and method.device.type == "cpu"
        and method.backend.name == "torch"
        and all(importlib.util.find_spec(name) is not None for name in ONNX_PACKAGES)
    ):
        return method
    try:
        return method.configured(backend="onnx")
    except Exception as err:  # an export failure must never stop despeckling: eager torch still works
        warnings.warn(
            f"{method.name}: ONNX Runtime backend unavailable ({err}); using eager torch", stacklevel=3
        )
        return method


def _check_backend(backend: str, method: Method) -> str:
    if backend == "auto":
        return method.backend.name if isinstance(method, NetworkMethod) else "torch"
    if backend not in BACKENDS:
        raise InvalidParameterError(
            f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}"
        )
    if backend != "torch" and not isinstance(method, NetworkMethod):
        raise InvalidParameterError(
            f"backend {backend!r} needs a network; {method.name!r} is not one (use backend 'torch')"
        )
    return backend


class _FrameQueue:
    """Frames ``[n, H, W]`` in arrival order, taken out in counts independent of how they came in."""

    def __init__(self) -> None:
        self._parts: deque[np.ndarray] = deque()
        self.count = 0  # frames held

    def put(self, frames: np.ndarray) -> None:
        """Append ``frames`` ``[n, H, W]`` (held, not copied)."""
        if frames.shape[0]:
            self._parts.append(frames)
            self.count += frames.shape[0]

    def take(self, count: int) -> np.ndarray:
        """Remove and return the first ``count`` frames (a copy only where they span parts)."""
        parts, taken = [], 0
        while taken < count:
            head = self._parts.popleft()
            need = count - taken
            if head.shape[0] > need:
                self._parts.appendleft(head[need:])
                head = head[:need]
            parts.append(head)
            taken += head.shape[0]
        self.count -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _completed(
    layout: deque[tuple[int, bool]], done: _FrameQueue, frame_shape: tuple[int, ...]
) -> Iterator[np.ndarray]:
    """The results of the chunks at the head of ``layout`` whose frames are all ``done``, in order."""
    while layout and done.count >= layout[0][0]:
        size, was_2d = layout.popleft()
        out = done.take(size) if size else np.empty((0, *frame_shape), np.float32)
        yield out[0] if was_2d else out


class Despeckler:
    """Apply a despeckling method to images, frame streams and files.

    Args:
        method: a registered method name (``monai-despeckle methods``), a Method object, a
            network (:class:`torch.nn.Module` with ``size_multiple``), an exported ``.onnx`` /
            TorchScript file, or None for :func:`monai_despeckle.defaults.default_method_name`.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
            Methods that cannot run on a GPU (``MethodSpec.gpu`` False, e.g. the scikit-image
            filters) run on the CPU whatever is asked.
        batch_size: frames per call, or ``"auto"`` (GPU: from free memory and a probe batch;
            CPU: a few megapixels, see :mod:`monai_despeckle.runtime.batch_size`).
        precision: networks only: ``"auto"`` (bf16 if the GPU supports it, else fp16; fp32 on CPU),
            ``"fp32"``, ``"bf16"``, ``"fp16"``. Classical filters always compute in float32.
        backend: networks only: ``"auto"`` (ONNX Runtime for a shipped bundle network on the CPU,
            its export cached after the first use; eager torch otherwise), ``"torch"`` (eager),
            ``"torchscript"`` or ``"onnx"``.
        channels_last: networks only: NHWC layout (default: on CUDA).
        compile: networks only: ``torch.compile`` the module.
        progress: show a tqdm progress bar (frames and frames/s).
        method_params: keyword parameters for the registered method's factory.
        scale: ``"auto"``: a network whose bundle records its training grain runs at that grain
            (each stream's grain measured once, frames resampled for the network and back, see
            :mod:`monai_despeckle.runtime.scale`); ``"native"``: frames run at their own size.
            Methods without a recorded grain (classical filters, exported files) always run
            natively.
    """

    def __init__(
        self,
        method: str | Path | Method | nn.Module | None = None,
        *,
        device: str | torch.device = "auto",
        batch_size: int | str = "auto",
        precision: str = "auto",
        backend: str = "auto",
        channels_last: bool | None = None,
        compile: bool = False,
        progress: bool = False,
        method_params: Mapping[str, Any] | None = None,
        scale: str = "auto",
    ) -> None:
        if scale not in SCALE_CHOICES:
            raise InvalidParameterError(f"unknown scale {scale!r}; choose one of {', '.join(SCALE_CHOICES)}")
        parse_batch_size(batch_size)  # fail early on a bad value
        requested = resolve_device(device)
        resolve_precision(precision, requested)
        runtime = {"channels_last": channels_last, "compile": compile}
        network_backend = None if backend == "auto" else backend  # None: a NetworkMethod keeps its own
        if method is None:
            method = default_method_name()
        if isinstance(method, (str, Path)):
            resolved, may_use_gpu = _method_from_reference(
                str(method), method_params or {}, requested, precision, network_backend, **runtime
            )
        elif isinstance(method, NetworkMethod):
            resolved, may_use_gpu = (
                method.configured(device=requested, precision=precision, backend=network_backend, **runtime),
                True,
            )
        elif isinstance(method, nn.Module):
            resolved = NetworkMethod(
                method,
                type(method).__name__,
                device=requested,
                precision=precision,
                backend=network_backend or "torch",
                channels_last=channels_last,
                compile=compile,
            )
            may_use_gpu = True
        elif callable(method) and hasattr(method, "name"):
            resolved, may_use_gpu = method, bool(getattr(method, "gpu", True))
        else:
            raise InvalidParameterError(f"not a despeckling method: {method!r}")
        if backend == "auto":
            resolved = _fastest_backend(resolved)
        self.backend = _check_backend(backend, resolved)
        self.method: Method = resolved
        self.device = requested if may_use_gpu else torch.device("cpu")
        self.precision = resolved.precision if isinstance(resolved, NetworkMethod) else "fp32"
        self.progress = progress
        self.scale = scale
        grain = getattr(resolved, "trained_grain", None) if scale == "auto" else None
        self.trained_grain: TrainedGrain | None = grain if isinstance(grain, TrainedGrain) else None
        self.last_grain: SpeckleSize | None = None  # measured on the latest stream (None: not measured)
        # the frame shape the network ran the latest stream at (None: the stream's own)
        self.last_network_shape: tuple[int, int] | None = None
        self._batch_request = batch_size
        self._plans: dict[tuple[int, int], tuple[int, tuple[int, int] | None]] = {}
        self._transfer = FrameTransfer(self.device)
        self.frames_processed = 0  # frames (or slices) despeckled so far, for rate reports
        configure_torch(self.device)

    @property
    def name(self) -> str:
        """The method's name."""
        return self.method.name

    def describe(self) -> dict[str, Any]:
        """Method, device, precision, backend and requested batch size (for logs and reports)."""
        return {
            "method": self.name,
            "device": str(self.device),
            "precision": self.precision,
            "backend": self.backend,
            "batch_size": self._batch_request,
            "scale": self.scale if self.trained_grain is not None else "native",
        }

    def batch_size_for(self, frame_shape: tuple[int, int]) -> int:
        """The batch size used for frames of ``frame_shape`` (chosen once per shape).

        ``"auto"``: on CUDA from the free memory and the memory per pixel measured on a probe
        batch; for a network on the CPU from the method's share of the memory budget and its
        estimated activation memory; else a few megapixels. Frames processed in tiles (see
        :meth:`tile_for`) go one at a time.
        """
        return self._plan(frame_shape)[0]

    def tile_for(self, frame_shape: tuple[int, int]) -> tuple[int, int] | None:
        """The tile (h, w) frames of ``frame_shape`` are processed in, or None for whole frames.

        A network's frame is tiled when its memory for the frame exceeds the method's share of the
        budget (:func:`monai_despeckle.budget.tile_shape`): activations estimated on the CPU,
        measured on CUDA. Classical filters always see whole frames (some estimate their noise
        level from the whole frame, which tiles would change).
        """
        return self._plan(frame_shape)[1]

    def _method_bytes_per_pixel(self, frame_shape: tuple[int, int]) -> float | None:
        """The method's working memory per pixel, or None where it is not known (a CPU filter)."""
        if self.device.type == "cuda":
            probe = (min(frame_shape[0], PROBE_SIDE), min(frame_shape[1], PROBE_SIDE))
            return measure_bytes_per_frame(self.method, probe, self.device) / (probe[0] * probe[1])
        if isinstance(self.method, NetworkMethod):
            return float(self.method.activation_bytes_per_pixel)
        return None

    def _plan(self, frame_shape: tuple[int, int]) -> tuple[int, tuple[int, int] | None]:
        key = (int(frame_shape[0]), int(frame_shape[1]))
        if key not in self._plans:
            per_pixel = self._method_bytes_per_pixel(key)
            multiple = self.method.size_multiple if isinstance(self.method, NetworkMethod) else 1
            padded = math.ceil(key[0] / multiple) * multiple * math.ceil(key[1] / multiple) * multiple
            tile = None
            if per_pixel is not None and isinstance(self.method, NetworkMethod):
                allowed = (
                    gpu_memory_budget(self.device) if self.device.type == "cuda" else cpu_memory_budget()
                )
                tile = tile_shape(key, per_pixel, multiple, allowed=allowed)
            if tile is not None and parse_batch_size(self._batch_request) is None:
                batch = 1
            else:
                per_frame = None if per_pixel is None else int(per_pixel * padded)
                batch = choose_batch_size(self._batch_request, self.device, key, bytes_per_frame=per_frame)
            self._plans[key] = (batch, tile)
        return self._plans[key]

    def network_shape(self, frames: np.ndarray) -> tuple[int, int] | None:
        """The frame shape the network runs ``frames`` at, or None to run them as they are.

        Measures the speckle grain of ``frames`` (``[n, H, W]``, a stream's first frame; see
        :func:`~monai_despeckle.metrics.speckle_size.estimate_speckle_size`) and resamples the
        axes the trained grain allows into its range. Frames whose grain cannot be measured (too
        small, no texture) run as they are.
        """
        self.last_grain = None  # never a previous stream's
        if self.trained_grain is None or frames.shape[0] == 0:
            return None
        try:
            grain = estimate_speckle_size(frames)
        except InvalidImageError as err:
            logger.debug(
                "%s: speckle grain not measurable (%s); frames run at their own size", self.name, err
            )
            return None
        self.last_grain = grain
        factors = resample_factors(grain.axial_px, grain.lateral_px, self.trained_grain)
        shape = resampled_shape((int(frames.shape[1]), int(frames.shape[2])), factors)
        native = (int(frames.shape[1]), int(frames.shape[2]))
        # debug: evaluate would log it for every frame; denoise prints the grain in its summary
        logger.debug(
            "%s: speckle grain %.1f x %.1f px (axial x lateral); network runs at %s for %s",
            self.name,
            grain.axial_px,
            grain.lateral_px,
            "x".join(map(str, shape)),
            "x".join(map(str, native)),
        )
        return None if shape == native else shape

    def _process(self, batch: np.ndarray, network_shape: tuple[int, int] | None = None) -> np.ndarray:
        if network_shape is not None:
            return self._process_resampled(batch, network_shape)
        tile = self.tile_for(batch.shape[1:])
        if tile is None:
            frames = self._transfer.to_device(batch)
            return self._transfer.to_host(self._checked(self.method(frames), frames))
        frames = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).unsqueeze(1)
        blended = run_tiled(self.method, frames, tile)  # a fresh tensor: clamped in place
        return self._transfer.to_host(self._checked(blended, frames, in_place=True))

    def _process_resampled(self, batch: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The method on ``batch`` resampled to ``shape``, its output resampled back."""
        frames = self._transfer.to_device(batch)
        small = resample(frames, shape)
        tile = self.tile_for(shape)
        if tile is None:
            result = self._checked(self.method(small), small)
        else:
            small = small.cpu()
            result = self._checked(run_tiled(self.method, small, tile), small, in_place=True)
        back = resample(result.to(frames.device), (int(batch.shape[1]), int(batch.shape[2])))
        return self._transfer.to_host(back.clamp_(0.0, 1.0))

    def _apply(self, frames: torch.Tensor) -> torch.Tensor:
        """The method on one batch on the compute device, checked and clamped to [0, 1]."""
        return self._checked(self.method(frames), frames)

    def _checked(self, result: torch.Tensor, frames: torch.Tensor, *, in_place: bool = False) -> torch.Tensor:
        """``result`` of the method on ``frames``: same shape (else an error), clamped to [0, 1]."""
        if result.shape != frames.shape:
            raise InvalidParameterError(
                f"method {self.name!r} changed the frame shape {list(frames.shape)} -> {list(result.shape)}"
            )
        self.frames_processed += frames.shape[0]
        return result.clamp_(0.0, 1.0) if in_place else result.clamp(0.0, 1.0)

    def iter_frames(
        self, chunks: Iterable[np.ndarray], *, total: int | None = None, progress: bool | None = None
    ) -> Iterator[np.ndarray]:
        """Despeckle a stream of frames, yielding one result per input chunk, in order.

        Frames are regrouped into batches by their position in the stream (frames 0..B-1,
        B..2B-1, ...), independent of how the stream is cut into chunks, so any chunking gives the
        same output. At most one chunk plus one batch is held in memory.

        Args:
            chunks: float arrays in [0, 1], each one frame ``[H, W]`` or a chunk ``[n, H, W]``.
            total: number of frames, for the progress bar.
            progress: show a progress bar over the frames (default: :attr:`progress`).

        Yields:
            float32 arrays of the same shapes as the inputs.

        Raises:
            InvalidImageError: a chunk that is not float ``[H, W]`` / ``[n, H, W]``.
        """
        show = self.progress if progress is None else progress
        network_shapes: dict[tuple[int, ...], tuple[int, int] | None] = {}  # per frame size, measured once
        pending = _FrameQueue()  # input frames not yet in a batch
        done = _FrameQueue()  # results not yet handed out
        layout: deque[tuple[int, bool]] = deque()  # (frames, was 2-D) of each chunk not yet yielded
        shape: tuple[int, ...] = ()
        with tqdm(total=total, unit="frame", desc=self.name, disable=not show) as bar:
            for chunk in chunks:
                frames = np.asarray(chunk)
                if frames.ndim not in (2, 3) or not np.issubdtype(frames.dtype, np.floating):
                    raise InvalidImageError(
                        f"expected float frames [H, W] or [n, H, W] in [0, 1], got {frames.dtype} "
                        f"{list(frames.shape)}"
                    )
                was_2d = frames.ndim == 2
                frames = frames[None] if was_2d else frames
                if shape and frames.shape[1:] != shape[1:] and pending.count:  # a new size: finish the old
                    self._run_batches(pending, done, pending.count, network_shapes[shape[1:]], bar)
                shape = frames.shape
                if shape[1:] not in network_shapes and frames.shape[0]:
                    # the stream's first frame of this size alone: any chunking measures the same
                    network_shapes[shape[1:]] = self.network_shape(frames[:1])
                    self.last_network_shape = network_shapes[shape[1:]]
                layout.append((frames.shape[0], was_2d))
                pending.put(frames.astype(np.float32, copy=False))
                if pending.count:
                    batch = self.batch_size_for(frames.shape[1:])
                    self._run_batches(pending, done, batch, network_shapes[shape[1:]], bar)
                yield from _completed(layout, done, shape[1:])
            if pending.count:
                self._run_batches(pending, done, pending.count, network_shapes[shape[1:]], bar)
            yield from _completed(layout, done, shape[1:])

    def _run_batches(
        self,
        pending: _FrameQueue,
        done: _FrameQueue,
        batch: int,
        network_shape: tuple[int, int] | None,
        bar: tqdm,
    ) -> None:
        """Move whole batches of ``batch`` frames from ``pending`` through the method into ``done``.

        Frames short of a batch stay pending; ``batch=pending.count`` runs them all.
        """
        while batch and pending.count >= batch:
            done.put(self._process(pending.take(batch), network_shape))
            bar.update(batch)

    def run_frames(self, frames: np.ndarray) -> np.ndarray:
        """Despeckle float frames ``[n, H, W]`` in [0, 1] held in memory; float32 of the same shape."""
        array = np.asarray(frames)
        if array.ndim != 3:
            raise InvalidImageError(f"expected frames [n, H, W], got {list(array.shape)}")
        return self._run_frames(array, self.progress)

    def _run_frames(self, frames: np.ndarray, progress: bool) -> np.ndarray:
        out = np.empty(frames.shape, dtype=np.float32)
        step = self.batch_size_for(frames.shape[1:])
        starts = range(0, frames.shape[0], step)
        chunks = (frames[start : start + step] for start in starts)
        results = self.iter_frames(chunks, total=frames.shape[0], progress=progress)
        for start, result in zip(starts, results, strict=True):
            out[start : start + result.shape[0]] = result
        return out

    def _run_along(self, frames: np.ndarray, axis: int, progress: bool) -> np.ndarray:
        """Every slice ``frames.take(i, axis)`` through the method, with MONAI's ``SliceInferer``.

        ``SliceInferer`` cuts the volume into 2-D slices along ``spatial_dim``, batches them
        (``sw_batch_size``), moves them to the compute device and writes the results back in place.
        Each window is a whole slice (``roi_size`` = slice shape) and windows are blended with
        constant weight 1, so the result is exactly the method's output on each slice.
        """
        slice_shape = tuple(size for dim, size in enumerate(frames.shape) if dim != axis)
        from monai.inferers import SliceInferer  # here: MONAI takes seconds to import; only axis 1/2 need it

        inferer = SliceInferer(
            spatial_dim=axis,
            roi_size=slice_shape,
            sw_batch_size=self.batch_size_for(slice_shape),
            overlap=0.0,
            mode="constant",
            sw_device=self.device,
            device=torch.device("cpu"),
            progress=progress,
        )
        volume = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[None, None]
        with torch.inference_mode():
            result = inferer(volume, self._apply)
        return torch.as_tensor(result)[0, 0].to(torch.float32).numpy()

    def run(self, image: UltrasoundImage, axis: int = 0, *, progress: bool | None = None) -> UltrasoundImage:
        """Despeckle every frame of ``image`` (2-D image, cine, or volume slices).

        Args:
            image: frames ``[T, H, W]`` in [0, 1].
            axis: 0 processes each ``[H, W]`` frame (the frames of a cine, the slices of a volume
                along T); 1 or 2 reslice a volume and process each ``[T, W]`` or ``[T, H]`` slice,
                then put the result back in ``[T, H, W]`` order.
            progress: show a progress bar (default: :attr:`progress`).

        Returns:
            A new image with the same geometry, kind, intensity mapping and metadata (plus a
            ``derivation_description`` naming the method, which the DICOM writer records).

        Raises:
            InvalidParameterError: bad axis, or axis 1/2 on an image with a single frame.
        """
        show = self.progress if progress is None else progress
        if axis not in AXES:
            raise InvalidParameterError(f"axis must be 0, 1 or 2, got {axis!r}")
        if axis == 0:
            out = self._run_frames(image.frames, show)
        else:
            if image.num_frames < 2:
                raise InvalidParameterError(
                    f"axis {axis} processes slices across the frames, but the image has a single frame"
                )
            out = self._run_along(image.frames, axis, show)
        return self.output_header(image).with_frames(out)

    process_image = run  # the name a FrameProcessor gives it (monai_despeckle.pipeline)

    def output_header(self, header: UltrasoundImage) -> UltrasoundImage:
        """``header`` with a ``derivation_description`` naming the method in its metadata."""
        metadata = {**header.metadata, "derivation_description": self.derivation_description()}
        return dataclasses.replace(header, metadata=metadata)

    def derivation_description(self) -> str:
        """What was done, for the output's provenance (DICOM Derivation Description)."""
        return f"Speckle reduction ({self.name}) by monai-despeckle {__version__}"

    def __repr__(self) -> str:
        return f"Despeckler({self.method!r}, device={self.device}, backend={self.backend})"


def despeckle(
    image: UltrasoundImage,
    method: str | Method | nn.Module,
    *,
    batch_size: int | str = 8,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> UltrasoundImage:
    """Apply ``method`` to every frame of ``image``; a shortcut for ``Despeckler(...).run(image)``.

    Args:
        image: the input; its frames are float32 ``[T, H, W]`` in [0, 1].
        method: a registered method name, a Method object, or a network.
        batch_size: frames per call of the method (or ``"auto"``).
        device: where the method runs (``"auto"``: CUDA if available).
        progress: show a progress bar (frames).
    """
    return Despeckler(method, device=device, batch_size=batch_size, progress=progress).run(image)


__all__ = ["Despeckler", "NetworkMethod", "despeckle"]
