import numpy as np
import pytest

import openclrs
from openclrs import transforms


def test_cyclic_predecessors_of_a_worked_example():
    # Order 1 -> 2 -> 0: node 1 is first (points to itself), node 0 last.
    cyclic, first = transforms.cyclic_predecessors(np.array([2, 1, 1]))
    assert cyclic.tolist() == [2, 0, 1]
    assert first.tolist() == [0, 1, 0]


def test_enforced_permutation_matches_training_spec():
    trace = openclrs.sample("insertion_sort", length=7, seed=0)[0]
    out = transforms.apply(trace)
    spec = transforms.training_spec("insertion_sort")
    assert dict(out.spec) == dict(spec)
    assert spec["pred"] == ("output", "node", "permutation_pointer")
    assert spec["pred_mask"] == ("output", "node", "mask_one")
    # A permutation: every node is pointed to exactly once.
    assert sorted(out.outputs["pred"].tolist()) == list(range(7))
    assert out.outputs["pred_mask"].sum() == 1
    plain = transforms.apply(trace, enforce_permutations=False)
    assert plain.spec["pred"] == ("output", "node", "pointer")
    assert np.array_equal(plain.outputs["pred"], trace.outputs["pred"])


def test_pred_hint_to_input_only_for_constant_pred():
    spec = transforms.training_spec("minimum")
    assert spec["pred"] == ("input", "node", "pointer") and "pred_h" not in spec
    assert list(spec).index("pred") == list(openclrs.SPECS["minimum"]).index("pred_h")
    spec = transforms.training_spec("insertion_sort")
    assert spec["pred_h"] == ("hint", "node", "pointer")


def test_randomize_pos_sorts_each_segment():
    trace = openclrs.sample("insertion_sort", length=9, seed=0)[0]
    out = transforms.randomize_pos(trace, np.random.RandomState(0))
    pos = out.inputs["pos"]
    assert np.all(np.diff(pos) >= 0) and not np.allclose(pos, trace.inputs["pos"])
    # Two strings: positions restart at 0 where the second string begins.
    fake = openclrs.Trace("insertion_sort", {**trace.inputs,
                          "pos": np.array([0, .25, .5, .75, 0, .2, .4, .6, .8])},
                          trace.hints, trace.outputs)
    pos = transforms.randomize_pos(fake, np.random.RandomState(1)).inputs["pos"]
    assert np.all(np.diff(pos[:4]) >= 0) and np.all(np.diff(pos[4:]) >= 0)


def test_random_pos_needs_rng():
    trace = openclrs.sample("insertion_sort", length=4, seed=0)[0]
    with pytest.raises(ValueError, match="rng"):
        transforms.apply(trace, random_pos=True)


def test_generalist_recipe():
    assert transforms.train_lengths("bfs") == (4, 7, 11, 13, 16)
    assert transforms.train_lengths("kmp_matcher") == (20,)
    kw = transforms.generalist_sampler_kwargs("bridges")
    assert np.allclose(kw["p"], np.arange(1, 10) / 20)
    assert transforms.generalist_sampler_kwargs("kmp_matcher") == {"length_needle": -8}
    assert transforms.generalist_sampler_kwargs("insertion_sort") == {}
