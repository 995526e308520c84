"""Any local Hugging Face causal LM, decoded greedily the way the CLRS-Text
LM is (``transformers`` is imported when used; nothing is downloaded)."""

from __future__ import annotations

import os

import torch

from ..extras import require
from .decode import STOP

# What keeps loading safe (local files, safetensors, no code from the folder):
# a caller may not override these.
SAFE_LOADING = {"local_files_only": True, "use_safetensors": True, "trust_remote_code": False}


def load_hf_model(path: str, device: str | torch.device = "cpu", *,
                  purpose: str = "evaluate a Hugging Face model", **from_pretrained):
    """``(model, tokenizer)`` of a local Hugging Face causal LM (``transformers``
    is imported here only; nothing is downloaded), in eval mode on ``device``.

    ``from_pretrained``: more keyword arguments for
    ``AutoModelForCausalLM.from_pretrained``, e.g. ``attn_implementation="eager"``
    (so that attention weights exist) or ``dtype=torch.float32``; those of
    :data:`SAFE_LOADING` are refused. ``purpose`` goes into the
    missing-``transformers`` message."""
    overridden = sorted(set(from_pretrained) & set(SAFE_LOADING))
    if overridden:
        raise ValueError(f"load_hf_model always loads with {SAFE_LOADING}; "
                         f"{', '.join(overridden)} cannot be changed")
    if not os.path.isdir(path):
        raise ValueError(f"{path} is not a folder with a Hugging Face model")
    if not os.path.exists(os.path.join(path, "config.json")):
        raise ValueError(f"{path} is not a Hugging Face model folder (it has no config.json); "
                         "give the folder that save_pretrained wrote")
    transformers = require("transformers", purpose)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        # safetensors weights only: a pytorch_model.bin is a pickle, which
        # transformers would unpickle; no code from the folder runs either.
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path, **SAFE_LOADING, **from_pretrained)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} could not be loaded as a Hugging Face causal LM with its "
                         f"tokenizer (openclrs reads safetensors weights only: a "
                         f"pytorch_model.bin is a pickle): {first}") from None
    model.to(device).eval()
    return model, tokenizer


def position_limit(model) -> int | None:
    """How many positions a Hugging Face model has (``n_positions``, as
    GPT-2's learned table, else ``max_position_embeddings``), None if its
    config names none. Beyond them a learned table fails with an index
    error (on a GPU, a device-side assert)."""
    config = model.config
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings",
                                                           None)


@torch.no_grad()
def hf_greedy_decode(model, tokenizer, prompts: list[str], max_new_tokens: int = 256,
                batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` by a Hugging Face causal LM
    (``model.generate``, left padding), cut after the first blank line. As
    the openclrs decoder, a prompt that does not fit the model's positions
    (:func:`position_limit`) gets ``""``, and a continuation stops at the
    last position."""
    from transformers import StoppingCriteria

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
    limit = position_limit(model)
    outputs = []
    for b in range(0, len(prompts), batch_size):
        chunk = prompts[b:b + batch_size]
        fits = [limit is None or len(tokenizer(p)["input_ids"]) < limit for p in chunk]
        texts = iter(_decode(model, tokenizer, [p for p, ok in zip(chunk, fits) if ok],
                             max_new_tokens, limit, device, BlankLine) if any(fits) else [])
        outputs += [next(texts) if ok else "" for ok in fits]
    return outputs


def _decode(model, tokenizer, prompts, max_new_tokens, limit, device, stop_rule) -> list[str]:
    from transformers import StoppingCriteriaList

    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    prompt_length = batch["input_ids"].shape[1]
    if limit is not None:
        max_new_tokens = min(max_new_tokens, limit - prompt_length)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id,
                         stopping_criteria=StoppingCriteriaList([stop_rule(prompt_length)]))
    texts = []
    for text in tokenizer.batch_decode(out[:, prompt_length:], skip_special_tokens=True):
        cut = text.find(STOP)
        texts.append(text if cut < 0 else text[:cut + len(STOP)])
    return texts
