"""Writing files so that nothing half-written is ever seen, and folders that
one process at a time may change. Standard library only; every module that
writes a dataset, manifest, checkpoint, log or plot goes through here.

* :func:`atomic_write` (and :func:`write_text`, :func:`write_json`): the
  content goes to a temporary file beside the target, which is renamed over
  it when complete. A reader sees the old file or the new one, whole.
* :func:`atomic_directory`: the same for a folder of files (a checkpoint):
  built under a temporary name, renamed into place as one unit.
* :func:`replace_directory`: a complete folder put in place of an earlier
  one in a single step (Linux's ``renameat2`` exchange), the old one then
  removed: a reader sees the old folder or the new one, never neither.
* :func:`folder_lock`: an exclusive ``fcntl`` lock on a folder, so that two
  processes writing the same dataset or run never interleave; the second
  one waits (saying which process it waits for) or fails with that message.
* :func:`sweep_temporaries`: removes the temporary files and folders that a
  killed writer left behind (only names :func:`temporary_name` makes, of
  processes no longer alive: never a file of the user's).
* :func:`read_json`: JSON with an error that names the file and says how to
  recover when it is damaged.

Temporary names are exactly ``.tmp-<pid>-<8 hex digits>-<name>``: unique per
process and call, and carrying the writer's process id so a sweep can tell
whether the writer is still alive. The lock file is ``.openclrs-lock``
(:data:`LOCK_NAME`): both names are openclrs's own, so a user's ``.lock`` or
``.tmp-notes`` in an ``--out`` folder is never touched. Files get the usual
``0o666 & ~umask`` permissions (``tempfile.mkstemp`` would leave them ``0600``).

Atomicity here is against processes being killed at any moment, which is
what the tests check; a power cut may still lose data the kernel had not
flushed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from typing import Callable, Iterator

TEMP_PREFIX = ".tmp-"
LOCK_NAME = ".openclrs-lock"
#: What :func:`temporary_name` makes, and all that :func:`sweep_temporaries` removes.
TEMPORARY = re.compile(r"^\.tmp-([0-9]+)-[0-9a-f]{8}-")


class CorruptFileError(ValueError):
    """A file openclrs wrote earlier is damaged: truncated, edited, or not
    the kind of file its name says. The message names the file and what to
    do about it."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_name(path: str) -> str:
    """A fresh temporary path beside ``path`` (same folder, so a rename is atomic)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}")


def check_path(path: str, folder: bool, what: str) -> None:
    """Refuse, before any work, a path that cannot be written: ``path`` itself
    of the wrong kind (a folder where a file goes, or the reverse), or a file
    in the way above it. Creates nothing."""
    absolute = os.path.abspath(path)
    if os.path.lexists(absolute) and os.path.isdir(absolute) != folder:
        kind = "a folder" if folder else "a file"
        raise NotADirectoryError(f"{what} {path}: {kind} is needed, and something else is "
                                 "there")
    above = os.path.dirname(absolute)
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise NotADirectoryError(f"{what} {path}: a file is in the way ({above})")


def make_parent(path: str) -> str:
    """Create the folder ``path`` goes in; a clear error if a file is in the way."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            f"cannot create folder {folder}: a file of that name (or above it) is in the way"
        ) from None
    except PermissionError:
        raise PermissionError(f"cannot create folder {folder}: permission denied") from None
    return folder


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then
    rename it onto ``path``. On any error the temporary file is removed and
    ``path`` is left as it was."""
    make_parent(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    tmp = temporary_name(path)
    try:
        # Created here with the umask's permissions; `write` may reopen it.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except PermissionError:
        raise PermissionError(f"cannot write {path}: permission denied") from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_bytes(path: str, data: bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(path, write)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def json_text(data) -> str:
    """The one JSON layout openclrs writes: indented, keys sorted, newline-terminated."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def write_json(path: str, data) -> None:
    write_text(path, json_text(data))


def read_json(path: str, what: str = "file", fix: str | None = None):
    """Read a JSON file openclrs wrote. A missing file raises
    ``FileNotFoundError``; a damaged one :class:`CorruptFileError` naming the
    file, the ``what`` it should be and ``fix`` (how to recover)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {path}") from None
    except IsADirectoryError:
        raise CorruptFileError(f"{path} should be a {what} but is a folder") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        hint = f"; {fix}" if fix else ""
        raise CorruptFileError(f"{path} is not a readable {what} ({e}){hint}") from None


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Build a folder under a temporary name; on success rename it to
    ``path`` (which must not exist yet), on error remove it::

        with atomic_directory("run/checkpoint-000100") as tmp:
            write_json(os.path.join(tmp, "state.json"), ...)
    """
    make_parent(path)
    if os.path.lexists(path):
        raise FileExistsError(f"{path} exists already")
    tmp = temporary_name(path)
    os.mkdir(tmp, 0o777)
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


RENAME_EXCHANGE = 2   # renameat2's flag: swap two paths in one step (Linux >= 3.15)
AT_FDCWD = -100       # renameat2's "relative to the working directory"


def _exchange(a: str, b: str) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; False where the system or
    the file system cannot (not Linux, an old kernel or C library, a file
    system without the exchange), with nothing changed."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot put {a} in place of {b}: {os.strerror(code)}")


def replace_directory(new: str, path: str) -> None:
    """Put the complete folder ``new`` (built beside ``path``, e.g. under
    :func:`temporary_name`) at ``path``, in place of the folder there, if
    any, which is then removed. With the exchange of Linux's ``renameat2``
    the swap is one step: a reader, or a process killed at any moment,
    sees the old folder or the new one. Elsewhere the old folder is first
    renamed aside (to a temporary name a sweep removes) and put back if the
    second rename fails. ``new`` is gone afterwards, also on failure."""
    try:
        if not os.path.lexists(path):
            os.rename(new, path)
            return
        if not os.path.isdir(path) or os.path.islink(path):
            raise NotADirectoryError(f"{path} is not a folder; it is not replaced")
        if _exchange(new, path):  # new is now the old folder
            shutil.rmtree(new, ignore_errors=True)
            return
        old = temporary_name(path)
        os.rename(path, old)
        try:
            os.rename(new, path)
        except BaseException:
            os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:  # not a process id os.kill could ask about
        return True
    try:
        os.kill(pid, 0)
    except OverflowError:  # too large to be a process id: not a name of ours
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _writer_pid(name: str) -> int | None:
    """The process id in a name :func:`temporary_name` made, else None."""
    match = TEMPORARY.match(name)
    return int(match.group(1)) if match else None


def sweep_temporaries(folder: str, recursive: bool = False) -> list[str]:
    """Remove the temporary files and folders in ``folder`` (and, with
    ``recursive``, its subfolders) whose writer is no longer alive; returns
    their paths. Only names of :func:`temporary_name`'s form
    (``.tmp-<pid>-<8 hex>-...``) are candidates: anything else is left
    alone. Call it holding the folder's lock, and recursively only over
    folders that hold nothing but the caller's own files."""
    removed = []
    if not os.path.isdir(folder):
        return removed
    for root, dirs, names in os.walk(folder):
        for name in list(dirs) + names:
            pid = _writer_pid(name)
            if pid is None or _pid_alive(pid):
                continue
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                dirs.remove(name)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            removed.append(path)
        if not recursive:
            break
    return removed


class FolderBusyError(RuntimeError):
    """Another process holds the folder's lock."""


def _holder(lock_path: str) -> str:
    try:
        with open(lock_path) as f:
            pid = f.read().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid else "another process"


@contextlib.contextmanager
def folder_lock(folder: str, wait: bool = True, what: str = "folder",
                log=sys.stderr, poll: float = 0.5) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) while the
    block runs. If another process holds it: wait for it (``wait=True``,
    after one message naming the process) or raise :class:`FolderBusyError`.
    On entry, temporary files of dead writers in ``folder`` itself (not its
    subfolders) are swept away.

    The lock is ``fcntl.flock`` on ``folder/.openclrs-lock`` (:data:`LOCK_NAME`,
    which holds the holder's process id): released by the kernel when the
    holder exits, however it exits, so a killed process never leaves a
    stale lock. Re-entrant within one thread (a nested call for the same
    folder is a no-op); another thread of the process waits as another
    process would (its own descriptor's ``flock`` conflicts).
    """
    import fcntl

    key = os.path.realpath(folder)
    held = _held()
    if key in held:
        yield
        return
    os.makedirs(folder, exist_ok=True)
    lock_path = os.path.join(folder, LOCK_NAME)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = _holder(lock_path)
                if not wait:
                    raise FolderBusyError(f"{folder} is in use by {holder}: wait for it to "
                                          f"finish, or use another {what}") from None
                if not told and log is not None:
                    print(f"openclrs: waiting for {holder}, which is writing {folder}",
                          file=log)
                    told = True
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held.add(key)
        try:
            sweep_temporaries(folder)
            yield
        finally:
            held.discard(key)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


_HELD = threading.local()   # .folders: the folders this thread holds


def _held() -> set[str]:
    if not hasattr(_HELD, "folders"):
        _HELD.folders = set()
    return _HELD.folders
