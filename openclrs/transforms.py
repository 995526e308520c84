"""Training-data options of "A Generalist Neural Algorithmic Learner".

(Ibarz et al., 2022.) Each option rewrites a trace and, where it changes the
probes, the spec that goes with it:

* :func:`randomize_pos` replaces the evenly spaced ``pos`` input with sorted
  uniform random values (per string for the string algorithms), so models
  cannot lean on the exact positions seen in training;
* :func:`pred_hint_to_input` turns the ``pred_h`` hint of algorithms that never
  change it into a ``pred`` input;
* :func:`enforce_permutation` turns ``should_be_permutation`` outputs into a
  ``permutation_pointer`` (cyclic predecessors: the first node points to the
  last) plus a ``mask_one`` named ``<name>_mask`` marking the first node; with
  ``enforce=False`` they become plain pointers.

:func:`training_spec` and :func:`apply` compose them in the published order.
Permutation pointers stay index arrays, like every other pointer here; the
published package hands them to models as one-hot matrices instead.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .probes import Trace
from .specs import Location, Stage, Type

# Algorithms whose pred_h hint is the same at every step (the published list).
PRED_AS_INPUT_ALGOS = (
    "binary_search", "minimum", "find_maximum_subarray",
    "find_maximum_subarray_kadane", "matrix_chain_order", "lcs_length",
    "optimal_bst", "activity_selector", "task_scheduling",
    "naive_string_matcher", "kmp_matcher", "jarvis_march",
)

# The generalist recipe's train lengths and edge probabilities.
DEFAULT_TRAIN_LENGTHS = (4, 7, 11, 13, 16)
GENERALIST_P = tuple(0.1 + 0.1 * i for i in range(9))
# Sparser graphs for these, or their traces get very long.
HALF_P_ALGOS = ("articulation_points", "bridges", "mst_kruskal", "bipartite_matching")
STRING_MATCHERS = ("naive_string_matcher", "kmp_matcher")


def permutation_probes(name: str, stage, location, enforce_permutations: bool) -> dict:
    """The spec entries a node ``should_be_permutation`` probe becomes: a
    permutation pointer and the ``<name>_mask`` of its first node, or (not
    enforced) a plain pointer."""
    if enforce_permutations:
        return {name: (stage, location, Type.PERMUTATION_POINTER),
                name + "_mask": (stage, location, Type.MASK_ONE)}
    return {name: (stage, location, Type.POINTER)}


def training_spec(algorithm: str, *, pred_as_input: bool = True,
                  enforce_permutations: bool = True):
    """The spec of ``algorithm`` (a CLRS algorithm or one of SALSA-CLRS's
    own, :func:`openclrs.sparse.spec_of`) after :func:`apply` with the same
    options."""
    from .sparse import spec_of

    spec = {}
    for name, (stage, location, type_) in spec_of(algorithm).items():
        if name == "pred_h" and pred_as_input and algorithm in PRED_AS_INPUT_ALGOS:
            spec["pred"] = (Stage.INPUT, location, Type.POINTER)
        elif type_ == Type.SHOULD_BE_PERMUTATION and location == Location.NODE:
            spec.update(permutation_probes(name, stage, location, enforce_permutations))
        else:
            spec[name] = (stage, location, type_)
    return MappingProxyType(spec)


def randomize_pos(trace: Trace, rng: np.random.RandomState) -> Trace:
    """``trace`` with :func:`random_positions` for its ``pos``."""
    return _replace(trace, inputs={**trace.inputs,
                                   "pos": random_positions(trace.inputs["pos"], rng)})


def random_positions(pos: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Sorted U[0, 1) positions in place of ``pos``; each run that starts at
    a zero ``pos`` (one per string for the string algorithms) is sorted on
    its own. Dense and sparse traces alike."""
    n = len(pos)
    values = rng.uniform(size=n)
    starts = np.flatnonzero(pos == 0).tolist() + [n]
    return np.concatenate([np.sort(values[a:b]) for a, b in zip(starts, starts[1:])])


def pred_hint_to_input(trace: Trace) -> Trace:
    """Move a constant ``pred_h`` hint to a ``pred`` input."""
    if "pred_h" not in trace.hints or trace.algorithm not in PRED_AS_INPUT_ALGOS:
        return trace
    pred_h = trace.hints["pred_h"]
    if not np.all(pred_h == pred_h[:1]):
        raise ValueError(f"{trace.algorithm}: pred_h changes over time; cannot be an input")
    inputs = dict(trace.inputs)
    inputs["pred"] = pred_h[0]
    hints = {k: v for k, v in trace.hints.items() if k != "pred_h"}
    spec = {("pred" if k == "pred_h" else k): ((Stage.INPUT, v[1], v[2]) if k == "pred_h" else v)
            for k, v in trace.spec.items()}
    return _replace(trace, inputs=inputs, hints=hints, spec=spec)


def cyclic_predecessors(pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predecessor pointers of a linear order -> (cyclic pointers, first-node
    one-hot). The first node (the one pointing to itself) points to the last
    (the one nobody points to)."""
    n = len(pred)
    pointed = np.bincount(pred, minlength=n)
    last = int(np.argmin(pointed))
    first = int(np.argmax(pred == np.arange(n)))
    cyclic = pred.copy()
    cyclic[first] = last
    mask = np.zeros(n)
    mask[first] = 1.0
    return cyclic, mask


def enforce_permutation(trace: Trace, enforce: bool = True) -> Trace:
    stores = {Stage.INPUT: dict(trace.inputs), Stage.HINT: dict(trace.hints),
              Stage.OUTPUT: dict(trace.outputs)}
    spec = {}
    for name, (stage, location, type_) in trace.spec.items():
        if type_ != Type.SHOULD_BE_PERMUTATION or location != Location.NODE:
            spec[name] = (stage, location, type_)
        elif not enforce:
            spec[name] = (stage, location, Type.POINTER)
        else:
            if stage == Stage.HINT:
                pairs = [cyclic_predecessors(p) for p in stores[stage][name]]
                cyclic, mask = np.stack([c for c, _ in pairs]), np.stack([m for _, m in pairs])
            else:
                cyclic, mask = cyclic_predecessors(stores[stage][name])
            stores[stage][name] = cyclic
            stores[stage][name + "_mask"] = mask
            spec[name] = (stage, location, Type.PERMUTATION_POINTER)
            spec[name + "_mask"] = (stage, location, Type.MASK_ONE)
    return _replace(trace, inputs=stores[Stage.INPUT], hints=stores[Stage.HINT],
                    outputs=stores[Stage.OUTPUT], spec=spec)


def apply(trace: Trace, *, rng: np.random.RandomState | None = None,
          random_pos: bool = False, pred_as_input: bool = True,
          enforce_permutations: bool = True) -> Trace:
    """All options in the published order: pos, pred-as-input, permutations."""
    if random_pos:
        if rng is None:
            raise ValueError("random_pos needs an rng")
        trace = randomize_pos(trace, rng)
    if pred_as_input:
        trace = pred_hint_to_input(trace)
    return enforce_permutation(trace, enforce_permutations)


def generalist_sampler_kwargs(algorithm: str) -> dict:
    """Sampler options of the generalist recipe: edge probabilities drawn
    from 0.1..0.9 (halved for the algorithms in ``HALF_P_ALGOS``) and random
    needle lengths up to 8 for the string matchers; only the options the
    algorithm's sampler accepts."""
    from .samplers import sampler_options

    options = sampler_options(algorithm)
    kwargs = {}
    if "p" in options:
        p = GENERALIST_P
        kwargs["p"] = tuple(np.array(p) / 2) if algorithm in HALF_P_ALGOS else p
    if "length_needle" in options:
        kwargs["length_needle"] = -8
    return kwargs


def train_lengths(algorithm: str, lengths=DEFAULT_TRAIN_LENGTHS) -> tuple[int, ...]:
    """Train lengths of the generalist recipe: the string matchers train at a
    single total length of 5/4 of the largest, their needle length varying."""
    if algorithm in STRING_MATCHERS:
        return ((max(lengths) * 5) // 4,)
    return tuple(lengths)


def _replace(trace: Trace, *, inputs=None, hints=None, outputs=None, spec=None) -> Trace:
    spec = MappingProxyType(dict(spec)) if spec is not None else trace.spec
    # Keep every store in spec order, so features line up across samples.
    stores = {Stage.INPUT: inputs if inputs is not None else trace.inputs,
              Stage.HINT: hints if hints is not None else trace.hints,
              Stage.OUTPUT: outputs if outputs is not None else trace.outputs}
    ordered = {s: {} for s in stores}
    for name, (stage, _, _) in spec.items():
        ordered[stage][name] = stores[stage][name]
    return Trace(trace.algorithm, ordered[Stage.INPUT], ordered[Stage.HINT],
                 ordered[Stage.OUTPUT], spec)
