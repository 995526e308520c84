"""One view of a causal language model for the diagnostics: an openclrs LM
(:mod:`openclrs.lm`) or any local Hugging Face causal LM (GPT-2, Llama,
Gemma 1/2/3, Qwen 2/3 and others laid out the same way).

:class:`DiagnosedModel` tokenises, runs one forward pass and records what the
diagnostics read, through forward hooks (the models' code is not changed):

* the residual stream: the input of the first block (token embeddings plus
  any absolute position embedding), then the output of every block;
* the final state ``y = norm(v^(L))`` (the output of the final norm);
* the last layer's per-head attention outputs (the input of its output
  projection, cut into heads);
* optionally the attention matrices ``(heads, T, T)`` of every layer and the
  queries, keys and values of every layer before any rotation.

``input_embeddings`` and ``forward_from_embeddings`` let gradients flow from
the final states back to the token embeddings (the ``x_i`` of the
over-squashing Jacobians). :meth:`DiagnosedModel.to` gives a copy whose
weights and activations are in ``float32``, ``bfloat16``, ``float16`` or
``float64``; all four run on CPU (checked with torch 2.13: matmul, softmax,
LayerNorm/RMSNorm and scaled-dot-product attention compute in bfloat16 and
float16 there; a tiny model's forward took 1.5x (bfloat16) and 2.3x
(float16) its float32 time). Two things stay in float32
whatever the dtype, as inference engines keep them: the RoPE inverse
frequencies (buffers named ``inv_freq``; the rotation angles are computed in
float32 and the cos/sin cast to the dtype), and whatever a model's own code
upcasts (Gemma's and Qwen's RMSNorm normalise in float32 and cast back).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..lm.decode import greedy_decode
from ..lm.huggingface import hf_greedy_decode, load_hf_model
from ..lm.model import CONFIG_FILE, MODEL_FILE, GPT
from ..lm.train import load_lm
from ..training.runs import MANIFEST, POINTERS

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "float64": torch.float64}


def parse_dtype(dtype) -> torch.dtype:
    """``torch.dtype`` of a name in :data:`DTYPES` (or a dtype)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    return DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class Shape:
    """The model's sizes. ``n_kv_heads < n_heads`` with grouped-query attention."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int


@dataclass
class RopeLayer:
    """How one layer rotates its queries and keys (``None`` in
    :attr:`DiagnosedModel.rope` for layers without RoPE).

    ``inv_freq[k]`` is the frequency of 2-D chunk ``k`` (0 for unrotated
    chunks); ``layout="half"``: chunk ``k`` pairs channels ``k`` and
    ``k + rotary_dim/2`` (the layout of openclrs and of every Hugging Face
    family here); ``rotary_dim``: channels rotated (``head_dim`` unless
    partial rotary, whose rotated channels are the first ``rotary_dim``)."""

    inv_freq: list
    base: float | None
    rotary_dim: int
    layout: str = "half"


@dataclass
class Forward:
    """What one forward pass of one sequence recorded (batch axis removed).

    ``residual[0]``: the input of the first block ``(T, C)``;
    ``residual[l + 1]``: the output of block ``l``; ``final``: the final
    norm's output ``(T, C)``; ``head_outputs``: the last layer's attention
    output per head before its output projection ``(H, T, head_dim)``;
    ``attentions[l]``: ``(H, T, T)`` (when asked); ``queries`` / ``keys`` /
    ``values`` ``[l]``: ``(heads, T, head_dim)`` before rotation (keys and
    values have ``n_kv_heads`` heads); ``logits``: ``(T, vocab)``."""

    residual: list = field(default_factory=list)
    final: torch.Tensor | None = None
    head_outputs: torch.Tensor | None = None
    attentions: list | None = None
    queries: list | None = None
    keys: list | None = None
    values: list | None = None
    logits: torch.Tensor | None = None

    def last(self, state: str = "residual") -> torch.Tensor:
        """The last token's final-layer representation: ``"residual"`` is
        ``v^(L)`` (before the final norm, the state of the glasses paper's
        Theorem 4.2), ``"normed"`` is ``y = norm(v^(L))``."""
        if state == "residual":
            return self.residual[-1][-1]
        if state == "normed":
            return self.final[-1]
        raise ValueError(f"state must be 'residual' or 'normed', got {state!r}")


def _first(output):
    """The tensor a module returned (some return tuples)."""
    return output[0] if isinstance(output, (tuple, list)) else output


class DiagnosedModel:
    """A causal LM seen the same way whatever its source (see the module's
    docstring). Build with :meth:`from_path`, :meth:`from_openclrs` or
    :meth:`from_hf`. ``kind``: ``"openclrs"`` or ``"hf"``; ``family``:
    ``"openclrs"`` or the Hugging Face ``model_type``; ``module``: the
    ``nn.Module``; ``tokenizer``: its tokenizer."""

    def __init__(self, module: nn.Module, tokenizer, kind: str, name: str = ""):
        self.module = module.eval()
        self.tokenizer = tokenizer
        self.kind = kind
        self.name = name
        if kind == "openclrs":
            self.family = "openclrs"
            self.blocks = list(module.blocks)
            self.attention_modules = [b.attn for b in self.blocks]
            self.out_projections = [b.attn.c_proj for b in self.blocks]
            self.final_norm = module.ln_f
            c = module.config
            self.shape = Shape(c.n_layer, c.n_head, c.n_head, c.n_embd // c.n_head, c.n_embd,
                               c.vocab_size)
        elif kind == "hf":
            config = module.config
            self.family = getattr(config, "model_type", type(module).__name__)
            base = module.base_model
            try:
                self.blocks = list(base.h if hasattr(base, "h") else base.layers)
                self.attention_modules = [getattr(b, "self_attn", None) or b.attn
                                          for b in self.blocks]
                self.out_projections = [getattr(a, "o_proj", None) or a.c_proj
                                        for a in self.attention_modules]
                self.final_norm = base.ln_f if hasattr(base, "ln_f") else base.norm
            except AttributeError as e:
                raise ValueError(
                    f"{self.family}: a model laid out unlike the GPT-2 and Llama families "
                    f"(decoder layers as .h or .layers, attention as .attn or .self_attn with "
                    f".c_proj or .o_proj, a final .ln_f or .norm) is not supported ({e})"
                ) from None
            heads = config.num_attention_heads
            hidden = config.hidden_size
            self.shape = Shape(config.num_hidden_layers, heads,
                               getattr(config, "num_key_value_heads", None) or heads,
                               getattr(config, "head_dim", None) or hidden // heads, hidden,
                               config.vocab_size)
        else:
            raise ValueError(f"kind must be 'openclrs' or 'hf', got {kind!r}")

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_path(cls, path: str, kind: str = "auto") -> "DiagnosedModel":
        """An openclrs LM (a ``text train`` run folder, one of its checkpoint
        folders, or a :func:`~openclrs.lm.model.save_model` folder) or a
        local Hugging Face causal LM folder; ``kind="auto"`` tells them apart
        by the folder's ``config.json``."""
        if kind == "auto":
            kind = detect_kind(path)
        if kind == "openclrs":
            return cls.from_openclrs(path)
        if kind == "hf":
            return cls.from_hf(path)
        raise ValueError(f"kind must be 'auto', 'openclrs' or 'hf', got {kind!r}")

    @classmethod
    def from_openclrs(cls, path: str) -> "DiagnosedModel":
        model, tokenizer, _ = load_lm(path)
        return cls(model.float(), tokenizer, "openclrs", name=os.path.basename(
            os.path.normpath(path)))

    @classmethod
    def from_hf(cls, path: str) -> "DiagnosedModel":
        """A local Hugging Face causal LM, in float32 with eager attention (so
        that attention weights exist); safetensors weights only, no code from
        the folder runs, nothing is downloaded."""
        model, tokenizer = load_hf_model(path, purpose="diagnose a Hugging Face model",
                                         attn_implementation="eager", dtype=torch.float32)
        return cls(model, tokenizer, "hf", name=os.path.basename(os.path.normpath(path)))

    @classmethod
    def from_module(cls, module: nn.Module, tokenizer) -> "DiagnosedModel":
        """An in-memory model: a :class:`~openclrs.lm.model.GPT` with its
        ``CharTokenizer``, or a Hugging Face causal LM with its tokenizer (load
        it with ``attn_implementation="eager"`` for :meth:`attentions`)."""
        return cls(module, tokenizer, "openclrs" if isinstance(module, GPT) else "hf")

    # ------------------------------------------------------------------ dtype

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def to(self, dtype) -> "DiagnosedModel":
        """A copy whose weights (and so activations) are in ``dtype`` (a name
        of :data:`DTYPES` or a ``torch.dtype``); this model is unchanged.
        Convert from the float32 model, never from a rounded one. RoPE
        frequencies stay float32 (see the module's docstring)."""
        dtype = parse_dtype(dtype)
        module = copy.deepcopy(self.module).to(dtype)
        # inv_freq, or per attention kind (Gemma 3: sliding_attention_inv_freq, ...)
        kept = {name: buf for name, buf in self.module.named_buffers()
                if name.split(".")[-1].endswith("inv_freq")}
        for name, buf in module.named_buffers():
            if name in kept:
                owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
                setattr(owner, name.rsplit(".", 1)[-1], kept[name].clone())
        return DiagnosedModel(module, self.tokenizer, self.kind, self.name)

    # ------------------------------------------------------------------ tokens

    def tokenize(self, text: str, specials: bool = True) -> list[int]:
        """Token ids of ``text``: with ``specials``, as the model sees a
        prompt (openclrs: after ``<bos>``; Hugging Face: the tokenizer's own
        special tokens, e.g. Llama's and Gemma's BOS)."""
        if self.kind == "openclrs":
            return self.tokenizer.encode(text, bos=specials)
        return list(self.tokenizer(text, add_special_tokens=specials)["input_ids"])

    def tokenize_parts(self, prefix: str, body: str, split: bool = True) -> list[int]:
        """``prefix`` tokenised as text (with the specials), then ``body``:
        one character at a time when ``split`` (so that a run of digits is
        one token per digit even if the tokenizer would merge ``'111'``),
        else as text."""
        ids = self.tokenize(prefix)
        if not split:
            return ids + self.tokenize(body, specials=False)
        for ch in body:
            ids += self._character(ch)
        return ids

    def _character(self, ch: str) -> list[int]:
        """The token of ``ch`` as it appears inside a text: the vocabulary's
        own piece when there is one (a SentencePiece tokenizer would turn a
        lone ``"1"`` into ``"▁1"``), else ``ch`` tokenised alone (always so
        for whitespace, which byte-level tokenizers spell ``"Ġ"``)."""
        if self.kind == "hf" and not ch.isspace():
            tid = self.tokenizer.convert_tokens_to_ids(ch)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id \
                    and self.tokenizer.decode([tid]) == ch:
                return [tid]
        return self.tokenize(ch, specials=False)

    def token_strings(self, ids) -> list[str]:
        """Each id's token as a string (to see how digits were cut)."""
        ids = [int(i) for i in ids]
        if self.kind == "openclrs":
            return [self.tokenizer.itos[i] for i in ids]
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    def merges_digit_runs(self, digit: str = "1", n: int = 8) -> bool:
        """Whether the tokenizer cuts a run of ``n`` ``digit`` s into fewer than
        ``n`` tokens (the glasses paper's tokenisation caveat)."""
        return len(self.tokenize(digit * n, specials=False)) < n

    # ------------------------------------------------------------------ forward

    def _ids(self, ids) -> torch.Tensor:
        device = next(self.module.parameters()).device
        ids = torch.as_tensor(ids, dtype=torch.long, device=device)
        return ids[None] if ids.dim() == 1 else ids

    def _positions(self, length: int) -> torch.Tensor | None:
        """openclrs: fixed positions (random encodings draw them from seed 0)."""
        if self.kind != "openclrs":
            return None
        return self.module.default_positions(1, length,
                                             generator=torch.Generator().manual_seed(0))

    def _call(self, ids: torch.Tensor | None, embeds: torch.Tensor | None, attentions: bool):
        """One forward of the module on ``ids`` (B, T) or on token embeddings
        ``embeds`` (B, T, C): the logits and, for Hugging Face, its attentions."""
        if self.kind == "openclrs":
            if embeds is not None:  # the token embedding's output replaced by ``embeds``
                ids = torch.zeros(embeds.shape[:2], dtype=torch.long, device=embeds.device)
                hook = self.module.wte.register_forward_hook(lambda m, a, o: embeds)
            else:
                hook = None
            try:
                positions = self._positions(ids.shape[1]).expand(ids.shape[0], -1)
                return self.module(ids, positions=positions), None
            finally:
                if hook is not None:
                    hook.remove()
        kwargs = {"inputs_embeds": embeds} if embeds is not None else {"input_ids": ids}
        out = self.module(**kwargs, output_attentions=attentions, use_cache=False)
        return out.logits, out.attentions

    def run(self, ids, attentions: bool = False, qkv: bool = False,
            grad: bool = False) -> Forward:
        """One forward pass of one sequence ``ids`` with everything recorded
        (see :class:`Forward`); ``attentions`` / ``qkv``: also those."""
        ids = self._ids(ids)
        if ids.shape[0] != 1:
            raise ValueError("run() takes one sequence")
        record = Forward()
        hooks = []
        H, D = self.shape.n_heads, self.shape.head_dim

        def keep_input(m, args):
            record.residual.append(args[0][0])

        def keep_output(m, args, output):
            record.residual.append(_first(output)[0])

        hooks.append(self.blocks[0].register_forward_pre_hook(keep_input))
        for block in self.blocks:
            hooks.append(block.register_forward_hook(keep_output))
        hooks.append(self.final_norm.register_forward_hook(
            lambda m, a, o: setattr(record, "final", _first(o)[0])))
        hooks.append(self.out_projections[-1].register_forward_pre_hook(
            lambda m, args: setattr(record, "head_outputs",
                                    args[0][0].reshape(-1, H, D).transpose(0, 1))))
        if qkv or (attentions and self.kind == "openclrs"):
            record.queries, record.keys, record.values = [], [], []
            hooks += self._qkv_hooks(record)
        try:
            with torch.set_grad_enabled(grad):
                logits, hf_attentions = self._call(ids, None, attentions and self.kind == "hf")
        finally:
            for h in hooks:
                h.remove()
        record.logits = logits[0]
        if attentions:
            if self.kind == "hf":
                if hf_attentions is None or hf_attentions[0] is None:
                    raise ValueError(f"this {self.family} model gives no attention weights; "
                                     "load it with attn_implementation='eager'")
                record.attentions = [a[0] for a in hf_attentions]
            else:
                record.attentions = self._openclrs_attentions(record, ids.shape[1])
        if not qkv:
            record.queries = record.keys = record.values = None
        return record

    def _qkv_hooks(self, record: Forward) -> list:
        """Hooks that keep every layer's queries, keys, values (heads, T, D)
        before rotation (after Qwen 3's / Gemma 3's q/k norms)."""
        D = self.shape.head_dim

        def heads(t):  # (1, T, n*D) or (1, T, n, D) -> (n, T, D)
            t = t[0]
            return t.reshape(t.shape[0], -1, D).transpose(0, 1)

        hooks = []
        for attn in self.attention_modules:
            if self.kind == "openclrs" or hasattr(attn, "c_attn"):
                def split(m, a, o, C=self.shape.hidden_size):
                    q, k, v = _first(o).split(C, dim=-1)
                    record.queries.append(heads(q))
                    record.keys.append(heads(k))
                    record.values.append(heads(v))
                hooks.append(attn.c_attn.register_forward_hook(split))
            else:  # the projections' outputs, then the per-head q/k norm if any
                for name, store in (("q", record.queries), ("k", record.keys),
                                    ("v", record.values)):
                    norm = getattr(attn, f"{name}_norm", None) or (lambda x: x)

                    def keep(m, a, o, store=store, norm=norm):
                        t = _first(o)[0]
                        store.append(norm(t.reshape(t.shape[0], -1, D)).transpose(0, 1))
                    hooks.append(getattr(attn, f"{name}_proj").register_forward_hook(keep))
        return hooks

    def _openclrs_attentions(self, record: Forward, T: int) -> list:
        """softmax(q k^T / sqrt(D)) with the causal mask, from the recorded
        queries and keys rotated as the model rotates them."""
        rotary = self.module.rotary
        positions = self._positions(T)
        mask = torch.ones(T, T, dtype=torch.bool, device=positions.device).tril()
        out = []
        for q, k in zip(record.queries, record.keys):
            q, k = q[None], k[None]
            if rotary is not None:
                q, k = rotary(q, positions), rotary(k, positions)
            scores = (q[0] @ k[0].transpose(-1, -2)) / self.shape.head_dim ** 0.5
            out.append(scores.masked_fill(~mask, float("-inf")).softmax(-1))
        return out

    def hidden_states(self, ids, state: str = "residual"):
        """``(last, layers)``: the last token's final-layer representation
        (``state`` as in :meth:`Forward.last`) and the residual stream of all
        layers (``L + 1`` tensors ``(T, C)``), in this model's dtype."""
        record = self.run(ids)
        return record.last(state), record.residual

    def attentions(self, ids) -> list:
        """Per layer, the attention weights ``(heads, T, T)`` (rows sum to 1)."""
        return self.run(ids, attentions=True).attentions

    def input_embeddings(self, ids) -> torch.Tensor:
        """The token embeddings ``(T, C)`` of ``ids`` (Gemma's scaled ones;
        without openclrs' learned position embeddings, which the forward
        adds), in this model's dtype."""
        ids = self._ids(ids)
        with torch.no_grad():
            return self.module.get_input_embeddings()(ids)[0] if self.kind == "hf" \
                else self.module.wte(ids)[0]

    def forward_from_embeddings(self, embeds: torch.Tensor, state: str = "residual"
                                ) -> torch.Tensor:
        """The final-layer states ``(..., T, C)`` (``state``: ``"residual"`` =
        ``v^(L)``, ``"normed"`` = ``y``) of token embeddings ``embeds``
        ``(T, C)`` or ``(B, T, C)``, differentiable with respect to them."""
        batched = embeds.dim() == 3
        embeds = embeds if batched else embeds[None]
        kept = {}
        target = self.blocks[-1] if state == "residual" else self.final_norm
        if state not in ("residual", "normed"):
            raise ValueError(f"state must be 'residual' or 'normed', got {state!r}")
        hook = target.register_forward_hook(lambda m, a, o: kept.setdefault("x", _first(o)))
        try:
            self._call(None, embeds, False)
        finally:
            hook.remove()
        return kept["x"] if batched else kept["x"][0]

    def generate_greedy(self, prompt: str, max_new_tokens: int = 32) -> str:
        """The greedy continuation of ``prompt`` (stops at a blank line or
        the end-of-text token)."""
        with torch.no_grad():
            if self.kind == "openclrs":
                return greedy_decode(self.module, self.tokenizer, [prompt], max_new_tokens)[0]
            return hf_greedy_decode(self.module, self.tokenizer, [prompt], max_new_tokens)[0]

    # ------------------------------------------------------------------ RoPE

    @property
    def rope(self) -> list:
        """Per layer, a :class:`RopeLayer` or ``None`` (no rotation)."""
        if self.kind == "openclrs":
            rotary = self.module.rotary
            if rotary is None:
                return [None] * self.shape.n_layers
            # partial rotary turns only ``rotary.width`` channels, pairs (k, k + width/2)
            spec = RopeLayer(rotary.inv_freq.double().tolist(), self.module.config.rope_base,
                             getattr(rotary, "width", self.shape.head_dim))
            return [spec] * self.shape.n_layers
        config = self.module.config
        rotary = getattr(self.module.base_model, "rotary_emb", None)
        if rotary is None:
            return [None] * self.shape.n_layers
        layer_types = getattr(config, "layer_types", None) or [None] * self.shape.n_layers
        params = getattr(config, "rope_parameters", None) or {}
        out = []
        for kind in layer_types:
            inv = getattr(rotary, f"{kind}_inv_freq", None) if kind else None
            inv = inv if inv is not None else rotary.inv_freq
            p = params.get(kind, params) if kind else params
            base = p.get("rope_theta") if isinstance(p, dict) else None
            out.append(RopeLayer(inv.double().tolist(), base, 2 * inv.numel()))
        return out

    def describe(self) -> dict:
        """Model facts every result file records."""
        return {"name": self.name, "kind": self.kind, "family": self.family,
                "dtype": dtype_name(self.dtype), **self.shape.__dict__,
                "merges_digit_runs": self.merges_digit_runs()}


def detect_kind(path: str) -> str:
    """``"openclrs"`` or ``"hf"`` for a model folder (a clear error otherwise)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not a folder with a model")
    config = os.path.join(path, CONFIG_FILE)
    if os.path.isfile(config):
        try:
            with open(config, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict) and str(data.get("format", "")).startswith("openclrs-text-lm"):
            return "openclrs"
        if isinstance(data, dict) and "model_type" in data:
            return "hf"
    if any(os.path.exists(os.path.join(path, f)) for f in (MODEL_FILE, MANIFEST, POINTERS)):
        return "openclrs"
    raise ValueError(f"{path} is neither an openclrs LM folder (run, checkpoint or saved model) "
                     "nor a Hugging Face model folder (config.json with a model_type)")
