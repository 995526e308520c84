"""The CLRS-Text LM's configurations: the model's shape (:class:`LMConfig`)
and how to train it (:class:`TrainConfig`). Plain dataclasses (no torch), so
that command-line help and config checks are instant; every bad value is
refused here, before a run folder is made."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .tokenizer import CharTokenizer

POS_ENCODINGS = ("learned", "rope", "p-rope", "none", "random")
RANDOM_BASES = ("rope", "p-rope", "learned")


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
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(self.rope_base) and self.rope_base > 1.0):
            raise ValueError(f"rope_base must be a finite number above 1, got {self.rope_base}")

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


@dataclass
class TrainConfig:
    """How to train (the model's shape is :class:`LMConfig`)."""

    out_dir: str = "runs/clrs_text_lm"
    algorithms: tuple = ("minimum",)
    lengths: tuple = (4, 5)           # train lengths, every algorithm
    data_files: tuple = ()            # JSONL shards; empty: generate on the fly
    use_hints: bool = False
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0            # global norm; 0 disables
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 1
    log_every: int = 10
    threads: int | None = None        # torch CPU threads (default: torch's)
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        self.algorithms = tuple(self.algorithms)
        self.lengths = tuple(int(n) for n in self.lengths)
        self.data_files = tuple(self.data_files)
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) \
                or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a whole number >= 0, got {self.warmup_steps!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive finite number, "
                             f"got {self.learning_rate}")
        if not (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.learning_rate):
            raise ValueError(f"min_lr must be in [0, learning_rate={self.learning_rate}], "
                             f"got {self.min_lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"grad_clip must be a finite number >= 0 (0: no clipping), "
                             f"got {self.grad_clip}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive, got {self.threads}")

    def check_device(self) -> None:
        """Refuse a device this machine does not have (imports torch)."""
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"device {self.device!r} asked for but CUDA is not available "
                                 "on this machine; use --device cpu")

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
