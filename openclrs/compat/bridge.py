"""From the published batch format to openclrs' own: feed batches made with
the compat API to openclrs' models, metrics and tools."""

from __future__ import annotations

import types

import numpy as np

from ..data.batching import Batch
from ..specs import POINTER_TYPES, Stage, Type, check_algorithm
from .samplers import Feedback

__all__ = ["to_batch"]


def _openclrs_array(name: str, type_: str, data) -> np.ndarray:
    """Pointers as int64 node indices (a one-hot permutation matrix read by
    argmax), everything else float64: openclrs' convention."""
    data = np.asarray(data)
    if type_ == Type.PERMUTATION_POINTER and data.ndim >= 2 \
            and data.shape[-1] == data.shape[-2]:
        data = data.argmax(axis=-1)
    if type_ in POINTER_TYPES:
        if data.size and not np.array_equal(data, np.round(data)):
            raise ValueError(f"{name}: pointer data holds non-integer values")
        return data.astype(np.int64)
    return data.astype(np.float64)


def to_batch(feedback: Feedback, spec, algorithm: str) -> Batch:
    """A published-layout :class:`Feedback` (``spec``: the one that goes with
    it, e.g. as ``process_permutations`` returned it) as an openclrs
    :class:`~openclrs.data.batching.Batch`, ready for ``Batch.to_torch()``
    and openclrs' models. Hints keep their padded length."""
    algorithm = check_algorithm(algorithm)
    given = {Stage.INPUT: feedback.features.inputs, Stage.HINT: feedback.features.hints,
             Stage.OUTPUT: feedback.outputs}
    stores = {stage: {} for stage in given}
    for stage, points in given.items():
        for p in points:
            if p.name not in spec or spec[p.name][0] != stage:
                raise ValueError(f"{p.name}: not a {stage} probe of the spec given; pass the "
                                 "spec that goes with this feedback (process_* return it)")
            stores[stage][p.name] = _openclrs_array(p.name, spec[p.name][2], p.data)
    missing = sorted(set(spec) - {name for store in stores.values() for name in store})
    if missing:
        raise ValueError(f"the feedback lacks probes {missing} of the spec given")
    ordered = {stage: {name: stores[stage][name] for name, v in spec.items() if v[0] == stage}
               for stage in stores}
    lengths = np.asarray(feedback.features.lengths).astype(np.int64)
    return Batch(algorithm, ordered[Stage.INPUT], ordered[Stage.HINT], ordered[Stage.OUTPUT],
                 lengths, types.MappingProxyType(dict(spec)))
