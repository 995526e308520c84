"""A training run killed while it writes a checkpoint, or resumed from a
damaged one: the resume sees the old checkpoint or the new one, whole, and
ends exactly as an uninterrupted run; damage is named, never loaded."""

import json
import os
import shutil

import pytest
import torch

from openclrs.cli.training import main
from openclrs.models.config import ModelConfig
from openclrs.training import loop, runs
from openclrs.training.config import TrainConfig
from openclrs.training.loop import train

KILLED = 137

# One thread in the parent as in the forked children (which set it): the
# thread count changes float rounding, and the runs compared here must differ
# only by where they were interrupted.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def tiny(out, data_root, **kw):
    options = dict(algorithms=["bfs"], out_dir=str(out), steps=8, batch_size=4,
                   train_lengths=[4, 5], eval_every=4, test_every=0, log_every=1, seed=11,
                   progress=False, data_root=data_root,
                   model=ModelConfig(hidden_size=8, processor="mpnn"))
    options.update(kw)
    return TrainConfig(**options)


def outcome(run_dir):
    """What must not depend on interruptions: metrics, results, final weights."""
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    results.pop("train_seconds")
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        metrics = f.read()
    run = runs.Run(run_dir, {}, writer=False)
    return results, metrics, run.load("last").weights, run.load("best").weights


def same(a, b):
    assert a[0] == b[0] and a[1] == b[1]
    for x, y in zip(a[2:], b[2:]):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root, one_thread):
    out = tmp_path_factory.mktemp("uninterrupted")
    train(tiny(out, data_root))
    return str(out)


def run_killed(config, step: int, kill_at: int) -> int:
    """Train in a forked child that dies like SIGKILL (``os._exit``, no
    cleanup) at the ``kill_at``-th file-system operation of the checkpoint
    of ``step`` (a file write dies half-way through). Returns the child's
    exit status; a child that was never killed exits with the number of
    operations it counted."""
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    status = 1
    try:
        torch.set_num_threads(1)
        count, armed = [0], [False]

        def tick():
            if armed[0]:
                count[0] += 1
                if count[0] == kill_at:
                    os._exit(KILLED)

        def wrap(function):
            def wrapped(*args, **kwargs):
                tick()
                return function(*args, **kwargs)
            return wrapped

        write_new = runs._write_new

        def half_written(path, data):
            if armed[0] and count[0] + 1 == kill_at:
                with open(path, "xb") as f:
                    f.write(data[:len(data) // 2])
                    f.flush()
            tick()
            write_new(path, data)

        save = runs.Run.save

        def armed_save(self, step_, **kwargs):
            armed[0] = step_ == step
            try:
                return save(self, step_, **kwargs)
            finally:
                armed[0] = False

        os.mkdir, os.rename, os.replace = wrap(os.mkdir), wrap(os.rename), wrap(os.replace)
        shutil.rmtree, os.remove = wrap(shutil.rmtree), wrap(os.remove)
        runs._write_new, runs.Run.save = half_written, armed_save
        train(config)
        status = min(count[0], 100) if kill_at > 100 else 0
    finally:
        os._exit(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("step", [4, 8])
def test_kill_at_every_stage_of_a_checkpoint_write(reference, tmp_path, data_root, step,
                                                   monkeypatch):
    # The plots every finished run draws are no part of the outcome compared
    # here, and drawing them is a good part of each of the ~20 runs' time.
    monkeypatch.setattr(loop, "plot_test_scores", lambda *args, **kwargs: False)
    stages = run_killed(tiny(tmp_path / "count", data_root), step, kill_at=10 ** 6)
    assert 6 <= stages < 100, stages  # mkdir, 4 files, rename, pointers, clean-up
    for k in range(1, stages + 1):
        out = tmp_path / f"killed-{k}"
        assert run_killed(tiny(out, data_root), step, kill_at=k) == KILLED
        if out.exists() and (out / "checkpoints.json").exists():
            # the old checkpoint or the new one, whole
            assert runs.Run(str(out), {}, writer=False).load("last").step in (step - 4, step)
        train(tiny(out, data_root))
        same(outcome(str(out)), outcome(reference))
        leftovers = [n for _, dirs, names in os.walk(out) for n in dirs + names
                     if n.startswith(".tmp-")]
        assert not leftovers, (k, leftovers)


CHECKPOINT_FILES = ["model.safetensors", "state.safetensors", "state.json", "manifest.json"]


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_flipped_bytes_are_named_by_evaluate_and_resume(reference, tmp_path, data_root,
                                                        capsys, name):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    folder = runs.Run(str(run_dir), {}, writer=False).checkpoint_path("best")
    path = os.path.join(folder, name)
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0x5A
    open(path, "wb").write(bytes(data))
    assert main(["evaluate", "--run", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert path in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # resume (more steps): the same checkpoint is `last` too; refused, folder kept
    with pytest.raises(runs.CorruptCheckpointError, match=name):
        train(tiny(run_dir, data_root, steps=12))
    assert os.path.exists(path)


def test_failed_train_keeps_config_and_checkpoints(reference, tmp_path, data_root, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    before = {p: open(os.path.join(run_dir, p), "rb").read()
              for p in ("config.json", "checkpoints.json", "metrics.jsonl")}
    argv = ["train", "--out", str(run_dir), "--algorithm", "bfs", "--quiet"]
    assert main(argv + ["--dropout", "2"]) == 2            # refused before the folder
    assert main(argv + ["--hidden-size", "9"]) == 2        # another config
    assert "another config" in capsys.readouterr().err
    for p, data in before.items():
        assert open(os.path.join(run_dir, p), "rb").read() == data, p
    del before["metrics.jsonl"]  # its records past the checkpoint go at the next resume

    class Stop(Exception):
        pass

    def stop(step):
        raise Stop
    with pytest.raises(Stop):  # a resume (more steps) dying before its first checkpoint
        train(tiny(run_dir, data_root, steps=12), hook=stop)
    for p, data in before.items():
        assert open(os.path.join(run_dir, p), "rb").read() == data, p


def test_restart_starts_afresh(reference, tmp_path, data_root):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    results = train(tiny(run_dir, data_root, steps=4, seed=12), restart=True)
    assert results["steps"] == 4
    assert runs.Run(str(run_dir), {}, writer=False).load("last").step == 4
    with open(run_dir / "metrics.jsonl") as f:
        assert max(json.loads(line)["step"] for line in f) == 4
