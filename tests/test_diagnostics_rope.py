"""RoPE frequency usage (openclrs.diagnostics.rope): known answers from
hand-set weights, the chunk pairing of every family against the family's own
rotation code, the logits rebuilt from the chunks against the model's own
attention, and `openclrs diagnose rope` on a tiny model of each family."""

import importlib
import inspect
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from openclrs.cli import main as cli_main  # noqa: E402
from openclrs.diagnostics import rope  # noqa: E402
from openclrs.diagnostics.models import DiagnosedModel  # noqa: E402
from openclrs.lm.config import LMConfig  # noqa: E402
from openclrs.lm.model import GPT  # noqa: E402
from openclrs.lm.tokenizer import CharTokenizer  # noqa: E402

ROPE_FAMILIES = ("llama", "gemma", "gemma2", "gemma3", "qwen2", "qwen3")


def constant_embeddings(weight: torch.Tensor) -> torch.Tensor:
    """Every token embedded as e = (1, -1, 1, -1, ...): mean 0, variance 1,
    so LayerNorm and RMSNorm (weight 1, any scale of e) give e back."""
    C = weight.shape[1]
    e = torch.tensor([1.0, -1.0] * (C // 2))
    with torch.no_grad():
        weight.copy_(e.expand_as(weight))
    return e


# ------------------------------------------------------- known answers

def test_hand_set_openclrs_weights_give_known_norms():
    """One layer, two heads of 8 channels (chunk k = channels (k, k + 4)).
    Queries: only head 1 chunk 2 = (3, 4); keys: only head 0 chunk 1 =
    (6, 8); values: only head 1 chunk 3 = (1, 0). Every token alike."""
    torch.manual_seed(0)
    model = GPT(LMConfig(n_layer=1, n_head=2, n_embd=16, block_size=64)).eval()
    C, D = 16, 8
    e = constant_embeddings(model.wte.weight)
    W = torch.zeros(3 * C, C)
    W[D + 2], W[D + 2 + 4] = 3 * e / C, 4 * e / C              # q, head 1, chunk 2
    W[C + 1], W[C + 1 + 4] = 6 * e / C, 8 * e / C              # k, head 0, chunk 1
    W[2 * C + D + 3] = e / C                                    # v, head 1, chunk 3
    with torch.no_grad():
        model.blocks[0].attn.c_attn.weight.copy_(W)
    result = rope.measure(DiagnosedModel.from_module(model, CharTokenizer()),
                          ["hello world", "abc"], max_tokens=16)
    want_q, want_k, want_v = (np.zeros((1, 2, 4)) for _ in range(3))
    want_q[0, 1, 2], want_k[0, 0, 1], want_v[0, 1, 3] = 5.0, 10.0, 1.0
    for name, want in (("q_norm", want_q), ("k_norm", want_k), ("v_norm", want_v)):
        np.testing.assert_allclose(result[name], want, atol=1e-4)
    assert result["tokens"] == len("hello world") + 1 + len("abc") + 1   # with <bos>
    # no query and key share a chunk: no logit anywhere
    np.testing.assert_allclose(result["logit_usage"], 0.0, atol=1e-9)


def test_logit_usage_against_a_hand_computation():
    """Head 0: query = key = (s, 0) in chunk 0 (1 rad/token) and (t, 0) in
    chunk 3 (10000**(-3/4)); the logits are s² cos(i - j) + t² cos(g(i - j)),
    so attention and the per-chunk usage follow in numpy."""
    torch.manual_seed(0)
    model = GPT(LMConfig(n_layer=1, n_head=2, n_embd=16, block_size=64)).eval()
    C, D, s, t = 16, 8, 2.0, 3.0
    e = constant_embeddings(model.wte.weight)
    W = torch.zeros(3 * C, C)
    W[0], W[3] = s * e / C, t * e / C              # queries, head 0, chunks 0 and 3
    W[C + 0], W[C + 3] = s * e / C, t * e / C      # keys
    with torch.no_grad():
        model.blocks[0].attn.c_attn.weight.copy_(W)
        for p in (model.blocks[0].ln_1.weight,):
            p.fill_(1.0)
    text = "abcdefghijklmnop"
    result = rope.measure(DiagnosedModel.from_module(model, CharTokenizer()), [text],
                          max_tokens=64)
    T, g = len(text) + 1, 10_000.0 ** (-3 / 4)
    eps_scale = 1 / (1 + 1e-5)                      # LayerNorm's eps on variance 1
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    c0 = s * s * eps_scale * np.cos(i - j)
    c3 = t * t * eps_scale * np.cos(g * (i - j))
    logits = np.where(j <= i, (c0 + c3) / np.sqrt(D), -np.inf)
    alpha = np.exp(logits - logits.max(1, keepdims=True))
    alpha /= alpha.sum(1, keepdims=True)
    usage = [(alpha * np.abs(c)).sum() / T for c in (c0, 0 * c0, 0 * c0, c3)]
    np.testing.assert_allclose(result["logit_usage"][0][0], usage, rtol=1e-4, atol=1e-9)
    # chunk 0 is the faster half of the four rotated chunks (0, 1), chunk 3 the slower
    np.testing.assert_allclose(result["high_share"][0][0], usage[0] / sum(usage), rtol=1e-4)
    np.testing.assert_allclose(result["low_share"][0][0], usage[3] / sum(usage), rtol=1e-4)
    assert result["unrotated_share"][0][0] == 0.0
    np.testing.assert_allclose(result["diagonal_score"][0][0],
                               np.mean([alpha[k, k] for k in range(1, T)]), rtol=1e-5)
    np.testing.assert_allclose(result["previous_token_score"][0][0],
                               np.mean([alpha[k, k - 1] for k in range(1, T)]), rtol=1e-5)


def hf_model(family, tmp_path, **sizes):
    from tests.tiny_hf import save_tiny_model

    return DiagnosedModel.from_path(save_tiny_model(family, str(tmp_path / family), **sizes))


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_hand_set_hf_weights_give_known_norms(family, tmp_path):
    """One layer, 4 query heads and 2 key heads of 8 channels. Query head 1
    chunk 2 = (3, 4); key head 1 chunk 0 = (6, 8), read by query heads 2 and
    3 (grouped-query attention). Qwen 3 normalises each head's query and key
    (RMSNorm over its 8 channels) before the rotation: (3, 4) alone in a
    head becomes (3, 4) / sqrt(25 / 8), of norm sqrt(8)."""
    model = hf_model(family, tmp_path, layers=1)
    m = model.module
    attn = m.model.layers[0].self_attn
    C, D = 32, 8
    e = constant_embeddings(m.model.embed_tokens.weight)
    with torch.no_grad():
        m.model.layers[0].input_layernorm.weight.fill_(1.0)
        for name in ("q_norm", "k_norm"):
            if hasattr(attn, name):
                getattr(attn, name).weight.fill_(1.0)
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
            proj.weight.zero_()
            if proj.bias is not None:
                proj.bias.zero_()
        attn.q_proj.weight[D + 2], attn.q_proj.weight[D + 2 + 4] = 3 * e / C, 4 * e / C
        attn.k_proj.weight[D + 0], attn.k_proj.weight[D + 0 + 4] = 6 * e / C, 8 * e / C
    result = rope.measure(model, ["some text", "more"], max_tokens=16)
    q_norm, k_norm = np.zeros((1, 4, 4)), np.zeros((1, 4, 4))
    q_norm[0, 1, 2] = 5.0 if family == "llama" else np.sqrt(8)
    k_norm[0, 2, 0] = k_norm[0, 3, 0] = 10.0 if family == "llama" else np.sqrt(8)
    np.testing.assert_allclose(result["q_norm"], q_norm, atol=1e-3)
    np.testing.assert_allclose(result["k_norm"], k_norm, atol=1e-3)
    assert np.shape(result["k_norm_kv"]) == (1, 2, 4)
    np.testing.assert_allclose(np.asarray(result["k_norm_kv"])[0, 1, 0], k_norm[0, 2, 0],
                               atol=1e-3)


# ------------------------------------------------------- the chunk pairing

def family_rotation(model, layer: int, x: torch.Tensor, position: int) -> torch.Tensor:
    """The family's own rotary code on ``x`` (1, 1, 1, D) at ``position``."""
    code = importlib.import_module(type(model.module).__module__)
    rotary = model.module.model.rotary_emb
    ids = torch.tensor([[position]])
    layer_type = getattr(model.module.model.layers[layer].self_attn, "layer_type", None)
    if "layer_type" in inspect.signature(rotary.forward).parameters:
        cos, sin = rotary(x, ids, layer_type=layer_type)
    else:
        cos, sin = rotary(x, ids)
    return code.apply_rotary_pos_emb(x, x, cos, sin)[0]


@pytest.mark.parametrize("family", ROPE_FAMILIES)
def test_chunk_pairing_matches_each_familys_rotation(family, tmp_path):
    """Chunk k of our layout turns, in the family's own code, exactly by
    position * frequency[k] within its channel pair: what the per-chunk
    norms rely on."""
    model = hf_model(family, tmp_path)
    x = torch.randn(1, 1, 1, model.shape.head_dim, dtype=torch.float32)
    for layer, layout in enumerate(rope.layouts(model)):
        assert layout.rotary and sorted(layout.pairs.flatten().tolist()) == list(range(8))
        for position in (0, 1, 7, 300):
            theirs = family_rotation(model, layer, x, position)[0, 0, 0]
            ours = rope.rotate_chunks(x[0, 0], layout, torch.tensor([position]))[0]
            torch.testing.assert_close(theirs[layout.pairs[:, 0]], ours[:, 0].float(),
                                       atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(theirs[layout.pairs[:, 1]], ours[:, 1].float(),
                                       atol=1e-5, rtol=1e-5)


def test_openclrs_layouts_follow_the_encoding():
    def layout(**kw):
        torch.manual_seed(0)
        gpt = GPT(LMConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, **kw))
        return rope.layouts(DiagnosedModel.from_module(gpt, CharTokenizer()))[0]

    full = layout(pos_encoding="rope")
    assert full.pairs[:3].tolist() == [[0, 8], [1, 9], [2, 10]]
    p = layout(pos_encoding="p-rope", p_rope=0.5)
    assert (p.frequency[:4] > 0).all() and (p.frequency[4:] == 0).all()
    partial = layout(pos_encoding="partial-rope", rotary_fraction=0.5)
    assert partial.pairs[:4].tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert partial.pairs[4:].tolist() == [[8, 12], [9, 13], [10, 14], [11, 15]]
    assert (partial.frequency[4:] == 0).all()
    assert layout(pos_encoding="none").frequency is None


def test_interleaved_layout_is_gpt_j():
    pairs = rope.chunk_pairs(8, 8, "interleaved")
    assert pairs.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert rope.chunk_pairs(8, 4, "half").tolist() == [[0, 2], [1, 3], [4, 6], [5, 7]]
    x = torch.randn(5, 8, dtype=torch.float64)
    freq = 10_000.0 ** (-torch.arange(4, dtype=torch.float64) / 4)
    out = rope.rotate_chunks(x, rope.ChunkLayout(pairs, freq), torch.arange(5))
    angle = torch.arange(5.0, dtype=torch.float64)[:, None] * freq
    even, odd = x[:, 0::2], x[:, 1::2]                  # rotate_every_two
    torch.testing.assert_close(out[..., 0], even * angle.cos() - odd * angle.sin())
    torch.testing.assert_close(out[..., 1], odd * angle.cos() + even * angle.sin())
    with pytest.raises(ValueError, match="layout"):
        rope.chunk_pairs(8, 8, "diagonal")


def test_norms_before_and_after_rotation_agree():
    x = torch.randn(3, 20, 16, dtype=torch.float64)
    layout = rope.ChunkLayout(rope.chunk_pairs(16, 16), 10_000.0 ** (
        -torch.arange(8, dtype=torch.float64) / 8))
    turned = rope.rotate_chunks(x, layout, torch.arange(20) * 13)
    torch.testing.assert_close(turned.norm(dim=-1), rope.chunk_norms(x, layout.pairs))


@pytest.mark.parametrize("family", ["openclrs", "llama", "qwen2", "gemma3"])
def test_chunks_rebuild_the_models_own_attention(family, tmp_path):
    """softmax(sum_k c_ij^(k) * scale) over j <= i is the attention the
    model itself computed (eager attention for Hugging Face)."""
    if family == "openclrs":
        torch.manual_seed(1)
        gpt = GPT(LMConfig(n_layer=2, n_head=2, n_embd=32, block_size=64))
        with torch.no_grad():   # sharper attention than the 0.02 initialisation gives
            for block in gpt.blocks:
                block.attn.c_attn.weight.mul_(20)
        model = DiagnosedModel.from_module(gpt.eval(), CharTokenizer())
        scale = 1 / np.sqrt(16)
    else:
        model = hf_model(family, tmp_path)
        config = model.module.config
        scale = getattr(config, "query_pre_attn_scalar", None) or model.shape.head_dim
        scale = scale ** -0.5
    ids = model.tokenize("The quick brown fox.")
    record = model.run(ids, attentions=True, qkv=True)
    T, group = len(ids), model.shape.n_heads // model.shape.n_kv_heads
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for layer, layout in enumerate(rope.layouts(model)):
        for h in range(model.shape.n_heads):
            c = rope.contributions(record.queries[layer][h], record.keys[layer][h // group],
                                   layout, torch.arange(T))
            logits = (c.sum(-1) * scale).masked_fill(~causal, float("-inf"))
            window = getattr(model.module.config, "sliding_window", None)
            if window is not None and T > window:
                pytest.skip("sliding window shorter than the text")
            torch.testing.assert_close(logits.softmax(-1).float(),
                                       record.attentions[layer][h].float(), atol=2e-5, rtol=1e-4)


def test_gpt2_is_measured_without_frequencies(tmp_path):
    result = rope.measure(hf_model("gpt2", tmp_path), ["abc def"], max_tokens=8)
    assert result["rotary"] is False and result["frequency"] == [None, None]
    assert np.shape(result["q_norm"]) == (2, 4, 4)
    assert "high_share" not in result and result["detector_correlation"] is None


def test_positional_head_detector():
    """A head whose queries and keys are equal and large in the fastest chunk
    attends to itself (Thm. 5.3's construction): found as diagonal."""
    torch.manual_seed(0)
    model = GPT(LMConfig(n_layer=1, n_head=2, n_embd=16, block_size=64)).eval()
    C = 16
    e = constant_embeddings(model.wte.weight)
    W = torch.zeros(3 * C, C)
    W[0], W[C] = 12 * e / C, 12 * e / C          # head 0, chunk 0: q = k = (12, 0)
    with torch.no_grad():
        model.blocks[0].attn.c_attn.weight.copy_(W)
    result = rope.measure(DiagnosedModel.from_module(model, CharTokenizer()),
                          ["abcdefghij"], max_tokens=16)
    assert result["diagonal_score"][0][0] > 0.9
    assert result["diagonal_score"][0][1] < 0.5           # head 1: uniform attention
    assert [(h["layer"], h["head"], h["kind"]) for h in result["positional_heads"]] == [
        (0, 0, "diagonal")]
    assert result["positional_heads"][0]["high_share"] == pytest.approx(1.0)


def test_rank_correlation():
    assert rope._rank_correlation(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 41.0])) \
        == pytest.approx(1.0)
    assert rope._rank_correlation(np.array([1, 2, 3.0]), np.array([3, 2, 1.0])) \
        == pytest.approx(-1.0)
    assert rope._rank_correlation(np.array([1, 1, 1.0]), np.array([3, 2, 1.0])) is None


# ------------------------------------------------------------- the command

@pytest.mark.parametrize("family", ("gpt2", *ROPE_FAMILIES, "openclrs"))
def test_cli_rope_on_every_family(family, tiny_hf_models, tmp_path):
    which = "--checkpoint" if family == "openclrs" else "--hf-model"
    out = tmp_path / "out"
    code = cli_main(["diagnose", "rope", which, tiny_hf_models[family], "--out", str(out),
                     "--text", "Round and round we go.", "--text", "1 2 3 4",
                     "--max-tokens", "12"])
    assert code == 0
    result = json.loads((out / "rope.json").read_text())
    assert result["schema"] == rope.SCHEMA and result["texts"] == 2
    L, H, D = (result["model"][k] for k in ("n_layers", "n_heads", "head_dim"))
    assert np.shape(result["q_norm"]) == np.shape(result["k_norm"]) == (L, H, D // 2)
    assert np.all(np.asarray(result["q_norm"]) > 0)
    assert result["rotary"] is (family != "gpt2")
    for name in ("rope_norms.png", "rope_heads.png", "rope_positional.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_texts_file_and_errors(tiny_hf_models, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("first line\n\nsecond line\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli_main(["diagnose", "rope", "--checkpoint", tiny_hf_models["openclrs"],
                     "--out", str(out), "--texts-file", str(texts)]) == 0
    assert json.loads((out / "rope.json").read_text())["texts"] == 2
    code = cli_main(["diagnose", "rope", "--checkpoint", tiny_hf_models["openclrs"],
                     "--out", str(tmp_path / "bad"), "--texts-file", str(tmp_path / "none")])
    assert code != 0
    assert "--texts-file" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad" / "rope.json")
