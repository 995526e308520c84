"""Tiny randomly initialised Hugging Face causal LMs for the tests (no
download): one per family the diagnostics support, each saved with a
character-level tokenizer built here, so that ``AutoTokenizer`` and
``AutoModelForCausalLM`` load the folder like any local model.

The tokenizer has one token per printable ASCII character and newline (so
every digit, letter and the prompts' punctuation is its own token) plus
``<pad> <bos> <eos> <unk>`` (and the byte-level spellings of space and
newline, for the Qwen families' tokenizer class); it puts ``<bos>`` before
every text, as Llama's and Gemma's do. ``save_tiny_model("gpt2", folder, merge_digits=True)`` gives
instead a tokenizer that also has the tokens ``11``, ``111`` and ``1111``
(matched greedily, longest first), to test the merged-digit handling.

Use :func:`save_tiny_model` (or the ``tiny_hf_models`` fixture of
``tests/conftest.py``, which builds each family once per test session).
"""

from __future__ import annotations

import os
import string

import torch

FAMILIES = ("gpt2", "llama", "gemma", "gemma2", "gemma3", "qwen2", "qwen3")
CHARS = "\n" + "".join(c for c in string.printable if c.isprintable())
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
MERGED = ("1111", "111", "11")


def build_tokenizer(merge_digits: bool = False):
    """A ``PreTrainedTokenizerFast``: characters (and with ``merge_digits``
    runs of up to four ``1`` s) as tokens, ``<bos>`` first."""
    import re

    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # "Ġ" and "Ċ": space and newline as byte-level tokenizers spell them
    # (transformers 5 loads a qwen2/qwen3 folder with Qwen2Tokenizer, whose
    # byte-level pre-tokenizer would otherwise find no token for a space)
    pieces = list(SPECIALS) + list(CHARS) + ["Ġ", "Ċ"] + (list(MERGED) if merge_digits else [])
    vocab = {p: i for i, p in enumerate(pieces)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    units = [re.escape(m) for m in MERGED] if merge_digits else []
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("|".join(units + [r"[\s\S]"])),
                                             behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   unk_token="<unk>", pad_token="<pad>")


def tiny_config(family: str, vocab_size: int, layers: int = 2, hidden: int = 32,
                heads: int = 4, kv_heads: int = 2):
    """A tiny config of ``family`` (head size ``hidden / heads``)."""
    import transformers as t

    head_dim = hidden // heads
    special = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    common = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                  num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv_heads, max_position_embeddings=512, **special)
    if family == "gpt2":
        return t.GPT2Config(vocab_size=vocab_size, n_positions=512, n_embd=hidden,
                            n_layer=layers, n_head=heads, **special)
    if family == "llama":
        return t.LlamaConfig(**common)
    if family == "gemma":
        return t.GemmaConfig(**common, head_dim=head_dim)
    if family == "gemma2":
        return t.Gemma2Config(**common, head_dim=head_dim, sliding_window=64)
    if family == "gemma3":
        return t.Gemma3TextConfig(**common, head_dim=head_dim, sliding_window=64)
    if family == "qwen2":
        return t.Qwen2Config(**common)
    if family == "qwen3":
        return t.Qwen3Config(**common, head_dim=head_dim)
    raise ValueError(f"unknown family {family!r}; choose from {FAMILIES}")


def save_tiny_model(family: str, folder: str, seed: int = 0, merge_digits: bool = False,
                    **sizes) -> str:
    """Build a random tiny ``family`` model and its tokenizer, save both in
    ``folder`` (safetensors) and return the folder."""
    import transformers

    tokenizer = build_tokenizer(merge_digits)
    config = tiny_config(family, len(tokenizer), **sizes)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_openclrs(folder: str, seed: int = 0, pos_encoding: str = "rope", **sizes) -> str:
    """A random tiny openclrs LM saved with :func:`openclrs.lm.model.save_model`."""
    from openclrs.lm.config import LMConfig
    from openclrs.lm.model import GPT, save_model
    from openclrs.lm.tokenizer import CharTokenizer

    torch.manual_seed(seed)
    shape = dict(n_layer=2, n_head=4, n_embd=32, block_size=512)
    shape.update(sizes)
    model = GPT(LMConfig(pos_encoding=pos_encoding, **shape))
    save_model(folder, model, CharTokenizer())
    return folder
