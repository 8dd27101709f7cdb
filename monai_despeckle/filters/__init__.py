"""Classical despeckling baselines.

Each method is a plain function on a 2D image (numpy; the torch ones also take tensors and
``[N, 1, H, W]`` batches) and is registered in :mod:`monai_despeckle.methods` as a Method, so
that ``monai_despeckle.resolver.create_method("srad")`` and the learned models are used alike.
Importing this package registers them.
"""

from monai_despeckle.errors import InvalidParameterError, MissingDependencyError
from monai_despeckle.filters import registry as _registry  # noqa: F401  (registers the methods)
from monai_despeckle.filters.adaptive import frost, kuan, lee
from monai_despeckle.filters.base import NumpyFrameFilter, TorchFilter, identity
from monai_despeckle.filters.local_moments import estimate_speckle_cv, estimate_speckle_sigma, local_mean_var
from monai_despeckle.filters.patch_based import bm3d, bm3d_available, nlm
from monai_despeckle.filters.perona_malik import anisotropic_diffusion
from monai_despeckle.filters.smoothing import bilateral, gaussian, mean, median, wiener
from monai_despeckle.filters.speckle_diffusion import srad

__all__ = [
    "InvalidParameterError",
    "MissingDependencyError",
    "NumpyFrameFilter",
    "TorchFilter",
    "anisotropic_diffusion",
    "bilateral",
    "bm3d",
    "bm3d_available",
    "estimate_speckle_cv",
    "estimate_speckle_sigma",
    "frost",
    "gaussian",
    "identity",
    "kuan",
    "lee",
    "local_mean_var",
    "mean",
    "median",
    "nlm",
    "srad",
    "wiener",
]
