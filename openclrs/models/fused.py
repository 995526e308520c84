"""Fused C kernels for evaluation: ``fused.c``, compiled on first use.

Two of evaluation's hot spots are elementwise passes over N^3 values that
torch runs as separate operations, each writing its (large) result to memory
for the next to read back:

* the edge-pointer scores (:func:`max_score`), Floyd-Warshall's ``Pi_h`` at
  every step: ``out[r, c] = sum_h w_h max(a[r, h], t[c, h]) + bias``, N^3 H
  maxima at n = 64 then a matrix-vector product over them;
* the triplet max over i (:func:`max_over_i`):
  ``out[f, j, c] = max_i (a[f, i, j] + x[f, i, c])``, one sum and one
  maximum per loop over i.

``fused.c`` computes each in one pass with the running sum or maximum in
registers. It is plain C (pointers and sizes, no Python or torch headers),
compiled the first time it is needed with the system C compiler
(``$CC``, else ``cc``; ``-O3 -march=native -ffp-contract=off -shared -fPIC``:
IEEE float32 arithmetic, no fused multiply-adds, no ``-ffast-math``)
into a per-user cache folder (``$OPENCLRS_CACHE_DIR``, else
``$XDG_CACHE_HOME/openclrs``, else ``~/.cache/openclrs``), under a name
that hashes the source, the compiler's version, the flags and the CPU,
written atomically (``files.atomic_write``); later processes load it from
there (if it is the user's own and writable by no one else; otherwise it is
compiled anew).
ctypes releases the GIL around each call, so ``kernels.share_out``'s worker
threads run the kernels on all cores.

Where there is no compiler, compilation fails, the library does not load, or
``OPENCLRS_NO_FUSED=1`` is set, :func:`library` returns None (the reason is
logged once, :func:`unavailable` says it) and the callers in ``kernels``
take torch's path: same results to float32 rounding, slower. The kernels are
for forward passes without gradients on contiguous float32 CPU tensors;
the callers check that, and also take torch's path when a kernel refuses
an operand that is not finite (torch's NaN rules apply then).

Exactness: :func:`max_over_i` is the same bits as torch's loop (each sum is
one float32 addition, the maxima taken in the loop's order). :func:`max_score` rounds each product and sums them in the order of the
``gemv`` that torch's path calls, MKL's ``sgemv`` as it runs on this
project's machine (found by experiment; see ``fused.c``): where torch's path
meets that code (hidden size a multiple of 4, whole groups of 4 rows of the
product, as at n = 64) the scores are the same bits, elsewhere (another
BLAS, another CPU's MKL kernels) the same to float32 rounding
(``tests/models/test_fused.py``; Floyd-Warshall's, dijkstra's and
optimal_bst's test metrics at n = 64 are the same on both paths,
``benchmarks/fw_eval_time.py``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import stat
import subprocess
import threading

import torch

from .. import files

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fused.c")
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", "-std=c99")
DISABLE = "OPENCLRS_NO_FUSED"

_log = logging.getLogger(__name__)
_LOCK = threading.Lock()
_state: dict = {}          # "loaded": (the library or None, the reason if None)


def cache_dir() -> str:
    """Where compiled kernels live (per user)."""
    base = os.environ.get("OPENCLRS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "openclrs")
    return os.path.join(base, "fused")


def compiler() -> str | None:
    """The C compiler's path: ``$CC`` (one word), else ``cc``; None if absent."""
    return shutil.which(os.environ.get("CC") or "cc")


def _version(cc: str) -> str:
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60,
                         check=False)
    return out.stdout.splitlines()[0] if out.stdout else ""


def _cpu() -> str:
    """What ``-march=native`` compiles for: the machine and, on Linux, the
    CPU's feature flags (a cache shared between machines, say a home folder
    on a network drive, must not hand one CPU's instructions to another)."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()} {flags}"


def _trusted(path: str) -> bool:
    """A library to load must be this user's and writable by no one else
    (loading it runs its code)."""
    info = os.stat(path)
    return (not hasattr(os, "getuid") or info.st_uid == os.getuid()) and not info.st_mode & 0o022


def _safe_ancestors(folder: str) -> bool:
    """No folder above ``folder`` lets another user replace what is below
    it: each is the superuser's or this user's, and writable by others only
    with the sticky bit (as /tmp), which keeps others from renaming our
    entries. Otherwise the checked library could be swapped between the
    check and the load."""
    if not hasattr(os, "getuid"):
        return True
    parent = os.path.dirname(os.path.realpath(folder))
    while True:
        info = os.stat(parent)
        if info.st_uid not in (0, os.getuid()):
            return False
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            return False
        up = os.path.dirname(parent)
        if up == parent:
            return True
        parent = up


def _build(cc: str) -> str:
    """The compiled library's path, compiling it if the cache lacks it."""
    with open(SOURCE, "rb") as f:
        source = f.read()
    key = hashlib.sha256(b"\0".join([source, _version(cc).encode(), cc.encode(),
                                     " ".join(FLAGS).encode(), _cpu().encode()])
                         ).hexdigest()[:16]
    folder = cache_dir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if not _trusted(folder) or not _safe_ancestors(folder):
        raise RuntimeError(f"{folder} is not this user's own, or others may write to it or "
                           "to a folder above it; no code is loaded from it (set "
                           "OPENCLRS_CACHE_DIR)")
    path = os.path.join(folder, f"fused-{key}.so")
    if os.path.exists(path) and _trusted(path):
        return path

    def compile_to(tmp):
        # the compiler writes beside the target (same folder: the rename is atomic)
        out = subprocess.run([cc, *FLAGS, "-o", tmp, SOURCE], capture_output=True,
                             text=True, timeout=300, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{cc} failed: {out.stderr.strip()[-2000:]}")
        os.chmod(tmp, 0o755)

    files.atomic_write(path, compile_to)
    return path


def _disabled() -> bool:
    return os.environ.get(DISABLE, "") not in ("", "0")


def _load() -> ctypes.CDLL:
    cc = compiler()
    if cc is None:
        raise RuntimeError(f"no C compiler ({os.environ.get('CC') or 'cc'}) on the PATH")
    lib = ctypes.CDLL(_build(cc))
    f32, long_ = ctypes.POINTER(ctypes.c_float), ctypes.c_longlong
    lib.openclrs_max_score.argtypes = [f32, f32, f32, ctypes.c_float, f32,
                                       long_, long_, long_]
    lib.openclrs_max_over_i.argtypes = [f32, f32, f32, long_, long_, long_, long_]
    lib.openclrs_max_score.restype = lib.openclrs_max_over_i.restype = ctypes.c_int
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None where they are unavailable (see the module
    docstring). Decided once per process; ``OPENCLRS_NO_FUSED`` is read on
    every call, so it can be set at any time."""
    if _disabled():
        return None
    if "loaded" not in _state:
        with _LOCK:
            if "loaded" not in _state:
                try:
                    _state["loaded"] = (_load(), None)
                except Exception as error:  # noqa: BLE001 - any failure means torch's path
                    _state["loaded"] = (None, str(error))
                    _log.warning("fused C kernels unavailable, using torch's (slower) path: "
                                 "%s", error)
    return _state["loaded"][0]


def unavailable() -> str | None:
    """Why :func:`library` is None (None if the kernels are loaded)."""
    if _disabled():
        return f"{DISABLE} is set"
    library()
    return _state["loaded"][1]


def reset() -> None:
    """Forget the decision (tests: a different compiler or cache)."""
    with _LOCK:
        _state.clear()


def usable(*operands) -> bool:
    """Whether the kernels take these operands: tensors float32, contiguous,
    on the CPU, not empty, nothing to differentiate (other operands, a float
    bias say, pass). (Not whether the library is loaded.)"""
    return all(not isinstance(x, torch.Tensor)
               or (x.dtype == torch.float32 and x.device.type == "cpu" and x.is_contiguous()
                   and x.numel() > 0 and not (x.requires_grad and torch.is_grad_enabled()))
               for x in operands)


def _ptr(x: torch.Tensor):
    return ctypes.cast(x.data_ptr(), ctypes.POINTER(ctypes.c_float))


def max_score(lib, a: torch.Tensor, t: torch.Tensor, w: torch.Tensor, bias: float,
              out: torch.Tensor) -> bool:
    """``out[r, c] = max(a[r], t[c]) . w + bias`` for ``a`` (R, H), ``t``
    (K, H), ``w`` (H), into ``out`` (R, K); all contiguous float32 (views of
    larger tensors are fine). False (out untouched) if an operand is not
    finite (or the kernel's small buffer cannot be allocated)."""
    (rows, h), k = a.shape, t.shape[0]
    return lib.openclrs_max_score(_ptr(a), _ptr(t), _ptr(w), bias, _ptr(out),
                                  rows, k, h) == 0


def max_over_i(lib, a: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> bool:
    """``out[f, j, c] = max_i (a[f, i, j] + x[f, i, c])`` for ``a`` (F, I, J),
    ``x`` (F, I, K), into ``out`` (F, J, K); contiguous float32. False (out
    untouched) if an operand is not finite or ``I`` is 0."""
    nf, ni, nj = a.shape
    return lib.openclrs_max_over_i(_ptr(a), _ptr(x), _ptr(out), nf, ni, nj,
                                   x.shape[2]) == 0
