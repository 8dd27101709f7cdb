"""Crash-safe output: stage in the destination folder, then rename into place.

A writer never writes at the final path. :func:`staged_output` gives it a path with the final
name inside a fresh hidden folder next to the destination; when the writer returns, every file it
produced there (e.g. ``.mhd`` + ``.raw``, or a whole folder of frames) is moved into place with
``os.replace``, the main file last. If the writer raises, the staging folder is deleted and
nothing appears at the destination. The same module refuses outputs that would destroy the input.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from monai_despeckle.errors import OutputPathError


def _same_path(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_within(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child != parent and parent in child.parents


def check_output_path(path: Path, *, protected: Iterable[Path] = (), overwrite: bool = False) -> None:
    """Refuse an output location that would clobber the input or, unless allowed, any file.

    Args:
        path: the final output path (file or folder).
        protected: the input file(s)/folder(s) the image came from; never overwritten, never
            written into, never replaced together with a folder that contains them.
        overwrite: allow replacing an existing output that is not protected.

    Raises:
        OutputPathError: naming ``path`` and the reason (including a folder that cannot be written).
    """
    for source in protected:
        if _same_path(path, source):
            raise OutputPathError(f"refusing to overwrite the input {source}", path)
        if source.is_dir() and _is_within(path, source):
            raise OutputPathError(f"refusing to write inside the input folder {source}", path)
        if path.is_dir() and _is_within(source, path):
            raise OutputPathError(f"refusing to replace the folder that holds the input {source}", path)
    if path.exists() and not overwrite:
        raise OutputPathError("already exists; pass overwrite=True (--overwrite) to replace it", path)
    check_writable(path)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def check_writable(path: Path) -> None:
    """Refuse, before any work, an output whose nearest existing folder cannot be written.

    Creates (and removes) a hidden probe folder there: permission bits cannot tell a read-only
    mount or ``/sys`` from a writable folder when running as root.

    Raises:
        OutputPathError: naming ``path`` and the operating system's reason.
    """
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write here: {folder} is not a folder", path)
    try:
        Path(tempfile.mkdtemp(prefix=".monai-despeckle-probe.", dir=folder)).rmdir()
    except OSError as err:
        raise OutputPathError(f"cannot write in {folder} ({_reason(err)})", path) from err


@contextlib.contextmanager
def created_folder(folder: Path) -> Iterator[Path]:
    """``folder``, created with its missing parents; if the block fails, the folders it created are
    removed again (those still empty), so a failed run leaves no trace.

    Raises:
        OutputPathError: the folders cannot be created (read-only file system, permissions...).
    """
    created = _missing_folders(folder)
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputPathError(f"cannot write in {folder} ({_reason(err)})", folder) from err
        yield folder
    except BaseException:
        for made in created:  # deepest first; a folder something else filled meanwhile is kept
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


@contextlib.contextmanager
def staging_folder(path: Path, suffix: str = ".partial") -> Iterator[Path]:
    """A fresh hidden folder next to ``path``, removed when the block ends, whatever happens.

    Missing parent folders of ``path`` are created (and removed again if the block fails, see
    :func:`created_folder`).

    Raises:
        OutputPathError: the folders cannot be created (read-only file system, permissions...).
    """
    with created_folder(path.parent):
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
        except OSError as err:
            raise OutputPathError(f"cannot write in {path.parent} ({_reason(err)})", path) from err
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_output(path: Path, *, protected: Iterable[Path] = (), overwrite: bool = False) -> Iterator[Path]:
    """Context manager yielding a staging path whose contents are renamed onto ``path`` on success.

    Parent folders of ``path`` are created as needed (and removed again on failure). Every entry
    the writer leaves in the staging folder is checked with :func:`check_output_path` before
    anything is moved, so a companion file (``foo.raw`` next to ``foo.mhd``) can neither clobber the
    input nor an existing file.

    Args:
        path: final output path.
        protected: input paths that must never be overwritten.
        overwrite: allow replacing existing outputs.

    Yields:
        ``<staging folder>/<path.name>``: the writer must create its output there.

    Raises:
        OutputPathError: the output is not allowed, or cannot be written (naming ``path``).
    """
    protected = [Path(p) for p in protected]
    check_output_path(path, protected=protected, overwrite=overwrite)
    with staging_folder(path) as staging:
        yield staging / path.name
        produced = sorted(staging.iterdir(), key=lambda entry: entry.name == path.name)  # main file last
        if not any(entry.name == path.name for entry in produced):
            raise OutputPathError("the writer produced no output", path)
        targets = [path.parent / entry.name for entry in produced]
        for target in targets:
            check_output_path(target, protected=protected, overwrite=overwrite)
        try:
            for entry, target in zip(produced, targets, strict=True):
                _move_into_place(entry, target)
        except OSError as err:
            raise OutputPathError(f"could not move the output into place ({_reason(err)})", path) from err


def _move_into_place(entry: Path, target: Path) -> None:
    """Atomically rename ``entry`` onto ``target``; an existing folder is swapped out, then removed."""
    if entry.is_dir() and target.exists():
        if not target.is_dir():
            raise OutputPathError("exists and is not a folder", target)
        # os.replace cannot replace a non-empty folder: move the old one aside, swap, then delete it.
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        old = trash / target.name
        os.replace(target, old)
        try:
            os.replace(entry, target)
        except OSError:
            os.replace(old, target)
            raise
        finally:
            shutil.rmtree(trash, ignore_errors=True)
        return
    if target.is_dir():
        raise OutputPathError("is a folder; cannot replace it with a file", target)
    os.replace(entry, target)


@contextlib.contextmanager
def replacing_file(path: Path) -> Iterator[Path]:
    """A hidden temporary file next to ``path`` to write; it replaces ``path`` if the block succeeds.

    On any error (or a stop signal) the temporary file is removed and ``path`` is left as it was,
    so a reader never sees a half-written file. For one file (weights, metadata, a cache entry, a
    figure); a whole output with its folders goes through :func:`staged_output`.
    """
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        yield Path(partial)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def write_file(path: Path, content: bytes | str) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` through :func:`replacing_file`; returns ``path``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with replacing_file(path) as partial:
        partial.write_bytes(data)
    return path
