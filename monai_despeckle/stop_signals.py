"""SIGTERM and SIGHUP stop a run the way Ctrl-C does: by an exception that unwinds every ``with``.

Python turns SIGINT into :class:`KeyboardInterrupt`, so every staging folder (see
:mod:`monai_despeckle.io.safe_write`) is removed on Ctrl-C; but SIGTERM (what ``kill``, systemd
and batch schedulers send) and SIGHUP (a closed terminal) kill the process where it stands and
leave the staging folder behind. Within :func:`stop_signals_raise` both raise
:class:`~monai_despeckle.errors.StopSignal` instead, and once a run is stopping, repeated signals
are ignored so that the cleanup itself is not cut short.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from monai_despeckle.errors import StopSignal

# The signals a run stops on (SIGHUP does not exist on Windows).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT raises :class:`KeyboardInterrupt` and SIGTERM / SIGHUP raise
    :class:`StopSignal` (a :class:`KeyboardInterrupt`); after the first, further ones are ignored.

    Outside the main thread (where Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return  # the run is already unwinding: let its cleanup finish
        stopping = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise StopSignal(signum, signal.Signals(signum).name)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
