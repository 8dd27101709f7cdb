"""Overlap decoding and encoding with the computation: one chunk read ahead, one written behind.

zlib, the image decoders and the file system release the GIL, so a chunk can be decompressed and
the previous result compressed and written while the network runs on the current chunk. Each side
holds at most one chunk besides the one being computed (bounded queues), so the memory stays a
small multiple of a chunk (the caller sizes chunks for that). Errors in a background thread are
raised in the caller's thread at the next hand-over or at the end; when the caller stops (an
error, Ctrl-C, SIGTERM unwinding as an exception), both threads are stopped and joined before the
source is closed or the sink's staged output removed, so nothing is written after a stop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["WriteBehind", "read_ahead"]

T = TypeVar("T")
_POLL_SECONDS = 0.1  # how often a blocked background thread checks whether it should stop
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterable[T]) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, one item ahead of the consumer."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(handoff, item, stop):
                    return
            _put(handoff, _DONE, stop)
        except BaseException as err:  # handed to the consumer, who raises it
            _put(handoff, _Failure(err), stop)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _put(handoff: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless asked to stop first; True if it was put."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


class WriteBehind(Generic[T]):
    """Call ``write(item)`` for each item in a background thread, one item behind the caller.

    Use as a context manager: leaving it normally waits for the last write (and raises its error,
    if any); leaving it on an exception stops the thread after the write in progress.
    """

    def __init__(self, write: Callable[[T], object]) -> None:
        self._write = write
        self._handoff: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, name="write-behind", daemon=True)

    def _consume(self) -> None:
        while True:
            try:
                item = self._handoff.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _DONE or self._stop.is_set():
                return
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as err:  # raised in the caller's thread
                self._error = err
                self._stop.set()  # the caller must not wait for a writer that has stopped
                return

    def __enter__(self) -> WriteBehind[T]:
        self._thread.start()
        return self

    def __call__(self, item: T) -> None:
        """Queue ``item`` for writing (waits while the previous one is still queued)."""
        self._raise_error()
        _put(self._handoff, item, self._stop)  # returns at once if the writer failed (stop is set)
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            _put(self._handoff, _DONE, self._stop)
            self._thread.join()
            self._raise_error()
        else:
            self._stop.set()
            self._thread.join()
