"""The fused C kernels of evaluation (openclrs/models/fused.c via
openclrs.models.fused) against torch's path, and the fallback to torch's path
where they cannot be had (no compiler, a failing one, OPENCLRS_NO_FUSED=1).

Tests that need the compiled kernels skip where there is no C compiler; the
fallback tests run everywhere."""

import os

import numpy as np
import pytest
import torch

from openclrs.models import fused
from openclrs.models import kernels as K


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process that has not decided yet, with its own (empty) cache."""
    monkeypatch.setenv("OPENCLRS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(fused.DISABLE, raising=False)
    fused.reset()
    yield tmp_path
    fused.reset()


@pytest.fixture
def lib():
    if fused.library() is None:
        pytest.skip(f"fused kernels unavailable: {fused.unavailable()}")
    return fused.library()


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def operands(b, r, k, h, seed=0, ties=False):
    g = torch.Generator().manual_seed(seed)
    make = ((lambda *s: torch.randint(-2, 3, s, generator=g).float()) if ties
            else (lambda *s: torch.randn(*s, generator=g)))
    return make(b, r, h), make(b, k, h), make(h), make(1)


def torch_path(fn, *args, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv(fused.DISABLE, "1")
        return fn(*args)


def exact_scores(a, t, w, bias):
    """In float64: float32 products and sums agree with it to rounding."""
    a, t, w, bias = (x.double() for x in (a, t, w, bias))
    return torch.maximum(a[:, :, None], t[:, None]) @ w + bias


# ------------------------------------------------------- edge-pointer scores

@pytest.mark.parametrize("b, r, k, h", [(1, 1, 1, 1), (3, 17, 33, 7), (2, 13, 40, 130),
                                        (1, 64, 64, 128)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("with_bias", [True, False])
def test_max_score_agrees_with_torch(lib, b, r, k, h, ties, with_bias, monkeypatch, threads):
    """Odd sizes (rows not a multiple of the register block, candidates not a
    multiple of 32, hidden sizes not a multiple of 4), batches, ties, no
    bias: float32 rounding of the exact value, as torch's path."""
    a, t, w, bias = operands(b, r, k, h, ties=ties)
    bias = bias if with_bias else None
    expected = exact_scores(a, t, w, torch.zeros(1) if bias is None else bias)
    torch.set_num_threads(2)
    with torch.no_grad():
        ours = K.max_score_scores(a, t, w, bias)
        theirs = torch_path(K.max_score_scores, a, t, w, bias, monkeypatch=monkeypatch)
    scale = a.abs().max() * w.abs().sum() + 1
    for got in (ours, theirs):
        assert got.dtype == torch.float32 and got.shape == (b, r, k)
        torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6 * scale)
    if ties:  # small integers: every sum exact in any order
        assert torch.equal(ours, theirs)


def test_max_score_bits_do_not_depend_on_threads(lib, threads):
    a, t, w, bias = operands(3, 1100, 9, 12, seed=1)
    with torch.no_grad():
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(K.max_score_scores(a, t, w, bias))
    assert all(torch.equal(results[0], x) for x in results[1:])


def test_max_score_matches_gemv_where_the_order_is_the_same(lib, monkeypatch):
    """fused.c sums in the order of MKL's sgemv as torch calls it on this
    project's machine (h a multiple of 4, whole groups of 4 rows): there the
    scores are torch's path's bits, as Floyd-Warshall's at n = 64. On a
    machine whose BLAS sums otherwise, this says so and skips."""
    a, t, w, bias = operands(2, 64, 64, 128, seed=2)
    with torch.no_grad():
        ours = K.max_score_scores(a, t, w, bias)
        theirs = torch_path(K.max_score_scores, a, t, w, bias, monkeypatch=monkeypatch)
    if not torch.equal(ours, theirs):
        pytest.skip("this BLAS's gemv sums in another order (scores agree to rounding)")


def gemv_sums_in_fused_order(monkeypatch) -> bool:
    a, t, w, bias = operands(1, 8, 8, 16, seed=4)
    with torch.no_grad():
        return torch.equal(K.max_score_scores(a, t, w, bias),
                           torch_path(K.max_score_scores, a, t, w, bias,
                                      monkeypatch=monkeypatch))


def test_training_keeps_the_autograd_function(lib):
    """With gradients the Function runs (and its gradients are tested in
    test_kernels.py); the kernels are for evaluation only."""
    a, t, w, bias = (x.requires_grad_() for x in operands(1, 5, 4, 8))
    assert not fused.usable(a, t, w, bias)
    linear = torch.nn.Linear(8, 1)
    out = K.max_score(a, t, linear)
    assert out.grad_fn is not None and "MaxScore" in type(out.grad_fn).__name__
    with torch.no_grad():
        assert fused.usable(a, t, w, bias)
    assert not fused.usable(a.detach().double())
    assert not fused.usable(a.detach().transpose(1, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_max_score_leaves_non_finite_operands_to_torch(lib, bad, monkeypatch):
    """The kernel refuses them; torch's NaN rules then apply (NaN spreads)."""
    a, t, w, bias = operands(2, 6, 5, 8)
    a[1, 2, 3] = bad
    assert not fused.max_score(lib, a[1], t[1], w, 0.0, torch.zeros(6, 5))
    with torch.no_grad():
        ours = K.max_score_scores(a, t, w, bias)
        theirs = torch_path(K.max_score_scores, a, t, w, bias, monkeypatch=monkeypatch)
    torch.testing.assert_close(ours, theirs, equal_nan=True)


# ------------------------------------------------------------ triplet max

@pytest.mark.parametrize("b, n, f", [(1, 1, 1), (3, 5, 2), (2, 17, 8), (2, 33, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_max_over_i_is_torchs_bits(lib, b, n, f, ties, monkeypatch, threads):
    g = torch.Generator().manual_seed(n)
    make = ((lambda *s: torch.randint(-2, 3, s, generator=g).float()) if ties
            else (lambda *s: torch.randn(*s, generator=g)))
    a, c = make(b, n, n, f), make(b, n, n + 1, f)
    expected = (a[:, :, :, None] + c[:, :, None, :]).amax(dim=1)
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)
        with torch.no_grad():
            ours = K.max_over_i(a, c)
            theirs = torch_path(K.max_over_i, a, c, monkeypatch=monkeypatch)
        assert torch.equal(ours, expected) and torch.equal(theirs, expected)
        assert ours.stride() == theirs.stride()   # the same layout downstream


def test_max_over_i_leaves_non_finite_operands_to_torch(lib):
    a, c = torch.randn(2, 4, 4, 3), torch.randn(2, 4, 4, 3)
    a[0, 1, 2, 0], c[1, 0, 0, 1] = float("nan"), float("inf")
    with torch.no_grad():
        ours = K.max_over_i(a, c)
    torch.testing.assert_close(ours, (a[:, :, :, None] + c[:, :, None, :]).amax(dim=1),
                               equal_nan=True)


# ------------------------------------------------ a model's predictions

@pytest.mark.parametrize("algorithm", ["floyd_warshall", "optimal_bst"])
def test_predictions_agree_with_torchs_path(lib, algorithm, monkeypatch, threads):
    """A whole model (Triplet-GMPNN, edge-pointer decoders): the same hard
    predictions, and soft-fed hints to rounding; Floyd-Warshall's the same
    bits where gemv sums in fused.c's order (n = 8: whole groups of 4 rows of
    the product; optimal_bst's 9 nodes leave an incomplete group, which gemv
    sums another way)."""
    from openclrs.data.batching import collate
    from openclrs.models.config import ModelConfig
    from openclrs.samplers import Sampler
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import _apply_eval, build_model

    config = TrainConfig(algorithms=[algorithm], progress=False,
                         model=ModelConfig(hidden_size=16, processor="triplet_gmpnn")).validate()
    torch.manual_seed(0)
    model = build_model(config).eval()
    batch = collate([_apply_eval(t, config) for t in Sampler(algorithm, 8, seed=3).take(2)])

    def run():
        with torch.no_grad():
            torch.set_num_threads(2)          # predict's workers
            predictions = model.predict(batch)
            torch.set_num_threads(1)          # (OpenMP teams spin on a busy machine)
            return predictions, model(batch, repred=True).hints

    (ours, ours_hints) = run()
    (theirs, theirs_hints) = torch_path(run, monkeypatch=monkeypatch)
    assert ours.keys() == theirs.keys()
    for k in theirs:
        np.testing.assert_array_equal(ours[k], theirs[k])
    same_bits = algorithm == "floyd_warshall" and gemv_sums_in_fused_order(monkeypatch)
    for k in theirs_hints:
        torch.testing.assert_close(ours_hints[k], theirs_hints[k], rtol=1e-5, atol=1e-5)
        assert torch.equal(ours_hints[k], theirs_hints[k]) or not same_bits, k


# ------------------------------------------------------------- the build

def test_compiles_once_into_the_cache_and_loads_from_it(fresh):
    if fused.compiler() is None:
        pytest.skip("no C compiler")
    lib = fused.library()
    assert lib is not None, fused.unavailable()
    built = sorted(os.listdir(fresh / "fused"))
    assert len(built) == 1 and built[0].startswith("fused-") and built[0].endswith(".so")
    stamp = os.stat(fresh / "fused" / built[0]).st_mtime_ns
    fused.reset()
    assert fused.library() is not None
    assert sorted(os.listdir(fresh / "fused")) == built        # no rebuild, no leftovers
    assert os.stat(fresh / "fused" / built[0]).st_mtime_ns == stamp


def test_a_library_others_may_write_is_not_loaded(fresh):
    """Loading runs its code: a cached library writable by others is
    compiled anew, a cache folder writable by others is not used."""
    if fused.compiler() is None:
        pytest.skip("no C compiler")
    assert fused.library() is not None
    built = fresh / "fused" / os.listdir(fresh / "fused")[0]
    built.unlink()                            # (a new file: the old one is mapped)
    built.write_bytes(b"not a library")
    built.chmod(0o666)
    fused.reset()
    assert fused.library() is not None                   # compiled anew, not loaded
    assert built.stat().st_mode & 0o022 == 0
    (fresh / "fused").chmod(0o777)
    fused.reset()
    assert fused.library() is None and "others may write" in fused.unavailable()
    (fresh / "fused").chmod(0o700)


def test_a_cache_below_a_folder_others_may_write_is_not_used(fresh, monkeypatch):
    """Another user could swap the checked library for their own between the
    check and the load: no folder above the cache may let them, unless its
    sticky bit keeps them from renaming our entries (as /tmp's)."""
    if fused.compiler() is None:
        pytest.skip("no C compiler")
    shared = fresh / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("OPENCLRS_CACHE_DIR", str(shared / "me"))
    fused.reset()
    assert fused.library() is None and "a folder above it" in fused.unavailable()
    shared.chmod(0o1777)
    fused.reset()
    assert fused.library() is not None, fused.unavailable()


def test_empty_and_scalar_operands(lib):
    """An empty axis is torch's to refuse (an error, not a crash in C); a
    float bias is no reason to leave the kernels."""
    a, c = torch.empty(1, 0, 5, 3), torch.empty(1, 0, 4, 3)
    assert not fused.usable(a, c)
    with pytest.raises((IndexError, RuntimeError)):
        K.max_over_i_values(a, c)
    a, x, out = torch.empty(2, 0, 5), torch.empty(2, 0, 4), torch.full((2, 5, 4), 7.0)
    assert not fused.max_over_i(lib, a, x, out) and (out == 7).all()   # (F, I=0, J)
    assert fused.usable(torch.ones(2, 3), 0.5)


def test_no_compiler_means_torchs_path(fresh, monkeypatch):
    monkeypatch.setenv("CC", str(fresh / "no-such-cc"))
    assert fused.library() is None
    assert "no C compiler" in fused.unavailable()
    a, t, w, bias = operands(2, 7, 5, 6)
    with torch.no_grad():
        scores = K.max_score_scores(a, t, w, bias)
        assert torch.equal(scores, K.MaxScore.apply(a, t, w, bias))   # torch's bits


def test_a_failing_compiler_means_torchs_path_and_leaves_nothing(fresh, monkeypatch):
    failing = fresh / "cc"
    failing.write_text("#!/bin/sh\necho broken >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    assert fused.library() is None
    assert "broken" in fused.unavailable()
    assert os.listdir(fresh / "fused") == []
    a, c = torch.randn(1, 3, 3, 2), torch.randn(1, 3, 3, 2)
    with torch.no_grad():
        assert torch.equal(K.max_over_i(a, c), (a[:, :, :, None] + c[:, :, None, :]).amax(1))


def test_the_switch_forces_torchs_path(fresh, monkeypatch):
    monkeypatch.setenv(fused.DISABLE, "1")
    assert fused.library() is None and fused.unavailable() == f"{fused.DISABLE} is set"
    assert not (fresh / "fused").exists()          # nothing compiled
    monkeypatch.setenv(fused.DISABLE, "0")
    if fused.compiler() is not None:
        assert fused.library() is not None


def test_the_source_ships_with_the_package():
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
    assert "fused.c" in data["openclrs.models"]
    assert os.path.exists(fused.SOURCE)


def test_worker_threads_keep_the_callers_autocast(threads):
    """Autocast is per thread: shared-out work ran in float32 under a bf16
    evaluation (scores then depended on the thread count)."""
    torch.set_num_threads(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        seen = K.share_out(lambda _: torch.is_autocast_enabled("cpu")
                           and torch.get_autocast_dtype("cpu") == torch.bfloat16, [0, 1])
    assert seen == [True, True]
    assert K.share_out(lambda _: torch.is_autocast_enabled("cpu"), [0, 1]) == [False, False]
