"""Stored datasets of traces: what they hold, building them, loading them.

A dataset is a folder (``ROOT/NAME``) of *parts*, one per (algorithm,
split): each part is a recipe (algorithm, length, seed, number of samples,
sampler options) and the safetensors file it produces. Building goes
through the shared builder (:func:`openclrs.data.build.build`): parts are
built in parallel, largest first, byte-identical for any worker count;
finished parts are kept and corrupted ones rebuilt; the folder is locked
while a run writes it; a part made with another recipe is replaced only
with ``force=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from ..specs import CLRS30, CLRS_30_ALGS, SPECS, SPLITS, check_algorithm, split_size
from . import build
from .build import Manifest, SplitFile, check_name, split_file
from .storage import FORMAT, CorruptFileError, StoredSplit, traces_to_tensors

CANONICAL = "clrs30"
MANIFEST = Manifest("manifest.json", FORMAT, "parts")


def default_root() -> str:
    """Where datasets live: ``$OPENCLRS_DATA_DIR``, else ``~/.cache/openclrs``."""
    return os.environ.get("OPENCLRS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "openclrs")


def dataset_folder(name: str, root: str | None = None) -> str:
    """``ROOT/NAME``, with ``name`` checked to stay inside ``ROOT``."""
    return os.path.join(root or default_root(), check_name(name, "dataset name"))


@dataclass(frozen=True)
class Part(SplitFile):
    """One file of a dataset: ``num_samples`` traces of ``algorithm`` at
    ``length`` from the stream of ``seed``, stored as ``ALGORITHM/SPLIT.safetensors``."""

    algorithm: str
    split: str
    length: int
    seed: int
    num_samples: int
    truncate_decimals: int | None = None
    sampler_kwargs: dict = field(default_factory=dict, hash=False)

    def __post_init__(self):
        check_algorithm(self.algorithm)
        check_name(self.split, "split name")

    def recipe(self) -> dict:
        """JSON-normal form (tuples become lists), as stored in the manifest."""
        return json.loads(json.dumps(asdict(self)))

    def cost(self) -> float:
        # Roughly: samples x nodes^2 (most traces have O(n) steps of O(n) state).
        return self.num_samples * self.length ** 2

    def needs(self) -> tuple:
        return ()

    def check(self) -> None:
        """Fail before any work on options the sampler does not have, a
        sample too large for memory, or a length the sampler refuses."""
        check_sampling(self.algorithm, self.length, self.truncate_decimals, self.sampler_kwargs)

    def write(self, path: str, report=lambda k: None, prepared=None) -> dict:
        """Sample the part and write its file at ``path``; returns the extra
        manifest fields."""
        from .. import __version__
        from ..samplers import Sampler
        from .storage import write_safetensors_file

        sampler = Sampler(self.algorithm, self.length, self.seed, self.truncate_decimals,
                          **self.sampler_kwargs)

        def traces():
            for _ in range(self.num_samples):
                yield next(sampler)
                report(1)

        # Stream: traces are encoded in small chunks as they are sampled.
        tensors, classes = traces_to_tensors(traces())
        metadata = {"format": FORMAT, "algorithm": self.algorithm,
                    "spec": json.dumps(dict(SPECS[self.algorithm])),
                    "classes": json.dumps(classes, sort_keys=True),
                    "recipe": json.dumps(self.recipe(), sort_keys=True),
                    "openclrs_version": __version__}
        write_safetensors_file(path, tensors, metadata)
        return {"max_length": int(tensors["lengths"].max())}


def check_sampling(algorithm: str, length: int, truncate_decimals=None,
                   sampler_kwargs=None) -> None:
    """What every dataset builder checks before any work: the sampler has
    these options, a sample fits in memory, and the sampler accepts the
    length (one input is drawn). Raises ``ValueError`` naming the problem."""
    from .. import samplers

    kwargs = dict(sampler_kwargs or {})
    # Sampler() checks its arguments and that one sample fits in memory
    # (openclrs.footprint.check_fits: a length too large is refused here, at
    # once, instead of growing until the kernel kills the run); drawing one
    # input then checks that the sampler accepts the length.
    # Only ValueError is the user's (samplers.UnknownOption is one): any
    # other exception is a bug and keeps its traceback.
    try:
        samplers.Sampler(algorithm, length, 0, truncate_decimals, **kwargs).draw_inputs()
    except samplers.SampleTooLarge:
        raise  # its message names the algorithm, the length and what fits
    except ValueError as e:
        raise ValueError(f"cannot sample {algorithm} at length {length}: {e}") from None


def canonical_parts(algorithms=CLRS_30_ALGS, splits=SPLITS) -> list[Part]:
    """The published CLRS-30 splits: train 1000 at n=16 (seed 1), val and
    test 32 x multiplier at n=16 (seed 2) and n=64 (seed 3)."""
    return [Part(check_algorithm(a), s, CLRS30[s]["length"], CLRS30[s]["seed"],
                 split_size(a, s)) for a in algorithms for s in splits]


def has_canonical_splits(algorithm: str) -> bool:
    """Whether CLRS-30 defines canonical splits of ``algorithm`` (every
    algorithm of the CLRS spec table, :data:`openclrs.specs.SPECS`; not
    SALSA-CLRS's own): what decides a training run's test set
    (:func:`openclrs.training.loop.test_batches`)."""
    return algorithm in SPECS


def is_canonical(folder: str) -> bool:
    """Whether ``folder`` is a canonical CLRS-30 set (named ``clrs30``): it
    may hold the published splits only, so that every reader of it (train,
    evaluate, published scores) gets the published data."""
    return os.path.basename(os.path.normpath(folder)) == CANONICAL


def canonical_part(algorithm: str, split: str) -> Part | None:
    """The published recipe of ``algorithm``'s ``split``; None for a split
    the canonical set does not have."""
    return canonical_parts([algorithm], [split])[0] if split in SPLITS else None


def check_canonical(parts: list[Part], folder: str) -> None:
    """Refuse to write a part other than a published split into a canonical
    folder (``ValueError`` naming the part and what to do)."""
    if not is_canonical(folder):
        return
    for part in parts:
        published = canonical_part(part.algorithm, part.split)
        if published is None or part.recipe() != published.recipe():
            what = (f"split {part.split!r} is not one of {', '.join(SPLITS)}"
                    if published is None else f"its recipe is not the published one "
                    f"({_differences(part.recipe(), published.recipe())})")
            raise ValueError(
                f"{folder} is the canonical CLRS-30 set ({CANONICAL}) and holds only the "
                f"published splits, but {part.file} would not be one: {what}. Write a custom "
                f"set under another name (--name; with --lengths it defaults to custom)")


def _differences(found: dict, published: dict) -> str:
    return ", ".join(f"{k} {found.get(k)!r} instead of {v!r}" for k, v in published.items()
                     if found.get(k) != v)


def build_part(part: Part, folder: str) -> dict:
    """Sample one part and write its file (atomically); returns its manifest
    entry. (Not locked and not listed: :func:`build_dataset` does both.)"""
    check_canonical([part], folder)
    return build.write_job(part, folder)


def read_manifest(folder: str) -> dict:
    """The manifest of the dataset in ``folder`` (empty if none)."""
    return MANIFEST.read(folder)


def part_is_intact(folder: str, entry: dict, verify: bool = True) -> bool:
    return build.is_intact(folder, entry, verify)


def build_dataset(parts: list[Part], folder: str, workers: int | None = None,
                  progress: bool = True, verify: bool = True, force: bool = False,
                  log=None) -> dict:
    """Build every part that is missing or corrupted; returns the manifest.

    ``workers``: processes to use (default: all cores); 1 builds in-process.
    A listed part made with another recipe is replaced only with ``force``
    (else :class:`~openclrs.data.build.RecipeConflictError`). A canonical
    folder (named ``clrs30``) takes the published splits only.
    """
    parts = list(parts)
    check_canonical(parts, folder)
    return build.build(parts, folder, MANIFEST, workers=workers, progress=progress,
                       verify=verify, force=force, log=log, desc="generating", unit="sample")


def load_split(algorithm: str, split: str, dataset: str = CANONICAL,
               root: str | None = None, verify: bool = True,
               build_missing: bool = True) -> StoredSplit:
    """Open a stored split (memory-mapped).

    A canonical split that is missing is generated first; a file that fails
    its checksum is reported and rebuilt from its recorded recipe, never
    loaded as is. In the canonical set, a file whose recorded recipe is not
    the published one is refused (:class:`~openclrs.data.build.RecipeConflictError`
    naming it and how to rebuild it), never loaded and never deleted; once
    the user deletes it, the published split is generated in its place.
    """
    check_algorithm(algorithm)
    check_name(split, "split name")
    folder = dataset_folder(dataset, root)
    manifest = read_manifest(folder)
    file = split_file(algorithm, split)
    entry = manifest["parts"].get(file)
    if entry is not None and is_canonical(folder) and not _published(entry, algorithm, split):
        if os.path.lexists(os.path.join(folder, file)):
            _refuse_unpublished(entry, folder, file, algorithm, split, root)
        entry = None  # its file was deleted (the fix the error gives): build the published one
    if entry is None:
        if not (build_missing and dataset == CANONICAL and split in SPLITS):
            raise FileNotFoundError(f"no split {split!r} of {algorithm} in {folder}; "
                                    "run `openclrs generate` first")
        manifest = build_dataset(canonical_parts([algorithm], [split]), folder, workers=1,
                                 progress=False)
        entry = manifest["parts"][file]
    elif not part_is_intact(folder, entry, verify):
        # The builder says so ("... is corrupted or truncated; rebuilding it").
        recipe = {k: v for k, v in entry.items() if k in Part.__dataclass_fields__}
        manifest = build_dataset([Part(**recipe)], folder, workers=1, progress=False)
        entry = manifest["parts"][file]
        if not part_is_intact(folder, entry, True):
            raise CorruptFileError(f"{os.path.join(folder, file)}: rebuilt file fails its "
                                   "checksum")
    stored = StoredSplit(os.path.join(folder, file))
    # the file opened is the manifest's (a `generate --force` may have replaced
    # both between the check and the open)
    recipe = json.loads(stored.metadata.get("recipe", "{}"))
    if recipe and not build.same_recipe(entry, recipe):
        raise CorruptFileError(f"{os.path.join(folder, file)} was replaced while it was "
                               "opened (another recipe): load it again")
    return stored


def _published(entry, algorithm, split) -> bool:
    """Whether a manifest entry records the published recipe of its split."""
    published = canonical_part(algorithm, split)
    return published is not None and build.same_recipe(entry, published.recipe())


def _refuse_unpublished(entry, folder, file, algorithm, split, root) -> None:
    """A canonical set's file made with another recipe: an error naming it
    and the fix (the file is left as it is)."""
    path = os.path.join(folder, file)
    published = canonical_part(algorithm, split)
    if published is None:
        raise build.RecipeConflictError(
            f"{path} is in the canonical CLRS-30 set ({folder}) but {split!r} is not one of "
            f"its splits ({', '.join(SPLITS)}), so it is not loaded from there; delete it, "
            f"and generate it under a name of its own (--name)")
    where = f" --root {os.path.dirname(os.path.normpath(folder))}" if root else ""
    raise build.RecipeConflictError(
        f"{path} was made with another recipe than the published CLRS-30 {split} split of "
        f"{algorithm} ({_differences(entry, published.recipe())}), so it is not loaded as "
        f"the canonical data. Delete it, or rebuild it with `openclrs generate --algorithms "
        f"{algorithm} --splits {split} --force{where}`")
