"""p-RoPE as the paper defines it, against independent numpy re-implementations.

Barbero et al. 2025 ("Round and Round We Go!", §6.1 and App. D): p-RoPE
turns the ``r = int(p * d // 2)`` pairs of the *highest* frequencies with
RoPE's own frequencies ``theta**(-2i/d)`` (exponent over the full head size),
the half-split layout (pair ``i`` = channels ``i`` and ``i + d/2``), and
leaves the other pairs alone. Partial rotary (GPT-NeoX) is another thing:
frequencies over the rotary width, on the first channels.
"""

import json
import os

import numpy as np
import pytest
import torch

from openclrs.lm import config as lm_config
from openclrs.lm import model as lm
from openclrs.lm.tokenizer import CharTokenizer


# --------------------------------------------------------- the references

def paper_p_rope(x, positions, base, p):
    """The appendix listing, in words (rope.md §6), in numpy float64.
    x: [B, L, H, d]; positions: [B, L]."""
    d = x.shape[-1]
    r = int(p * d // 2)
    timescale = np.concatenate([base ** (2.0 * np.arange(r) / d), np.full(d // 2 - r, np.inf)])
    angle = positions[..., None] / timescale            # [B, L, d/2]; 1/inf -> angle 0
    angle = angle[:, :, None, :]                        # a heads axis
    sin, cos = np.sin(angle), np.cos(angle)
    first, second = x[..., :d // 2], x[..., d // 2:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def reversed_p_rope(x, positions, base, p):
    """The paper's ablation: the lowest r frequencies turn, the highest do not."""
    d = x.shape[-1]
    r = int(p * d // 2)
    freq = base ** (-2.0 * np.arange(d // 2) / d)
    freq[:d // 2 - r] = 0.0
    angle = (positions[..., None] * freq)[:, :, None, :]
    first, second = x[..., :d // 2], x[..., d // 2:]
    return np.concatenate([first * np.cos(angle) - second * np.sin(angle),
                           second * np.cos(angle) + first * np.sin(angle)], axis=-1)


def partial_rotary(x, positions, base, fraction):
    """GPT-NeoX / Phi partial rotary: a RoPE of width w = int(fraction * d) on
    the first w channels (frequencies base**(-2i/w), pairs (i, i + w/2)); the
    rest passes through."""
    d = x.shape[-1]
    w = int(fraction * d)
    freq = base ** (-np.arange(0, w, 2) / w)
    angle = (positions[..., None] * freq)[:, :, None, :]
    rot, rest = x[..., :w], x[..., w:]
    a, b = rot[..., :w // 2], rot[..., w // 2:]
    return np.concatenate([a * np.cos(angle) - b * np.sin(angle),
                           b * np.cos(angle) + a * np.sin(angle), rest], axis=-1)


def apply(rotary, x, positions):
    """Our Rotary on the references' [B, L, H, d] layout, in float64."""
    rotary = rotary.double()
    out = rotary(torch.from_numpy(x).transpose(1, 2), torch.from_numpy(positions))
    return out.transpose(1, 2).numpy()


def inputs(seed=0, d=16, B=2, L=9, H=3, offset=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, L, H, d))
    positions = np.sort(rng.choice(4000, size=(B, L), replace=False), axis=1) + offset
    return x, positions.astype(np.int64)


# ------------------------------------------------------------------ p-RoPE

@pytest.mark.parametrize("d", [4, 8, 10, 12, 16, 32])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1.0])
@pytest.mark.parametrize("base", [10_000.0, 500_000.0])
def test_p_rope_equals_the_papers_listing(d, p, base):
    x, positions = inputs(d=d)
    ours = apply(lm.Rotary(d, base, p), x, positions)
    # float64 throughout but the buffer of frequencies is float32 (the model's)
    np.testing.assert_allclose(ours, paper_p_rope(x, positions, base, p), atol=2e-3)
    # the rotated count is the listing's floor, also where rounding would differ
    assert int((lm.Rotary(d, base, p).inv_freq > 0).sum()) == int(p * d // 2)


def test_gemmas_published_values():
    """google-deepmind/gemma's apply_rope test: ones of shape (B=2, L=1, N=2,
    H=4) at positions [[1], [0]], max wavelength 100 (numbers, not code)."""
    x = np.ones((2, 1, 2, 4))
    positions = np.array([[1], [0]])
    full = [-0.30116868, 0.89517075, 1.3817732, 1.0948375]
    half = [-0.30116868, 1.0, 1.3817732, 1.0]
    for p, want in ((1.0, full), (0.5, half)):
        out = apply(lm.Rotary(4, 100.0, p), x, positions)
        np.testing.assert_allclose(out[0, 0], [want, want], atol=1e-6)
        np.testing.assert_allclose(out[1, 0], np.ones((2, 4)))


def test_floor_rule_where_rounding_differs():
    # d = 12, p = 0.3: p * d / 2 = 1.8, the paper turns 1 pair, rounding 2
    assert lm.rotated_pairs(0.3, 12) == 1 and lm.rotated_pairs(0.3, 12, "round") == 2
    assert int((lm.Rotary(12, 1e4, 0.3).inv_freq > 0).sum()) == 1
    assert int((lm.Rotary(12, 1e4, 0.3, rounding="round").inv_freq > 0).sum()) == 2
    # the listing's Python float arithmetic: 0.58 * 100 = 57.99999999999999
    assert lm.rotated_pairs(0.58, 100) == 28 == int(0.58 * 100 // 2)


def test_only_the_highest_frequency_channels_change():
    d, p = 16, 0.5
    x, positions = inputs(d=d)
    out = apply(lm.Rotary(d, 10_000.0, p), x, positions)
    full = apply(lm.Rotary(d, 10_000.0, 1.0), x, positions)
    r = int(p * d // 2)
    turned = list(range(r)) + list(range(d // 2, d // 2 + r))
    kept = [c for c in range(d) if c not in turned]
    np.testing.assert_array_equal(out[..., kept], x[..., kept])
    np.testing.assert_allclose(out[..., turned], full[..., turned], atol=1e-12)
    assert not np.allclose(out[..., turned], x[..., turned])


@pytest.mark.parametrize("encoding, fraction", [("rope", 1.0), ("p-rope", 0.5),
                                                ("reversed-p-rope", 0.75),
                                                ("partial-rope", 0.5)])
def test_relative_and_norm_preserving(encoding, fraction):
    rotary = lm.Rotary(16, 10_000.0, fraction, encoding).double()
    q, k = torch.randn(1, 1, 1, 16, dtype=torch.float64), torch.randn(1, 1, 1, 16,
                                                                         dtype=torch.float64)

    def at(x, position):
        return rotary(x, torch.tensor([[position]]))

    for i, j in ((0, 5), (100, 105), (3000, 3005)):
        score = (at(q, i) * at(k, j)).sum()
        assert torch.allclose(score, (at(q, 0) * at(k, 5)).sum(), atol=1e-9)
        assert torch.allclose(at(q, i).norm(), q.norm(), atol=1e-12)


# --------------------------------------------------- the models' endpoints

def tiny(encoding, seed=0, **kw):
    cfg = lm_config.LMConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, block_size=64,
                                       pos_encoding=encoding), **kw})
    torch.manual_seed(seed)
    return lm.GPT(cfg).eval()


def test_p1_is_rope_and_p0_is_nope():
    idx = torch.randint(4, 100, (2, 24))
    assert torch.equal(tiny("p-rope", p_rope=1.0)(idx), tiny("rope")(idx))
    assert torch.equal(tiny("p-rope", p_rope=0.0)(idx), tiny("none")(idx))
    assert torch.equal(tiny("reversed-p-rope", p_rope=1.0)(idx), tiny("rope")(idx))
    assert torch.equal(tiny("reversed-p-rope", p_rope=0.0)(idx), tiny("none")(idx))
    assert torch.equal(tiny("partial-rope", rotary_fraction=1.0)(idx), tiny("rope")(idx))
    assert torch.equal(tiny("partial-rope", rotary_fraction=0.0)(idx), tiny("none")(idx))
    assert not torch.equal(tiny("p-rope", p_rope=0.5)(idx), tiny("rope")(idx))


def test_rope_base_500k():
    model = tiny("rope", rope_base=500_000.0)
    d = 16
    want = 500_000.0 ** (-2.0 * np.arange(d // 2) / d)
    np.testing.assert_allclose(model.rotary.inv_freq.numpy(), want, rtol=1e-6)


# -------------------------------------------- the other conventions, named

@pytest.mark.parametrize("d", [8, 16, 32])
@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_reversed_p_rope_keeps_the_lowest(d, p):
    x, positions = inputs(d=d, seed=1)
    ours = apply(lm.Rotary(d, 10_000.0, p, "reversed-p-rope"), x, positions)
    np.testing.assert_allclose(ours, reversed_p_rope(x, positions, 10_000.0, p), atol=2e-3)


@pytest.mark.parametrize("d", [8, 16, 32])
@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75, 1.0])
def test_partial_rotary_is_gpt_neox(d, fraction):
    x, positions = inputs(d=d, seed=2)
    ours = apply(lm.Rotary(d, 10_000.0, fraction, "partial-rope"), x, positions)
    np.testing.assert_allclose(ours, partial_rotary(x, positions, 10_000.0, fraction), atol=2e-3)


def test_partial_rotary_differs_from_p_rope():
    d = 16
    p_rope = lm.Rotary(d, 10_000.0, 0.5, "p-rope")
    partial = lm.Rotary(d, 10_000.0, 0.5, "partial-rope")
    # four frequencies each, the same fastest one, but partial rotary spreads
    # the whole range over its width: its slowest is 10000**(-6/8), p-RoPE's
    # is 10000**(-6/16)
    assert p_rope.frequencies()[:4].tolist() == pytest.approx(
        [10_000.0 ** (-2 * i / 16) for i in range(4)])
    assert partial.frequencies()[:4].tolist() == pytest.approx(
        [10_000.0 ** (-2 * i / 8) for i in range(4)])
    # and other channels turn: p-RoPE 0-3 and 8-11, partial rotary 0-7
    assert p_rope.channel_pairs()[:4].tolist() == [[0, 8], [1, 9], [2, 10], [3, 11]]
    assert partial.channel_pairs()[:4].tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    x, positions = inputs(d=d, seed=3)
    assert not np.allclose(apply(p_rope, x, positions), apply(partial, x, positions))


@pytest.mark.parametrize("encoding, fraction", [("rope", 1.0), ("p-rope", 0.5),
                                                ("reversed-p-rope", 0.25),
                                                ("partial-rope", 0.5)])
def test_channel_pairs_and_frequencies_describe_the_rotation(encoding, fraction):
    """Chunk k of channel_pairs turns by position * frequencies[k] and only
    it: what the frequency probe of openclrs.diagnostics relies on."""
    d = 16
    rotary = lm.Rotary(d, 10_000.0, fraction, encoding).double()
    pairs, freqs = rotary.channel_pairs(), rotary.frequencies().double()
    assert sorted(pairs.flatten().tolist()) == list(range(d))
    position = 7
    for k, (a, b) in enumerate(pairs.tolist()):
        x = torch.zeros(1, 1, 1, d, dtype=torch.float64)
        x[..., a] = 1.0
        out = rotary(x, torch.tensor([[position]]))[0, 0, 0]
        angle = position * freqs[k]
        assert out[a].item() == pytest.approx(torch.cos(angle).item(), abs=1e-6)
        assert out[b].item() == pytest.approx(torch.sin(angle).item(), abs=1e-6)
        others = [c for c in range(d) if c not in (a, b)]
        assert torch.count_nonzero(out[others]) == 0


# ------------------------------------------------------------- the configs

def test_config_checks():
    with pytest.raises(ValueError, match=r"rotary_fraction \(--rotary-fraction\).*even"):
        lm_config.LMConfig(n_embd=32, n_head=2, pos_encoding="partial-rope",
                           rotary_fraction=0.2)       # int(0.2 * 16) = 3 channels
    with pytest.raises(ValueError, match="rotary_fraction"):
        lm_config.LMConfig(rotary_fraction=1.5)
    with pytest.raises(ValueError, match="p_rope_rounding"):
        lm_config.LMConfig(p_rope_rounding="ceil")
    assert lm_config.LMConfig(pos_encoding="random", random_base="partial-rope").uses_rotary


def test_checkpoints_saved_before_the_rule_keep_their_behaviour(tmp_path):
    """A config.json without p_rope_rounding was written when openclrs
    rounded p * d / 2; it loads with that rule (d = 12, p = 0.3: 2 pairs
    turn, the paper's rule turns 1), and a new save records the rule."""
    kw = dict(n_layer=1, n_head=2, n_embd=24, block_size=64, pos_encoding="p-rope", p_rope=0.3)
    old = tiny(p_rope_rounding="round", encoding="p-rope",
               **{k: v for k, v in kw.items() if k != "pos_encoding"})
    lm.save_model(str(tmp_path / "old"), old, CharTokenizer())
    path = tmp_path / "old" / "config.json"
    saved = json.loads(path.read_text())
    assert saved["model"]["p_rope_rounding"] == "round"
    del saved["model"]["p_rope_rounding"]              # as openclrs wrote it before
    path.write_text(json.dumps(saved))
    loaded, _, _ = lm.load_model(str(tmp_path / "old"))
    assert loaded.config.p_rope_rounding == "round"
    assert int((loaded.rotary.inv_freq > 0).sum()) == 2
    idx = torch.randint(4, 100, (1, 20))
    assert torch.equal(loaded(idx), old(idx))
    new = lm.GPT(lm_config.LMConfig(**kw)).eval()
    new.load_state_dict(old.state_dict())
    assert int((new.rotary.inv_freq > 0).sum()) == 1
    assert not torch.allclose(new(idx), old(idx), atol=1e-5)
    assert lm_config.LMConfig(**kw).p_rope_rounding == "floor"
    lm.save_model(str(tmp_path / "new"), new, CharTokenizer())
    assert json.loads((tmp_path / "new" / "config.json").read_text())["model"][
        "p_rope_rounding"] == "floor"
    assert os.path.exists(tmp_path / "new" / "model.safetensors")


@pytest.mark.parametrize("encoding", ["p-rope", "reversed-p-rope", "partial-rope"])
def test_cached_decoding_equals_the_full_forward(encoding):
    model = tiny(encoding, p_rope=0.5, rotary_fraction=0.5)
    idx = torch.randint(4, 100, (2, 12))
    cache = lm.KVCache()
    steps = torch.cat([model(idx[:, :7], cache=cache), model(idx[:, 7:9], cache=cache),
                       model(idx[:, 9:], cache=cache)], dim=1)
    torch.testing.assert_close(steps, model(idx), atol=1e-5, rtol=1e-5)


# ---------------------------------------------- the ablation benchmark's parts

def ablation_module():
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "rope_ablation.py")
    spec = importlib.util.spec_from_file_location("rope_ablation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_corpus_windows_and_perplexity():
    bench = ablation_module()
    train_text, valid_text = bench.corpus()
    tokenizer = CharTokenizer()
    assert tokenizer.unk_id not in tokenizer.encode(train_text + valid_text)
    assert len(valid_text) > 40_000 and len(train_text) > 8 * len(valid_text)
    windows = bench.Windows(train_text, 31, seed=3)
    assert windows(5, 4) == windows(5, 4) != windows(6, 4)
    assert all(len(text) == 31 and answer == "" for text, answer in windows(5, 4))
    # a model whose logits are all 0 predicts uniformly: perplexity = vocabulary size
    model = tiny("rope", n_layer=1, block_size=16)
    with torch.no_grad():
        model.wte.weight.zero_()
    result = bench.perplexities(model, tokenizer, valid_text, context=16, windows=3)
    for key in ("ppl", "ppl_4x", "ppl_4x_beyond"):
        assert result[key] == pytest.approx(tokenizer.vocab_size, rel=1e-5)


def test_ablation_runs_resume_from_the_results(tmp_path, capsys):
    bench = ablation_module()
    argv = ["--seeds", "0", "--encodings", "NoPE", "0.75-RoPE", "--context", "16",
            "--layers", "1", "--width", "16", "--steps", "2", "--batch-size", "2",
            "--eval-windows", "2", "--work", str(tmp_path / "runs"),
            "--results", str(tmp_path / "ablation.json")]
    bench.main(argv)
    first = json.loads((tmp_path / "ablation.json").read_text())
    assert set(first["runs"]) == {"NoPE", "0.75-RoPE"} and first["paired"] == {}  # no RoPE 10k
    bench.main(argv)                       # everything done: nothing trained again
    assert json.loads((tmp_path / "ablation.json").read_text())["runs"] == first["runs"]
    assert (tmp_path / "ablation.png").exists()
    with pytest.raises(SystemExit, match="other settings"):
        bench.main([*argv[:-1], str(tmp_path / "ablation.json"), "--steps", "3"])
