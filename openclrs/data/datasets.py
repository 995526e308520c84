"""Generating stored datasets (in parallel, resumably) and loading them.

A dataset is a list of *parts*, one per (algorithm, split): each part is a
recipe (algorithm, length, seed, number of samples, sampler options) and
the file it produces. Parts are independent, so worker processes build them
in any order and the files are byte-identical whatever the worker count.
The manifest is rewritten (atomically) after every finished part: a run
that is killed resumes where it stopped, and a file whose checksum no longer
matches is reported and built again.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

from ..specs import CLRS30, CLRS_30_ALGS, SPECS, SPLITS, check_algorithm, split_size
from .storage import (FORMAT, CorruptFileError, StoredSplit, sha256_of, traces_to_tensors,
                      write_safetensors)

CANONICAL = "clrs30"
MANIFEST = "manifest.json"


def default_root() -> str:
    """Where datasets live: ``$OPENCLRS_DATA_DIR``, else ``~/.cache/openclrs``."""
    return os.environ.get("OPENCLRS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "openclrs")


@dataclass(frozen=True)
class Part:
    algorithm: str
    split: str
    length: int
    seed: int
    num_samples: int
    truncate_decimals: int | None = None
    sampler_kwargs: dict = field(default_factory=dict, hash=False)

    @property
    def file(self) -> str:
        return f"{self.algorithm}/{self.split}.safetensors"

    def recipe(self) -> dict:
        """JSON-normal form (tuples become lists), as stored in the manifest."""
        return json.loads(json.dumps(asdict(self)))


def canonical_parts(algorithms=CLRS_30_ALGS, splits=SPLITS) -> list[Part]:
    """The published CLRS-30 splits: train 1000 at n=16 (seed 1), val and
    test 32 x multiplier at n=16 (seed 2) and n=64 (seed 3)."""
    return [Part(check_algorithm(a), s, CLRS30[s]["length"], CLRS30[s]["seed"],
                 split_size(a, s)) for a in algorithms for s in splits]


def build_part(part: Part, folder: str) -> dict:
    """Sample one part and write its file; returns its manifest entry."""
    from .. import __version__
    from ..samplers import Sampler

    start = time.perf_counter()
    sampler = Sampler(part.algorithm, part.length, part.seed, part.truncate_decimals,
                      **part.sampler_kwargs)
    # Stream: traces are encoded in small chunks as they are sampled.
    tensors, classes = traces_to_tensors(next(sampler) for _ in range(part.num_samples))
    metadata = {"format": FORMAT, "algorithm": part.algorithm,
                "spec": json.dumps(dict(SPECS[part.algorithm])),
                "classes": json.dumps(classes, sort_keys=True),
                "recipe": json.dumps(part.recipe(), sort_keys=True),
                "openclrs_version": __version__}
    size, digest = write_safetensors(os.path.join(folder, part.file), tensors, metadata)
    return {**part.recipe(), "file": part.file, "bytes": size, "sha256": digest,
            "max_length": int(tensors["lengths"].max()),
            "seconds": time.perf_counter() - start}


def _build_part_job(args):
    return build_part(*args)


def read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return {"format": FORMAT, "parts": {}}
    with open(path) as f:
        return json.load(f)


def write_manifest(folder: str, manifest: dict) -> None:
    # Timings vary run to run; keep them out so the manifest is reproducible.
    stable = {"format": manifest["format"],
              "parts": {k: {f: v for f, v in e.items() if f != "seconds"}
                        for k, e in sorted(manifest["parts"].items())}}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(stable, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(folder, MANIFEST))


def part_is_intact(folder: str, entry: dict, verify: bool = True) -> bool:
    path = os.path.join(folder, entry["file"])
    if not os.path.exists(path) or os.path.getsize(path) != entry["bytes"]:
        return False
    return not verify or sha256_of(path) == entry["sha256"]


def generate(parts: list[Part], folder: str, workers: int | None = None,
             progress: bool = True, verify: bool = True, log=sys.stderr) -> dict:
    """Build every part that is missing, stale or corrupted; returns the manifest.

    ``workers``: processes to use (default: all cores); 1 builds in-process.
    """
    os.makedirs(folder, exist_ok=True)
    manifest = read_manifest(folder)
    todo = []
    for part in parts:
        entry = manifest["parts"].get(part.file)
        if entry is not None and {k: entry.get(k) for k in part.recipe()} == part.recipe() \
                and part_is_intact(folder, entry, verify):
            continue
        if entry is not None and os.path.exists(os.path.join(folder, part.file)):
            print(f"openclrs: {part.file} is corrupted or stale; rebuilding it", file=log)
        todo.append(part)
    if not todo:
        return manifest
    # Longest parts first, so the pool is not left waiting on one straggler.
    todo.sort(key=_cost_estimate, reverse=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = _progress(total=sum(p.num_samples for p in todo), enabled=progress, log=log)
    try:
        if workers == 1:
            for part in todo:
                entry = build_part(part, folder)
                _record(manifest, folder, entry, bar)
        else:
            import multiprocessing

            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(_build_part_job, (p, folder)) for p in todo]
                for future in as_completed(futures):
                    _record(manifest, folder, future.result(), bar)
    finally:
        bar.close()
    return manifest


def _record(manifest, folder, entry, bar):
    manifest["parts"][entry["file"]] = entry
    write_manifest(folder, manifest)
    bar.update(entry["num_samples"])
    bar.set_postfix_str(entry["file"], refresh=False)


def _cost_estimate(part: Part) -> float:
    # Roughly: samples x nodes^2 (most traces have O(n) steps of O(n) state).
    return part.num_samples * part.length ** 2


def _progress(total, enabled, log):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", disable=not enabled, file=log,
                desc="generating", dynamic_ncols=True)


def load_split(algorithm: str, split: str, dataset: str = CANONICAL,
               root: str | None = None, verify: bool = True,
               build_missing: bool = True) -> StoredSplit:
    """Open a stored split (memory-mapped).

    A canonical split that is missing is generated first; a file that fails
    its checksum is reported and rebuilt from its recorded recipe, never
    loaded as is.
    """
    check_algorithm(algorithm)
    folder = os.path.join(root or default_root(), dataset)
    manifest = read_manifest(folder)
    file = f"{algorithm}/{split}.safetensors"
    entry = manifest["parts"].get(file)
    if entry is None:
        if not (build_missing and dataset == CANONICAL and split in SPLITS):
            raise FileNotFoundError(f"no split {split!r} of {algorithm} in {folder}; "
                                    "run `openclrs generate` first")
        manifest = generate(canonical_parts([algorithm], [split]), folder, workers=1,
                            progress=False)
        entry = manifest["parts"][file]
    elif not part_is_intact(folder, entry, verify):
        print(f"openclrs: {file} in {folder} is corrupted or truncated; rebuilding it",
              file=sys.stderr)
        recipe = {k: v for k, v in entry.items() if k in Part.__dataclass_fields__}
        if os.path.exists(os.path.join(folder, file)):
            os.remove(os.path.join(folder, file))
        manifest = generate([Part(**recipe)], folder, workers=1, progress=False)
        entry = manifest["parts"][file]
        if not part_is_intact(folder, entry, True):
            raise CorruptFileError(f"{file}: rebuilt file fails its checksum")
    return StoredSplit(os.path.join(folder, file))
