"""Multi-scale perturbation (Speckle2Self MSP) views."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.transform import resize

from monai_despeckle.errors import DespeckleError, InvalidImageError
from monai_despeckle.speckle import minmax_normalize, multiscale_views

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _real_batch() -> torch.Tensor:
    """Two real ultrasound images (usgra-seg samples) as a [2, 1, 512, 512] float batch."""
    folder = DATA / "real_us_samples" / "images"
    paths = sorted(folder.glob("*.png"))[:2] if folder.is_dir() else []
    if len(paths) < 2:
        pytest.skip(f"real data not available: {folder}")
    arrays = [np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255.0 for p in paths]
    return torch.from_numpy(np.stack(arrays))[:, None]


def test_views_match_independent_bilinear_resampling_and_are_normalised():
    image = torch.rand(2, 1, 33, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    views = multiscale_views(image, scales=(1.0, 0.5, 0.25))
    assert len(views) == 3
    for scale, view in zip((1.0, 0.5, 0.25), views, strict=True):
        assert view.shape == image.shape and view.dtype == image.dtype
        for n in range(2):
            # oracle: scikit-image's bilinear resize without anti-aliasing (same pixel-centre grid)
            x = image[n, 0].numpy()
            small = resize(
                x, (round(scale * 33), round(scale * 40)), order=1, anti_aliasing=False, mode="edge"
            )
            back = resize(small, (33, 40), order=1, anti_aliasing=False, mode="edge")
            expected = (back - back.min()) / (back.max() - back.min())
            np.testing.assert_allclose(view[n, 0].numpy(), expected, atol=1e-12)
            assert view[n].min().item() == 0.0 and view[n].max().item() == pytest.approx(1.0)


def test_scale_one_is_the_normalised_input():
    image = torch.rand(1, 1, 16, 16) * 0.5 + 0.2
    (view,) = multiscale_views(image, scales=(1.0,))
    torch.testing.assert_close(view, (image - image.min()) / (image.max() - image.min()))
    unit = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16)
    torch.testing.assert_close(multiscale_views(unit, scales=(1.0,))[0], unit, rtol=0, atol=0)


def test_each_image_of_a_batch_is_normalised_on_its_own_and_constants_become_zero():
    image = torch.rand(3, 1, 20, 24, generator=torch.Generator().manual_seed(1))
    image[1] = 0.7  # constant image: no division by zero
    image[2] *= 10.0
    views = multiscale_views(image)
    for view in views:
        assert torch.isfinite(view).all()
        assert torch.equal(view[1], torch.zeros_like(view[1]))
    alone = multiscale_views(image[:1])
    for view, view_alone in zip(views, alone, strict=True):
        torch.testing.assert_close(view[:1], view_alone)
    assert torch.equal(minmax_normalize(torch.full((2, 4), 3.0)), torch.zeros(2, 4))


def test_single_image_input_and_bad_arguments():
    views = multiscale_views(torch.rand(1, 12, 10))
    assert [tuple(v.shape) for v in views] == [(1, 12, 10)] * 3
    with pytest.raises(InvalidImageError, match="shape"):
        multiscale_views(torch.rand(12, 10))
    with pytest.raises(DespeckleError, match="scale"):
        multiscale_views(torch.rand(1, 1, 12, 10), scales=(1.0, 0.0))
    with pytest.raises(DespeckleError, match="scale"):
        multiscale_views(torch.rand(1, 1, 12, 10), scales=())


def test_coarser_views_of_real_ultrasound_lose_speckle_but_keep_anatomy():
    batch = _real_batch()
    views = multiscale_views(batch)
    high_freq = []
    for view in views:
        laplacian = view[..., 1:-1, 2:] + view[..., 1:-1, :-2] + view[..., 2:, 1:-1] + view[..., :-2, 1:-1]
        high_freq.append((laplacian - 4 * view[..., 1:-1, 1:-1]).abs().mean().item())
        assert view.min() >= 0.0 and view.max() <= 1.0
    assert high_freq[0] > high_freq[1] > high_freq[2]  # speckle (fine texture) removed step by step
    # the anatomy (large-scale structure) survives: heavily blurred versions still agree
    blur = torch.nn.AvgPool2d(32)
    correlation = torch.corrcoef(torch.stack([blur(views[0]).flatten(), blur(views[2]).flatten()]))[0, 1]
    assert correlation > 0.95


def test_shared_normalisation_gives_every_view_the_full_images_rescaling():
    """Per-view min-max brightens coarser views (their speckle extremes average away); shared does not."""
    from monai_despeckle.simulation import PHANTOMS, sample_seed

    frames = [PHANTOMS["breast"](128, sample_seed(3000, i)).bmode for i in range(4)]
    batch = torch.from_numpy(np.stack(frames))[:, None].float()
    per_view = multiscale_views(batch, (1.0, 0.5, 0.25), "per_view")
    shared = multiscale_views(batch, (1.0, 0.5, 0.25), "shared")
    assert per_view[2].mean() > per_view[0].mean() + 0.02  # the bias the shared mode removes
    torch.testing.assert_close(shared[0], per_view[0])
    low = batch.amin(dim=(1, 2, 3), keepdim=True)
    high = batch.amax(dim=(1, 2, 3), keepdim=True)
    for scale, view in zip((0.5, 0.25), shared[1:], strict=True):
        size = (round(128 * scale), round(128 * scale))
        small = torch.nn.functional.interpolate(batch, size=size, mode="bilinear", align_corners=False)
        back = torch.nn.functional.interpolate(small, size=(128, 128), mode="bilinear", align_corners=False)
        torch.testing.assert_close(view, (back - low) / (high - low))
        assert abs(float(view.mean() - shared[0].mean())) < 0.005
        assert view.min() >= 0.0 and view.max() <= 1.0
    with pytest.raises(DespeckleError, match="normalization"):
        multiscale_views(batch, (1.0, 0.5), "global")
