"""Registration of the classical filters in the method registry (one table, one loop)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from monai_despeckle.filters.adaptive import frost, kuan, lee
from monai_despeckle.filters.base import NumpyFrameFilter, TorchFilter, identity
from monai_despeckle.filters.opencv import bilateral_cv, median_cv, nlm_cv, opencv_available
from monai_despeckle.filters.patch_based import bm3d, bm3d_available, nlm
from monai_despeckle.filters.perona_malik import anisotropic_diffusion
from monai_despeckle.filters.smoothing import bilateral, gaussian, mean, median, wiener
from monai_despeckle.filters.speckle_diffusion import srad
from monai_despeckle.methods import MethodSpec, register_method

_SEED_PAPER = "baseline in Bhute et al., arXiv 2403.02750 (2024)"

_Adapter = type[NumpyFrameFilter] | type[TorchFilter]

# name, adapter, function, one-line description, reference
_FILTERS: tuple[tuple[str, _Adapter, Callable[..., Any], str, str], ...] = (
    ("none", TorchFilter, identity, "no filtering: the input unchanged, for comparisons", ""),
    ("median", NumpyFrameFilter, median, "median filter, 5×5", _SEED_PAPER),
    ("gaussian", NumpyFrameFilter, gaussian, "Gaussian low-pass, σ = 1 px", _SEED_PAPER),
    ("mean", NumpyFrameFilter, mean, "moving average (box) filter, 3×3", _SEED_PAPER),
    (
        "bilateral",
        NumpyFrameFilter,
        bilateral,
        "bilateral filter, σ_spatial 2 px, σ_color 2× the speckle σ",
        "Tomasi & Manduchi, ICCV 1998; " + _SEED_PAPER,
    ),
    (
        "wiener",
        NumpyFrameFilter,
        wiener,
        "adaptive Wiener filter, 5×5",
        "Lim, Two-Dimensional Signal and Image Processing, 1990; " + _SEED_PAPER,
    ),
    (
        "anisotropic_diffusion",
        NumpyFrameFilter,
        anisotropic_diffusion,
        "Perona–Malik diffusion (SimpleITK), 20 steps of 0.125",
        "Perona & Malik, IEEE TPAMI 12:629 (1990); " + _SEED_PAPER,
    ),
    (
        "srad",
        TorchFilter,
        srad,
        "speckle-reducing anisotropic diffusion, 30 steps of 0.05",
        "Yu & Acton, IEEE TIP 11:1260 (2002)",
    ),
    ("lee", TorchFilter, lee, "Lee local-statistics filter, 7×7", "Lee, IEEE TPAMI 2:165 (1980)"),
    (
        "frost",
        TorchFilter,
        frost,
        "Frost adaptive exponential filter, 5×5",
        "Frost et al., IEEE TPAMI 4:157 (1982)",
    ),
    (
        "kuan",
        TorchFilter,
        kuan,
        "Kuan adaptive noise-smoothing filter, 7×7",
        "Kuan et al., IEEE TPAMI 7:165 (1985)",
    ),
    (
        "nlm",
        NumpyFrameFilter,
        nlm,
        "non-local means (scikit-image), 5×5 patches, h = 0.8σ",
        "Buades, Coll & Morel, CVPR 2005",
    ),
)

_OPTIONAL: tuple[tuple[str, _Adapter, Callable[..., Any], str, str, Callable[[], bool]], ...] = (
    (
        "bm3d",
        NumpyFrameFilter,
        bm3d,
        "BM3D collaborative filtering (optional 'bm3d' package, non-commercial licence)",
        "Dabov et al., IEEE TIP 16:2080 (2007)",
        bm3d_available,
    ),
    (
        "nlm_cv",
        NumpyFrameFilter,
        nlm_cv,
        "non-local means (OpenCV), 7×7 patches, 21×21 search, h = 0.9σ (optional 'opencv')",
        "Buades, Coll & Morel, CVPR 2005",
        opencv_available,
    ),
    (
        "bilateral_cv",
        NumpyFrameFilter,
        bilateral_cv,
        "bilateral filter (OpenCV), σ_spatial 2 px, σ_color 2× the speckle σ (optional 'opencv')",
        "Tomasi & Manduchi, ICCV 1998",
        opencv_available,
    ),
    (
        "median_cv",
        NumpyFrameFilter,
        median_cv,
        "median filter (OpenCV), 5×5 (optional 'opencv')",
        "",
        opencv_available,
    ),
)


def _register(
    name: str, adapter: _Adapter, function: Callable[..., Any], description: str, reference: str
) -> None:
    register_method(
        MethodSpec(
            name=name,
            factory=partial(adapter, name, function),
            description=description,
            family="classical",
            gpu=adapter.gpu,
            reference=reference,
        )
    )


for _row in _FILTERS:
    _register(*_row)
for _optional in _OPTIONAL:
    if _optional[5]():
        _register(*_optional[:5])
