"""The diagnostics' core (openclrs.diagnostics: models, collapse, oversquash,
synthetic, the `diagnose` CLI) against hand computations, finite
differences and the tiny random models of tests/tiny_hf.py."""

import json
import math

import pytest
import torch

pytest.importorskip("transformers")

from openclrs.cli import main  # noqa: E402
from openclrs.diagnostics import collapse, oversquash, synthetic  # noqa: E402
from openclrs.diagnostics.families import (make_family, random_digits,  # noqa: E402
                                           separated, template_family)
from openclrs.diagnostics.models import DiagnosedModel, detect_kind  # noqa: E402
from openclrs.lm.config import LMConfig  # noqa: E402
from openclrs.lm.model import GPT  # noqa: E402
from openclrs.lm.tokenizer import CharTokenizer  # noqa: E402
from tests.tiny_hf import FAMILIES, save_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
ALL = FAMILIES + ("openclrs",)


@pytest.fixture(scope="module")
def models(tiny_hf_models):
    return {name: DiagnosedModel.from_path(folder) for name, folder in tiny_hf_models.items()}


def hand_model(scale: float = 1.0) -> DiagnosedModel:
    """One block, no positions, zero queries and keys (uniform causal
    attention) and a zero MLP: v^(1)_n = x_n + W mean_{j<=n} ln(x_j)."""
    torch.manual_seed(0)
    gpt = GPT(LMConfig(n_layer=1, n_head=2, n_embd=16, pos_encoding="none"))
    with torch.no_grad():
        gpt.blocks[0].attn.c_attn.weight[:32] = 0
        gpt.blocks[0].mlp.c_fc.weight.zero_()
        gpt.wte.weight.normal_()
        gpt.blocks[0].attn.c_proj.weight.mul_(scale)
    return DiagnosedModel.from_module(gpt, CharTokenizer())


# ---------------------------------------------------------------- the adapter

def test_kind_detection(tiny_hf_models, tmp_path):
    assert detect_kind(tiny_hf_models["llama"]) == "hf"
    assert detect_kind(tiny_hf_models["openclrs"]) == "openclrs"
    with pytest.raises(ValueError, match="neither"):
        detect_kind(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        detect_kind(str(tmp_path / "missing"))


def test_from_hf_loads_through_load_hf_model(tiny_hf_models, tmp_path):
    """DiagnosedModel.from_hf is lm.huggingface.load_hf_model with eager
    attention and float32: the same errors, the safe settings kept."""
    from openclrs.lm.huggingface import load_hf_model

    m = DiagnosedModel.from_hf(tiny_hf_models["llama"])
    assert m.kind == "hf" and m.dtype == torch.float32 and not m.module.training
    assert m.module.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="no config.json"):
        DiagnosedModel.from_hf(str(tmp_path))
    (tmp_path / "config.json").write_text('{"not": "a model"}')
    with pytest.raises(ValueError, match="could not be loaded as a Hugging Face causal LM"):
        DiagnosedModel.from_hf(str(tmp_path))
    with pytest.raises(ValueError, match="trust_remote_code, use_safetensors cannot be changed"):
        load_hf_model(tiny_hf_models["llama"], trust_remote_code=True, use_safetensors=False)


@pytest.mark.parametrize("name", ALL)
def test_recorded_forward_is_consistent(models, name):
    m = models[name]
    ids = m.tokenize("Copy: 1011")
    rec = m.run(ids, attentions=True, qkv=True)
    T, s = len(ids), m.shape
    assert len(rec.residual) == s.n_layers + 1 and rec.residual[-1].shape == (T, s.hidden_size)
    assert rec.final.shape == (T, s.hidden_size)
    assert rec.head_outputs.shape == (s.n_heads, T, s.head_dim)
    assert rec.queries[0].shape == (s.n_heads, T, s.head_dim)
    assert rec.keys[0].shape == rec.values[0].shape == (s.n_kv_heads, T, s.head_dim)
    for A in rec.attentions:
        assert A.shape == (s.n_heads, T, T)
        torch.testing.assert_close(A.sum(-1), torch.ones(s.n_heads, T))
        assert A.triu(1).abs().max() == 0  # causal
    # the last layer's per-head outputs are its attention times its values
    values = rec.values[-1].repeat_interleave(s.n_heads // s.n_kv_heads, dim=0)
    torch.testing.assert_close(rec.attentions[-1] @ values, rec.head_outputs,
                               atol=1e-5, rtol=1e-4)
    # the forward from token embeddings is the same forward
    embeds = m.input_embeddings(ids)
    torch.testing.assert_close(m.forward_from_embeddings(embeds)[-1], rec.last("residual"))
    torch.testing.assert_close(m.forward_from_embeddings(embeds, "normed")[-1],
                               rec.last("normed"))


def test_dtype_copies_compute_in_their_dtype(models):
    m = models["llama"]
    ids = m.tokenize("111")
    for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        twin = m.to(name)
        assert twin.dtype == dtype and m.dtype == torch.float32
        rec = twin.run(ids)
        assert rec.residual[-1].dtype == dtype and rec.final.dtype == dtype
        assert twin.module.model.rotary_emb.inv_freq.dtype == torch.float32
        assert torch.isfinite(rec.logits).all()
    # every RoPE frequency table, whatever its name (Gemma 3 keeps one per attention kind)
    twin = models["gemma3"].to("bfloat16")
    tables = [(n, b) for n, b in twin.module.named_buffers() if n.endswith("inv_freq")]
    assert len(tables) >= 2 and all(b.dtype == torch.float32 for _, b in tables), tables
    with pytest.raises(ValueError, match="unknown dtype"):
        m.to("int8")


def test_tokenisation_of_digit_runs(tmp_path, models):
    merging = DiagnosedModel.from_path(save_tiny_model("gpt2", str(tmp_path / "bpe"),
                                                       merge_digits=True))
    assert merging.merges_digit_runs()
    assert "1111" in merging.token_strings(merging.tokenize("x 111111"))
    split = merging.token_strings(merging.tokenize_parts("x ", "111111"))
    assert split[-6:] == ["1"] * 6
    pair = make_family("count_ones").pair(6)
    as_text, per_digit = (collapse.pair_ids(merging, pair, split) for split in (False, True))
    assert len(per_digit[1]) - len(per_digit[0]) == 1  # one more '1' token
    assert len(as_text[0]) < len(per_digit[0])  # '111111' cut into '1111' '11'
    log = collapse.tokenisation_log(merging, [make_family("count_ones")], [6], True)
    assert log["merges_digit_runs"] and log["count_ones"]["tokens_b_as_text"] < \
        log["count_ones"]["tokens_b"]
    assert not models["qwen2"].merges_digit_runs()
    assert models["openclrs"].token_strings(models["openclrs"].tokenize("a1")) == \
        ["<bos>", "a", "1"]


def test_generate_greedy(models):
    for name in ("openclrs", "llama"):
        out = models[name].generate_greedy("1+1=", max_new_tokens=3)
        assert isinstance(out, str)


def test_rope_description(models):
    rope = models["openclrs"].rope
    assert len(rope) == 2 and rope[0].base == 10000.0 and len(rope[0].inv_freq) == 4
    assert rope[0].inv_freq[0] == 1.0
    assert models["gpt2"].rope == [None, None]
    assert models["qwen3"].rope[0].inv_freq[0] == 1.0


# ---------------------------------------------------------------- collapse

def test_families():
    pair = make_family("count_ones").pair(3)
    assert pair.a.body == "111" and pair.b.body == "1111"
    assert pair.a.prefix == pair.b.prefix
    r = make_family("count_random", seed=1).pair(5)
    assert len(r.a.body) == 5 and r.b.body == r.a.body + "1" and r.a.body.endswith("1")
    assert separated("1111111", ",", 3) == "111,111,1"
    assert make_family("copy_ones_separated").pair(3).b.body == "111,1"
    # the random digits are pinned: the README's count_random figures were made with them
    assert make_family("count_random", seed=0).pair(12).a.body == "748526057471"
    assert random_digits(10, 3, 16) == "3453992886"
    assert oversquash.digits(16, "random", 3) == random_digits(16, 3, 16)   # one stream for both
    t = template_family("Say {seq}!", unit="ab").pair(2)
    assert t.a.text == "Say abab!" and t.b.text == "Say ababab!"
    with pytest.raises(ValueError, match="seq"):
        template_family("no slot")
    with pytest.raises(ValueError, match="unknown family"):
        make_family("nope")


@pytest.mark.parametrize("name", ("openclrs", "gemma3"))
def test_identical_sequences_give_distance_zero(models, name):
    m = models[name]
    ids = m.tokenize("How many ones? 11111")
    d = collapse.state_difference(m, ids, ids)
    assert all(v == 0.0 for v in d.values())


def test_collapse_by_hand():
    """Uniform attention: v_n - v*_{n+1} = W (S - m u) / ((m + n)(m + n + 1))
    with S the prompt's (m tokens) value vectors summed, u the digit's."""
    m = hand_model().to("float64")
    family = make_family("count_ones")
    lengths = [1, 4, 30]
    curve = collapse.collapse_curve(m, family, lengths)
    block = m.module.blocks[0]

    def values(ids):
        x = m.module.wte(torch.tensor(ids))
        return block.attn.c_proj(block.attn.c_attn(block.ln_1(x))[:, 32:])

    with torch.no_grad():
        prompt = m.tokenize(family.prefix)
        S, u = values(prompt).sum(0), values(m.tokenize("1", specials=False))[0]
        for n, linf, l1 in zip(lengths, curve["linf"], curve["l1"]):
            delta = (S - len(prompt) * u) / ((len(prompt) + n) * (len(prompt) + n + 1))
            assert linf == pytest.approx(delta.abs().max().item(), rel=1e-9)
            assert l1 == pytest.approx(delta.abs().sum().item(), rel=1e-9)
    assert curve["collapse_length"] is None
    assert curve["tokens"] == [len(prompt) + n for n in lengths]


def test_bfloat16_collapses_where_float32_separates():
    m = hand_model(scale=300.0)
    lengths = [1, 4, 16, 64, 256, 1024]
    fp32 = collapse.collapse_curve(m, make_family("count_ones"), lengths)
    bf16 = collapse.collapse_curve(m.to("bfloat16"), make_family("count_ones"), lengths)
    assert bf16["collapse_length"] is not None and fp32["collapse_length"] is None
    at = lengths.index(bf16["collapse_length"])
    assert fp32["linf"][at] > 0 and bf16["distance"][at] == 0.0
    assert fp32["linf"][0] > fp32["linf"][-1]  # 1/n^2 decay


# ---------------------------------------------------------------- over-squashing

@pytest.mark.parametrize("name", ("openclrs", "gpt2"))
def test_jacobian_matches_finite_differences(models, name):
    m = models[name].to("float64")  # LayerNorm models: the whole forward is float64
    embeds = m.input_embeddings(m.tokenize("ab 11"))
    J = oversquash.jacobian(m, embeds, chunk=7)
    h = 1e-6
    for i, j in ((0, 3), (2, 5), (embeds.shape[0] - 1, 0)):
        plus, minus = embeds.clone(), embeds.clone()
        plus[i, j] += h
        minus[i, j] -= h
        with torch.no_grad():
            fd = (m.forward_from_embeddings(plus)[-1] - m.forward_from_embeddings(minus)[-1]) / (2 * h)
        torch.testing.assert_close(J[:, i, j], fd, atol=1e-7, rtol=1e-6)
    norms = oversquash.sensitivity(m, embeds, chunk=5)
    torch.testing.assert_close(norms, J.pow(2).sum((0, 2)).sqrt())


def test_jacobian_matches_autograd_on_rmsnorm_models(models):
    # Llama's RMSNorm normalises in float32 whatever the dtype: compare with
    # torch's own Jacobian rather than finite differences
    m = models["llama"].to("float64")
    embeds = m.input_embeddings(m.tokenize("1111"))
    J = oversquash.jacobian(m, embeds)
    reference = torch.autograd.functional.jacobian(
        lambda x: m.forward_from_embeddings(x, "normed")[-1], embeds)
    torch.testing.assert_close(oversquash.jacobian(m, embeds, "normed"), reference)
    assert J.shape == (32, embeds.shape[0], 32)


def test_path_proxy_by_hand():
    A = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    # ½(A + I) = [[1, 0], [.25, .75]]; squared: [[1, 0], [.4375, .5625]]
    P = oversquash.path_proxy([A, A])
    torch.testing.assert_close(P, torch.tensor([[1.0, 0.0], [0.4375, 0.5625]],
                                               dtype=torch.float64))
    # beta = 2: (A/2 + I) / 1.5
    M = (A / 2 + torch.eye(2)) / 1.5
    torch.testing.assert_close(oversquash.path_proxy([A[None]], beta=2.0), M.double())
    with pytest.raises(ValueError, match="beta"):
        oversquash.path_proxy([A], beta=0)


def test_path_proxy_of_uniform_attention_favours_early_tokens():
    T, L = 24, 4
    A = torch.ones(T, T).tril()
    A = A / A.sum(-1, keepdim=True)
    row = oversquash.path_proxy([A] * L)[-1]
    assert row.sum().item() == pytest.approx(1.0)
    assert (row[1:-1] <= row[:-2] + 1e-15).all()  # falls with i, except the residual at n
    assert row[0] > row[-2]


def test_rank_correlation():
    assert oversquash.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert oversquash.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(oversquash.rank_correlation([1, 1, 1], [1, 2, 3]))


# ---------------------------------------------------------------- synthetic

def test_synthetic_bfloat16_collapses_to_zero_where_float32_separates():
    curves = synthetic.collapse_curves([8, 6144, 12288, 16384])
    found = synthetic.zero_where_fp32_separates(curves)
    for encoding in ("sinusoidal", "rope", "alibi_slow", "nope"):
        assert found[encoding]["length"] is not None, encoding
        assert found[encoding]["float32_l1_there"] > 0
        assert curves[encoding]["float32"]["l1"][0] > 0.1
        assert curves[encoding]["float32"]["collapse_length"] is None
    # ALiBi's standard slope keeps attention local: no decay, no collapse
    assert found["alibi"]["length"] is None
    assert curves["alibi"]["float32"]["l1"][-1] > 1e-2


def test_causal_mask_in_recorded_states(models):
    for name in ("openclrs", "qwen3"):
        m = models[name]
        a, b = m.tokenize("12345"), m.tokenize("12399")
        ra, rb = m.run(a), m.run(b)
        changed = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        for layer_a, layer_b in zip(ra.residual, rb.residual):
            assert torch.equal(layer_a[:changed], layer_b[:changed])
            assert not torch.equal(layer_a[changed:], layer_b[changed:])


def test_synthetic_softmax_tv_and_counterexample():
    tv = synthetic.softmax_tv([200, 2000, 20000], seeds=2)
    assert tv["tv_mean"][0] > tv["tv_mean"][1] > tv["tv_mean"][2]
    for value in tv["alternating"]:
        assert value == pytest.approx(tv["alternating_limit"], rel=1e-3)


def test_synthetic_rope_decay():
    decay = synthetic.rope_decay(max_distance=200, samples=4000)
    assert decay["ones"][0] == pytest.approx(64.0)
    assert max(abs(v) for v in decay["ones"][100:]) < 0.6 * 64
    abs_mean = decay["gaussian_abs_mean"]
    assert min(abs_mean) > 0.8 * abs_mean[0]  # no decay for Gaussian q, k
    assert max(abs(v) for v in decay["gaussian_mean"]) < 0.5  # mean ~ 0 (Prop. 3.2)


def test_synthetic_ratios_only_without_a_mask():
    result = synthetic.ratios_only()
    assert max(result["no_mask_linf"]) < 1e-12  # '10' == '1100' without mask and positions
    assert min(result["causal_linf"]) > 1e-3


def test_synthetic_diagonal_head():
    diag = synthetic.diagonal_head(norms=(1, 32), trials=50)
    assert diag["rope_min_diagonal"][-1] > 0.99 > diag["rope_min_diagonal"][0]
    assert max(diag["nope_max_last_diagonal"]) <= 0.5 + 1e-12


# ---------------------------------------------------------------- the CLI

def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize("name", ALL)
def test_cli_collapse_and_oversquash(tiny_hf_models, tmp_path, name, capsys):
    option = "--checkpoint" if name == "openclrs" else "--hf-model"
    out = tmp_path / "out"
    assert main(["diagnose", "collapse", option, tiny_hf_models[name], "--out", str(out),
                 "--max-length", "4", "--dtypes", "float32", "bfloat16",
                 "--families", "count_ones", "copy_ones_separated",
                 "--template", "n={seq}"]) == 0
    result = _read(out / "collapse.json")
    assert set(result) == {"float32", "bfloat16"}
    entry = result["float32"]
    assert entry["lengths"] == [1, 2, 3, 4] and len(entry["distance"]) == 4
    assert set(entry["families"]) == {"count_ones", "copy_ones_separated", "template:n={seq}"}
    assert entry["distance"] == entry["families"]["count_ones"]["distance"]
    info = _read(out / "collapse_info.json")
    assert info["model"]["family"] in (name, "gemma3_text")
    assert (out / "collapse.png").stat().st_size > 0

    assert main(["diagnose", "oversquash", option, tiny_hf_models[name], "--out", str(out),
                 "--lengths", "3", "--dtypes", "float32", "--suffix", " ?"]) == 0
    over = _read(out / "oversquash.json")["float32"]
    seq = over["sequences"]["3"]
    assert len(seq["jacobian_norm"]) == len(seq["path_proxy"]) == len(seq["tokens"])
    assert seq["last_digit"] - seq["first_digit"] == 2
    assert len(seq["tokens"]) == seq["last_digit"] + 3  # the suffix " ?" after the digits
    assert sum(seq["path_proxy"]) == pytest.approx(1.0)
    assert (out / "oversquash.png").exists()
    assert "collapse.json" in capsys.readouterr().out


def test_cli_synthetic(tmp_path):
    assert main(["diagnose", "synthetic", "--out", str(tmp_path), "--max-length", "64",
                 "--seeds", "1"]) == 0
    result = _read(tmp_path / "synthetic.json")
    assert set(result["collapse"]) == set(synthetic.ENCODINGS)
    assert set(result["collapse"]["rope"]) == {"float32", "bfloat16"}
    for name in ("collapse", "tv", "rope", "diagonal"):
        assert (tmp_path / f"synthetic_{name}.png").exists()


def test_cli_errors(tmp_path, capsys):
    assert main(["diagnose", "collapse", "--hf-model", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2
    assert "config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["diagnose", "collapse", "--out", str(tmp_path)])  # no model


def test_reading_b_cuts_head_sized_slices():
    """Gemma-like sizes (hidden 12, 2 heads of head_dim 4): slices of 4
    channels, not hidden / heads = 6."""
    from types import SimpleNamespace

    from openclrs.diagnostics import collapse

    delta_a = torch.zeros(1, 12)
    delta_b = torch.zeros(1, 12)
    delta_b[0, 5] = 1.0                                  # one channel differs

    class Run:
        def __init__(self, v):
            self.v = v
            self.head_outputs = torch.zeros(2, 1, 4)

        def last(self, state):
            return self.v[0]

    runs = {1: Run(delta_a), 2: Run(delta_b)}
    model = SimpleNamespace(run=lambda ids: runs[ids],
                            shape=SimpleNamespace(n_heads=2, head_dim=4))
    d = collapse.state_difference(model, 1, 2)
    assert d["distance"] == pytest.approx(1 / 3)         # 3 slices of 4, one of them 1
    model.shape.head_dim = 6
    assert collapse.state_difference(model, 1, 2)["distance"] == pytest.approx(1 / 2)
