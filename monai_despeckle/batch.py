"""Despeckle every image file of a folder into another folder: all or nothing.

Used by ``monai-despeckle denoise IN_FOLDER OUT_FOLDER`` and by the bundles' ``inference.json``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from monai_despeckle.data.folders import image_files
from monai_despeckle.errors import DespeckleError, InvalidImageError, OutputPathError
from monai_despeckle.inference import DEFAULT_CHUNK_FRAMES, Despeckler
from monai_despeckle.io.registry import BY_SUFFIX, suffix_of
from monai_despeckle.io.safe_write import staged_output
from monai_despeckle.io.validation import check_input_path

__all__ = ["despeckle_folder", "folder_job"]


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


def despeckle_folder(
    despeckler: Despeckler,
    source: str | Path,
    output: str | Path,
    *,
    axis: int = 0,
    chunk_frames: int | str = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
    skip_errors: bool = False,
) -> int:
    """Despeckle every image file of ``source`` into the folder ``output``, keeping file names.

    The output folder is staged and renamed into place only when every file is done, so a failure
    leaves nothing behind; ``source`` is never written to.

    Args:
        despeckler: the configured engine.
        source: folder of image files (see :func:`monai_despeckle.data.folders.image_files`).
        output: output folder (must not exist unless ``overwrite``).
        axis: slicing axis for volumes (see :meth:`Despeckler.run`).
        chunk_frames: frames streamed at a time, or "auto" (sized from the memory budget).
        overwrite: replace an existing ``output``.
        skip_errors: warn about and skip unreadable files instead of stopping.

    Returns:
        The number of files written.
    """
    source, output, files = folder_job(source, output)
    done, skipped = 0, []
    show = despeckler.progress
    despeckler.progress = False  # one bar over the files instead of one per file
    try:
        with (
            staged_output(output, protected=[source], overwrite=overwrite) as staging,
            tqdm(files, unit="file", desc=despeckler.name, disable=not show) as bar,
        ):
            staging.mkdir()
            start = time.perf_counter()
            for file in bar:
                try:
                    despeckler.run_file(file, staging / file.name, axis=axis, chunk_frames=chunk_frames)
                    done += 1
                except DespeckleError as err:
                    if not skip_errors:
                        raise
                    skipped.append(str(err))
                    warnings.warn(f"skipped: {err}", stacklevel=1)
                elapsed = time.perf_counter() - start
                bar.set_postfix_str(f"{despeckler.frames_processed / max(elapsed, 1e-9):.1f} frames/s")
            if not done:
                raise InvalidImageError(f"no file could be despeckled ({len(skipped)} skipped)", source)
    finally:
        despeckler.progress = show
    return done
