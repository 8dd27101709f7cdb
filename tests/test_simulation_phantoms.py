"""Breast and carotid phantoms: determinism, masks, echogenicity consistency, posterior effects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from monai_despeckle.errors import DespeckleError
from monai_despeckle.simulation import (
    PixelGrid,
    breast_anatomy,
    carotid_anatomy,
    simulate_breast,
    simulate_carotid,
)
from monai_despeckle.simulation.breast import BREAST_FOV_MM
from monai_despeckle.simulation.carotid import CAROTID_FOV_MM
from monai_despeckle.simulation.shapes import Ellipse, RadialBoundary, posterior_gain
from monai_despeckle.simulation.texture import layer_index, smooth_field

SIZE = 96


def _assert_same(a, b) -> None:
    np.testing.assert_array_equal(a.clean, b.clean)
    np.testing.assert_array_equal(a.bmode, b.bmode)
    np.testing.assert_array_equal(a.echogenicity, b.echogenicity)
    assert a.masks.keys() == b.masks.keys()
    for name in a.masks:
        np.testing.assert_array_equal(a.masks[name], b.masks[name])
    assert a.params == b.params


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: simulate_breast(SIZE, seed),
        lambda seed: simulate_carotid(SIZE, seed, view="transverse"),
        lambda seed: simulate_carotid(SIZE, seed, view="longitudinal"),
    ],
    ids=["breast", "carotid-transverse", "carotid-longitudinal"],
)
def test_same_seed_same_phantom_other_seed_differs(make):
    first, again, other = make(11), make(11), make(12)
    _assert_same(first, again)
    assert not np.array_equal(first.echogenicity, other.echogenicity)
    assert not np.array_equal(first.bmode, other.bmode)


@pytest.mark.parametrize(
    ("sample", "fov", "kind", "mask_names"),
    [
        (lambda: simulate_breast(SIZE, 3, lesion="benign"), BREAST_FOV_MM, "breast", {"lesion"}),
        (lambda: simulate_carotid(SIZE, 3), CAROTID_FOV_MM, "carotid", {"lumen", "wall"}),
    ],
    ids=["breast", "carotid"],
)
def test_sample_types_ranges_and_provenance(sample, fov, kind, mask_names):
    s = sample()
    assert s.kind == kind
    assert s.shape == (SIZE, SIZE)
    assert s.spacing_mm == pytest.approx((fov / SIZE, fov / SIZE))
    for image in (s.clean, s.bmode, s.echogenicity):
        assert image.dtype == np.float32 and image.shape == (SIZE, SIZE)
        assert np.isfinite(image).all()
    for image in (s.clean, s.bmode):
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert image.std() > 0.05  # real content, not a constant
    assert (s.echogenicity >= 0).all()
    assert set(s.masks) == mask_names
    for mask in s.masks.values():
        assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE)
        assert set(np.unique(mask)) <= {0, 1}
    text = json.dumps(s.params)  # provenance must be JSON-serialisable
    assert json.loads(text)["physics"]["center_frequency_mhz"] > 0


def test_clean_and_speckled_share_geometry():
    s = simulate_breast(128, 4, lesion="malignant")
    smoothed = ndimage.gaussian_filter(s.bmode, 3.0)
    r = np.corrcoef(smoothed.ravel(), ndimage.gaussian_filter(s.clean, 3.0).ravel())[0, 1]
    assert r > 0.8
    # A shifted clean image matches the speckled one worse: the two are aligned pixel for pixel.
    shifted = np.roll(ndimage.gaussian_filter(s.clean, 3.0), 12, axis=1)
    assert np.corrcoef(smoothed.ravel(), shifted.ravel())[0, 1] < r - 0.1


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    return ndimage.binary_dilation(mask, iterations=width) & ~ndimage.binary_dilation(mask, iterations=2)


@pytest.mark.parametrize("lesion", ["benign", "malignant", "cyst"])
@pytest.mark.parametrize("seed", [0, 1])
def test_breast_lesion_inside_image_and_darker_than_surroundings(lesion, seed):
    s = simulate_breast(SIZE, seed, lesion=lesion)
    mask = s.masks["lesion"].astype(bool)
    assert mask.sum() > 20
    assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    assert s.params["lesion_type"] == lesion
    ring = _ring(mask, 6)
    assert s.clean[mask].mean() < s.clean[ring].mean() - 0.1
    assert np.median(s.echogenicity[mask]) < 0.2 * np.median(s.echogenicity[ring])
    if lesion == "cyst":
        assert (s.echogenicity[mask] == 0).all()  # anechoic fluid


def test_breast_without_lesion_has_empty_mask_and_random_draws_every_type():
    assert not simulate_breast(64, 0, lesion="none").masks["lesion"].any()
    grid = PixelGrid.square(64, BREAST_FOV_MM)
    drawn = {breast_anatomy(grid, np.random.default_rng(s)).params["lesion_type"] for s in range(40)}
    assert drawn == {"benign", "malignant", "cyst", "none"}


def _below_and_beside(image: np.ndarray, mask: np.ndarray, spacing: float) -> tuple[float, float]:
    """Mean of ``image`` 1–6 mm below the lesion's central columns and at the same depth beside it."""
    rows, cols = np.nonzero(mask)
    left, right = cols.min(), cols.max()
    quarter = (right - left) // 4
    core = slice(left + quarter, right - quarter + 1)
    band = slice(rows.max() + int(1 / spacing), min(image.shape[0], rows.max() + int(6 / spacing)))
    margin = int(2 / spacing)
    beside = np.concatenate(
        [
            image[band, max(0, left - margin - 8) : max(0, left - margin)],
            image[band, right + margin : right + margin + 8],
        ],
        axis=1,
    )
    return float(image[band, core].mean()), float(beside.mean())


def _posterior_contrast(lesion: str, seeds: range) -> list[float]:
    """(below − beside) in the clean image for several phantoms of one lesion type."""
    contrasts = []
    for seed in seeds:
        s = simulate_breast(128, seed, lesion=lesion)
        below, beside = _below_and_beside(s.clean, s.masks["lesion"].astype(bool), s.spacing_mm[0])
        contrasts.append(below - beside)
    return contrasts


def test_malignant_lesions_cast_posterior_shadows():
    # Tissue texture varies by several dB between neighbouring regions, so each phantom is only
    # required to be darker below the lesion, and the set clearly so on average.
    contrasts = _posterior_contrast("malignant", range(4))
    assert max(contrasts) < 0.0
    assert np.mean(contrasts) < -0.08


def test_cysts_show_posterior_enhancement():
    contrasts = _posterior_contrast("cyst", range(4))
    assert min(contrasts) > 0.0
    assert np.mean(contrasts) > 0.05


def test_posterior_gain_shadow_and_enhancement_geometry():
    grid = PixelGrid((80, 60), (0.2, 0.2))
    mask = Ellipse((6.0, 6.0), (2.0, 1.5)).mask(grid)
    shadow = posterior_gain(mask, grid, 0.1, saturation_mm=1.0, fade_mm=5.0)
    rows, cols = np.nonzero(mask)
    bottom, centre = rows.max(), int(cols.mean())
    assert np.allclose(shadow[: rows.min()], 1.0, atol=1e-6)  # nothing above the structure changes
    assert np.allclose(shadow[mask], 1.0, atol=0.05)  # the lesion itself is not re-shaded
    column = shadow[bottom + 1 :, centre]
    assert column[0] < 0.3  # deep shadow right below a 3 mm thick attenuator
    assert np.all(np.diff(column) >= -1e-6)  # recovers monotonically with depth
    assert np.allclose(shadow[:, -5:], 1.0, atol=1e-3)  # far-away columns untouched
    enhancement = posterior_gain(mask, grid, 3.0, saturation_mm=1.0, fade_mm=5.0)
    assert enhancement[bottom + 1, centre] > 2.0
    assert enhancement.min() >= 1.0 - 1e-6


@pytest.mark.parametrize("plaque", [False, True])
@pytest.mark.parametrize("seed", [0, 5])
def test_transverse_lumen_anechoic_and_surrounded_by_wall(plaque, seed):
    s = simulate_carotid(128, seed, view="transverse", plaque=plaque)
    lumen, wall = s.masks["lumen"].astype(bool), s.masks["wall"].astype(bool)
    assert lumen.sum() > 50 and wall.any()
    assert not (lumen & wall).any()
    assert (ndimage.binary_dilation(lumen) <= (lumen | wall)).all()  # closed wall around the lumen
    assert (s.echogenicity[lumen] == 0).all()
    core = ndimage.binary_erosion(lumen)  # one pixel in: the PSF blurs the bright wall into the edge
    assert s.clean[core].mean() < min(0.1, 0.5 * s.clean[wall].mean())
    assert ("plaque" in s.params["vessel"]) == plaque
    assert ndimage.label(lumen)[1] == 1  # one connected lumen
    if not plaque:  # 6–8 mm lumen diameter (pixelisation tolerance at 0.3 mm pixels)
        diameter = 2.0 * np.sqrt(lumen.sum() * np.prod(s.spacing_mm) / np.pi)
        assert 5.0 < diameter < 8.5


def test_transverse_plaque_narrows_the_lumen_and_joins_the_wall():
    grid = PixelGrid.square(128, CAROTID_FOV_MM)
    plain = carotid_anatomy(grid, np.random.default_rng(9), plaque=False)
    diseased = carotid_anatomy(grid, np.random.default_rng(9), plaque=True)
    assert diseased.masks["lumen"].sum() < plain.masks["lumen"].sum()
    assert diseased.masks["wall"].sum() > plain.masks["wall"].sum()


@pytest.mark.parametrize("plaque", [False, True])
def test_longitudinal_lumen_is_a_band_between_two_walls(plaque):
    s = simulate_carotid(128, 2, view="longitudinal", plaque=plaque)
    lumen, wall = s.masks["lumen"].astype(bool), s.masks["wall"].astype(bool)
    assert lumen[:, 0].any() and lumen[:, -1].any()  # runs across the whole image
    rows = np.arange(lumen.shape[0])[:, None]
    top = np.where(lumen, rows, lumen.shape[0]).min(axis=0)
    bottom = np.where(lumen, rows, -1).max(axis=0)
    for c in range(lumen.shape[1]):
        assert wall[: top[c], c].any() and wall[bottom[c] + 1 :, c].any()
    assert (s.echogenicity[lumen] == 0).all()
    assert s.clean[lumen].mean() < 0.1
    assert ("plaque" in s.params["vessel"]) == plaque


@pytest.mark.parametrize("size", [32, 48])
def test_small_images_and_explicit_spacing(size):
    b = simulate_breast(size, 1, lesion="malignant", spacing_mm=(0.3, 0.2))
    assert b.spacing_mm == (0.3, 0.2) and b.shape == (size, size)
    assert b.masks["lesion"].any()
    c = simulate_carotid(size, 1)
    lumen, wall = c.masks["lumen"].astype(bool), c.masks["wall"].astype(bool)
    assert lumen.any() and (ndimage.binary_dilation(lumen) <= (lumen | wall)).all()


def test_bad_phantom_options_raise_despeckle_error():
    with pytest.raises(DespeckleError, match="lesion"):
        simulate_breast(32, 0, lesion="polyp")
    with pytest.raises(DespeckleError, match="view"):
        simulate_carotid(32, 0, view="oblique")
    with pytest.raises(DespeckleError, match="size"):
        simulate_breast(8, 0)
    for spacing in [(0.0, 0.1), (0.1, float("nan")), (0.1,), "wide"]:
        with pytest.raises(DespeckleError, match="spacing_mm"):
            simulate_carotid(32, 0, spacing_mm=spacing)


def test_smooth_field_statistics_and_correlation_length():
    rng = np.random.default_rng(0)
    fine, coarse = smooth_field(rng, (128, 128), 1.0), smooth_field(rng, (128, 128), 6.0)
    for f in (fine, coarse):
        assert abs(f.mean()) < 1e-4 and f.std() == pytest.approx(1.0, rel=1e-3)

    def lag_correlation(f):
        return np.corrcoef(f[:, :-3].ravel(), f[:, 3:].ravel())[0, 1]

    assert lag_correlation(coarse) > 0.8 > lag_correlation(fine)
    streaks = smooth_field(rng, (128, 128), (1.0, 8.0))  # long laterally: horizontal streaks
    assert (
        np.corrcoef(streaks[:, :-4].ravel(), streaks[:, 4:].ravel())[0, 1]
        > np.corrcoef(streaks[:-4].ravel(), streaks[4:].ravel())[0, 1]
    )


def test_layer_index_counts_boundaries_above_each_pixel():
    depth = np.arange(6, dtype=np.float32)[:, None]
    layers = layer_index(depth, [np.array([1.0, 3.0]), np.array([4.0, 4.0])])
    np.testing.assert_array_equal(layers[:, 0], [0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(layers[:, 1], [0, 0, 0, 1, 2, 2])


def test_radial_boundary_spicules_stick_out_and_stay_below_bound():
    rng = np.random.default_rng(3)
    boundary = RadialBoundary.random(rng, lobulation=0.2, n_spicules=5)
    theta = np.linspace(-np.pi, np.pi, 2000)
    radius = boundary.radius(theta)
    assert radius.max() <= boundary.max_radius + 1e-6
    smooth = RadialBoundary(boundary.harmonics)
    for angle, length, _ in boundary.spicules:
        tip = np.array([angle])
        assert boundary.radius(tip)[0] - smooth.radius(tip)[0] >= 0.95 * length  # 0.95: table lookup
