"""The parity benchmark's settings (:class:`ParityConfig`): plain data, no
torch, so that ``openclrs ponder train --help`` is instant and every bad
value is refused before a run folder is made."""

from __future__ import annotations

from dataclasses import dataclass, field

METHODS = ("ponder", "act", "fixed")
ONES = ("positive", "nonzero")           # what "the number of ones" counts (see parity.py)
EVAL_HALTING = ("sample", "threshold")   # PonderNet's evaluation rule


def _option(help_text: str, default, **meta):
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"help": help_text, **meta}, **factory)


@dataclass
class ParityConfig:
    """One parity run: the task, the model, the method and its training."""

    out: str = _option("run folder (config.json, metrics.jsonl, checkpoints/, results.json)",
                       "runs/parity", required=True)
    task: str = _option("the task", "parity", choices=("parity",))
    method: str = _option("ponder (PonderNet), act (Graves' ACT) or fixed (a fixed number of "
                          "RNN steps)", "ponder", choices=METHODS)
    size: int = _option("elements per input vector", 16)
    train_nonzeros: tuple[int, ...] = _option(
        "LO HI: training vectors have LO..HI non-zero entries (default 1..size)", (),
        metavar="N")
    test_nonzeros: tuple[int, ...] = _option(
        "LO HI: evaluation range (default: the training range; above it: extrapolation)", (),
        metavar="N")
    ones: str = _option("the target is the parity of the count of +1 entries (positive, as "
                        "the public implementations) or of all non-zero entries", "positive",
                        choices=ONES)
    hidden: int = _option("tanh units of the RNN cell", 128)
    lr: float = _option("Adam learning rate", 3e-4)
    lr_decay_steps: int = _option("cosine decay of the learning rate from --lr to --final-lr "
                                  "over this many steps, then constant (0: constant --lr, the "
                                  "paper's parity setting)", 0)
    final_lr: float = _option("the learning rate at the end of --lr-decay-steps", 3e-4)
    batch: int = _option("batch size", 128)
    max_steps: int = _option("N: the most steps the RNN may ponder (ponder, act)", 20)
    beta: float = _option("ponder: weight of KL(p || geometric prior)", 0.01)
    lambda_p: float = _option("ponder: the geometric prior's halting probability (mean "
                              "1/lambda_p steps)", 0.2)
    epsilon: float = _option("ponder: training unrolls until the cumulative halting "
                             "probability of every sample exceeds 1 - epsilon (0: always "
                             "max_steps)", 0.05)
    eval_halting: str = _option("ponder: halt at a Bernoulli(lambda) draw (sample, the paper's) "
                                "or where the cumulative p reaches 0.5 (threshold)", "sample",
                                choices=EVAL_HALTING)
    tau: float = _option("act: weight of the ponder cost", 1e-3)
    act_epsilon: float = _option("act: halt once the halting units sum to 1 - this", 0.01)
    fixed_steps: int = _option("fixed: the RNN steps before the output", 1)
    grad_clip: float = _option("clip the gradient norm at this (0: off; the paper says nothing)",
                               0.0)
    steps: int = _option("optimizer steps", 20000)
    seed: int = _option("seed of the weights and the training batches", 0)
    eval_seed: int = _option("seed of the evaluation set (the same for every run, so methods "
                             "are compared on the same vectors)", 1234)
    eval_samples: int = _option("evaluation vectors per number of non-zeros", 256)
    eval_every: int = _option("steps between evaluations logged to metrics.jsonl (0: only at "
                              "the end)", 1000)
    log_every: int = _option("steps between training records in metrics.jsonl", 100)
    checkpoint_every: int = _option("steps between checkpoints", 1000)
    threads: int | None = _option("torch CPU threads (default: torch's)", None)
    device: str = _option("torch device: cpu, cuda, cuda:N, mps", "cpu")
    progress: bool = _option("progress bar", True, cli=False)

    def __post_init__(self):
        for name in ("size", "hidden", "batch", "max_steps", "fixed_steps", "steps",
                     "eval_samples", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} (--{name.replace('_', '-')}) must be a positive whole "
                                 f"number; got {value!r}")
        self.train_nonzeros = tuple(self.train_nonzeros) or (1, self.size)
        self.test_nonzeros = tuple(self.test_nonzeros) or self.train_nonzeros
        if self.eval_every < 0:
            raise ValueError(f"eval_every (--eval-every) must be >= 0; got {self.eval_every}")
        for name in ("train_nonzeros", "test_nonzeros"):
            pair = getattr(self, name)
            if len(pair) != 2 or not 1 <= pair[0] <= pair[1] <= self.size:
                raise ValueError(f"{name} (--{name.replace('_', '-')}) must be LO HI with "
                                 f"1 <= LO <= HI <= size ({self.size}); got {list(pair)}")
        if self.method not in METHODS:
            raise ValueError(f"method (--method) must be one of {METHODS}; got {self.method!r}")
        if self.ones not in ONES:
            raise ValueError(f"ones (--ones) must be one of {ONES}; got {self.ones!r}")
        if self.eval_halting not in EVAL_HALTING:
            raise ValueError(f"eval_halting (--eval-halting) must be one of {EVAL_HALTING}; "
                             f"got {self.eval_halting!r}")
        if not 0 < self.lambda_p < 1:
            raise ValueError(f"lambda_p (--lambda-p) must lie in (0, 1); got {self.lambda_p}")
        if not 0 <= self.epsilon < 1 or not 0 <= self.act_epsilon < 1:
            raise ValueError("epsilon (--epsilon) and act_epsilon (--act-epsilon) must lie in "
                             f"[0, 1); got {self.epsilon}, {self.act_epsilon}")
        if isinstance(self.lr_decay_steps, bool) or not isinstance(self.lr_decay_steps, int) \
                or self.lr_decay_steps < 0:
            raise ValueError("lr_decay_steps (--lr-decay-steps) must be a whole number >= 0; "
                             f"got {self.lr_decay_steps!r}")
        for name in ("lr", "final_lr", "beta", "tau", "grad_clip"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} (--{name.replace('_', '-')}) must be >= 0; "
                                 f"got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads (--threads) must be positive; got {self.threads}")

    def learning_rate(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (1-based): ``lr``, or
        with ``lr_decay_steps`` = D > 0, final + (lr − final)·½(1 + cos(π·min(step − 1, D)/D)):
        ``lr`` at step 1, ``final_lr`` from step D + 1 on. A function of the
        step only, so a resumed run follows the same schedule and ``steps``
        can grow without changing it."""
        if not self.lr_decay_steps:
            return self.lr
        import math

        t = min(step - 1, self.lr_decay_steps) / self.lr_decay_steps
        return self.final_lr + (self.lr - self.final_lr) * 0.5 * (1 + math.cos(math.pi * t))

    @property
    def unroll(self) -> int:
        """The most steps a forward pass takes."""
        return self.fixed_steps if self.method == "fixed" else self.max_steps
