"""Run folders: what every trainer writes, how it resumes, and how a
checkpoint is made so that a crash, a damaged disk or a planted file can
never be mistaken for a good one.

One module for every trainer (the reasoner's :mod:`openclrs.training.loop`,
the CLRS-Text LM, and the later ones). A run folder::

    run/
      config.json                  the run's settings (written when training starts)
      metrics.jsonl                one JSON record per logged step
      checkpoints.json             pointers: {"last": "checkpoints/step-0000300",
                                              "best": "checkpoints/step-0000200"}
      checkpoints/step-0000300/    one checkpoint, made visible as one unit:
          model.safetensors        weights (+ string metadata: what model they fit)
          state.safetensors        every other tensor: optimizer moments, torch RNG, ...
          state.json               step, bookkeeping, numpy RNG, optimizer hyperparameters
          manifest.json            sha256 + size of the three files above (written last)
      .openclrs-lock               held by the trainer (one writer per run folder)
      ...                          the trainer's own outputs (results.json, plots, tb/)

Guarantees
----------
* **Atomic.** A checkpoint folder is built under a temporary name and renamed
  into place (:func:`openclrs.files.atomic_directory`); only then does
  ``checkpoints.json`` move (one atomic file write that moves ``last`` and
  ``best`` together), and only then are folders no pointer names deleted. A
  process killed at any moment leaves the old checkpoint or the new one,
  whole; leftovers are swept on the next start.
* **Never executable.** Tensors are stored with safetensors, everything else
  as JSON: no pickle, no ``torch.load``. Optimizer state dicts are taken
  apart into tensors + JSON (:func:`optimizer_state`) and rebuilt from them
  (:func:`load_optimizer_state`).
* **Reproducible.** A checkpoint's files are a function of what is saved:
  the safetensors headers are written canonically (metadata keys sorted),
  so two runs with the same seed write the same bytes (and sha256).
* **Verified.** Every read checks each file's size and sha256 against the
  manifest (and the tensors are parsed from the very bytes that were
  hashed). A damaged, truncated, empty, missing or foreign file raises
  :class:`CorruptCheckpointError` naming the file and what to do; run
  folders of the older formats (the reasoner's ``last.safetensors`` +
  ``last.state.pt``; the LM's ``latest``, ``log.jsonl``, ``checkpoint-*/``
  with ``optimizer.pt``) are refused by their names, without being read.

API
---
::

    run = Run(folder, config_dict, ignore={"steps", "device"}, outputs=("results.json",))
    with run.session(restart=False):          # validate everything BEFORE this
        checkpoint = run.load("last")          # None on a fresh run
        log = run.metrics(resume_step=checkpoint.step if checkpoint else None)
        ...
        run.save(step, weights=model.state_dict(), metadata={...},
                 tensors={**optimizer_tensors, "rng.torch": torch.get_rng_state()},
                 state={...}, pointers=("last", "best"))
        log.append({"step": step, "loss": ...})

* :class:`Run` ``.session(restart)``: locks the folder (a second trainer gets
  :class:`openclrs.files.FolderBusyError`), refuses a folder of the old
  format or of another config (naming the settings that differ), writes
  ``config.json`` (on a resume: at the first new checkpoint, so a failed
  start never rewrites it). If the session fails before its first
  checkpoint on a fresh run, it removes what it made (the folder itself,
  and the parents it created, if they are left empty). ``restart=True``
  first deletes the run's checkpoints, pointers, logs, the trainer's
  declared ``outputs`` and an older format's run.
* :meth:`Run.save`, :meth:`Run.load`, :meth:`Run.point` (move a pointer to
  another pointer's checkpoint), :meth:`Run.metrics` (:class:`MetricsLog`).
* :func:`load_checkpoint` (``best``/``last``/a path -> a verified
  :class:`Checkpoint`), from :func:`resolve_checkpoint` (-> its folder) and
  :func:`read_checkpoint` (a folder -> :class:`Checkpoint`): evaluation,
  without taking the lock.
* :func:`derive_seed`: 32-bit seeds from integer keys (step seeds);
  :class:`TrainingDiverged`: what a trainer raises on a NaN/inf loss.
* :func:`optimizer_state` / :func:`load_optimizer_state`,
  :func:`numpy_rng_state` / :func:`set_numpy_rng_state`.

Everything here but the tensor helpers is torch-free at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from .. import files
from ..extras import require

FORMAT = "openclrs-checkpoint-1"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
POINTERS = "checkpoints.json"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
MODEL = "model.safetensors"
STATE_TENSORS = "state.safetensors"
STATE = "state.json"
CHECKPOINT_FILES = (MODEL, STATE_TENSORS, STATE)
# What the formats before this one wrote (weights + a pickled state): refused, never read.
# The reasoner's trainer: weights beside a pickled state file.
OLD_FORMAT = ("last.state.pt", "best.state.pt", "last.safetensors", "best.safetensors")
# The CLRS-Text LM trainer's: `latest` naming the newest `checkpoint-0000300/` folder
# (model.safetensors, config.json and a pickled optimizer.pt), the log `log.jsonl`.
OLD_LM_FORMAT = ("latest", "log.jsonl")
OLD_LM_CHECKPOINT = "checkpoint-"
# The temporary names the old LM trainer wrote beside its checkpoints.
OLD_LM_TEMPORARY = re.compile(r"\.latest\.tmp|\.checkpoint-\d{7}\.tmp")

FIX = "delete the run folder, or train again with --restart"


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: a consequence of the settings (the
    command line reports it in one line, as a bad setting)."""


class CorruptCheckpointError(files.CorruptFileError):
    """A checkpoint (or a run folder's pointer file) is damaged, incomplete,
    or not one openclrs wrote; the message names the file and what to do."""


def derive_seed(*keys: int) -> int:
    """A 32-bit seed from integer keys, e.g. ``(seed, algorithm index, step)``:
    the randomness of a step is a function of its keys alone, so a resumed
    run draws what the uninterrupted one drew."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def checkpoint_name(step: int) -> str:
    return f"step-{int(step):07d}"


def old_format_files(folder: str) -> list[str]:
    """The names in ``folder`` that a trainer of an older format wrote (the
    reasoner's or the LM's; folders end in ``/``), found by name alone. The
    LM's generic names (``latest``, ``log.jsonl``) count only beside one of
    its ``checkpoint-*`` folders holding the pickled ``optimizer.pt``, so a
    user's own file of that name is left alone."""
    old = [n for n in OLD_FORMAT if os.path.lexists(os.path.join(folder, n))]
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        names = []
    checkpoints = [n + "/" for n in names if n.startswith(OLD_LM_CHECKPOINT)
                   and os.path.exists(os.path.join(folder, n, "optimizer.pt"))]
    if checkpoints:
        old += [n for n in OLD_LM_FORMAT if os.path.lexists(os.path.join(folder, n))]
        old += checkpoints
    return old


def refuse_old_format(folder: str, fix: str = "use another --out, or --restart to start "
                                              "afresh") -> None:
    """Raise if ``folder`` holds a run of a format before this one (its
    state files are pickles, which are never read: nothing is opened)."""
    old = old_format_files(folder)
    if old:
        shown = ", ".join(old[:6]) + (", ..." if len(old) > 6 else "")
        raise ValueError(f"{folder} holds a run of an older openclrs checkpoint format "
                         f"({shown}), which this version does not read (its state files are "
                         f"pickles); {fix}")


# ------------------------------------------------------------ checkpoints

@dataclass
class Checkpoint:
    """A verified checkpoint, read into memory (tensors on the CPU)."""

    path: str                 # the checkpoint folder
    step: int
    weights: dict             # name -> tensor (model.safetensors)
    metadata: dict            # str -> str (model.safetensors' metadata)
    tensors: dict             # name -> tensor (state.safetensors)
    state: dict               # state.json


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safetensors_bytes(tensors: Mapping, metadata: Mapping[str, str] | None = None) -> bytes:
    """A standard safetensors file (``safetensors.torch.load_file`` and
    ``safe_open`` read it) that is a function of its contents alone: same
    seed, same bytes. safetensors writes ``__metadata__`` in its hash map's
    order, which changes from process to process, so the header is written
    again with the metadata keys sorted (:func:`_canonical_header`)."""
    save = require("safetensors.torch", "write a checkpoint").save
    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return _canonical_header(save(plain, metadata=dict(metadata) if metadata else None))


def _canonical_header(data: bytes) -> bytes:
    """``data`` (a safetensors file's bytes) with its JSON header rewritten:
    ``__metadata__`` first with its keys sorted, then the tensors' entries in
    safetensors' own order (by alignment, then name; their ``data_offsets``
    are relative to the data, so the data is kept byte for byte), compact,
    padded with spaces to a multiple of 8 bytes as safetensors pads it."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    canonical = {} if metadata is None else {"__metadata__": dict(sorted(metadata.items()))}
    canonical.update(header)
    blob = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + data[8 + size:]


def parse_safetensors(path: str, data: bytes) -> tuple[dict, dict]:
    """``(tensors, metadata)`` from a safetensors file's bytes; anything
    unreadable raises :class:`CorruptCheckpointError` (never safetensors' own
    error): safe on any bytes (a run folder's files are also checked
    against the manifest's sha256 first; a sparse evaluation's state file,
    :class:`~openclrs.training.sparse_evaluate.StateFile`, is not)."""
    load = require("safetensors.torch", "read a checkpoint").load

    def bad(why):
        return CorruptCheckpointError(f"{path} is not a readable safetensors file ({why}); {FIX}")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise bad("truncated header")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
        metadata = header.get("__metadata__") or {}
        tensors = load(data)
    except Exception as e:  # safetensors raises its own error types
        raise bad(f"{type(e).__name__}: {e}") from None
    return tensors, dict(metadata)


def _read_verified(folder: str, fix: str) -> dict[str, bytes]:
    """The bytes of every file the manifest names, each checked for size and sha256."""
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise CorruptCheckpointError(f"checkpoint folder {folder} is missing; {fix}")
    try:
        manifest = files.read_json(manifest_path, "checkpoint manifest", fix)
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{manifest_path} is missing (the checkpoint is "
                                     f"incomplete); {fix}") from None
    except files.CorruptFileError as e:
        raise CorruptCheckpointError(str(e)) from None
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if (not isinstance(entries, dict) or manifest.get("format") != FORMAT
            or set(entries) != set(CHECKPOINT_FILES)):
        raise CorruptCheckpointError(f"{manifest_path} is not an openclrs checkpoint manifest "
                                     f"({FORMAT}); {fix}")
    contents = {}
    for name in CHECKPOINT_FILES:
        path = os.path.join(folder, name)
        entry = entries[name]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise CorruptCheckpointError(f"{path} is missing; {fix}") from None
        except IsADirectoryError:
            raise CorruptCheckpointError(f"{path} should be a file but is a folder; {fix}") \
                from None
        # A mismatch may be damage to either file: the message names both.
        if not isinstance(entry, dict) or len(data) != entry.get("size"):
            raise CorruptCheckpointError(
                f"{path} is damaged: {len(data)} bytes where {manifest_path} says "
                f"{entry.get('size') if isinstance(entry, dict) else '?'} (one of the two "
                f"is truncated or overwritten); {fix}")
        if _sha256(data) != entry.get("sha256"):
            raise CorruptCheckpointError(f"{path} is damaged: its sha256 differs from the "
                                         f"one {manifest_path} gives (one of the two was "
                                         f"changed); {fix}")
        contents[name] = data
    return contents


def read_checkpoint(folder: str, fix: str = FIX) -> Checkpoint:
    """Read and verify the checkpoint in ``folder``."""
    contents = _read_verified(folder, fix)
    weights, metadata = parse_safetensors(os.path.join(folder, MODEL), contents[MODEL])
    tensors, _ = parse_safetensors(os.path.join(folder, STATE_TENSORS), contents[STATE_TENSORS])
    state_path = os.path.join(folder, STATE)
    try:
        state = json.loads(contents[STATE].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptCheckpointError(f"{state_path} is not readable JSON ({e}); {fix}") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CorruptCheckpointError(f"{state_path} names no step; {fix}")
    return Checkpoint(path=folder, step=state["step"], weights=weights, metadata=metadata,
                      tensors=tensors, state=state)


def write_checkpoint(path: str, *, weights: Mapping, metadata: Mapping[str, str] | None = None,
                     tensors: Mapping | None = None, state: dict) -> None:
    """Write a checkpoint folder at ``path`` as one unit (it must not exist):
    the three files, then ``manifest.json``, then one rename."""
    contents = {MODEL: safetensors_bytes(weights, metadata),
                STATE_TENSORS: safetensors_bytes(tensors or {}),
                STATE: files.json_text(state).encode("utf-8")}
    manifest = {"format": FORMAT, "step": state["step"],
                "files": {name: {"sha256": _sha256(data), "size": len(data)}
                          for name, data in contents.items()}}
    with files.atomic_directory(path) as tmp:
        for name, data in contents.items():
            _write_new(os.path.join(tmp, name), data)
        _write_new(os.path.join(tmp, MANIFEST), files.json_text(manifest).encode("utf-8"))


def _write_new(path: str, data: bytes) -> None:
    """A file in a folder nobody else sees yet (umask permissions)."""
    with open(path, "xb") as f:
        f.write(data)


# ------------------------------------------------------- state as tensors

def optimizer_state(optimizer, prefix: str = "optimizer") -> tuple[dict, dict]:
    """``(tensors, json)`` holding ``optimizer.state_dict()`` without pickle:
    every tensor of the per-parameter state goes to ``tensors`` (keys
    ``{prefix}.{index}.{name}``), the rest (param groups, scalar state) to a
    JSON-able dict."""
    import torch

    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in sd["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = []
    for group in sd["param_groups"]:
        plain = {}
        for key, value in group.items():
            if isinstance(value, torch.Tensor):
                raise TypeError(f"optimizer hyperparameter {key} is a tensor; "
                                "runs stores plain numbers only")
            plain[key] = list(value) if isinstance(value, tuple) else value
        groups.append(plain)
    return tensors, {"param_groups": groups, "scalars": scalars}


def load_optimizer_state(optimizer, tensors: Mapping, saved: dict,
                         prefix: str = "optimizer") -> None:
    """Rebuild ``optimizer``'s state dict from :func:`optimizer_state`'s parts."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition(".")
        if head != prefix:
            continue
        index, _, name = rest.partition(".")
        state.setdefault(int(index), {})[name] = value
    for index, entry in saved.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    groups = []
    for group, current in zip(saved["param_groups"], optimizer.param_groups):
        # JSON has no tuples: give back the types the optimizer uses (betas).
        groups.append({k: tuple(v) if isinstance(current.get(k), tuple) else v
                       for k, v in group.items()})
    if len(groups) != len(optimizer.param_groups):
        raise ValueError("the checkpoint's optimizer has another number of parameter groups")
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def numpy_rng_state() -> dict:
    """``np.random``'s global state as JSON."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": [int(k) for k in keys], "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def set_numpy_rng_state(saved: dict) -> None:
    np.random.set_state((saved["kind"], np.asarray(saved["keys"], dtype=np.uint32),
                         saved["pos"], saved["has_gauss"], saved["cached_gaussian"]))


# ----------------------------------------------------------------- metrics

class MetricsLog:
    """``metrics.jsonl``: one JSON record (with a ``step``) per line.

    Opened with ``resume_step``, records past it are dropped (they will be
    produced again), so every step appears once; that trim is the one
    rewrite (atomic, at opening). Opened without, the log starts empty.
    After that each :meth:`append` adds one line to the end of the file
    (append mode, flushed): the cost of a record does not grow with the run.
    A last line cut short by a crash is dropped at the next opening (see
    :func:`read_metrics`) and produced again by the resumed run.
    """

    def __init__(self, path: str, resume_step: int | None = None, fix: str = FIX):
        self.path = path
        self.records: list[dict] = []
        if resume_step is not None and os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            self.records = [r for r in _parse_metrics(path, raw, fix) if r["step"] <= resume_step]
            if _metrics_text(self.records).encode("utf-8") != raw:
                files.write_text(path, _metrics_text(self.records))
        else:
            files.write_text(path, "")

    def append(self, record: dict) -> None:
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_metrics_text([record]))
            f.flush()


def _metrics_text(records: Iterable[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def read_metrics(path: str, fix: str = FIX) -> list[dict]:
    """The records of a ``metrics.jsonl``. A torn last line (no newline at
    its end, or unreadable: a write a crash cut short) is left out; any
    other damaged line raises :class:`openclrs.files.CorruptFileError`
    naming the file and line."""
    with open(path, "rb") as f:
        return _parse_metrics(path, f.read(), fix)


def _parse_metrics(path: str, raw: bytes, fix: str) -> list[dict]:
    lines = raw.split(b"\n")
    # `lines[-1]` is what follows the last newline: empty unless that line is torn.
    last = max((i for i, line in enumerate(lines[:-1]) if line.strip()), default=None)
    records = []
    for number, line in enumerate(lines[:-1], 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            if number - 1 == last and not lines[-1].strip():
                break  # the last line, unreadable: torn
            raise files.CorruptFileError(f"{path}, line {number}, is not a metrics record; "
                                         f"{fix}")
        records.append(record)
    return records


# --------------------------------------------------------------- the run

def _flatten(data, prefix: str = "") -> dict:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def config_differences(old: dict, new: dict, ignore: Iterable[str] = ()) -> list[str]:
    """Dotted names of the settings that differ between two configs, except
    those in ``ignore`` (a name there also covers every name below it)."""
    ignore = set(ignore)
    old, new = _flatten(old), _flatten(new)

    def ignored(name):
        parts = name.split(".")
        return any(".".join(parts[:i]) in ignore for i in range(1, len(parts) + 1))

    missing = object()
    return sorted(k for k in set(old) | set(new)
                  if not ignored(k) and old.get(k, missing) != new.get(k, missing))


def _json_roundtrip(data):
    """What ``data`` reads back as after a trip through JSON (tuples become lists)."""
    return json.loads(files.json_text(data))


def _topmost_missing(folder: str) -> str | None:
    """The topmost of ``folder`` and its parents that does not exist yet
    (what creating ``folder`` creates); None if ``folder`` exists."""
    path = os.path.abspath(folder)
    if os.path.lexists(path):
        return None
    while not os.path.lexists(os.path.dirname(path)):
        path = os.path.dirname(path)
    return path


def _remove_empty_parents(folder: str, topmost: str) -> None:
    """Remove the empty parents of ``folder``, up to and including ``topmost``."""
    path, topmost = os.path.abspath(folder), os.path.abspath(topmost)
    while path != topmost and path.startswith(topmost + os.sep):
        path = os.path.dirname(path)
        try:
            os.rmdir(path)
        except OSError:
            return  # not empty (someone else's files), or gone already


class Run:
    """A run folder (see the module docstring).

    ``config``: the JSON-able settings saved as ``config.json``; a resume
    refuses another config, except for the dotted names in ``ignore`` (how
    long, where, how fast: ``steps``, ``device``, ...). ``outputs``: names
    (files or folders) of the trainer's own results in the folder, removed
    by a restart. ``writer=False`` (torchrun ranks but 0) reads checkpoints
    but never writes or locks. ``keep``: how many of the newest checkpoint
    folders to keep besides those a pointer names. ``upgrade(old) -> dict``
    brings a ``config.json`` written by an older openclrs to today's form
    (fields added since, with the values its model was trained with) before
    the resume check compares it.
    """

    def __init__(self, folder: str, config: dict, *, ignore: Iterable[str] = (),
                 outputs: Iterable[str] = (), writer: bool = True, keep: int = 0,
                 fix: str = FIX, log=sys.stderr,
                 upgrade: Callable[[dict], dict] | None = None):
        self.folder = folder
        self.upgrade = upgrade
        self.config = _json_roundtrip(config)
        self.ignore = set(ignore)
        self.outputs = tuple(outputs)
        self.writer = writer
        self.keep = keep
        self.fix = fix
        self.log = log
        self.saved = 0                # checkpoints written by this session
        self._config_pending = False  # config.json to write at the first checkpoint

    # -- paths
    def path(self, *parts: str) -> str:
        return os.path.join(self.folder, *parts)

    # -- the session
    @contextlib.contextmanager
    def session(self, restart: bool = False) -> Iterator["Run"]:
        """Lock the folder, check it, write ``config.json``; on a failure
        before the first checkpoint of a fresh run, remove what was made."""
        if not self.writer:
            yield self
            return
        if os.path.lexists(self.folder) and not os.path.isdir(self.folder):
            raise NotADirectoryError(f"cannot use {self.folder} as a run folder: it is a file")
        created = _topmost_missing(self.folder)  # this folder or a parent; None if it exists
        files.make_parent(self.path("x"))  # clear error if a file is in the way
        fresh = True
        try:
            with files.folder_lock(self.folder, wait=False, what="--out folder",
                                   log=self.log):
                if restart:
                    self.clear()
                refuse_old_format(self.folder)
                fresh = self.pointers() == {}
                orphans = self._orphan_checkpoints() if fresh else []
                if len(orphans) > 1:
                    # pointers lost, checkpoints kept: never wipe them unasked
                    raise CorruptCheckpointError(
                        f"{self.folder} has checkpoints ({', '.join(orphans)}) but no "
                        f"{POINTERS} naming them; {self.fix}")
                if orphans:  # a stop between the first checkpoint and its pointers
                    print(f"openclrs: {self.folder}: {orphans[0]} was never pointed at (a "
                          "stop while the first checkpoint was written); starting afresh",
                          file=self.log)
                self._check_config(fresh)
                if fresh:
                    if os.path.lexists(self.path(CONFIG)):
                        self.clear()  # an earlier run here that never checkpointed
                    # What is here now is not this run's (a user's own results.json in
                    # `--out .`): a failed start leaves it alone.
                    preexisting = {n for n in self._run_files()
                                   if os.path.lexists(self.path(n))}
                    files.write_json(self.path(CONFIG), self.config)
                else:
                    self.collect_garbage()
                try:
                    yield self
                except BaseException:
                    if fresh and self.saved == 0:
                        self.clear(keep=preexisting)
                    raise
        except files.FolderBusyError:
            raise
        except BaseException:
            if created is not None and fresh and self.saved == 0 and self._only_lock_left():
                # Unmake what this session made: the run folder, then its parents
                # (up to the topmost one it created) where they are left empty. The
                # lock is released by now: a folder another writer has begun to
                # use in the meantime (it holds more than the lock file) is left.
                shutil.rmtree(self.folder, ignore_errors=True)
                _remove_empty_parents(self.folder, created)
            raise

    def _only_lock_left(self) -> bool:
        try:
            return set(os.listdir(self.folder)) <= {files.LOCK_NAME}
        except OSError:
            return False

    def _check_config(self, fresh: bool) -> None:
        if fresh:
            return  # nothing to resume (a run killed before its first checkpoint)
        path = self.path(CONFIG)
        if not os.path.exists(path):
            raise CorruptCheckpointError(f"{path} is missing although the run has "
                                         f"checkpoints; {self.fix}")
        old = files.read_json(path, "run config", self.fix)
        if not isinstance(old, dict):
            raise files.CorruptFileError(f"{path} is not a run config; {self.fix}")
        if self.upgrade is not None:
            old = _json_roundtrip(self.upgrade(old))
        differ = config_differences(old, self.config, self.ignore)
        if differ:
            shown = ", ".join(differ[:8]) + (" ..." if len(differ) > 8 else "")
            raise ValueError(f"{self.folder} holds a run with another config (differs on "
                             f"{shown}); use another --out, or --restart to start afresh")
        if old != self.config:
            self._config_pending = True  # e.g. more --steps: recorded at the next checkpoint

    def _run_files(self) -> tuple[str, ...]:
        """The names in the folder that belong to a run (besides an older format's)."""
        return (POINTERS, CONFIG, METRICS, CHECKPOINTS, *self.outputs)

    def clear(self, keep: Iterable[str] = ()) -> None:
        """Remove the run's checkpoints, pointers, config, logs and outputs
        (what ``--restart`` removes, but the names in ``keep``), and the files
        of an older format's run (with the temporary names its writers used,
        only beside such a run); other files stay."""
        old = [n.rstrip("/") for n in old_format_files(self.folder)]
        if old:
            with contextlib.suppress(FileNotFoundError):
                old += [n for n in os.listdir(self.folder)
                        if OLD_LM_TEMPORARY.fullmatch(n)]
        for name in (*self._run_files(), *old):
            if name in keep:
                continue
            path = self.path(name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)

    # -- pointers
    def pointers(self) -> dict[str, str]:
        """``{"last": "checkpoints/step-...", ...}``; ``{}`` before the first checkpoint."""
        path = self.path(POINTERS)
        if not os.path.lexists(path):
            return {}
        try:
            data = files.read_json(path, "checkpoint pointer file", self.fix)
        except files.CorruptFileError as e:
            raise CorruptCheckpointError(str(e)) from None
        if not (isinstance(data, dict) and all(
                isinstance(v, str) and v.startswith(CHECKPOINTS + "/")
                and "/" not in v[len(CHECKPOINTS) + 1:] and ".." not in v
                for v in data.values())):
            raise CorruptCheckpointError(f"{path} does not name checkpoints of this run "
                                         f"folder; {self.fix}")
        return data

    def checkpoint_path(self, pointer: str) -> str | None:
        target = self.pointers().get(pointer)
        return None if target is None else self.path(*target.split("/"))

    def load(self, pointer: str = "last") -> Checkpoint | None:
        """The verified checkpoint ``pointer`` names, or None if there is none."""
        for attempt in range(3):  # a live trainer may move the pointer meanwhile
            path = self.checkpoint_path(pointer)
            if path is None:
                return None
            try:
                return read_checkpoint(path, self.fix)
            except CorruptCheckpointError:
                if attempt == 2 or self.checkpoint_path(pointer) == path:
                    raise
        raise AssertionError("unreachable")

    # -- writing
    def save(self, step: int, *, weights: Mapping, metadata: Mapping[str, str] | None = None,
             tensors: Mapping | None = None, state: dict | None = None,
             pointers: Iterable[str] = ("last",)) -> str:
        """Write the checkpoint of ``step`` and point ``pointers`` at it (one
        atomic move of all of them); returns its folder."""
        assert self.writer, "only the writer saves checkpoints"
        state = dict(state or {}, step=int(step))
        name = checkpoint_name(step)
        relative = f"{CHECKPOINTS}/{name}"
        path = self.path(CHECKPOINTS, name)
        current = self.pointers()
        if os.path.lexists(path):
            if relative in current.values():
                # Pointed at already (a rerun of a step): write beside it, under a new name.
                k = 1
                while os.path.lexists(f"{path}.{k}"):
                    k += 1
                path, relative = f"{path}.{k}", f"{relative}.{k}"
            else:
                shutil.rmtree(path)  # a leftover no pointer names
        write_checkpoint(path, weights=weights, metadata=metadata, tensors=tensors, state=state)
        if self._config_pending:
            files.write_json(self.path(CONFIG), self.config)
            self._config_pending = False
        current.update({p: relative for p in pointers})
        files.write_json(self.path(POINTERS), current)
        self.saved += 1
        self.collect_garbage()
        return path

    def point(self, pointer: str, at: str) -> None:
        """Make ``pointer`` name the checkpoint that pointer ``at`` names."""
        current = self.pointers()
        current[pointer] = current[at]
        files.write_json(self.path(POINTERS), current)

    def _checkpoint_folders(self) -> list[str]:
        """The names of ``checkpoints/``'s step folders, by step number
        (``step-10000000`` after ``step-9999999``)."""
        folder = self.path(CHECKPOINTS)
        if not os.path.isdir(folder):
            return []
        return sorted((n for n in os.listdir(folder) if n.startswith("step-")), key=_step_of)

    def _orphan_checkpoints(self) -> list[str]:
        """Checkpoint folders (with a manifest), newest last."""
        return [n for n in self._checkpoint_folders()
                if os.path.exists(self.path(CHECKPOINTS, n, MANIFEST))]

    def collect_garbage(self) -> list[str]:
        """Delete checkpoint folders no pointer names (but the ``keep`` newest)."""
        folder = self.path(CHECKPOINTS)
        if not os.path.isdir(folder):
            return []
        named = {v.split("/", 1)[1] for v in self.pointers().values()}
        ours = self._checkpoint_folders()
        kept = set(ours[-self.keep:]) if self.keep else set()
        removed = []
        for n in ours:
            if n not in named and n not in kept:
                shutil.rmtree(os.path.join(folder, n), ignore_errors=True)
                removed.append(n)
        files.sweep_temporaries(folder)
        return removed

    def metrics(self, resume_step: int | None = None) -> MetricsLog:
        return MetricsLog(self.path(METRICS), resume_step, self.fix)


def checkpoint_at(path: str) -> Checkpoint | None:
    """The verified checkpoint at ``path``: a checkpoint folder itself, or a
    run folder's latest (``last``, read even while the run trains); ``None``
    where ``path`` is neither. Raises where a run folder has no checkpoint yet."""
    if os.path.exists(os.path.join(path, MANIFEST)):
        return read_checkpoint(path)
    if os.path.exists(os.path.join(path, POINTERS)):
        checkpoint = Run(path, {}, writer=False).load("last")
        if checkpoint is None:
            raise FileNotFoundError(f"{path} has no checkpoint yet")
        return checkpoint
    return None


def _step_of(name: str) -> int:
    """The step of a checkpoint folder's name (``step-0000300`` -> 300; -1 if not one)."""
    digits = name[len("step-"):]
    return int(digits) if digits.isdigit() else -1


def _pointers_or_none(run_folder: str) -> dict:
    try:
        return Run(run_folder, {}, writer=False).pointers()
    except (OSError, CorruptCheckpointError):
        return {}


def resolve_checkpoint(run_folder: str, which: str = "best") -> str:
    """The checkpoint folder that ``which`` means: a pointer name of the run
    (``best``, ``last``), a checkpoint folder, a file inside one, or another
    run folder (its ``best``). A pointer name of the run wins over a folder
    of that name in the working directory (``./best`` is given as a path)."""
    named = _pointers_or_none(run_folder).get(which) if os.sep not in which else None
    if named is not None:
        return os.path.join(run_folder, *named.split("/"))
    if os.path.isfile(which) and os.path.basename(which) in (MODEL, STATE_TENSORS, STATE,
                                                             MANIFEST):
        return os.path.dirname(os.path.abspath(which)) or "."
    if os.path.isdir(which):
        if os.path.exists(os.path.join(which, MANIFEST)):
            return which
        if os.path.exists(os.path.join(which, POINTERS)):
            run_folder, which = which, "best"
        else:
            raise FileNotFoundError(f"{which} is neither a checkpoint folder nor a run folder")
    elif os.sep in which or which.endswith(".safetensors"):
        raise FileNotFoundError(f"no checkpoint at {which}")
    run = Run(run_folder, {}, writer=False)
    path = run.checkpoint_path(which)
    if path is None:
        refuse_old_format(run_folder, "train it again, with --restart")
        known = sorted(run.pointers())
        raise FileNotFoundError(f"{run_folder} has no {which!r} checkpoint"
                                + (f" (it has: {', '.join(known)})" if known else
                                   " (no checkpoint yet)"))
    return path


def load_checkpoint(run_folder: str, which: str = "best", fix: str = FIX) -> Checkpoint:
    """The verified checkpoint :func:`resolve_checkpoint` names; reads
    without the lock, so a pointer that a live trainer moves meanwhile is
    followed again."""
    for attempt in range(3):
        folder = resolve_checkpoint(run_folder, which)
        try:
            return read_checkpoint(folder, fix)
        except CorruptCheckpointError:
            if attempt == 2 or resolve_checkpoint(run_folder, which) == folder:
                raise
    raise AssertionError("unreachable")

