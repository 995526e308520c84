"""Reading a generated CLRS-Text split: its manifest, its files, its records.

A split ``NAME`` in ``out_dir`` is ``out_dir/NAME-{algorithm}-n{length}-
{shard:05d}.jsonl`` (or ``.parquet``) plus ``out_dir/manifest-NAME.json``,
which lists every shard with its recipe, ``num_examples``, size and sha256
(written by :func:`openclrs.text.generate_text_dataset`)::

    datasets.load_dataset("json", data_files=data_files(out_dir, "train"))
"""

from __future__ import annotations

import json
import os
from typing import Iterator, Sequence

from ..data.build import Manifest, is_intact
from ..files import CorruptFileError
from ..specs import check_algorithm
from .splits import split_name

MANIFEST_FORMAT = "openclrs-text-manifest/1"


def manifest_layout(split: str) -> Manifest:
    """The manifest of split ``split`` (its name), as the builder writes it."""
    return Manifest(f"manifest-{split}.json", MANIFEST_FORMAT, "shards", {"split": split},
                    total="num_examples",
                    fix="delete it and run the same `openclrs text generate` command again: "
                        "it rebuilds the split's files")


def manifest_path(out_dir: str, split: str) -> str:
    return manifest_layout(split_name(split)).path(out_dir)


def read_manifest(out_dir: str, split="train") -> dict:
    """The manifest of ``split`` (a name or a :class:`~openclrs.text.splits.TextSplit`)
    in ``out_dir``; empty if there is none."""
    return manifest_layout(split_name(split)).read(out_dir)


def shard_is_intact(out_dir: str, entry: dict, verify: bool = True) -> bool:
    return is_intact(out_dir, entry, verify)


def data_files(out_dir: str, split: str = "train", algorithms=None) -> list[str]:
    """Paths of a generated split's shards (from its manifest), in order:
    ``datasets.load_dataset("json", data_files=data_files(out, "train"))``."""
    manifest = read_manifest(out_dir, split)
    chosen = None if algorithms is None else {check_algorithm(a) for a in (
        [algorithms] if isinstance(algorithms, str) else algorithms)}
    entries = sorted(manifest["shards"].values(),
                     key=lambda e: (e["algorithm"], e["length"], e["shard"]))
    return [os.path.join(out_dir, e["file"]) for e in entries
            if chosen is None or e["algorithm"] in chosen]


def read_jsonl(paths: str | Sequence[str]) -> Iterator[dict]:
    """Records of JSONL shards, in order (plain :mod:`json`, no extra
    packages). A line that is not JSON raises
    :class:`~openclrs.files.CorruptFileError` naming the file and the line."""
    for path in [paths] if isinstance(paths, str) else paths:
        with open(path, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue  # a blank line (at the end, say) holds no record
                try:
                    record = json.loads(line.decode("utf-8"))
                except UnicodeDecodeError as e:
                    problem = f"not UTF-8 text ({e.reason} at byte {e.start})"
                except json.JSONDecodeError as e:
                    problem = f"not JSON ({e.msg} at column {e.colno})"
                else:
                    yield record
                    continue
                raise CorruptFileError(f"{path}, line {number}: {problem}; each line of a "
                                       "JSONL file must be one JSON record")


__all__ = ["MANIFEST_FORMAT", "manifest_layout", "manifest_path", "read_manifest",
           "shard_is_intact", "data_files", "read_jsonl"]
