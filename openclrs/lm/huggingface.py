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


@torch.no_grad()
def hf_greedy_decode(model, tokenizer, prompts: list[str], max_new_tokens: int = 256,
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
