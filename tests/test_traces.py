"""Properties of sampled traces across algorithms: batching round trips and
the same bytes in another process (the per-algorithm contract is in
tests/algorithms/test_contract.py)."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import openclrs
from openclrs.data import collate, uncollate

ALGS = list(openclrs.ALL_ALGS)


def _length_for(alg, n):
    return max(n, 6) if alg in ("naive_string_matcher", "kmp_matcher") else n


def _digest(traces):
    h = hashlib.sha256()
    for t in traces:
        for name, _, _, _, value in t.probes():
            h.update(name.encode())
            h.update(str(value.shape).encode())
            h.update(value.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("alg", ALGS)
def test_batch_round_trip(alg):
    traces = openclrs.sample(alg, length=_length_for(alg, 8), seed=5, num_samples=4)
    for a, b in zip(traces, uncollate(collate(traces))):
        for name, stage, _, _, value in a.probes():
            other = {"input": b.inputs, "hint": b.hints, "output": b.outputs}[stage][name]
            assert other.dtype == value.dtype and np.array_equal(other, value)


def test_same_seed_same_bytes_in_another_process():
    here = _digest(t for alg in ALGS
                   for t in openclrs.sample(alg, length=_length_for(alg, 7), seed=11,
                                            num_samples=2))
    code = ("import sys; sys.path.insert(0, %r); from tests.test_traces import _digest, _length_for, ALGS, openclrs; "
            "print(_digest(t for alg in ALGS for t in openclrs.sample(alg, "
            "length=_length_for(alg, 7), seed=11, num_samples=2)))") % os.getcwd()
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env).stdout.strip()
    assert here == there
