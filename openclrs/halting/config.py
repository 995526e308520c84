"""How a reasoner decides when it is done: :class:`HaltingConfig`.

Plain data (no torch), so that ``openclrs train --help`` stays instant. A
halting run saves it in its ``config.json`` under ``"halting"``; the run's
config check covers it, and ``openclrs evaluate`` rebuilds the model from it.
Each field's ``metadata`` is what the command line turns into an option
(``--halting-lambda-p`` ...); ``kind`` is ``openclrs train --halting``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

KINDS = ("learned", "termination")
EVALUATIONS = ("threshold", "sample")
TRUNCATIONS = ("last", "renormalise")


def _setting(default, help: str, **cli):
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class HaltingConfig:
    """Learned halting of a reasoner (see :mod:`openclrs.halting.reasoner`)."""

    kind: str = _setting("learned", "learned: PonderNet over processor steps; termination: "
                                    "a NEGA-style head trained with BCE on the last step",
                         cli=False)
    max_steps_factor: float = _setting(
        5.0, "cap on processor steps: ceil(factor * n) for graphs of n nodes (evaluation; "
             "training unrolls at most this, and never less than the trace)",
        flag="halting-cap-factor")
    lambda_p: float = _setting(0.2, "PonderNet: the geometric prior's lambda_p (mean 1/lambda_p "
                                    "steps)", flag="halting-lambda-p")
    beta: float = _setting(0.01, "PonderNet: weight of KL(p || prior)", flag="halting-beta")
    epsilon: float = _setting(0.05, "PonderNet: training unrolls until every sample's "
                                    "cumulative halting probability exceeds 1 - epsilon",
                              flag="halting-epsilon")
    initial_lambda: float = _setting(0.2, "the head's halting probability at initialisation",
                                     flag="halting-initial-lambda")
    truncate: str = _setting("last", "PonderNet: the mass past the unroll goes to the last "
                                     "step ('last') or p is renormalised",
                             flag="halting-truncate", choices=TRUNCATIONS)
    evaluation: str = _setting("threshold", "PonderNet at evaluation: halt at the first step whose "
                                            "cumulative halting probability reaches the "
                                            "threshold, or sample Bernoulli(lambda_n)",
                               flag="halting-evaluation", choices=EVALUATIONS)
    threshold: float = _setting(0.5, "halt when the cumulative halting probability "
                                     "(learned) or sigma(logit) (termination) passes this",
                                flag="halting-threshold")
    sample_seed: int = _setting(0, "seed of the Bernoulli draws of --halting-evaluation sample",
                                flag="halting-sample-seed")

    def validate(self) -> "HaltingConfig":
        def bad(name, what):
            meta = {f.name: f.metadata for f in dataclasses.fields(self)}[name]
            option = "--halting" if name == "kind" else "--" + meta.get("flag", name)
            raise ValueError(f"halting {name} ({option}) {what}")

        if self.kind not in KINDS:
            bad("kind", f"must be one of {KINDS}, got {self.kind!r}")
        if self.truncate not in TRUNCATIONS:
            bad("truncate", f"must be one of {TRUNCATIONS}, got {self.truncate!r}")
        if self.evaluation not in EVALUATIONS:
            bad("evaluation", f"must be one of {EVALUATIONS}, got {self.evaluation!r}")
        for name, low, high, closed in (("lambda_p", 0, 1, False), ("epsilon", 0, 1, False),
                                        ("initial_lambda", 0, 1, False),
                                        ("threshold", 0, 1, False)):
            value = getattr(self, name)
            ok = _number(value) and low < value and (value <= high if closed else value < high)
            if not ok:
                bad(name, f"must lie in ({low}, {high}{']' if closed else ')'}, got {value!r}")
        if not _number(self.beta) or not (math.isfinite(self.beta) and self.beta >= 0):
            bad("beta", f"must be a finite number >= 0, got {self.beta!r}")
        if not _number(self.max_steps_factor) or not (math.isfinite(self.max_steps_factor)
                                                      and self.max_steps_factor > 0):
            bad("max_steps_factor", f"must be a finite number > 0, got {self.max_steps_factor!r}")
        if isinstance(self.sample_seed, bool) or not isinstance(self.sample_seed, int) \
                or self.sample_seed < 0:
            bad("sample_seed", f"must be an integer >= 0, got {self.sample_seed!r}")
        return self

    def cap(self, nodes: int) -> int:
        """The most processor steps a sample of ``nodes`` nodes may take."""
        return max(1, math.ceil(self.max_steps_factor * nodes))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "HaltingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown halting settings {unknown}")
        return cls(**data).validate()


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
