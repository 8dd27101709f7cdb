"""Regions: boxes and masks, letterbox padding, automatic target / background / homogeneous placement."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from monai_despeckle.errors import InvalidImageError
from monai_despeckle.metrics import auto_regions, box_to_mask, letterbox_padding, speckle_index, to_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_box_and_mask_conversion():
    mask = box_to_mask((1, 2, 3, 5), (4, 6))
    assert mask.sum() == 6 and mask[1:3, 2:5].all()
    np.testing.assert_array_equal(to_mask([1, 2, 3, 5], (4, 6)), mask)
    np.testing.assert_array_equal(to_mask(mask.astype(np.uint8), (4, 6)), mask)
    assert to_mask(None, (4, 6)).all()
    with pytest.raises(InvalidImageError, match="outside"):
        box_to_mask((3, 0, 2, 4), (4, 6))


def test_letterbox_padding_keeps_dark_structures_inside_the_sector():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (40, 50))
    image[:, :6] = 0.0  # left bar
    image[-5:, :] = 0.0  # bottom bar
    image[15:22, 20:30] = 0.0  # anechoic structure inside the sector
    padding = letterbox_padding(image)
    assert padding[:, :6].all() and padding[-5:, :].all()
    assert not padding[15:22, 20:30].any()
    assert padding.sum() == 40 * 6 + 5 * 44


def _phantom():
    """Tissue with a dark disc, a black bar on the right, and one smooth patch in noisy tissue."""
    rng = np.random.default_rng(1)
    image = np.clip(0.5 + 0.15 * rng.standard_normal((96, 96)), 0.05, 1.0)
    image[60:80, 8:28] = 0.6 + 0.01 * rng.standard_normal((20, 20))  # the most homogeneous area
    yy, xx = np.mgrid[:96, :96]
    lesion = (yy - 30) ** 2 + (xx - 45) ** 2 <= 12**2
    image[lesion] = np.clip(0.15 + 0.05 * rng.standard_normal(lesion.sum()), 0.01, 1)  # hypoechoic, speckled
    image[:, 86:] = 0.0
    return image, lesion


def test_auto_regions_on_a_phantom():
    image, lesion = _phantom()
    regions = auto_regions(image, lesion, margin=0.03, ring=0.08, box=0.12)
    np.testing.assert_array_equal(regions.target, lesion)
    distance = ndimage.distance_transform_edt(~lesion)
    ring = distance[regions.background]
    assert ring.min() > 0.03 * 96 - 1e-9 and ring.max() <= round(0.03 * 96) + round(0.08 * 96)
    assert not regions.background[:, 86:].any() and not regions.field_of_view[:, 86:].any()
    row0, col0, row1, col1 = regions.homogeneous_box
    assert (row1 - row0, col1 - col0) == (12, 12)
    assert row0 >= 60 and row1 <= 80 and col0 >= 8 and col1 <= 28  # inside the smooth patch
    assert not (regions.homogeneous & (distance <= 3)).any()


def test_auto_regions_without_a_structure_still_finds_the_homogeneous_box():
    image, _ = _phantom()
    regions = auto_regions(image, np.zeros(image.shape, bool))
    assert regions.target is None and regions.background is None
    row0, col0, row1, col1 = regions.homogeneous_box
    assert row0 >= 60 and row1 <= 80 and col0 >= 8 and col1 <= 28


def test_auto_regions_rejects_masks_it_cannot_use():
    image, _ = _phantom()
    with pytest.raises(InvalidImageError, match="padding"):
        auto_regions(image, box_to_mask((0, 88, 10, 96), image.shape))


def test_auto_regions_on_a_real_letterboxed_image():
    folder = DATA / "real_us_samples"
    if not folder.is_dir():
        pytest.skip("shared real_us_samples data not available")
    image = np.asarray(Image.open(folder / "images" / "usgra_0068.png").convert("L"), np.float64) / 255
    mask = np.asarray(Image.open(folder / "masks" / "usgra_0068_mask.png")) > 0
    regions = auto_regions(image, mask)
    padding = letterbox_padding(image)
    assert padding.mean() > 0.2  # this frame has black bars top and bottom
    for region in (regions.target, regions.background, regions.homogeneous):
        assert region.any() and not (region & padding).any()
    assert not (regions.homogeneous & mask).any() and not (regions.background & mask).any()
    # The chosen box is smoother than the field of view as a whole.
    assert speckle_index(image, regions.homogeneous) < speckle_index(image, regions.field_of_view)
