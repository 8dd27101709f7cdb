"""Make MONAI Label 0.8.5 importable next to pydicom 3.

``monailabel.interfaces.app`` imports ``pydicom_seg``, whose own import fails with pydicom 3
(it reads ``pydicom._storage_sopclass_uids``, removed there; MONAI Label issue #1841). The fork
``pydicom-seg-rb`` has the same API and works with pydicom 3, so it is registered under the
name ``pydicom_seg`` before MONAI Label is imported. This must run in every process that
imports MONAI Label: the server (:mod:`~monai_despeckle.monailabel_app.launcher`) and the
training subprocess MONAI Label starts (it imports :mod:`~monai_despeckle.monailabel_app.app`,
which calls this first). It can go once a MONAI Label release supports pydicom 3.
"""

from __future__ import annotations

import importlib
import sys

from monai_despeckle.errors import MissingDependencyError

__all__ = ["INSTALL_HINT", "install_pydicom_seg"]

INSTALL_HINT = "install the MONAI Label server with: pip install --no-deps -r requirements/label.txt"
FORK = "pydicom_seg_rb"


def install_pydicom_seg() -> None:
    """Register ``pydicom_seg`` as an alias of its pydicom-3 fork unless a working one is importable."""
    try:
        importlib.import_module("pydicom_seg")
        return
    except ImportError:  # not installed, or the original package failing under pydicom 3
        for name in [n for n in sys.modules if n == "pydicom_seg" or n.startswith("pydicom_seg.")]:
            del sys.modules[name]
    try:
        fork = importlib.import_module(FORK)
    except ImportError as err:
        raise MissingDependencyError(f"the MONAI Label app needs {FORK} ({err}); {INSTALL_HINT}") from None
    sys.modules["pydicom_seg"] = fork
    for name in [n for n in sys.modules if n.startswith(f"{FORK}.")]:
        sys.modules["pydicom_seg" + name[len(FORK) :]] = sys.modules[name]
