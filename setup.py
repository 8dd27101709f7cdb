"""Package layout that ``pyproject.toml`` cannot express: the top-level ``bundles/`` folder ships
inside the package as ``monai_despeckle.bundled`` (everything else is in ``pyproject.toml``)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["monai_despeckle", "monai_despeckle.*"]), "monai_despeckle.bundled"],
    package_dir={"monai_despeckle.bundled": "bundles"},
)
