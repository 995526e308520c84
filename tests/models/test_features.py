"""Factored edge features: every operation equals the same one on the
features multiplied out."""

import pytest
import torch

from openclrs.models.features import AffineFeatures, project
from openclrs.models.layers import Linear

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = dict(dtype=torch.float64)


def features(d, h=6, seed=0, batch=3):
    g = torch.Generator().manual_seed(seed)
    return AffineFeatures(torch.rand(batch, 4, 4, d, generator=g, **F64),
                          torch.randn(d, h, generator=g, **F64),
                          torch.randn(h, generator=g, **F64))


def test_dense_shape_and_values():
    fts = features(2)
    assert fts.shape == (3, 4, 4, 6) and fts.width == 6
    torch.testing.assert_close(fts.dense(), fts.x @ fts.weight + fts.bias)


def test_no_channels_is_the_bias():
    fts = AffineFeatures(torch.zeros(2, 3, 3, 0, **F64), torch.zeros(0, 5, **F64),
                         torch.arange(5, **F64))
    torch.testing.assert_close(fts.dense(), torch.arange(5, **F64).expand(2, 3, 3, 5))


def test_concat_adds_and_cat_stacks_samples():
    a, b = features(2, seed=1), features(3, seed=2)
    torch.testing.assert_close(AffineFeatures.concat([a, b]).dense(), a.dense() + b.dense())
    both = AffineFeatures.cat([a[:1], a[1:]])
    torch.testing.assert_close(both.dense(), a.dense())
    torch.testing.assert_close(a[1:, 2].dense(), a.dense()[1:, 2])


def test_project_equals_the_layer_on_the_concatenation():
    torch.manual_seed(0)
    fts = features(2)
    msgs = torch.randn(3, 4, 4, 5, **F64)
    layer = Linear(11, 7).double()
    want = layer(torch.cat([fts.dense(), msgs], dim=-1))
    torch.testing.assert_close(project(layer, fts, msgs), want)
    torch.testing.assert_close(project(layer, fts.dense(), msgs), want)
    layer6 = Linear(6, 7).double()
    torch.testing.assert_close(project(layer6, fts, None), layer6(fts.dense()))
    with pytest.raises(ValueError, match="width"):
        project(layer, fts)


def test_project_gradients():
    torch.manual_seed(0)
    layer = Linear(6, 3).double()
    x = torch.rand(2, 4, 4, 2, **F64, requires_grad=True)
    w = torch.randn(2, 6, **F64, requires_grad=True)
    b = torch.randn(6, **F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: project(layer, AffineFeatures(x, w, b)), (x, w, b))


def test_project_adds_in_the_product():
    torch.manual_seed(0)
    fts, msgs = features(2), torch.randn(3, 4, 4, 5, **F64)
    extra = torch.randn(3, 4, 4, 7, **F64)
    layer = Linear(11, 7).double()
    want = layer(torch.cat([fts.dense(), msgs], dim=-1)) + extra
    torch.testing.assert_close(project(layer, fts, msgs, add=extra), want)
    torch.testing.assert_close(project(layer, fts.dense(), msgs, add=extra), want)
    layer6 = Linear(6, 7).double()
    torch.testing.assert_close(project(layer6, fts.dense(), add=extra), layer6(fts.dense()) + extra)
