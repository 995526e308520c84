"""openclrs.files: the sweep removes only openclrs's own temporary names of
dead writers, and the lock file has a name of its own, so a user's files in
an ``--out`` folder (``.tmp-notes``, ``.lock``, ``sub/.tmp-cache/``) survive
every command that writes there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from openclrs import files
from openclrs.cli import main


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _users_files(folder, dead: int) -> dict:
    """A user's files that look like openclrs's names but are not (``dead``:
    a process id no longer in use); returns each path -> its content."""
    made = {".tmp-notes": "my notes", ".tmp-123-notes": "more notes", ".lock": "my lock",
            f".tmp-{dead}-0123abcd": "nothing after the random part",
            f".tmp-{dead}-0123ABCD-x": "not lowercase hex", f".tmp-{dead}-0123abc-x": "7 digits",
            ".tmp-x-0123abcd-y": "no pid", "sub/.tmp-cache/kept.txt": "cache"}
    for name, text in made.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return made


def _unchanged(folder, made) -> None:
    for name, text in made.items():
        with open(os.path.join(folder, name)) as f:
            assert f.read() == text, name


def test_sweep_removes_only_temporary_names_of_dead_writers(tmp_path):
    folder = str(tmp_path)
    dead = _dead_pid()
    made = _users_files(folder, dead)
    ours = [f".tmp-{dead}-0123abcd-data.json", f".tmp-{dead}-89abcdef-checkpoint"]
    with open(os.path.join(folder, ours[0]), "w") as f:
        f.write("half")
    os.mkdir(os.path.join(folder, ours[1]))
    live = os.path.basename(files.temporary_name(os.path.join(folder, "x.json")))
    open(os.path.join(folder, live), "w").close()
    nested = os.path.join(folder, "sub", f".tmp-{dead}-0123abcd-y")
    open(nested, "w").close()
    assert sorted(files.sweep_temporaries(folder)) == sorted(
        os.path.join(folder, n) for n in ours)
    _unchanged(folder, made)
    assert os.path.exists(os.path.join(folder, live))  # its writer (this process) is alive
    assert os.path.exists(nested)  # not recursive unless asked
    assert files.sweep_temporaries(folder, recursive=True) == [nested]
    _unchanged(folder, made)


def test_another_thread_waits_for_the_lock(tmp_path):
    """Re-entrant within a thread only: another thread of the process used
    to walk in (two builders lost each other's manifest entries)."""
    import threading
    import time

    order = []

    def second():
        with files.folder_lock(str(tmp_path), poll=0.01, log=None):
            order.append("second")

    with files.folder_lock(str(tmp_path)):
        with files.folder_lock(str(tmp_path)):     # nested in one thread: no wait
            order.append("first")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first done")
    thread.join(10)
    assert order == ["first", "first done", "second"]


def test_the_lock_file_is_openclrs_own(tmp_path):
    (tmp_path / ".lock").write_text("my lock")
    with files.folder_lock(str(tmp_path)):
        assert (tmp_path / ".openclrs-lock").read_text() == f"{os.getpid()}\n"
    assert files.LOCK_NAME == ".openclrs-lock"
    assert (tmp_path / ".lock").read_text() == "my lock"


def test_users_files_survive_generate_and_train_into_their_folder(tmp_path, monkeypatch):
    """`openclrs text generate --out .` once deleted ./.tmp-notes and
    ./sub/.tmp-cache/ and overwrote ./.lock."""
    monkeypatch.chdir(tmp_path)
    dead = _dead_pid()
    made = _users_files(".", dead)
    # Shaped like a dead writer's file, but where no job of the run writes.
    made[f"sub/.tmp-{dead}-0123abcd-x"] = "not in a folder the run writes into"
    with open(f"sub/.tmp-{dead}-0123abcd-x", "w") as f:
        f.write(made[f"sub/.tmp-{dead}-0123abcd-x"])
    common = ["--algorithms", "bfs", "--lengths", "4", "--quiet"]
    assert main(["text", "generate", *common, "--num-samples", "2", "--out", ".",
                 "--workers", "1"]) == 0
    _unchanged(".", made)
    # Trace datasets: the user's files in the dataset folder and in the
    # subfolder the builder writes into stay; a dead writer's file there goes.
    folder = os.path.join("data", "mine")
    in_folder = _users_files(folder, dead)
    in_sub = _users_files(os.path.join(folder, "bfs"), dead)
    killed = os.path.join(folder, "bfs", f".tmp-{dead}-0123abcd-custom.safetensors")
    open(killed, "w").close()
    assert main(["generate", *common, "--num-samples", "2", "--root", "data", "--name", "mine",
                 "--workers", "1"]) == 0
    _unchanged(folder, in_folder)
    _unchanged(os.path.join(folder, "bfs"), in_sub)
    assert not os.path.exists(killed)
    pytest.importorskip("torch")
    assert main(["text", "train", *common, "--steps", "1", "--out", "."]) == 0
    _unchanged(".", made)


# ------------------------------------------------------------ replace_directory

def _folder(path, **contents):
    os.makedirs(path)
    for name, text in contents.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return path


def _contents(path):
    return {n: open(os.path.join(path, n)).read() for n in sorted(os.listdir(path))}


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_replace_directory_puts_the_new_folder_in_place_of_the_old(tmp_path, monkeypatch,
                                                                   exchange):
    if not exchange:  # a system without renameat2's exchange
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    target = _folder(str(tmp_path / "worst"), **{"a.png": "old", "old.json": "x"})
    new = _folder(files.temporary_name(target), **{"b.png": "new"})
    files.replace_directory(new, target)
    assert _contents(target) == {"b.png": "new"}
    assert sorted(os.listdir(tmp_path)) == ["worst"]  # no old folder or temporary left
    # no folder there yet: a plain rename
    other = _folder(str(tmp_path / "fresh.tmp"), **{"c": "1"})
    files.replace_directory(other, str(tmp_path / "fresh"))
    assert _contents(str(tmp_path / "fresh")) == {"c": "1"}


def test_replace_directory_exchange_is_one_step(tmp_path, monkeypatch):
    """Where renameat2 exists, the swap never renames the old folder aside
    (the moment in which neither exists)."""
    target = _folder(str(tmp_path / "worst"), old="1")
    new = _folder(files.temporary_name(target), new="2")
    if not files._exchange(new, target):
        pytest.skip("no renameat2 exchange on this system")
    files._exchange(new, target)  # swapped twice: as it was
    renames = []
    real = os.rename
    monkeypatch.setattr(os, "rename", lambda a, b: renames.append((a, b)) or real(a, b))
    files.replace_directory(new, target)
    assert renames == [] and _contents(target) == {"new": "2"}
    assert sorted(os.listdir(tmp_path)) == ["worst"]


def test_replace_directory_keeps_the_old_folder_when_the_move_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    target = _folder(str(tmp_path / "worst"), old="1")
    new = _folder(files.temporary_name(target), new="2")
    real = os.rename
    def rename(a, b):
        if a == new:
            raise OSError(28, "No space left on device")
        real(a, b)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        files.replace_directory(new, target)
    assert _contents(target) == {"old": "1"}
    assert sorted(os.listdir(tmp_path)) == ["worst"]  # the new folder removed


def test_replace_directory_refuses_a_file_in_the_way(tmp_path):
    target = tmp_path / "worst"
    target.write_text("mine")
    new = _folder(str(tmp_path / "new"), a="1")
    with pytest.raises(NotADirectoryError, match="worst is not a folder"):
        files.replace_directory(new, str(target))
    assert target.read_text() == "mine" and not os.path.exists(new)
