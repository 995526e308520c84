"""The one builder of dataset files: resumable, parallel, never destroying or racing.

Both dataset builders describe their work as *jobs* and hand them to
:func:`build`: :mod:`openclrs.data.datasets` (one safetensors file of traces
per algorithm and split) and :mod:`openclrs.text.datasets` (CLRS-Text
shards). A job is one file::

    job.file            # its path inside the dataset folder
    job.recipe()        # JSON-normal dict: everything the file's bytes depend on
    job.units           # progress units it makes (samples, examples)
    job.cost()          # relative time, to start the longest jobs first
    job.check()         # raise ValueError if it cannot be built (before any work)
    job.needs()         # keys of prepared values it needs (see `prepare`)
    job.write(path, report, prepared) -> dict
                        # write the file at `path`, call report(k) as k units
                        # are done; returns extra manifest fields

What :func:`build` guarantees, for every kind of dataset:

* **Resumable.** The manifest lists each finished file with its recipe,
  size and sha256, and is rewritten (atomically) as files finish. A rerun
  skips files that are intact and rebuilds missing, truncated or corrupted
  ones; a killed run loses at most the files it was writing.
* **Deterministic.** A file's bytes depend only on its recipe, never on the
  worker count or the order of work; the manifest holds no timings.
* **Never destroys another recipe's data.** A listed file whose recorded
  recipe differs from the job's (or a file the new set supersedes, e.g. a
  split's shards at lengths it no longer has) is replaced only with
  ``force=True`` (``--force``); otherwise :class:`RecipeConflictError`
  says which files and how to proceed, before anything is changed.
* **Never raced.** The folder is locked (:func:`openclrs.files.folder_lock`)
  from reading the manifest to writing it last (workers included: on an
  error they are stopped before the lock is released): a second run into
  the same folder waits, saying which process holds it. Temporary files
  left by killed writers are swept under the lock, in the folders the jobs
  write into and nowhere else; every file is written through
  :mod:`openclrs.files` (temporary name, usual permissions, rename).
* **Checked first.** Every job's ``check()`` (sampler options, lengths,
  memory) runs before the folder is touched, so a bad request fails at
  once and leaves nothing behind.

Parallelism: a ``ProcessPoolExecutor`` (fork context on Linux), longest jobs
first. Jobs may need values that several of them share (CLRS-Text: the RNG
state of a stream at the offset where a shard starts); ``prepare(todo)``
returns tasks (picklable callables returning ``{key: value}``) that run
first, and a job starts once every key of ``job.needs()`` is known.
Progress reaches the bar through a ``report`` callable handed to each job
(in a worker process, a queue back to the parent).
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from .. import files

#: Names of datasets and splits: one path component, no hidden files, no
#: ``-`` (CLRS-Text globs ``{split}-*``, so a ``-`` would mix two splits).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]{0,99}$")


def check_name(name, what: str = "name") -> str:
    """``name`` if it is safe as a file or folder name inside a dataset
    (letters, digits, ``_`` and ``.``, not starting with ``.``; at most 100
    characters), else a ``ValueError`` saying so."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} must be letters, digits, '_' or '.' (not starting with '.', "
                         f"at most 100 characters), got {name!r}")
    return name


def split_file(algorithm: str, split: str) -> str:
    """Where a dataset stores one split of one algorithm: ``ALGORITHM/SPLIT.safetensors``."""
    return f"{algorithm}/{split}.safetensors"


class SplitFile:
    """What the jobs that store one split of one algorithm share (mixed
    into a frozen dataclass with ``algorithm``, ``split`` and
    ``num_samples`` fields): their :func:`split_file`, one unit of progress
    per sample."""

    @property
    def file(self) -> str:
        return split_file(self.algorithm, self.split)

    @property
    def units(self) -> int:
        return self.num_samples


class RecipeConflictError(ValueError):
    """Files of the dataset were made with another recipe; replacing them
    needs ``force=True`` (``--force``)."""


@dataclass(frozen=True)
class Manifest:
    """How a dataset's manifest is laid out: the file (inside the folder),
    its format tag, the key its entries are listed under, fixed header
    fields, and an entry field summed into the header (if any)."""

    name: str = "manifest.json"
    format: str = "openclrs-traces-v1"
    entries: str = "parts"
    header: Mapping = field(default_factory=dict)
    total: str | None = None
    fix: str = "delete it and run the same generate command again: it rebuilds the files"

    def path(self, folder: str) -> str:
        return os.path.join(folder, self.name)

    def empty(self) -> dict:
        return {"format": self.format, **self.header, self.entries: {}}

    def read(self, folder: str) -> dict:
        """The manifest in ``folder`` (empty if there is none); a damaged one
        raises :class:`~openclrs.files.CorruptFileError` naming the file and
        how to recover."""
        path = self.path(folder)
        if not os.path.exists(path):
            return self.empty()
        data = files.read_json(path, "dataset manifest", self.fix)
        theirs = data.get("format") if isinstance(data, dict) else None
        if isinstance(theirs, str) and theirs.startswith("openclrs") and theirs != self.format:
            # another kind of openclrs dataset (sparse beside dense): not damaged,
            # and deleting it is not the fix
            raise files.CorruptFileError(
                f"{os.path.dirname(path)} holds an openclrs dataset of another kind "
                f"({theirs}, not {self.format}): give another --name or folder")
        if not isinstance(data, dict) or theirs != self.format \
                or not isinstance(data.get(self.entries), dict):
            raise files.CorruptFileError(
                f"{path} is not an openclrs manifest of format {self.format!r}; {self.fix}")
        return data

    def write(self, folder: str, manifest: dict) -> None:
        """Atomically; sorted and without timings, so it is reproducible."""
        entries = {k: {f: v for f, v in e.items() if f != "seconds"}
                   for k, e in sorted(manifest[self.entries].items())}
        stable = {"format": self.format, **self.header}
        if self.total:
            stable[self.total] = sum(e[self.total] for e in entries.values())
        stable[self.entries] = entries
        files.write_json(self.path(folder), stable)


def same_recipe(entry: Mapping, recipe: Mapping) -> bool:
    """Whether a manifest entry records exactly ``recipe``."""
    return all(k in entry and entry[k] == v for k, v in recipe.items())


def is_intact(folder: str, entry: Mapping, verify: bool = True) -> bool:
    """Whether the file of a manifest entry is there with its recorded size
    (and, with ``verify``, sha256)."""
    from .storage import sha256_of

    path = os.path.join(folder, entry["file"])
    if not os.path.isfile(path) or os.path.getsize(path) != entry["bytes"]:
        return False
    return not verify or sha256_of(path) == entry["sha256"]


def build(jobs: Iterable, folder: str, manifest: Manifest, *, workers: int | None = None,
          progress: bool = True, verify: bool = True, force: bool = False,
          supersedes: Callable[[Mapping], bool] | None = None,
          prepare: Callable[[list], list] | None = None, log=None,
          desc: str = "generating", unit: str = "sample") -> dict:
    """Build every job whose file is missing, stale or corrupted; returns
    the manifest (entries built now carry their ``seconds``).

    ``workers``: processes (default: all cores; 1 builds in-process).
    ``verify``: hash finished files before trusting them (else size only).
    ``force``: replace files made with another recipe. ``supersedes(entry)``:
    whether a listed file that no job makes belongs to the set being built
    (it is then removed, which also needs ``force`` when the file exists).
    ``prepare``: see the module docstring. ``log``: where messages and the
    progress bar go (default: standard error, as it is at the call).
    """
    jobs = list(jobs)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    seen = set()
    for job in jobs:
        if job.file in seen:
            raise ValueError(f"two jobs write {job.file}")
        seen.add(job.file)
        job.check()  # before the folder is touched
    log = _Log(sys.stderr if log is None else log)
    with files.folder_lock(folder, what="dataset folder", log=log):
        _sweep(folder, jobs)
        current = manifest.read(folder)
        todo = _plan(jobs, folder, current, manifest, verify, force, supersedes, log)
        if not todo:
            return current
        todo.sort(key=lambda job: job.cost(), reverse=True)  # no straggler at the end
        workers = max(1, min(workers or _cpus(), len(todo)))
        tasks = prepare(todo) if prepare else []
        bar = _progress(sum(job.units for job in todo), progress, log, desc, unit)
        recorder = _Recorder(folder, manifest, current, bar)
        try:
            if workers == 1:
                _run_serial(todo, tasks, folder, recorder, bar)
            else:
                _run_parallel(todo, tasks, folder, recorder, bar, workers)
        except BaseException:
            _sweep(folder, todo)  # the files of stopped workers
            raise
        finally:
            recorder.flush()
            bar.close()
    return current


def _sweep(folder, jobs) -> None:
    """Remove what killed writers of these jobs left: temporary files in the
    folders the jobs write into, and nowhere else (the dataset folder may be
    an ``--out .`` full of the user's own files and folders)."""
    for sub in sorted({os.path.dirname(job.file) for job in jobs}):
        files.sweep_temporaries(os.path.join(folder, sub))


def _cpus() -> int:
    """The CPUs this process may run on (its affinity: a cpuset, Slurm's or
    taskset's share, not the whole host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _plan(jobs, folder, current, manifest, verify, force, supersedes, log) -> list:
    """The jobs to run; settles conflicts and superseded files first."""
    entries = current[manifest.entries]
    planned = {job.file for job in jobs}
    exists = lambda file: os.path.lexists(os.path.join(folder, file))  # noqa: E731
    conflicts = [job.file for job in jobs if job.file in entries and exists(job.file)
                 and not same_recipe(entries[job.file], job.recipe())]
    superseded = [file for file, entry in entries.items()
                  if file not in planned and supersedes is not None and supersedes(entry)]
    replaced = conflicts + [file for file in superseded if exists(file)]
    if replaced and not force:
        shown = ", ".join(replaced[:5]) + (f" and {len(replaced) - 5} more"
                                           if len(replaced) > 5 else "")
        raise RecipeConflictError(
            f"{folder} holds {len(replaced)} file(s) made with another recipe that this run "
            f"would replace: {shown}. Nothing was changed. To keep them, give this set another "
            f"name (--name); to replace them, add --force (force=True).")
    changed = False
    for file in superseded:
        del entries[file]
        changed = True
    if superseded:
        # the manifest first: a stop in between leaves an unlisted file (swept
        # or rebuilt), never a manifest naming a missing one
        manifest.write(folder, current)
    for file in superseded:
        if exists(file):
            print(f"openclrs: removing {file} (not part of the set being built)", file=log)
            os.remove(os.path.join(folder, file))
    todo = []
    for job in jobs:
        entry = entries.get(job.file)
        if entry is not None and same_recipe(entry, job.recipe()) \
                and is_intact(folder, entry, verify):
            continue
        if entry is not None:
            if exists(job.file):
                reason = "made with another recipe" if job.file in conflicts \
                    else "corrupted or truncated"
                print(f"openclrs: {job.file} is {reason}; rebuilding it", file=log)
            del entries[job.file]
            changed = True
        todo.append(job)
    if changed:
        manifest.write(folder, current)
    return todo


# --------------------------------------------------------------------------
# Writing one file (in this process or a worker).
# --------------------------------------------------------------------------

def write_job(job, folder: str, report: Callable[[int], None] = lambda k: None,
              prepared: Mapping | None = None) -> dict:
    """Write ``job``'s file atomically; returns its manifest entry."""
    from .storage import sha256_of

    start = time.perf_counter()
    path = os.path.join(folder, job.file)
    entry = {"file": job.file, **job.recipe()}

    def write(tmp):
        entry.update(job.write(tmp, report, prepared or {}) or {})
        entry.update(bytes=os.path.getsize(tmp), sha256=sha256_of(tmp))

    files.atomic_write(path, write)
    entry["seconds"] = time.perf_counter() - start
    return entry


class _Throttled:
    """Adds up progress reports, passing them on at most every 0.2 s."""

    def __init__(self, send):
        self.send, self.pending, self.last = send, 0, time.monotonic()

    def __call__(self, k: int = 1):
        self.pending += k
        if time.monotonic() - self.last > 0.2:
            self.flush()

    def flush(self):
        if self.pending:
            self.send(self.pending)
            self.pending = 0
        self.last = time.monotonic()


_worker_queue = None  # in a worker process: the queue progress goes back through


def _init_worker(queue):
    global _worker_queue
    _worker_queue = queue


def _worker_job(job, folder, prepared):
    report = _Throttled(_worker_queue.put)
    try:
        return write_job(job, folder, report, prepared)
    finally:
        report.flush()


def _worker_task(task):
    return task()


# --------------------------------------------------------------------------
# Scheduling.
# --------------------------------------------------------------------------

class _Recorder:
    """Adds finished files to the manifest, rewriting it at most once a second
    (and on the way out)."""

    def __init__(self, folder, manifest, current, bar):
        self.folder, self.manifest, self.current, self.bar = folder, manifest, current, bar
        self.last, self.dirty = time.monotonic(), False

    def add(self, entry):
        self.current[self.manifest.entries][entry["file"]] = entry
        self.dirty = True
        self.bar.set_postfix_str(entry["file"], refresh=False)
        if time.monotonic() - self.last > 1.0:
            self.flush()

    def flush(self):
        if self.dirty:
            self.manifest.write(self.folder, self.current)
            self.dirty = False
        self.last = time.monotonic()


def _inputs(job, prepared):
    return {key: prepared[key] for key in job.needs()}


def _run_serial(todo, tasks, folder, recorder, bar):
    prepared = {}
    for task in tasks:
        prepared.update(task())
    report = _Throttled(bar.update)
    for job in todo:
        entry = write_job(job, folder, report, _inputs(job, prepared))
        report.flush()
        recorder.add(entry)


def _run_parallel(todo, tasks, folder, recorder, bar, workers):
    import multiprocessing
    import queue as queue_module
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    progress = context.Queue()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(progress,))
    prepared: dict = {}
    kinds = {}

    def submit_ready(waiting):
        still = []
        for job in waiting:
            if all(key in prepared for key in job.needs()):
                kinds[pool.submit(_worker_job, job, folder, _inputs(job, prepared))] = "job"
            else:
                still.append(job)
        return still

    def drain():
        while True:
            try:
                bar.update(progress.get_nowait())
            except queue_module.Empty:
                return

    try:
        for task in tasks:  # preparations first (they are short), then ready jobs
            kinds[pool.submit(_worker_task, task)] = "task"
        waiting = submit_ready(todo)
        pending = set(kinds)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                result = future.result()
                if kinds.pop(future) == "job":
                    recorder.add(result)
                    continue
                prepared.update(result)
                before = set(kinds)
                waiting = submit_ready(waiting)
                pending |= set(kinds) - before
        if waiting:
            raise RuntimeError(f"{len(waiting)} job(s) wait for values no task prepared")
        drain()
        bar.update(bar.total - bar.n)
    except BaseException:
        _stop(pool, kinds)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        progress.close()


def _stop(pool, futures) -> None:
    """After an error, before the caller releases the folder lock: cancel
    the jobs not started, end the workers still running (what they were
    writing is a temporary file, swept by the caller) and wait until every
    worker has exited, so none writes into the folder once it is unlocked."""
    for future in futures:
        future.cancel()
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# Progress and messages.
# --------------------------------------------------------------------------

class _Log:
    """A message stream that a closed pipe cannot break: the files matter
    more than the progress bar, so a write that fails stops the messages,
    not the build."""

    def __init__(self, stream):
        self.stream = stream
        self.broken = stream is None

    def write(self, text):
        if not self.broken:
            try:
                return self.stream.write(text)
            except (BrokenPipeError, ValueError, OSError):
                self.broken = True
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                self.broken = True

    def isatty(self):
        return not self.broken and getattr(self.stream, "isatty", lambda: False)()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _progress(total, enabled, log, desc, unit):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, disable=not enabled, file=log,
                desc=desc, dynamic_ncols=True, smoothing=0.05)


__all__ = ["Manifest", "RecipeConflictError", "build", "check_name", "is_intact",
           "same_recipe", "write_job"]
