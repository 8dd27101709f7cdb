"""No-reference metrics: hand-computed values on tiny arrays and independent implementations."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from skimage.util import view_as_windows

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics import cnr, enl, epi, gcnr, glcm_homogeneity, speckle_index


def test_enl_hand_computed_in_a_box():
    image = np.array([[1.0, 3.0, 9.0], [1.0, 3.0, 9.0]]) / 10
    # box rows 0..2, cols 0..2 -> values 0.1, 0.3, 0.1, 0.3: μ = 0.2, σ² = 0.01 -> ENL = 4
    assert enl(image, (0, 0, 2, 2)) == pytest.approx(4.0)
    assert enl(np.full((3, 3), 0.5)) == math.inf


def test_speckle_index_hand_computed_on_checkerboard():
    # 7×7 checkerboard of 1 and 3 (scaled), 3×3 windows wholly inside the image: the 5×5 interior.
    board = np.where(np.add.outer(np.arange(7), np.arange(7)) % 2 == 0, 1.0, 3.0) / 10
    # A window centred on a "1" holds five 1s and four 3s: μ = 17/9, σ² = 80/81 -> σ/μ = √80 / 17;
    # centred on a "3": four 1s, five 3s -> √80 / 19. The 5×5 interior has 13 "1" and 12 "3" centres.
    expected = (13 * math.sqrt(80) / 17 + 12 * math.sqrt(80) / 19) / 25
    assert speckle_index(board, window=3) == pytest.approx(expected, rel=1e-9)


def test_speckle_index_matches_explicit_windows_in_a_mask():
    rng = np.random.default_rng(2)
    image = rng.uniform(0.2, 0.9, (30, 40))
    mask = np.zeros(image.shape, bool)
    mask[5:25, 8:33] = True
    windows = view_as_windows(image, (5, 5))  # windows[i, j] has centre (i + 2, j + 2)
    ratios = windows.std(axis=(2, 3)) / windows.mean(axis=(2, 3))
    inner = ratios[5 - 2 + 2 : 25 - 2 - 2, 8 - 2 + 2 : 33 - 2 - 2]  # centres whose window fits the mask
    assert speckle_index(torch.from_numpy(image), mask, window=5) == pytest.approx(inner.mean(), rel=1e-9)
    with pytest.raises(InvalidImageError, match="window"):
        speckle_index(image, (0, 0, 3, 3), window=5)


def test_cnr_hand_computed():
    image = np.array([[0.1, 0.3, 0.5, 0.5], [0.7, 0.7, 0.0, 0.0]])
    target = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)  # μ = 0.2, σ² = 0.01
    background = np.array([[0, 0, 1, 1], [1, 1, 0, 0]], bool)  # μ = 0.6, σ² = 0.01
    assert cnr(image, target, background) == pytest.approx(0.4 / math.sqrt(0.02))


def test_gcnr_hand_computed():
    image = np.array([[0.1, 0.1, 0.5, 0.5], [0.5, 0.9, 0.9, 0.9]])
    target = (0, 0, 1, 4)  # 0.1, 0.1, 0.5, 0.5 -> h_i = {0.1: .5, 0.5: .5}
    background = (1, 0, 2, 4)  # 0.5, 0.9, 0.9, 0.9 -> h_o = {0.5: .25, 0.9: .75}
    assert gcnr(image, target, background) == pytest.approx(0.75)  # 1 − min(.5, .25)
    assert gcnr(image, target, target) == pytest.approx(0.0)
    assert gcnr(image, (0, 0, 1, 2), (1, 1, 2, 4)) == pytest.approx(1.0)


def test_gcnr_matches_gaussian_overlap_theory():
    # Two normals with equal σ and means d·σ apart overlap by 2Φ(−d/2), so gCNR = 1 − 2Φ(−d/2).
    rng = np.random.default_rng(3)
    n = 200_000
    image = np.concatenate([rng.normal(0.4, 0.05, n), rng.normal(0.6, 0.05, n)]).reshape(2, n)
    expected = 1 - 2 * norm.cdf(-2.0)
    assert gcnr(image, (0, 0, 1, n), (1, 0, 2, n)) == pytest.approx(expected, abs=0.01)


def test_glcm_homogeneity_hand_computed_horizontal():
    image = np.array([[0, 0, 1], [1, 2, 3]]) / 3  # 4 levels: already integers 0..3
    # horizontal pairs (0,0) (0,1) (1,2) (2,3): weights 1, 1/2, 1/2, 1/2 -> 0.625 (symmetry keeps it)
    assert glcm_homogeneity(image, levels=4, angles=(0.0,)) == pytest.approx(0.625)
    assert glcm_homogeneity(np.full((5, 5), 0.4)) == pytest.approx(1.0)


def _pairwise_homogeneity(q, mask, offsets):
    """Independent GLCM homogeneity: average 1/(1+Δ²) over every in-mask pixel pair per offset."""
    per_offset = []
    for dr, dc in offsets:
        weights = []
        for r in range(q.shape[0]):
            for c in range(q.shape[1]):
                r2, c2 = r + dr, c + dc
                if 0 <= r2 < q.shape[0] and 0 <= c2 < q.shape[1] and mask[r, c] and mask[r2, c2]:
                    weights.append(1.0 / (1.0 + (int(q[r, c]) - int(q[r2, c2])) ** 2))
        per_offset.append(np.mean(weights))
    return float(np.mean(per_offset))


def test_glcm_homogeneity_in_a_mask_matches_pairwise_definition():
    rng = np.random.default_rng(4)
    q = rng.integers(0, 16, (14, 17))
    image = q / 15
    yy, xx = np.mgrid[:14, :17]
    mask = (yy - 7) ** 2 + (xx - 8) ** 2 <= 30  # a disc: pairs straddling its edge must not count
    expected = _pairwise_homogeneity(q, mask, [(0, 1), (-1, 1), (-1, 0), (-1, -1)])
    assert glcm_homogeneity(image, mask, levels=16) == pytest.approx(expected, rel=1e-12)
    assert glcm_homogeneity(image, None, levels=16) != pytest.approx(expected, rel=1e-3)


def test_epi_hand_computed_on_3x3():
    reference = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float)
    output = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1]], float)
    # Mirrored-border Laplacians: ΔS = [[0,1,0],[1,-4,1],[0,1,0]], ΔŜ = [[0,0,0],[0,0,1],[0,1,-2]]
    # (both zero-mean): Γ(S,Ŝ) = 2, Γ(S,S) = 20, Γ(Ŝ,Ŝ) = 6 -> EPI = 2 / √120.
    assert epi(reference, output) == pytest.approx(2 / math.sqrt(120))


def _laplacian_mirrored(image):
    p = np.pad(image, 1, mode="symmetric")
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * image


def test_epi_matches_correlation_of_laplacians_and_its_invariances():
    rng = np.random.default_rng(5)
    reference = rng.random((24, 30))
    output = 0.5 * reference + 0.3 * rng.random((24, 30))
    mask = np.zeros(reference.shape, bool)
    mask[3:20, 4:25] = True
    expected = np.corrcoef(_laplacian_mirrored(reference)[mask], _laplacian_mirrored(output)[mask])[0, 1]
    assert epi(reference, output, mask) == pytest.approx(expected, rel=1e-9)
    assert epi(reference, 2 * reference + 0.1) == pytest.approx(1.0)
    assert epi(reference, -reference) == pytest.approx(-1.0)
    assert epi(reference, np.full(reference.shape, 0.3)) == 0.0
    with pytest.raises(InvalidImageError, match="no edges"):
        epi(np.full((5, 5), 0.2), reference[:5, :5])


def test_region_errors_name_the_problem():
    image = np.zeros((6, 6))
    with pytest.raises(InvalidImageError, match="empty"):
        cnr(image, np.zeros((6, 6), bool), None)
    with pytest.raises(InvalidImageError, match="shape"):
        enl(image, np.ones((5, 6), bool))
    with pytest.raises(InvalidImageError, match="outside"):
        enl(image, (0, 0, 7, 3))
    with pytest.raises(InvalidImageError, match="2D"):
        enl(np.zeros((2, 3, 4)))
