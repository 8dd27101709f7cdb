"""The method registry: lookup by name, clear errors, uniqueness."""

import pytest
import torch

from monai_despeckle import methods, resolver
from monai_despeckle.errors import DespeckleError, UnknownMethodError


class _Halve:
    name = "halve_for_test"

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return frames * 0.5


@pytest.fixture
def registered():
    spec = methods.MethodSpec(
        name="halve_for_test", factory=_Halve, description="test", family="classical", gpu=True
    )
    methods.register_method(spec)
    yield spec
    methods._REGISTRY.pop(spec.name, None)


def test_create_registered_method_and_call_it(registered):
    method = resolver.create_method("halve_for_test")
    assert isinstance(method, methods.Method)
    out = method(torch.ones(2, 1, 4, 4))
    assert torch.equal(out, torch.full((2, 1, 4, 4), 0.5))
    assert "halve_for_test" in resolver.available_methods()


def test_unknown_method_lists_choices(registered):
    with pytest.raises(UnknownMethodError, match="halve_for_test") as info:
        resolver.create_method("no_such_method")
    assert isinstance(info.value, DespeckleError)
    assert "no_such_method" in str(info.value)


def test_duplicate_names_are_refused(registered):
    clash = methods.MethodSpec(
        name="halve_for_test", factory=_Halve, description="other", family="classical", gpu=False
    )
    with pytest.raises(ValueError, match="already registered"):
        methods.register_method(clash)
