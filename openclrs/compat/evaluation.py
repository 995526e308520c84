"""The published evaluation functions (``fuse_perm_and_mask``, ``evaluate``,
``evaluate_hints``) on DataPoints, computed by openclrs' metrics
(:mod:`openclrs.training.metrics`, numpy only)."""

from __future__ import annotations

import numpy as np

from ..specs import Location, Type
from .probing import DataPoint

__all__ = ["fuse_perm_and_mask", "evaluate", "evaluate_hints"]


def fuse_perm_and_mask(perm: DataPoint, mask: DataPoint) -> DataPoint:
    """A node ``permutation_pointer`` (data ``(..., N, N)``, read by argmax)
    and its ``<name>_mask`` ``mask_one`` (data ``(..., N)``) -> a plain node
    pointer ``(..., N)``: nodes the mask marks point to themselves."""
    from ..training.metrics import fuse_permutation

    checks = [
        (perm.type_ == Type.PERMUTATION_POINTER, f"{perm.name} is not a permutation_pointer"),
        (perm.location == Location.NODE, f"{perm.name} is not a node probe"),
        (mask.name == perm.name + "_mask", f"mask {mask.name!r} is not {perm.name}_mask"),
        (mask.type_ == Type.MASK_ONE and mask.location == Location.NODE,
         f"{mask.name} is not a node mask_one"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"fuse_perm_and_mask: {message}")
    perm_data, mask_data = np.asarray(perm.data), np.asarray(mask.data)
    if perm_data.shape[-1] != perm_data.shape[-2] or perm_data.shape[:-1] != mask_data.shape:
        raise ValueError(f"fuse_perm_and_mask: shapes {perm_data.shape} and {mask_data.shape} "
                         "are not (..., N, N) and (..., N)")
    return DataPoint(perm.name, perm.location, Type.POINTER,
                     fuse_permutation(perm_data, mask_data))


def _arrays(points) -> tuple[dict, dict]:
    """DataPoints -> (spec-like types, arrays), by name."""
    spec = {p.name: ("output", p.location, p.type_) for p in points}
    return spec, {p.name: np.asarray(p.data) for p in points}


def evaluate(outputs, predictions: dict) -> dict:
    """Output metrics of published-style predictions: ``outputs`` a sequence
    of target DataPoints, ``predictions`` a dict name -> DataPoint; returns
    ``{name: metric, ..., "score": mean}`` with permutations fused first."""
    from ..training.metrics import evaluate as score

    spec, truth = _arrays(outputs)
    preds = {name: np.asarray(p.data) for name, p in predictions.items()}
    for p in outputs:
        if p.name not in predictions:
            raise KeyError(f"evaluate: no prediction for output {p.name!r}")
        if (predictions[p.name].location, predictions[p.name].type_) != (p.location, p.type_):
            raise ValueError(f"evaluate: prediction {p.name!r} is a {predictions[p.name].type_}"
                             f" at {predictions[p.name].location}, the target a {p.type_} at "
                             f"{p.location}")
    return score(spec, truth, preds)


def evaluate_hints(hints, lengths, hint_preds: list) -> dict:
    """Hint metrics: ``hints`` target DataPoints ``(T, B, ...)``, ``hint_preds``
    a list over steps of dicts name -> DataPoint, step ``t`` predicting
    ``hints[t + 1]``; returns ``{name: metric, name + "_along_time": array}``."""
    from ..training.metrics import evaluate_hints as score

    spec, truth = _arrays(hints)
    spec = {name: ("hint",) + value[1:] for name, value in spec.items()}
    names = set(hint_preds[0]) if hint_preds else set()
    preds = {name: np.stack([np.asarray(step[name].data) for step in hint_preds])
             for name in names}
    return score(spec, truth, np.asarray(lengths), preds)
