"""A small decoder-only Transformer for CLRS-Text, and its tokenizer.

nanoGPT-like: token embeddings, pre-LayerNorm blocks of causal
self-attention (:func:`torch.nn.functional.scaled_dot_product_attention`)
and a GELU MLP, a final LayerNorm and an output layer tied to the token
embeddings. Characters are the tokens (:class:`CharTokenizer`).

Positional encodings (``LMConfig.pos_encoding``):

* ``"learned"``: a learned absolute embedding per position, added to the
  token embeddings (``block_size`` of them: longer sequences are refused).
* ``"rope"``: rotary encodings (Su et al. 2021) of queries and keys; pair
  ``i`` of a head's ``d`` channels turns at frequency ``rope_base**(-2i/d)``.
* ``"p-rope"``: RoPE on the highest fraction ``p_rope`` of those
  frequencies only; the lowest-frequency ``1 - p_rope`` of the pairs are left
  unrotated (Barbero et al. 2024, "Round and Round We Go! What makes Rotary
  Positional Encodings useful?"). ``p_rope=1`` is RoPE, ``p_rope=0`` NoPE.
* ``"none"``: no positional information (NoPE; causal masking only).
* ``"random"``: randomized positions (Ruoss et al. 2023, "Randomized
  Positional Encodings Boost Length Generalization of Transformers"): the
  positions of a sequence of ``T`` tokens are a sorted random subset of
  ``range(max_random_position)``, drawn afresh for every sequence, in
  training and in decoding alike, and fed to ``random_base`` (RoPE by
  default, or ``"p-rope"`` or ``"learned"``).

:meth:`GPT.default_positions` gives the positions the model expects;
:func:`generate` decodes greedily in batches (left padding, KV cache), and
:func:`save_model` / :func:`load_model` keep a model and its tokenizer as
``model.safetensors`` plus ``config.json``.
"""

from __future__ import annotations

import json
import math
import os
import string
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

POS_ENCODINGS = ("learned", "rope", "p-rope", "none", "random")
RANDOM_BASES = ("rope", "p-rope", "learned")
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


# --------------------------------------------------------------------------
# Tokenizer: one token per character.
# --------------------------------------------------------------------------

#: The CLRS-Text character set: newline and printable ASCII (algorithm and
#: field names, digits, ``.-`` of numbers, ``[]():,|`` and spaces).
CLRS_TEXT_CHARS = "\n" + "".join(c for c in string.printable if c.isprintable())


class CharTokenizer:
    """Characters to ids and back; ids 0-3 are ``<pad> <bos> <eos> <unk>``.

    >>> tok = CharTokenizer()
    >>> tok.decode(tok.encode("minimum:\\n", bos=True))
    'minimum:\\n'
    """

    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
    pad_id, bos_id, eos_id, unk_id = range(4)

    def __init__(self, chars: str = CLRS_TEXT_CHARS):
        if len(set(chars)) != len(chars):
            raise ValueError("the tokenizer's characters must be distinct")
        self.chars = chars
        self.stoi = {c: i + len(self.SPECIALS) for i, c in enumerate(chars)}
        self.itos = list(self.SPECIALS) + list(chars)
        self.newline_id = self.stoi.get("\n")

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        """Text of ``ids``, special tokens left out (``<unk>`` as U+FFFD)."""
        n = len(self.SPECIALS)
        return "".join(self.itos[i] if i >= n else ("\ufffd" if i == self.unk_id else "")
                       for i in (int(i) for i in ids))

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars, "specials": list(self.SPECIALS)}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        if data.get("type") != "char" or list(data.get("specials", [])) != list(cls.SPECIALS):
            raise ValueError(f"not a CharTokenizer: {data!r:.80}")
        return cls(data["chars"])

    def __eq__(self, other):
        return isinstance(other, CharTokenizer) and other.chars == self.chars


# --------------------------------------------------------------------------
# Configuration.
# --------------------------------------------------------------------------

@dataclass
class LMConfig:
    """The model's shape and positional encoding."""

    vocab_size: int = CharTokenizer().vocab_size
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 2048          # longest training sequence; learned: the position table
    dropout: float = 0.0
    bias: bool = False
    pos_encoding: str = "rope"      # one of POS_ENCODINGS
    rope_base: float = 10000.0
    p_rope: float = 0.75            # p-rope: fraction of frequencies rotated (the highest)
    max_random_position: int = 2048  # random: positions are drawn from range(this)
    random_base: str = "rope"       # random: the encoding the positions feed

    def __post_init__(self):
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"pos_encoding must be one of {POS_ENCODINGS}, "
                             f"got {self.pos_encoding!r}")
        if self.random_base not in RANDOM_BASES:
            raise ValueError(f"random_base must be one of {RANDOM_BASES}, "
                             f"got {self.random_base!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not a multiple of n_head={self.n_head}")
        if self.uses_rotary and (self.n_embd // self.n_head) % 2:
            raise ValueError("rotary encodings need an even head size")
        if not 0.0 <= self.p_rope <= 1.0:
            raise ValueError(f"p_rope must be in [0, 1], got {self.p_rope}")
        if min(self.n_layer, self.n_head, self.n_embd, self.block_size, self.vocab_size,
               self.max_random_position) < 1:
            raise ValueError("sizes must be positive")

    @property
    def encoding(self) -> str:
        """What the positions feed: ``pos_encoding``, or ``random_base`` for random."""
        return self.random_base if self.pos_encoding == "random" else self.pos_encoding

    @property
    def uses_rotary(self) -> bool:
        return self.encoding in ("rope", "p-rope")

    @property
    def max_positions(self) -> int | None:
        """Positions the model can take (``None``: any)."""
        if self.pos_encoding == "random":
            return self.max_random_position
        return self.block_size if self.pos_encoding == "learned" else None

    @classmethod
    def from_dict(cls, data: dict) -> "LMConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown LMConfig fields {sorted(unknown)}")
        return cls(**data)


# --------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------

class Rotary(nn.Module):
    """Rotary encodings of one head's channels at given positions.

    Channel pairs ``(i, i + d/2)`` turn by ``position * base**(-2i/d)``;
    with ``fraction < 1`` only the first ``round(fraction * d/2)`` pairs (the
    highest frequencies) turn, the rest have frequency 0 (p-RoPE).
    """

    def __init__(self, head_size: int, base: float, fraction: float = 1.0):
        super().__init__()
        half = head_size // 2
        inv_freq = base ** (-torch.arange(half, dtype=torch.float64) / half)
        inv_freq[round(fraction * half):] = 0.0
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        # x: (B, H, T, D); positions: (B, T)
        angles = positions[:, None, :, None].float() * self.inv_freq
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


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
            fraction = 1.0 if config.encoding == "rope" else config.p_rope
            self.rotary = Rotary(head_size, config.rope_base, fraction)
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
                valid: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """Logits ``(B, T, vocab)`` for tokens ``idx`` ``(B, T)``.

        ``positions`` ``(B, T)``: default :meth:`default_positions` (after
        the cache's tokens, if any). ``valid`` ``(B, cached + T)``: which
        tokens are real (with left padding; default all); padding is never
        attended to. ``cache``: keys and values of earlier tokens, extended
        with these.
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if positions is None:
            if self.config.pos_encoding == "random" and past:
                raise ValueError("with random positions, pass the positions when decoding")
            positions = self.default_positions(B, past + T)[:, past:]
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
        for block in self.blocks:
            x = block(x, self.rotary, positions, mask, cache)
        if cache is not None:
            cache.length = past + T
        return self.lm_head(self.ln_f(x))


# --------------------------------------------------------------------------
# Saving and loading.
# --------------------------------------------------------------------------

def _atomic_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def save_model(directory: str, model: GPT, tokenizer: CharTokenizer,
               extra: dict | None = None) -> None:
    """``directory/model.safetensors`` (weights) and ``directory/config.json``
    (``{"model": LMConfig, "tokenizer": ..., **extra}``), each written to a
    temporary file and renamed."""
    from safetensors.torch import save_model as save_safetensors

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, MODEL_FILE)
    save_safetensors(model, f"{path}.tmp")
    os.replace(f"{path}.tmp", path)
    _atomic_json(os.path.join(directory, CONFIG_FILE),
                 {"format": "openclrs-text-lm/1", "model": asdict(model.config),
                  "tokenizer": tokenizer.to_dict(), **(extra or {})})


def read_config(directory: str) -> dict:
    with open(os.path.join(directory, CONFIG_FILE)) as f:
        return json.load(f)


def load_model(directory: str, device: str | torch.device = "cpu"
               ) -> tuple[GPT, CharTokenizer, dict]:
    """``(model, tokenizer, config.json)`` saved by :func:`save_model`; the
    model is in eval mode."""
    from safetensors.torch import load_model as load_safetensors

    data = read_config(directory)
    model = GPT(LMConfig.from_dict(data["model"]))
    load_safetensors(model, os.path.join(directory, MODEL_FILE), device=str(device))
    model.to(device).eval()
    return model, CharTokenizer.from_dict(data["tokenizer"]), data


# --------------------------------------------------------------------------
# Greedy decoding.
# --------------------------------------------------------------------------

STOP = "\n\n"  # a CLRS-Text answer ends with a blank line


@torch.no_grad()
def generate(model: GPT, tokenizer: CharTokenizer, prompts: list[str],
             max_new_tokens: int = 256, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Greedy continuations of ``prompts`` (each after ``<bos>``).

    A continuation stops at the first blank line (``"\\n\\n"``, kept), at
    ``<eos>`` (dropped), after ``max_new_tokens`` tokens, or when the model
    runs out of positions (learned / random encodings; a prompt that does
    not fit gets ``""``); ``<pad>`` and ``<bos>`` are never chosen. Prompts
    are decoded in batches of ``batch_size``, left-padded, with a KV cache.
    ``seed`` draws random positions.
    """
    model.eval()
    outputs = [""] * len(prompts)
    generator = torch.Generator().manual_seed(seed)
    encoded = [tokenizer.encode(p, bos=True) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))  # similar lengths together
    limit = model.config.max_positions
    for b in range(0, len(order), batch_size):
        rows = [i for i in order[b:b + batch_size] if limit is None or len(encoded[i]) < limit]
        if rows:
            for i, text in zip(rows, _generate_batch(model, tokenizer, [encoded[i] for i in rows],
                                                     max_new_tokens, generator)):
                outputs[i] = text
    return outputs


def _generate_batch(model: GPT, tokenizer: CharTokenizer, encoded: list[list[int]],
                    max_new_tokens: int, generator: torch.Generator) -> list[str]:
    device = model.wte.weight.device
    B, L = len(encoded), max(len(e) for e in encoded)
    lengths = torch.tensor([len(e) for e in encoded], device=device)
    idx = torch.full((B, L), tokenizer.pad_id, dtype=torch.long, device=device)
    for r, e in enumerate(encoded):
        idx[r, L - len(e):] = torch.tensor(e, device=device)
    start = L - lengths
    limit = model.config.max_positions
    # per row: how many tokens it may add (its positions must exist; random
    # positions are drawn for the whole padded width, so that must fit)
    budget = torch.full((B,), max_new_tokens, device=device)
    if limit is not None:
        budget = budget.minimum(limit - lengths)
    if model.config.pos_encoding == "random":
        budget = budget.clamp(max=limit - L)
    steps = int(budget.max())
    if steps <= 0:
        return [""] * B
    positions = model.default_positions(B, L + steps, start, generator)
    if limit is not None:  # (only rows that are done go past their limit)
        positions = positions.clamp(max=limit - 1)
    valid = torch.arange(L + steps, device=device)[None, :] >= start[:, None]
    cache = KVCache()
    logits = model(idx, positions[:, :L], valid[:, :L], cache)
    new = torch.empty((B, 0), dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    prev_newline = torch.zeros(B, dtype=torch.bool, device=device)
    never = [tokenizer.pad_id, tokenizer.bos_id]  # not outputs
    for t in range(steps):
        scores = logits[:, -1]
        scores[:, never] = float("-inf")
        token = scores.argmax(-1)
        token = torch.where(done, torch.full_like(token, tokenizer.pad_id), token)
        new = torch.cat([new, token[:, None]], dim=1)
        newline = token == tokenizer.newline_id
        done = done | (token == tokenizer.eos_id) | (prev_newline & newline) | (t + 1 >= budget)
        prev_newline = newline
        if bool(done.all()) or t + 1 == steps:
            break
        logits = model(token[:, None], positions[:, L + t:L + t + 1], valid[:, :L + t + 1], cache)
    texts = []
    for row in new.tolist():
        if tokenizer.eos_id in row:
            row = row[:row.index(tokenizer.eos_id)]
        text = tokenizer.decode(row)
        cut = text.find(STOP)
        texts.append(text if cut < 0 else text[:cut + len(STOP)])
    return texts


# --------------------------------------------------------------------------
# Any local Hugging Face causal LM.
# --------------------------------------------------------------------------

def load_hf_model(path: str, device: str | torch.device = "cpu"):
    """``(model, tokenizer)`` of a local Hugging Face causal LM (``transformers``
    is imported here only; nothing is downloaded)."""
    if not os.path.isdir(path):
        raise ValueError(f"{path} is not a folder with a Hugging Face model")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ImportError("evaluating a Hugging Face model needs transformers: "
                          "pip install transformers") from None
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    model.to(device).eval()
    return model, tokenizer


@torch.no_grad()
def hf_generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 256,
                batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` by a Hugging Face causal LM
    (``model.generate``, left padding), cut after the first blank line."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class BlankLine(StoppingCriteria):
        def __init__(self, prompt_length):
            self.prompt_length = prompt_length

        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, self.prompt_length:],
                                           skip_special_tokens=True)
            return torch.tensor([STOP in t for t in texts], device=input_ids.device)

    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    outputs = []
    for b in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[b:b + batch_size], return_tensors="pt", padding=True).to(device)
        prompt_length = batch["input_ids"].shape[1]
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id,
                             stopping_criteria=StoppingCriteriaList([BlankLine(prompt_length)]))
        for text in tokenizer.batch_decode(out[:, prompt_length:], skip_special_tokens=True):
            cut = text.find(STOP)
            outputs.append(text if cut < 0 else text[:cut + len(STOP)])
    return outputs


__all__ = ["CLRS_TEXT_CHARS", "POS_ENCODINGS", "CharTokenizer", "GPT", "KVCache", "LMConfig",
           "Rotary", "generate", "hf_generate", "load_hf_model", "load_model", "read_config",
           "save_model"]
