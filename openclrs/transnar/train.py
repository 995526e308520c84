"""Train TransNAR: next-token loss on the answers, the NAR frozen.

The LM's training loop, :func:`openclrs.lm.train.fit` (AdamW with decay
on matrices only, warmup and cosine schedule, gradient clipping; the batch,
dropout and random positions of step ``s`` a function of ``(seed, s)``) on
the run folders of :mod:`openclrs.training.runs` (``config.json``,
``metrics.jsonl``, verified one-unit checkpoints, resume, config check,
lock), with the graph side added: every step's examples are
:class:`~openclrs.transnar.data.PairedExamples`, the NAR embeds their traces
and the tokens attend to them. (``lm.train.train(examples=...)`` takes
``(prompt, answer)`` pairs only, so it cannot carry the graphs.)

A checkpoint holds the whole model, the NAR's weights included, so a
trained TransNAR loads without the NAR's run folder (:func:`load_transnar`)::

    model, tok = train(LMConfig(n_layer=2, n_embd=64), TrainConfig(
        out_dir="runs/tn", algorithms=("bfs",), lengths=(4, 5), steps=500),
        TransNARConfig(), nar_run="runs/nar")
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import asdict

import torch
import torch.nn.functional as F

from ..lm.config import LMConfig, TrainConfig
from ..lm.model import GPT
from ..lm.tokenizer import CharTokenizer
from ..lm.train import (RESUMABLE_CHANGES, fit, load_checkpoint_weights, make_batch,
                        make_optimizer)
from ..training.runs import Run, checkpoint_at, load_optimizer_state, optimizer_state
from .data import FilePairedExamples, PairedExamples
from .config import TransNARConfig
from .model import TransNAR
from .nar import NAR

MODEL_FORMAT = "openclrs-transnar/1"
TIED = "lm.lm_head.weight"  # shares the token embeddings' tensor


def run_config(lm_cfg: LMConfig, cfg: TrainConfig, xcfg: TransNARConfig,
               tokenizer: CharTokenizer, nar: NAR, nar_run: str | None) -> dict:
    return {"format": MODEL_FORMAT, "model": asdict(lm_cfg), "train": asdict(cfg),
            "transnar": xcfg.to_dict(), "tokenizer": tokenizer.to_dict(),
            "nar": {"run": None if nar_run is None else os.path.abspath(nar_run),
                    "train": nar.train_config}}


def transnar_loss(model: TransNAR, examples, tokenizer: CharTokenizer, device="cpu",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens (and ``<eos>``) of paired
    examples, the tokens reading the NAR's embeddings of their graphs."""
    inputs, targets = make_batch([e[:2] for e in examples], tokenizer,
                                 model.lm.config.block_size, device)
    memory = model.memory(model.embed([e.trace for e in examples]))
    positions = model.lm.default_positions(*inputs.shape, generator=generator)
    logits = model(inputs, memory, positions)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                           ignore_index=-100)


def save_checkpoint(run: Run, step: int, model: TransNAR, tokenizer: CharTokenizer, optimizer,
                    cfg: TrainConfig, state: dict | None = None) -> str:
    weights = {k: v for k, v in model.state_dict().items() if k != TIED}
    tensors, optimizer_json = optimizer_state(optimizer)
    nar = model.nar
    metadata = {"format": MODEL_FORMAT, "model": json.dumps(asdict(model.lm.config)),
                "transnar": json.dumps(model.config.to_dict()),
                "tokenizer": json.dumps(tokenizer.to_dict()),
                "nar": json.dumps({"train": nar.train_config, "pred_as_input": nar.pred_as_input,
                                   "enforce_permutations": nar.enforce_permutations})}
    return run.save(step, weights=weights, metadata=metadata, tensors=tensors,
                    state={"optimizer": optimizer_json, "train": asdict(cfg), **(state or {})})


def model_from_checkpoint(checkpoint, device="cpu") -> tuple[TransNAR, CharTokenizer]:
    """The TransNAR (NAR included) and tokenizer of a verified checkpoint, in eval mode."""
    from ..training.config import TrainConfig as NARTrainConfig
    from ..training.loop import build_model

    meta = checkpoint.metadata
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{checkpoint.path} is not a TransNAR checkpoint "
                         f"(format {meta.get('format')!r})")
    xcfg = TransNARConfig.from_dict(json.loads(meta["transnar"]))
    nar_meta = json.loads(meta["nar"])
    reasoner = build_model(NARTrainConfig.from_dict(nar_meta["train"]))
    nar = NAR(reasoner, pred_as_input=nar_meta["pred_as_input"],
              enforce_permutations=nar_meta["enforce_permutations"], frozen=xcfg.freeze_nar,
              train_config=nar_meta["train"])
    model = TransNAR(GPT(LMConfig.from_dict(json.loads(meta["model"]))), nar, xcfg)
    load_checkpoint_weights(model, checkpoint, tied=TIED)
    model.to(device).eval()
    return model, CharTokenizer.from_dict(json.loads(meta["tokenizer"]))


def load_transnar(path: str, device="cpu") -> tuple[TransNAR, CharTokenizer, dict]:
    """``(model, tokenizer, {"train": settings, "step": step})`` from a run
    folder (its latest checkpoint) or one of its checkpoint folders, verified."""
    checkpoint = checkpoint_at(path)
    if checkpoint is None:
        raise FileNotFoundError(f"{path} is not a TransNAR run folder or checkpoint folder")
    model, tokenizer = model_from_checkpoint(checkpoint, device)
    return model, tokenizer, {"train": checkpoint.state.get("train", {}),
                              "step": checkpoint.step}


def training_source(cfg: TrainConfig):
    """``(examples, cfg)``: paired examples of ``cfg.algorithms`` at
    ``cfg.lengths`` generated on the fly, or of the stored files
    ``cfg.data_files`` (then ``cfg.lengths``, if not given, records theirs)."""
    if cfg.data_files:
        if cfg.lengths:
            raise ValueError("give lengths (examples generated on the fly) or data files, "
                             "not both")
        examples = FilePairedExamples(cfg.data_files, cfg.algorithms, cfg.seed)
        return examples, dataclasses.replace(cfg, lengths=tuple(sorted(examples.lengths)))
    if not cfg.lengths:
        raise ValueError("give lengths (--lengths: examples generated on the fly) or data "
                         "files (--data)")
    return PairedExamples(cfg.algorithms, cfg.lengths, cfg.seed), cfg


def train(lm_cfg: LMConfig, cfg: TrainConfig, xcfg: TransNARConfig, nar_run: str | None = None,
          *, nar: NAR | None = None, nar_checkpoint: str = "best", resume: bool = True,
          tokenizer: CharTokenizer | None = None, log=None) -> tuple[TransNAR, CharTokenizer]:
    """Train (resuming from ``cfg.out_dir``'s latest checkpoint unless
    ``resume=False``) until ``cfg.steps``; returns ``(model, tokenizer)``,
    the losses in ``metrics.jsonl`` and ``model.history``.

    The NAR: the ``nar_checkpoint`` of the ``openclrs train`` run folder
    ``nar_run``, or a :class:`NAR` given as ``nar`` (its weights are
    recorded in every checkpoint either way). Data: ``cfg.algorithms`` at
    ``cfg.lengths``, generated on the fly, or the records of ``cfg.data_files``
    (:func:`training_source`); no hints."""
    log = log or sys.stderr
    if cfg.use_hints:
        raise ValueError("TransNAR trains on the no-trace format: no hints")
    examples, cfg = training_source(cfg)
    if (nar is None) == (nar_run is None):
        raise ValueError("give the reasoner as nar_run (a run folder) or nar (a NAR), one of them")
    if nar is None:
        nar = NAR.from_run(nar_run, nar_checkpoint, frozen=xcfg.freeze_nar)
    if nar.train_config is None:
        raise ValueError("the NAR has no train_config (the reasoner's TrainConfig as a dict), "
                         "which checkpoints need to rebuild it: load it with NAR.from_run")
    tokenizer = tokenizer or CharTokenizer()
    lm_cfg = dataclasses.replace(lm_cfg, vocab_size=tokenizer.vocab_size)
    cfg.check_device()
    missing = sorted(set(cfg.algorithms) - set(nar.reasoner.algorithms))
    if missing:
        raise ValueError(f"the reasoner was trained on {list(nar.reasoner.algorithms)}, "
                         f"not on {missing}")

    run = Run(cfg.out_dir, run_config(lm_cfg, cfg, xcfg, tokenizer, nar, nar_run),
              ignore=RESUMABLE_CHANGES + ("nar.run",), outputs=("eval.json", "eval.png"),
              keep=cfg.keep_checkpoints, log=log)
    with run.session(restart=not resume):
        torch.manual_seed(cfg.seed)
        last = run.load("last")
        if last is None:
            model = TransNAR(GPT(lm_cfg), nar, xcfg).to(cfg.device)
            step, seconds = 0, 0.0
        else:  # every weight from the checkpoint, the NAR's too
            model, tokenizer = model_from_checkpoint(last, cfg.device)
            step, seconds = last.step, last.state.get("train_seconds", 0.0)
            print(f"resuming {cfg.out_dir} from step {step} (the NAR's weights are the "
                  "checkpoint's)", file=log)
        optimizer = make_optimizer(model, cfg)
        if last is not None:
            load_optimizer_state(optimizer, last.tensors, last.state["optimizer"])
        history = fit(run, cfg, model, optimizer, step, seconds,
                      lambda examples, generator: transnar_loss(model, examples, tokenizer,
                                                                cfg.device, generator),
                      lambda step, state: save_checkpoint(run, step, model, tokenizer,
                                                          optimizer, cfg, state),
                      examples, log, desc="transnar")
    model.eval()
    model.history = history
    return model, tokenizer


__all__ = ["MODEL_FORMAT", "load_transnar", "training_source", "model_from_checkpoint", "save_checkpoint",
           "train", "transnar_loss"]
