"""Errors of the MONAI Label app and the HTTP status each becomes: a message, never a traceback."""

from __future__ import annotations

from typing import Any

from monai_despeckle.errors import DespeckleError, InputNotFoundError, UnknownMethodError

__all__ = ["NotFoundError", "http_status", "install_error_handlers"]


class NotFoundError(DespeckleError):
    """A request names an image, model or strategy the server does not have."""


NOT_FOUND = (NotFoundError, UnknownMethodError, InputNotFoundError)


def http_status(err: BaseException) -> int:
    """404 for what does not exist, 400 for any other bad request, 500 for a server fault."""
    from monailabel.interfaces.exception import (
        ImageNotFoundException,
        LabelNotFoundException,
        MONAILabelError,
        MONAILabelException,
    )

    if isinstance(err, (*NOT_FOUND, ImageNotFoundException, LabelNotFoundException)):
        return 404
    if isinstance(err, DespeckleError):
        return 400
    if isinstance(err, MONAILabelException) and err.error is MONAILabelError.INVALID_INPUT:
        return 400
    return 500


def _message(err: BaseException) -> str:
    return str(getattr(err, "msg", "") or err)


def install_error_handlers(app: Any) -> None:
    """Answer our errors and MONAI Label's with their status and ``{"detail": message}``."""
    from fastapi.responses import JSONResponse
    from monailabel.interfaces.exception import MONAILabelException

    async def handle(request: Any, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": _message(err)}, status_code=http_status(err))

    app.add_exception_handler(DespeckleError, handle)
    app.add_exception_handler(MONAILabelException, handle)
