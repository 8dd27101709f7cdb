"""Packages that import their names on first use still export every name, from the right module."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["monai_despeckle.metrics", "monai_despeckle.data"])
def test_every_name_resolves_to_its_submodule(package):
    module = importlib.import_module(package)
    exported = {name for names in module._SUBMODULES.values() for name in names}
    assert set(module.__all__) == exported
    for submodule, names in module._SUBMODULES.items():
        source = importlib.import_module(f"{package}.{submodule}")
        for name in names:
            assert getattr(module, name) is getattr(source, name), name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = module.nonexistent


@pytest.mark.parametrize(
    ("submodule", "absent"),
    [("monai_despeckle.metrics.speckle_size", "monai"), ("monai_despeckle.data.folders", "skimage")],
)
def test_a_light_submodule_does_not_import_its_heavy_siblings(submodule, absent):
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"import sys, json, {submodule}\n{listing}\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert absent not in json.loads(result.stdout)
