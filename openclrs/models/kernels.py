"""Hand-written autograd Functions: the CPU fast paths of the model's hot spots.

Each Function computes exactly what a short plain expression computes (the
docstrings give it) and differs only in its backward pass: one that keeps
less memory, recomputes instead of storing, or orders its products for CPU
BLAS. Every one has a float64 ``gradcheck`` and a comparison with autograd
on the plain expression, ties included, in ``tests/models/test_kernels.py``.

Maxima split the gradient equally between tied entries, as ``torch.amax``,
``torch.maximum`` and JAX's ``jnp.max``/``jnp.maximum`` do.

The functions at the bottom (:func:`amax1`, :func:`max_over_i`,
:func:`pointer_scores`, :func:`max_score`) are what layers and modules call:
each takes the Function where it applies and the plain expression under
autocast (the Functions' backward passes are for uniform dtypes) or
``torch.compile`` (which fuses the plain expression itself).

Without gradients (evaluation), the edge-pointer scores and the triplet max
over i take the fused C kernels of :mod:`.fused` where they load (float32
CPU operands; ``OPENCLRS_NO_FUSED=1`` turns them off), torch's operations
otherwise: :func:`max_score_scores`, :func:`max_over_i_values`.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn

from . import fused


def autocasting(x: torch.Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (the hand-written backward
    passes here are for uniform dtypes; under autocast, autograd's own)."""
    return torch.is_autocast_enabled(x.device.type)


# --------------------------------------------------------------------------
# Linear layers


class LinearToOne(torch.autograd.Function):
    """``x @ w (+ bias)``, unsqueezed to one output: a linear layer to one
    output (the decoders' score heads over every edge). Same values as
    ``F.linear``; its backward forms the input's gradient as a broadcast
    product, where ``F.linear``'s takes a rank-one matrix product that CPU
    BLAS runs an order of magnitude slower."""

    @staticmethod
    def forward(ctx, x, w, bias):
        ctx.save_for_backward(x, w)
        ctx.has_bias = bias is not None
        out = x @ w
        return (out if bias is None else out + bias).unsqueeze(-1)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = grad.squeeze(-1)
        grad_x = grad.unsqueeze(-1) * w if ctx.needs_input_grad[0] else None
        grad_w = x.reshape(-1, x.shape[-1]).T @ grad.reshape(-1)
        grad_b = grad.sum().reshape(1) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


class LinearFromNarrow(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` for few input features (the triplet
    messages' ``o3`` from 8). Its backward forms both gradients as
    transposes of products with the long axis inner, which CPU BLAS runs
    several times faster than ``F.linear``'s for such thin matrices."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows, g = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (weight.T @ g.T).T.contiguous().view(x.shape)
        grad_w = (rows.T @ g).T
        grad_b = g.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------
# Maxima over an axis


def tie_shares(x: torch.Tensor, out: torch.Tensor, grad: torch.Tensor, dim: int = 1,
               scratch: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient of ``out = x.amax(dim)`` with respect to x: ``grad``
    split equally between the maxima. As autograd's, without its casts of the
    tie mask to int64 and back; written into ``scratch`` (x's shape) if given."""
    wins = torch.eq(x, out.unsqueeze(dim),
                    out=torch.empty_like(x) if scratch is None else scratch)
    return wins.mul_((grad / wins.sum(dim=dim)).unsqueeze(dim))


class Amax1(torch.autograd.Function):
    """``x.amax(dim=1)``, with the backward pass of :func:`tie_shares`: the
    message max of the MPNN/PGN family."""

    @staticmethod
    def forward(ctx, x):
        out = x.amax(dim=1)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return tie_shares(x, out, grad)


def _feature_major(x: torch.Tensor) -> torch.Tensor:
    """(B, I, J, F) -> a contiguous (B, F, I, J)."""
    return x.permute(0, 3, 1, 2).contiguous()


class MaxOverI(torch.autograd.Function):
    """``out[b, j, k] = max_i (a[b, i, j] + c[b, i, k])`` (per feature) for
    ``a`` (B, I, J, F) and ``c`` (B, I, K, F): the triplet max. Keeps only a,
    c and the result for the backward pass, which recomputes the
    (B, I, J, K, F) sums.

    Works feature-major, on (B, F, I, J) copies of the (small) operands: with
    the few features innermost, every broadcast pass over the N^3 sums would
    run in strides of F = 8, two to three times slower on the CPU. Where all
    the sums would take more than ``BLOCK`` elements (past n = 16 at batch
    32), they are formed one i at a time instead, which keeps the passes in
    cache (ten times faster at n = 64) and memory at O(N^2)."""

    BLOCK = 1 << 20

    @staticmethod
    def _at_once(a: torch.Tensor, c: torch.Tensor) -> bool:
        return a.numel() * c.shape[-1] <= MaxOverI.BLOCK

    @staticmethod
    def values(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The maxima (B, F, J, K) of feature-major ``a`` and ``c``."""
        if MaxOverI._at_once(a, c):
            return (a[..., None] + c[..., None, :]).amax(dim=2)          # (B, F, J, K)
        out = a[:, :, 0, :, None] + c[:, :, 0, None, :]
        for i in range(1, a.shape[2]):
            torch.maximum(out, a[:, :, i, :, None] + c[:, :, i, None, :], out=out)
        return out

    @staticmethod
    def forward(ctx, a, c):
        a, c = _feature_major(a), _feature_major(c)
        out = MaxOverI.values(a, c)
        ctx.save_for_backward(a, c, out)
        return out.permute(0, 2, 3, 1)

    @staticmethod
    def backward(ctx, grad):
        a, c, out = ctx.saved_tensors
        grad = _feature_major(grad)
        if MaxOverI._at_once(a, c):
            sums = a[..., None] + c[..., None, :]                      # (B, F, I, J, K)
            share = tie_shares(sums, out, grad, dim=2, scratch=sums)
            grad_a, grad_c = share.sum(dim=4), share.sum(dim=3)
        else:
            def wins(i):  # where i reaches the max, (B, F, J, K)
                sums = a[:, :, i, :, None] + c[:, :, i, None, :]
                return torch.eq(sums, out, out=sums)

            ties = wins(0)
            for i in range(1, a.shape[2]):
                ties += wins(i)
            per_win = grad / ties
            grad_a, grad_c = torch.empty_like(a), torch.empty_like(c)
            for i in range(a.shape[2]):
                share = wins(i).mul_(per_win)
                torch.sum(share, dim=3, out=grad_a[:, :, i])
                torch.sum(share, dim=2, out=grad_c[:, :, i])
        return grad_a.permute(0, 2, 3, 1), grad_c.permute(0, 2, 3, 1)


# --------------------------------------------------------------------------
# Pointer scores: an elementwise max of two sides, then a linear map to one


class MaxScore(torch.autograd.Function):
    """``out[b, r, k] = max(a[b, r], t[b, k]) . w + bias`` (max elementwise
    over the hidden axis) without the (B, R, K, H) intermediate that autograd
    would keep: the edge pointer decoder's scores of N^2 edges against N
    target nodes. Both passes work on blocks small enough to stay in cache
    and recompute the max in backward. Ties split the gradient equally
    between both sides."""

    BLOCK = 1 << 20  # elements of one (rows, K, H) block

    @staticmethod
    def _blocks(a: torch.Tensor, k: int):
        rows = max(1, MaxScore.BLOCK // (k * a.shape[-1]))
        for b in range(a.shape[0]):
            for start in range(0, a.shape[1], rows):
                yield b, slice(start, start + rows)

    @staticmethod
    def forward(ctx, a, t, w, bias):
        out = a.new_empty(a.shape[0], a.shape[1], t.shape[1])
        for b, rows in MaxScore._blocks(a, t.shape[1]):
            out[b, rows] = torch.maximum(a[b, rows, None], t[b, None]) @ w
        ctx.save_for_backward(a, t, w)
        return out + bias

    @staticmethod
    def backward(ctx, grad):
        a, t, w = ctx.saved_tensors
        grad = grad.contiguous()
        grad_a, grad_t = torch.empty_like(a), torch.zeros_like(t)
        grad_w = torch.zeros_like(w)
        for b, rows in MaxScore._blocks(a, t.shape[1]):
            x, y, g = a[b, rows, None], t[b, None], grad[b, rows, :, None]
            wins = (x > y).to(a.dtype) + 0.5 * (x == y).to(a.dtype)   # (R, K, H)
            to_a = g * wins
            grad_a[b, rows] = to_a.sum(1) * w
            grad_t[b] += (g - to_a).sum(0) * w
            grad_w += torch.maximum(x, y).flatten(0, 1).T @ grad[b, rows].flatten()
        return grad_a, grad_t, grad_w, grad.sum().reshape(1)


def max_score_scores(a: torch.Tensor, t: torch.Tensor, w: torch.Tensor,
                     bias: torch.Tensor) -> torch.Tensor:
    """:class:`MaxScore`'s forward values without autograd: what evaluation
    computes (Floyd-Warshall's ``Pi_h`` at every step, half of its time).

    The same arithmetic as :class:`MaxScore` (each score one ``mv`` row over
    the maxima of its row, so the same bits, tested) with less around it:

    - smaller blocks: each of the Function's blocks is cut into pieces of
      about :data:`EVAL_BLOCK` elements of maxima (512 KiB), which are
      written and read back within the core's L2 cache (1 MiB here) instead
      of going through L3: at n = 64 the two operations take a quarter less
      time (``benchmarks/fw_eval_time.py --kernel``; smaller pieces lose it
      again to per-call overhead). A piece's ``mv`` matrix has a multiple
      of 16 rows (but the last piece of a block, which ends where the
      block's does): MKL's ``gemv`` computes the rows of a matrix in groups
      (of 4 here) and a last, incomplete group another way, so every row
      meets the same code as in the Function's block (:func:`_pieces`);
    - the pieces' views cut by one ``split`` per sample, the maxima written
      into one reused buffer and the products straight into the result (no
      temporary per piece, no copy), nothing kept for a backward pass;
    - with more than one thread (``torch.get_num_threads()``) the pieces
      shared out among that many worker threads that each run
      single-threaded. A piece's two operations are too small to split well
      between OpenMP threads (a team meets at a barrier twice per piece, and
      on a machine shared with other jobs a barrier waits for a descheduled
      thread: ten times the single-threaded time was measured); whole pieces
      per thread need no barrier at all.

    Where the fused C kernels load (:mod:`.fused`; float32 CPU operands),
    :func:`_fused_max_score` replaces all of this, summing in the order of
    the ``gemv`` above as MKL runs it on this project's machine: the same
    bits at n = 64 there, the same to float32 rounding wherever ``gemv`` sums
    otherwise."""
    lib = fused.library() if fused.usable(a, t, w, *([] if bias is None else [bias])) else None
    if lib is not None:
        out = _fused_max_score(lib, a, t, w, bias)
        if out is not None:
            return out
    out = a.new_empty(a.shape[0], a.shape[1], t.shape[1])
    sizes = _pieces(a.shape[1], t.shape[1], a.shape[-1])
    total = a.shape[0] * len(sizes)
    share_out(lambda part: _score_pieces(a, t, w, out, sizes, *part),
              split_evenly(total, threads_for(total, a)))
    return out if bias is None else out.add_(bias)


# Rows of one sample's scores per call of the fused kernel: small enough that
# two threads get even shares of one sample, large enough that a call's
# overhead (some microseconds) is nothing beside its work.
FUSED_ROWS = 512


def _fused_max_score(lib, a, t, w, bias) -> torch.Tensor | None:
    """:func:`max_score_scores` by the fused C kernel (``fused.c``): no
    tensor of maxima at all, the sums over the hidden axis in registers
    (1.9 ms per sample and step at n = 64 instead of 7.0 ms). The products
    are summed in the order of MKL's ``sgemv`` on this project's machine
    (see ``fused.c``): where torch's path meets that code, the same bits;
    elsewhere the same to float32 rounding. None where the kernel refuses
    (an operand not finite)."""
    out = a.new_empty(a.shape[0], a.shape[1], t.shape[1])
    bias = 0.0 if bias is None else float(bias)
    rows = [(b, lo, min(lo + FUSED_ROWS, a.shape[1]))
            for b in range(a.shape[0]) for lo in range(0, a.shape[1], FUSED_ROWS)]

    def run(part):
        return all(fused.max_score(lib, a[b, lo:hi], t[b], w, bias, out[b, lo:hi])
                   for b, lo, hi in rows[part[0]:part[1]])

    done = share_out(run, split_evenly(len(rows), threads_for(len(rows), a)))
    return out if all(done) else None


# Elements of maxima per piece in evaluation (max_score_scores): 512 KiB of
# float32, half the L2 cache of a core of this machine (AMD EPYC, 1 MiB).
EVAL_BLOCK = 1 << 17


def _pieces(r: int, k: int, h: int) -> list[int]:
    """Rows per piece of one sample's ``r`` rows in :func:`max_score_scores`:
    :class:`MaxScore`'s blocks of rows, each cut into pieces of about
    :data:`EVAL_BLOCK` elements of maxima whose ``mv`` matrices (rows * k
    high) have a multiple of 16 rows, the block's remainder last."""
    block = max(1, MaxScore.BLOCK // (k * h))
    step = 16 // math.gcd(k, 16)                  # rows * k a multiple of 16
    piece = max(step, EVAL_BLOCK // (k * h) // step * step)
    sizes = []
    for start in range(0, r, block):
        rows = min(block, r - start)
        sizes += [piece] * (rows // piece) + ([rows % piece] if rows % piece else [])
    return sizes


def _score_pieces(a, t, w, out, sizes, first, stop) -> None:
    """``out[b, piece] = max(a[b, piece, None], t[b, None]) @ w`` for the
    pieces ``first:stop`` (``sizes`` rows each per sample, counted sample
    after sample), through one buffer. (Gradient mode is per thread: a
    worker's is switched off here.)"""
    k, h = t.shape[1], a.shape[-1]
    n = len(sizes)
    buffer = a.new_empty(max(sizes) * k, h)
    maxima = {rows: buffer[:rows * k] for rows in set(sizes)}      # (rows * k, h) views
    grid = {rows: m.view(rows, k, h) for rows, m in maxima.items()}
    with torch.no_grad():
        for b in range(first // n, -(-stop // n)):
            lo, hi = max(first - b * n, 0), min(stop - b * n, n)
            sides = a[b, :, None].split(sizes)[lo:hi]
            scores = out[b].view(-1).split([rows * k for rows in sizes])[lo:hi]
            candidates = t[b, None]
            for rows, x, o in zip(sizes[lo:hi], sides, scores):
                torch.maximum(x, candidates, out=grid[rows])
                torch.mv(maxima[rows], w, out=o)


_WORKERS: dict[int, ThreadPoolExecutor] = {}
_WORKERS_LOCK = threading.Lock()


def share_out(fn, parts: list, workers: int | None = None) -> list:
    """``[fn(part) for part in parts]`` without gradients, in order; with
    several parts, on ``workers`` worker threads (default: one per part)
    that run torch single-threaded and each take the next part when done
    with one: parallel work without an OpenMP barrier per operation, and
    with more parts than workers, a worker whose core is shared with other
    jobs does less of the work. For evaluation only (autograd does not
    cross the threads)."""
    # autocast is per thread: the workers take the caller's (bf16 evaluation)
    autocast = [(d, torch.get_autocast_dtype(d)) for d in ("cpu", "cuda")
                if torch.is_autocast_enabled(d)]

    def run(part):
        with torch.no_grad(), contextlib.ExitStack() as stack:
            for device, dtype in autocast:   # a context object each: they hold state
                stack.enter_context(torch.autocast(device, dtype=dtype))
            return fn(part)
    workers = len(parts) if workers is None else min(workers, len(parts))
    if workers <= 1 or _in_worker():
        return [run(p) for p in parts]
    return list(_block_workers(workers).map(lambda part: _as_worker(run, part), parts))


def split_evenly(total: int, count: int) -> list[tuple[int, int]]:
    """``count`` consecutive ``(start, stop)`` ranges covering ``range(total)``,
    their sizes differing by at most one."""
    bounds = [round(i * total / count) for i in range(count + 1)]
    return list(zip(bounds, bounds[1:]))


def threads_for(parts: int, x: torch.Tensor) -> int:
    """How many workers :func:`share_out` should use for ``parts`` pieces of
    work on ``x``: the caller's torch threads on the CPU; one on other
    devices or inside a worker (workers never wait for workers)."""
    if _in_worker() or x.device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), parts))


_LOCAL = threading.local()


def _in_worker() -> bool:
    return getattr(_LOCAL, "worker", False)


def _as_worker(fn, *args):
    """Run ``fn`` as a worker: single-threaded torch (a thread's setting is
    its own, but torch may reset a new thread's to the process-wide value
    the first time it asks), and marked, so that it never waits for other
    workers of the same pool."""
    _LOCAL.worker = True
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    return fn(*args)


def _block_workers(threads: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` threads that run torch single-threaded (the
    setting is per thread: the caller's is left as it is)."""
    with _WORKERS_LOCK:
        pool = _WORKERS.get(threads)
        if pool is None:
            pool = _WORKERS[threads] = ThreadPoolExecutor(
                threads, thread_name_prefix="openclrs-workers")
        return pool


class RowMaxScore(torch.autograd.Function):
    """``out[b, j, i] = max(s[b, i], x[b, j, i]) . w + bias`` (max elementwise
    over the hidden axis): the node pointer decoder's scores. The same values
    as ``torch.maximum`` then a linear layer, but a backward pass of a few
    vectorised passes over x, where autograd's (a ``where`` per operand) is
    some six times slower on the CPU. Ties split the gradient equally."""

    @staticmethod
    def forward(ctx, s, x, w, bias):
        ctx.save_for_backward(s, x, w)
        return torch.maximum(s[:, None], x) @ w + bias

    @staticmethod
    def backward(ctx, grad):
        s, x, w = ctx.saved_tensors
        # x's share of each gradient: 1 where x wins, 0 where s wins, 1/2 on
        # ties; s gets the rest, per element (summing first would cancel).
        # In place, to keep passes over (B, J, I, H) few.
        to_both = grad[..., None] * w
        grad_x = (x - s[:, None]).sign_().add_(1.0).mul_(0.5).mul_(to_both)
        grad_s = to_both.sub_(grad_x).sum(1)
        winners = torch.maximum(s[:, None], x)
        grad_w = winners.reshape(-1, w.shape[0]).T @ grad.reshape(-1)
        return grad_s, grad_x, grad_w, grad.sum().reshape(1)


# --------------------------------------------------------------------------
# What the modules call


def amax1(x: torch.Tensor) -> torch.Tensor:
    """``x.amax(dim=1)``, faster to differentiate on the CPU."""
    return x.amax(dim=1) if autocasting(x) else Amax1.apply(x)


def max_over_i(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(a[:, :, :, None] + c[:, :, None, :]).amax(dim=1)`` (see :class:`MaxOverI`)."""
    # Under torch.compile the compiler fuses the plain expression itself (and
    # the eager kernel's choice by size would not trace with symbolic shapes).
    if autocasting(a) or torch.compiler.is_compiling():
        return (a[:, :, :, None] + c[:, :, None, :]).amax(dim=1)
    if not torch.is_grad_enabled() or not (a.requires_grad or c.requires_grad):
        return max_over_i_values(a, c)
    return MaxOverI.apply(a, c)


def max_over_i_values(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """:class:`MaxOverI`'s forward values without autograd (evaluation): the
    samples shared out among single-threaded worker threads, as in
    :func:`max_score_scores` (its loop over i is 64 OpenMP regions per step
    at n = 64). Each sum and maximum is one elementwise operation, whatever
    the split: the same bits. Where the fused C kernels load
    (:mod:`.fused`), each sample's maxima are one call of
    ``openclrs_max_over_i`` (the running maximum in registers, ten times
    faster at n = 64), also the same bits."""
    a, c = _feature_major(a), _feature_major(c)
    threads = threads_for(a.shape[0], a)
    lib = fused.library() if fused.usable(a, c) else None
    if lib is None and (threads <= 1 or MaxOverI._at_once(a, c)):
        return MaxOverI.values(a, c).permute(0, 2, 3, 1)
    out = a.new_empty(a.shape[0], a.shape[1], a.shape[3], c.shape[3])

    def part(rows):
        lo, hi = rows
        if lib is None:
            out[lo:hi] = MaxOverI.values(a[lo:hi], c[lo:hi])
            return
        for b in range(lo, hi):     # torch's loop for a sample the kernel refuses
            if not fused.max_over_i(lib, a[b], c[b], out[b]):
                out[b] = MaxOverI.values(a[b:b + 1], c[b:b + 1])[0]

    share_out(part, split_evenly(a.shape[0], threads))
    return out.permute(0, 2, 3, 1)


def pointer_scores(source: torch.Tensor, to_j: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(max(source[:, :, None], to_j.transpose(1, 2)))[..., 0]`` for
    ``source`` (B, N, H), ``to_j`` (B, N_j, N_i, H) and a linear layer to one
    output: (B, N_i, N_j)."""
    if autocasting(source):
        return linear(torch.maximum(source[:, :, None], to_j.transpose(1, 2))).squeeze(-1)
    return RowMaxScore.apply(source, to_j, linear.weight[0], linear.bias).transpose(1, 2)


def max_score(a: torch.Tensor, t: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(max(a[:, :, None], t[:, None]))[..., 0]`` for ``a`` (B, R, H),
    ``t`` (B, K, H) and a linear layer to one output: (B, R, K)."""
    if autocasting(a):
        return linear(torch.maximum(a[:, :, None], t[:, None])).squeeze(-1)
    weight, bias = linear.weight[0], linear.bias
    if not torch.is_grad_enabled() or not any(x is not None and x.requires_grad
                                              for x in (a, t, weight, bias)):
        return max_score_scores(a, t, weight, bias)
    return MaxScore.apply(a, t, weight, bias)
