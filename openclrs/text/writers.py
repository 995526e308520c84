"""CLRS-Text shard files: the record layout and its two writers (JSONL, Parquet).

One record per example, with the columns of the published Hugging Face
generator (``text``, ``question``, ``answer``, ``algo_name``, ``length``,
``use_hints``; ``text`` is ``question + answer``) plus ``seed`` and
``index``, the example's place in its stream. A writer takes the
``(question, answer, seed, index)`` tuples of one shard and writes them to
the path it is given (the dataset builder's temporary file, renamed into
place when complete). JSON lines are put together with the C string
encoder of :mod:`json` (the bytes of ``json.dumps(record, separators=(",",
":"))``); Parquet goes through pyarrow (the ``text`` extra).
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii as _json_string
from typing import Callable, Iterable

FILE_FORMATS = ("jsonl", "parquet")
DEFAULT_SHARD_SIZE = 10_000  # examples per file
#: The record layout; part of every shard's recipe.
RECORD_FORMAT = "openclrs-text/1"
#: Columns of a record, in order (``text`` only with ``include_text``).
COLUMNS = ("text", "question", "answer", "algo_name", "length", "use_hints", "seed", "index")

#: Examples between two progress reports.
_REPORT_EVERY = 200


def check_file_format(file_format: str) -> str:
    """``file_format`` if known; for Parquet, pyarrow must be installed
    (checked here, before any work)."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"format must be one of {FILE_FORMATS}, got {file_format!r}")
    if file_format == "parquet":
        parquet_module()
    return file_format


def jsonl_line(question, answer, algorithm, length, use_hints, seed, index,
               include_text) -> str:
    """``json.dumps(record, separators=(",", ":")) + "\\n"``, assembled."""
    head = '{"text":' + _json_string(question + answer) + "," if include_text else "{"
    return (head + '"question":' + _json_string(question) + ',"answer":' + _json_string(answer)
            + ',"algo_name":' + _json_string(algorithm) + ',"length":' + str(length)
            + ',"use_hints":' + ("true" if use_hints else "false") + ',"seed":' + str(seed)
            + ',"index":' + str(index) + "}\n")


def write_jsonl(path: str, records: Iterable[tuple], algorithm: str, length: int,
                use_hints: bool, include_text: bool,
                report: Callable[[int], None] = lambda k: None) -> None:
    """Write ``(question, answer, seed, index)`` records as JSON lines."""
    with open(path, "wb") as f:
        chunk = []
        for question, answer, seed, index in records:
            chunk.append(jsonl_line(question, answer, algorithm, length, use_hints, seed,
                                    index, include_text))
            if len(chunk) >= _REPORT_EVERY:
                f.write("".join(chunk).encode("ascii"))
                report(len(chunk))
                chunk = []
        f.write("".join(chunk).encode("ascii"))
        report(len(chunk))


def parquet_module():
    """``pyarrow.parquet``, or an ImportError naming the extra that installs it."""
    from ..extras import require

    purpose = "write Parquet shards; format='jsonl' needs nothing"
    require("pyarrow", purpose)
    return require("pyarrow.parquet", purpose)


def write_parquet(path: str, records: Iterable[tuple], algorithm: str, length: int,
                  use_hints: bool, include_text: bool,
                  report: Callable[[int], None] = lambda k: None) -> None:
    """Write ``(question, answer, seed, index)`` records as one Parquet table."""
    pq = parquet_module()
    import pyarrow as pa

    columns = {name: [] for name in COLUMNS}
    for question, answer, seed, index in records:
        columns["text"].append(question + answer)
        columns["question"].append(question)
        columns["answer"].append(answer)
        columns["seed"].append(seed)
        columns["index"].append(index)
        report(1)
    n = len(columns["index"])
    columns["algo_name"] = [algorithm] * n
    columns["length"] = [length] * n
    columns["use_hints"] = [use_hints] * n
    if not include_text:
        del columns["text"]
    types = {"text": pa.string(), "question": pa.string(), "answer": pa.string(),
             "algo_name": pa.string(), "length": pa.int32(), "use_hints": pa.bool_(),
             "seed": pa.int64(), "index": pa.int64()}
    schema = pa.schema([(name, types[name]) for name in COLUMNS if name in columns])
    table = pa.table({name: columns[name] for name in schema.names}, schema=schema)
    pq.write_table(table, path)


WRITERS = {"jsonl": write_jsonl, "parquet": write_parquet}

__all__ = ["FILE_FORMATS", "RECORD_FORMAT", "COLUMNS", "check_file_format", "jsonl_line",
           "write_jsonl", "write_parquet", "parquet_module", "WRITERS"]
