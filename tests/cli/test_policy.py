"""The exit policy (openclrs.cli.policy): user errors in one line with exit 2,
bugs with their traceback and exit 1, a closed output pipe is a failure."""

from __future__ import annotations

import argparse
import errno
import os

import pytest

from openclrs.cli.policy import (BUG_FOOTER, EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_USER_ERROR,
                                 run_command)
from openclrs.extras import MissingDependency
from openclrs.files import CorruptFileError, FolderBusyError

from .helpers import one_line_error, run_cli


def run_raising(error: BaseException) -> int:
    def func(args):
        raise error
    return run_command(argparse.Namespace(func=func))


@pytest.mark.parametrize("error", [
    ValueError("--lr must be positive, got -1"),
    CorruptFileError("runs/x/config.json is damaged: delete it or use --restart"),
    OverflowError("int too large to convert to float"),
    FileNotFoundError("no checkpoint in runs/x"),
    FileExistsError(errno.EEXIST, "File exists", "runs/x"),
    NotADirectoryError("cannot create folder a/b: a file of that name is in the way"),
    IsADirectoryError(errno.EISDIR, "Is a directory", "out.json"),
    PermissionError(errno.EACCES, "Permission denied", "/root/data"),
    MissingDependency('safetensors is not installed: pip install "openclrs[torch]"'),
    FolderBusyError("data/clrs30 is in use by process 123"),
    OSError(errno.ENOSPC, "No space left on device", "data/x.safetensors"),
], ids=lambda e: type(e).__name__)
def test_user_errors_are_one_line(error, capsys):
    assert run_raising(error) == EXIT_USER_ERROR
    line = one_line_error(capsys.readouterr().err)
    if getattr(error, "filename", None):  # "out.json: is a folder ...", not "[Errno 21] ..."
        assert line.startswith(f"error: {error.filename}: ") and "Errno" not in line
    else:
        assert line == f"error: {error}"


class OutOfMemoryError(RuntimeError):  # as torch.cuda names it
    pass


@pytest.mark.parametrize("error", [MemoryError(), OutOfMemoryError("CUDA out of memory.\nmore")])
def test_out_of_memory_is_one_line(error, capsys):
    assert run_raising(error) == EXIT_USER_ERROR
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("error: out of memory") and "--batch-size" in line


def test_killed_worker_is_one_line(capsys):
    from concurrent.futures.process import BrokenProcessPool

    assert run_raising(BrokenProcessPool("terminated abruptly")) == EXIT_USER_ERROR
    assert "--workers" in one_line_error(capsys.readouterr().err)


def test_refused_size_keeps_its_message(capsys):
    class TooLarge(ValueError, MemoryError):  # as openclrs.footprint.SampleTooLarge
        pass
    message = "bfs at length 100000 needs about 447.6 GiB; use length <= 19960"
    assert run_raising(TooLarge(message)) == EXIT_USER_ERROR
    assert one_line_error(capsys.readouterr().err) == f"error: {message}"


def bug_in_library():
    return int(None)  # a TypeError, as a bug would raise


@pytest.mark.parametrize("error", [TypeError("unsupported operand"), RuntimeError("oops"),
                                   KeyError("x"), AssertionError(), ImportError("no module y"),
                                   AttributeError("x"), OSError(errno.EIO, "I/O error")],
                         ids=lambda e: type(e).__name__)
def test_bugs_show_their_traceback(error, capsys):
    assert run_raising(error) == EXIT_BUG
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in func" in err  # where it came from
    assert err.rstrip().endswith(BUG_FOOTER)


def test_a_bug_names_its_origin(capsys):
    assert run_command(argparse.Namespace(func=lambda args: bug_in_library())) == EXIT_BUG
    err = capsys.readouterr().err
    assert "in bug_in_library" in err and "TypeError" in err


def test_success_and_status_pass_through(capsys):
    assert run_command(argparse.Namespace(func=lambda args: 0)) == 0
    assert run_command(argparse.Namespace(func=lambda args: 3)) == 3


def test_interrupt(capsys):
    assert run_raising(KeyboardInterrupt()) == 130
    assert "interrupted" in capsys.readouterr().err


def test_path_errors_in_plain_words(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    cases = {NotADirectoryError(errno.ENOTDIR, "Not a directory", f"{a_file}/x"):
             f"{a_file}/x: part of this path is a file, not a folder",
             FileExistsError(errno.EEXIST, "File exists", str(a_file)):
             f"{a_file}: a file is in the way (a folder is needed here)",
             IsADirectoryError(errno.EISDIR, "Is a directory", str(tmp_path)):
             f"{tmp_path}: is a folder (a file is needed here)"}
    for error, message in cases.items():
        assert run_raising(error) == EXIT_USER_ERROR
        assert one_line_error(capsys.readouterr().err) == f"error: {message}"


def test_broken_pipe_in_process(capsys):
    assert run_raising(BrokenPipeError(errno.EPIPE, "Broken pipe")) == EXIT_BROKEN_PIPE


@pytest.mark.parametrize("command", [["list"], ["show", "bfs", "--length", "4"]])
def test_closed_stdout_is_a_failure(command):
    """`openclrs list | true`: the reader is gone before we write. The command
    must not exit 0 (output was lost), and must not spill Python's
    "Exception ignored ... BrokenPipeError" or a traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = run_cli(*command, stdout=write)
    finally:
        os.close(write)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert done.stderr == ""

