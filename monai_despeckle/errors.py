"""Exception hierarchy.

Every error a user can cause (a bad file, a bad argument) raises a :class:`DespeckleError`
subclass whose message names the file and what is wrong. The CLI prints the message without a
traceback and exits with status 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class DespeckleError(Exception):
    """Base class of every user-facing error of monai-despeckle."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)

    def naming(self, path: str | Path) -> DespeckleError:
        """This error naming ``path`` (itself if it already names a file)."""
        return self if self.path is not None else type(self)(self.message, path)


class UnsupportedFormatError(DespeckleError):
    """The file extension or DICOM SOP class is not one we read or write."""


class InvalidImageError(DespeckleError):
    """The file is readable but its content is not a usable image (empty, NaN, wrong rank...)."""


class CorruptFileError(DespeckleError):
    """The file is empty, truncated or otherwise cannot be decoded."""


class OutputPathError(DespeckleError):
    """The requested output location is not allowed (e.g. it would overwrite the input)."""


class UnknownMethodError(DespeckleError):
    """No despeckling method is registered under the requested name."""


class BundleError(DespeckleError):
    """A MONAI bundle is missing, malformed, or fails its checksum."""


class InputNotFoundError(DespeckleError):
    """The input file or folder does not exist."""


class InvalidParameterError(DespeckleError, ValueError):
    """A parameter (of a filter, a speckle model, the simulator, a CLI option) is unknown or out of range."""


class MissingDependencyError(DespeckleError):
    """An optional package that a method needs is not installed."""


class ImageTooLargeError(InvalidImageError):
    """The image or one of its frames exceeds the stated limits (see :mod:`monai_despeckle.budget`)."""


class OutOfMemoryError(DespeckleError):
    """The machine ran out of memory while reading, processing or writing the named file."""


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (staging removed) and ends with 128 + ``signum``.

    A :class:`KeyboardInterrupt` subclass, so every cleanup that already runs for Ctrl-C runs for it.
    """

    def __init__(self, signum: int, name: str) -> None:
        self.signum = signum
        self.name = name
        super().__init__(name)


@contextlib.contextmanager
def naming_file(path: str | Path) -> Iterator[None]:
    """Within the block, errors that name no file name ``path``; running out of memory is an error too.

    For the work done on one input file: a filter's refusal ("lee: a 7×7 window needs frames of at
    least 4×4 pixels") then says which file it was about, and a :class:`MemoryError` becomes an
    :class:`OutOfMemoryError` naming the file instead of a traceback.
    """
    try:
        yield
    except DespeckleError as err:
        named = err.naming(path)
        if named is err:
            raise
        raise named from err
    except MemoryError as err:
        raise OutOfMemoryError(
            f"ran out of memory ({err or 'an allocation failed'}); free memory, or lower "
            "MONAI_DESPECKLE_MEMORY_MB or --batch-size",
            path,
        ) from err
