"""Representational collapse (Barbero et al. 2024, "Transformers need
glasses!", §4, Theorem 4.2, Fig. 5).

For a sequence ``v`` of ``n`` digits and ``v*`` with the last digit repeated
(:mod:`.families`), the last token's final-layer states converge as ``n``
grows: ``‖v_n^(L) - v*_{n+1}^(L)‖ -> 0``; in finite precision they become
identical, and the model can no longer answer the two differently. This
module measures, for every ``n`` and dtype (each dtype a copy of the float32
model, computing in that dtype), the difference ``δ = v_n^(L) - v*_{n+1}^(L)``
(index alignment: each sequence's own last position), taken to float64 after
the forward pass:

* ``linf = max_c |δ_c|`` and ``l1 = Σ_c |δ_c|`` of the whole state;
* per head, reading B of the paper's "averaged over each head": the state cut
  into head-sized slices (``head_dim`` channels; ``hidden / n_heads`` where
  they are the same, as in every model measured here), ``max |δ|`` per
  slice; ``distance`` is their mean (the Fig. 5 curve), ``distance_min`` /
  ``distance_max`` the extremes. ``distance == 0`` exactly iff ``linf == 0``;
* reading A: the last layer's per-head attention outputs (before the output
  projection) at the last token, ``max |δ|`` per head: ``head_outputs_mean``
  / ``_min`` / ``_max``;
* ``collapse_length``: the first ``n`` whose ``linf`` is exactly 0 (``None``:
  none up to the longest ``n``).

The state is ``v^(L)`` (``state="residual"``, the theorem's, before the final
norm) or ``y = norm(v^(L))`` (``"normed"``); ``linf_other`` / ``l1_other``
hold the other one.

``collapse.json``::

    {dtype: {"lengths": [n, ...], "distance": [...], "distance_min": [...],
             "distance_max": [...], "linf": [...], "l1": [...],
             "linf_other": [...], "l1_other": [...],
             "head_outputs_mean": [...], "head_outputs_min": [...],
             "head_outputs_max": [...], "collapse_length": n or null,
             "families": {family: {the same keys}}}}

the top-level arrays being those of the first family. ``collapse_info.json``
records the model, the state, the head readings, every family's prompt and
the tokenisation (token counts of ``a`` per ``n``, the last tokens, and
whether the tokenizer merges digit runs). ``collapse.png``: one panel per
family, ``distance`` against ``n`` per dtype (min/max over heads shaded),
exact zeros drawn at the bottom of the log axis.
"""

from __future__ import annotations

import os

import torch

from ..files import write_json
from .families import Family, Pair, make_family, template_family
from .figures import distance_curve, log_panel, save_figure, subplots, zero_floor
from .models import DiagnosedModel, dtype_name, parse_dtype

KEYS = ("distance", "distance_min", "distance_max", "linf", "l1", "linf_other", "l1_other",
        "head_outputs_mean", "head_outputs_min", "head_outputs_max")


def pair_ids(model: DiagnosedModel, pair: Pair, split_digits: bool = True):
    """Token ids of both sides (the body one token per character when
    ``split_digits``)."""
    def ids(t):
        out = model.tokenize_parts(t.prefix, t.body, split=split_digits)
        return out + (model.tokenize(t.suffix, specials=False) if t.suffix else [])
    return ids(pair.a), ids(pair.b)


def state_difference(model: DiagnosedModel, ids_a, ids_b, state: str = "residual") -> dict:
    """The distances of one pair (see the module's docstring), as floats."""
    other = "normed" if state == "residual" else "residual"
    ra, rb = model.run(ids_a), model.run(ids_b)
    delta = ra.last(state).double() - rb.last(state).double()
    delta_other = ra.last(other).double() - rb.last(other).double()
    # head-sized slices (head_dim channels; Gemma's 3072 = 12 x 256, not 16 x 192),
    # else n_heads equal slices, else the whole state as one
    size = model.shape.head_dim
    if not (size and delta.numel() % size == 0):
        H = model.shape.n_heads
        size = delta.numel() // H if delta.numel() % H == 0 else delta.numel()
    per_slice = delta.abs().reshape(-1, size).amax(-1)
    heads = (ra.head_outputs[:, -1].double() - rb.head_outputs[:, -1].double()).abs().amax(-1)
    return {"distance": per_slice.mean().item(), "distance_min": per_slice.min().item(),
            "distance_max": per_slice.max().item(), "linf": delta.abs().max().item(),
            "l1": delta.abs().sum().item(), "linf_other": delta_other.abs().max().item(),
            "l1_other": delta_other.abs().sum().item(),
            "head_outputs_mean": heads.mean().item(), "head_outputs_min": heads.min().item(),
            "head_outputs_max": heads.max().item()}


def collapse_curve(model: DiagnosedModel, family: Family, lengths, state: str = "residual",
                   split_digits: bool = True) -> dict:
    """``{"lengths", KEYS..., "collapse_length"}`` of one family in this
    model's dtype, plus ``"tokens"`` (the length of ``a`` in tokens per n)."""
    curve = {"lengths": [int(n) for n in lengths], "tokens": [], **{k: [] for k in KEYS}}
    with torch.no_grad():
        for n in curve["lengths"]:
            ids_a, ids_b = pair_ids(model, family.pair(n), split_digits)
            for k, v in state_difference(model, ids_a, ids_b, state).items():
                curve[k].append(v)
            curve["tokens"].append(len(ids_a))
    curve["collapse_length"] = next((n for n, d in zip(curve["lengths"], curve["linf"])
                                     if d == 0.0), None)
    return curve


def families_from_options(families=("count_ones",), templates=(), unit: str = "1",
                          separator: str = ",", every: int = 3, seed: int = 0) -> list:
    out = [make_family(name, separator, every, seed) for name in families]
    out += [template_family(t, unit) for t in templates]
    if not out:
        raise ValueError("no families: give --families or --template")
    return out


def measure(model: DiagnosedModel, families: list, lengths, dtypes=("float32",),
            state: str = "residual", split_digits: bool = True, progress=None) -> dict:
    """collapse.json's content (see the module's docstring)."""
    if state not in ("residual", "normed"):
        raise ValueError(f"state must be 'residual' or 'normed', got {state!r}")
    result = {}
    for dtype in dtypes:
        name = dtype_name(parse_dtype(dtype))
        twin = model.to(dtype)
        curves = {}
        for family in families:
            curves[family.name] = collapse_curve(twin, family, lengths, state, split_digits)
            if progress:
                progress(name, family.name)
        first = curves[families[0].name]
        result[name] = {**first, "families": curves}
        del twin
    return result


def tokenisation_log(model: DiagnosedModel, families: list, lengths,
                     split_digits: bool = True) -> dict:
    """How the pairs were cut into tokens (logged beside every result)."""
    log = {"merges_digit_runs": model.merges_digit_runs(), "split_digits": split_digits}
    for family in families:
        n = max(lengths)
        ids_a, ids_b = pair_ids(model, family.pair(n), split_digits)
        whole = model.tokenize(family.pair(n).b.text)
        log[family.name] = {"n": n, "tokens_a": len(ids_a), "tokens_b": len(ids_b),
                            "last_tokens_b": model.token_strings(ids_b[-6:]),
                            "tokens_b_as_text": len(whole),
                            "last_tokens_b_as_text": model.token_strings(whole[-6:])}
    return log


def plot(result: dict, path: str, title: str = "") -> str:
    """collapse.png: ``distance`` against ``n``, one panel per family."""
    dtypes = list(result)
    families = list(result[dtypes[0]]["families"])
    cols = min(len(families), 2)
    rows = -(-len(families) // cols)
    fig, grid = subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    axes = [list(grid.flat)]
    for ax in axes[0][len(families):]:
        ax.set_visible(False)
    floor = zero_floor(v for d in dtypes for f in families
                       for v in result[d]["families"][f]["distance_min"])
    for ax, family in zip(axes[0], families):
        for dtype in dtypes:
            c = result[dtype]["families"][family]
            line = distance_curve(ax, c["lengths"], c["distance"], floor, c["collapse_length"],
                                  label=dtype, lw=1.3)
            ax.fill_between(c["lengths"], [max(v, floor) for v in c["distance_min"]],
                            [max(v, floor) for v in c["distance_max"]], alpha=0.2,
                            color=line.get_color())
        log_panel(ax, family, "n (digits)")
    axes[0][0].set_ylabel("last-token L∞ distance, mean over heads\n(0 drawn at the bottom)")
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path, dpi=80, title=title)


def diagnose(model: DiagnosedModel, out: str, families=("count_ones",), template=(),
             unit: str = "1", max_length: int = 128, step: int = 1, separator: str = ",",
             every: int = 3, state: str = "residual", merged_digits: bool = False,
             seed: int = 0, dtypes=("float32", "bfloat16", "float16"), **ignored) -> list:
    """``openclrs diagnose collapse``: collapse.json, collapse_info.json,
    collapse.png in ``out``; returns their paths."""
    if model is None:
        raise ValueError("collapse needs a model: give --checkpoint or --hf-model")
    chosen = families_from_options(families, template, unit, separator, every, seed)
    lengths = list(range(1, max_length + 1, step))
    split = not merged_digits
    os.makedirs(out, exist_ok=True)
    result = measure(model, chosen, lengths, dtypes, state, split)
    info = {"model": model.describe(), "state": state,
            "state_meaning": "residual: v^(L), the last block's output before the final norm; "
                             "normed: y = final_norm(v^(L))",
            "distance": "L-inf of the state cut into n_heads equal slices, mean (min, max) "
                        "over slices (reading B); head_outputs_*: L-inf per head of the last "
                        "layer's attention output before its projection (reading A)",
            "families": {f.name: f.describe() for f in chosen},
            "tokenisation": tokenisation_log(model, chosen, lengths, split)}
    paths = [os.path.join(out, "collapse.json"), os.path.join(out, "collapse_info.json")]
    write_json(paths[0], result)
    write_json(paths[1], info)
    paths.append(plot(result, os.path.join(out, "collapse.png"),
                      f"{model.family} {model.name}: representational collapse ({state})"))
    return paths
