"""The CLRS-Text LM's configurations: the model's shape (:class:`LMConfig`)
and how to train it (:class:`TrainConfig`). Plain dataclasses (no torch), so
that command-line help and config checks are instant; every bad value is
refused here, before a run folder is made."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

from ..training.config import flag
from .tokenizer import CharTokenizer

# the rotary encodings (openclrs.lm.model.rotary_layout), then the others
ROTARY_ENCODINGS = ("rope", "p-rope", "reversed-p-rope", "partial-rope")
POS_ENCODINGS = ("learned", *ROTARY_ENCODINGS, "none", "random")
RANDOM_BASES = (*ROTARY_ENCODINGS, "learned")
# p-rope's number of rotated pairs: "floor" is int(p * head_size // 2), as the
# paper's appendix code and Gemma's rope_proportion; "round" is
# round(p * head_size / 2), what openclrs did before the rule was recorded
# (configs saved without the field load with it, so old checkpoints keep
# their behaviour)
P_ROPE_ROUNDINGS = ("floor", "round")


def _named(config, name: str) -> str:
    """A setting as messages name it: the field and its command-line flag."""
    return f"{name} ({flag(type(config), name)})"


def _option(help_text: str, default=dataclasses.MISSING, **meta):
    """A field whose ``metadata`` describes its command-line option
    (:func:`openclrs.cli.arguments.add_dataclass_arguments`)."""
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"help": help_text, **meta}, **factory)


@dataclass
class LMConfig:
    """The model's shape and positional encoding."""

    vocab_size: int = _option("tokens (the tokenizer's)", CharTokenizer().vocab_size, cli=False)
    n_layer: int = _option("Transformer blocks", 4)
    n_head: int = _option("attention heads", 4)
    n_embd: int = _option("width of the token states", 128)
    block_size: int = _option("longest training sequence in characters; learned: positions",
                              2048)
    dropout: float = _option("dropout probability while training", 0.0)
    bias: bool = _option("biases in the linear layers and LayerNorms", False)
    pos_encoding: str = _option("positional encoding", "rope", choices=POS_ENCODINGS)
    rope_base: float = _option("RoPE base", 10000.0)
    p_rope: float = _option("p-rope: fraction of the frequency pairs rotated, the highest "
                            "(reversed-p-rope: the lowest)", 0.75, flag="p-rope")
    rotary_fraction: float = _option("partial-rope: fraction of each head's channels rotated, "
                                     "frequencies over that width (GPT-NeoX's rotary_pct)", 0.25)
    p_rope_rounding: str = _option("p-rope, reversed-p-rope: rotated pairs = floor(p*d/2) "
                                   "(the paper's) or round(p*d/2) (older openclrs)", "floor",
                                   choices=P_ROPE_ROUNDINGS, cli=False)
    max_random_position: int = _option("random: positions are drawn from [0, this)", 2048)
    random_base: str = _option("random: the encoding the random positions feed", "rope",
                               choices=RANDOM_BASES)

    def __post_init__(self):
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"{_named(self, 'pos_encoding')} must be one of {POS_ENCODINGS}, "
                             f"got {self.pos_encoding!r}")
        if self.random_base not in RANDOM_BASES:
            raise ValueError(f"{_named(self, 'random_base')} must be one of {RANDOM_BASES}, "
                             f"got {self.random_base!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"{_named(self, 'n_embd')}={self.n_embd} is not a multiple of "
                             f"{_named(self, 'n_head')}={self.n_head}")
        if self.uses_rotary and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"rotary encodings need an even head size ({_named(self, 'n_embd')} / "
                             f"{_named(self, 'n_head')} = {self.n_embd // self.n_head})")
        for name in ("p_rope", "rotary_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{_named(self, name)} must be in [0, 1], "
                                 f"got {getattr(self, name)}")
        if self.p_rope_rounding not in P_ROPE_ROUNDINGS:
            raise ValueError(f"p_rope_rounding must be one of {P_ROPE_ROUNDINGS}, "
                             f"got {self.p_rope_rounding!r}")
        if self.encoding == "partial-rope" and self.n_embd % self.n_head == 0:
            width = int(self.rotary_fraction * (self.n_embd // self.n_head))
            if width % 2:
                raise ValueError(
                    f"partial-rope rotates int({_named(self, 'rotary_fraction')} * head size "
                    f"{self.n_embd // self.n_head}) = {width} channels, which must be even: "
                    "choose another fraction")
        if min(self.n_layer, self.n_head, self.n_embd, self.block_size, self.vocab_size,
               self.max_random_position) < 1:
            raise ValueError("sizes must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{_named(self, 'dropout')} must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(self.rope_base) and self.rope_base > 1.0):
            raise ValueError(f"{_named(self, 'rope_base')} must be a finite number above 1, "
                             f"got {self.rope_base}")

    @property
    def encoding(self) -> str:
        """What the positions feed: ``pos_encoding``, or ``random_base`` for random."""
        return self.random_base if self.pos_encoding == "random" else self.pos_encoding

    @property
    def uses_rotary(self) -> bool:
        return self.encoding in ROTARY_ENCODINGS

    @property
    def max_positions(self) -> int | None:
        """Positions the model can take (``None``: any)."""
        if self.pos_encoding == "random":
            return self.max_random_position
        return self.block_size if self.pos_encoding == "learned" else None

    @classmethod
    def from_dict(cls, data: dict) -> "LMConfig":
        """The config a saved ``asdict(config)`` describes. A dict without
        ``p_rope_rounding`` was saved before openclrs followed the paper's
        rule: it gets ``"round"``, the rule its model was trained with."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown LMConfig fields {sorted(unknown)}")
        return cls(**{"p_rope_rounding": "round", **data})


@dataclass
class TrainConfig:
    """How to train (the model's shape is :class:`LMConfig`)."""

    out_dir: str = _option("run folder (config.json, metrics.jsonl, checkpoints/)",
                           "runs/clrs_text_lm", flag="out", required=True)
    algorithms: tuple = _option("algorithms to train on", ("minimum",), metavar="ALGO",
                                required=True)
    lengths: tuple = _option("train lengths of every algorithm (examples generated on the "
                             "fly); or give --data", (), metavar="N")
    data_files: tuple = _option("JSONL files or folders of them, instead of on-the-fly examples",
                                (), flag="data", metavar="PATH")
    use_hints: bool = _option("answers spell out the algorithm's trace", False, flag="hints")
    steps: int = _option("optimizer steps", 2000)
    batch_size: int = _option("examples per step", 32)
    learning_rate: float = _option("peak learning rate", 1e-3, flag="lr")
    min_lr: float | None = _option("final learning rate (default: lr / 10)", None)
    warmup_steps: int = _option("linear warmup steps", 100, flag="warmup")
    weight_decay: float = _option("AdamW weight decay (matrices only)", 0.1)
    beta1: float = _option("AdamW beta1", 0.9)
    beta2: float = _option("AdamW beta2", 0.99)
    grad_clip: float = _option("clip gradients to this global norm (0: off)", 1.0)
    seed: int = _option("seed of the data, initialisation and noise", 0)
    checkpoint_every: int = _option("steps between checkpoints", 500)
    keep_checkpoints: int = _option("newest checkpoints kept", 1)
    log_every: int = _option("steps between metrics.jsonl records", 10)
    threads: int | None = _option("torch CPU threads (default: torch's)", None)
    device: str = _option("torch device: cpu, cuda, cuda:N, mps", "cpu")
    progress: bool = _option("progress bar", True, cli=False)

    def __post_init__(self):
        self.algorithms = tuple(self.algorithms)
        self.lengths = tuple(int(n) for n in self.lengths)
        self.data_files = tuple(self.data_files)
        if self.min_lr is None:
            self.min_lr = self.learning_rate / 10
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{_named(self, name)} must be a positive integer, got {value!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) \
                or self.warmup_steps < 0:
            raise ValueError(f"{_named(self, 'warmup_steps')} must be a whole number >= 0, "
                             f"got {self.warmup_steps!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"{_named(self, 'learning_rate')} must be a positive finite number, "
                             f"got {self.learning_rate}")
        if not (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.learning_rate):
            raise ValueError(f"{_named(self, 'min_lr')} must be in "
                             f"[0, learning_rate={self.learning_rate}], got {self.min_lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"{_named(self, 'weight_decay')} must be a finite number >= 0, "
                             f"got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{_named(self, name)} must be in [0, 1), "
                                 f"got {getattr(self, name)}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"{_named(self, 'grad_clip')} must be a finite number >= 0 "
                             f"(0: no clipping), got {self.grad_clip}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"{_named(self, 'threads')} must be positive, got {self.threads}")

    def check_device(self) -> None:
        """Refuse a device this machine does not have (imports torch)."""
        from ..devices import check_device

        check_device(self.device, "device (--device)")

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
