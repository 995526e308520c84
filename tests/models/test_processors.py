"""Processors: the published kinds, their shapes, masks, gates and sizes.

Numerical agreement with the published Haiku modules (same parameters, same
inputs) was checked outside this suite, which must run without JAX; what is
tested here are the properties that agreement rests on.
"""

import pytest
import torch

from openclrs.models import processors as P
from openclrs.models.processors import PROCESSORS, aggregation, make_processor

B, N, H = 2, 5, 16

TRIPLET = {"triplet_mpnn", "triplet_pgn", "triplet_pgn_mask", "triplet_gpgn",
           "triplet_gpgn_mask", "triplet_gmpnn"}
GATED = {"gpgn", "gpgn_mask", "gmpnn", "triplet_gpgn", "triplet_gpgn_mask", "triplet_gmpnn"}
MASKED = {"gat", "gatv2", "pgn", "pgn_mask", "triplet_pgn", "triplet_pgn_mask", "gpgn",
          "gpgn_mask", "triplet_gpgn", "triplet_gpgn_mask", "memnet_masked"}
FULL = {"gat_full", "gatv2_full", "mpnn", "triplet_mpnn", "gmpnn", "triplet_gmpnn", "memnet_full"}
SELF_ONLY = {"deepsets"}
PUBLISHED = ["deepsets", "gat", "gat_full", "gatv2", "gatv2_full", "memnet_full",
             "memnet_masked", "mpnn", "pgn", "pgn_mask", "triplet_mpnn", "triplet_pgn",
             "triplet_pgn_mask", "gpgn", "gpgn_mask", "gmpnn", "triplet_gpgn",
             "triplet_gpgn_mask", "triplet_gmpnn"]
KINDS = sorted(PUBLISHED)


pytestmark = pytest.mark.usefixtures("one_thread")


def path_adjacency(batch=B, n=N):
    """The path 0-1-...-(n-1) with self-loops, symmetric as the model builds it."""
    adj = torch.eye(n)
    idx = torch.arange(n - 1)
    adj[idx, idx + 1] = adj[idx + 1, idx] = 1
    return adj.expand(batch, n, n).clone()


def make_inputs(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)
    return dict(node_fts=rand(B, N, H), edge_fts=rand(B, N, N, H), graph_fts=rand(B, H),
                adj=path_adjacency().to(dtype), hidden=rand(B, N, H))


def build(kind, seed=0, **options):
    """A processor with a fixed seed. MemNet's embedding tables start at zero,
    which makes its output identically zero and every comparison vacuous, so
    they are randomised here."""
    torch.manual_seed(seed)
    proc = make_processor(kind, H, **options)
    if isinstance(proc, P.MemNetMasked):
        with torch.no_grad():
            for name in ("query_biases", "stories_biases", "memory_contents", "output_biases"):
                getattr(proc, name).normal_(0.0, 0.1)
    return proc


def run(proc, x):
    return proc(x["node_fts"], x["edge_fts"], x["graph_fts"], x["adj"], x["hidden"])


def test_every_published_kind_is_registered():
    assert set(PUBLISHED) <= set(PROCESSORS)
    assert MASKED | FULL | SELF_ONLY == set(KINDS)
    assert not (MASKED & FULL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dtype_finite(kind, dtype):
    torch.manual_seed(0)
    proc = make_processor(kind, H).to(dtype)
    out, edges = run(proc, make_inputs(dtype=dtype))
    assert out.shape == (B, N, H) and out.dtype == dtype
    assert torch.isfinite(out).all()
    if kind in TRIPLET:
        assert edges.shape == (B, N, N, H) and edges.dtype == dtype
        assert torch.isfinite(edges).all()
    else:
        assert edges is None
    # What the model sizes its decoders by, before running the processor.
    assert proc.edge_message_size == (0 if edges is None else edges.shape[-1])


# Parameters with a provably zero gradient. GATv2's per-head scorer bias adds
# one constant to a whole softmax row. MemNet, as published, starts with zero
# embedding tables: its output is then identically zero and, the ReLU before
# its last layer sitting at exactly 0, so is every gradient (the published
# Haiku module gives the same zeros); see the test after this one.
ZERO_GRAD = {"gatv2": {"att_bias"}, "gatv2_full": {"att_bias"}}
for _kind in ("memnet_full", "memnet_masked"):
    ZERO_GRAD[_kind] = {name for name, _ in make_processor(_kind, H).named_parameters()}


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_parameter(kind):
    torch.manual_seed(0)
    proc = make_processor(kind, H)
    x = make_inputs()
    out, edges = run(proc, x)
    # A plain sum of the outputs would be a poor loss: the sum of a
    # LayerNorm's output does not depend on its input while the scale is 1,
    # so nothing before the LayerNorm would get a gradient. Weight it instead.
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g)).sum()
    if edges is not None:
        loss = loss + (edges * torch.randn(edges.shape, generator=g)).sum()
    loss.backward()
    for name, p in proc.named_parameters():
        assert p.grad is not None, name
        if name in ZERO_GRAD.get(kind, ()):
            assert p.grad.abs().max() < 1e-5, name
        else:
            assert p.grad.abs().max() > 0, name


@pytest.mark.parametrize("kind", ["memnet_full", "memnet_masked"])
def test_memnet_learns_once_its_tables_move(kind):
    torch.manual_seed(0)
    proc = make_processor(kind, H)
    out, _ = run(proc, make_inputs())
    assert torch.count_nonzero(out) == 0
    proc = build(kind)          # random tables
    out, _ = run(proc, make_inputs())
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for name, p in proc.named_parameters():
        assert p.grad.abs().max() > 0, name


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_under_seed(kind):
    x = make_inputs()
    a, b = build(kind, seed=3), build(kind, seed=3)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    (oa, ea), (ob, eb) = run(a, x), run(b, x)
    assert torch.equal(oa, ob)
    assert (ea is None and eb is None) or torch.equal(ea, eb)
    if any(p.numel() > 1 for p in a.parameters()):
        c = build(kind, seed=4)
        assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def perturb_node(x, j, others=()):
    """Change everything of node j that node i could read: its features, its
    state and the edges between j and each node in ``others``. Shifts are whole
    numbers so that MemNet, which reads features as word ids, sees them."""
    y = {k: v.clone() for k, v in x.items()}
    y["node_fts"][:, j] += 3.0
    y["hidden"][:, j] += 3.0
    for i in others:
        y["edge_fts"][:, i, j] += 3.0
        y["edge_fts"][:, j, i] += 3.0
    return y


@pytest.mark.parametrize("kind", KINDS)
def test_masks(kind):
    """Node 0 of the path 0-1-2-3-4 is adjacent to node 1 only."""
    proc = build(kind)
    x = make_inputs()
    base, _ = run(proc, x)
    for j in (2, 3, 4):
        out, _ = run(proc, perturb_node(x, j, others=[0]))
        changed = not torch.allclose(out[:, 0], base[:, 0], atol=1e-6)
        if kind in FULL:
            assert changed, f"node 0 should see node {j}"
        else:
            assert torch.equal(out[:, 0], base[:, 0]), f"node 0 should not see node {j}"
        assert not torch.equal(out[:, j], base[:, j])
    out, _ = run(proc, perturb_node(x, 1, others=[0]))
    neighbour_seen = not torch.allclose(out[:, 0], base[:, 0], atol=1e-6)
    assert neighbour_seen == (kind not in SELF_ONLY)


def test_directions_follow_the_published_indexing():
    """On a directed adjacency, the MPNN/PGN family gathers over the first
    node axis of adj (node j from the nodes i with adj[i, j]) and GAT attends
    along the last (node i to the nodes j with adj[i, j])."""
    x = make_inputs()
    x["adj"] = torch.eye(N).expand(B, N, N).clone()
    x["adj"][:, 0, 1] = 1     # only the pair (0, 1), in this order
    for kind, reader in [("pgn", 1), ("gat", 0), ("gatv2", 0), ("memnet_masked", 0)]:
        proc = build(kind)
        base, _ = run(proc, x)
        writer = 1 - reader
        out, _ = run(proc, perturb_node(x, writer, others=[reader]))
        assert not torch.allclose(out[:, reader], base[:, reader], atol=1e-6), kind
        out, _ = run(proc, perturb_node(x, reader, others=[writer]))
        assert torch.equal(out[:, writer], base[:, writer]), kind


EYE = lambda a: torch.eye(a.shape[-1]).expand_as(a)
SHORTCUTS = [("deepsets", "pgn", EYE, r) for r in ("max", "mean", "sum")] + [
    ("mpnn", "pgn", torch.ones_like, r) for r in ("max", "mean", "sum")] + [
    ("triplet_gmpnn", "triplet_gpgn", torch.ones_like, "max"),
    ("gat_full", "gat", torch.ones_like, None),
    ("gatv2_full", "gatv2", torch.ones_like, None),
    ("memnet_full", "memnet_masked", torch.ones_like, None),
]


@pytest.mark.parametrize("kind, general, adj, reduction", SHORTCUTS)
def test_shortcuts_match_the_general_processor(kind, general, adj, reduction):
    """The full kinds and DeepSets take shortcuts (no mask, only self-messages);
    they must equal the masked processor on the adjacency they stand for."""
    options = {} if reduction is None else {"reduction": reduction}
    a, b = build(kind, **options), build(general, **options)
    b.load_state_dict(a.state_dict())
    x = make_inputs()
    (oa, ea), (ob, eb) = run(a, x), run(b, dict(x, adj=adj(x["adj"])))
    torch.testing.assert_close(oa, ob, rtol=1e-5, atol=1e-5)
    if ea is not None:
        torch.testing.assert_close(ea, eb)


@pytest.mark.parametrize("kind", sorted(GATED))
def test_gates_start_mostly_closed(kind):
    proc = build(kind)
    assert torch.equal(proc.gate.out.bias, torch.full((H,), -3.0))
    # With the gate's last weights at zero the gate is sigmoid(-3) ≈ 0.047
    # everywhere: the output mixes that much of the ungated update into the
    # previous state.
    ungated = build(kind.replace("gpgn", "pgn").replace("gmpnn", "mpnn"))
    missing, unexpected = ungated.load_state_dict(proc.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("gate.") for k in unexpected)
    with torch.no_grad():
        proc.gate.out.weight.zero_()
    x = make_inputs()
    s = torch.sigmoid(torch.tensor(-3.0))
    expected = s * run(ungated, x)[0] + (1 - s) * x["hidden"]
    torch.testing.assert_close(run(proc, x)[0], expected)


@pytest.mark.parametrize("kind", KINDS)
def test_haiku_initialisation(kind):
    torch.manual_seed(0)
    proc = make_processor(kind, 64)
    for name, module in proc.named_modules():
        if isinstance(module, torch.nn.Linear):
            bound = 2 / module.in_features ** 0.5
            assert module.weight.abs().max() <= bound + 1e-7, name
            if module.bias is not None:
                expected = -3.0 if name == "gate.out" else 0.0
                assert torch.equal(module.bias, torch.full_like(module.bias, expected)), name
            module.reset_parameters()          # keeps the same scheme
            if name == "gate.out":
                assert torch.equal(module.bias, torch.full_like(module.bias, -3.0))
    assert isinstance(proc, P.Processor)
    assert proc.inf_bias == proc.inf_bias_edge == kind.endswith("_mask")


def test_memnet_reads_features_as_word_ids():
    proc = build("memnet_full")
    x = make_inputs()
    base, _ = run(proc, x)
    # Inside the same integer (truncation towards zero) nothing changes...
    y = dict(x, node_fts=x["node_fts"].trunc() + 0.5 * x["node_fts"].sign(),
             edge_fts=x["edge_fts"].trunc() + 0.5 * x["edge_fts"].sign())
    torch.testing.assert_close(run(proc, y)[0], base)
    # ...no gradient flows back to the features...
    fts = x["edge_fts"].clone().requires_grad_()
    out, _ = proc(x["node_fts"], fts, x["graph_fts"], x["adj"], x["hidden"])
    assert torch.autograd.grad(out.sum(), fts, allow_unused=True)[0] is None
    # ...-1 counts back to the last word (the nil word, H - 1), and ids
    # outside [-H, H) give NaN, as published.
    z = dict(x, node_fts=torch.full_like(x["node_fts"], -1.0))
    w = dict(x, node_fts=torch.full_like(x["node_fts"], H - 1.0))
    torch.testing.assert_close(run(proc, z)[0], run(proc, w)[0])
    v = dict(x, node_fts=x["node_fts"].clone())
    v["node_fts"][0, 2, 0] = float(H)
    out, _ = run(proc, v)
    assert torch.isnan(out[0, 2]).all() and torch.isfinite(out[1]).all()
    assert torch.isfinite(out[0, [0, 1, 3, 4]]).all()


def test_memnet_memory_size_bounds_the_graph():
    proc = make_processor("memnet_full", H, memory_size=N)
    with pytest.raises(ValueError, match="at most 4 nodes"):
        run(proc, make_inputs())


def test_options():
    # The three shared options are accepted by every kind, as published.
    for kind in KINDS:
        make_processor(kind, H, use_ln=False, nb_triplet_fts=4, nb_heads=2)
    assert make_processor("triplet_mpnn", H, nb_triplet_fts=4).triplets.t_1.out_features == 4
    assert make_processor("gat", H, nb_heads=4).a_1.out_features == 4
    assert make_processor("mpnn", H).ln is not None and make_processor("mpnn", H, use_ln=False).ln is None
    assert make_processor("memnet_full", H, use_ln=True).ln is None      # ignored, as published
    assert P.MemNetFull(H, use_ln=True).ln is not None
    assert make_processor("mpnn", H).aggregation.name == "max"
    assert make_processor("pgn", H, activation=None).activation is None
    assert make_processor("pgn", H, mid_size=8, msgs_mlp_sizes=[12]).o2.in_features == 12
    with pytest.raises(ValueError, match="divide"):
        make_processor("gat", H, nb_heads=3)
    with pytest.raises(ValueError, match="reduction"):
        make_processor("mpnn", H, reduction="median")
    with pytest.raises(ValueError, match="activation"):
        make_processor("mpnn", H, activation="no_such_function")
    with pytest.raises(ValueError, match="'mpnn' has no option 'no_such_option'"):
        make_processor("mpnn", H, no_such_option=1)


def test_make_processor_errors():
    with pytest.raises(ValueError, match="did you mean 'triplet_gmpnn'"):
        make_processor("triplet_gmpn", H)
    with pytest.raises(ValueError, match="unknown processor 'transformer'"):
        make_processor("transformer", H)
    with pytest.raises(ValueError, match="hidden_size"):
        make_processor("mpnn", 0)
    with pytest.raises(ValueError, match="already registered"):
        P.register("mpnn")(lambda hidden_size: None)


def test_triplet_gmpnn_parameter_count_matches_published():
    # The published MPNN(use_triplets=True, gated=True, use_ln=True,
    # msgs_mlp_sizes=[H, H], nb_triplet_fts=8) at H=128, its inputs being
    # z = [node_fts, hidden] (256 wide) and 128-wide edge and graph features.
    # hk.Linear(out) on an input of width `in` holds in*out + out numbers.
    #   m_1, m_2      256 -> 128   2 * 32896 =  65792
    #   m_e, m_g      128 -> 128   2 * 16512 =  33024
    #   o1            256 -> 128                32896
    #   o2            128 -> 128                16512
    #   t_1, t_2, t_3 256 -> 8     3 *  2056 =   6168
    #   t_e_1..3, t_g 128 -> 8     4 *  1032 =   4128
    #   o3              8 -> 128                 1152
    #   MLP [128, 128] 128 -> 128  2 * 16512 =  33024
    #   LayerNorm      scale + offset              256
    #   gate1         256 -> 128                32896
    #   gate2, gate3  128 -> 128   2 * 16512 =  33024
    #                                   total  258872
    # (Confirmed with hk.data_structures.tree_size on the published module's
    # parameters.)
    proc = make_processor("triplet_gmpnn", 128)
    assert sum(p.numel() for p in proc.parameters()) == 258872


# Parameter counts of the published Haiku modules at H=128 with the training
# script's options (use_ln=True, nb_triplet_fts=8, nb_heads=1), read off with
# hk.data_structures.tree_size. MemNet: four 16-wide tables of 127, 127, 128
# and 127 rows, then 16 -> 128 and 128 -> 128 without biases.
PUBLISHED_COUNTS_128 = {
    "deepsets": 181504, "gat": 66820, "gat_full": 66820, "gatv2": 164993,
    "gatv2_full": 164993, "memnet_full": 26576, "memnet_masked": 26576,
    "mpnn": 181504, "pgn": 181504, "pgn_mask": 181504, "triplet_mpnn": 192952,
    "triplet_pgn": 192952, "triplet_pgn_mask": 192952, "gpgn": 247424,
    "gpgn_mask": 247424, "gmpnn": 247424, "triplet_gpgn": 258872,
    "triplet_gpgn_mask": 258872, "triplet_gmpnn": 258872,
}


def test_every_parameter_count_matches_published():
    assert set(PUBLISHED_COUNTS_128) == set(PUBLISHED)
    for kind, count in PUBLISHED_COUNTS_128.items():
        proc = make_processor(kind, 128)
        assert sum(p.numel() for p in proc.parameters()) == count, kind


@pytest.mark.parametrize("kind", sorted(MASKED - {"gat", "gatv2", "memnet_masked"}))
def test_max_over_edges_equals_the_dense_masked_max(kind, monkeypatch):
    """On sparse graphs the masked max computes messages on edges alone; the
    result and every gradient must be the dense computation's (float64, so
    that only the order of float sums could differ), including for a node
    with no incoming edge at all."""
    x = make_inputs(dtype=torch.float64)
    x["adj"][0, :, 3] = 0
    results = []
    for density in (1.0, -1.0):  # always sparse, never sparse
        monkeypatch.setattr(aggregation, "SPARSE_MAX_DENSITY", density)
        proc = build(kind).double()
        inputs = {k: v.clone().requires_grad_(k != "adj") for k, v in x.items()}
        out, _ = run(proc, inputs)
        out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
        results.append([out] + [inputs[k].grad for k in ("node_fts", "edge_fts", "hidden")]
                       + [p.grad for p in proc.parameters()])
    for sparse, dense in zip(*results):
        torch.testing.assert_close(sparse, dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_factored_edge_features_equal_dense_ones(kind):
    """Processors that take edge features in factored form give the same
    results as on the features multiplied out."""
    from openclrs.models.features import AffineFeatures

    g = torch.Generator().manual_seed(1)
    x = make_inputs(dtype=torch.float64)
    fts = AffineFeatures(torch.rand(B, N, N, 3, generator=g, dtype=torch.float64),
                         torch.randn(3, H, generator=g, dtype=torch.float64),
                         torch.randn(H, generator=g, dtype=torch.float64))
    proc = build(kind).double()
    if not proc.affine_edges:
        return
    (oa, ea), (ob, eb) = run(proc, dict(x, edge_fts=fts)), run(proc, dict(x, edge_fts=fts.dense()))
    torch.testing.assert_close(oa, ob, rtol=1e-10, atol=1e-12)
    if ea is not None:
        torch.testing.assert_close(ea, eb, rtol=1e-10, atol=1e-12)


def test_kinds_are_assembled_from_parts():
    """The published kinds are classes (differing only in which nodes talk)
    with parts: an aggregation, triplet messages and a gate where named."""
    for kind in KINDS:
        proc = make_processor(kind, H)
        expected = ("complete" if kind in FULL else "self" if kind in SELF_ONLY else "graph")
        assert proc.adjacency == expected, kind
        if isinstance(proc, P.PGN):
            assert isinstance(proc.aggregation, aggregation.MaxAggregation)
            assert (proc.triplets is not None) == (kind in TRIPLET), kind
            assert (proc.gate is not None) == (kind in GATED), kind
        else:
            assert kind not in TRIPLET | GATED
    for reduction, cls in [("mean", aggregation.MeanAggregation),
                           ("sum", aggregation.SumAggregation)]:
        assert isinstance(make_processor("pgn", H, reduction=reduction).aggregation, cls)


def test_parameter_order_is_the_published_creation_order():
    """Published weights map onto ours in order (benchmarks/training_parity.py)."""
    names = [n for n, _ in make_processor("triplet_gmpnn", H).named_parameters()]
    layers = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    assert layers == ["m_1", "m_2", "m_e", "m_g", "o1", "o2", "triplets.t_1", "triplets.t_2",
                      "triplets.t_3", "triplets.t_e_1", "triplets.t_e_2", "triplets.t_e_3",
                      "triplets.t_g", "triplets.o3", "msgs_mlp.0", "msgs_mlp.2", "ln",
                      "gate.node", "gate.message", "gate.out"]
