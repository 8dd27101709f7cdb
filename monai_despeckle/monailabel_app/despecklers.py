"""The despeckling methods the infer tasks offer, each loaded once and shared by every task."""

from __future__ import annotations

import threading
from typing import Any

from monai_despeckle.errors import UnknownMethodError

__all__ = ["NO_DESPECKLING", "DespecklerPool"]

NO_DESPECKLING = "none"


class DespecklerPool:
    """:class:`~monai_despeckle.inference.Despeckler` objects by method name, created on first use.

    Args:
        device: where the despecklers run (``"auto"``, ``"cpu"``, ``"cuda"``...).
    """

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._lock = threading.Lock()
        self._despecklers: dict[str, Any] = {}

    @staticmethod
    def names() -> list[str]:
        """Every registered method (``monai-despeckle methods``), ``none`` included."""
        from monai_despeckle.resolver import available_methods

        return list(available_methods())

    def check(self, name: Any) -> str:
        """``name`` if it is a registered method, else :class:`UnknownMethodError` listing the choices."""
        names = self.names()
        if not isinstance(name, str) or name not in names:
            raise UnknownMethodError(
                f"unknown despeckling method {name!r}; choose one of: {', '.join(names)}"
            )
        return name

    def get(self, name: str) -> Any:
        """The despeckler of method ``name`` (checked with :meth:`check`)."""
        from monai_despeckle.inference import Despeckler

        name = self.check(name)
        with self._lock:
            if name not in self._despecklers:
                self._despecklers[name] = Despeckler(name, device=self.device)
            return self._despecklers[name]
