"""How the host's memory allocator treats the model's large CPU tensors.

glibc's ``malloc`` serves every block over 32 MiB (and, once freed memory
piles up, smaller ones too) with a fresh ``mmap`` and hands it back to the
system on ``free``. A model step allocates and frees such blocks by the
hundred (at n = 64 and batch 32 one (B, N, N, H) activation is 64 MiB), so
each one is faulted in page by page anew: evaluating one batch of
insertion_sort at n = 64 took 59 s on one core, 12 million page faults,
against 28 s (6 page faults) with freed memory kept for reuse. :func:`keep_freed_memory`
makes glibc do that; the price is that the process keeps its peak memory
until it exits. ``openclrs train`` and ``openclrs evaluate`` call it; set
``OPENCLRS_KEEP_FREED_MEMORY=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
# glibc converts the int to size_t: -1 is the largest threshold, i.e. never trim.
_NEVER = -1


def keep_freed_memory() -> bool:
    """Have glibc keep freed blocks for reuse: no ``mmap`` for large blocks,
    no trimming of the heap, and one heap for all threads (each thread of
    its own would fault its blocks in anew: evaluation's worker threads,
    ``kernels.share_out``, took 1.4 million page faults in one evaluation of
    Floyd-Warshall at n = 64, 0.3 million with one heap). Returns whether
    the setting took effect (not on other C libraries or systems, nor with
    ``OPENCLRS_KEEP_FREED_MEMORY=0``)."""
    if os.environ.get("OPENCLRS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # the parameters below are glibc's
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return (bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER))
            and bool(mallopt(_M_ARENA_MAX, 1)))
