"""Progress reports and cancellation for long scene operations.

The logic calls a :data:`ProgressCallback` after every chunk of frames with ``(done, total)``. The
module's GUI updates its progress dialog there, lets Qt process events, and returns True once the
user has pressed Cancel; the logic then raises :class:`OperationCancelledError` before it has added
anything to the scene.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int], "bool | None"]


class OperationCancelledError(Exception):
    """The user cancelled a running operation; the scene is as it was before it started."""


def report(progress: ProgressCallback | None, done: int, total: int) -> None:
    """Tell ``progress`` how far we are; raise :class:`OperationCancelledError` if it asks to stop."""
    if progress is not None and progress(done, total):
        raise OperationCancelledError(f"cancelled after {done} of {total} frames")
