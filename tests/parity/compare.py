"""Compare openclrs traces with traces dumped from the published package."""

from __future__ import annotations

import json

import numpy as np

import openclrs
from openclrs.specs import POINTER_TYPES, SPECS, Stage, Type

STAGES = {"input": Stage.INPUT, "hint": Stage.HINT, "output": Stage.OUTPUT}


def load_fixture(path):
    """(meta, [ {stage: {name: array}} per sample ])"""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    samples = [{s: {} for s in STAGES} for _ in range(meta["num_samples"])]
    for key in data.files:
        if key == "meta":
            continue
        i, stage, name = key.split("/")
        samples[int(i)][stage][name] = data[key]
    return meta, samples


def ours_for(meta):
    kwargs = {k: tuple(v) if isinstance(v, list) else v
              for k, v in meta["sampler_kwargs"].items()}
    return openclrs.sample(meta["algorithm"], length=meta["length"], seed=meta["seed"],
                           num_samples=meta["num_samples"],
                           truncate_decimals=meta["truncate_decimals"], **kwargs)


def differences(algorithm, theirs, trace, atol=1e-9):
    """Human-readable differences between one published sample and one trace."""
    out = []
    spec = SPECS[algorithm]
    ours = {"input": trace.inputs, "hint": trace.hints, "output": trace.outputs}
    for stage in STAGES:
        if set(theirs[stage]) != set(ours[stage]):
            out.append(f"{stage} names: published {sorted(theirs[stage])}, ours {sorted(ours[stage])}")
            continue
        for name, ref in theirs[stage].items():
            mine = ours[stage][name]
            if stage == "hint":
                if ref.shape[0] != mine.shape[0]:
                    out.append(f"hint {name}: {ref.shape[0]} steps published, {mine.shape[0]} ours")
                    continue
            if np.squeeze(ref).shape != np.squeeze(mine).shape:
                out.append(f"{stage} {name}: shape {ref.shape} published, {mine.shape} ours")
                continue
            ref_flat, mine_flat = np.squeeze(ref), np.squeeze(mine)
            type_ = spec[name][2]
            if type_ == Type.SCALAR:
                same = np.isclose(ref_flat, mine_flat, rtol=0, atol=atol) | (ref_flat == mine_flat)
            else:
                same = ref_flat == mine_flat
            if not np.all(same):
                where = np.argwhere(~np.asarray(same))[:3].tolist()
                step = f" first at index {where}" if where else ""
                out.append(f"{stage} {name}: values differ{step}")
    return out
