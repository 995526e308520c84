"""Over-squashing (Barbero et al. 2024, "Transformers need glasses!", §5,
Theorem 5.1 / B.5, Prop. 5.2 / B.8).

**Sensitivity.** For token embeddings ``x_1 .. x_n`` (rows of ``(T, C)``)
and the last token's final-layer state ``y_n`` (``v^(L)_n`` by default, or
the normed ``y_n``), the Jacobian blocks ``J_i = ∂y_n / ∂x_i`` (``C × C``)
and their Frobenius norms ``‖J_i‖_F``. Computed exactly with reverse mode:
the sequence is repeated ``B`` times along the batch axis, row ``b`` of the
batch back-propagates output coordinate ``c_0 + b`` of ``y_n``, so one
backward pass gives ``B`` rows of every ``J_i`` (``C / B`` passes in all;
plain autograd, so models with hooks and data-dependent code work).

**Path proxy.** Theorem 5.1 bounds ``‖∂y_n/∂v_i^(0)‖`` by ``C`` times a sum
over causal paths ``i -> k_1 -> ... -> n`` of products of attention weights
plus the residual ``δ``: an entry of ``Π_ℓ (Λ^(ℓ)/β + I)``. Implemented with
the model's own attention matrices, averaged over heads
(``Λ̄^(ℓ) = mean_h A_h^(ℓ)``), and each factor renormalised so its rows sum
to 1 (Prop. 5.2's ``½(Λ + I)`` when ``β = 1``)::

    M_ℓ = (Λ̄^(ℓ) / β + I) / (1 / β + 1),     P = M_{L-1} ⋯ M_1 M_0,
    path_proxy_i = P[n, i]        (Σ_i path_proxy_i = 1)

Renormalising only scales the bound by ``(1/β + 1)^L``; the proxy is a
distribution over input positions. The theorem treats attention as fixed
and LayerNorm as the constant β: it is a bound, and the comparison of the
two is one of rankings (Spearman's ρ over positions, ``rank_correlation``).

``oversquash.json``::

    {dtype: {"lengths": [n, ...],
             "sequences": {str(n): {"tokens": [token strings],
                                    "first_digit": i, "last_digit": j,
                                    "jacobian_norm": [‖J_i‖_F for every position i],
                                    "path_proxy": [P[n, i] for every position i],
                                    "first_digit_sensitivity": ‖J_first‖_F,
                                    "last_digit_sensitivity": ‖J_last‖_F,
                                    "rank_correlation": Spearman's ρ}}}}

``oversquash.png``: per length, the Jacobian norms (normalised to sum 1, one
line per dtype) and the path proxy against position, log scale.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..files import write_json
from .families import random_digits
from .figures import save_figure, subplots
from .models import DiagnosedModel, dtype_name, parse_dtype


def jacobian_rows(model: DiagnosedModel, embeds: torch.Tensor, rows, state: str = "residual"
                  ) -> torch.Tensor:
    """``∂y_n[c] / ∂x`` for the output coordinates ``rows``: ``(len(rows), T, C)``,
    in one backward pass (the batch trick of the module's docstring)."""
    rows = torch.as_tensor(list(rows), dtype=torch.long)
    x = embeds.detach()[None].expand(len(rows), *embeds.shape).clone().requires_grad_(True)
    with torch.enable_grad():
        y = model.forward_from_embeddings(x, state)[:, -1, :]           # (B, C)
        picked = y[torch.arange(len(rows)), rows.to(y.device)].sum()
        (grad,) = torch.autograd.grad(picked, x)
    return grad


def jacobian(model: DiagnosedModel, embeds: torch.Tensor, state: str = "residual",
             chunk: int = 64) -> torch.Tensor:
    """The full ``∂y_n / ∂x``: ``(C_out, T, C_in)``."""
    C = model.forward_from_embeddings(embeds.detach(), state).shape[-1]
    return torch.cat([jacobian_rows(model, embeds, range(c, min(c + chunk, C)), state)
                      for c in range(0, C, chunk)])


def sensitivity(model: DiagnosedModel, embeds: torch.Tensor, state: str = "residual",
                chunk: int = 64) -> torch.Tensor:
    """``‖∂y_n / ∂x_i‖_F`` for every position ``i``: ``(T,)`` float64."""
    C = model.forward_from_embeddings(embeds.detach(), state).shape[-1]
    total = torch.zeros(embeds.shape[0], dtype=torch.float64)
    for c in range(0, C, chunk):
        rows = jacobian_rows(model, embeds, range(c, min(c + chunk, C)), state)
        total += rows.double().pow(2).sum(dim=(0, 2)).cpu()
    return total.sqrt()


def path_proxy(attentions, beta: float = 1.0) -> torch.Tensor:
    """``P = Π_ℓ M_ℓ`` with ``M_ℓ = (mean_h A_h^(ℓ) / β + I) / (1/β + 1)``
    (the module's docstring); ``attentions``: per layer ``(H, T, T)`` or
    ``(T, T)``, first layer first. Returns ``P`` ``(T, T)`` float64; row
    ``n`` is the last token's proxy over input positions."""
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    P = None
    for A in attentions:
        A = torch.as_tensor(A).double()
        A = A.mean(0) if A.dim() == 3 else A
        T = A.shape[-1]
        M = (A / beta + torch.eye(T, dtype=torch.float64)) / (1.0 / beta + 1.0)
        P = M if P is None else M @ P
    return P


def rank_correlation(a, b) -> float:
    """Spearman's ρ (average ranks for ties)."""
    def ranks(x):
        x = np.asarray(x, dtype=np.float64)
        order = x.argsort(kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):  # ties share their mean rank
            tied = x == value
            r[tied] = r[tied].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def digits(n: int, sequence: str = "ones", seed: int = 0) -> str:
    if sequence == "ones":
        return "1" * n
    if sequence == "random":
        return random_digits(n, seed, n)
    raise ValueError(f"sequence must be 'ones' or 'random', got {sequence!r}")


def measure_sequence(model: DiagnosedModel, prompt: str, body: str, state: str = "residual",
                     beta: float = 1.0, suffix: str = "") -> dict:
    """One sequence (``prompt``, then ``body`` one token per character, then
    ``suffix``, e.g. a question after the digits so that the last digit is
    not the differentiated position itself) in this model's dtype: the
    ``sequences`` entry of oversquash.json."""
    ids = model.tokenize_parts(prompt, body)
    # the body's first token follows the prompt's (a character may be several tokens)
    first, last = len(model.tokenize(prompt)), len(ids) - 1
    ids += model.tokenize(suffix, specials=False) if suffix else []
    norms = sensitivity(model, model.input_embeddings(ids), state)
    with torch.no_grad():
        proxy = path_proxy(model.attentions(ids), beta)[-1]
    return {"tokens": model.token_strings(ids), "first_digit": first, "last_digit": last,
            "jacobian_norm": norms.tolist(), "path_proxy": proxy.tolist(),
            "first_digit_sensitivity": norms[first].item(),
            "last_digit_sensitivity": norms[last].item(),
            "rank_correlation": rank_correlation(norms.numpy(), proxy.numpy())}


def measure(model: DiagnosedModel, lengths, prompt: str, sequence: str = "ones",
            dtypes=("float32",), state: str = "residual", beta: float = 1.0,
            seed: int = 0, suffix: str = "") -> dict:
    """oversquash.json's content (see the module's docstring)."""
    result = {}
    for dtype in dtypes:
        twin = model.to(dtype)
        result[dtype_name(parse_dtype(dtype))] = {
            "lengths": [int(n) for n in lengths],
            "sequences": {str(n): measure_sequence(twin, prompt, digits(n, sequence, seed),
                                                   state, beta, suffix) for n in lengths}}
    return result


def plot(result: dict, path: str, title: str = "") -> str:
    dtypes = list(result)
    lengths = result[dtypes[0]]["lengths"]
    fig, axes = subplots(1, len(lengths), figsize=(4.2 * len(lengths), 3.4), squeeze=False)
    for ax, n in zip(axes[0], lengths):
        for dtype in dtypes:
            s = result[dtype]["sequences"][str(n)]
            norms = np.asarray(s["jacobian_norm"])
            ax.plot(norms / max(norms.sum(), 1e-300), label=f"‖∂y_n/∂x_i‖ {dtype}", lw=1.2)
        s = result[dtypes[0]]["sequences"][str(n)]
        ax.plot(s["path_proxy"], "k--", lw=1, label="path proxy")
        ax.axvspan(s["first_digit"] - 0.5, s["last_digit"] + 0.5, color="0.9", zorder=0)
        ax.set_yscale("log")
        ax.set_title(f"n = {n} digits (shaded)", fontsize=9)
        ax.set_xlabel("input position i")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of sensitivity (sums to 1)")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path, dpi=110, title=title)


def diagnose(model: DiagnosedModel, out: str, lengths=(16, 32, 64), sequence: str = "ones",
             prompt: str = "Copy the following number: ", state: str = "residual",
             beta: float = 1.0, seed: int = 0, dtypes=("float32",), suffix: str = "",
             **ignored) -> list:
    """``openclrs diagnose oversquash``: oversquash.json and oversquash.png."""
    if model is None:
        raise ValueError("oversquash needs a model: give --checkpoint or --hf-model")
    os.makedirs(out, exist_ok=True)
    result = measure(model, lengths, prompt, sequence, dtypes, state, beta, seed, suffix)
    json_path = os.path.join(out, "oversquash.json")
    write_json(json_path, result)
    return [json_path, plot(result, os.path.join(out, "oversquash.png"),
                            f"{model.family} {model.name}: over-squashing ({state})")]
