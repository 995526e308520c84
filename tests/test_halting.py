"""The halting module against hand computations, finite differences and
Monte Carlo: PonderNet (openclrs.halting.ponder), ACT (.act) and the
NEGA-style termination head (.termination)."""

import math

import pytest
import torch

from openclrs.halting.act import act_halting, act_loss, weighted_output
from openclrs.halting.ponder import (
    HaltingHead, expected_steps, gather_steps, geometric_prior, geometric_prior_per_sample,
    halting_distribution, kl_divergence, ponder_loss, sample_halting_step, threshold_halting_step,
    training_steps)
from openclrs.halting.termination import (
    TerminationHead, termination_loss, termination_step, termination_targets)


def random_lambdas(steps=6, batch=5, seed=0, dtype=torch.float64):
    return torch.rand(steps, batch, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- the distribution

@pytest.mark.parametrize("truncate", ["last", "renormalise"])
def test_p_is_a_distribution_after_truncation(truncate):
    lambdas = random_lambdas() * 0.3            # small λ: much mass is left past N
    p = halting_distribution(lambdas, truncate=truncate)
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(0), torch.ones(5, dtype=torch.float64), atol=1e-12, rtol=0)


def test_p_by_hand_both_truncations():
    lambdas = torch.tensor([[0.5], [0.5], [0.5]], dtype=torch.float64)
    last = halting_distribution(lambdas, truncate="last")
    assert last[:, 0].tolist() == [0.5, 0.25, 0.25]          # p_3 = the remainder 1 − 0.75
    renormalised = halting_distribution(lambdas, truncate="renormalise")
    torch.testing.assert_close(renormalised[:, 0], torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=torch.float64))
    # the last λ is ignored under "last"
    other = lambdas.clone()
    other[-1] = 0.01
    assert torch.equal(halting_distribution(other), last)


def test_constant_lambda_is_geometric():
    lam = 0.3
    p = halting_distribution(torch.full((8, 1), lam, dtype=torch.float64))
    for n in range(1, 8):
        assert p[n - 1, 0].item() == pytest.approx(lam * (1 - lam) ** (n - 1), abs=1e-15)


def test_all_zero_lambdas_renormalised_go_to_the_last_step():
    p = halting_distribution(torch.zeros(4, 2), truncate="renormalise")
    assert p[:, 0].tolist() == [0, 0, 0, 1]


def test_per_sample_lengths():
    lambdas = random_lambdas(steps=5, batch=3)
    lengths = torch.tensor([1, 3, 5])
    for truncate in ("last", "renormalise"):
        p = halting_distribution(lambdas, truncate=truncate, lengths=lengths)
        torch.testing.assert_close(p.sum(0), torch.ones(3, dtype=torch.float64))
        assert p[1:, 0].abs().sum() == 0 and p[3:, 1].abs().sum() == 0
        torch.testing.assert_close(p[:3, 1], halting_distribution(lambdas[:3, 1:2], truncate=truncate)[:, 0])
    prior = geometric_prior_per_sample(0.5, lengths, 5, dtype=torch.float64)
    torch.testing.assert_close(prior[:3, 1], geometric_prior(0.5, 3, dtype=torch.float64))
    assert prior[0, 0] == 1 and prior[1:, 0].sum() == 0
    with pytest.raises(ValueError, match="lengths must lie in 1..5"):
        halting_distribution(lambdas, lengths=torch.tensor([0, 1, 2]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="truncate"):
        halting_distribution(random_lambdas(), truncate="none")
    with pytest.raises(ValueError, match="lambdas must be"):
        halting_distribution(torch.rand(4))
    with pytest.raises(ValueError, match="lambda_p"):
        geometric_prior(0.0, 4)


# ---------------------------------------------------------------- prior and KL

def test_geometric_prior_normalised_and_not():
    prior = geometric_prior(0.5, 3, dtype=torch.float64)
    torch.testing.assert_close(prior, torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=torch.float64))
    raw = geometric_prior(0.5, 3, dtype=torch.float64, normalise=False)
    assert raw.tolist() == [0.5, 0.25, 0.125]


def test_kl_by_hand_and_its_direction():
    p = torch.tensor([[0.5], [0.25], [0.25]], dtype=torch.float64)
    prior = geometric_prior(0.5, 3, dtype=torch.float64)       # 4/7, 2/7, 1/7
    by_hand = 0.5 * math.log(0.5 / (4 / 7)) + 0.25 * math.log(0.25 / (2 / 7)) + 0.25 * math.log(0.25 / (1 / 7))
    assert kl_divergence(p, prior).item() == pytest.approx(by_hand, abs=1e-14)
    reverse = (4 / 7) * math.log((4 / 7) / 0.5) + (2 / 7) * math.log((2 / 7) / 0.25) + (1 / 7) * math.log((1 / 7) / 0.25)
    swapped = kl_divergence(prior[:, None], p[:, 0]).item()
    assert swapped == pytest.approx(reverse, abs=1e-14)
    assert abs(swapped - by_hand) > 1e-3                         # the direction matters
    assert kl_divergence(prior[:, None], prior).item() == pytest.approx(0, abs=1e-15)


def test_kl_with_zero_probabilities():
    p = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64, requires_grad=True)
    prior = geometric_prior(0.5, 3, dtype=torch.float64)
    kl = kl_divergence(p, prior)
    assert kl.item() == pytest.approx(-math.log(4 / 7))         # 0 log 0 = 0
    kl.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_kl_with_per_sample_caps_is_each_sample_cut_to_its_length():
    """After a sample's cap both p and its prior are 0: those steps add 0
    (not 0 · (log tiny − log 0) = NaN), in the value and in the gradient."""
    lengths = torch.tensor([2, 4, 6])
    lambdas = random_lambdas(steps=6, batch=3, seed=3).requires_grad_()
    p = halting_distribution(lambdas, lengths=lengths)
    prior = geometric_prior_per_sample(0.3, lengths, 6, dtype=torch.float64)
    kl = kl_divergence(p, prior)
    for b, n in enumerate(lengths.tolist()):
        alone = halting_distribution(lambdas[:n, b:b + 1].detach())
        expected = kl_divergence(alone, geometric_prior(0.3, n, dtype=torch.float64))
        torch.testing.assert_close(kl[b:b + 1], expected, rtol=0, atol=1e-14)
    step_losses = torch.rand(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss, parts = ponder_loss(p, step_losses, lambda_p=0.3, beta=0.5, prior=prior)
    assert torch.isfinite(loss) and torch.isfinite(parts["kl"])
    loss.backward()
    assert torch.isfinite(lambdas.grad).all()
    assert lambdas.grad[lengths[0]:, 0].abs().sum() == 0          # steps past the cap: no gradient

    def capped_loss(lam):
        p = halting_distribution(lam, lengths=lengths)
        return ponder_loss(p, step_losses, lambda_p=0.3, beta=0.5, prior=prior)[0]
    assert torch.autograd.gradcheck(capped_loss, (lambdas.detach().clone().requires_grad_(),))
    # p > 0 where the prior is 0 stays +inf: the KL is infinite there, as it should be
    assert kl_divergence(torch.tensor([[0.5], [0.5]], dtype=torch.float64),
                         torch.tensor([1.0, 0.0], dtype=torch.float64)).item() == math.inf


# ---------------------------------------------------------------- loss, expected steps, gradients

def test_ponder_loss_parts_by_hand():
    lambdas = torch.tensor([[0.5, 1.0], [0.5, 0.2], [0.5, 0.7]], dtype=torch.float64)
    p = halting_distribution(lambdas)                          # [.5,.25,.25], [1,0,0]
    losses = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    loss, parts = ponder_loss(p, losses, lambda_p=0.5, beta=0.1)
    reconstruction = ((0.5 * 1 + 0.25 * 3 + 0.25 * 5) + 2.0) / 2
    prior = [4 / 7, 2 / 7, 1 / 7]
    kl = ((0.5 * math.log(0.5 / prior[0]) + 0.25 * math.log(0.25 / prior[1]) + 0.25 * math.log(0.25 / prior[2]))
          + math.log(1 / prior[0])) / 2
    assert parts["reconstruction"].item() == pytest.approx(reconstruction)
    assert parts["kl"].item() == pytest.approx(kl)
    assert parts["expected_steps"].item() == pytest.approx((0.5 + 0.5 + 0.75 + 1) / 2)
    assert loss.item() == pytest.approx(reconstruction + 0.1 * kl)


def test_reconstruction_weights_step_losses_not_the_mean_prediction():
    """Σ p_n 𝓛(y, ŷ_n) differs from 𝓛(y, Σ p_n ŷ_n) (ACT's mean field)."""
    p = halting_distribution(torch.tensor([[0.5], [0.5]], dtype=torch.float64))
    logits = torch.tensor([[4.0], [-4.0]], dtype=torch.float64)
    target = torch.ones(2, 1, dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    step_losses = bce(logits, target, reduction="none")
    _, parts = ponder_loss(p, step_losses, lambda_p=0.5, beta=0.0)
    mean_field = bce(weighted_output(p, logits), target[0])
    assert abs(parts["reconstruction"].item() - mean_field.item()) > 1.0


def test_always_halting_at_step_one_is_a_one_step_model():
    """λ_1 = 1 puts all mass on step 1: the loss is step 1's loss (+ β·(−log p_G(1)))."""
    lambdas = random_lambdas(steps=5, batch=4)
    lambdas[0] = 1.0
    p = halting_distribution(lambdas)
    assert p[0].tolist() == [1.0] * 4
    step_losses = random_lambdas(steps=5, batch=4, seed=1) * 3
    loss, parts = ponder_loss(p, step_losses, lambda_p=0.3, beta=0.0)
    assert loss.item() == pytest.approx(step_losses[0].mean().item(), abs=1e-15)
    loss, parts = ponder_loss(p, step_losses, lambda_p=0.3, beta=0.5)
    prior_1 = geometric_prior(0.3, 5, dtype=torch.float64)[0].item()
    assert loss.item() == pytest.approx(step_losses[0].mean().item() - 0.5 * math.log(prior_1))
    assert parts["expected_steps"].item() == 1.0


@pytest.mark.parametrize("truncate", ["last", "renormalise"])
def test_gradients_match_finite_differences(truncate):
    lambdas = (random_lambdas(steps=5, batch=3) * 0.8 + 0.1).requires_grad_()
    step_losses = random_lambdas(steps=5, batch=3, seed=2)
    assert torch.autograd.gradcheck(
        lambda lam: expected_steps(halting_distribution(lam, truncate=truncate)), (lambdas,))
    assert torch.autograd.gradcheck(
        lambda lam: ponder_loss(halting_distribution(lam, truncate=truncate), step_losses,
                                lambda_p=0.2, beta=0.3)[0], (lambdas,))


def test_expected_steps_falls_when_lambdas_rise():
    lambdas = (random_lambdas(steps=6, batch=2) * 0.8 + 0.1).requires_grad_()
    expected_steps(halting_distribution(lambdas)).sum().backward()
    assert (lambdas.grad[:-1] < 0).all()        # raising any λ_n, n < N, halts earlier
    assert (lambdas.grad[-1] == 0).all()        # λ_N is ignored under truncate="last"


def test_expected_steps_by_hand():
    p = torch.tensor([[0.5], [0.25], [0.25]])
    assert expected_steps(p).item() == pytest.approx(1.75)


# ---------------------------------------------------------------- unrolling and evaluation

def test_training_steps_epsilon_rule():
    lambdas = torch.tensor([[0.5, 0.96, 0.0], [0.5, 0.0, 0.0], [0.5, 0.0, 0.0],
                            [0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 0.0, 0.0]])
    # cumulative 1 − 0.5^n: .5 .75 .875 .9375 .96875 -> first > 0.95 at n = 5
    assert training_steps(lambdas).tolist() == [5, 1, 6]       # never reached: capped at N = 6
    assert training_steps(lambdas, epsilon=0.2).tolist() == [3, 1, 6]
    p = halting_distribution(lambdas)
    assert training_steps(p, given="p").tolist() == [5, 1, 6]


def test_threshold_halting_by_hand():
    lambdas = torch.tensor([[0.2, 1.0, 0.0, 0.5], [0.3, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    # sample 0: cumulative .2, .44, .72 -> step 2 (0-based); sample 3: .5 reaches 0.5 at once
    assert threshold_halting_step(lambdas).tolist() == [2, 0, 2, 0]
    assert threshold_halting_step(lambdas, threshold=0.4).tolist() == [1, 0, 2, 0]


def test_sampled_halting():
    lambdas = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.3, 0.0]]).repeat(1, 3)
    steps = sample_halting_step(lambdas, torch.Generator().manual_seed(0))
    assert steps.tolist() == [0, 2] * 3                 # λ=1 halts at once; λ=0 runs to the end
    lambdas = torch.full((6, 20000), 0.3, dtype=torch.float64)
    lambdas[2] = 0.7
    a = sample_halting_step(lambdas, torch.Generator().manual_seed(7))
    b = sample_halting_step(lambdas, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)                            # reproducible under a seed
    mean = (a + 1).double().mean().item()
    exact = expected_steps(halting_distribution(lambdas[:, :1]))[0].item()
    assert mean == pytest.approx(exact, abs=0.05)       # Monte Carlo (std error ≈ 0.011)


def test_gather_steps():
    values = torch.arange(12.0).view(3, 2, 2)
    assert gather_steps(values, torch.tensor([2, 0])).tolist() == [[8, 9], [2, 3]]


def test_halting_head_starts_at_its_initial_lambda():
    head = HaltingHead(8, initial_lambda=0.2)
    lam = head(torch.randn(3, 4, 8))
    assert lam.shape == (3, 4)
    torch.testing.assert_close(lam, torch.full((3, 4), 0.2))
    lam.sum().backward()
    assert head.linear.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- ACT

def test_act_remainder_and_ponder_cost_by_hand():
    h = torch.tensor([[0.3, 0.1, 0.995], [0.5, 0.1, 0.5], [0.4, 0.1, 0.5], [0.9, 0.1, 0.5]],
                     dtype=torch.float64, requires_grad=True)
    act = act_halting(h, epsilon=0.01)
    # sample 0: Σh = .3, .8, 1.2 -> N = 3, R = 1 − .8; sample 1 never reaches .99 -> N = 4 (the cap),
    # R = 1 − .3; sample 2: h_1 = .995 ≥ .99 -> N = 1, R = 1
    assert act.steps.tolist() == [3, 4, 1]
    torch.testing.assert_close(act.remainder, torch.tensor([0.2, 0.7, 1.0], dtype=torch.float64))
    torch.testing.assert_close(act.ponder_cost, torch.tensor([3.2, 4.7, 2.0], dtype=torch.float64))
    torch.testing.assert_close(act.p.detach(), torch.tensor(
        [[0.3, 0.1, 1.0], [0.5, 0.1, 0], [0.2, 0.1, 0], [0, 0.7, 0]], dtype=torch.float64))
    torch.testing.assert_close(act.p.sum(0), torch.ones(3, dtype=torch.float64))
    act.ponder_cost.sum().backward()            # only through R: −1 for every n < N(t)
    torch.testing.assert_close(h.grad, torch.tensor(
        [[-1, -1, 0], [-1, -1, 0], [0, -1, 0], [0, 0, 0]], dtype=torch.float64))


def test_act_loss_and_weighted_output():
    p = torch.tensor([[0.25], [0.75]])
    outputs = torch.tensor([[[4.0, 0.0]], [[0.0, 8.0]]])
    assert weighted_output(p, outputs).tolist() == [[1.0, 6.0]]
    assert act_loss(torch.tensor(1.0), torch.tensor([2.0, 4.0]), tau=0.1).item() == pytest.approx(1.3)
    with pytest.raises(ValueError, match="tau"):
        act_loss(torch.tensor(1.0), torch.tensor([2.0]), tau=-1)


# ---------------------------------------------------------------- NEGA-style termination

def test_termination_targets_and_off_by_one():
    targets, valid = termination_targets(torch.tensor([4, 1, 2]), 4)
    assert targets.T.tolist() == [[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert valid.T.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]]


def test_termination_loss_by_hand():
    logits = torch.tensor([[0.0, 2.0], [1.0, 5.0]])
    lengths = torch.tensor([2, 1])
    # sample 0: BCE(0, target 0) = ln 2, BCE(1, target 1) = ln(1 + e^−1); sample 1: BCE(2, 1) only
    by_hand = (math.log(2) + math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2))) / 3
    assert termination_loss(logits, lengths).item() == pytest.approx(by_hand, abs=1e-6)
    assert termination_step(logits).tolist() == [1, 0]
    assert termination_step(torch.full((3, 2), -5.0)).tolist() == [2, 2]    # never: the cap


def test_termination_head_pools_one_graph_only():
    torch.manual_seed(0)
    head = TerminationHead(6)
    states = torch.randn(1, 3, 6)
    alone = head(states)
    padded = torch.cat([states, 100 * torch.randn(1, 2, 6)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    torch.testing.assert_close(head(padded, mask), alone)
    batch = torch.cat([padded, torch.randn(1, 5, 6)])
    torch.testing.assert_close(head(batch, torch.cat([mask, torch.ones(1, 5, dtype=torch.bool)]))[:1], alone)
    # by hand: max_i w_node·h_i + w_mean·mean_i h_i + b
    by_hand = (states[0] @ head.node.weight[0]).max() + head.mean(states[0].mean(0))[0]
    torch.testing.assert_close(alone[0], by_hand)


def test_termination_head_refuses_a_graph_with_no_node():
    head = TerminationHead(4)
    mask = torch.tensor([[True, False], [False, False]])
    with pytest.raises(ValueError, match=r"no node in graph\(s\) \[1\]"):
        head(torch.randn(2, 2, 4), mask)


def test_kl_is_finite_where_the_prior_underflows_and_lambda_p_1_is_refused():
    """Long horizons: p_G(n) underflows float32 (and float64) for late n,
    which made the KL +inf and the gradients NaN; the log prior in closed
    form keeps it finite. λ_p = 1 puts the whole prior on step 1: refused."""
    from openclrs.halting.ponder import geometric_log_prior

    lam = torch.full((60, 2), 0.1, requires_grad=True)
    p = halting_distribution(lam)
    loss, parts = ponder_loss(p, torch.zeros(60, 2), lambda_p=0.9, beta=1.0)
    assert torch.isfinite(parts["kl"])
    loss.backward()
    assert torch.isfinite(lam.grad).all()
    # the same value as float64 arithmetic with the prior written out
    p64 = halting_distribution(lam.detach().double())
    prior = geometric_prior(0.9, 60, dtype=torch.float64)
    assert parts["kl"].item() == pytest.approx(kl_divergence(p64, prior).mean().item(), rel=1e-5)
    log_prior = geometric_log_prior(0.5, 3000)       # (0.5)^2999 is 0 in float64
    assert torch.isfinite(log_prior).all()
    assert torch.logsumexp(log_prior, 0).item() == pytest.approx(0.0, abs=1e-12)
    for bad in (1.0, 0.0):
        with pytest.raises(ValueError, match="lambda_p"):
            geometric_prior(bad, 4)
    from openclrs.halting.config import HaltingConfig
    with pytest.raises(ValueError, match="lambda_p"):
        HaltingConfig(lambda_p=1.0).validate()


def test_kl_of_bfloat16_halting_probabilities_is_computed_in_float64():
    torch.manual_seed(0)
    lam = (0.2 + 0.02 * torch.randn(30, 4)).clamp(0.01, 0.99)
    want = kl_divergence(halting_distribution(lam.double()), geometric_prior(
        0.2, 30, dtype=torch.float64))
    got = kl_divergence(halting_distribution(lam.bfloat16().float()),
                        geometric_prior(0.2, 30, dtype=torch.float64))
    torch.testing.assert_close(got.double(), want, rtol=0.05, atol=1e-4)
    assert halting_distribution(torch.full((3, 2), 0.5), lengths=[1, 2]).sum(0).tolist() == \
        [1.0, 1.0]   # lengths as a list


def test_log_priors_are_the_logs_of_the_priors():
    from openclrs.halting.ponder import geometric_log_prior, geometric_log_prior_per_sample

    for normalise in (True, False):
        torch.testing.assert_close(geometric_log_prior(0.3, 7, normalise=normalise).exp(),
                                   geometric_prior(0.3, 7, dtype=torch.float64,
                                                   normalise=normalise))
        lengths = torch.tensor([2, 7, 4])
        torch.testing.assert_close(
            geometric_log_prior_per_sample(0.3, lengths, 7, normalise=normalise).exp(),
            geometric_prior_per_sample(0.3, lengths, 7, dtype=torch.float64,
                                       normalise=normalise))


def test_a_fixed_budget_must_be_positive():
    from openclrs.halting.reasoner import check_mode

    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="budget must be"):
            check_mode("fixed", bad)
    check_mode("fixed", 1.5)


def test_sampled_evaluation_draws_differ_between_batches():
    """One seed for every batch gave row b the same draws in each batch
    (correlated errors); the same batch still draws the same."""
    from openclrs.halting.config import HaltingConfig
    from openclrs.halting.reasoner import HaltingDecision

    config = HaltingConfig(kind="learned", evaluation="sample").validate()

    def draws(nodes, steps):
        decision = HaltingDecision(config, "learned", None, nodes, torch.tensor(steps))
        return torch.rand(8, generator=decision.generator)

    assert torch.equal(draws([16, 16], [5, 7]), draws([16, 16], [5, 7]))
    assert not torch.equal(draws([16, 16], [5, 7]), draws([16, 16], [6, 7]))
