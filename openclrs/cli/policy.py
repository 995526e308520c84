"""How a command ends: its exit status and what the user sees on failure.

=====  =====================================================================
exit   meaning
=====  =====================================================================
0      done
1      a bug in openclrs: the full traceback, then a line asking to report it
2      bad input or environment (a bad value, a path in the way, a damaged
       file, a missing optional package, out of memory): one line
       ``error: ...`` (argparse's usage errors use 2 as well)
130    interrupted (Ctrl-C)
141    the output was closed before everything was written (``| head``):
       128 + SIGPIPE, as for any Unix tool killed by a closed pipe
=====  =====================================================================

What counts as the user's error is a short list of exception types, not
"whatever is common": a ``TypeError`` or ``RuntimeError`` raised by a bug
must show where it came from. The library raises ``ValueError`` (or a
subclass, such as :class:`openclrs.files.CorruptFileError`) for any bad
argument, setting or file content, with a message that names it.

Standard library only (and the stdlib-only :mod:`openclrs.files` and
:mod:`openclrs.extras`), so that ``--help`` stays fast.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

from ..extras import EXTRA_OF, MissingDependency, install_hint
from ..files import FolderBusyError

EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE

# Errors that come from what the user asked for or from their machine: the
# message says what is wrong, so one line is enough.
USER_ERRORS = (
    ValueError,          # bad argument, setting or file content (CorruptFileError)
    OverflowError,       # a number too large for what it sizes
    FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
    PermissionError,     # a path the user gave
    MissingDependency,   # an optional package; the message names its pip extra
    FolderBusyError,     # another openclrs process is writing that folder
)
# Other OSErrors that are about the machine, not the code.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG,
                      errno.ELOOP, errno.EMFILE, errno.ENFILE}

# What an OSError about a path means, in the words of someone who gave the path.
PATH_ERRORS = {
    errno.ENOTDIR: "part of this path is a file, not a folder",
    errno.EISDIR: "is a folder (a file is needed here)",
    errno.ENOENT: "no such file or folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
}

BUG_FOOTER = ("openclrs: this is a bug, not a problem with your input; please report it "
              "with the command and the traceback above")
OUT_OF_MEMORY_HINT = ("use smaller sizes (--length, --lengths, --batch-size, --num-samples) "
                      "or a machine with more memory")


def _out_of_memory(error: BaseException) -> bool:
    """Memory ran out while working (not a size the library refused up front,
    which is a ValueError whose message says what fits)."""
    if isinstance(error, ValueError):
        return False
    # torch.cuda.OutOfMemoryError is a RuntimeError; named, so torch is not imported here
    return isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"


def _worker_died(error: BaseException) -> bool:
    # concurrent.futures' BrokenProcessPool (a RuntimeError): a worker process was
    # killed, almost always by the kernel for lack of memory
    return type(error).__name__ == "BrokenProcessPool"


def _missing_optional(error: BaseException) -> bool:
    """An optional package (torch, safetensors, ...) imported plainly and not
    installed: the user's environment, said with the pip command that fixes
    it. A missing module *inside* an installed package is a bug."""
    if not isinstance(error, ModuleNotFoundError):
        return False
    name = error.name or ""
    top = name.split(".")[0]
    if top not in EXTRA_OF:
        return False
    if name == top:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True


def is_user_error(error: BaseException) -> bool:
    if isinstance(error, USER_ERRORS) or _out_of_memory(error) or _worker_died(error) \
            or _missing_optional(error):
        return True
    return isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS


def describe(error: BaseException) -> str:
    """The one line shown for a user error."""
    if _out_of_memory(error):
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"out of memory{f' ({detail})' if detail else ''}: {OUT_OF_MEMORY_HINT}"
    if _missing_optional(error):
        return f"{error.name.split('.')[0]} is not installed: {install_hint(error.name)}"
    if _worker_died(error):
        return ("a worker process was killed (usually by the system, for lack of memory): "
                "use fewer --workers or smaller sizes; run the same command again to resume")
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        # "[Errno 20] Not a directory: 'x/y'" -> "x/y: part of this path is a file, ..."
        path = os.fsdecode(error.filename)
        if error.errno == errno.EEXIST and os.path.isfile(path):
            return f"{path}: a file is in the way (a folder is needed here)"
        what = PATH_ERRORS.get(error.errno) or error.strerror[:1].lower() + error.strerror[1:]
        return f"{path}: {what}"
    return str(error) or type(error).__name__


def run_command(args) -> int:
    """Run a parsed subcommand (``args.func(args)``) under the exit policy above."""
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe must fail here, not silently at exit
        return status
    except BrokenPipeError:
        return _output_closed()
    except KeyboardInterrupt:
        _print_error("interrupted (train and generate commands resume when run again)")
        return EXIT_INTERRUPTED
    except Exception as error:
        if is_user_error(error):
            _print_error(f"error: {describe(error)}")
            return EXIT_USER_ERROR
        traceback.print_exc()
        _print_error(BUG_FOOTER)
        return EXIT_BUG


def _print_error(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:
        _silence(sys.stderr)


def _output_closed() -> int:
    """Whoever reads our output has gone (``| head``, ``| true``). Point the
    standard streams at /dev/null, so that Python's flush at exit does not
    print "Exception ignored ... BrokenPipeError", and fail: output was lost.
    Files a command writes are saved before it prints, so they are complete."""
    _silence(sys.stdout)
    try:
        sys.stderr.flush()
    except BrokenPipeError:
        _silence(sys.stderr)
    return EXIT_BROKEN_PIPE


def _silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test's capture)
        pass
