"""The reasoner: shapes on every algorithm, gradients, hint modes, teacher
forcing, re-prediction, padding, learning, determinism and configuration.

Numerical agreement with the published Haiku ``nets.Net`` (same parameters:
outputs, hints, losses, gradients and scores on all 32 algorithms, each
hint mode, soft/hard re-prediction, LSTM, several processors) was checked
outside this suite, which must run without JAX; tested here are the
properties that agreement rests on.
"""

import math

import numpy as np
import pytest
import torch

from openclrs import transforms
from openclrs.data.batching import collate
from openclrs.data.torch import TraceStream
from openclrs.models.decoders import log_sinkhorn, postprocess
from openclrs.models.encoders import ProbeEncoder
from openclrs.models.model import ModelConfig, Reasoner, count_parameters
from openclrs.samplers import Sampler
from openclrs.specs import ALL_ALGS, Location, Stage, Type

H, B, N = 16, 4, 5
TINY = ModelConfig(hidden_size=H)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_batch(algorithm, n=N, batch_size=B, seed=0, **options):
    stream = TraceStream(algorithm, batch_size=batch_size, lengths=(n,), seed=seed,
                         as_torch=False, **options)
    return next(iter(stream))


def expected_shape(type_, truth_shape, n):
    """Prediction shape for a target shape: pointers score every node."""
    if type_ in (Type.POINTER, Type.PERMUTATION_POINTER):
        return tuple(truth_shape) + (n,)
    return tuple(truth_shape)


def reads_edges(spec):
    """Whether any decoder of the spec reads the edge features (and so the
    processor's triplet messages)."""
    return any((loc == Location.NODE and t in (Type.POINTER, Type.PERMUTATION_POINTER))
               or loc == Location.EDGE
               for stage, loc, t in spec.values() if stage in (Stage.OUTPUT, Stage.HINT))


# ----------------------------------------------------------- every algorithm

@pytest.mark.parametrize("algorithm", ALL_ALGS)
def test_forward_and_gradients_on_every_algorithm(algorithm):
    torch.manual_seed(0)
    batch = tiny_batch(algorithm)
    model = Reasoner({algorithm: batch.spec}, TINY)
    model.train()
    preds = model(batch)
    steps = max(1, batch.num_steps - 1)
    spec = batch.spec
    n = Reasoner._num_nodes(spec, batch)     # optimal_bst has length + 1 nodes

    assert set(preds.outputs) == set(batch.outputs)
    for name, value in preds.outputs.items():
        assert value.shape == expected_shape(spec[name][2], batch.outputs[name].shape, n), name
        assert torch.isfinite(value).all(), name
    assert set(preds.hints) == set(batch.hints)
    for name, value in preds.hints.items():
        shape = (steps,) + expected_shape(spec[name][2], batch.hints[name].shape[1:], n)
        assert value.shape == shape, name
        assert torch.isfinite(value).all(), name

    loss, terms = model.loss(batch)
    assert set(terms) == set(batch.outputs) | set(batch.hints)
    assert torch.isfinite(loss)
    loss.backward()
    triplets = model.processor.triplets
    triplet_params = set() if triplets is None else {id(p) for p in triplets.parameters()}
    edges_read = reads_edges(spec)
    for name, p in model.named_parameters():
        if id(p) in triplet_params and not edges_read:
            assert p.grad is None, f"{name}: triplet messages are read by no decoder"
            continue
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
    nonzero = sum(int(p.grad.abs().sum() > 0) for p in model.parameters() if p.grad is not None)
    assert nonzero >= 0.9 * sum(1 for p in model.parameters() if p.grad is not None)

    predictions = model.predict(batch)
    for name, value in predictions.items():
        assert isinstance(value, np.ndarray)
        assert value.shape == batch.outputs[name].shape, name


# --------------------------------------------------------------- hint modes

@pytest.mark.parametrize("mode", ["encoded_decoded", "decoded_only", "none"])
def test_hint_modes(mode):
    batch = tiny_batch("dfs")
    model = Reasoner({"dfs": batch.spec}, ModelConfig(hidden_size=H, hint_mode=mode))
    hints = set(batch.hints)
    assert (hints <= set(model.encoders["dfs"])) == (mode == "encoded_decoded")
    assert not (hints & set(model.encoders["dfs"])) or mode == "encoded_decoded"
    assert (hints <= set(model.decoders["dfs"])) == (mode != "none")
    preds = model(batch, repred=False)
    assert set(preds.hints) == (hints if mode != "none" else set())
    loss, terms = model.loss(batch)
    assert set(terms) == set(batch.outputs) | (hints if mode != "none" else set())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name


def hint_decoder_grads(model, batch, algorithm):
    """Which hint decoders the *output* loss alone reaches."""
    from openclrs.models.losses import output_loss

    model.zero_grad()
    preds = model(batch, repred=False)
    total = sum(output_loss(batch.spec[k][2], v, preds.outputs[k])
                for k, v in batch.to_torch().outputs.items())
    total.backward()
    return {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in dec.parameters())
            for name, dec in model.decoders[algorithm].items() if name in batch.hints}


@pytest.mark.parametrize("forcing,repred_mode,flows", [
    (0.0, "soft", True),            # own soft predictions fed back: gradients flow
    (0.0, "hard_on_eval", True),    # soft while training
    (0.0, "hard", False),           # argmaxes: no gradient through the feedback
    (1.0, "soft", False),           # ground truth fed back: predictions unused
])
def test_feedback_of_hint_predictions(forcing, repred_mode, flows):
    torch.manual_seed(0)
    batch = tiny_batch("bfs", n=6, seed=1)
    assert batch.num_steps >= 3
    model = Reasoner({"bfs": batch.spec}, ModelConfig(
        hidden_size=H, hint_teacher_forcing=forcing, hint_repred_mode=repred_mode))
    reached = hint_decoder_grads(model, batch, "bfs")
    assert all(reached.values()) == flows and any(reached.values()) == flows, reached


def test_teacher_forcing_one_ignores_predictions_only_in_training():
    torch.manual_seed(0)
    batch = tiny_batch("dfs", n=6)
    model = Reasoner({"dfs": batch.spec}, ModelConfig(hidden_size=H, hint_teacher_forcing=1.0))
    train = model(batch, repred=False).outputs
    evaluation = model(batch, repred=True).outputs
    with torch.no_grad():   # change what the hint decoders predict
        for name in batch.hints:
            for p in model.decoders["dfs"][name].parameters():
                p.add_(torch.randn_like(p))
    for name, value in model(batch, repred=False).outputs.items():
        torch.testing.assert_close(value, train[name])
    changed = [not torch.allclose(v, evaluation[name])
               for name, v in model(batch, repred=True).outputs.items()]
    assert any(changed)


def test_partial_teacher_forcing_is_seeded():
    batch = tiny_batch("dfs", n=6)
    model = Reasoner({"dfs": batch.spec}, ModelConfig(hidden_size=H, hint_teacher_forcing=0.5))
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(model(batch, repred=False).outputs["pi"])
    torch.testing.assert_close(runs[0], runs[1])


def test_eval_ignores_teacher_forcing_dropout_and_noise():
    batch = tiny_batch("insertion_sort")
    model = Reasoner({"insertion_sort": batch.spec},
                     ModelConfig(hidden_size=H, hint_teacher_forcing=0.5, dropout=0.5))
    model.eval()
    torch.manual_seed(0)
    a = model(batch)
    torch.manual_seed(1)
    b = model(batch)
    for name in a.outputs:
        torch.testing.assert_close(a.outputs[name], b.outputs[name])
    model.train()
    torch.manual_seed(0)
    c = model(batch)
    torch.manual_seed(1)
    d = model(batch)
    assert not torch.allclose(c.outputs["pred"], d.outputs["pred"])


# ----------------------------------------------------------------- lengths

def test_finished_samples_keep_their_last_outputs():
    """A sample padded into a longer batch gets exactly the outputs it gets
    alone: steps past its end leave them unchanged."""
    sampler = Sampler("dag_shortest_paths", 6, seed=0)
    traces = [transforms.apply(t) for t in sampler.take(12)]
    traces = sorted({t.length: t for t in traces}.values(), key=lambda t: t.length)
    assert len(traces) >= 3 and traces[0].length < traces[-1].length
    torch.manual_seed(0)
    model = Reasoner({"dag_shortest_paths": traces[0].spec}, TINY).eval()
    together = model(collate(traces))
    for b, trace in enumerate(traces):
        alone = model(collate([trace]))
        for name, value in alone.outputs.items():
            torch.testing.assert_close(together.outputs[name][b], value[0], atol=1e-5, rtol=1e-5)
        steps = max(1, trace.length - 1)
        for name, value in alone.hints.items():
            torch.testing.assert_close(together.hints[name][:steps, b], value[:, 0],
                                       atol=1e-5, rtol=1e-5)


def test_one_step_traces():
    """A trace with a single hint step still runs one processor step."""
    traces = [t for t in Sampler("bellman_ford", 5, seed=0).take(40) if t.length == 1]
    if not traces:
        pytest.skip("no one-step trace sampled")
    batch = collate([transforms.apply(t) for t in traces[:2]])
    model = Reasoner({"bellman_ford": batch.spec}, TINY)
    preds = model(batch, repred=False)
    assert preds.hints["pi_h"].shape[0] == 1
    loss, terms = model.loss(batch)
    assert torch.isfinite(loss)
    assert terms["pi_h"].item() == 0.0      # nothing to predict


# ----------------------------------------------------------------- learning

def test_loss_falls_with_adam():
    torch.manual_seed(0)
    batch = tiny_batch("bfs", n=6, batch_size=8).to_torch()
    model = Reasoner({"bfs": batch.spec}, TINY)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss, _ = model.loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def test_determinism_under_a_seed():
    batch = tiny_batch("heapsort")
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = Reasoner({"heapsort": batch.spec}, ModelConfig(hidden_size=H, dropout=0.1))
        loss, _ = model.loss(batch)
        loss.backward()
        runs.append((loss.item(), [p.detach().clone() for p in model.parameters()],
                     [p.grad.clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1] + runs[0][2], runs[1][1] + runs[1][2]):
        assert torch.equal(a, b)


def test_compiled_model_matches_eager():
    """``Reasoner.compile`` compiles the per-step modules in place: same
    loss, gradients and predictions, same parameter names. The aot_eager
    backend traces what inductor would (dynamo, our autograd Functions) in
    a fraction of the time; inductor itself ran in the benchmarks."""
    batch = tiny_batch("bfs").to_torch()
    results = []
    for compiled in (False, True):
        torch.manual_seed(3)
        model = Reasoner({"bfs": batch.spec}, TINY)
        names = [n for n, _ in model.named_parameters()]
        if compiled:
            model.compile(backend="aot_eager")
        loss, _ = model.loss(batch)
        loss.backward()
        preds = model(batch, repred=True).outputs["pi"]
        results.append((names, loss.detach(), [p.grad for p in model.parameters()], preds))
    (names, loss, grads, preds), (names_c, loss_c, grads_c, preds_c) = results
    assert names == names_c
    torch.testing.assert_close(loss_c, loss)
    torch.testing.assert_close(preds_c, preds)
    for g, g_c in zip(grads, grads_c):
        torch.testing.assert_close(g_c, g)


# ------------------------------------------------------------ architecture

def test_multi_algorithm_shares_only_the_processor():
    specs = {a: transforms.training_spec(a) for a in ("bfs", "insertion_sort")}
    model = Reasoner(specs, TINY)
    assert model.algorithms == ("bfs", "insertion_sort")
    loss, _ = model.loss(tiny_batch("bfs"))
    loss.backward()
    for name, p in model.named_parameters():
        if "insertion_sort" in name:
            assert p.grad is None, name
        else:
            assert p.grad is not None, name


@pytest.mark.parametrize("options", [dict(use_lstm=True), dict(nb_msg_passing_steps=2),
                                     dict(processor="mpnn"), dict(processor="pgn_mask"),
                                     dict(processor="gatv2", nb_heads=2)])
def test_options_run(options):
    batch = tiny_batch("floyd_warshall")
    model = Reasoner({"floyd_warshall": batch.spec}, ModelConfig(hidden_size=H, **options))
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert model(batch, repred=True).outputs["Pi"].shape == (B, N, N, N)


def test_edge_features_include_triplet_messages_only_when_returned():
    spec = transforms.training_spec("bfs")
    assert Reasoner({"bfs": spec}, TINY).edge_size == 2 * H
    assert Reasoner({"bfs": spec}, ModelConfig(hidden_size=H, processor="mpnn")).edge_size == H


def test_float64_model_runs_in_float64():
    torch.manual_seed(0)
    batch = tiny_batch("insertion_sort")
    model = Reasoner({"insertion_sort": batch.spec}, TINY).double()
    loss, _ = model.loss(batch)
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    loss.backward()
    preds = model.eval()(batch)
    assert all(v.dtype == torch.float64 for v in preds.outputs.values())


def test_published_defaults_and_size():
    cfg = ModelConfig()
    assert (cfg.hidden_size, cfg.processor, cfg.hint_mode, cfg.hint_teacher_forcing,
            cfg.hint_repred_mode, cfg.nb_msg_passing_steps, cfg.use_lstm, cfg.dropout,
            cfg.encoder_init, cfg.use_ln, cfg.nb_triplet_fts, cfg.nb_heads) == (
        128, "triplet_gmpnn", "encoded_decoded", 0.0, "soft", 1, False, 0.0,
        "xavier_on_scalars", True, 8, 1)
    # The published Haiku model on bfs has exactly this many parameters.
    assert count_parameters(Reasoner.from_algorithms("bfs")) == 523963


def test_encoder_init():
    h = 128
    torch.manual_seed(0)
    hint_scalar = ProbeEncoder(Stage.HINT, Location.NODE, Type.SCALAR, h)
    input_scalar = ProbeEncoder(Stage.INPUT, Location.NODE, Type.SCALAR, h)
    default = ProbeEncoder(Stage.HINT, Location.NODE, Type.SCALAR, h, init="default")
    assert hint_scalar.linear.weight.abs().max() <= 2 / math.sqrt(h) + 1e-6
    assert input_scalar.linear.weight.abs().max() > 2 / math.sqrt(h)   # std 1
    assert default.linear.weight.abs().max() > 2 / math.sqrt(h)
    assert hint_scalar.linear.bias.abs().max() == 0
    with pytest.raises(ValueError, match="encoder_init"):
        ProbeEncoder(Stage.HINT, Location.NODE, Type.SCALAR, h, init="kaiming")


def test_categorical_sizes_are_inferred_or_given():
    model = Reasoner.from_algorithms("graham_scan", TINY)
    assert model.categories["graham_scan"] == {"phase": 5}
    model = Reasoner({"lcs_length": transforms.training_spec("lcs_length")}, TINY,
                     categories={"lcs_length": {"key": 6, "b": 4, "b_h": 4}})
    assert model.encoders["lcs_length"]["key"].linear.in_features == 6


# ---------------------------------------------------------------- sinkhorn

def test_log_sinkhorn_is_doubly_stochastic_without_diagonal():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 6)
    p = log_sinkhorn(logits, steps=50, temperature=1.0).exp()
    torch.testing.assert_close(p.sum(-1), torch.ones(3, 6), atol=1e-4, rtol=0)
    torch.testing.assert_close(p.sum(-2), torch.ones(3, 6), atol=1e-4, rtol=0)
    assert p.diagonal(dim1=-2, dim2=-1).max() < 1e-6
    torch.manual_seed(1)
    noisy = log_sinkhorn(logits, 10, 0.1, noise=True)
    torch.manual_seed(1)
    assert torch.equal(noisy, log_sinkhorn(logits, 10, 0.1, noise=True))
    assert not torch.allclose(noisy, log_sinkhorn(logits, 10, 0.1))


def test_hard_postprocess_gives_one_hots_and_thresholds():
    logits = torch.tensor([[0.3, -2.0, 1.5]])
    assert torch.equal(postprocess(Type.MASK, logits, hard=True), torch.tensor([[1.0, 0, 1]]))
    assert torch.equal(postprocess(Type.POINTER, logits, hard=True), torch.tensor([[0.0, 0, 1]]))
    soft = postprocess(Type.MASK_ONE, logits, hard=False)
    torch.testing.assert_close(soft.sum(-1), torch.ones(1))
    scalar = torch.ones(2, requires_grad=True)
    assert not postprocess(Type.SCALAR, scalar, hard=True).requires_grad


def test_sorting_predictions_are_permutations_after_fusion():
    from openclrs.training.metrics import evaluate, fuse_permutation

    batch = tiny_batch("insertion_sort")
    model = Reasoner({"insertion_sort": batch.spec}, TINY)
    preds = model.predict(batch)
    assert preds["pred"].dtype == np.int64 and preds["pred"].shape == (B, N)
    assert set(np.unique(preds["pred_mask"])) <= {0.0, 1.0}
    raw = next(Sampler("insertion_sort", N, seed=0))
    cyclic = transforms.apply(raw)
    np.testing.assert_array_equal(
        fuse_permutation(cyclic.outputs["pred"], cyclic.outputs["pred_mask"]),
        raw.outputs["pred"])
    scores = evaluate(batch.spec, batch.outputs, preds)
    assert set(scores) == {"pred", "score"}


# ---------------------------------------------------------- configuration

@pytest.mark.parametrize("options,message", [
    (dict(processor="triplet_gmpn"), "unknown processor"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(hidden_size=2.5), "hidden_size"),
    (dict(hint_mode="encoded"), "hint_mode"),
    (dict(hint_repred_mode="softer"), "hint_repred_mode"),
    (dict(hint_teacher_forcing=1.5), "hint_teacher_forcing"),
    (dict(dropout=1.0), "dropout"),
    (dict(nb_msg_passing_steps=0), "nb_msg_passing_steps"),
    (dict(encoder_init="xavier"), "encoder_init"),
])
def test_bad_configuration(options, message):
    with pytest.raises(ValueError, match=message):
        Reasoner.from_algorithms("bfs", ModelConfig(**options))


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm 'bfz'.*'bfs'"):
        Reasoner.from_algorithms("bfz", TINY)
    model = Reasoner.from_algorithms("bfs", TINY)
    with pytest.raises(ValueError, match="no encoders/decoders for algorithm 'dfs'"):
        model(tiny_batch("dfs"))
    with pytest.raises(ValueError, match="no encoders/decoders for algorithm 'dfz'"):
        model(tiny_batch("bfs"), "dfz")


def test_batch_with_another_spec_is_refused():
    model = Reasoner.from_algorithms("insertion_sort", TINY)
    batch = tiny_batch("insertion_sort", enforce_permutations=False)
    with pytest.raises(ValueError, match="spec differs.*pred"):
        model(batch)


def test_edge_message_size_is_declared_not_probed(monkeypatch):
    """The model sizes its edge decoders by the processor's declared
    edge_message_size (no dummy forward pass at build time) and refuses a
    processor whose edge messages do not match what it declares."""
    from openclrs.models.processors import PGN, PROCESSORS

    class Narrow(PGN):
        def forward(self, *args):
            hidden, msgs = super().forward(*args)
            return hidden, msgs[..., :2]

    calls = []

    def factory(hidden_size, **options):
        proc = Narrow(hidden_size, nb_triplet_fts=4)
        proc.register_forward_hook(lambda *_: calls.append(1))
        return proc

    monkeypatch.setitem(PROCESSORS, "narrow_test", factory)
    batch = tiny_batch("bfs")
    model = Reasoner({"bfs": batch.spec}, ModelConfig(hidden_size=H, processor="narrow_test"))
    assert not calls and model.edge_size == 2 * H
    with pytest.raises(ValueError, match="2 wide but declares edge_message_size=16"):
        model(batch)
    assert calls


def test_factory_options_in_processor_options_are_refused_clearly():
    from openclrs.models.config import ModelConfig as Config

    with pytest.raises(ValueError, match=r"ModelConfig fields: set nb_heads="):
        Config(processor="gat", processor_options={"nb_heads": 4}).validate()


def test_a_categorical_chunk_without_labels_has_zero_loss():
    """0/0 gave NaN (the published loss too); MASK already gave 0."""
    from openclrs.models.losses import output_loss

    truth = torch.full((2, 3), -1.0)          # no labelled row
    loss = output_loss("categorical", truth, torch.randn(2, 3))
    assert loss.item() == 0.0
