"""RoPE frequency usage (Barbero et al. 2025, "Round and Round We Go! What
makes Rotary Positional Encodings useful?", §4-§5) of any causal LM the
diagnostics can read (:class:`~.models.DiagnosedModel`).

RoPE cuts each head's query and key into ``K = d/2`` two-dimensional chunks
``q^(k)``, ``k^(k)`` and turns chunk ``k`` by ``g_k`` radians per token, so
the attention logit of query ``i`` and key ``j`` is a sum over chunks::

    a_ij = sum_k c_ij^(k),   c_ij^(k) = (q_i^(k))^T rho(g_k)^(j - i) k_j^(k)

(times the model's ``1/sqrt(d)``, left out: it scales every term alike).
Measured over a set of texts, per layer, head and chunk:

* ``q_norm``, ``k_norm``, ``v_norm``: the mean 2-norm of the chunk over all
  tokens. By Cauchy-Schwarz ``|c_ij^(k)| <= ||q_i^(k)|| ||k_j^(k)||``, so
  these bound what each frequency can contribute (the paper's Figs. 3-4).
  Values are not rotated: cut the same way they are the control (Fig. 14).
  The norms are taken before the rotation; a rotation keeps every chunk's
  norm, so after it they are the same.
* ``logit_usage``: the attention-weighted mean of ``|c_ij^(k)|``:
  ``sum_i sum_{j<=i} alpha_ij |c_ij^(k)| / T`` (the logit each frequency
  actually carries where the head looks).
* ``high_share`` / ``low_share`` / ``unrotated_share``: the fraction of a
  head's ``logit_usage`` carried by the highest-frequency half of its rotated
  chunks, the lowest-frequency half, and the chunks that do not turn (p-RoPE,
  partial rotary); ``norm_high_share``: the same split of the Cauchy-Schwarz
  proxy ``q_norm * k_norm``.
* ``diagonal_score`` / ``previous_token_score``: ``mean_i alpha_ii`` and
  ``mean_i alpha_i,i-1`` over queries ``i >= 1`` (Def. 5.1's heads have
  scores near 1); heads above ``positional_threshold`` are listed in
  ``positional_heads`` with their ``high_share``; ``detector_correlation`` is
  the rank correlation, over all heads, of ``high_share`` with
  ``max(diagonal, previous-token)`` score (the paper: positional heads are
  found by their high-frequency use).

**Chunks.** Chunk ``k`` is the channel pair the model turns together:
``(k, k + r/2)`` in the half-split layout of openclrs and of Hugging Face's
``rotate_half`` (Llama, Gemma 1-3, Qwen 2-3), ``(2k, 2k + 1)`` in the
interleaved layout, with ``r`` the rotary width (the head size, or less with
partial rotary); channels after ``r`` (not turned) are paired the same way
after it, with frequency 0. Chunk index = frequency order (``k = 0`` the
fastest). Grouped-query keys are given per query head (the key head each
query head reads); ``k_norm_kv`` keeps them per key head. A model without
RoPE (GPT-2, openclrs' ``none``/``learned``) gets the norms of the
half-split pairs of its heads (``rotary: false``), and no frequency shares.

:func:`diagnose` writes ``rope.json`` (the arrays above as nested lists,
``[layers, heads, head_dim // 2]`` or ``[layers, heads]``) and the plots
``rope_norms.png`` (mean over heads, layer x chunk, as the paper's Fig. 3),
``rope_heads.png`` (head x chunk of the first and last layers, Fig. 4) and
``rope_positional.png`` (high-frequency share against the positional score).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..files import write_json
from .figures import save_figure, subplots

SCHEMA = "openclrs-diagnose-rope/1"

#: The default text set: ten lines of Shakespeare (the paper measured Gemma
#: on ten Shakespeare quotes; which ones it did not say).
SHAKESPEARE = (
    "To be, or not to be, that is the question.",
    "All the world's a stage, and all the men and women merely players.",
    "The course of true love never did run smooth.",
    "What's in a name? That which we call a rose by any other name would smell as sweet.",
    "Now is the winter of our discontent made glorious summer by this sun of York.",
    "Friends, Romans, countrymen, lend me your ears; I come to bury Caesar, not to praise him.",
    "We are such stuff as dreams are made on, and our little life is rounded with a sleep.",
    "Some are born great, some achieve greatness, and some have greatness thrust upon them.",
    "Cowards die many times before their deaths; the valiant never taste of death but once.",
    "If music be the food of love, play on; give me excess of it.",
)


@dataclass
class ChunkLayout:
    """How one layer cuts a head into 2-D chunks: ``pairs`` ``(K, 2)`` channel
    indices, ``frequency`` ``(K,)`` radians per token (``None``: the layer
    has no RoPE; 0: the chunk does not turn)."""

    pairs: torch.Tensor
    frequency: torch.Tensor | None

    @property
    def rotary(self) -> bool:
        return self.frequency is not None


def chunk_pairs(head_dim: int, rotary_dim: int, layout: str = "half") -> torch.Tensor:
    """``(head_dim // 2, 2)`` channel pairs: the ``rotary_dim`` turned
    channels, then the rest, each cut in the given layout (``"half"``: ``k``
    with ``k + width/2``; ``"interleaved"``: ``2k`` with ``2k + 1``)."""
    if head_dim % 2 or rotary_dim % 2 or not 0 <= rotary_dim <= head_dim:
        raise ValueError(f"cannot pair head_dim={head_dim} with rotary_dim={rotary_dim}")

    def cut(start, width):
        k = torch.arange(width // 2)
        if layout == "half":
            return torch.stack([start + k, start + width // 2 + k], dim=1)
        if layout == "interleaved":
            return torch.stack([start + 2 * k, start + 2 * k + 1], dim=1)
        raise ValueError(f"unknown RoPE layout {layout!r} (half or interleaved)")

    return torch.cat([cut(0, rotary_dim), cut(rotary_dim, head_dim - rotary_dim)])


def layouts(model) -> list[ChunkLayout]:
    """Per layer, the :class:`ChunkLayout` of a :class:`~.models.DiagnosedModel`."""
    d = model.shape.head_dim
    if model.kind == "openclrs":
        rotary = model.module.rotary
        if rotary is None:
            return [ChunkLayout(chunk_pairs(d, 0), None)] * model.shape.n_layers
        # the model's own description of its rotation (partial rotary included)
        layout = ChunkLayout(rotary.channel_pairs(), rotary.frequencies().double())
        return [layout] * model.shape.n_layers
    out = []
    for spec in model.rope:
        if spec is None:
            out.append(ChunkLayout(chunk_pairs(d, 0), None))
            continue
        freq = torch.zeros(d // 2, dtype=torch.float64)
        inv = torch.as_tensor(spec.inv_freq, dtype=torch.float64)
        freq[:inv.numel()] = inv
        out.append(ChunkLayout(chunk_pairs(d, spec.rotary_dim, spec.layout), freq))
    return out


def chunk_norms(x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """``(..., K)``: the 2-norm of each chunk of ``x`` ``(..., head_dim)``."""
    x = x.double()
    return torch.sqrt(x[..., pairs[:, 0]] ** 2 + x[..., pairs[:, 1]] ** 2)


def rotate_chunks(x: torch.Tensor, layout: ChunkLayout, positions: torch.Tensor
                  ) -> torch.Tensor:
    """``(..., T, K, 2)``: the chunks of ``x`` ``(..., T, head_dim)``, each
    turned by ``position * frequency`` (``[a cos - b sin, b cos + a sin]``,
    the rotation of every layout here); in float64."""
    x = x.double()
    a, b = x[..., layout.pairs[:, 0]], x[..., layout.pairs[:, 1]]
    angle = positions.double()[:, None] * layout.frequency.to(x.device)
    cos, sin = angle.cos(), angle.sin()
    return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1)


def contributions(q: torch.Tensor, k: torch.Tensor, layout: ChunkLayout,
                  positions: torch.Tensor) -> torch.Tensor:
    """``c_ij^(k)`` ``(T, T, K)`` of one head: queries and keys ``(T, head_dim)``
    before rotation; ``sum_k c_ij^(k) = q_i^T R^(j - i) k_j``."""
    qr, kr = rotate_chunks(q, layout, positions), rotate_chunks(k, layout, positions)
    return torch.einsum("ikc,jkc->ijk", qr, kr)


def _positions(model, T: int) -> torch.Tensor:
    """The positions the model gives ``T`` tokens (openclrs' random encodings:
    the draw of seed 0, as the diagnostics' attention weights use)."""
    if model.kind == "openclrs":
        return model.module.default_positions(
            1, T, generator=torch.Generator().manual_seed(0))[0].cpu()
    return torch.arange(T)


def _split_shares(usage: np.ndarray, frequency: np.ndarray | None) -> dict:
    """``{high, low, unrotated}``: fractions of ``usage`` ``(..., K)`` by
    frequency band (the faster half of the rotated chunks, the slower half,
    the chunks that do not turn)."""
    if frequency is None:
        return {}
    rotated = np.flatnonzero(frequency > 0)
    order = rotated[np.argsort(-frequency[rotated], kind="stable")]
    high, low = order[:(len(order) + 1) // 2], order[(len(order) + 1) // 2:]
    still = np.flatnonzero(frequency == 0)
    total = usage.sum(-1)
    safe = np.where(total > 0, total, 1.0)
    return {"high": usage[..., high].sum(-1) / safe, "low": usage[..., low].sum(-1) / safe,
            "unrotated": usage[..., still].sum(-1) / safe}


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho (average ranks for ties); ``None`` if undefined."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # ties share their mean rank
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    if len(x) < 3:
        return None
    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


@torch.no_grad()
def measure(model, texts=SHAKESPEARE, max_tokens: int = 128,
            positional_threshold: float = 0.5) -> dict:
    """Every quantity of the module's docstring for ``model`` (a
    :class:`~.models.DiagnosedModel`) over ``texts`` (each cut to its first
    ``max_tokens`` tokens), as a JSON-able dict (numpy arrays as lists)."""
    texts = list(texts)
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise ValueError("texts must be a non-empty list of non-empty strings")
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
    s = model.shape
    L, H, Hkv, D = s.n_layers, s.n_heads, s.n_kv_heads, s.head_dim
    K, group = D // 2, H // Hkv
    chunks = layouts(model)
    q_sum, k_sum, v_sum = (np.zeros((L, n, K)) for n in (H, Hkv, Hkv))
    usage = np.zeros((L, H, K))
    diagonal, previous = np.zeros((L, H)), np.zeros((L, H))
    tokens = queries = positional_queries = 0
    for text in texts:
        ids = model.tokenize(text)[:max_tokens]
        T = len(ids)
        record = model.run(ids, attentions=True, qkv=True)
        positions = _positions(model, T)
        tokens += T
        queries += T
        positional_queries += T - 1
        for layer in range(L):
            pairs = chunks[layer].pairs
            q, k, v = record.queries[layer], record.keys[layer], record.values[layer]
            q_sum[layer] += chunk_norms(q, pairs).sum(1).cpu().numpy()
            k_sum[layer] += chunk_norms(k, pairs).sum(1).cpu().numpy()
            v_sum[layer] += chunk_norms(v, pairs).sum(1).cpu().numpy()
            alpha = record.attentions[layer].double()  # (H, T, T)
            if T > 1:
                idx = torch.arange(1, T)
                diagonal[layer] += alpha[:, idx, idx].sum(-1).cpu().numpy()
                previous[layer] += alpha[:, idx, idx - 1].sum(-1).cpu().numpy()
            if chunks[layer].rotary:
                for h in range(H):
                    c = contributions(q[h], k[h // group], chunks[layer], positions)
                    weighted = alpha[h].tril()[..., None] * c.abs()
                    usage[layer, h] += weighted.sum((0, 1)).cpu().numpy()
    q_norm, k_norm_kv, v_norm_kv = q_sum / tokens, k_sum / tokens, v_sum / tokens
    k_norm = np.repeat(k_norm_kv, group, axis=1)   # each query head's key head
    v_norm = np.repeat(v_norm_kv, group, axis=1)
    usage /= queries
    diagonal /= max(positional_queries, 1)
    previous /= max(positional_queries, 1)
    rotary = all(c.rotary for c in chunks)
    result = {
        "schema": SCHEMA, "model": model.describe(), "texts": len(texts), "tokens": tokens,
        "max_tokens": max_tokens, "rotary": rotary,
        "rotary_layers": [c.rotary for c in chunks],
        "chunk_pairs": [c.pairs.tolist() for c in chunks],
        "frequency": [c.frequency.tolist() if c.rotary else None for c in chunks],
        "q_norm": q_norm.tolist(), "k_norm": k_norm.tolist(), "v_norm": v_norm.tolist(),
        "k_norm_kv": k_norm_kv.tolist(), "v_norm_kv": v_norm_kv.tolist(),
        "diagonal_score": diagonal.tolist(), "previous_token_score": previous.tolist(),
        "positional_threshold": positional_threshold,
    }
    high = np.full((L, H), np.nan)
    if any(c.rotary for c in chunks):
        low, still, norm_high = (np.full((L, H), np.nan) for _ in range(3))
        for layer, c in enumerate(chunks):
            if not c.rotary:
                continue
            freq = c.frequency.numpy()
            shares = _split_shares(usage[layer], freq)
            high[layer], low[layer], still[layer] = shares["high"], shares["low"], \
                shares["unrotated"]
            norm_high[layer] = _split_shares(q_norm[layer] * k_norm[layer], freq)["high"]
        result.update({"logit_usage": usage.tolist(), "high_share": _nan_none(high),
                       "low_share": _nan_none(low), "unrotated_share": _nan_none(still),
                       "norm_high_share": _nan_none(norm_high)})
    score = np.maximum(diagonal, previous)
    heads = []
    for layer in range(L):
        for h in range(H):
            if score[layer, h] > positional_threshold:
                kind = "diagonal" if diagonal[layer, h] >= previous[layer, h] else "previous-token"
                heads.append({"layer": layer, "head": h, "kind": kind,
                              "score": float(score[layer, h]),
                              "high_share": None if np.isnan(high[layer, h])
                              else float(high[layer, h])})
    result["positional_heads"] = heads
    known = ~np.isnan(high)
    result["detector_correlation"] = _rank_correlation(high[known], score[known]) \
        if known.any() else None
    return result


def _nan_none(a: np.ndarray) -> list:
    """Nested lists with ``None`` for NaN (layers without RoPE)."""
    return [[None if np.isnan(x) else float(x) for x in row] for row in a]


# --------------------------------------------------------------------- plots

def plot(result: dict, out: str) -> list[str]:
    """The three PNGs of the module's docstring; their paths."""
    q, k, v = (np.asarray(result[n]) for n in ("q_norm", "k_norm", "v_norm"))
    L, H, K = q.shape
    name = result["model"].get("name") or result["model"].get("family", "")
    x_label = "frequency chunk k (0 = fastest)" if result["rotary"] else "chunk k of the head"
    written = []

    fig, axes = subplots(1, 3, figsize=(15, 0.35 * L + 2.2), squeeze=False)
    for ax, data, title in zip(axes[0], (q, k, v), ("queries", "keys", "values (control)")):
        im = ax.imshow(data.mean(1), aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_title(f"mean ||{title[0]}^(k)||: {title}", fontsize=9)
        _ticks(ax, K, L, x_label, "layer")
        fig.colorbar(im, ax=ax)
    written.append(save_figure(fig, os.path.join(out, "rope_norms.png"), dpi=110,
                               title=f"{name}: chunk norms, mean over heads and "
                                     f"{result['tokens']} tokens"))

    shown = sorted({0, L - 1})
    fig, axes = subplots(len(shown), 2, figsize=(11, (0.3 * H + 1.8) * len(shown)),
                             squeeze=False)
    for row, layer in enumerate(shown):
        for col, (data, what) in enumerate(((q, "queries"), (k, "keys"))):
            ax = axes[row][col]
            im = ax.imshow(data[layer], aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_title(f"layer {layer}: mean chunk norm of the {what}", fontsize=9)
            _ticks(ax, K, H, x_label, "head")
            fig.colorbar(im, ax=ax)
    written.append(save_figure(fig, os.path.join(out, "rope_heads.png"), dpi=110))

    fig, ax = subplots(figsize=(5.5, 4.2))
    diag, prev = np.asarray(result["diagonal_score"]), np.asarray(result["previous_token_score"])
    if result.get("high_share") is not None:
        share = np.array([[np.nan if x is None else x for x in row]
                          for row in result["high_share"]])
        layers = np.repeat(np.arange(L)[:, None], H, axis=1)
        points = ax.scatter(share.ravel(), np.maximum(diag, prev).ravel(), c=layers.ravel(),
                            cmap="viridis", s=18)
        fig.colorbar(points, ax=ax, label="layer")
        ax.set_xlabel("share of the attention logit on the highest frequencies", fontsize=8)
        rho = result.get("detector_correlation")
        ax.set_title(f"{name}: positional heads (rank corr. {rho:.2f})" if rho is not None
                     else f"{name}: positional heads", fontsize=9)
    else:
        ax.bar(range(L * H), np.maximum(diag, prev).ravel())
        ax.set_xlabel("head (layer-major); no RoPE: no frequency share", fontsize=8)
        ax.set_title(f"{name}: positional scores", fontsize=9)
    ax.axhline(result["positional_threshold"], color="grey", lw=0.8, ls="--")
    ax.set_ylabel("max(diagonal, previous-token) attention", fontsize=8)
    written.append(save_figure(fig, os.path.join(out, "rope_positional.png"), dpi=110))
    return written


def _ticks(ax, columns: int, rows: int, x_label: str, y_label: str) -> None:
    """Whole-number ticks (at most ~16 per axis) and the axis labels."""
    ax.set_xticks(range(0, columns, max(1, columns // 16)))
    ax.set_yticks(range(0, rows, max(1, rows // 16)))
    ax.tick_params(labelsize=7)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)


# ---------------------------------------------------------------- the command

def read_texts(path: str) -> list[str]:
    """One text per non-empty line of a UTF-8 file."""
    try:
        with open(path, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--texts-file {path}: cannot read it ({e})") from None
    if not texts:
        raise ValueError(f"--texts-file {path} has no non-empty line")
    return texts


def diagnose(model, out: str, texts=None, texts_file: str | None = None, max_tokens: int = 128,
             positional_threshold: float = 0.5, dtypes=None, plots: bool = True) -> list[str]:
    """``openclrs diagnose rope``: :func:`measure` over ``texts`` (default
    :data:`SHAKESPEARE`; ``texts_file``: one per line, added to ``texts``),
    in the first of ``dtypes`` (default float32), written to
    ``out/rope.json`` with the PNGs; returns the written paths."""
    chosen = list(texts or []) + (read_texts(texts_file) if texts_file else [])
    if dtypes:
        model = model.to(dtypes[0]) if str(model.dtype).removeprefix("torch.") != dtypes[0] \
            else model
    result = measure(model, chosen or SHAKESPEARE, max_tokens, positional_threshold)
    result["text_set"] = "given" if chosen else "shakespeare"
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "rope.json")
    write_json(path, result)
    return [path] + (plot(result, out) if plots else [])


__all__ = ["ChunkLayout", "SHAKESPEARE", "chunk_norms", "chunk_pairs", "contributions",
           "diagnose", "layouts", "measure", "plot", "rotate_chunks"]
