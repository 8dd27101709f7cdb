"""Test-session settings: the ONNX export cache lives in a temporary folder, not the user's home."""

from __future__ import annotations

import os
import shutil
import tempfile

from monai_despeckle.runtime.onnx_cache import CACHE_ENV

_CACHE = tempfile.mkdtemp(prefix="monai-despeckle-test-cache-")


def pytest_configure(config) -> None:
    os.environ[CACHE_ENV] = _CACHE  # inherited by the subprocesses some tests start


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)
