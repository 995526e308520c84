import os
import resource
import sys

import pytest

# The suite must run on a laptop: its peak memory stays under this bound
# (checked at the end of every run, see pytest_sessionfinish).
MEMORY_LIMIT_BYTES = 4 * 2**30

# `openclrs train`/`evaluate` tell glibc never to give freed memory back
# (openclrs.training.allocator); inside one long pytest process that turns
# every test's transient peak into resident memory for the rest of the run.
# Tests of the allocator itself run it in subprocesses with their own setting.
os.environ["OPENCLRS_KEEP_FREED_MEMORY"] = "0"

# Tiny models run fastest on one thread; with torch's default (a thread per
# core) every operation waits at an OpenMP barrier, and on a busy machine a
# test can take several times longer (one took 26 CPU seconds instead of 4).
# So every test, and every process a test starts, runs on one thread unless
# it sets its own count (the tests of the multi-threaded paths do) or the
# environment gives one. Set before torch is imported, which reads it then.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _peak_bytes(who=resource.RUSAGE_SELF) -> int:
    """Peak resident memory so far of this process (or of its largest
    finished child process); Linux reports KiB."""
    peak = resource.getrusage(who).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


_growth: list[tuple[int, str]] = []  # (bytes a peak grew by, test id)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = [_peak_bytes(), _peak_bytes(resource.RUSAGE_CHILDREN)]
    yield
    after = [_peak_bytes(), _peak_bytes(resource.RUSAGE_CHILDREN)]
    for who, b, a in zip(("", " (a child process)"), before, after):
        if a - b > 64 * 2**20:
            _growth.append((a - b, item.nodeid + who))


def pytest_sessionfinish(session, exitstatus):
    # The two peaks may not have coincided; their sum bounds what the run held at once.
    peak = _peak_bytes() + _peak_bytes(resource.RUSAGE_CHILDREN)
    if peak <= MEMORY_LIMIT_BYTES or session.config.option.collectonly:
        return
    worst = "\n".join(f"  +{g / 2**20:,.0f} MiB  {name}"
                      for g, name in sorted(_growth, reverse=True)[:10])
    print(f"\nthe test suite's peak memory was {peak / 2**30:.2f} GiB, over the "
          f"{MEMORY_LIMIT_BYTES / 2**30:.0f} GiB bound; the tests that raised it most:\n{worst}",
          file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs);
    modules that train them use it through ``pytestmark``."""
    import torch  # the trace engine's tests do not need it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_hf_models(tmp_path_factory):
    """Folders of tiny random Hugging Face causal LMs, one per family of
    ``tests/tiny_hf.py`` (``{family: folder}``, plus ``"openclrs"``: a tiny
    saved openclrs LM), built once per test session."""
    pytest.importorskip("transformers")
    from tests.tiny_hf import FAMILIES, save_tiny_model, save_tiny_openclrs

    root = tmp_path_factory.mktemp("tiny_models")
    folders = {family: save_tiny_model(family, str(root / family)) for family in FAMILIES}
    folders["openclrs"] = save_tiny_openclrs(str(root / "openclrs"))
    return folders


@pytest.fixture(scope="session")
def tiny_bfs_run(tmp_path_factory):
    """A run folder of ``openclrs train``: a bfs reasoner (MPNN, hidden size
    8) trained for 3 steps on lengths 4 and 5, its 32-sample test split
    beside it; built once for the tests that read run folders."""
    from openclrs.models.config import ModelConfig
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import train

    root = tmp_path_factory.mktemp("tiny_bfs_run")
    config = TrainConfig(algorithms=["bfs"], out_dir=str(root / "run"), steps=3, batch_size=4,
                         train_lengths=[4, 5], eval_every=3, test_every=0, log_every=1, seed=3,
                         progress=False, data_root=str(root / "data"), eval_batch_size=10,
                         model=ModelConfig(hidden_size=8, processor="mpnn"))
    with open(os.devnull, "w") as log:
        train(config, log=log)
    return str(root / "run")
