"""Run a segmentation bundle on ultrasound frames: 2D images, cine loops, volumes slice by slice.

The bundle's network is loaded like the despeckling bundles' (allow-listed ``network_def`` read
as plain JSON, sha256-verified weights, ``torch.load(weights_only=True)``, strict); its
``inference.json`` also names the input size, the labels and whether to keep the largest
component, and, for a model trained on despeckled images, the despeckling method to apply to
every frame first (``"despeckler"``). Each frame is resized to the network's input exactly as in
training (scikit-image, anti-aliased), predicted together with its left-right mirror (the two
softmax maps averaged), the probabilities resized back to the frame's own size, and the argmax
taken there, so masks have the input's geometry.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import KeepLargestConnectedComponent
from tqdm.auto import tqdm

from monai_despeckle import budget
from monai_despeckle.bundle_format import DESPECKLER_CHECKSUM_KEY, BundleInfo, build_network
from monai_despeckle.data.frames import resize_frame
from monai_despeckle.errors import BundleError, InvalidImageError, InvalidParameterError
from monai_despeckle.inference import Despeckler
from monai_despeckle.io.image import IntensityMapping, UltrasoundImage
from monai_despeckle.resolver import despeckler_checksum, find_bundle
from monai_despeckle.runtime.device import resolve_device
from monai_despeckle.segmentation.tasks import TASKS

__all__ = [
    "Segmenter",
    "label_frames",
    "resolve_segmentation_bundle",
    "warn_if_despeckler_changed",
]

# Memory a frame costs at its own size while it is segmented: its float64 copy and the
# anti-aliasing filter's for the resize to the network's input, then the probabilities resized back
# (float32 per class) and the argmax (int64).
FULL_SIZE_BYTES_PER_PIXEL = 48


def resolve_segmentation_bundle(name: str | Path) -> BundleInfo:
    """A segmentation bundle from a task (``carotid``), a bundle name (``seg_carotid``) or a folder.

    A task stands for its raw (not despeckled) bundle; the rest is the resolver's
    :func:`~monai_despeckle.resolver.find_bundle`.
    """
    text = str(name)
    return find_bundle(TASKS[text].bundle if text in TASKS else name, kind="segment")


def warn_if_despeckler_changed(bundle: BundleInfo, despeckler: str) -> bool:
    """Warn when ``despeckler``'s weights are not those ``bundle`` was trained on; True if they differ.

    A segmenter trained on despeckled frames learnt that despeckler's output: after the despeckler
    is retrained its input looks different and its accuracy is no longer the measured one. The
    bundle's metadata records the weights checksum at installation; bundles without the record
    (or with a classical despeckler, which has no weights) are not checked.
    """
    recorded = bundle.metadata.get(DESPECKLER_CHECKSUM_KEY)
    current = despeckler_checksum(despeckler)
    if not recorded or current is None or recorded == current:
        return False
    warnings.warn(
        f"{bundle.name} was trained on the output of {despeckler!r} weights {str(recorded)[:12]}, "
        f"but the installed {despeckler!r} has weights {str(current)[:12]}: its accuracy is not the "
        f"measured one until it is retrained (python -m monai.bundle run --config_file "
        f"{bundle.path / 'configs' / 'train.json'} --bundle_root {bundle.path})",
        stacklevel=3,
    )
    return True


class Segmenter:
    """Segment ultrasound frames with a segmentation bundle.

    Args:
        bundle: ``"breast"`` / ``"carotid"``, a bundle name (``"seg_breast_lesion"``) or a folder.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``...
        batch_size: frames per forward pass.
        mirror: average the prediction with that of the left-right mirrored frame.
        keep_largest: keep the largest connected component of each label (default: the bundle's).
        progress: show a progress bar over the frames.
    """

    def __init__(
        self,
        bundle: str | Path = "seg_breast_lesion",
        *,
        device: str | torch.device = "auto",
        batch_size: int = 8,
        mirror: bool = True,
        keep_largest: bool | None = None,
        progress: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.bundle = resolve_segmentation_bundle(bundle)
        config = self.bundle.inference_config()
        config_path = self.bundle.path / "configs" / "inference.json"
        labels = config.get("labels")
        if not isinstance(labels, dict) or not labels or not all(isinstance(v, int) for v in labels.values()):
            raise BundleError('inference.json must give "labels": {"name": value, ...}', config_path)
        self.labels: dict[str, int] = {str(k): int(v) for k, v in labels.items()}
        self.size = int(config.get("image_size", 192))
        self.keep_largest = bool(config.get("keep_largest", True) if keep_largest is None else keep_largest)
        self.despeckler_name: str | None = config.get("despeckler") or None
        self.device = resolve_device(device)
        self._despeckler: Despeckler | None = None
        if self.despeckler_name is not None:
            # the despeckling the segmenter was trained on: frames at their own size unless the
            # bundle says otherwise (its shipped networks were trained that way)
            scale = str(config.get("despeckler_scale", "native"))
            self._despeckler = Despeckler(self.despeckler_name, device=self.device, scale=scale)
            warn_if_despeckler_changed(self.bundle, self.despeckler_name)
        self.network = build_network(self.bundle).to(self.device)
        self.batch_size = int(batch_size)
        self.mirror = mirror
        self.progress = progress
        self._largest = KeepLargestConnectedComponent(
            applied_labels=sorted(self.labels.values()), independent=True
        )

    @property
    def name(self) -> str:
        """The bundle's folder name."""
        return self.bundle.name

    @torch.inference_mode()
    def _predict_batch(self, frames: np.ndarray) -> np.ndarray:
        shape = frames.shape[1:]
        resized = np.stack([np.clip(resize_frame(f, (self.size, self.size)), 0.0, 1.0) for f in frames])
        x = torch.from_numpy(resized[:, None].astype(np.float32)).to(self.device)
        if self.mirror:  # the frames and their mirrors in one forward pass
            both = torch.softmax(self.network(torch.cat([x, torch.flip(x, dims=(3,))])).float(), dim=1)
            probabilities = 0.5 * (both[: len(x)] + torch.flip(both[len(x) :], dims=(3,)))
        else:
            probabilities = torch.softmax(self.network(x).float(), dim=1)
        out = np.empty(frames.shape, dtype=np.uint8)
        for index, frame_probabilities in enumerate(probabilities):  # full size, one frame at a time
            full = F.interpolate(frame_probabilities[None], size=shape, mode="bilinear", align_corners=False)
            labels: torch.Tensor | np.ndarray = full.argmax(dim=1)
            del full
            if self.keep_largest:
                labels = self._largest(labels)
            out[index] = torch.as_tensor(labels)[0].to("cpu", torch.uint8).numpy()
        return out

    def frames_per_batch(self, frame_shape: tuple[int, int]) -> int:
        """Frames per forward pass: ``batch_size``, fewer where the method share of the memory budget
        cannot hold them at full size (:data:`FULL_SIZE_BYTES_PER_PIXEL` each)."""
        per_frame = max(1, frame_shape[0] * frame_shape[1]) * FULL_SIZE_BYTES_PER_PIXEL
        return int(max(1, min(self.batch_size, budget.method_budget() // per_frame)))

    def despeckle(self, frames: np.ndarray) -> np.ndarray:
        """The frames as this model expects them: despeckled by the bundle's despeckler, if it has one."""
        if self._despeckler is None:
            return frames
        return self._despeckler.run(UltrasoundImage(frames=frames)).frames

    @staticmethod
    def _check_frames(frames: np.ndarray) -> np.ndarray:
        """float32 ``[T, H, W]`` frames, refusing empty, tiny or non-finite input."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[0] == 0 or min(frames.shape[1:]) < 2:
            raise InvalidImageError(
                f"expected frames [T, H, W] with T >= 1 and H, W >= 2, got {frames.shape}"
            )
        if not np.isfinite(frames).all():
            raise InvalidImageError("frames hold NaN or infinite values")
        return frames

    def _label_frames(self, frames: np.ndarray, bar: tqdm) -> np.ndarray:
        """uint8 label maps of (already despeckled) frames ``[T, H, W]``, ``batch_size`` at a time."""
        out = np.empty(frames.shape, dtype=np.uint8)
        step = self.frames_per_batch(frames.shape[1:])
        for start in range(0, len(frames), step):
            stop = min(start + step, len(frames))
            out[start:stop] = self._predict_batch(frames[start:stop])
            bar.update(stop - start)
        return out

    def predict(self, frames: np.ndarray, *, despeckled: bool = False) -> np.ndarray:
        """uint8 label maps ``[T, H, W]`` of float frames ``[T, H, W]`` (or one ``[H, W]``) in [0, 1].

        Args:
            frames: B-mode frames in [0, 1].
            despeckled: the frames have already been through :meth:`despeckle` (skip it).
        """
        frames = np.asarray(frames, dtype=np.float32)
        single = frames.ndim == 2
        frames = self._check_frames(frames[None] if single else frames)
        if not despeckled:
            frames = self.despeckle(frames)
        with tqdm(total=len(frames), unit="frame", desc=self.name, disable=not self.progress) as bar:
            out = self._label_frames(frames, bar)
        return out[0] if single else out

    def iter_labels(self, chunks: Iterable[np.ndarray], *, total: int | None = None) -> Iterator[np.ndarray]:
        """Label maps of a stream of frame chunks, one uint8 result per chunk, in order.

        Each chunk (float ``[n, H, W]`` in [0, 1]) is despeckled (by the bundle's despeckler, if
        any, through its own streaming :meth:`~monai_despeckle.inference.Despeckler.iter_frames`)
        and segmented before the next is read, so a long cine never sits in memory whole. The
        labels equal those of :meth:`predict` on the whole stack.

        Args:
            chunks: float frame chunks ``[n, H, W]``.
            total: number of frames, for the progress bar.
        """
        checked: Iterator[np.ndarray] = (self._check_frames(chunk) for chunk in chunks)
        if self._despeckler is not None:
            checked = self._despeckler.iter_frames(checked)
        with tqdm(total=total, unit="frame", desc=self.name, disable=not self.progress) as bar:
            for frames in checked:
                yield self._label_frames(frames, bar)

    def run(self, image: UltrasoundImage, axis: int = 0) -> np.ndarray:
        """Label maps of every frame of ``image`` (slices along ``axis``), shaped like its frames."""
        if axis not in (0, 1, 2):
            raise InvalidParameterError(f"axis must be 0, 1 or 2, got {axis!r}")
        frames = np.moveaxis(image.frames, axis, 0)
        return np.moveaxis(self.predict(frames), 0, axis)

    def label_image(self, image: UltrasoundImage, axis: int = 0) -> UltrasoundImage:
        """The label maps as an image with the input's geometry (``io.save`` writes the label values)."""
        return self.label_header(image).with_frames(label_frames(self.run(image, axis=axis)))

    def label_header(self, image: UltrasoundImage) -> UltrasoundImage:
        """``image`` (or a streamed source's header) as the header of its label map.

        Same geometry and kind; uint8 intensities (frame value ``label / 255``, see
        :func:`label_frames`) so that writers store the label values; the labels and the
        segmenter in the metadata.
        """
        return dataclasses.replace(
            image,
            intensity=IntensityMapping("uint8", 0.0, 255.0),
            metadata={"labels": dict(self.labels), "derivation_description": f"segmentation ({self.name})"},
            source=image.source,
        )

    def __repr__(self) -> str:
        return f"Segmenter({self.name!r}, labels={self.labels}, device={self.device})"


def label_frames(labels: np.ndarray) -> np.ndarray:
    """uint8 label maps as the float frames of an image with a :meth:`Segmenter.label_header`."""
    return labels.astype(np.float32) / 255.0
