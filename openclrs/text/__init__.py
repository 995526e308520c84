"""CLRS-Text: traces as question/answer text, answers parsed and scored.

numpy only, and loaded on first use (``import openclrs.text`` is instant).
The strings are those of the published CLRS-Text benchmark
(``clrs._src.clrs_text``, dm-clrs 2.0.3) for the same sample::

    import openclrs
    from openclrs import text

    trace = openclrs.sample("insertion_sort", length=5, seed=0,
                            truncate_decimals=3)[0]
    question, answer = text.format_example("insertion_sort", trace)
    text.parse_answer("insertion_sort", answer)   # {'pred': array([...sorted keys])}
    text.score("insertion_sort", model_output, answer).accuracy

* :func:`format_example`: ``(question, answer)``, with or without hints, in
  the current float style or the July 2024 ``"legacy"`` one;
  :func:`generate_examples` samples and formats in one go.
* :func:`parse_answer` / :func:`parse_trace`: an answer back into arrays.
* :func:`score`, :class:`Scoreboard`, :func:`aggregate`: exact match, parse
  success, shape match and per-element accuracy, averaged by
  ``(algorithm, length)``; :func:`paper_score`: TransNAR's shape, parse and
  CLRS scores (each on its own: a right-shaped answer with a letter in it
  has shape 1, parse 0).
"""

from .. import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    **{name: "format" for name in (
        "FLOAT_FORMATS", "INTEGER_SCALARS", "MATCHER_TRACE", "SEARCH_ANSWERS",
        "TASKS_WITH_HINTS", "TUPLE_STEPS", "answer_arrays", "answer_names", "answer_spec",
        "format_example", "format_value", "generate_examples", "input_names",
        "predecessors_to_order", "trace_arrays", "trace_fields")},
    **{name: "parse" for name in ("ParseError", "detect_hints", "extract_answer",
                                  "parse_answer", "parse_trace", "try_parse_answer")},
    **{name: "scoring" for name in ("METRICS", "PAPER_METRICS", "PaperScore", "Score",
                                    "Scoreboard", "aggregate", "compare", "paper_score",
                                    "score")},
    # CLRS-Text datasets on disk: the published train/eval splits, sharded
    # (splits, shards, writers, reading; built by openclrs.data.build).
    "generate_text_dataset": "datasets", "data_files": "reading", "read_jsonl": "reading",
    "TextSplit": "splits",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
