"""openclrs.training.allocator: freed large blocks are reused, not faulted in anew."""

import os
import subprocess
import sys

import pytest

from openclrs.training.allocator import keep_freed_memory

# Allocates, fills and frees a 64 MiB tensor eight times; prints the page
# faults of the last three (over the first few the heap settles: on this
# machine up to five grow it, none after). The training loop is imported
# first, as `openclrs train` and `evaluate` do before they call
# keep_freed_memory: whether a freed block can be reused depends on what
# the heap holds around it (torch aligns its blocks, and glibc's aligned
# allocation asks for a little more than the block it freed), and in a bare
# interpreter that has imported torch alone the heap can keep growing
# instead (seen here: a new 64 MiB region each time).
PROBE = r"""
import resource, sys, torch
import openclrs.training.loop
from openclrs.training.allocator import keep_freed_memory
applied = keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for _ in range(8):
    start = faults()
    x = torch.ones(16 * 2**20)
    del x
    counts.append(faults() - start)
print(int(applied), sum(counts[-3:]))
"""


def _probe(env_value):
    env = {**os.environ, "OPENCLRS_KEEP_FREED_MEMORY": env_value}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return bool(int(out[0])), int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_blocks_are_reused():
    applied, faults = _probe("1")
    if not applied:
        pytest.skip("not glibc")
    assert faults < 100  # 64 MiB is 16,384 pages
    untouched, faults_default = _probe("0")
    assert not untouched and faults_default > 3 * 10_000


def test_switch_off(monkeypatch):
    monkeypatch.setenv("OPENCLRS_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
