"""Reading the files a request names: the datastore's images, uploads, label maps."""

from __future__ import annotations

from typing import Any

from monai_despeckle import io
from monai_despeckle.errors import CorruptFileError, DespeckleError
from monai_despeckle.io.image import UltrasoundImage

__all__ = ["read_request_file"]


def read_request_file(path: Any, what: str) -> UltrasoundImage:
    """Load ``path``; any failure is a :class:`DespeckleError` naming ``what`` (``"uploaded image"``...).

    Uploads live under temporary names on the server, so the file name is left out of the message.
    """
    if not isinstance(path, str) or not path:
        raise CorruptFileError(f"the request has no {what} file")
    try:
        return io.load(path)
    except DespeckleError as err:
        reason = str(err).removeprefix(f"{err.path}: ") if err.path is not None else str(err)
        raise type(err)(f"the {what} cannot be used: {reason}") from None
    except Exception as err:  # a decoder's own exception: still the file's fault
        raise CorruptFileError(f"the {what} cannot be read ({type(err).__name__}: {err})") from None
