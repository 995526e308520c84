"""CLRS-Text datasets at scale: the published train and eval sets, on disk.

:func:`generate_text_dataset` writes a split as sharded JSONL (or Parquet)
files plus a manifest. The parts, one module per concern:

* :mod:`openclrs.text.splits`: the published configurations as data
  (:data:`TRAIN`: 2,150,000 examples; :data:`EVAL`: 514,375) and
  :class:`TextSplit`, the recipe of any split;
* :mod:`openclrs.text.shards`: which examples go in which file
  (:class:`Shard`, :func:`plan_shards`) and the examples themselves;
* :mod:`openclrs.text.writers`: the record layout, JSONL and Parquet;
* :mod:`openclrs.text.reading`: manifests, :func:`data_files`, :func:`read_jsonl`;
* :mod:`openclrs.data.build`: the builder both dataset kinds share
  (manifest with sha256, resume, folder lock, parallel workers, and no
  file of another recipe replaced without ``force``).

Layout: ``out_dir/{split}-{algorithm}-n{length}-{shard:05d}.jsonl`` (or
``.parquet``) plus ``out_dir/manifest-{split}.json``. Every record can be
traced back to its sample::

    openclrs.sample(algo_name, length, seed, num_samples=index + 1,
                    truncate_decimals=3)[index]

is the trace it was written from. A shard's bytes depend only on its
recipe, never on the worker count or the order of work.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..data import build
from .format import ExampleFormatter, check_float_format
from .reading import (MANIFEST_FORMAT, data_files, manifest_layout, manifest_path,
                      read_jsonl, read_manifest, shard_is_intact)
from .shards import (DEFAULT_SHARD_SIZE, Shard, iter_records, plan_shards, prepare_scans,
                     scan_states)
from .splits import (EVAL, EVAL_LENGTH_BOUNDS, EVAL_LENGTHS, SPLIT_ALIASES, SPLITS, TRAIN,
                     TRAIN_LENGTHS, TextSplit, get_split, summary)
from .writers import COLUMNS, FILE_FORMATS, RECORD_FORMAT, check_file_format, jsonl_line


def generate_text_dataset(out_dir: str, split: str | TextSplit | Mapping = "train",
                          algorithms: Iterable[str] | None = None, format: str = "jsonl",
                          shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None,
                          progress: bool = True, use_hints: bool | None = None,
                          float_format: str | None = None, include_text: bool = True,
                          verify: bool = True, force: bool = False, log=None) -> dict:
    """Write a CLRS-Text split as sharded JSONL (or Parquet) files.

    ``split``: ``"train"`` (2,150,000 examples), ``"eval"`` (514,375; alias
    ``"val"``), or a custom :class:`TextSplit` / dict (see
    :meth:`TextSplit.from_mapping`). ``algorithms`` restricts it;
    ``use_hints`` and ``float_format`` (``"current"`` or ``"legacy"``)
    override the split's. ``workers``: processes (default: all cores; 1
    works in-process). ``verify``: check finished shards' sha256 (else only
    their size) before skipping them. ``include_text=False`` leaves out the
    ``text`` column (``question + answer``), halving the size.

    Shards of the same split already in ``out_dir`` that were made with
    another recipe (other lengths, sample counts, seeds, options, shard
    size or format) are replaced or removed only with ``force=True``;
    otherwise a :class:`~openclrs.data.build.RecipeConflictError` says which,
    and nothing is changed. Give a custom split its own name instead.

    Returns the manifest: ``{"split", "num_examples", "shards": {file:
    entry}}``, each entry with the shard's recipe, ``num_examples``,
    ``bytes`` and ``sha256``.
    """
    spec = get_split(split).select(algorithms)
    changes = {}
    if use_hints is not None:
        changes["use_hints"] = bool(use_hints)
    if float_format is not None:
        changes["float_format"] = check_float_format(float_format)
    if changes:
        spec = spec.replace(**changes)
    check_file_format(format)
    shards = plan_shards(spec, shard_size, format, include_text)
    layout = manifest_layout(spec.name)
    manifest = build.build(
        shards, out_dir, layout, workers=workers, progress=progress, verify=verify,
        force=force, log=log, prepare=prepare_scans, desc=f"CLRS-Text {spec.name}", unit="ex",
        # The split's other shards of these algorithms (other lengths or
        # shard size) would mix into a glob of the split.
        supersedes=lambda entry: entry["algorithm"] in spec.lengths)
    manifest["num_examples"] = sum(e["num_examples"] for e in manifest["shards"].values())
    return manifest


__all__ = ["TRAIN_LENGTHS", "EVAL_LENGTHS", "EVAL_LENGTH_BOUNDS", "TRAIN", "EVAL", "SPLITS",
           "SPLIT_ALIASES", "TextSplit", "Shard", "ExampleFormatter", "COLUMNS",
           "DEFAULT_SHARD_SIZE", "FILE_FORMATS", "RECORD_FORMAT", "MANIFEST_FORMAT",
           "generate_text_dataset", "get_split", "plan_shards", "scan_states",
           "iter_records", "read_manifest", "manifest_path", "data_files", "read_jsonl",
           "shard_is_intact", "summary", "jsonl_line"]
