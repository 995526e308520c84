"""Train the small CLRS-Text Transformer of :mod:`openclrs.lm.model`.

nanoGPT style, top to bottom: the batches, the optimizer and
learning-rate schedule, checkpoints, then the training loop::

    from openclrs.lm import config, evaluate, train

    cfg = config.TrainConfig(out_dir="runs/min", algorithms=("minimum",),
                             lengths=(5,), steps=500)
    model, tok = train.train(config.LMConfig(n_layer=2, n_embd=64), cfg)
    board = evaluate.evaluate(evaluate.model_generator(model, tok), ["minimum"],
                              [5, 10], num_samples=100)
    print(evaluate.format_table(board, train_lengths={"minimum": [5]}))

Examples are ``question + answer`` (with ``<bos>`` before and ``<eos>``
after); the loss is the cross-entropy of the answer tokens (and
``<eos>``) only. Batches are CLRS-Text examples generated on the fly
(:func:`openclrs.text.generate_examples`, a fresh stream per step) or drawn
from JSONL files written by :func:`~openclrs.text.generate_text_dataset`.
The batch, the dropout noise and the random positions of step ``s`` depend
only on ``(seed, s)``, so a run resumed from a checkpoint takes exactly the
steps the uninterrupted run would have taken.

Any other example source can be trained on through ``train(...,
examples=source)``: ``source(step, batch_size)`` returns that step's
``(prompt, answer)`` pairs (a function of ``(its seed, step)`` only, so that
resumes stay exact) and ``source.describe()`` a JSON-able dict recorded in
``config.json`` under ``"data"`` (a resume with another description is
refused). A source whose ``loss_on`` attribute is ``"all"`` puts the loss on
every token after ``<bos>`` (prompt, answer and ``<eos>``: the perplexity of
whole texts) instead of the answer only::

    class Ones:
        loss_on = "answer"
        def __call__(self, step, batch_size):
            return [("How many ones? 111\n", "3\n\n")] * batch_size
        def describe(self):
            return {"source": "ones"}

    model, tok = train.train(config.LMConfig(n_layer=2, n_embd=64),
                             config.TrainConfig(out_dir="runs/ones", steps=100),
                             examples=Ones())

The run folder is the one every openclrs trainer writes
(:mod:`openclrs.training.runs`): ``config.json``, ``metrics.jsonl`` and
verified checkpoints made visible as one unit (weights without the tied
output layer, AdamW state as tensors + JSON; no pickle). A resume with
other settings than the run's (algorithms, lengths, model, optimizer) is
refused; only how long, how often and where may change.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import sys
import time
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from ..files import CorruptFileError
from ..training.runs import (Run, TrainingDiverged, checkpoint_at, derive_seed,
                             load_optimizer_state, optimizer_state, refuse_old_format)
from .config import LMConfig, TrainConfig
from .model import GPT, MODEL_FILE, load_model
from .tokenizer import CharTokenizer


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

        rng = np.random.default_rng(derive_seed(self.seed, step))
        picks = rng.integers(len(self.pairs), size=batch_size)
        examples = []
        for k in sorted(set(picks.tolist())):
            algorithm, length = self.pairs[k]
            count = int((picks == k).sum())
            examples += [(e["question"], e["answer"]) for e in generate_examples(
                algorithm, length, seed=derive_seed(self.seed, step, k), num_samples=count,
                use_hints=self.use_hints)]
        order = rng.permutation(len(examples))
        return [examples[i] for i in order]

    def describe(self) -> dict:
        return {"source": "clrs-text", "pairs": [list(p) for p in self.pairs],
                "seed": self.seed, "use_hints": self.use_hints}


def _split_files(folder: str) -> list[str]:
    """The JSONL shards of the one split generated in ``folder`` (from its
    manifest), or every ``*.jsonl`` of a folder without manifests; a folder
    of several splits is refused (``train`` and ``eval`` side by side: the
    eval examples must not be trained on)."""
    from ..text.reading import data_files

    manifests = sorted(glob.glob(os.path.join(folder, "manifest-*.json")))
    if not manifests:
        return sorted(glob.glob(os.path.join(folder, "*.jsonl")))
    splits = [os.path.basename(m)[len("manifest-"):-len(".json")] for m in manifests]
    if len(splits) > 1:
        raise ValueError(f"{folder} holds several splits ({', '.join(splits)}): give one "
                         f"split's files, e.g. {os.path.join(folder, splits[-1] + '-*.jsonl')}")
    return sorted(f for f in data_files(folder, splits[0]) if f.endswith(".jsonl"))


def read_records(paths, algorithms=None) -> tuple[list[str], list[dict]]:
    """``(files, records)``: the CLRS-Text records (``question``, ``answer``,
    ``algo_name``) of JSONL files or folders of them, of ``algorithms`` only
    if given; a record that is not one names its file and line."""
    from ..text.datasets import read_jsonl

    files = []
    for path in paths:
        files += _split_files(path) if os.path.isdir(path) else [path]
    if not files:
        raise ValueError(f"no JSONL files in {list(paths)}")
    chosen = set(algorithms or ())
    records = []
    for path in files:
        for number, r in enumerate(read_jsonl(path), 1):
            missing = [k for k in ("question", "answer", "algo_name")
                       if not isinstance(r, dict) or not isinstance(r.get(k), str)]
            if missing:
                raise CorruptFileError(f"{path}, line {number}: not a CLRS-Text record "
                                       f"(no {', '.join(missing)}); give files made by "
                                       "`openclrs text generate`")
            if not chosen or r["algo_name"] in chosen:
                records.append(r)
    if not records:
        raise ValueError(f"no examples of {sorted(chosen)} in {files}")
    return files, records


class FileExamples:
    """Examples of JSONL files (records with ``question``, ``answer`` and
    ``algo_name``); each step draws ``batch_size`` of them at random."""

    def __init__(self, paths, algorithms=None, seed: int = 0):
        files, records = read_records(paths, algorithms)
        self.examples = [(r["question"], r["answer"]) for r in records]
        self.lengths = {int(r["length"]) for r in records if "length" in r}
        self.seed, self.files = seed, files

    def describe(self) -> dict:
        return {"source": "clrs-text-files", "files": [os.path.abspath(f) for f in self.files],
                "examples": len(self.examples), "seed": self.seed}

    def __call__(self, step: int, batch_size: int) -> list[tuple[str, str]]:
        rng = np.random.default_rng(derive_seed(self.seed, step))
        return [self.examples[i] for i in rng.integers(len(self.examples), size=batch_size)]


LOSS_ON = ("answer", "all")  # where the loss is: the answer and <eos>, or every token


def make_batch(examples, tokenizer: CharTokenizer, block_size: int, device="cpu",
               loss_on: str = "answer"):
    """``(inputs, targets)`` ``(B, T)`` long tensors for next-token
    prediction of ``<bos> question answer <eos>``, right-padded; targets are
    ``-100`` (ignored) except on the answer and ``<eos>`` (``loss_on="all"``:
    on every token after ``<bos>``)."""
    if loss_on not in LOSS_ON:
        raise ValueError(f"loss_on must be one of {LOSS_ON}, got {loss_on!r}")
    rows = []
    for question, answer in examples:
        q = tokenizer.encode(question, bos=True)
        a = tokenizer.encode(answer, eos=True)
        tokens = q + a
        if len(tokens) - 1 > block_size:
            raise ValueError(f"an example of {len(tokens) - 1} tokens does not fit "
                             f"block_size={block_size}; raise the block size")
        scored = tokens[1:] if loss_on == "all" else [-100] * (len(q) - 1) + a
        rows.append((tokens[:-1], scored))
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
# Checkpoints: the run folders of openclrs.training.runs.
# --------------------------------------------------------------------------

MODEL_FORMAT = "openclrs-text-lm/1"
TIED = "lm_head.weight"  # the output layer shares the token embeddings' tensor

# Settings a resumed run may change: how long, how often, where and how fast.
RESUMABLE_CHANGES = ("train.steps", "train.checkpoint_every", "train.keep_checkpoints",
                     "train.log_every", "train.threads", "train.device", "train.progress",
                     "train.out_dir")


def run_config(model_cfg: LMConfig, cfg: TrainConfig, tokenizer: CharTokenizer,
               data: dict | None = None) -> dict:
    """What a run folder's ``config.json`` holds; a resume must match it.
    ``data``: an example source's description (``train(examples=...)``);
    CLRS-Text runs have none (their data is in ``train``)."""
    config = {"format": MODEL_FORMAT, "model": asdict(model_cfg), "train": asdict(cfg),
              "tokenizer": tokenizer.to_dict()}
    return config if data is None else {**config, "data": data}


def upgrade_run_config(old: dict) -> dict:
    """A ``config.json`` of an older openclrs in today's form: the LMConfig
    fields added since filled in as its model was trained
    (:meth:`LMConfig.from_dict`)."""
    if isinstance(old.get("model"), dict):
        try:
            old = {**old, "model": asdict(LMConfig.from_dict(old["model"]))}
        except (TypeError, ValueError):
            pass  # not a config this version reads: the resume check names the differences
    return old


def resumed_model_config(folder: str, model_cfg: LMConfig) -> LMConfig:
    """``model_cfg`` with the settings no option chooses (the p-RoPE rounding
    rule) taken from the run in ``folder``, if there is one, so that a run
    started before the paper's rule was followed resumes with its own."""
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        return model_cfg
    try:
        with open(path, encoding="utf-8") as f:
            old = upgrade_run_config(json.load(f))
        rounding = old["model"]["p_rope_rounding"]
    except (OSError, ValueError, KeyError, TypeError):
        return model_cfg  # unreadable here: the run's own check reports it
    return dataclasses.replace(model_cfg, p_rope_rounding=rounding)


def describe_source(examples) -> dict:
    """``{"examples": examples.describe(), "loss_on": ...}``, checked: what
    ``config.json`` records of an example source given to :func:`train`."""
    if not callable(examples) or not callable(getattr(examples, "describe", None)):
        raise TypeError("examples must be callable as examples(step, batch_size) -> "
                        "[(prompt, answer), ...] and have describe() -> dict")
    description = examples.describe()
    try:
        text = json.dumps(description, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"examples.describe() must return a JSON-able dict: {error}") from None
    if not isinstance(description, dict):
        raise ValueError(f"examples.describe() must return a dict, got {text:.80}")
    loss_on = getattr(examples, "loss_on", "answer")
    if loss_on not in LOSS_ON:
        raise ValueError(f"examples.loss_on must be one of {LOSS_ON}, got {loss_on!r}")
    return {"examples": json.loads(text), "loss_on": loss_on}


def save_checkpoint(run: Run, step: int, model: GPT, tokenizer: CharTokenizer, optimizer,
                    cfg: TrainConfig, state: dict | None = None) -> str:
    """One checkpoint of ``run`` (weights, optimizer, settings), made
    visible as one unit; ``last`` points at it."""
    weights = {k: v for k, v in model.state_dict().items() if k != TIED}
    tensors, optimizer_json = optimizer_state(optimizer)
    metadata = {"format": MODEL_FORMAT, "model": json.dumps(asdict(model.config)),
                "tokenizer": json.dumps(tokenizer.to_dict())}
    return run.save(step, weights=weights, metadata=metadata, tensors=tensors,
                    state={"optimizer": optimizer_json, "train": asdict(cfg), **(state or {})})


def load_checkpoint_weights(model, checkpoint, tied: str = TIED) -> None:
    """The checkpoint's weights into ``model``, which must take all of them
    and miss only the tied output layer ``tied`` (saved once, as the
    embeddings)."""
    missing, unexpected = model.load_state_dict(checkpoint.weights, strict=False)
    if set(missing) != {tied} or unexpected:
        raise ValueError(f"{checkpoint.path}: the weights do not fit the model its metadata "
                         f"describes (missing {missing[:3]}, unexpected {unexpected[:3]})")


def model_from_checkpoint(checkpoint, device="cpu") -> tuple[GPT, CharTokenizer]:
    """The model and tokenizer of a verified checkpoint (in eval mode)."""
    meta = checkpoint.metadata
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{checkpoint.path} is not a CLRS-Text LM checkpoint "
                         f"(format {meta.get('format')!r})")
    model = GPT(LMConfig.from_dict(json.loads(meta["model"])))
    load_checkpoint_weights(model, checkpoint)
    model.to(device).eval()
    return model, CharTokenizer.from_dict(json.loads(meta["tokenizer"]))


def load_lm(path: str, device="cpu") -> tuple[GPT, CharTokenizer, dict]:
    """``(model, tokenizer, train settings)`` from a ``text train`` run folder
    (its latest checkpoint, read even while the run is training), one of
    its checkpoint folders, or a folder of :func:`~openclrs.lm.model.save_model`;
    every one verified, a damaged one named in a ``CorruptFileError``."""
    checkpoint = checkpoint_at(path)  # a checkpoint folder, or a run folder's latest
    if checkpoint is None:
        if os.path.exists(os.path.join(path, MODEL_FILE)):  # save_model's folder
            model, tokenizer, saved = load_model(path, device)
            return model, tokenizer, saved.get("train", {})
        refuse_old_format(path, fix="train it again (--restart in the same folder)")
        raise FileNotFoundError(f"{path} is not a `text train` run folder, one of its "
                                "checkpoint folders, or a saved model folder")
    model, tokenizer = model_from_checkpoint(checkpoint, device)
    return model, tokenizer, checkpoint.state.get("train", {})


# --------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------

def train(model_cfg: LMConfig, cfg: TrainConfig, resume: bool = True,
          tokenizer: CharTokenizer | None = None, log=None, examples=None):
    """Train (resuming from ``cfg.out_dir``'s latest checkpoint unless
    ``resume=False``, which starts afresh) until ``cfg.steps``; returns
    ``(model, tokenizer)``. The losses are in ``out_dir/metrics.jsonl`` and
    ``model.history`` (``[(step, loss), ...]`` of this call).

    ``examples``: another example source than CLRS-Text (see the module's
    docstring); then ``cfg``'s algorithms, lengths, data files and hints are
    not used (giving lengths or data files too is refused; the algorithms
    are recorded as none)."""
    if cfg.threads:
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            return train(model_cfg, dataclasses.replace(cfg, threads=None), resume, tokenizer, log,
                         examples)
        finally:
            torch.set_num_threads(threads)

    log = log or sys.stderr
    tokenizer = tokenizer or CharTokenizer()
    model_cfg = dataclasses.replace(model_cfg, vocab_size=tokenizer.vocab_size)
    cfg.check_device()

    # --- the data (first: a bad data set fails before any folder is made)
    data, loss_on = None, "answer"
    if examples is not None:
        if cfg.data_files or cfg.lengths:
            raise ValueError("give either an example source (examples=...) or CLRS-Text "
                             "lengths / data files, not both")
        data = describe_source(examples)
        loss_on = data["loss_on"]
        cfg = dataclasses.replace(cfg, algorithms=(), use_hints=False)
    elif cfg.data_files:
        examples = FileExamples(cfg.data_files, cfg.algorithms, cfg.seed)
        if not cfg.lengths:  # recorded with the checkpoints, to mark train lengths
            cfg = dataclasses.replace(cfg, lengths=tuple(sorted(examples.lengths)))
    elif cfg.lengths:
        examples = GeneratedExamples(cfg.algorithms, cfg.lengths, cfg.seed, cfg.use_hints)
    else:
        raise ValueError("give lengths (--lengths: examples generated on the fly) or data "
                         "files (--data)")

    if resume:
        model_cfg = resumed_model_config(cfg.out_dir, model_cfg)
    run = Run(cfg.out_dir, run_config(model_cfg, cfg, tokenizer, data), ignore=RESUMABLE_CHANGES,
              outputs=("eval.json", "eval.png"), keep=cfg.keep_checkpoints, log=log,
              upgrade=upgrade_run_config)
    with run.session(restart=not resume):
        # --- the model, the optimizer, and where we are
        torch.manual_seed(cfg.seed)
        model = GPT(model_cfg).to(cfg.device)
        optimizer = make_optimizer(model, cfg)
        step, seconds = 0, 0.0
        last = run.load("last")
        if last is not None:
            model, tokenizer = model_from_checkpoint(last, cfg.device)
            optimizer = make_optimizer(model, cfg)
            load_optimizer_state(optimizer, last.tensors, last.state["optimizer"])
            step, seconds = last.step, last.state.get("train_seconds", 0.0)
            print(f"resuming {cfg.out_dir} from step {step}", file=log)
        history = fit(run, cfg, model, optimizer, step, seconds,
                      lambda batch, generator: answer_loss(
                          model, *make_batch(batch, tokenizer, model_cfg.block_size, cfg.device,
                                             loss_on), generator),
                      lambda step, state: save_checkpoint(run, step, model, tokenizer, optimizer,
                                                          cfg, state),
                      examples, log, desc="train")
    model.eval()
    model.history = history
    return model, tokenizer


def fit(run: Run, cfg: TrainConfig, model, optimizer, step: int, seconds: float, loss_of, save,
        examples, log, desc: str = "train") -> list[tuple[int, float]]:
    """The training loop of every model built on the LM (the LM, TransNAR):
    steps ``step + 1 .. cfg.steps`` of ``model``, resuming at ``step`` after
    ``seconds`` of training. The examples, dropout noise and random
    positions of a step are functions of ``(cfg.seed, step)``;
    ``loss_of(examples, generator)`` gives the loss, ``save(step, state)``
    writes a checkpoint. Returns ``[(step, loss)]``."""
    from tqdm.auto import tqdm

    model.train()
    metrics = run.metrics(resume_step=step if step else None)
    history = []
    trainable = [p for p in model.parameters() if p.requires_grad]
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, dynamic_ncols=True,
               desc=desc, file=log)
    start, smoothed = time.perf_counter() - seconds, None
    try:
        while step < cfg.steps:
            step += 1
            torch.manual_seed(derive_seed(cfg.seed, step, 1))  # dropout noise of this step
            generator = torch.Generator().manual_seed(derive_seed(cfg.seed, step, 2))
            lr = learning_rate(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_of(examples(step, cfg.batch_size), generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(f"step {step}: the loss is {value}; training "
                                       "diverged (try a lower --lr)")
            history.append((step, value))
            smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.4f}", lr=f"{lr:.2e}")
            if step % cfg.log_every == 0 or step == cfg.steps:
                metrics.append({"step": step, "loss": value, "lr": lr,
                                "seconds": time.perf_counter() - start})
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save(step, {"train_seconds": time.perf_counter() - start})
    finally:
        bar.close()
    return history


__all__ = ["FileExamples", "GeneratedExamples", "LOSS_ON", "TrainConfig", "answer_loss",
           "describe_source", "fit", "learning_rate", "load_lm", "make_batch", "make_optimizer",
           "model_from_checkpoint", "save_checkpoint", "train"]
