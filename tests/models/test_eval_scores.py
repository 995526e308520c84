"""Evaluation's edge-pointer scores (kernels.max_score_scores): the same bits
as the autograd Function training uses, on their own and through a whole
model's predictions, whatever the threads and blocks; training still goes
through the Function."""

import numpy as np
import pytest
import torch

from openclrs.data.batching import collate
from openclrs.models import kernels as K
from openclrs.models.config import ModelConfig
from openclrs.samplers import Sampler
from openclrs.training.config import TrainConfig
from openclrs.training.loop import _apply_eval, build_model


@pytest.fixture(autouse=True)
def torch_path(monkeypatch):
    """These tests are about torch's path (the same bits as the Function);
    the fused C kernels, which sum in another order, are tested in
    test_fused.py."""
    monkeypatch.setenv("OPENCLRS_NO_FUSED", "1")


@pytest.fixture
def threads():
    """Restores the caller's thread count, whatever a test sets."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def operands(b, r, k, h, dtype, seed=0, ties=False):
    g = torch.Generator().manual_seed(seed)
    make = ((lambda *s: torch.randint(-2, 3, s, generator=g).to(dtype)) if ties
            else (lambda *s: torch.randn(*s, generator=g, dtype=dtype)))
    return make(b, r, h), make(b, k, h), make(h), make(1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("block, eval_block", [(None, None), (40, 210), (None, 7), (210, 7)])
@pytest.mark.parametrize("ties", [False, True])
def test_scores_are_the_functions_bits(dtype, block, eval_block, ties, threads, monkeypatch):
    """Every thread count and block size of either (a row is 30 elements of
    maxima: one row per block at 7 and 40, seven rows and a shorter last
    block at 210, all 50 rows at once by default in evaluation) gives
    MaxScore.forward's values exactly, ties included: blocks of different
    rows in the two (threads take blocks across samples' bounds at 210)."""
    if block is not None:
        monkeypatch.setattr(K.MaxScore, "BLOCK", block)
    if eval_block is not None:
        monkeypatch.setattr(K, "EVAL_BLOCK", eval_block)
    a, t, w, bias = operands(3, 50, 6, 5, dtype, ties=ties)
    with torch.no_grad():
        expected = K.MaxScore.apply(a, t, w, bias)
        assert torch.equal(expected, torch.maximum(a[:, :, None], t[:, None]) @ w + bias) \
            or not ties  # (exact sums of small integers: the plain expression too)
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.equal(K.max_score_scores(a, t, w, bias), expected)


def test_workers_leave_the_callers_threads_alone(threads):
    torch.set_num_threads(2)
    a, t, w, bias = operands(2, 300, 8, 4, torch.float32)
    with torch.no_grad():
        K.max_score_scores(a, t, w, bias)
    assert torch.get_num_threads() == 2


def test_training_takes_the_function_and_evaluation_the_scores():
    a, t, w, bias = operands(2, 5, 3, 4, torch.float64)
    linear = torch.nn.Linear(4, 1).double()
    a.requires_grad_(True)
    assert type(K.max_score(a, t, linear).grad_fn).__name__ == "MaxScoreBackward"
    with torch.no_grad():
        assert K.max_score(a, t, linear).grad_fn is None
        assert torch.equal(K.max_score(a, t, linear),
                           K.MaxScore.apply(a, t, linear.weight[0], linear.bias))


def through_the_function(a, t, linear):
    """max_score as it was: the autograd Function, also without gradients."""
    return K.MaxScore.apply(a, t, linear.weight[0], linear.bias)


@pytest.mark.parametrize("algorithm", ["floyd_warshall", "optimal_bst"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_predictions_equal_the_straightforward_path(algorithm, dtype, threads, monkeypatch):
    """A whole model's hard predictions and its soft-fed hint trajectory
    (evaluation feeds hints back soft by default) are the same bits."""
    config = TrainConfig(algorithms=[algorithm], progress=False,
                         model=ModelConfig(hidden_size=16, processor="triplet_gmpnn")).validate()
    torch.manual_seed(0)
    model = build_model(config).to(dtype).eval()
    batch = collate([_apply_eval(t, config) for t in Sampler(algorithm, 7, seed=3).take(3)])
    monkeypatch.setattr(K.MaxScore, "BLOCK", 1000)  # several blocks per sample
    monkeypatch.setattr(K, "EVAL_BLOCK", 700)        # other blocks in evaluation
    torch.set_num_threads(2)
    lean = model.predict(batch)
    with torch.no_grad():
        lean_hints = model(batch, repred=True).hints
    monkeypatch.setattr("openclrs.models.decoders.max_score", through_the_function)
    plain = model.predict(batch)
    with torch.no_grad():
        plain_hints = model(batch, repred=True).hints
    assert lean.keys() == plain.keys()
    for k in plain:
        np.testing.assert_array_equal(lean[k], plain[k])
    for k in plain_hints:
        assert torch.equal(lean_hints[k], plain_hints[k]), k


@pytest.mark.parametrize("block", [None, 30])
def test_triplet_maxima_are_the_functions_bits(block, threads, monkeypatch):
    """kernels.max_over_i_values (evaluation) against MaxOverI.forward, both
    of its ways (all sums at once, one i at a time: block=30), any threads."""
    if block is not None:
        monkeypatch.setattr(K.MaxOverI, "BLOCK", block)
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(5, 6, 7, 3, generator=g), torch.randn(5, 6, 4, 3, generator=g)
    with torch.no_grad():
        expected = K.MaxOverI.apply(a, c)
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.equal(K.max_over_i_values(a, c), expected)
            assert torch.equal(K.max_over_i(a, c), expected)
    a.requires_grad_(True)
    assert type(K.max_over_i(a, c).grad_fn).__name__ == "MaxOverIBackward"


@pytest.mark.parametrize("algorithm", ["floyd_warshall", "bfs"])
def test_predictions_do_not_depend_on_the_threads(algorithm, threads):
    """Reasoner.predict shares the samples among torch.get_num_threads()
    workers: one thread (the whole batch at once), two and three give the
    same predictions, in the batch's order."""
    config = TrainConfig(algorithms=[algorithm], progress=False,
                         model=ModelConfig(hidden_size=16, processor="triplet_gmpnn")).validate()
    torch.manual_seed(0)
    model = build_model(config).eval()
    batch = collate([_apply_eval(t, config) for t in Sampler(algorithm, 6, seed=4).take(5)])
    torch.set_num_threads(1)
    alone = model.predict(batch)
    for n in (2, 3):
        torch.set_num_threads(n)
        shared = model.predict(batch)
        assert torch.get_num_threads() == n
        for k in alone:
            np.testing.assert_array_equal(shared[k], alone[k], err_msg=k)


def test_share_out_takes_parts_in_turn_on_at_most_the_workers(threads):
    """More parts than workers: results in the parts' order, computed on no
    more threads than asked, none of them the caller's, without gradients."""
    import threading

    seen = []

    def work(part):
        seen.append(threading.get_ident())
        assert not torch.is_grad_enabled() and torch.get_num_threads() == 1
        return part * 10

    torch.set_num_threads(2)
    assert K.share_out(work, list(range(9)), workers=2) == [k * 10 for k in range(9)]
    assert len(set(seen)) <= 2 and threading.get_ident() not in seen
    # One part runs in the caller's thread, as it is (no worker to wait for).
    assert K.share_out(lambda p: (p, torch.is_grad_enabled()), [3], workers=2) == [(3, False)]
