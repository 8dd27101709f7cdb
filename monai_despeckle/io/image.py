"""The in-memory ultrasound image that every part of monai-despeckle passes around."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

# Direction cosines in array order (T, H, W): W along +x, H along +y, T along +z, i.e. an identity
# direction in ITK/NIfTI/NRRD terms, so an image made in memory (a phantom) saves upright.
DEFAULT_DIRECTION = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def float_triple(values: Sequence[float], name: str) -> tuple[float, float, float]:
    """``values`` as three floats, one per array axis (``name`` for the error)."""
    if len(values) != 3:
        raise ValueError(f"{name} must hold 3 values, one per array axis (T, H, W), got {tuple(values)!r}")
    first, second, third = (float(value) for value in values)
    return first, second, third


class ValuesConvertedWarning(UserWarning):
    """Stored values were converted because the output format cannot hold the source's (e.g. float
    values into a 16-bit PNG or DICOM): the warning names the file and the conversion."""


class ImageKind(str, Enum):
    """What the leading axis of :attr:`UltrasoundImage.frames` means."""

    IMAGE = "image"  # a single 2D frame, T == 1
    VOLUME = "volume"  # T slices of a 3D volume
    CINE = "cine"  # T frames of a 2D+t loop


@dataclass(frozen=True)
class IntensityMapping:
    """Affine map between the source's stored values and the [0, 1] float range.

    ``unit = (source - low) / (high - low)``; :meth:`from_unit` inverts it, rounds and clips to
    the source dtype so that a round trip of an unchanged image is lossless for integer data.
    """

    dtype: str
    low: float
    high: float

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """Source values -> float32 in [0, 1]."""
        span = self.high - self.low
        scale = 1.0 / span if span > 0 else 0.0
        out = values.astype(np.float32)  # one float32 copy, then worked on in place
        out -= np.float32(self.low)
        out *= np.float32(scale)
        return np.clip(out, 0.0, 1.0, out=out)

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """float values in [0, 1] -> the source dtype and range."""
        values = unit.astype(np.float64)  # one float64 copy, then worked on in place
        np.clip(values, 0.0, 1.0, out=values)
        values *= self.high - self.low
        values += self.low
        dtype = np.dtype(self.dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            np.clip(np.rint(values, out=values), info.min, info.max, out=values)
        return values.astype(dtype)

    @classmethod
    def for_array(cls, values: np.ndarray) -> IntensityMapping:
        """The natural mapping for an array: the full dtype range for 8-bit data, else min..max."""
        dtype = values.dtype
        if dtype == np.uint8:
            return cls("uint8", 0.0, 255.0)
        if dtype == np.bool_:
            return cls("uint8", 0.0, 1.0)
        low, high = float(values.min()), float(values.max())
        if np.issubdtype(dtype, np.floating) and low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0  # already display-range floats
        return cls(np.dtype(dtype).name, low, high if high > low else low + 1.0)


@dataclass
class UltrasoundImage:
    """Frames of an ultrasound image with their geometry and provenance.

    Attributes:
        frames: float32 array ``[T, H, W]`` with values in [0, 1] (display B-mode).
        spacing: physical size in mm of one step along each array axis ``(T, H, W)``. For a cine
            or a 2D image the first entry is 1.0 (time is in :attr:`frame_time_ms`).
        origin: physical position in mm (LPS, ITK convention) of the centre of voxel ``[0, 0, 0]``.
        direction: 3×3 matrix whose *columns* are the unit physical directions of the array axes
            ``(T, H, W)`` (so ``position = origin + direction @ (index * spacing)``).
        kind: whether the leading axis holds volume slices, cine frames, or a single image.
        frame_time_ms: time between cine frames, if known.
        intensity: how to convert back to the source's stored values.
        metadata: source metadata (format, DICOM header, NIfTI header fields...), kept for saving.
        source: the file or folder it was loaded from, if any.
    """

    frames: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: DEFAULT_DIRECTION.copy())
    kind: ImageKind = ImageKind.IMAGE
    frame_time_ms: float | None = None
    intensity: IntensityMapping = field(default_factory=lambda: IntensityMapping("uint8", 0.0, 255.0))
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3:
            raise ValueError(f"frames must be [T, H, W], got shape {frames.shape}")
        self.frames = frames.astype(np.float32, copy=False)
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        self.spacing = float_triple(self.spacing, "spacing")
        self.origin = float_triple(self.origin, "origin")
        self.kind = ImageKind(self.kind)

    @property
    def num_frames(self) -> int:
        """Number of frames (T)."""
        return int(self.frames.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of one frame."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def with_frames(self, frames: np.ndarray) -> UltrasoundImage:
        """A copy with new frames (same T, H, W) and the same geometry and metadata."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.shape != self.frames.shape:
            raise ValueError(f"new frames have shape {frames.shape}, expected {self.frames.shape}")
        return replace(self, frames=frames, metadata=dict(self.metadata))

    def source_values(self) -> np.ndarray:
        """Frames converted back to the source dtype and range."""
        return self.intensity.from_unit(self.frames)
