"""Train the small CLRS-Text Transformer of :mod:`openclrs.lm.model`, and evaluate
it (or any local Hugging Face causal LM) by greedy decoding.

nanoGPT style, top to bottom: a :class:`TrainConfig`, the batches, the
learning-rate schedule, checkpoints, the training loop, then evaluation::

    from openclrs.lm import model as lm, train as lm_train

    cfg = lm_train.TrainConfig(out_dir="runs/min", algorithms=("minimum",),
                               lengths=(5,), steps=500)
    model, tok = lm_train.train(lm.LMConfig(n_layer=2, n_embd=64), cfg)
    board = lm_train.evaluate(lm_train.model_generator(model, tok), ["minimum"],
                              [5, 10], num_samples=100)
    print(lm_train.format_table(board, train_lengths={"minimum": [5]}))

Examples are ``question + answer`` (with ``<bos>`` before and ``<eos>``
after); the loss is the cross-entropy of the answer tokens (and
``<eos>``) only. Batches are CLRS-Text examples generated on the fly
(:func:`openclrs.text.generate_examples`, a fresh stream per step) or drawn from
JSONL files written by :func:`~openclrs.text.generate_text_dataset`. The
batch, the dropout noise and the random positions of step ``s`` depend only
on ``(seed, s)``, so a run resumed from a checkpoint takes exactly the
steps the uninterrupted run would have taken.

A run directory holds ``checkpoint-<step>/`` folders (``model.safetensors``
and ``config.json`` of :func:`openclrs.lm.model.save_model`, plus
``optimizer.pt``), each written under a temporary name and renamed when
complete, a ``latest`` file naming the newest, and ``log.jsonl``.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .config import LMConfig, TrainConfig
from .model import GPT, load_model, read_config, save_model
from .tokenizer import CharTokenizer

# --------------------------------------------------------------------------
# Configuration.
# --------------------------------------------------------------------------


def _step_seed(seed: int, step: int, *more: int) -> int:
    """A 32-bit seed for step ``step`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, step, *more]).generate_state(1)[0])


# --------------------------------------------------------------------------
# Data: (question, answer) pairs, then token batches.
# --------------------------------------------------------------------------

class GeneratedExamples:
    """Fresh CLRS-Text examples for every step: each example of step ``s``
    picks an ``(algorithm, length)`` uniformly and is drawn from a sampler
    stream seeded by ``(seed, s)``."""

    def __init__(self, algorithms, lengths, seed: int = 0, use_hints: bool = False):
        from ..specs import check_algorithm

        self.pairs = [(check_algorithm(a), int(n)) for a in algorithms for n in lengths]
        if not self.pairs:
            raise ValueError("no (algorithm, length) to train on")
        self.seed, self.use_hints = seed, use_hints

    def __call__(self, step: int, batch_size: int) -> list[tuple[str, str]]:
        from ..text.format import generate_examples

        rng = np.random.default_rng(_step_seed(self.seed, step))
        picks = rng.integers(len(self.pairs), size=batch_size)
        examples = []
        for k in sorted(set(picks.tolist())):
            algorithm, length = self.pairs[k]
            count = int((picks == k).sum())
            examples += [(e["question"], e["answer"]) for e in generate_examples(
                algorithm, length, seed=_step_seed(self.seed, step, k), num_samples=count,
                use_hints=self.use_hints)]
        order = rng.permutation(len(examples))
        return [examples[i] for i in order]


class FileExamples:
    """Examples of JSONL files (records with ``question``, ``answer`` and
    ``algo_name``); each step draws ``batch_size`` of them at random."""

    def __init__(self, paths, algorithms=None, seed: int = 0):
        from ..text.datasets import read_jsonl

        files = []
        for path in paths:
            files += sorted(glob.glob(os.path.join(path, "*.jsonl"))) if os.path.isdir(path) \
                else [path]
        if not files:
            raise ValueError(f"no JSONL files in {list(paths)}")
        chosen = set(algorithms or ())
        records = [r for r in read_jsonl(files) if not chosen or r["algo_name"] in chosen]
        self.examples = [(r["question"], r["answer"]) for r in records]
        self.lengths = {int(r["length"]) for r in records if "length" in r}
        if not self.examples:
            raise ValueError(f"no examples of {sorted(chosen)} in {files}")
        self.seed = seed

    def __call__(self, step: int, batch_size: int) -> list[tuple[str, str]]:
        rng = np.random.default_rng(_step_seed(self.seed, step))
        return [self.examples[i] for i in rng.integers(len(self.examples), size=batch_size)]


def make_batch(examples, tokenizer: CharTokenizer, block_size: int, device="cpu"):
    """``(inputs, targets)`` ``(B, T)`` long tensors for next-token
    prediction of ``<bos> question answer <eos>``, right-padded; targets are
    ``-100`` (ignored) except on the answer and ``<eos>``."""
    rows = []
    for question, answer in examples:
        q = tokenizer.encode(question, bos=True)
        a = tokenizer.encode(answer, eos=True)
        tokens = q + a
        if len(tokens) - 1 > block_size:
            raise ValueError(f"an example of {len(tokens) - 1} tokens does not fit "
                             f"block_size={block_size}; raise the block size")
        rows.append((tokens[:-1], [-100] * (len(q) - 1) + a))
    T = max(len(x) for x, _ in rows)
    inputs = torch.full((len(rows), T), tokenizer.pad_id, dtype=torch.long)
    targets = torch.full((len(rows), T), -100, dtype=torch.long)
    for r, (x, y) in enumerate(rows):
        inputs[r, :len(x)] = torch.tensor(x)
        targets[r, :len(y)] = torch.tensor(y)
    return inputs.to(device), targets.to(device)


def answer_loss(model: GPT, inputs: torch.Tensor, targets: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens (targets ``!= -100``)."""
    positions = model.default_positions(*inputs.shape, generator=generator)
    logits = model(inputs, positions)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)


# --------------------------------------------------------------------------
# Optimizer and schedule.
# --------------------------------------------------------------------------

def make_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on biases, norms)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``learning_rate``, then cosine decay to ``min_lr``
    at ``steps`` (steps count from 1)."""
    if step <= cfg.warmup_steps:
        return cfg.learning_rate * step / max(1, cfg.warmup_steps)
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


# --------------------------------------------------------------------------
# Checkpoints.
# --------------------------------------------------------------------------

LATEST = "latest"


def checkpoint_dir(run_dir: str) -> str | None:
    """The newest complete checkpoint of a run directory (``None`` if none);
    a checkpoint folder itself is returned as is."""
    if os.path.exists(os.path.join(run_dir, "model.safetensors")):
        return run_dir
    try:
        with open(os.path.join(run_dir, LATEST)) as f:
            name = f.read().strip()
    except FileNotFoundError:
        return None
    path = os.path.join(run_dir, name)
    return path if os.path.isdir(path) else None


def save_checkpoint(run_dir: str, step: int, model: GPT, tokenizer: CharTokenizer,
                    optimizer, model_cfg: LMConfig, cfg: TrainConfig) -> str:
    """Write ``checkpoint-<step>`` (under a temporary name, then renamed),
    point ``latest`` at it and drop the oldest beyond ``keep_checkpoints``."""
    name = f"checkpoint-{step:07d}"
    final = os.path.join(run_dir, name)
    tmp = os.path.join(run_dir, f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp, model, tokenizer, extra={"train": asdict(cfg), "step": step})
    torch.save({"optimizer": optimizer.state_dict(), "step": step},
               os.path.join(tmp, "optimizer.pt"))
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    with open(os.path.join(run_dir, f".{LATEST}.tmp"), "w") as f:
        f.write(name + "\n")
    os.replace(os.path.join(run_dir, f".{LATEST}.tmp"), os.path.join(run_dir, LATEST))
    old = sorted(d for d in os.listdir(run_dir) if d.startswith("checkpoint-"))
    for d in old[:-max(1, cfg.keep_checkpoints)]:
        shutil.rmtree(os.path.join(run_dir, d), ignore_errors=True)
    return final


def _same_model(saved: dict, model_cfg: LMConfig) -> None:
    mine = asdict(model_cfg)
    diff = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
    if diff:
        raise ValueError(f"the checkpoint's model differs from the one asked for "
                         f"(saved, asked): {diff}; use another --out or the same options")


# --------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------

def train(model_cfg: LMConfig, cfg: TrainConfig, resume: bool = True,
          tokenizer: CharTokenizer | None = None, log=None):
    """Train (resuming from ``cfg.out_dir``'s latest checkpoint unless
    ``resume=False``) until ``cfg.steps``; returns ``(model, tokenizer)``.
    The losses are in ``out_dir/log.jsonl`` and ``model.history``
    (``[(step, loss), ...]`` of this call)."""
    if cfg.threads:
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            return train(model_cfg, dataclasses.replace(cfg, threads=None), resume, tokenizer, log)
        finally:
            torch.set_num_threads(threads)
    from tqdm.auto import tqdm

    log = log or sys.stderr
    tokenizer = tokenizer or CharTokenizer()
    model_cfg = dataclasses.replace(model_cfg, vocab_size=tokenizer.vocab_size)
    os.makedirs(cfg.out_dir, exist_ok=True)

    # --- the model, the optimizer, and where we are
    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(cfg.device)
    optimizer = make_optimizer(model, cfg)
    step = 0
    last = checkpoint_dir(cfg.out_dir) if resume else None
    if last is not None:
        saved = read_config(last)
        _same_model(saved["model"], model_cfg)
        model, tokenizer, _ = load_model(last, cfg.device)
        optimizer = make_optimizer(model, cfg)
        state = torch.load(os.path.join(last, "optimizer.pt"), map_location=cfg.device,
                           weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        print(f"resuming from {last} (step {step})", file=log)
    model.train()

    # --- the data
    if cfg.data_files:
        examples = FileExamples(cfg.data_files, cfg.algorithms, cfg.seed)
        if not cfg.lengths:  # recorded with the checkpoints, to mark train lengths
            cfg = dataclasses.replace(cfg, lengths=tuple(sorted(examples.lengths)))
    else:
        examples = GeneratedExamples(cfg.algorithms, cfg.lengths, cfg.seed, cfg.use_hints)

    # --- the loop
    history = []
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, dynamic_ncols=True,
               desc="train", file=log)
    log_file = open(os.path.join(cfg.out_dir, "log.jsonl"), "a")
    start, smoothed = time.perf_counter(), None
    try:
        while step < cfg.steps:
            step += 1
            torch.manual_seed(_step_seed(cfg.seed, step, 1))  # dropout noise of this step
            generator = torch.Generator().manual_seed(_step_seed(cfg.seed, step, 2))
            lr = learning_rate(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = make_batch(examples(step, cfg.batch_size), tokenizer,
                                         model_cfg.block_size, cfg.device)
            loss = answer_loss(model, inputs, targets, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()

            value = loss.item()
            history.append((step, value))
            smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.4f}", lr=f"{lr:.2e}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                log_file.write(json.dumps({"step": step, "loss": value, "lr": lr,
                                           "seconds": time.perf_counter() - start}) + "\n")
                log_file.flush()
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_checkpoint(cfg.out_dir, step, model, tokenizer, optimizer, model_cfg, cfg)
    finally:
        bar.close()
        log_file.close()
    model.eval()
    model.history = history
    return model, tokenizer


__all__ = ["FileExamples", "GeneratedExamples", "TrainConfig", "answer_loss", "checkpoint_dir",
           "learning_rate", "make_batch", "make_optimizer", "save_checkpoint", "train"]
