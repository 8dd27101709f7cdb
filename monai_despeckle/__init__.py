"""monai-despeckle: ultrasound speckle reduction for the MONAI / 3D Slicer ecosystem."""

from monai_despeckle.errors import DespeckleError

__version__ = "0.1.0"
__all__ = ["DespeckleError", "__version__"]
