"""Exception hierarchy.

Every error a user can cause (a bad file, a bad argument) raises a :class:`DespeckleError`
subclass whose message names the file and what is wrong. The CLI prints the message without a
traceback and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class DespeckleError(Exception):
    """Base class of every user-facing error of monai-despeckle."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


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
