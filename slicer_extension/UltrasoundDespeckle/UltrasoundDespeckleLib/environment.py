"""Is this Slicer recent enough, and is the installed torch the one the module needs?

Both checks run before monai_despeckle is installed, so this module needs nothing but the standard
library and ``packaging`` (which Slicer ships). Nothing is imported from torch: its version comes
from the installed package's metadata and its GPU build from ``torch/version.py`` read as text, so
that checking never loads (and locks) a torch that may have to be replaced.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.metadata
import shutil
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

# slicer.packaging (pip_ensure, load_requirements) first shipped in a stable release with 5.12.
MINIMUM_SLICER = (5, 12)
# What monai-despeckle (through MONAI 1.6) needs; keep in step with pyproject.toml.
TORCH_REQUIREMENT = ">=2.8"


def slicer_version_problem(major: int, minor: int) -> str | None:
    """Why this Slicer cannot run the module (None when it can)."""
    if (int(major), int(minor)) >= MINIMUM_SLICER:
        return None
    needed = ".".join(str(part) for part in MINIMUM_SLICER)
    return (
        f"Ultrasound Despeckle needs 3D Slicer {needed} or later (it installs its Python packages with "
        f"slicer.packaging, new in {needed}); this is Slicer {major}.{minor}. Please install a current "
        "Slicer from https://download.slicer.org."
    )


class TorchProblem(str, Enum):
    """What is wrong with the installed torch."""

    MISSING = "missing"
    TOO_OLD = "too old"
    CPU_BUILD = "CPU-only build on a computer with an NVIDIA GPU"


@dataclass(frozen=True)
class TorchCheck:
    """The installed torch, judged against the module's needs.

    Attributes:
        version: the installed torch version (e.g. ``"2.13.0+cu128"``), None if not installed.
        gpu_build: the CUDA or ROCm version torch was built for, None for a CPU-only build.
        nvidia_gpu: an NVIDIA driver is installed (so a CUDA build would use a GPU).
        requirement: the version specifier torch must satisfy.
    """

    version: str | None
    gpu_build: str | None
    nvidia_gpu: bool
    requirement: str = TORCH_REQUIREMENT

    @property
    def problem(self) -> TorchProblem | None:
        """The first problem found, or None when torch is fine."""
        if self.version is None:
            return TorchProblem.MISSING
        try:
            release = Version(Version(self.version).base_version)
        except InvalidVersion:
            return TorchProblem.TOO_OLD
        if release not in SpecifierSet(self.requirement):
            return TorchProblem.TOO_OLD
        if self.gpu_build is None and self.nvidia_gpu:
            return TorchProblem.CPU_BUILD
        return None

    @property
    def blocking(self) -> bool:
        """Whether the module cannot run with this torch (a CPU build still runs, only slower)."""
        return self.problem in (TorchProblem.MISSING, TorchProblem.TOO_OLD)

    def message(self) -> str:
        """What to tell the user (empty when torch is fine)."""
        problem = self.problem
        if problem is TorchProblem.MISSING:
            return (
                "PyTorch is not installed. The PyTorch extension can install the build that suits this "
                "computer (CUDA when there is an NVIDIA GPU)."
            )
        if problem is TorchProblem.TOO_OLD:
            return (
                f"The installed PyTorch {self.version} is too old: Ultrasound Despeckle needs torch"
                f"{self.requirement}. The PyTorch extension can replace it with a current build; Slicer "
                "must then be restarted."
            )
        if problem is TorchProblem.CPU_BUILD:
            return (
                f"The installed PyTorch {self.version} is a CPU-only build, but this computer has an NVIDIA "
                "GPU: despeckling would run on the CPU, many times slower. The PyTorch extension can "
                "replace it with a CUDA build; Slicer must then be restarted."
            )
        return ""


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Values of simple ``name = literal`` (or annotated) assignments of a Python file, unexecuted."""
    found: dict[str, object] = {}
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return found
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


def installed_torch(search_path: list[str] | None = None) -> tuple[str | None, str | None]:
    """``(version, GPU build)`` of the torch on ``search_path`` (default ``sys.path``), not imported."""
    search_path = sys.path if search_path is None else search_path
    distribution = next(iter(importlib.metadata.distributions(name="torch", path=search_path)), None)
    if distribution is None:
        return None, None
    version = distribution.version
    spec = importlib.machinery.PathFinder.find_spec("torch", search_path)
    if spec is None or not spec.submodule_search_locations:
        return version, None
    folder = Path(next(iter(spec.submodule_search_locations)))
    values = _literal_assignments(folder / "version.py", ("cuda", "hip"))
    build = values.get("cuda") or values.get("hip")
    return version, str(build) if build else None


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is installed (its ``nvidia-smi`` tool is on the PATH)."""
    return shutil.which("nvidia-smi") is not None


def check_torch(requirement: str = TORCH_REQUIREMENT) -> TorchCheck:
    """Judge the torch installed in this Python."""
    version, gpu_build = installed_torch()
    return TorchCheck(version, gpu_build, nvidia_gpu_present(), requirement)
