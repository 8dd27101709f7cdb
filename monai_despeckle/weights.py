"""Deserialise a ``state_dict`` and load it into a network: the one place weights are unpickled.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers, never arbitrary
objects, so a weights file cannot run code. Every caller (bundle networks, training checkpoints,
fine-tuning starts, exports of user weights) goes through :func:`parse_state_dict`, so that rule
and the error messages are written once.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from monai_despeckle.errors import BundleError, CorruptFileError, DespeckleError, InputNotFoundError

__all__ = ["load_into", "load_state_dict", "parse_state_dict", "read_state_dict"]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def parse_state_dict(
    source: bytes | Path, where: Path, *, error: type[DespeckleError] = CorruptFileError
) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``-d state_dict (``{"state_dict": ...}`` checkpoints unwrapped).

    Args:
        source: the file, or its bytes (already read, e.g. after checking their checksum).
        where: the file named in error messages.
        error: the error class raised for data that is not a state_dict of tensors.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        state = torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, BadZipFile...
        reason = f"{type(err).__name__}: {_first_line(err)[:120]}"
        raise error(
            f"cannot load weights: not a state_dict saved with torch.save ({reason})", where
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise error(
            f"cannot load weights: holds a {type(state).__name__}, not a state_dict of tensors", where
        )
    return state


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """:func:`parse_state_dict` of a file.

    Raises:
        InputNotFoundError: no such file.
        CorruptFileError: not a state_dict of tensors saved with ``torch.save``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError("no such weights file", path)
    return parse_state_dict(path, path)


def load_into(network: nn.Module, state: dict[str, torch.Tensor], where: Path) -> nn.Module:
    """Load ``state`` into ``network`` strictly; returns the network.

    Raises:
        BundleError: the keys or shapes do not fit the network (naming ``where``).
    """
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise BundleError(
            f"weights do not fit the network: {' '.join(lines[1:3] or lines[:1])}", where
        ) from None
    return network


def load_state_dict(network: nn.Module, path: str | Path) -> nn.Module:
    """Load the state_dict file ``path`` into ``network``, strictly; returns the network."""
    return load_into(network, read_state_dict(path), Path(path))
