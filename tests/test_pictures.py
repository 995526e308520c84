"""Pictures of traces: every algorithm draws, a GIF has a frame per hint step."""

import os

import pytest

import openclrs
from openclrs.cli import main

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

from openclrs.pictures import animate_trace, plot_trace  # noqa: E402
from openclrs.pictures.trace import LAYOUTS, chosen_steps, layout_of, states  # noqa: E402


@pytest.mark.parametrize("algorithm", openclrs.ALL_ALGS)
def test_every_algorithm_plots(algorithm, tmp_path):
    length = 8 if algorithm in ("naive_string_matcher", "kmp_matcher") else 5
    trace = openclrs.sample(algorithm, length=length, seed=0)[0]
    path = plot_trace(trace, algorithm, str(tmp_path / "t.png"), most_steps=2)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 400 and image.size[1] > 200
        # not a blank page: the drawing uses more than a handful of colours
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 20
    assert sorted(os.listdir(tmp_path)) == ["t.png"]  # nothing half-written left


def test_panels_are_the_input_the_chosen_steps_and_the_output():
    trace = openclrs.sample("insertion_sort", length=6, seed=1)[0]
    titles = [p.title for p in states(trace, "insertion_sort", chosen_steps(trace.length, 3))]
    assert titles == ["input", "step 0", f"step {(trace.length - 1) // 2}",
                      f"step {trace.length - 1}", "output"]
    assert chosen_steps(4, 6) == [0, 1, 2, 3]
    # the layout comes from the family, nothing per algorithm
    assert {layout_of(a) for a in ("bfs", "graham_scan", "kmp_matcher", "heapsort")} == \
        {"graph", "points", "string", "array"} and set(LAYOUTS.values()) < \
        {"graph", "points", "string", "array"}


@pytest.mark.parametrize("algorithm", ["bfs", "insertion_sort", "floyd_warshall"])
def test_the_animation_has_one_frame_per_hint_step(algorithm, tmp_path):
    trace = openclrs.sample(algorithm, length=5, seed=4)[0]
    path = animate_trace(trace, algorithm, str(tmp_path / "t.gif"))
    with Image.open(path) as image:
        assert image.format == "GIF" and image.n_frames == trace.length


def test_plot_command(tmp_path, capsys):
    png, gif = tmp_path / "bfs.png", tmp_path / "bfs.gif"
    assert main(["plot", "bfs", "--length", "6", "--seed", "4", "--index", "1",
                 "--out", str(png), "--gif", str(gif)]) == 0
    assert capsys.readouterr().out.split() == [str(png), str(gif)]
    assert png.stat().st_size > 10_000 and gif.stat().st_size > 10_000
    assert main(["plot", "bfs", "--out", str(png), "--gif", str(tmp_path / "movie")]) == 2
    assert "give a name ending in .gif" in capsys.readouterr().err
