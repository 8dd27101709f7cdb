"""MONAI speckle transforms: reproducibility, prob, dict twins, metadata, bundle-config use."""

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose

from monai_despeckle.errors import DespeckleError, InvalidImageError
from monai_despeckle.speckle import (
    gamma_speckle,
    gaussian_speckle,
    multiscale_views,
    rayleigh_speckle,
    simulate_bmode,
)
from monai_despeckle.transforms import (
    MultiScalePerturbation,
    MultiScalePerturbationd,
    RandGammaSpeckle,
    RandGammaSpeckled,
    RandPhysicsSpeckle,
    RandPhysicsSpeckled,
    RandRayleighSpeckle,
    RandRayleighSpeckled,
    RandSpeckleNoise,
    RandSpeckleNoised,
)

ARRAY_TRANSFORMS = [
    lambda: RandSpeckleNoise(prob=1.0),
    lambda: RandRayleighSpeckle(prob=1.0, strength=(0.5, 1.0)),
    lambda: RandGammaSpeckle(prob=1.0, looks=(1.0, 4.0)),
    lambda: RandPhysicsSpeckle(prob=1.0),
]
DICT_TRANSFORMS = [
    lambda **kw: RandSpeckleNoised(keys=["a", "b"], **kw),
    lambda **kw: RandRayleighSpeckled(keys=["a", "b"], **kw),
    lambda **kw: RandGammaSpeckled(keys=["a", "b"], **kw),
    lambda **kw: RandPhysicsSpeckled(keys=["a", "b"], **kw),
]


def _image(seed: int = 0, shape=(1, 48, 40)) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1


@pytest.mark.parametrize("make", ARRAY_TRANSFORMS)
def test_same_seed_same_output_and_different_seed_different_output(make):
    image = _image()
    first = make().set_random_state(seed=3)
    second = make().set_random_state(seed=3)
    other = make().set_random_state(seed=4)
    outputs = [first(image) for _ in range(2)]
    torch.testing.assert_close(outputs[0], second(image), rtol=0, atol=0)
    torch.testing.assert_close(outputs[1], second(image), rtol=0, atol=0)
    assert not torch.equal(outputs[0], outputs[1])  # a new draw at every call
    assert not torch.equal(outputs[0], other(image))
    assert outputs[0].shape == image.shape and outputs[0].dtype == torch.float32


@pytest.mark.parametrize(
    ("transform", "function", "kwargs"),
    [
        (RandSpeckleNoise(prob=1.0, var=(0.2, 0.6), mean=0.05), gaussian_speckle, {"mean": 0.05}),
        (RandRayleighSpeckle(prob=1.0, strength=(0.2, 0.9)), rayleigh_speckle, {}),
        (RandGammaSpeckle(prob=1.0, looks=(1.0, 8.0)), gamma_speckle, {}),
    ],
)
def test_transform_applies_the_function_with_its_drawn_parameter_and_seed(transform, function, kwargs):
    image = _image(1)
    transform.set_random_state(seed=11)
    drawn = []
    for _ in range(4):
        out = transform(image)
        value, seed = transform._value, transform._seed
        low, high = transform.value_range
        assert low <= value <= high
        drawn.append(value)
        generator = torch.Generator().manual_seed(seed)
        expected = function(image, value, generator=generator, **kwargs)
        torch.testing.assert_close(out.as_tensor(), expected, rtol=0, atol=0)
    assert len(set(drawn)) == 4  # the parameter is re-sampled from its range


def test_prob_zero_returns_the_input_and_fixed_parameters_are_used_as_given():
    image = _image(2)
    torch.testing.assert_close(RandSpeckleNoise(prob=0.0)(image).as_tensor(), image, rtol=0, atol=0)
    fixed = RandSpeckleNoise(prob=1.0, var=0.3).set_random_state(0)
    for _ in range(3):
        fixed(image)
        assert fixed._value == 0.3
    hits = RandRayleighSpeckle(prob=0.3).set_random_state(5)
    changed = [not torch.equal(hits(image).as_tensor(), image) for _ in range(200)]
    assert 0.2 < np.mean(changed) < 0.4


def test_metadata_and_numpy_input_are_handled():
    meta = MetaTensor(_image(3), meta={"filename_or_obj": "case_001.nii.gz"})
    out = RandGammaSpeckle(prob=1.0).set_random_state(0)(meta)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "case_001.nii.gz"
    from_numpy = RandGammaSpeckle(prob=1.0).set_random_state(0)(meta.as_tensor().numpy())
    assert isinstance(from_numpy, torch.Tensor)
    torch.testing.assert_close(from_numpy.as_tensor(), out.as_tensor(), rtol=0, atol=0)
    keep = RandSpeckleNoise(prob=1.0, dtype=None)(_image(3).double())
    assert keep.dtype == torch.float64 and keep.device.type == "cpu"


@pytest.mark.parametrize("make", DICT_TRANSFORMS)
def test_dict_twins_map_only_their_keys_with_independent_noise(make):
    image = _image(4)
    label = torch.zeros(1, 48, 40, dtype=torch.uint8)
    data = {"a": image, "b": image.clone(), "label": label, "name": "case"}
    out = make(prob=1.0).set_random_state(seed=9)(data)
    assert out["label"] is label and out["name"] == "case"
    assert not torch.equal(out["a"].as_tensor(), image)
    assert not torch.equal(out["a"], out["b"])  # same image, independent draws
    again = make(prob=1.0).set_random_state(seed=9)(data)
    torch.testing.assert_close(again["a"], out["a"], rtol=0, atol=0)
    torch.testing.assert_close(again["b"], out["b"], rtol=0, atol=0)
    shared = make(prob=1.0, same_noise=True).set_random_state(seed=9)(data)
    torch.testing.assert_close(shared["a"], shared["b"], rtol=0, atol=0)


def test_dict_prob_is_decided_once_for_all_keys_and_missing_keys_are_optional():
    transform = RandSpeckleNoised(keys=["a", "b"], prob=0.5).set_random_state(1)
    image = _image(5)
    states = set()
    for _ in range(40):
        out = transform({"a": image, "b": image})
        states.add((torch.equal(out["a"].as_tensor(), image), torch.equal(out["b"].as_tensor(), image)))
    assert states == {(True, True), (False, False)}
    with pytest.raises(KeyError):
        RandSpeckleNoised(keys=["a", "b"], prob=1.0)({"a": image})
    out = RandSpeckleNoised(keys=["a", "b"], prob=1.0, allow_missing_keys=True)({"a": image})
    assert set(out) == {"a"}


def test_physics_transform_simulates_each_channel_with_the_spacing_of_the_image():
    echogenicity = torch.ones(2, 64, 48)
    echogenicity[:, 20:40, 10:30] = 0.0
    transform = RandPhysicsSpeckle(spacing_mm=(0.3, 0.3)).set_random_state(2)
    plain = transform(echogenicity)
    assert plain.shape == (2, 64, 48) and plain.min() >= 0.0 and plain.max() <= 1.0
    assert not torch.equal(plain[0], plain[1])  # channels get their own scatterers
    assert plain[:, 25:35, 15:25].max() < 0.05  # anechoic region is black
    # the seed drawn by the transform drives simulate_bmode on the [C, 1, H, W] batch
    expected = simulate_bmode(
        echogenicity[:, None], (0.3, 0.3), transform.params, torch.Generator().manual_seed(transform._seed)
    )[:, 0]
    torch.testing.assert_close(plain.as_tensor(), expected, rtol=0, atol=0)

    affine = torch.diag(torch.tensor([0.05, 0.08, 1.0, 1.0], dtype=torch.float64))
    with_meta = MetaTensor(echogenicity, affine=affine)
    transform.set_random_state(2)
    out = transform(with_meta)
    assert transform._spacing == pytest.approx((0.05, 0.08))
    expected = simulate_bmode(
        echogenicity[:, None], (0.05, 0.08), generator=torch.Generator().manual_seed(transform._seed)
    )
    torch.testing.assert_close(out.as_tensor(), expected[:, 0], rtol=0, atol=0)
    assert torch.equal(out.affine, affine)
    transform(MetaTensor(echogenicity))  # identity affine: no spacing information
    assert transform._spacing == (0.3, 0.3)
    envelope = RandPhysicsSpeckle(output="envelope")(echogenicity)
    assert envelope.max() > 1.0  # linear amplitude, not display range


def test_multiscale_perturbation_stacks_views_and_dict_adds_view_keys():
    image = MetaTensor(_image(6, (2, 32, 24)), meta={"filename_or_obj": "x.png"})
    stacked = MultiScalePerturbation(scales=(1.0, 0.5))(image)
    assert stacked.shape == (4, 32, 24) and stacked.meta["filename_or_obj"] == "x.png"
    views = multiscale_views(image.as_tensor(), (1.0, 0.5))
    torch.testing.assert_close(stacked.as_tensor(), torch.cat(views), rtol=0, atol=0)

    out = MultiScalePerturbationd(keys="image")({"image": image, "label": 1})
    assert set(out) == {"image", "label", "image_view_0", "image_view_1", "image_view_2"}
    assert out["image"] is image
    for i, view in enumerate(multiscale_views(image.as_tensor())):
        torch.testing.assert_close(out[f"image_view_{i}"].as_tensor(), view, rtol=0, atol=0)
    out = MultiScalePerturbationd(keys="image", scales=(1.0, 0.25), stack=True)({"image": image})
    assert set(out) == {"image"} and out["image"].shape == (4, 32, 24)


def test_transforms_build_by_name_from_a_bundle_config_and_compose_reproducibly():
    config = {
        "transforms": {
            "_target_": "Compose",
            "transforms": [
                {
                    "_target_": "monai_despeckle.transforms.RandPhysicsSpeckled",
                    "keys": ["image"],
                    "params": {"center_frequency_mhz": 5.0, "lateral_beam_width_mm": 0.8},
                },
                {
                    "_target_": "monai_despeckle.transforms.RandSpeckleNoised",
                    "keys": ["image"],
                    "prob": 1.0,
                    "var": [0.1, 0.5],
                },
                {"_target_": "monai_despeckle.transforms.RandRayleighSpeckled", "keys": "image", "prob": 0.5},
                {
                    "_target_": "monai_despeckle.transforms.RandGammaSpeckled",
                    "keys": "image",
                    "looks": [1, 4],
                },
                {"_target_": "monai_despeckle.transforms.MultiScalePerturbationd", "keys": "image"},
            ],
        }
    }
    parser = ConfigParser(config)
    pipeline = parser.get_parsed_content("transforms")
    assert isinstance(pipeline, Compose)
    physics = pipeline.transforms[0]
    assert isinstance(physics, RandPhysicsSpeckled)
    assert physics.transform.params.center_frequency_mhz == 5.0
    assert pipeline.transforms[1].transform.value_range == (0.1, 0.5)

    echogenicity = torch.ones(1, 40, 32)
    a = pipeline.set_random_state(seed=123)({"image": echogenicity})
    b = (
        ConfigParser(config)
        .get_parsed_content("transforms")
        .set_random_state(seed=123)({"image": echogenicity})
    )
    assert {"image_view_0", "image_view_1", "image_view_2"} <= set(a)
    for key in ("image", "image_view_2"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_bad_arguments_raise_despeckle_errors():
    with pytest.raises(DespeckleError, match="var"):
        RandSpeckleNoise(var=(0.9, 0.1))
    with pytest.raises(DespeckleError, match="strength"):
        RandRayleighSpeckle(strength=2.0)
    with pytest.raises(DespeckleError, match="looks"):
        RandGammaSpeckled(keys="image", looks=(0.0, 1.0))
    with pytest.raises(DespeckleError, match="output"):
        RandPhysicsSpeckle(output="rf")
    with pytest.raises(DespeckleError, match="lateral_beam_width_mm"):
        RandPhysicsSpeckle(params={"lateral_beam_width_mm": -1.0})
    with pytest.raises(DespeckleError, match="scale"):
        MultiScalePerturbation(scales=(1.0, 2.0))
    with pytest.raises(InvalidImageError, match=r"\[C, H, W\]"):
        RandPhysicsSpeckle()(torch.ones(8, 8))
    with pytest.raises(InvalidImageError, match=r"\[C, H, W\]"):
        MultiScalePerturbation()(torch.ones(1, 1, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", ARRAY_TRANSFORMS)
def test_cuda_tensors_stay_on_cuda_and_are_reproducible(make):
    image = _image(7).cuda()
    a = make().set_random_state(1)(image)
    b = make().set_random_state(1)(image)
    assert a.device.type == "cuda"
    torch.testing.assert_close(a, b, rtol=0, atol=0)
