"""The shared dataset builder (openclrs.data.build) and what it guarantees to
both dataset commands: data never destroyed (another recipe needs --force),
never raced (folder lock, a second run waits), no temporary files left by a
killed run, names that stay inside the folder, the usual permissions, a
damaged manifest named with its fix, and too-large samples refused first."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

import openclrs
from openclrs import files
from openclrs.cli import main
from openclrs.data import (CorruptFileError, Part, RecipeConflictError, build_dataset,
                           check_name, load_split, read_manifest)
from openclrs.data import build
from openclrs.text import datasets as tds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tree(folder) -> dict:
    """Every file under ``folder`` (but the lock) -> its bytes."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            if name != files.LOCK_NAME:
                with open(path, "rb") as f:
                    out[os.path.relpath(path, folder)] = f.read()
    return out


def _temporaries(folder) -> list[str]:
    return [os.path.join(d, n) for d, dirs, names in os.walk(folder) for n in dirs + names
            if n.startswith(files.TEMP_PREFIX)]


def _openclrs(*args, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "openclrs", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


# --------------------------------------------------------------------------
# The builder on its own, with a toy job.
# --------------------------------------------------------------------------

class Toy:
    """A job whose file is its recipe's text, and that needs a prepared
    value (the 'state' of its stream) when it does not start at 0."""

    def __init__(self, name, value, start=0):
        self.file, self.value, self.start = f"{name}.txt", value, start
        self.units = 1

    def recipe(self):
        return {"value": self.value, "start": self.start}

    def cost(self):
        return self.value

    def check(self):
        if self.value < 0:
            raise ValueError(f"negative value {self.value}")

    def needs(self):
        return (("stream", self.start),) if self.start else ()

    def write(self, path, report, prepared):
        state = prepared.get(("stream", self.start), "")
        with open(path, "w") as f:
            f.write(f"{self.value} {state}\n")
        report(1)
        return {"state": state}


def _prepare(todo):
    return [_state_task] if any(job.start for job in todo) else []


def _state_task():
    return {("stream", 5): "five", ("stream", 7): "seven"}


MANIFEST = build.Manifest("toy.json", "toy/1", "parts")


@pytest.mark.parametrize("workers", [1, 2])
def test_builder_prepares_checks_and_keeps_other_recipes(tmp_path, workers):
    folder = str(tmp_path)
    jobs = [Toy("a", 1), Toy("b", 2, start=5), Toy("c", 3, start=7)]
    manifest = build.build(jobs, folder, MANIFEST, workers=workers, progress=False,
                           prepare=_prepare)
    assert open(tmp_path / "b.txt").read() == "2 five\n"
    assert manifest["parts"]["c.txt"]["state"] == "seven"
    on_disk = json.load(open(tmp_path / "toy.json"))
    assert set(on_disk["parts"]) == {"a.txt", "b.txt", "c.txt"}
    assert "seconds" not in on_disk["parts"]["a.txt"]  # reproducible manifest
    before = _tree(folder)
    # A bad job fails before the folder is touched.
    with pytest.raises(ValueError, match="negative"):
        build.build([Toy("d", -1)], folder, MANIFEST, progress=False)
    # Another recipe for a file that exists: refused, nothing changed...
    with pytest.raises(RecipeConflictError, match=r"a\.txt.*--force"):
        build.build([Toy("a", 9)], folder, MANIFEST, workers=workers, progress=False)
    # ...and so is removing a superseded file...
    with pytest.raises(RecipeConflictError, match=r"c\.txt"):
        build.build([Toy("a", 1)], folder, MANIFEST, progress=False,
                    supersedes=lambda entry: entry["value"] == 3)
    assert _tree(folder) == before
    # ...unless forced.
    build.build([Toy("a", 9)], folder, MANIFEST, progress=False, force=True)
    assert open(tmp_path / "a.txt").read() == "9 \n"
    assert open(tmp_path / "b.txt").read() == "2 five\n"


def test_names_stay_inside_the_folder():
    for good in ("custom", "train", "custom_n8", "v1.2", "_x"):
        assert check_name(good) == good
    for bad in ("../x", "..", ".", "a/b", "", ".hidden", "a-b", "a b", "x" * 101, None, 3):
        with pytest.raises(ValueError, match="letters, digits"):
            check_name(bad)
    with pytest.raises(ValueError, match="split name"):
        Part("bfs", "../../escape", 4, 0, 1)
    # One name per thing: no `generate` left in the data and text packages.
    assert not hasattr(openclrs.data, "generate") and not hasattr(openclrs.text, "generate")
    assert callable(openclrs.text.generate_examples)


def test_bad_names_write_nothing_anywhere(tmp_path, capsys):
    root = tmp_path / "a" / "b" / "root"
    common = ["--algorithms", "bfs", "--lengths", "4", "--num-samples", "2", "--quiet"]
    assert main(["generate", *common, "--root", str(root), "--split", "../../../escape"]) == 2
    assert main(["generate", *common, "--root", str(root), "--name", "../../x"]) == 2
    assert main(["text", "generate", *common, "--out", str(root), "--name", "../x"]) == 2
    assert "must be letters, digits" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Data is never destroyed.
# --------------------------------------------------------------------------

def test_custom_set_of_another_recipe_needs_force(tmp_path, capsys):
    args = ["generate", "--root", str(tmp_path), "--algorithms", "insertion_sort",
            "--num-samples", "3", "--quiet", "--workers", "1"]
    assert main(args + ["--lengths", "5"]) == 0
    folder = tmp_path / "custom"
    before = _tree(folder)
    assert main(args + ["--lengths", "6"]) == 2  # same file name, another recipe
    err = capsys.readouterr().err
    assert "insertion_sort/custom.safetensors" in err and "--force" in err and "--name" in err
    assert _tree(folder) == before
    assert main(args + ["--lengths", "6", "--name", "other"]) == 0  # its own name: fine
    assert main(args + ["--lengths", "6", "--force"]) == 0
    entry = read_manifest(str(folder))["parts"]["insertion_sort/custom.safetensors"]
    assert entry["length"] == 6
    assert len(load_split("insertion_sort", "custom", "custom", str(tmp_path))) == 3


def test_text_generate_never_removes_the_published_shards(tmp_path, capsys):
    out = tmp_path / "text"
    published = tds.TRAIN.select(["bfs"]).replace(num_samples=2)  # stands in for train
    tds.generate_text_dataset(str(out), published, workers=1, progress=False)
    train = _tree(out)
    assert len([f for f in train if f.startswith("train-bfs-")]) == 10
    # The command: a custom recipe gets its own default name.
    argv = ["text", "generate", "--algorithms", "bfs", "--lengths", "8", "--num-samples", "5",
            "--out", str(out), "--quiet", "--workers", "1"]
    assert main(argv) == 0
    assert {f: b for f, b in _tree(out).items() if f in train} == train
    assert sorted(set(_tree(out)) - set(train)) == ["custom-bfs-n8-00000.jsonl",
                                                     "manifest-custom.json"]
    # Naming it train anyway: refused, nothing changed, the message says how to proceed.
    assert main(argv + ["--name", "train"]) == 2
    err = capsys.readouterr().err
    assert "10 file(s)" in err and "train-bfs-n10-00000.jsonl" in err and "--force" in err
    assert {f: b for f, b in _tree(out).items() if f in train} == train
    assert main(argv + ["--name", "train", "--force"]) == 0
    assert [f for f in _tree(out) if f.startswith("train-")] == ["train-bfs-n8-00000.jsonl"]


def test_text_default_names():
    from openclrs.cli.text import build_parser, build_split

    def name(*argv):
        return build_split(build_parser().parse_args(["generate", *argv])).name

    assert name() == "train" and name("--split", "val") == "eval"
    assert name("--algorithms", "bfs", "dfs") == "train"  # the published recipe, a subset
    assert name("--algorithms", "bfs", "--lengths", "8") == "custom"
    assert name("--num-samples", "5") == name("--seed", "7") == "custom"
    assert name("--split", "eval", "--hints") == "eval_hints"
    assert name("--legacy-floats") == "train_legacy"
    assert name("--lengths", "8", "--name", "mine") == "mine"


# --------------------------------------------------------------------------
# Never raced; nothing half-written survives.
# --------------------------------------------------------------------------

def test_two_generates_at_once_keep_every_entry(tmp_path):
    common = ["generate", "--root", str(tmp_path), "--name", "shared", "--lengths", "5", "7",
              "--num-samples", "4", "--workers", "1", "--quiet"]
    first = _openclrs(*common, "--algorithms", "insertion_sort", "bubble_sort")
    second = _openclrs(*common, "--algorithms", "bfs", "dfs")
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    folder = tmp_path / "shared"
    listed = set(read_manifest(str(folder))["parts"])
    on_disk = {f for f in _tree(folder) if f.endswith(".safetensors")}
    assert listed == on_disk and len(listed) == 8
    for algorithm in ("insertion_sort", "bubble_sort", "bfs", "dfs"):
        for n in (5, 7):
            assert len(load_split(algorithm, f"custom_n{n}", "shared", str(tmp_path))) == 4


def test_a_second_writer_waits_for_the_lock(tmp_path):
    folder = tmp_path / "custom"
    with files.folder_lock(str(folder)):
        proc = _openclrs("generate", "--root", str(tmp_path), "--algorithms", "bfs",
                         "--lengths", "5", "--num-samples", "2", "--workers", "1", "--quiet")
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready, "the second run neither waited nor finished"
        line = proc.stderr.readline()
        assert f"waiting for process {os.getpid()}" in line and str(folder) in line
        time.sleep(0.3)
        assert not (folder / "manifest.json").exists()  # it really waits
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert set(read_manifest(str(folder))["parts"]) == {"bfs/custom.safetensors"}


def test_killed_generate_leaves_no_temporaries(tmp_path):
    argv = ["generate", "--root", str(tmp_path), "--algorithms", "insertion_sort",
            "--lengths", "48", "--num-samples", "3000", "--workers", "1", "--quiet"]
    proc = _openclrs(*argv)
    deadline = time.monotonic() + 60
    while not _temporaries(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    left = _temporaries(tmp_path)
    assert left, "the run finished before it could be killed"
    assert main(argv) == 0
    assert _temporaries(tmp_path) == []
    assert len(load_split("insertion_sort", "custom", "custom", str(tmp_path))) == 3000


class _Slow(Toy):
    """A job still writing (its temporary file) when another one fails."""

    def write(self, path, report, prepared):
        time.sleep(2)
        return super().write(path, report, prepared)


class _Failing(Toy):
    def write(self, path, report, prepared):
        time.sleep(0.5)  # the slow job has started by now
        raise OSError("disk full")


def test_a_failed_job_stops_the_workers_before_the_lock_is_released(tmp_path):
    folder = str(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        build.build([_Slow("slow", 9), _Failing("bad", 1)], folder, MANIFEST, workers=2,
                    progress=False)
    after = sorted(os.listdir(folder))
    assert _temporaries(folder) == []  # the stopped worker's file is swept too
    # Under the lock again at once (no worker left writing)...
    with files.folder_lock(folder, wait=False):
        time.sleep(2.5)  # ...and nothing appears later
    assert sorted(os.listdir(folder)) == after
    assert not os.path.exists(os.path.join(folder, "slow.txt"))


def test_files_get_the_usual_permissions(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o007, 0o660)):
        old = os.umask(umask)
        try:
            folder = tmp_path / f"u{umask:o}"
            build_dataset([Part("bfs", "x", 4, 0, 2)], str(folder / "data"), workers=1,
                          progress=False)
            tds.generate_text_dataset(str(folder / "text"), {"lengths": {"bfs": [4]},
                                      "num_samples": 2, "seeds": [0]}, workers=1,
                                      progress=False)
        finally:
            os.umask(old)
        written = [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names]
        datasets_ = [p for p in written if os.path.basename(p) != files.LOCK_NAME]
        assert len(datasets_) == 4  # data: file, manifest; text: shard, manifest
        assert {os.stat(p).st_mode & 0o777 for p in written} == {mode}, umask


# --------------------------------------------------------------------------
# Clear errors, before any work.
# --------------------------------------------------------------------------

def test_damaged_manifest_names_the_file_and_the_fix(tmp_path, capsys):
    assert openclrs.data.CorruptFileError is files.CorruptFileError  # one class
    folder = tmp_path / "custom"
    args = ["generate", "--root", str(tmp_path), "--algorithms", "bfs", "--lengths", "4",
            "--num-samples", "2", "--quiet", "--workers", "1"]
    assert main(args) == 0
    good = _tree(folder)
    manifest = folder / "manifest.json"
    for damage in (b'{"format": "openclrs-tr', b"\xff\xfe", b"[]"):
        manifest.write_bytes(damage)
        with pytest.raises(CorruptFileError, match="manifest.json.*delete it"):
            load_split("bfs", "custom", "custom", str(tmp_path))
        assert main(args) == 2
        err = capsys.readouterr().err
        assert str(manifest) in err and "delete it and run the same generate command" in err
    manifest.unlink()  # the recovery the message gives
    assert main(args) == 0
    assert _tree(folder) == good
    text = tmp_path / "text"
    argv = ["text", "generate", "--algorithms", "bfs", "--lengths", "4", "--num-samples", "2",
            "--out", str(text), "--quiet"]
    assert main(argv) == 0
    (text / "manifest-custom.json").write_text("{")
    assert main(argv) == 2
    assert "manifest-custom.json" in capsys.readouterr().err


def test_too_large_a_sample_is_refused_at_once(tmp_path, capsys):
    start = time.perf_counter()
    assert main(["generate", "--algorithms", "insertion_sort", "--lengths", "100000",
                 "--num-samples", "1", "--root", str(tmp_path / "r"), "--quiet"]) == 2
    assert main(["text", "generate", "--algorithms", "insertion_sort", "--lengths", "100000",
                 "--num-samples", "1", "--out", str(tmp_path / "t"), "--quiet"]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert err.count("insertion_sort at length 100000 needs about") == 2
    assert list(tmp_path.iterdir()) == []


def test_seed_needs_lengths(tmp_path, capsys):
    # Once ignored: exit 0 with the canonical seeds.
    assert main(["generate", "--algorithms", "bfs", "--seed", "5", "--root", str(tmp_path),
                 "--quiet"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sampler_bugs_are_not_turned_into_user_errors(monkeypatch):
    from openclrs import samplers
    from openclrs.data.datasets import check_sampling

    # A condition the options cause: one line naming it.
    with pytest.raises(ValueError, match="collinear"):
        check_sampling("graham_scan", 8, None, {"collinearity_resampling_attempts": 1,
                                                "collineararity_eps": 1e9})
    with pytest.raises(ValueError, match="foo"):
        check_sampling("bfs", 4, None, {"foo": 1})

    def bug(self):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(samplers.Sampler, "draw_inputs", bug)
    with pytest.raises(TypeError, match="unsupported operand"):  # a bug: kept as it is
        check_sampling("bfs", 4)


def test_the_canonical_set_holds_only_the_published_recipe(tmp_path, capsys):
    from openclrs.data import datasets

    canonical = tmp_path / "clrs30"
    # The command: refused, nothing written.
    assert main(["generate", "--name", "clrs30", "--algorithms", "bfs", "--lengths", "5",
                 "--num-samples", "3", "--split", "val", "--force", "--root", str(tmp_path),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "clrs30" in err and "bfs/val.safetensors" in err and "--name" in err
    assert not (canonical / "bfs").exists()
    with pytest.raises(ValueError, match="canonical"):  # at the builder, not only the CLI
        build_dataset([Part("bfs", "val", 5, 0, 3)], str(canonical), workers=1,
                      progress=False)
    with pytest.raises(ValueError, match="'custom' is not one of"):
        build_dataset([Part("bfs", "custom", 16, 2, 32)], str(canonical), workers=1,
                      progress=False)
    # A folder written before this check (through the builder directly).
    build.build([Part("bfs", "val", 5, 0, 3)], str(canonical), datasets.MANIFEST,
                workers=1, progress=False)
    before = _tree(canonical)
    with pytest.raises(RecipeConflictError) as error:
        load_split("bfs", "val", root=str(tmp_path))
    message = str(error.value)
    assert str(canonical / "bfs" / "val.safetensors") in message
    assert "num_samples 3 instead of 32" in message
    assert f"openclrs generate --algorithms bfs --splits val --force --root {tmp_path}" \
        in message
    assert _tree(canonical) == before  # never deleted
    assert main(["generate", "--algorithms", "bfs", "--splits", "val", "--force", "--root",
                 str(tmp_path), "--quiet", "--workers", "1"]) == 0
    assert len(load_split("bfs", "val", root=str(tmp_path))) == 32
    # The other fix the message gives: delete the file.
    build.build([Part("bfs", "val", 5, 0, 3)], str(canonical), datasets.MANIFEST,
                workers=1, progress=False, force=True)
    with pytest.raises(RecipeConflictError):
        load_split("bfs", "val", root=str(tmp_path))
    (canonical / "bfs" / "val.safetensors").unlink()
    assert len(load_split("bfs", "val", root=str(tmp_path))) == 32


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_log_does_not_stop_the_build(tmp_path):
    parts = [Part("bfs", "a", 4, 0, 3), Part("dfs", "a", 4, 0, 3)]
    manifest = build_dataset(parts, str(tmp_path), workers=1, progress=True, log=_ClosedPipe())
    assert set(manifest["parts"]) == {p.file for p in parts}
    assert set(read_manifest(str(tmp_path))["parts"]) == {p.file for p in parts}


def test_a_closed_output_pipe_fails_only_after_the_files_are_saved(tmp_path):
    # `openclrs generate ... | true`: the summary cannot be printed, so the
    # run does not report success, but every file and the manifest are there.
    proc = _openclrs("generate", "--root", str(tmp_path), "--algorithms", "bfs", "dfs",
                     "--lengths", "5", "--num-samples", "3", "--workers", "1", "--quiet")
    proc.stdout.close()
    proc.wait(timeout=120)
    assert proc.returncode != 0
    folder = tmp_path / "custom"
    assert set(read_manifest(str(folder))["parts"]) == {"bfs/custom.safetensors",
                                                        "dfs/custom.safetensors"}
    assert len(load_split("dfs", "custom", "custom", str(tmp_path))) == 3


def test_a_dense_build_into_a_sparse_dataset_names_the_kind(tmp_path):
    """Not "damaged, delete it" (following that advice let the dense build
    overwrite the sparse files): another kind of dataset, another folder."""
    from openclrs.data.sparse import build_sparse_dataset, salsa_parts

    folder = str(tmp_path / "d")
    sparse = [p for p in salsa_parts("bfs", num_samples={"train": 2, "val": 1, "test": 1})
              if p.split == "val"]
    build_sparse_dataset(sparse, folder, workers=1, progress=False)
    with pytest.raises(CorruptFileError, match="another kind .*openclrs-sparse-traces-v1"):
        build_dataset([Part("bfs", "val", 4, 0, 2)], folder, workers=1, progress=False)
