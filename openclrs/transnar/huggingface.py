"""TransNAR's gated cross-attention inside a local Hugging Face causal LM.

The same :class:`~openclrs.transnar.model.GatedCrossAttention` layers as
:class:`~openclrs.transnar.model.TransNAR`, inserted after the chosen
decoder layers of a ``transformers`` causal LM (GPT-2, Llama, Qwen, Gemma:
any model whose decoder layers form one ``nn.ModuleList`` of
``num_hidden_layers`` modules) by forward hooks that add the gated read to
the layer's output hidden states. The model's own code, weights, KV cache
and ``generate`` are unchanged; with the gates closed (``gate_init=0``) its
logits are bit for bit the original model's. The NAR's embeddings and the
cross-attention keys are computed once per batch of examples
(:meth:`HFTransNAR.memory`) and held while the model runs
(:meth:`HFTransNAR.reading`), every decoding step included::

    model = HFTransNAR(hf_model, NAR.from_run("runs/nar"), TransNARConfig())
    memory = model.memory(model.embed([e.trace for e in examples]))
    logits = model(input_ids, memory, attention_mask=mask).logits
    answers = hf_greedy_decode(model, tokenizer, examples)
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .config import TransNARConfig
from ..lm.model import GPT
from .model import GatedCrossAttention
from .nar import NAR, NAREmbeddings


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM: its one
    ``nn.ModuleList`` of ``config.num_hidden_layers`` modules."""
    count = model.config.num_hidden_layers
    found = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if len(found) != 1:
        raise ValueError(f"cannot tell the decoder layers of this {type(model).__name__}: "
                         f"{len(found)} module lists of {count} modules")
    return found[0]


class HFTransNAR(nn.Module):
    """A Hugging Face causal LM (``lm``) whose hidden states read a NAR's
    embeddings through gated cross-attention after the chosen layers."""

    def __init__(self, lm: nn.Module, nar: NAR, config: TransNARConfig | None = None):
        super().__init__()
        config = config or TransNARConfig()
        if nar.frozen != config.freeze_nar:
            raise ValueError(f"the NAR is {'frozen' if nar.frozen else 'trainable'} but "
                             f"freeze_nar={config.freeze_nar}")
        layers = decoder_layers(lm)
        chosen = range(len(layers)) if config.layers is None else config.layers
        if max(chosen) >= len(layers):
            raise ValueError(f"cross-attention after layer {max(chosen)}, but the model has "
                             f"{len(layers)} decoder layers (0..{len(layers) - 1})")
        self.config, self.lm, self.nar = config, lm, nar
        width = lm.config.hidden_size
        dtype = next(lm.parameters()).dtype
        self.xattn = nn.ModuleDict({
            str(t): GatedCrossAttention(width, config.heads or lm.config.num_attention_heads,
                                        nar.node_size, nar.edge_size, config.keys,
                                        config.gate_init, config.ffn, bias=True)
            for t in chosen})
        for module in self.xattn.values():
            module.apply(GPT._init_weights)
        self.xattn.to(dtype=dtype, device=next(lm.parameters()).device)
        self._memory: dict | None = None
        self._hooks = [layers[t].register_forward_hook(self._hook(str(t))) for t in chosen]

    def remove_hooks(self) -> nn.Module:
        """Take the cross-attention out of the LM (which runs as it did
        before) and return it; this wrapper is unusable afterwards."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        return self.lm

    def _hook(self, name: str):
        def add_read(module, args, output):
            if self._memory is None:
                raise RuntimeError("HFTransNAR ran without memory: call it as model(ids, "
                                   "memory, ...) or inside model.reading(memory)")
            hidden = output[0] if isinstance(output, tuple) else output
            rows = next(iter(self._memory[name].values()))[0].shape[0]
            if hidden.shape[0] != rows:
                raise ValueError(f"the LM runs {hidden.shape[0]} rows but the memory holds "
                                 f"{rows} graphs: each row reads its own example's graph "
                                 "(beam search and num_return_sequences > 1 are not "
                                 "supported)")
            hidden = self.xattn[name](hidden, self._memory[name])
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
        return add_read

    def embed(self, traces) -> NAREmbeddings:
        return self.nar(traces, self.config.nar_states)

    def memory(self, embeddings: NAREmbeddings) -> dict[str, dict]:
        """Every cross-attention layer's keys, values and masks (in the LM's dtype)."""
        dtype = next(self.lm.parameters()).dtype
        out = {}
        for name, layer in self.xattn.items():
            nodes, edges = (embeddings.final() if self.config.nar_states == "final"
                            else embeddings.step(int(name)))
            out[name] = layer.memory(nodes.to(dtype), edges.to(dtype), embeddings.mask)
        return out

    @contextlib.contextmanager
    def reading(self, memory: dict):
        """The LM's calls in this block (``forward``, ``generate``) read ``memory``."""
        previous, self._memory = self._memory, memory
        try:
            yield self.lm
        finally:
            self._memory = previous

    def forward(self, input_ids: torch.Tensor, memory: dict, **kwargs):
        """The LM's output (``.logits``) for ``input_ids``, reading ``memory``;
        other keywords go to the LM (``attention_mask``, ``past_key_values``, ...)."""
        with self.reading(memory):
            return self.lm(input_ids=input_ids, **kwargs)


@torch.no_grad()
def hf_greedy_decode(model: HFTransNAR, tokenizer, examples, max_new_tokens: int = 256,
                     batch_size: int = 16) -> list[str]:
    """Greedy answers of paired examples, as
    :func:`openclrs.lm.huggingface.hf_greedy_decode` decodes prompts
    (``generate`` with its KV cache, left padding, cut after the first blank
    line), each batch reading its examples' memory, computed once; a
    question that does not fit the model's positions gets ``""``."""
    from ..lm.huggingface import hf_greedy_decode as decode_prompts
    from ..lm.huggingface import position_limit

    model.eval()
    limit = position_limit(model.lm)
    fits = [limit is None or len(tokenizer(e.question)["input_ids"]) < limit for e in examples]
    decodable = [e for e, ok in zip(examples, fits) if ok]
    answers = []
    for b in range(0, len(decodable), batch_size):
        batch = decodable[b:b + batch_size]
        memory = model.memory(model.embed([e.trace for e in batch]))
        with model.reading(memory) as lm:
            answers += decode_prompts(lm, tokenizer, [e.question for e in batch],
                                      max_new_tokens, len(batch))
    answers = iter(answers)
    return [next(answers) if ok else "" for ok in fits]


# --------------------------------------------------------------------------
# Training: the loop of openclrs.transnar.train on the same run folders.
# --------------------------------------------------------------------------

HF_FORMAT = "openclrs-transnar-hf/1"


def hf_batch(examples, tokenizer, device="cpu", limit: int | None = None):
    """``(input_ids, attention_mask, targets)`` ``(B, T)`` for next-token
    prediction of ``question answer <eos>`` in the model's own tokens
    (the question with the tokenizer's special tokens, e.g. ``<bos>``; the
    answer without), right-padded; targets are ``-100`` except on the
    answer and ``<eos>``. An example longer than ``limit`` tokens (the
    model's positions) is refused by name."""
    rows = []
    for e in examples:
        q = tokenizer(e.question)["input_ids"]
        a = tokenizer(e.answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        tokens = q + a
        if limit is not None and len(tokens) - 1 > limit:
            raise ValueError(f"a {e.algorithm} example of length {e.length} is "
                             f"{len(tokens) - 1} tokens, beyond the model's {limit} positions: "
                             "train at smaller lengths")
        rows.append((tokens[:-1], [-100] * (len(q) - 1) + a))
    T = max(len(x) for x, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
        else tokenizer.eos_token_id
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    targets = torch.full((len(rows), T), -100, dtype=torch.long)
    for r, (x, y) in enumerate(rows):
        ids[r, :len(x)], mask[r, :len(x)] = torch.tensor(x), 1
        targets[r, :len(y)] = torch.tensor(y)
    return ids.to(device), mask.to(device), targets.to(device)


def hf_loss(model: HFTransNAR, examples, tokenizer, device="cpu") -> torch.Tensor:
    """Mean cross-entropy of the answer tokens (and ``<eos>``)."""
    from ..lm.huggingface import position_limit

    ids, mask, targets = hf_batch(examples, tokenizer, device, position_limit(model.lm))
    memory = model.memory(model.embed([e.trace for e in examples]))
    logits = model(ids, memory, attention_mask=mask).logits
    return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                       targets.reshape(-1), ignore_index=-100)


def _weights(model: nn.Module) -> dict:
    """The state dict without the second name of a tied tensor (safetensors
    refuses shared memory; loading ties them again)."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        if tensor.numel():
            key = (tensor.data_ptr(), tensor.shape, tensor.stride())
            if key in seen:
                continue
            seen.add(key)
        out[name] = tensor
    return out


def _build(hf_path: str, meta_nar: dict, xcfg: TransNARConfig, device):
    from ..lm.huggingface import load_hf_model
    from ..training.config import TrainConfig as NARTrainConfig
    from ..training.loop import build_model

    # float32 whatever the folder stores: AdamW on float16 weights diverges
    # (its eps rounds to 0) and on bfloat16 loses most small updates
    lm, tokenizer = load_hf_model(hf_path, device, dtype=torch.float32)
    nar = NAR(build_model(NARTrainConfig.from_dict(meta_nar["train"])),
              pred_as_input=meta_nar["pred_as_input"],
              enforce_permutations=meta_nar["enforce_permutations"], frozen=xcfg.freeze_nar,
              train_config=meta_nar["train"]).to(device)
    return HFTransNAR(lm, nar, xcfg), tokenizer


def _load_weights(model: HFTransNAR, checkpoint) -> None:
    missing, unexpected = model.load_state_dict(checkpoint.weights, strict=False)
    untied = [k for k in missing if k not in _tied_names(model)]
    if untied or unexpected:
        raise ValueError(f"{checkpoint.path}: the weights do not fit this model (missing "
                         f"{untied[:3]}, unexpected {unexpected[:3]}); was the Hugging Face "
                         "model folder changed?")


def _tied_names(model: nn.Module) -> set[str]:
    return set(model.state_dict()) - set(_weights(model))


def load_hf_transnar(path: str, device="cpu"):
    """``(model, tokenizer, {"train", "step", "hf_model"})`` of a ``train_hf``
    run folder or checkpoint folder; the Hugging Face model's folder (as
    recorded) gives the architecture and tokenizer, the checkpoint every
    weight."""
    import json

    from ..training.runs import checkpoint_at

    checkpoint = checkpoint_at(path)
    if checkpoint is None:
        raise FileNotFoundError(f"{path} is not a TransNAR run folder or checkpoint folder")
    meta = checkpoint.metadata
    if meta.get("format") != HF_FORMAT:
        raise ValueError(f"{checkpoint.path} is not a Hugging Face TransNAR checkpoint "
                         f"(format {meta.get('format')!r})")
    hf_path = meta["hf_model"]
    model, tokenizer = _build(hf_path, json.loads(meta["nar"]),
                              TransNARConfig.from_dict(json.loads(meta["transnar"])), device)
    _load_weights(model, checkpoint)
    model.eval()
    return model, tokenizer, {"train": checkpoint.state.get("train", {}),
                              "step": checkpoint.step, "hf_model": hf_path}


def train_hf(hf_path: str, cfg, xcfg: TransNARConfig, nar_run: str, *,
             nar_checkpoint: str = "best", resume: bool = True, log=None):
    """Train a local Hugging Face causal LM (every weight) with TransNAR
    cross-attention to the reasoner of ``nar_run``, on paired examples of
    ``cfg.algorithms`` at ``cfg.lengths`` or of the files ``cfg.data_files``
    (an :class:`openclrs.lm.config.TrainConfig`:
    optimizer, schedule, steps, seed, out_dir), on the run folders of
    :mod:`openclrs.training.runs` (exact resume; checkpoints hold every
    weight, the NAR's included; the model folder gives the architecture and
    tokenizer). Returns ``(model, tokenizer)``."""
    import json
    import os
    import sys
    from dataclasses import asdict

    from ..lm.train import RESUMABLE_CHANGES, make_optimizer
    from ..training.runs import Run, load_optimizer_state, optimizer_state
    from .train import fit, training_source

    log = log or sys.stderr
    if cfg.use_hints:
        raise ValueError("TransNAR trains on the no-trace format: no hints")
    examples, cfg = training_source(cfg)
    cfg.check_device()
    nar = NAR.from_run(nar_run, nar_checkpoint, frozen=xcfg.freeze_nar)
    meta_nar = {"train": nar.train_config, "pred_as_input": nar.pred_as_input,
                "enforce_permutations": nar.enforce_permutations}
    missing = sorted(set(cfg.algorithms) - set(nar.reasoner.algorithms))
    if missing:
        raise ValueError(f"the reasoner was trained on {list(nar.reasoner.algorithms)}, "
                         f"not on {missing}")
    hf_path = os.path.abspath(hf_path)
    torch.manual_seed(cfg.seed)
    model, tokenizer = _build(hf_path, meta_nar, xcfg, cfg.device)
    model.nar.load_state_dict(nar.state_dict())
    config = {"format": HF_FORMAT, "hf_model": hf_path,
              "hf_config": json.loads(model.lm.config.to_json_string()),
              "train": asdict(cfg), "transnar": xcfg.to_dict(),
              "nar": {"run": os.path.abspath(nar_run), "train": nar.train_config}}
    run = Run(cfg.out_dir, config, ignore=RESUMABLE_CHANGES + ("nar.run",),
              outputs=("eval.json", "eval.png"), keep=cfg.keep_checkpoints, log=log)
    metadata = {"format": HF_FORMAT, "hf_model": hf_path,
                "transnar": json.dumps(xcfg.to_dict()), "nar": json.dumps(meta_nar)}
    with run.session(restart=not resume):
        step, seconds = 0, 0.0
        last = run.load("last")
        if last is not None:
            _load_weights(model, last)
            step, seconds = last.step, last.state.get("train_seconds", 0.0)
            print(f"resuming {cfg.out_dir} from step {step}", file=log)
        optimizer = make_optimizer(model, cfg)
        if last is not None:
            load_optimizer_state(optimizer, last.tensors, last.state["optimizer"])

        def save(step, state):
            tensors, optimizer_json = optimizer_state(optimizer)
            run.save(step, weights=_weights(model), metadata=metadata, tensors=tensors,
                     state={"optimizer": optimizer_json, "train": asdict(cfg), **state})

        history = fit(run, cfg, model, optimizer, step, seconds,
                      lambda batch, generator: hf_loss(model, batch, tokenizer, cfg.device),
                      save, examples, log, desc="transnar")
    model.eval()
    model.history = history
    return model, tokenizer


__all__ = ["HF_FORMAT", "HFTransNAR", "decoder_layers", "hf_batch", "hf_greedy_decode",
           "hf_loss", "load_hf_transnar", "train_hf"]
