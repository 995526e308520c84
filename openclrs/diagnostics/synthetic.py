"""The theory checked on synthetic attention, in seconds (no model).

**Collapse of one attention layer** (Barbero et al. 2024, App. C.3-C.4,
Figs. 8 and 10). Tokens carry Gaussian queries, keys and values
``q_j, k_j, v_j ~ N(0, I_d / d)`` (Fig. 8's scale), ``d = 64``, one head. Following the paper's
model (§2: ``z_i = Σ_{j≤i} α_ij v_j + v_i`` with the positional information
``p_ij`` inside the attention scores only), the last token's output is::

    y_n = LayerNorm(v_n + Σ_{j≤n} α_nj v_j),   α_n = softmax_j(s_nj),
    s_nj = <f(q_n, n), f(k_j, j)> / √d  (+ b_nj)

with the encoding ``f``, ``b`` one of

* ``nope``: ``f(x, i) = x``, ``b = 0``;
* ``sinusoidal``: ``f(x, i) = x + PE(i)/√d``, the sine/cosine table of
  Vaswani et al. (2017), ``PE(i)_{2k} = sin(i / 10000^{2k/d})``,
  ``PE(i)_{2k+1} = cos(...)``;
* ``rope``: ``f(x, i) = R^i x``, half-split layout, base 10,000;
* ``alibi``: ``b_nj = -m (n - j)`` with the one-head slope ``m = 2^-8``
  (Press et al. 2022: slopes ``2^{-8h/H}``); ``alibi_slow``: ``m = 2^-16``.
  ALiBi's bias grows with distance, so attention stays local and the
  positional information does not decay as Theorem 4.2 assumes: with the
  standard slope the pair need not collapse at all.

The pair is ``[t_1 .. t_n]`` against ``[t_1 .. t_n, t_n]`` (the last token
repeated, at position ``n + 1``); only the last query's attention row is
computed, so lengths of ``10^5`` cost milliseconds. Every tensor is cast to
the dtype first and all arithmetic happens in it (rotation angles in
float32, cos/sin cast). The L1 and L∞ distances of ``y_n`` and ``y*_{n+1}``
are taken in float64; ``collapse_length`` is the first length where a
dtype's distance is exactly 0.

**Softmax total variation** (Lemma 4.1 / B.2, Fig. 9): ``x ~ U[0, 1]^n``,
``x*`` adds ``U[0, 0.1]`` noise to the first ``k = 200`` entries;
``TV = ‖softmax(x) - softmax(x*)‖_1`` (the paper's TV, without ½) falls
with ``n``; the alternating pair ``(1, 0, 1, 0 ..)`` vs ``(0, 1, 0, 1 ..)``
(Prop. B.4) does not fall (``TV -> 2(e - 1)/(e + 1)``).

**RoPE decay** (Barbero et al. 2025, §3, Fig. 2, Prop. 3.2): the score
``q^T R^r k`` against the distance ``r`` for all-ones ``q = k`` (decays)
and for Gaussian ``q, k`` (mean 0 at every ``r``, and ``E|q^T R^r k|`` does
not decay).

**A sharp diagonal head** (Thm. 5.3 vs Prop. 5.2): with RoPE, every query
and key equal to one vector ``ψ`` gives ``s_ij = ψ^T R^{j-i} ψ``, largest at
``j = i``; ``min_i α_ii -> 1`` as ``‖ψ‖`` grows. NoPE cannot: on
``[bos, x, x]`` the last two keys are equal, so ``α_33 = α_32 < 1/2`` for any
weights (checked over random queries and keys of every scale).

**Only ratios without a mask** (Prop. 6.1 / B.9): with no causal mask and no
positions, ``'10'`` and ``'1100'`` give the same last output (to rounding);
with the causal mask they differ.

``synthetic.json``::

    {"collapse": {encoding: {dtype: {"lengths", "l1", "linf", "collapse_length"}}},
     "bf16_zero_where_fp32_separates": {encoding: {"length": n or null,
                                                   "float32_l1_there": x,
                                                   "all_lengths": [n, ...]}},
     "softmax_tv": {"lengths", "tv_mean", "tv_min", "tv_max", "alternating"},
     "rope_decay": {"distances", "ones", "gaussian_mean", "gaussian_abs_mean"},
     "diagonal_head": {"norms", "rope_min_diagonal", "nope_max_last_diagonal"},
     "ratios_only": {"pairs", "no_mask_linf", "causal_linf"}}

and the PNGs ``synthetic_collapse.png``, ``synthetic_tv.png``,
``synthetic_rope.png``, ``synthetic_diagonal.png``.
"""

from __future__ import annotations

import math
import os

import torch

from ..files import write_json
from .figures import distance_curve, log_panel, save_figure, save_single, subplots, zero_floor
from .models import dtype_name, parse_dtype

ENCODINGS = ("sinusoidal", "rope", "alibi", "alibi_slow", "nope")
ROPE_BASE = 10000.0
# one head's standard ALiBi slope, and a slow one whose bias stays small
# over the lengths measured (the theorem assumes decaying positional information)
ALIBI_SLOPES = {"alibi": 2.0 ** -8, "alibi_slow": 2.0 ** -16}


def sinusoidal(positions: torch.Tensor, d: int) -> torch.Tensor:
    """``(len(positions), d)`` sine/cosine table (float64)."""
    k = torch.arange(d // 2, dtype=torch.float64)
    angles = positions.double()[:, None] / ROPE_BASE ** (2 * k / d)
    table = torch.empty(len(positions), d, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
    return table


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float = ROPE_BASE) -> torch.Tensor:
    """RoPE, half-split layout: pair ``(k, k + d/2)`` turns by
    ``position * base^(-2k/d)``; angles in float32, cos/sin in ``x``'s dtype."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float32) * 2 / x.shape[-1])
    angles = positions.float()[:, None] * inv_freq
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def last_output(Q, K, V, encoding: str) -> torch.Tensor:
    """``y_n`` of the module's docstring for tokens ``(n, d)`` (in their dtype)."""
    n, d = Q.shape
    positions = torch.arange(n)
    q, keys = Q[-1:], K
    if encoding == "sinusoidal":
        pe = (sinusoidal(positions, d) / math.sqrt(d)).to(Q.dtype)
        q, keys = q + pe[-1:], keys + pe
    elif encoding == "rope":
        q, keys = rotate(q, positions[-1:]), rotate(keys, positions)
    elif encoding not in ("alibi", "alibi_slow", "nope"):
        raise ValueError(f"unknown encoding {encoding!r}; choose from {ENCODINGS}")
    scores = (keys @ q[0]) / math.sqrt(d)
    if encoding in ALIBI_SLOPES:
        scores = scores - (ALIBI_SLOPES[encoding] * (n - 1 - positions)).to(scores.dtype)
    alpha = scores.softmax(-1)
    z = V[-1] + alpha @ V
    return torch.nn.functional.layer_norm(z, (d,))


def collapse_curves(lengths, dtypes=("float32", "bfloat16"), encodings=ENCODINGS, d: int = 64,
                    seed: int = 0, std: float | None = None) -> dict:
    """``{encoding: {dtype: {"lengths", "l1", "linf", "collapse_length"}}}``;
    ``std``: of the Gaussian q, k, v (default ``1/√d``, Fig. 8's ``N(0, 1/d)``)."""
    g = torch.Generator().manual_seed(seed)
    N = max(lengths)
    std = 1 / math.sqrt(d) if std is None else std
    # token by token (q, k, v each), so a shorter run draws the same first tokens
    tokens = (std * torch.randn(N, 3, d, generator=g, dtype=torch.float64)).unbind(1)
    out = {}
    for encoding in encodings:
        out[encoding] = {}
        for dtype in dtypes:
            Q, K, V = (t.to(parse_dtype(dtype)) for t in tokens)
            curve = {"lengths": [int(n) for n in lengths], "l1": [], "linf": []}
            for n in lengths:
                a = last_output(Q[:n], K[:n], V[:n], encoding)
                repeat = torch.cat([torch.arange(n), torch.tensor([n - 1])])
                b = last_output(Q[repeat], K[repeat], V[repeat], encoding)
                delta = (a.double() - b.double()).abs()
                curve["l1"].append(delta.sum().item())
                curve["linf"].append(delta.max().item())
            curve["collapse_length"] = next((n for n, v in zip(curve["lengths"], curve["l1"])
                                             if v == 0.0), None)
            out[encoding][dtype_name(parse_dtype(dtype))] = curve
    return out


def zero_where_fp32_separates(curves: dict, low: str = "bfloat16", high: str = "float32"
                              ) -> dict:
    """Per encoding: the first length where ``low`` is exactly 0 and ``high``
    is not, with ``high``'s L1 there, and every such length (rounding makes
    the low-precision distance noisy: past the first zero it is 0 at some
    lengths and a few ulps at others)."""
    out = {}
    for encoding, by_dtype in curves.items():
        if low not in by_dtype or high not in by_dtype:
            continue
        lo, hi = by_dtype[low], by_dtype[high]
        hits = [(n, h) for n, l, h in zip(lo["lengths"], lo["l1"], hi["l1"])
                if l == 0.0 and h > 0.0]
        first = hits[0] if hits else (None, None)
        out[encoding] = {"length": first[0], f"{high}_l1_there": first[1],
                         "all_lengths": [n for n, _ in hits]}
    return out


def softmax_tv(lengths, k: int = 200, noise: float = 0.1, seeds: int = 5) -> dict:
    """Fig. 9's total variation (float64) and Prop. B.4's alternating pair."""
    tv = []
    for n in lengths:
        values = []
        for s in range(seeds):
            g = torch.Generator().manual_seed(s)
            x = torch.rand(n, generator=g, dtype=torch.float64)
            x_star = x.clone()
            x_star[:k] += noise * torch.rand(min(k, n), generator=g, dtype=torch.float64)
            values.append((x.softmax(0) - x_star.softmax(0)).abs().sum().item())
        tv.append(values)
    alternating = []
    for n in lengths:
        x = (torch.arange(n) % 2 == 0).double()
        alternating.append((x.softmax(0) - (1 - x).softmax(0)).abs().sum().item())
    return {"lengths": [int(n) for n in lengths], "k": k, "noise": noise,
            "tv_mean": [sum(v) / len(v) for v in tv], "tv_min": [min(v) for v in tv],
            "tv_max": [max(v) for v in tv], "alternating": alternating,
            "alternating_limit": 2 * (math.e - 1) / (math.e + 1)}


def rope_decay(max_distance: int = 256, d: int = 64, samples: int = 2000, seed: int = 0
               ) -> dict:
    """``q^T R^r k`` against ``r``: all-ones vectors and Gaussian ones (float64)."""
    r = torch.arange(max_distance + 1)
    ones = torch.ones(1, d, dtype=torch.float64)
    rotated_ones = rotate(ones.expand(len(r), d).double(), r).double()
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(samples, d, generator=g, dtype=torch.float64)
    k = torch.randn(samples, d, generator=g, dtype=torch.float64)
    # q^T R^r k = sum_k (q1 k1 + q2 k2) cos(g_k r) + (q2 k1 - q1 k2) sin(g_k r), per chunk k
    half = d // 2
    inv_freq = ROPE_BASE ** (-torch.arange(half, dtype=torch.float64) * 2 / d)
    angles = r.double()[:, None] * inv_freq                       # (R, d/2)
    q1, q2, k1, k2 = q[:, :half], q[:, half:], k[:, :half], k[:, half:]
    scores = (q1 * k1 + q2 * k2) @ angles.cos().T + (q2 * k1 - q1 * k2) @ angles.sin().T
    scores = scores.T                                             # (R, S)
    return {"distances": r.tolist(), "d": d, "samples": samples,
            "ones": (rotated_ones @ ones[0]).tolist(),
            "gaussian_mean": scores.mean(1).tolist(),
            "gaussian_abs_mean": scores.abs().mean(1).tolist()}


def diagonal_head(norms=(1, 2, 4, 8, 16, 32), length: int = 64, d: int = 64, trials: int = 200,
                  seed: int = 0) -> dict:
    """Thm. 5.3 (RoPE, ``q = k = ψ`` of norm ``s``: ``min_i α_ii``) against
    Prop. 5.2 (NoPE on ``[bos, x, x]``: the largest ``α_33`` over random
    queries and keys of norm ``s``), float64."""
    g = torch.Generator().manual_seed(seed)
    psi = torch.randn(d, generator=g, dtype=torch.float64)
    psi /= psi.norm()
    positions = torch.arange(length)
    mask = torch.ones(length, length, dtype=torch.bool).tril()
    rope_min, nope_max = [], []
    for s in norms:
        x = rotate((s * psi).expand(length, d).clone(), positions).double()
        scores = (x @ x.T / math.sqrt(d)).masked_fill(~mask, float("-inf"))
        rope_min.append(scores.softmax(-1).diagonal().min().item())
        best = 0.0
        for _ in range(trials):
            q = torch.randn(3, d, generator=g, dtype=torch.float64)
            k = torch.randn(3, d, generator=g, dtype=torch.float64)
            k[2] = k[1]  # tokens 2 and 3 are the same x: NoPE gives them the same key
            q, k = s * q / q.norm(dim=1, keepdim=True), s * k / k.norm(dim=1, keepdim=True)
            best = max(best, (k @ q[2] / math.sqrt(d)).softmax(-1)[2].item())
        nope_max.append(best)
    return {"norms": list(norms), "length": length, "d": d,
            "rope_min_diagonal": rope_min, "nope_max_last_diagonal": nope_max}


def ratios_only(d: int = 64, seed: int = 0) -> dict:
    """Prop. 6.1 / B.9: without a causal mask and without positions, the last
    token sees only token *ratios*: ``'10'`` and ``'1100'`` get the same output
    (to rounding), so counting is impossible. Two layers (Gaussian
    projections ``W ~ N(0, I/d)``, tokens ``'0'``, ``'1'`` Gaussian, float64):
    with the causal mask the first layer's states depend on each token's
    prefix and the pairs differ (one layer would not show it: the last row
    of a causal mask is full)."""
    g = torch.Generator().manual_seed(seed)
    embed = torch.randn(2, d, generator=g, dtype=torch.float64)
    weights = torch.randn(2, 3, d, d, generator=g, dtype=torch.float64) / math.sqrt(d)

    def output(text: str, causal: bool) -> torch.Tensor:
        x = embed[[int(c) for c in text]]
        T = len(text)
        for wq, wk, wv in weights:
            h = torch.nn.functional.layer_norm(x, (d,))
            scores = (h @ wq) @ (h @ wk).T / math.sqrt(d)
            if causal:
                scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(),
                                            float("-inf"))
            x = x + scores.softmax(-1) @ (h @ wv)
        return torch.nn.functional.layer_norm(x, (d,))[-1]

    pairs = [("10", "1100"), ("10", "111000"), ("110", "111100")]
    return {"pairs": [list(p) for p in pairs],
            "no_mask_linf": [(output(a, False) - output(b, False)).abs().max().item()
                             for a, b in pairs],
            "causal_linf": [(output(a, True) - output(b, True)).abs().max().item()
                            for a, b in pairs]}


def plot_collapse(curves: dict, path: str) -> str:
    fig, axes = subplots(1, len(curves), figsize=(3.3 * len(curves), 3.0), squeeze=False,
                             sharey=True)
    floor = zero_floor(v for e in curves.values() for c in e.values() for v in c["l1"])
    for ax, (encoding, by_dtype) in zip(axes[0], curves.items()):
        for dtype, c in by_dtype.items():
            distance_curve(ax, c["lengths"], c["l1"], floor, c["collapse_length"], marker=".",
                           label=dtype, lw=1.2)
        ax.set_xscale("log")
        log_panel(ax, encoding, "n")
    axes[0][0].set_ylabel("L1 ‖y_n − y*_{n+1}‖ (0 at the bottom)")
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path, dpi=100)


def plot_tv(tv: dict, path: str) -> str:
    fig, ax = subplots(figsize=(4.2, 3.0))
    ax.plot(tv["lengths"], tv["tv_mean"], label=f"noise on first {tv['k']}")
    ax.fill_between(tv["lengths"], tv["tv_min"], tv["tv_max"], alpha=0.3)
    ax.plot(tv["lengths"], tv["alternating"], "--", label="(1 0 1 0 ..) vs (0 1 0 1 ..)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    return save_single(fig, ax, path, "n", "‖softmax(x) − softmax(x*)‖₁")


def plot_rope(decay: dict, path: str) -> str:
    fig, ax = subplots(figsize=(4.2, 3.0))
    ax.plot(decay["distances"], decay["ones"], label="q = k = ones")
    ax.plot(decay["distances"], decay["gaussian_abs_mean"], label="Gaussian: E|qᵀRʳk|")
    ax.plot(decay["distances"], decay["gaussian_mean"], label="Gaussian: E qᵀRʳk")
    return save_single(fig, ax, path, "relative distance r", "score qᵀRʳk")


def plot_diagonal(diag: dict, path: str) -> str:
    fig, ax = subplots(figsize=(4.2, 3.0))
    ax.plot(diag["norms"], diag["rope_min_diagonal"], marker="o", label="RoPE, q = k = ψ: min α_ii")
    ax.plot(diag["norms"], diag["nope_max_last_diagonal"], marker="s",
            label="NoPE on [bos, x, x]: best α_33")
    ax.axhline(0.5, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    return save_single(fig, ax, path, "‖ψ‖ (norm of queries and keys)", "diagonal attention")


def default_lengths(max_length: int) -> list:
    """Powers of two (and 1.5 times them) up to ``max_length``."""
    lengths, n = [], 2
    while n <= max_length:
        lengths += [n] + ([n * 3 // 2] if n * 3 // 2 <= max_length else [])
        n *= 2
    return lengths


def measure(max_length: int = 65536, dtypes=("float32", "bfloat16"), seeds: int = 5,
            seed: int = 0) -> dict:
    """synthetic.json's content (see the module's docstring)."""
    lengths = default_lengths(max_length)
    curves = collapse_curves(lengths, dtypes, seed=seed)
    return {"collapse": curves,
            "bf16_zero_where_fp32_separates": zero_where_fp32_separates(curves),
            "softmax_tv": softmax_tv([n for n in lengths if n >= 200] or [200], seeds=seeds),
            "rope_decay": rope_decay(seed=seed),
            "diagonal_head": diagonal_head(seed=seed),
            "ratios_only": ratios_only(seed=seed)}


def diagnose(model, out: str, max_length: int = 65536, seeds: int = 5,
             dtypes=("float32", "bfloat16"), seed: int = 0, **ignored) -> list:
    """``openclrs diagnose synthetic``: synthetic.json and four PNGs."""
    os.makedirs(out, exist_ok=True)
    result = measure(max_length, dtypes, seeds, seed)
    path = os.path.join(out, "synthetic.json")
    write_json(path, result)
    return [path,
            plot_collapse(result["collapse"], os.path.join(out, "synthetic_collapse.png")),
            plot_tv(result["softmax_tv"], os.path.join(out, "synthetic_tv.png")),
            plot_rope(result["rope_decay"], os.path.join(out, "synthetic_rope.png")),
            plot_diagonal(result["diagonal_head"], os.path.join(out, "synthetic_diagonal.png"))]
