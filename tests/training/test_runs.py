"""Run folders (openclrs.training.runs): atomic, verified, never-executable
checkpoints, pointers, config checks, metrics log, lock, clean failures.
Tiny torch modules only (no reasoner), so these are fast."""

import json
import os
import pickle
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from openclrs import files
from openclrs.training import runs

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))


def stepped(optimizer_cls=torch.optim.Adam, **kw):
    model = tiny_model()
    if optimizer_cls is torch.optim.AdamW:  # two parameter groups, as the LM trainer has
        groups = [{"params": [p for p in model.parameters() if p.dim() >= 2],
                   "weight_decay": 0.1},
                  {"params": [p for p in model.parameters() if p.dim() < 2],
                   "weight_decay": 0.0}]
        optimizer = optimizer_cls(groups, lr=1e-2, betas=(0.9, 0.95), **kw)
    else:
        optimizer = optimizer_cls(model.parameters(), lr=1e-2, **kw)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().sum().backward()
        optimizer.step()
    return model, optimizer


def save(run, step, model, optimizer, pointers=("last",)):
    tensors, scalars = runs.optimizer_state(optimizer)
    return run.save(step, weights=model.state_dict(), metadata={"what": "tiny"},
                    tensors={**tensors, "rng.torch": torch.get_rng_state()},
                    state={"optimizer": scalars, "rng_numpy": runs.numpy_rng_state(),
                           "note": "x"},
                    pointers=pointers)


def made_run(folder, steps=(1, 2)):
    run = runs.Run(str(folder), {"lr": 1.0, "steps": 5}, ignore={"steps"})
    model, optimizer = stepped()
    with run.session():
        for step in steps:
            save(run, step, model, optimizer, ("last", "best") if step == steps[0] else ("last",))
    return run, model, optimizer


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_checkpoint_round_trip_is_exact(tmp_path, optimizer_cls):
    model, optimizer = stepped(optimizer_cls)
    np.random.seed(5)
    np.random.rand(3)
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    run = runs.Run(str(tmp_path / "run"), {"a": 1})
    with run.session():
        save(run, 7, model, optimizer)
    checkpoint = run.load("last")
    assert checkpoint.step == 7 and checkpoint.metadata == {"what": "tiny"}
    assert checkpoint.state["note"] == "x"
    fresh_model = tiny_model(seed=1)
    fresh_model.load_state_dict(checkpoint.weights)
    _, fresh = stepped(optimizer_cls)
    fresh.param_groups[0]["lr"] = 0.5  # overwritten by the checkpoint's
    runs.load_optimizer_state(fresh, checkpoint.tensors, checkpoint.state["optimizer"])
    a, b = optimizer.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index, entry in a["state"].items():
        for name, value in entry.items():
            assert torch.equal(value, b["state"][index][name]), (index, name)
    np.random.seed(0)
    runs.set_numpy_rng_state(checkpoint.state["rng_numpy"])
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), numpy_state))
    assert torch.equal(checkpoint.tensors["rng.torch"], torch_state)


def test_layout_pointers_and_garbage(tmp_path):
    run, _, _ = made_run(tmp_path / "run", steps=(1, 2, 3))
    pointers = json.loads((tmp_path / "run" / "checkpoints.json").read_text())
    assert pointers == {"best": "checkpoints/step-0000001", "last": "checkpoints/step-0000003"}
    # step 2 was named by no pointer once step 3 was written
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["step-0000001",
                                                                     "step-0000003"]
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints" / "step-0000003")) == [
        "manifest.json", "model.safetensors", "state.json", "state.safetensors"]
    assert run.load("best").step == 1 and run.load("nothing") is None


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o007, 0o660)])
def test_files_get_umask_permissions(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        run, _, _ = made_run(tmp_path / "run")
        with run.session():
            run.metrics(resume_step=2).append({"step": 3})  # the log too, once appended
    finally:
        os.umask(old)
    seen = set()
    for root, dirs, names in os.walk(tmp_path / "run"):
        for name in names:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            assert mode == expected, (name, oct(mode))
            seen.add(name)
    assert {"metrics.jsonl", "config.json", "checkpoints.json", "model.safetensors"} <= seen


CHECKPOINT_FILES = ["model.safetensors", "state.safetensors", "state.json", "manifest.json"]


def damage(path, how):
    data = open(path, "rb").read()
    if how == "flipped":
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 16]) \
            + data[middle + 16:]
    elif how == "truncated":
        data = data[:len(data) // 2]
    elif how == "empty":
        data = b""
    if how == "missing":
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(data)


@pytest.mark.parametrize("how", ["flipped", "truncated", "empty", "missing"])
@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_damaged_checkpoint_file_is_named(tmp_path, name, how):
    run, _, _ = made_run(tmp_path / "run", steps=(1,))
    path = run.checkpoint_path("last")
    damage(os.path.join(path, name), how)
    with pytest.raises(runs.CorruptCheckpointError) as error:
        run.load("last")
    message = str(error.value)
    assert name in message and "--restart" in message
    # a resume refuses too, with the same message, and leaves the folder alone
    with pytest.raises(runs.CorruptCheckpointError, match=name):
        with run.session():
            run.load("last")
    assert os.path.isdir(path)


def test_damage_with_a_matching_manifest_is_still_caught(tmp_path):
    """Someone rewrites a file and its manifest entry: the safetensors parse
    (never safetensors' own traceback) catches what the checksum cannot."""
    run, _, _ = made_run(tmp_path / "run", steps=(1,))
    folder = run.checkpoint_path("last")
    for name, data in [("model.safetensors", b"\x00" * 40), ("state.json", b"[1, 2]"),
                       ("state.safetensors", (10 ** 6).to_bytes(8, "little") + b"{}")]:
        original = open(os.path.join(folder, name), "rb").read()
        manifest = json.loads(open(os.path.join(folder, "manifest.json")).read())
        manifest["files"][name] = {"sha256": runs._sha256(data), "size": len(data)}
        files.write_json(os.path.join(folder, "manifest.json"), manifest)
        files.write_bytes(os.path.join(folder, name), data)
        with pytest.raises(runs.CorruptCheckpointError, match=name):
            run.load("last")
        manifest["files"][name] = {"sha256": runs._sha256(original), "size": len(original)}
        files.write_json(os.path.join(folder, "manifest.json"), manifest)
        files.write_bytes(os.path.join(folder, name), original)
    assert run.load("last").step == 1


class Payload:
    """Unpickling this creates a marker file (what an attacker's pickle would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_in_every_file_is_never_executed(tmp_path):
    marker = str(tmp_path / "EXECUTED")
    payload = pickle.dumps(Payload(marker))
    names = ["config.json", "checkpoints.json", "metrics.jsonl"] + [
        f"checkpoints/step-0000001/{n}" for n in CHECKPOINT_FILES]
    for name in names + ["last.state.pt"]:
        folder = tmp_path / name.replace("/", "_")
        run, _, _ = made_run(folder, steps=(1,))
        with open(folder / "metrics.jsonl", "w") as f:
            f.write(json.dumps({"step": 1, "loss": 0.5}) + "\n")
        data = payload
        if name == "metrics.jsonl":  # inside the log (a torn last line is dropped unread)
            data = payload + b"\n" + json.dumps({"step": 1}).encode() + b"\n"
        files.write_bytes(str(folder / name), data)
        with pytest.raises(ValueError) as error:  # CorruptFileError / old format: ValueErrors
            with run.session():
                run.load("last")
                run.metrics(resume_step=1)
        assert name.split("/")[-1] in str(error.value), name
        if name.startswith("checkpoints"):  # what evaluation reads, without the lock
            with pytest.raises(ValueError, match=name.split("/")[-1]):
                runs.read_checkpoint(runs.resolve_checkpoint(str(folder), "last"))
        assert not os.path.exists(marker), name
        if name.startswith("checkpoints/") and not name.endswith("manifest.json"):
            # Even with a manifest that vouches for the pickle, it is parsed, never run.
            checkpoint = str(folder / "checkpoints" / "step-0000001")
            manifest = json.loads(open(os.path.join(checkpoint, "manifest.json")).read())
            manifest["files"][name.split("/")[-1]] = {"sha256": runs._sha256(payload),
                                                      "size": len(payload)}
            files.write_json(os.path.join(checkpoint, "manifest.json"), manifest)
            with pytest.raises(runs.CorruptCheckpointError, match=name.split("/")[-1]):
                runs.read_checkpoint(checkpoint)
            assert not os.path.exists(marker), name


def test_a_pickle_as_the_lock_file_is_never_read_as_one(tmp_path):
    run, _, _ = made_run(tmp_path / "run", steps=(1,))
    marker = str(tmp_path / "EXECUTED")
    (tmp_path / "run" / ".openclrs-lock").write_bytes(pickle.dumps(Payload(marker)))
    with run.session():
        assert run.load("last").step == 1
    assert not os.path.exists(marker)


def test_old_format_is_refused_unread(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "last.safetensors").write_bytes(b"x")
    (folder / "last.state.pt").write_bytes(pickle.dumps(Payload(str(tmp_path / "EXECUTED"))))
    (folder / "config.json").write_text(json.dumps({"train": {}}))
    with pytest.raises(ValueError, match="older openclrs checkpoint format.*--restart"):
        with runs.Run(str(folder), {"a": 1}).session():
            pass
    with pytest.raises(ValueError, match="older openclrs checkpoint format"):
        runs.resolve_checkpoint(str(folder), "best")
    from openclrs.training.evaluate import evaluate_run

    with pytest.raises(ValueError, match="older openclrs checkpoint format"):
        evaluate_run(str(folder))
    assert (folder / "last.state.pt").exists()  # refused, not deleted
    with runs.Run(str(folder), {"a": 1}).session(restart=True) as run:
        assert run.load("last") is None
    assert not (folder / "last.state.pt").exists()
    assert not os.path.exists(tmp_path / "EXECUTED")


def old_lm_folder(folder, marker):
    """A run folder as the LM trainer before this format left it."""
    for step in (3, 6):
        checkpoint = folder / f"checkpoint-{step:07d}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "model.safetensors").write_bytes(b"x")
        (checkpoint / "config.json").write_text("{}")
        (checkpoint / "optimizer.pt").write_bytes(pickle.dumps(Payload(marker)))
    (folder / "latest").write_text("checkpoint-0000006\n")
    (folder / "log.jsonl").write_text('{"step": 3, "loss": 1.0}\n')
    (folder / ".latest.tmp").write_text("checkpoint-0000006\n")
    (folder / ".checkpoint-0000009.tmp").mkdir()  # a save killed half-way


def test_old_lm_format_is_refused_unread_and_restart_replaces_it(tmp_path, monkeypatch):
    from openclrs.lm import config as lm_config, train as lm_train

    folder = tmp_path / "old-lm"
    marker = str(tmp_path / "EXECUTED")
    old_lm_folder(folder, marker)

    def never(*args, **kwargs):
        raise AssertionError("an old checkpoint was read")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    with pytest.raises(ValueError) as error:
        with runs.Run(str(folder), {"a": 1}).session():
            pass
    message = str(error.value)
    assert "older openclrs checkpoint format" in message and "--restart" in message
    for name in ("latest", "log.jsonl", "checkpoint-0000003/", "checkpoint-0000006/"):
        assert name in message, name
    with pytest.raises(ValueError, match="older openclrs checkpoint format.*latest"):
        runs.resolve_checkpoint(str(folder), "last")

    mcfg = lm_config.LMConfig(n_layer=1, n_head=1, n_embd=8, block_size=64)
    cfg = lm_config.TrainConfig(out_dir=str(folder), algorithms=("minimum",), lengths=(4,),
                                steps=2, batch_size=2, warmup_steps=1, checkpoint_every=2,
                                log_every=1, threads=1, progress=False)
    with pytest.raises(ValueError, match="older openclrs checkpoint format"):
        lm_train.train(mcfg, cfg)  # `text train`: refused, not a silent step 0
    assert (folder / "checkpoint-0000006" / "optimizer.pt").exists()  # refused, not deleted
    model, _ = lm_train.train(mcfg, cfg, resume=False)  # `text train --restart`
    assert [s for s, _ in model.history] == [1, 2]
    assert sorted(os.listdir(folder)) == sorted([files.LOCK_NAME, "checkpoints", "config.json",
                                                 "checkpoints.json", "metrics.jsonl"])
    assert not os.path.exists(marker)


def test_resume_with_another_config_names_the_settings(tmp_path):
    made_run(tmp_path / "run")
    config = tmp_path / "run" / "config.json"
    before = config.read_bytes()
    with pytest.raises(ValueError, match=r"another config \(differs on lr\).*--restart"):
        with runs.Run(str(tmp_path / "run"), {"lr": 2.0, "steps": 5}).session():
            pass
    assert config.read_bytes() == before
    # an ignored setting may change; config.json records it at the next checkpoint only
    run = runs.Run(str(tmp_path / "run"), {"lr": 1.0, "steps": 9}, ignore={"steps"})
    with pytest.raises(KeyError):
        with run.session():
            raise KeyError("fails before its first checkpoint")
    assert config.read_bytes() == before and run.load("last").step == 2
    model, optimizer = stepped()
    with run.session():
        save(run, 3, model, optimizer)
    assert json.loads(config.read_text()) == {"lr": 1.0, "steps": 9}


def test_config_differences_are_dotted_and_ignore_subtrees():
    old = {"train": {"lr": 1, "model": {"h": 2, "p": "x"}, "steps": 3}, "processes": 1}
    new = {"train": {"lr": 1, "model": {"h": 4, "p": "x"}, "steps": 5}, "processes": 2}
    assert runs.config_differences(old, new) == ["processes", "train.model.h", "train.steps"]
    assert runs.config_differences(old, new, ["train.steps", "processes"]) == ["train.model.h"]
    assert runs.config_differences(old, new, ["train"]) == ["processes"]


def test_failed_fresh_session_leaves_no_folder(tmp_path):
    folder = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError):
        with runs.Run(str(folder), {"a": 1}).session() as run:
            run.metrics().append({"step": 1})
            raise RuntimeError("no CUDA after all")
    assert not folder.exists()
    # A folder that existed (the user's) stays, emptied of what the run made.
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        with runs.Run(str(folder), {"a": 1}, outputs=("results.json",)).session() as run:
            files.write_text(run.path("results.json"), "{}")
            raise RuntimeError("bad head count")
    assert sorted(os.listdir(folder)) == [".openclrs-lock", "notes.txt"]


def test_failed_fresh_session_removes_the_parents_it_made(tmp_path):
    """`openclrs train --out newp2/deeper/run` that fails at once leaves no
    newp2/deeper/ behind; parents that existed, or hold other files, stay."""
    folder = tmp_path / "newp2" / "deeper" / "run"
    with pytest.raises(RuntimeError):
        with runs.Run(str(folder), {"a": 1}).session():
            raise RuntimeError("no data set at FILE")
    assert os.listdir(tmp_path) == []
    # a parent that someone filled meanwhile stays (with its files), as do those above it
    with pytest.raises(RuntimeError):
        with runs.Run(str(folder), {"a": 1}).session():
            (tmp_path / "newp2" / "theirs.txt").write_text("x")
            raise RuntimeError("no data set at FILE")
    assert sorted(os.listdir(tmp_path)) == ["newp2"]
    assert os.listdir(tmp_path / "newp2") == ["theirs.txt"]
    # relative paths too
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(RuntimeError):
            with runs.Run(os.path.join("rel", "deeper", "run"), {"a": 1}).session():
                raise RuntimeError("no data set at FILE")
        assert not os.path.exists("rel")
    finally:
        monkeypatch.undo()
    # once a checkpoint is written, the run stays
    model, optimizer = stepped()
    with pytest.raises(RuntimeError):
        with runs.Run(str(tmp_path / "kept" / "run"), {"a": 1}).session() as run:
            save(run, 1, model, optimizer)
            raise RuntimeError("later")
    assert (tmp_path / "kept" / "run" / "checkpoints.json").exists()


def test_restart_removes_the_run_but_not_other_files(tmp_path):
    made_run(tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("mine")
    (tmp_path / "run" / "results.json").write_text("{}")
    run = runs.Run(str(tmp_path / "run"), {"lr": 3.0}, outputs=("results.json",))
    with run.session(restart=True):
        assert run.load("last") is None
    assert sorted(os.listdir(tmp_path / "run")) == [".openclrs-lock", "config.json", "notes.txt"]
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"lr": 3.0}


def test_metrics_hold_each_step_once_after_resume(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    log = runs.MetricsLog(path)
    for step in range(1, 8):
        log.append({"step": step, "loss": float(step)})
    resumed = runs.MetricsLog(path, resume_step=4)
    for step in range(5, 9):
        resumed.append({"step": step, "loss": float(step)})
    assert [r["step"] for r in runs.read_metrics(path)] == list(range(1, 9))
    # damage before the last line is not a torn write: named, never skipped
    lines = open(path).read().splitlines(keepends=True)
    lines[4] = "{not json\n"
    files.write_text(path, "".join(lines))
    with pytest.raises(files.CorruptFileError, match="metrics.jsonl, line 5"):
        runs.MetricsLog(path, resume_step=4)


@pytest.mark.parametrize("torn", ['{"loss": 6.0, "st', '\x00\x00\x00\x00', '{"step": 6, "lo\n'])
def test_a_torn_last_line_is_dropped_and_produced_again(tmp_path, torn):
    """A crash in the middle of an append leaves the last line cut short: a
    resume drops it (instead of refusing the run) and logs the step again."""
    path = str(tmp_path / "metrics.jsonl")
    log = runs.MetricsLog(path)
    for step in range(1, 6):
        log.append({"step": step, "loss": float(step)})
    with open(path, "a") as f:
        f.write(torn)
    assert [r["step"] for r in runs.read_metrics(path)] == [1, 2, 3, 4, 5]
    resumed = runs.MetricsLog(path, resume_step=5)
    assert open(path).read().endswith('"step": 5}\n')  # trimmed at opening
    resumed.append({"step": 6, "loss": 6.0})
    assert [r["step"] for r in runs.read_metrics(path)] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in resumed.records] == [1, 2, 3, 4, 5, 6]


def test_appends_add_a_line_without_rewriting_the_log(tmp_path, monkeypatch):
    """Each append costs one line, not the whole log (which a long run makes
    quadratic): same file, growing by exactly the new line."""
    path = tmp_path / "metrics.jsonl"
    log = runs.MetricsLog(str(path))
    log.append({"step": 1, "loss": 1.0})
    inode, size = path.stat().st_ino, path.stat().st_size

    def no_rewrite(*args, **kwargs):
        raise AssertionError("the metrics log was rewritten on append")

    monkeypatch.setattr(files, "atomic_write", no_rewrite)
    for step in range(2, 6):
        record = {"step": step, "loss": float(step)}
        log.append(record)
        size += len(json.dumps(record, sort_keys=True)) + 1
        assert (path.stat().st_ino, path.stat().st_size) == (inode, size)
    monkeypatch.undo()
    runs.MetricsLog(str(path), resume_step=5)  # nothing to trim: left as it is
    assert path.stat().st_ino == inode
    assert [r["step"] for r in runs.read_metrics(str(path))] == [1, 2, 3, 4, 5]


def test_training_diverged_is_the_one_in_runs():
    from openclrs.training import loop

    assert loop.TrainingDiverged is runs.TrainingDiverged
    assert issubclass(runs.TrainingDiverged, ValueError)  # the CLI's one-line bad setting


def test_a_second_trainer_on_the_folder_fails_clearly(tmp_path):
    folder = str(tmp_path / "run")
    os.makedirs(folder)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from openclrs import files\n"
         f"with files.folder_lock({folder!r}):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(files.FolderBusyError, match=f"in use by process {holder.pid}"):
            with runs.Run(folder, {"a": 1}).session():
                pass
        assert os.listdir(folder) == [".openclrs-lock"]
    finally:
        holder.kill()
        holder.wait()


def test_derive_seed_is_a_function_of_the_keys():
    assert runs.derive_seed(1, 2, 3) == runs.derive_seed(1, 2, 3)
    assert runs.derive_seed(1, 2, 3) != runs.derive_seed(1, 2, 4)
    assert 0 <= runs.derive_seed(2 ** 40, 7) < 2 ** 32


def test_a_users_own_latest_or_log_file_is_not_an_old_run(tmp_path):
    """The old LM format's generic names count only beside its pickled
    checkpoint folders: a user's own files of those names stay untouched."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "latest").write_text("my notes\n")
    (folder / "log.jsonl").write_text('{"mine": 1}\n')
    (folder / "checkpoint-notes").mkdir()  # no optimizer.pt: not the old trainer's
    assert runs.old_format_files(str(folder)) == []
    runs.refuse_old_format(str(folder))
    (folder / "checkpoint-0000003").mkdir()
    (folder / "checkpoint-0000003" / "optimizer.pt").write_bytes(b"pickle")
    assert runs.old_format_files(str(folder)) == ["latest", "log.jsonl", "checkpoint-0000003/"]


def test_a_users_files_in_the_run_folder_survive_fresh_starts(tmp_path):
    """`--out .` into a folder holding files of the user's: a fresh start
    (failed or not) removes none of them, even those named like a run's
    outputs or like the old LM trainer's temporary files."""
    folder = tmp_path / "here"
    folder.mkdir()
    mine = {"results.json": "my results", ".latest.tmp": "mine", "notes.txt": "mine"}
    for name, text in mine.items():
        (folder / name).write_text(text)
    (folder / ".checkpoint-cache.tmp").mkdir()
    (folder / "tb").mkdir()
    outputs = ("results.json", "tb")
    with pytest.raises(RuntimeError):
        with runs.Run(str(folder), {"a": 1}, outputs=outputs).session() as run:
            run.metrics().append({"step": 1})
            raise RuntimeError("bad head count")
    assert all((folder / n).read_text() == t for n, t in mine.items())
    assert (folder / ".checkpoint-cache.tmp").is_dir() and (folder / "tb").is_dir()
    assert not (folder / "config.json").exists() and not (folder / "metrics.jsonl").exists()
    model, optimizer = stepped()
    with runs.Run(str(folder), {"a": 1}, outputs=outputs).session() as run:
        save(run, 1, model, optimizer)
    assert (folder / ".latest.tmp").read_text() == "mine"
    assert (folder / ".checkpoint-cache.tmp").is_dir()


# ------------------------------------------------ same seed, same bytes

TINY_RUN = ["train", "--algorithm", "bfs", "--steps", "2", "--batch-size", "2",
            "--train-lengths", "4", "5", "--eval-every", "2", "--test-every", "0",
            "--eval-batch-size", "8", "--hidden-size", "8", "--processor", "mpnn", "--seed", "3"]


def test_two_identical_runs_in_two_processes_write_the_same_checkpoint_bytes(tmp_path):
    # safetensors writes a header's __metadata__ in its hash map's order,
    # which changes from process to process (the reasoner's weights carry 5
    # keys: 120 orders); runs.py writes the header again, keys sorted.
    # One run in a child process, the other in this one meanwhile (one thread
    # in both, so the same rounding): two processes, half the start-up cost.
    from openclrs.cli import main

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = {name: [*TINY_RUN, "--out", str(tmp_path / name),
                   "--data-root", str(tmp_path / name) + "-data"] for name in ("a", "b")}
    proc = subprocess.Popen([sys.executable, "-m", "openclrs", *argv["a"]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert torch.get_num_threads() == 1
    assert main(argv["b"]) == 0
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    folders = [runs.resolve_checkpoint(str(tmp_path / name), "last") for name in ("a", "b")]
    manifests = [json.load(open(os.path.join(f, runs.MANIFEST))) for f in folders]
    for name in (runs.MODEL, runs.STATE_TENSORS):
        a, b = (open(os.path.join(f, name), "rb").read() for f in folders)
        assert a == b, name
        assert manifests[0]["files"][name] == manifests[1]["files"][name]
    # state.json: the same but for train_seconds (wall time); numpy's global
    # RNG, saved in every checkpoint, is seeded by the run's seed.
    states = [json.load(open(os.path.join(f, runs.STATE))) for f in folders]
    for state in states:
        state.pop("train_seconds")
    assert states[0] == states[1]

    # A standard safetensors file: safetensors' own loaders read it as written.
    from safetensors import safe_open
    from safetensors.torch import load_file

    checkpoint = runs.read_checkpoint(folders[0])
    path = os.path.join(folders[0], runs.MODEL)
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == checkpoint.metadata and len(f.metadata()) == 5
    loaded = load_file(path)
    assert loaded.keys() == checkpoint.weights.keys()
    assert all(torch.equal(loaded[k], checkpoint.weights[k]) for k in loaded)


def test_safetensors_header_is_canonical_and_old_headers_still_load(tmp_path, monkeypatch):
    weights = {"b": torch.arange(3.0), "a": torch.ones(2, dtype=torch.int64),
               "c": torch.zeros(1, dtype=torch.bfloat16)}
    metadata = {k: f"value {k}" for k in ("zeta", "alpha", "mid", "beta", "é")}
    canonical = runs.safetensors_bytes(weights, metadata)
    # Shuffled metadata (any order safetensors may write): the same bytes.
    assert runs.safetensors_bytes(weights, dict(reversed(metadata.items()))) == canonical
    (size,) = np.frombuffer(canonical[:8], dtype="<u8")
    assert (8 + size) % 8 == 0
    header = json.loads(canonical[8:8 + size])
    assert list(header) == ["__metadata__", "a", "b", "c"]
    assert list(header["__metadata__"]) == sorted(metadata)
    # A checkpoint written before (safetensors' own header, unsorted) still reads.
    monkeypatch.setattr(runs, "_canonical_header", lambda data: data)
    runs.write_checkpoint(str(tmp_path / "old"), weights=weights, metadata=metadata,
                          state={"step": 1})
    old = runs.read_checkpoint(str(tmp_path / "old"))
    assert old.metadata == metadata
    assert all(torch.equal(old.weights[k], weights[k]) for k in weights)


def test_checkpoints_without_pointers_are_refused_not_wiped(tmp_path):
    """A run whose checkpoints.json is lost looked fresh and was cleared,
    checkpoints and all; now it is refused and nothing is removed."""
    folder = str(tmp_path / "run")
    run = runs.Run(folder, {"a": 1}, keep=2)
    with run.session():
        for step in (3, 6):
            run.save(step, weights={"w": torch.zeros(2)}, metadata={}, tensors={}, state={})
    os.remove(os.path.join(folder, runs.POINTERS))
    with pytest.raises(runs.CorruptCheckpointError, match="no checkpoints.json"):
        with runs.Run(folder, {"a": 1}).session():
            pass
    assert sorted(os.listdir(os.path.join(folder, runs.CHECKPOINTS))) == [
        "step-0000003", "step-0000006"]
    # (one checkpoint and no pointers is a stop while the first one was
    # written: the fault-injection tests resume that by starting afresh)
    with runs.Run(folder, {"a": 1}).session(restart=True):    # asked: cleared
        pass
    assert not os.path.exists(os.path.join(folder, runs.CHECKPOINTS))


def test_a_pointer_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    folder = str(tmp_path / "run")
    run = runs.Run(folder, {"a": 1})
    with run.session():
        run.save(3, weights={"w": torch.zeros(2)}, metadata={}, tensors={}, state={},
                 pointers=("last", "best"))
    monkeypatch.chdir(tmp_path)
    os.mkdir("best")                                   # an unrelated folder named best
    assert runs.resolve_checkpoint(folder, "best") == os.path.join(folder, "checkpoints",
                                                                   "step-0000003")
