"""How to train a reasoner: :class:`TrainConfig` (with the model's
:class:`~openclrs.models.config.ModelConfig` nested as ``config.model``).

Plain dataclasses, importable without torch, so that ``openclrs train
--help`` and config checks are instant. Each field's ``metadata`` (help
text, flag name, choices) is what :func:`openclrs.cli.arguments.add_dataclass_arguments`
turns into the command line's options, so a setting is declared once.

The defaults are the recipe of Ibarz et al. (2022), "A Generalist Neural
Algorithmic Learner" (the published ``examples/run.py``); see
:mod:`openclrs.training.loop`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..specs import SALSA_SPECS, check_algorithm
from ..models.config import ModelConfig


def setting(default=dataclasses.MISSING, help: str = "", *, factory=None, **cli):
    """A dataclass field with its command-line description in ``metadata``
    (keys as :func:`openclrs.cli.arguments.add_dataclass_arguments` reads them)."""
    metadata = {"help": help, **cli}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def flag(cls, name: str) -> str:
    """The command-line option of field ``name`` of ``cls`` (for messages)."""
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return "--" + meta.get("flag", name.replace("_", "-"))


VAL_SETS = ("sampled", "canonical")


@dataclass
class TrainConfig:
    """One training run (the defaults: the published recipe)."""

    algorithms: list[str] = setting(
        factory=lambda: ["bfs"], cli=False,
        help="algorithms to train on: one shared model, one Adam update per algorithm")
    out_dir: str = setting("runs/bfs", "run folder (created when training starts)",
                           flag="out", metavar="DIR")
    steps: int = setting(10_000, "training steps")
    batch_size: int = setting(32, "samples per algorithm per step")
    learning_rate: float = setting(1e-3, "Adam learning rate", flag="lr")
    grad_clip: float = setting(1.0, "clip gradients to this global norm (0: no clipping)")
    seed: int = setting(42, "seed of the initial weights and of every step's data")
    model: ModelConfig = setting(factory=ModelConfig, title="model",
                                 help="the reasoner (ModelConfig)")
    # data
    train_lengths: list[int] | None = setting(
        None, "train lengths (default: 4 7 11 13 16; string matchers 20)", metavar="N")
    random_pos: bool = setting(True, "randomize the pos input (as published)")
    enforce_permutations: bool = setting(
        True, "decode permutation pointers as permutations (as published)")
    pred_as_input: bool = setting(
        True, "give the 'pred' hint of sorting algorithms as an input (as published)")
    sparse: bool = setting(
        False, "train on SALSA-CLRS's graphs in the sparse format (Erdos-Renyi, n drawn from "
               "the train lengths per graph; validation at the largest), the model run on "
               "edge lists (openclrs.training.sparse_train)")
    # evaluation
    eval_every: int = setting(50, "validate (and checkpoint) every this many steps")
    test_every: int = setting(500, "test every this many steps (0: at the end only), on the "
                                   "canonical n=64 split (SALSA-CLRS's own algorithms: SALSA's "
                                   "er_80 graphs)")
    val_set: str = setting("sampled", "validation set: 'sampled' as published run.py, "
                                      "or the stored 'canonical' val split", choices=VAL_SETS)
    eval_batch_size: int = setting(32, "batch size of validation and test")
    max_memory: int | None = setting(
        None, "memory budget of validation and test, e.g. 2G: batches run in chunks of "
              "samples that fit it, with the same scores (default: half the available memory)",
        metavar="SIZE")
    log_every: int = setting(10, "log the train loss every this many steps")
    data_root: str | None = setting(None, "stored datasets (default: $OPENCLRS_DATA_DIR)",
                                    metavar="DIR")
    # devices
    device: str = setting("cpu", "cpu, cuda, cuda:1, ...")
    bf16: bool = setting(False, "bfloat16 autocast")
    compile: bool = setting(False, "torch.compile the per-step modules (Reasoner.compile)")
    progress: bool = setting(True, "progress bar", cli=False)

    # settings a resumed run may change (how long, where, how fast, how often it reports)
    RESUMABLE_CHANGES = ("steps", "progress", "device", "data_root", "out_dir", "compile",
                         "test_every", "eval_every", "log_every", "max_memory")

    def validate(self) -> "TrainConfig":
        """Check every setting (before anything is written); returns self."""
        def bad(name, what):
            raise ValueError(f"{name} ({flag(TrainConfig, name)}) {what}")

        if isinstance(self.algorithms, str):
            self.algorithms = [self.algorithms]
        self.algorithms = list(self.algorithms)
        if not self.algorithms:
            raise ValueError("no algorithm to train on: give --algorithm or --algorithms")
        if not isinstance(self.sparse, bool):
            bad("sparse", f"must be true or false, got {self.sparse!r}")
        if self.sparse:  # CLRS's graph algorithms and SALSA-CLRS's own
            from .sparse_train import check_algorithms

            check_algorithms(self.algorithms)
        else:
            for a in self.algorithms:
                if a in SALSA_SPECS:  # no CLRS sampler draws its inputs
                    bad("sparse", f"is needed to train {a}, one of SALSA-CLRS's own "
                                  "algorithms: they run on SALSA's sparse graphs only")
            self.algorithms = [check_algorithm(a) for a in self.algorithms]
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError(f"repeated algorithm in {self.algorithms}")
        for name in ("steps", "batch_size", "eval_every", "eval_batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad(name, f"must be a positive integer, got {value!r}")
        if isinstance(self.test_every, bool) or not isinstance(self.test_every, int) \
                or self.test_every < 0:
            bad("test_every", f"must be an integer >= 0, got {self.test_every!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) \
                or not 0 <= self.seed < 2 ** 32:
            bad("seed", f"must be an integer in [0, 2**32), got {self.seed!r}")
        if not _number(self.learning_rate) or not (math.isfinite(self.learning_rate)
                                                   and self.learning_rate > 0):
            bad("learning_rate", f"must be a finite number > 0, got {self.learning_rate!r}")
        if not _number(self.grad_clip) or not (math.isfinite(self.grad_clip)
                                               and self.grad_clip >= 0):
            bad("grad_clip", f"must be a finite number >= 0 (0: no clipping), "
                             f"got {self.grad_clip!r}")
        if self.train_lengths is not None:
            self.train_lengths = list(self.train_lengths)
            if not self.train_lengths or any(isinstance(n, bool) or not isinstance(n, int)
                                             or n < 1 for n in self.train_lengths):
                bad("train_lengths", f"must be positive integers, got {self.train_lengths!r}")
        if self.max_memory is not None and (isinstance(self.max_memory, bool) or not isinstance(
                self.max_memory, int) or self.max_memory < 1):
            bad("max_memory", f"must be a number of bytes > 0 (or None: half the available "
                              f"memory), got {self.max_memory!r}")
        if self.val_set not in VAL_SETS:
            bad("val_set", f"must be one of {VAL_SETS}, got {self.val_set!r}")
        if not isinstance(self.out_dir, str) or not self.out_dir:
            bad("out_dir", f"must name a folder, got {self.out_dir!r}")
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        self.model.validate()  # a bad processor, hidden size, head count, dropout ...
        if not isinstance(self.device, str) or not self.device:
            bad("device", f"must name a device, got {self.device!r}")
        from ..devices import check_device

        check_device(self.device, f"device ({flag(TrainConfig, 'device')})")
        return self

    def lengths(self, algorithm: str) -> tuple[int, ...]:
        """The train lengths of ``algorithm`` (see :func:`openclrs.transforms.train_lengths`)."""
        from .. import transforms

        if self.train_lengths:
            return transforms.train_lengths(algorithm, tuple(self.train_lengths))
        return transforms.train_lengths(algorithm)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not self.sparse:  # runs from before the option had no such key: they still resume
            del data["sparse"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """The config :meth:`to_dict` wrote (unknown keys refused)."""
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig settings {unknown}")
        if isinstance(data.get("model"), dict):
            model_known = {f.name for f in dataclasses.fields(ModelConfig)}
            unknown = sorted(set(data["model"]) - model_known)
            if unknown:
                raise ValueError(f"unknown ModelConfig settings {unknown}")
            data["model"] = ModelConfig(**data["model"])
        return cls(**data)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
