"""The faster view of braindecode models computes the same function."""
import numpy as np
import pytest
import torch

from neuroxai.models import build_model
from neuroxai.models._fast import fast_view


@pytest.mark.parametrize("name", ["ShallowFBCSPNet", "Deep4Net"])
def test_fast_view_same_function_shared_parameters(name):
    torch.manual_seed(0)
    model = build_model(name, n_chans=6, n_outputs=3, n_times=500, final_conv_length="auto")
    model.eval().double()
    view = fast_view(model)
    assert view is not model
    assert type(model.conv_time_spat).__name__ == "CombinedConv"  # the caller's is untouched
    assert type(view.conv_time_spat).__name__ == "_CombinedConv1d"
    assert isinstance(view.conv_time_spat, type(model.conv_time_spat))
    # every parameter is the same tensor object, so randomising one changes the other
    assert [id(p) for p in view.parameters()] == [id(p) for p in model.parameters()]
    assert dict(view.named_parameters()).keys() == dict(model.named_parameters()).keys()
    x = torch.randn(4, 6, 500, dtype=torch.float64, requires_grad=True)
    out_m, out_v = model(x), view(x)
    np.testing.assert_allclose(out_v.detach(), out_m.detach(), rtol=1e-10, atol=1e-12)
    g_m, = torch.autograd.grad(out_m[:, 1].sum(), x)
    g_v, = torch.autograd.grad(out_v[:, 1].sum(), x)
    np.testing.assert_allclose(g_v, g_m, rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        model.conv_time_spat.conv_time.weight.mul_(2.0)
    np.testing.assert_allclose(view(x).detach(), model(x).detach(), rtol=1e-10, atol=1e-12)


def test_fast_view_leaves_other_models_alone():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 2))
    assert fast_view(model) is model
