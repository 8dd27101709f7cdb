"""The MONAI bundles shipped with monai-despeckle (data, not code).

This folder is the source of truth for the shipped bundles; packaging maps it into the package as
``monai_despeckle.bundled`` (see ``setup.py``), so a wheel, an sdist and an editable checkout all
find the bundles with ``importlib.resources`` (:func:`monai_despeckle.resolver.shipped_bundles_root`).
This file only makes the folder an importable package for that lookup.
"""
