"""`openclrs list` and `openclrs show`: what a user reads first."""

from __future__ import annotations

import re

import numpy as np
import pytest

import openclrs
from openclrs.cli import main
from openclrs.display import format_value, render
from openclrs.specs import Location, Type

SMALL = {"kmp_matcher": 6, "naive_string_matcher": 6, "lcs_length": 4}  # need a longer input


def shown(capsys, *argv) -> str:
    assert main(["show", *argv]) == 0
    return capsys.readouterr().out


def probe_values(text: str) -> dict[str, str]:
    """``{"block/probe": its value text}``; a matrix's rows follow its name."""
    values, block, name = {}, None, None
    for line in text.splitlines()[1:]:
        if not line.startswith(" "):
            block = line
        elif not line.startswith("    "):
            name, _, value = line.strip().partition(" ")
            values[f"{block}/{name}"] = value
        else:
            values[f"{block}/{name}"] += "\n" + line
    return values


@pytest.mark.parametrize("algorithm", openclrs.CLRS_30_ALGS)
def test_render_every_algorithm(algorithm):
    """No trailing spaces; one number format per probe (all integers, or all
    with the same decimals); no Python list commas."""
    trace = openclrs.sample(algorithm, SMALL.get(algorithm, 5), seed=1)[0]
    text = render(trace)
    assert all(line == line.rstrip() for line in text.splitlines()), "trailing space"
    values = probe_values(text)
    assert len(values) == len(trace.inputs) + len(trace.outputs) \
        + trace.length * len(trace.hints)
    for probe, value in values.items():
        assert "," not in value, f"{probe}: {value}"
        decimals = {len(n.partition(".")[2]) for n in re.findall(r"\d+(?:\.\d+)?", value)}
        assert len(decimals) <= 1, f"{probe} mixes precisions: {value}"


def test_plural_and_singular(capsys):
    assert "bfs: 1 node, 1 hint step\n" in shown(capsys, "bfs", "--length", "1")
    assert "insertion_sort: 5 nodes, 5 hint steps" in shown(
        capsys, "insertion_sort", "--length", "5", "--seed", "2")


def test_formats():
    assert format_value(np.array([0.0, 0.2, 1.0]), Location.NODE, Type.SCALAR) \
        == "[0.000 0.200 1.000]"
    assert format_value(np.array([0.0, 2.0, np.inf]), Location.NODE, Type.SCALAR) \
        == "[0 2 inf]"
    key = np.eye(4)[[3, 1, 0, 3]]  # kmp_matcher's key: categorical per node
    assert format_value(key, Location.NODE, Type.CATEGORICAL) == "[3 1 0 3]"
    matrix = format_value(np.array([[0.038, 0.0], [10.5, 0.25]]), Location.EDGE, Type.SCALAR)
    assert matrix == "\n     0.038  0.000\n    10.500  0.250"


def test_matrix_under_its_name(capsys):
    out = shown(capsys, "dijkstra", "--length", "3", "--step", "0")
    assert "\n  A\n    " in out and "\n  adj\n    " in out


def test_index_is_the_stream_position(capsys):
    """--index k is the k-th sample of the seed's stream, as `sample` gives it."""
    out = shown(capsys, "bfs", "--length", "5", "--seed", "3", "--index", "4")
    assert out.rstrip("\n") == render(openclrs.sample("bfs", 5, seed=3, num_samples=5)[4])


def test_bad_index_and_step(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["show", "bfs", "--index", "-1"])
    assert exit_.value.code == 2
    assert "argument --index: expected an integer >= 0, got -1" in capsys.readouterr().err
    assert main(["show", "insertion_sort", "--length", "5", "--step", "9"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --step 9 is out of range: this trace has 5 hint steps " \
                  "(0 to 4, or -1 for the last)\n"


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "insertion_sort" in out and "30 CLRS-30 algorithms in 8 families" in out
    assert all(line == line.rstrip() for line in out.splitlines())
    assert main(["list", "bfs"]) == 0
    assert "reach_h         hint    node      mask" in capsys.readouterr().out
