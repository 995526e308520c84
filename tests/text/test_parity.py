"""openclrs writes the published CLRS-Text strings, example for example.

The fixtures in tests/data/clrs_text come from tests/parity/dump_clrs_text.py
(the published formatter of dm-clrs 2.0.3, and its July 2024 version for
the legacy float style), sampled as the published generators sample.
"""

import pytest

from openclrs.specs import ALL_ALGS, CLRS_30_ALGS
from openclrs.text import TASKS_WITH_HINTS, format_example

from .helpers import FIXTURE_DIR, fixture_examples, trace_for


def _mismatch(ours: str, theirs: str) -> str:
    k = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
             min(len(ours), len(theirs)))
    return f"first difference at {k}: ours {ours[k - 30:k + 30]!r} vs {theirs[k - 30:k + 30]!r}"


@pytest.mark.parametrize("algorithm", ALL_ALGS)
def test_same_strings_as_published(algorithm):
    examples = fixture_examples(algorithm)
    assert examples
    for ex in examples:
        question, answer = format_example(algorithm, trace_for(ex), use_hints=ex["use_hints"],
                                          float_format=ex["float_format"])
        where = f"{algorithm} n={ex['length']} seed={ex['seed']} #{ex['index']} " \
                f"hints={ex['use_hints']} {ex['float_format']}"
        assert question == ex["question"], where + ": question " + _mismatch(question,
                                                                               ex["question"])
        assert answer == ex["answer"], where + ": answer " + _mismatch(answer, ex["answer"])


def test_fixtures_cover_every_algorithm_and_mode():
    assert {p.stem for p in FIXTURE_DIR.glob("*.json")} == set(ALL_ALGS)
    for algorithm in CLRS_30_ALGS:
        modes = {(ex["use_hints"], ex["float_format"]) for ex in fixture_examples(algorithm)}
        assert modes == {(False, "current"), (True, "current"), (False, "legacy"),
                         (True, "legacy")}, algorithm
        assert len({ex["length"] for ex in fixture_examples(algorithm)
                    if ex["float_format"] == "current"}) >= 2


def test_hinted_fixtures_spell_out_traces():
    # The 29 traced tasks: hints add an initial trace and a "trace |" answer.
    assert len(TASKS_WITH_HINTS) == 29
    for algorithm in CLRS_30_ALGS:
        hinted = [ex for ex in fixture_examples(algorithm) if ex["use_hints"]]
        traced = all("initial_trace:" in ex["question"] and "\ntrace | " in ex["question"]
                     and "|" in ex["answer"] for ex in hinted)
        assert traced == (algorithm in TASKS_WITH_HINTS), algorithm


def test_fixture_files_are_small():
    assert sum(p.stat().st_size for p in FIXTURE_DIR.glob("*.json")) < 1_000_000
