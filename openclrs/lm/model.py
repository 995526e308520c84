"""A small decoder-only Transformer for CLRS-Text.

nanoGPT-like: token embeddings, pre-LayerNorm blocks of causal
self-attention (:func:`torch.nn.functional.scaled_dot_product_attention`)
and a GELU MLP, a final LayerNorm and an output layer tied to the token
embeddings. Characters are the tokens (:mod:`openclrs.lm.tokenizer`); the
shape is an :class:`~openclrs.lm.config.LMConfig`.

Positional encodings (``LMConfig.pos_encoding``):

* ``"learned"``: a learned absolute embedding per position, added to the
  token embeddings (``block_size`` of them: longer sequences are refused).
* ``"rope"``: rotary encodings (Su et al. 2021) of queries and keys; pair
  ``i`` of a head's ``d`` channels turns at frequency ``rope_base**(-2i/d)``.
* ``"p-rope"``: p-RoPE (Barbero et al. 2025, "Round and Round We Go! What
  makes Rotary Positional Encodings useful?", §6.1 and App. D): the first
  ``r = int(p_rope * d // 2)`` pairs, those of the *highest* frequencies, turn
  exactly as in RoPE (``rope_base**(-2i/d)``, the exponent over the *full*
  head size ``d``); the other ``d/2 - r`` pairs do not turn. ``p_rope=1`` is
  RoPE, ``p_rope=0`` NoPE. (Gemma's ``rope_proportion`` is the same rule.)
* ``"reversed-p-rope"``: the paper's ablation: the *lowest* ``r``
  frequencies turn, the highest ``d/2 - r`` pairs do not.
* ``"partial-rope"``: the other common convention, *partial rotary* (GPT-NeoX's
  ``rotary_pct``, Phi's ``partial_rotary_factor``): the first
  ``w = int(rotary_fraction * d)`` channels are a RoPE of width ``w``, pairs
  ``(i, i + w/2)`` at ``rope_base**(-2i/w)``, the full range of frequencies
  over the narrower width; the last ``d - w`` channels do not turn. This is
  *not* p-RoPE: every frequency differs.
* ``"none"``: no positional information (NoPE; causal masking only).
* ``"random"``: randomized positions (Ruoss et al. 2023, "Randomized
  Positional Encodings Boost Length Generalization of Transformers"): the
  positions of a sequence of ``T`` tokens are a sorted random subset of
  ``range(max_random_position)``, drawn afresh for every sequence, in
  training and in decoding alike, and fed to ``random_base`` (RoPE by
  default; any rotary encoding or ``"learned"``).

Every rotary encoding uses the half-split layout: chunk ``k`` of a head is
the channel pair ``(k, k + w/2)`` (:meth:`Rotary.channel_pairs`), as Hugging
Face's ``rotate_half``; the paper's maths pairs adjacent channels, a fixed
permutation of the same thing.

:meth:`GPT.default_positions` gives the positions the model expects;
:func:`save_model` / :func:`load_model` keep a model and its tokenizer as
``model.safetensors`` plus ``config.json``; :mod:`openclrs.lm.decode`
decodes greedily.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..extras import require
from ..files import CorruptFileError, atomic_directory, atomic_write, read_json, write_json
from .config import LMConfig
from .tokenizer import CharTokenizer

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def rotated_pairs(fraction: float, head_size: int, rounding: str = "floor") -> int:
    """How many frequency pairs p-RoPE turns: ``int(fraction * head_size // 2)``
    (``"floor"``: the paper's appendix code, in Python's float arithmetic,
    and Gemma's ``rope_proportion``), or ``round(fraction * head_size / 2)``
    (``"round"``: openclrs' rule before it was recorded in the config)."""
    if rounding == "floor":
        return int(fraction * head_size // 2)
    if rounding == "round":
        return round(fraction * (head_size // 2))
    raise ValueError(f"unknown p-RoPE rounding {rounding!r}")


def rotary_layout(encoding: str, head_size: int, base: float, fraction: float = 1.0,
                  rounding: str = "floor") -> tuple[int, torch.Tensor]:
    """``(width, inv_freq)`` of a rotary encoding: the first ``width``
    channels of a head turn, pair ``(i, i + width/2)`` by ``position *
    inv_freq[i]`` (float64; 0 means the pair does not turn); channels from
    ``width`` on do not turn.

    * ``rope``: ``width = d``, ``inv_freq[i] = base**(-2i/d)``;
    * ``p-rope``: as ``rope``, with ``inv_freq[i] = 0`` for ``i >= r``,
      ``r = rotated_pairs(fraction, d)`` (the highest frequencies kept);
    * ``reversed-p-rope``: as ``rope``, with ``inv_freq[i] = 0`` for
      ``i < d/2 - r`` (the lowest frequencies kept);
    * ``partial-rope``: ``width = int(fraction * d)``,
      ``inv_freq[i] = base**(-2i/width)``.
    """
    half = head_size // 2
    if encoding == "partial-rope":
        width = int(fraction * head_size)
        if width % 2:
            raise ValueError(f"partial rotary width int({fraction} * {head_size}) = {width} "
                             "is odd")
    elif encoding in ("rope", "p-rope", "reversed-p-rope"):
        width = 2 * half
    else:
        raise ValueError(f"{encoding!r} is not a rotary encoding")
    inv_freq = base ** (-2.0 * torch.arange(width // 2, dtype=torch.float64) / width)
    if encoding in ("p-rope", "reversed-p-rope"):
        r = rotated_pairs(fraction, head_size, rounding)
        if encoding == "p-rope":
            inv_freq[r:] = 0.0
        else:
            inv_freq[:half - r] = 0.0
    return width, inv_freq


class Rotary(nn.Module):
    """Rotary encodings of one head's channels at given positions
    (:func:`rotary_layout`): with ``x1, x2`` the two halves of the first
    ``width`` channels and ``a = position * inv_freq``,
    ``[x1 cos a - x2 sin a, x2 cos a + x1 sin a, rest unchanged]``.
    ``Rotary(d, base, p)`` is p-RoPE (``p = 1``: RoPE)."""

    def __init__(self, head_size: int, base: float, fraction: float = 1.0,
                 encoding: str = "p-rope", rounding: str = "floor"):
        super().__init__()
        self.head_size = head_size
        self.width, inv_freq = rotary_layout(encoding, head_size, base, fraction, rounding)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def channel_pairs(self) -> torch.Tensor:
        """``(head_size // 2, 2)`` channel indices: chunk ``k`` is the pair
        of channels turned together (those that do not turn are paired the
        same way within the channels after ``width``)."""
        w, d = self.width, self.head_size
        first = torch.cat([torch.arange(w // 2), w + torch.arange((d - w) // 2)])
        second = torch.cat([w // 2 + torch.arange(w // 2), w + (d - w) // 2
                            + torch.arange((d - w) // 2)])
        return torch.stack([first, second], dim=1)

    def frequencies(self) -> torch.Tensor:
        """``(head_size // 2,)`` radians per position of each chunk of
        :meth:`channel_pairs` (0: the chunk does not turn)."""
        rest = torch.zeros((self.head_size - self.width) // 2)
        return torch.cat([self.inv_freq.float().cpu(), rest])

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        # x: (B, H, T, D); positions: (B, T)
        angles = positions[:, None, :, None].float() * self.inv_freq
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        turned, rest = x[..., :self.width], x[..., self.width:]
        x1, x2 = turned.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


class KVCache:
    """Keys and values of the tokens seen so far, per layer (for decoding)."""

    def __init__(self):
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        while len(self.layers) <= layer:
            self.layers.append(None)
        if self.layers[layer] is not None:
            k = torch.cat([self.layers[layer][0], k], dim=2)
            v = torch.cat([self.layers[layer][1], v], dim=2)
        self.layers[layer] = (k, v)
        return k, v


class CausalSelfAttention(nn.Module):
    def __init__(self, config: LMConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(self, x, rotary, positions, mask, cache):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rotary is not None:
            q, k = rotary(q, positions), rotary(k, positions)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None,
            dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: LMConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, rotary, positions, mask, cache):
        x = x + self.attn(self.ln_1(x), rotary, positions, mask, cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The decoder-only Transformer. ``model(idx)`` gives logits ``(B, T, V)``."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = (nn.Embedding(config.max_positions or config.block_size, config.n_embd)
                    if config.encoding == "learned" else None)
        head_size = config.n_embd // config.n_head
        if config.uses_rotary:
            fraction = (config.rotary_fraction if config.encoding == "partial-rope"
                        else config.p_rope)
            self.rotary = Rotary(head_size, config.rope_base, fraction, config.encoding,
                                 config.p_rope_rounding)
        else:
            self.rotary = None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying

        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def default_positions(self, batch: int, length: int, start: torch.Tensor | None = None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """Positions ``(batch, length)`` for sequences whose first real token
        is at column ``start`` (a ``(batch,)`` tensor; default 0, columns
        before it are padding, given position 0).

        ``0, 1, 2, ...`` from the first real token; with ``"random"``, the
        ``k``-th real token gets the ``k``-th element of a sorted random
        subset of ``range(max_random_position)``, drawn per row (from
        ``generator`` if given).
        """
        device = self.wte.weight.device
        k = torch.arange(length, device=device).expand(batch, length)
        if start is not None:
            k = (k - start.to(device)[:, None]).clamp(min=0)
        if self.config.pos_encoding != "random":
            return k
        m = self.config.max_random_position
        if length > m:
            raise ValueError(f"{length} tokens do not fit max_random_position={m}")
        keys = torch.rand(batch, m, generator=generator, device=device if generator is None
                          else generator.device)
        subset = keys.topk(length, dim=1).indices.sort(dim=1).values.to(device)
        return subset.gather(1, k)

    def forward(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
                valid: torch.Tensor | None = None, cache: KVCache | None = None,
                after_block=None) -> torch.Tensor:
        """Logits ``(B, T, vocab)`` for tokens ``idx`` ``(B, T)``.

        ``positions`` ``(B, T)``: default :meth:`default_positions` (after
        the cache's tokens, if any; from each row's first real token when
        ``valid`` is given). ``valid`` ``(B, cached + T)``: which
        tokens are real (with left padding; default all); padding is never
        attended to. ``cache``: keys and values of earlier tokens, extended
        with these.

        ``after_block(t, x) -> x``, if given, rewrites the residual stream
        ``x`` ``(B, T, n_embd)`` after block ``t`` (0-based): the one seam
        for models built around this one (TransNAR's cross-attention reads),
        which then need no copy of the positions and masks. ``None`` (the
        default) is the plain model, bit for bit.
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if positions is None:
            if self.config.pos_encoding == "random" and past:
                raise ValueError("with random positions, pass the positions when decoding")
            # with left padding a row's positions count from its first real token
            start = None if valid is None else valid.int().argmax(dim=1)
            positions = self.default_positions(B, past + T, start)[:, past:]
        limit = self.config.max_positions
        if limit is not None and positions.numel() and int(positions.max()) >= limit:
            raise ValueError(f"position {int(positions.max())} is beyond the {limit} "
                             f"positions of this {self.config.pos_encoding!r} model")

        mask = None  # plain causal attention
        if valid is not None or past:
            q_idx = torch.arange(past, past + T, device=idx.device)[:, None]
            k_idx = torch.arange(past + T, device=idx.device)[None, :]
            mask = k_idx <= q_idx                               # (T, past + T)
            if valid is not None:  # real keys only; a token always sees itself
                mask = mask & (valid[:, None, :] | (k_idx == q_idx))  # (B, T, past + T)
                mask = mask[:, None]                             # (B, 1, T, past + T)

        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(positions)
        x = self.drop(x)
        for t, block in enumerate(self.blocks):
            x = block(x, self.rotary, positions, mask, cache)
            if after_block is not None:
                x = after_block(t, x)
        if cache is not None:
            cache.length = past + T
        return self.lm_head(self.ln_f(x))


# --------------------------------------------------------------------------
# Saving and loading.
# --------------------------------------------------------------------------

def save_model(directory: str, model: GPT, tokenizer: CharTokenizer,
               extra: dict | None = None) -> None:
    """``directory/model.safetensors`` (weights) and ``directory/config.json``
    (``{"model": LMConfig, "tokenizer": ..., **extra}``). A new folder is
    built under a temporary name and appears whole; into an existing one
    each file is written atomically. (Training checkpoints are the verified
    folders of :mod:`openclrs.training.runs`.)"""
    safetensors_torch = require("safetensors.torch", "save a model")
    config = {"format": "openclrs-text-lm/1", "model": asdict(model.config),
              "tokenizer": tokenizer.to_dict(), **(extra or {})}

    def write(folder):
        atomic_write(os.path.join(folder, MODEL_FILE),
                     lambda tmp: safetensors_torch.save_model(model, tmp))
        write_json(os.path.join(folder, CONFIG_FILE), config)

    if os.path.isdir(directory):
        write(directory)
    else:
        with atomic_directory(directory) as tmp:
            write(tmp)


def read_config(directory: str) -> dict:
    path = os.path.join(directory, CONFIG_FILE)
    data = read_json(path, "model config",
                     fix="the folder is damaged: train again or use another checkpoint")
    if not (isinstance(data, dict) and isinstance(data.get("model"), dict)
            and isinstance(data.get("tokenizer"), dict)):
        raise CorruptFileError(f"{path} is not a CLRS-Text LM's config (no model and "
                               "tokenizer); give a folder written by save_model")
    return data


def safetensors_error() -> type:
    """safetensors' exception class (its module is imported when needed)."""
    return require("safetensors", "load a model").SafetensorError


def load_model(directory: str, device: str | torch.device = "cpu"
               ) -> tuple[GPT, CharTokenizer, dict]:
    """``(model, tokenizer, config.json)`` saved by :func:`save_model`; the
    model is in eval mode. A damaged file raises ``CorruptFileError`` naming it."""
    safetensors_torch = require("safetensors.torch", "load a model")
    data = read_config(directory)
    model = GPT(LMConfig.from_dict(data["model"]))
    path = os.path.join(directory, MODEL_FILE)
    try:
        safetensors_torch.load_model(model, path, device=str(device))
    except FileNotFoundError:
        raise FileNotFoundError(f"no model weights at {path}") from None
    except (safetensors_error(), RuntimeError, KeyError, ValueError) as e:
        # a damaged file (safetensors' own error), or tensors of another shape
        raise CorruptFileError(f"{path} is not readable weights of the model {CONFIG_FILE} "
                               f"describes ({type(e).__name__}: {str(e)[:200]}); train again "
                               "or use another checkpoint") from None
    model.to(device).eval()
    return model, CharTokenizer.from_dict(data["tokenizer"]), data
