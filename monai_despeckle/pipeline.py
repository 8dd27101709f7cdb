"""The one frame pipeline: run a :class:`FrameProcessor` over an image file or a folder of files.

Every command and front end that turns files into files goes through :func:`process_file` and
:func:`process_folder`, whatever the processor does to the frames (despeckle them,
:class:`~monai_despeckle.inference.Despeckler`; segment them,
:class:`~monai_despeckle.segmentation.Segmenter`; anything else that has the protocol's members).
They own, once for all processors:

- the checks: the input exists and is readable, the output may be written and is never the input;
- staging: outputs are written to a hidden folder and renamed into place when complete, so a
  failure or a stop leaves nothing behind (:func:`~monai_despeckle.io.safe_write.staged_output`);
- streaming along axis 0: frames are read, processed and written a chunk at a time, with reading
  and writing overlapped with the processing (:mod:`monai_despeckle.io.streaming.overlap`) where
  the memory budget holds every chunk in flight (``chunk_frames="auto"``);
- the byte budget: chunk sizes from :mod:`monai_despeckle.budget`;
- one progress bar: over the frames of a file, or over the files of a folder;
- clean stops: SIGTERM and SIGHUP unwind like Ctrl-C (:mod:`monai_despeckle.stop_signals`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from monai_despeckle import io
from monai_despeckle.budget import chunk_frames as budget_chunk_frames
from monai_despeckle.budget import overlapped_chunk_frames, parse_chunk_frames
from monai_despeckle.data.folders import image_files
from monai_despeckle.errors import DespeckleError, InvalidImageError, OutputPathError, naming_file
from monai_despeckle.io.image import UltrasoundImage
from monai_despeckle.io.registry import BY_SUFFIX, suffix_of
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.streaming import FrameSource, open_sink, open_source
from monai_despeckle.io.streaming.overlap import WriteBehind, read_ahead
from monai_despeckle.io.validation import check_input_path
from monai_despeckle.options import DEFAULT_CHUNK_FRAMES
from monai_despeckle.stop_signals import stop_signals_raise

__all__ = [
    "CHUNKS_IN_FLIGHT",
    "FrameProcessor",
    "chunk_frames_for",
    "folder_job",
    "process_file",
    "process_folder",
    "same_name",
]

# with reading and writing overlapped: a chunk being decoded, one read ahead, one processed, one
# queued for writing and one being written
CHUNKS_IN_FLIGHT = 5


@runtime_checkable
class FrameProcessor(Protocol):
    """Frames in, frames out, and the header of the output image.

    Output frames are float in [0, 1] for the :meth:`output_header`'s intensity mapping (the
    writers convert them to its dtype), one output chunk per input chunk, of the same shape.
    """

    @property
    def name(self) -> str:
        """What runs (a method or a bundle), for progress bars and reports."""

    @property
    def progress(self) -> bool:
        """Whether a progress bar is shown when a call does not say."""

    @property
    def frames_processed(self) -> int:
        """Frames (or slices) processed so far, for rate reports."""

    def output_header(self, header: UltrasoundImage) -> UltrasoundImage:
        """The output image's header (geometry, intensity mapping, metadata) for an input's."""

    def iter_frames(
        self, chunks: Iterable[np.ndarray], *, total: int | None = None, progress: bool | None = None
    ) -> Iterator[np.ndarray]:
        """The output frames of a stream of float chunks ``[n, H, W]``, one per chunk, in order."""

    def process_image(
        self, image: UltrasoundImage, axis: int = 0, *, progress: bool | None = None
    ) -> UltrasoundImage:
        """The output image of a whole image, slice by slice along ``axis`` (0, 1 or 2)."""


def same_name(source: Path) -> str:
    """The output file name of ``source`` in an output folder: its own name."""
    return source.name


def chunk_frames_for(header: UltrasoundImage, requested: int | str = DEFAULT_CHUNK_FRAMES) -> int:
    """Frames per chunk for a streamed image: ``requested``, or from the memory budget if ``"auto"``."""
    return budget_chunk_frames(header.frame_shape, np.dtype(header.intensity.dtype).itemsize, requested)


def folder_job(source: str | Path, output: str | Path) -> tuple[Path, Path, list[Path]]:
    """Check a folder-to-folder job: ``source`` a folder holding image files, ``output`` not a file name.

    Returns:
        The source folder, the output folder and the image files to process.
    """
    source = check_input_path(Path(source))
    output = Path(output)
    if not source.is_dir():
        raise InvalidImageError("expected a folder of image files", source)
    if suffix_of(output) in BY_SUFFIX:
        raise OutputPathError("a folder of inputs needs an output folder, not a file", output)
    files = image_files(source)
    if not files:
        raise InvalidImageError("folder holds no image files (use --frames for a folder of frames)", source)
    return source, output, files


def process_file(
    processor: FrameProcessor,
    source: str | Path,
    output: str | Path,
    *,
    axis: int = 0,
    chunk_frames: int | str = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
    progress: bool | None = None,
) -> Path:
    """Run ``processor`` over an image file (or frames folder) into ``output``.

    Along axis 0 frames are read, processed and written a chunk at a time where the format allows
    (see :mod:`monai_despeckle.io.streaming`); axis 1 or 2 needs the whole volume in memory. The
    output is staged and renamed into place: on any error or stop nothing is left at ``output``,
    and the input is never written.

    Args:
        processor: what is done to the frames.
        source: the input file or frames folder.
        output: the output file (format from its suffix) or folder.
        axis: 0 processes each ``[H, W]`` frame; 1 or 2 each ``[T, W]`` or ``[T, H]`` slice.
        chunk_frames: frames per chunk, or ``"auto"``: as many as the memory budget's chunk share
            holds, with reading and writing overlapped with the processing.
        overwrite: replace an existing output (never the input).
        progress: show a progress bar over the frames (default: the processor's setting).

    Returns:
        The output path.

    Raises:
        DespeckleError: a subclass naming the file (missing, corrupt, unsupported, output not
            allowed, out of memory...).
    """
    parse_chunk_frames(chunk_frames)
    show = processor.progress if progress is None else progress
    with stop_signals_raise():
        return _process_file(processor, source, output, axis, chunk_frames, overwrite, show)


def _process_file(
    processor: FrameProcessor,
    source: str | Path,
    output: str | Path,
    axis: int,
    chunk_frames: int | str,
    overwrite: bool,
    progress: bool,
) -> Path:
    """:func:`process_file` within the caller's stop-signal handlers."""
    with naming_file(source):
        if axis != 0:
            image = processor.process_image(io.load(source), axis, progress=progress)
            return io.save(image, output, overwrite=overwrite)
        with (
            open_source(source) as frames,
            open_sink(output, processor.output_header(frames.header), overwrite=overwrite) as sink,
            _streamed(frames, sink.write, chunk_frames) as (chunks, write),
        ):
            for processed in processor.iter_frames(chunks, total=frames.num_frames, progress=progress):
                write(processed)
    return Path(output)


@contextlib.contextmanager
def _streamed(
    frames: FrameSource, write: Callable[[np.ndarray], None], chunk_frames: int | str
) -> Iterator[tuple[Iterator[np.ndarray], Callable[[np.ndarray], None]]]:
    """The chunks of ``frames`` and a writer: overlapped in background threads where the budget
    holds :data:`CHUNKS_IN_FLIGHT` chunks (``chunk_frames="auto"``), else read and written in turn.

    On leaving, both threads are stopped and joined before the sink is finished or removed.
    """
    overlapped = None
    if chunk_frames == "auto":
        itemsize = np.dtype(frames.header.intensity.dtype).itemsize
        overlapped = overlapped_chunk_frames(frames.frame_shape, itemsize, CHUNKS_IN_FLIGHT)
    if overlapped is None:
        yield iter(frames.iter_chunks(chunk_frames_for(frames.header, chunk_frames))), write
        return
    with (
        WriteBehind(write) as behind,
        contextlib.closing(read_ahead(frames.iter_chunks(overlapped))) as ahead,
    ):
        yield ahead, behind


def process_folder(
    processor: FrameProcessor,
    source: str | Path,
    output: str | Path,
    *,
    output_name: Callable[[Path], str] = same_name,
    axis: int = 0,
    chunk_frames: int | str = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
    skip_errors: bool = False,
    progress: bool | None = None,
) -> int:
    """Run ``processor`` over every image file of ``source`` into the folder ``output``.

    Each file goes through :func:`process_file` into ``output / output_name(file)``. The output
    folder is staged and renamed into place only when every file is done, so a failure leaves
    nothing behind; ``source`` is never written to.

    Args:
        processor: what is done to the frames.
        source: folder of image files (see :func:`monai_despeckle.data.folders.image_files`).
        output: output folder (must not exist unless ``overwrite``).
        output_name: the output file name of an input file (default: the same name).
        axis, chunk_frames: see :func:`process_file`.
        overwrite: replace an existing ``output``.
        skip_errors: warn about and skip files that cannot be processed instead of stopping.
        progress: show one progress bar over the files, with the frame rate (default: the
            processor's setting).

    Returns:
        The number of files written.
    """
    parse_chunk_frames(chunk_frames)
    source, output, files = folder_job(source, output)
    show = processor.progress if progress is None else progress
    done, skipped = 0, 0
    with (  # one set of stop-signal handlers over the folder: a repeated signal never cuts its cleanup
        stop_signals_raise(),
        staged_output(output, protected=[source], overwrite=overwrite) as staging,
        tqdm(files, unit="file", desc=processor.name, disable=not show) as bar,
    ):
        staging.mkdir()
        start, first = time.perf_counter(), processor.frames_processed
        for file in bar:
            try:
                _process_file(processor, file, staging / output_name(file), axis, chunk_frames, False, False)
                done += 1
            except DespeckleError as err:
                if not skip_errors:
                    raise
                skipped += 1
                warnings.warn(f"skipped: {err}", stacklevel=2)
            rate = (processor.frames_processed - first) / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{rate:.1f} frames/s")
        if not done:
            raise InvalidImageError(f"no file could be processed ({skipped} skipped)", source)
    return done
