"""The hand-written autograd Functions of openclrs.models.kernels.

Each gets a float64 ``gradcheck`` (finite differences, on inputs without
ties) and, because finite differences are ill-defined where maxima tie, a
comparison with autograd on the plain expression it stands for, on integer
inputs full of ties: both must split the gradient equally between tied
entries (as torch.amax / torch.maximum and JAX do).
"""

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from openclrs.models import kernels as K

pytestmark = pytest.mark.usefixtures("one_thread")


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)


def ties(*shape, seed=0):
    """Small integers as float64: many exact ties."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-2, 3, shape, generator=g).double().requires_grad_()


def values_and_grads(fn, args):
    """fn(*args) and the gradients of a fixed weighting of it w.r.t. args."""
    args = [a.detach().clone().requires_grad_(a.requires_grad) if a is not None else None
            for a in args]
    out = fn(*args)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
    return [out.detach()] + [a.grad for a in args if a is not None and a.requires_grad]


def assert_same(fn, reference, args):
    for ours, theirs in zip(values_and_grads(fn, args), values_and_grads(reference, args),
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ linear layers

@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_to_one(with_bias):
    x, w = rand(3, 4, 5), rand(5, seed=1)
    bias = rand(1, seed=2) if with_bias else None
    assert gradcheck(K.LinearToOne.apply, (x, w, bias))
    assert_same(K.LinearToOne.apply,
                lambda x, w, b: F.linear(x, w[None], b), (x, w, bias))


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_from_narrow(with_bias):
    x, weight = rand(3, 4, 2), rand(6, 2, seed=1)
    bias = rand(6, seed=2) if with_bias else None
    assert gradcheck(K.LinearFromNarrow.apply, (x, weight, bias))
    assert_same(K.LinearFromNarrow.apply, F.linear, (x, weight, bias))


def test_linear_to_one_without_input_gradient():
    """A layer on data that needs no gradient (the first layer) still trains."""
    x, w, bias = rand(3, 5).detach(), rand(5, seed=1), rand(1, seed=2)
    assert gradcheck(K.LinearToOne.apply, (x, w, bias))
    assert gradcheck(K.LinearFromNarrow.apply, (x, rand(2, 5, seed=3), rand(2, seed=4)))


# ------------------------------------------------------------------- maxima

def plain_amax1(x):
    return x.amax(dim=1)


def plain_max_over_i(a, c):
    return (a[:, :, :, None] + c[:, :, None, :]).amax(dim=1)


def test_amax1():
    assert gradcheck(K.Amax1.apply, (rand(2, 5, 3, 4),))
    assert_same(K.Amax1.apply, plain_amax1, (ties(3, 5, 4, 2),))
    assert_same(K.amax1, plain_amax1, (ties(3, 5, 4, 2, seed=1),))


@pytest.mark.parametrize("block", [None, 1])
def test_max_over_i(block, monkeypatch):
    """``block=1`` takes the large-graph path (one i at a time)."""
    if block is not None:
        monkeypatch.setattr(K.MaxOverI, "BLOCK", block)
    assert gradcheck(K.MaxOverI.apply, (rand(2, 4, 3, 2), rand(2, 4, 5, 2, seed=1)))
    a, c = ties(3, 5, 4, 2), ties(3, 5, 4, 2, seed=1)
    assert_same(K.MaxOverI.apply, plain_max_over_i, (a, c))
    assert_same(K.max_over_i, plain_max_over_i, (a, c))


def test_tie_shares_over_any_axis():
    x = ties(3, 4, 5)
    for dim in range(3):
        out = x.detach().amax(dim)
        grad = torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)
        expected, = torch.autograd.grad(x.amax(dim), x, grad)
        torch.testing.assert_close(K.tie_shares(x.detach(), out, grad, dim=dim), expected,
                                   rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------- pointer scores

def plain_max_score(a, t, w, bias):
    return torch.maximum(a[:, :, None], t[:, None]) @ w + bias


def plain_row_max_score(s, x, w, bias):
    return torch.maximum(s[:, None], x) @ w + bias


@pytest.mark.parametrize("block", [None, 8])
def test_max_score(block, monkeypatch):
    """``block=8`` splits each sample into blocks of rows (one row here)."""
    if block is not None:
        monkeypatch.setattr(K.MaxScore, "BLOCK", block)
    args = (rand(2, 6, 3), rand(2, 4, 3, seed=1), rand(3, seed=2), rand(1, seed=3))
    assert gradcheck(K.MaxScore.apply, args)
    args = (ties(2, 6, 3), ties(2, 4, 3, seed=1), rand(3, seed=2), rand(1, seed=3))
    assert_same(K.MaxScore.apply, plain_max_score, args)


def test_row_max_score():
    args = (rand(2, 4, 3), rand(2, 5, 4, 3, seed=1), rand(3, seed=2), rand(1, seed=3))
    assert gradcheck(K.RowMaxScore.apply, args)
    args = (ties(2, 4, 3), ties(2, 5, 4, 3, seed=1), rand(3, seed=2), rand(1, seed=3))
    assert_same(K.RowMaxScore.apply, plain_row_max_score, args)


def test_score_helpers_equal_a_linear_layer_on_the_max():
    """pointer_scores and max_score, as the decoders call them."""
    from openclrs.models.layers import Linear

    torch.manual_seed(0)
    linear = Linear(3, 1).double()
    source, to_j = ties(2, 4, 3), ties(2, 4, 4, 3, seed=1)
    assert_same(lambda s, x: K.pointer_scores(s, x, linear),
                lambda s, x: linear(torch.maximum(s[:, :, None], x.transpose(1, 2))).squeeze(-1),
                (source, to_j))
    a, t = ties(2, 6, 3, seed=2), ties(2, 4, 3, seed=3)
    assert_same(lambda a, t: K.max_score(a, t, linear),
                lambda a, t: linear(torch.maximum(a[:, :, None], t[:, None])).squeeze(-1),
                (a, t))


def test_every_function_is_tested():
    functions = {name for name, value in vars(K).items()
                 if isinstance(value, type) and issubclass(value, torch.autograd.Function)}
    tested = {name for name in functions if f"K.{name}.apply" in open(__file__).read()}
    assert functions == tested, functions - tested
