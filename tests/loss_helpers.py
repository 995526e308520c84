"""Checks shared by the tests that compare a sparse loss with the dense one."""

import torch


def grads(loss, model):
    """The gradient of ``loss`` for each parameter of ``model`` (None where unused)."""
    return torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)


def assert_same_grads(model, a, b, atol):
    """Two gradients of ``model``'s parameters agree: unused in both, or equal to ``atol``."""
    for (name, _), x, y in zip(model.named_parameters(), a, b):
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=name)


def assert_same_losses(model, sparse, dense, atol):
    """``(total, terms)`` of a sparse and a dense loss of ``model``: the same
    terms, each equal to ``atol``, and the same parameter gradients."""
    (total, terms), (dense_total, dense_terms) = sparse, dense
    assert set(terms) == set(dense_terms)
    for name in terms:
        torch.testing.assert_close(terms[name], dense_terms[name], rtol=0, atol=atol, msg=name)
    assert_same_grads(model, grads(total, model), grads(dense_total, model), atol)
