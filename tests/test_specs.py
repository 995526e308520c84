import pytest

import openclrs
from openclrs import specs


def test_clrs30_has_thirty_algorithms_plus_two_extras():
    assert len(specs.CLRS_30_ALGS) == 30
    assert set(specs.ALL_ALGS) - set(specs.CLRS_30_ALGS) == {
        "find_maximum_subarray", "bipartite_matching"}


def test_every_algorithm_has_pos_input_and_one_output():
    for alg, spec in specs.SPECS.items():
        assert spec["pos"] == ("input", "node", "scalar"), alg
        assert any(s == "output" for s, _, _ in spec.values()), alg
        for stage, location, type_ in spec.values():
            assert stage in specs.STAGES and location in specs.LOCATIONS
            assert type_ in specs.TYPES


def test_published_spec_examples():
    assert dict(specs.SPECS["bfs"]) == {
        "pos": ("input", "node", "scalar"), "s": ("input", "node", "mask_one"),
        "A": ("input", "edge", "scalar"), "adj": ("input", "edge", "mask"),
        "pi": ("output", "node", "pointer"), "reach_h": ("hint", "node", "mask"),
        "pi_h": ("hint", "node", "pointer")}
    assert list(specs.SPECS["insertion_sort"]) == ["pos", "key", "pred", "pred_h", "i", "j"]


def test_split_sizes_follow_the_published_table():
    assert specs.split_size("bfs", "train") == 1000
    assert specs.split_size("bfs", "val") == 32
    assert specs.split_size("bfs", "test") == 32
    assert specs.split_size("find_maximum_subarray_kadane", "test") == 32 * 32
    for alg in ("quickselect", "minimum", "binary_search", "naive_string_matcher",
                "kmp_matcher", "segments_intersect"):
        assert specs.split_size(alg, "val") == 2048
        assert specs.split_size(alg, "train") == 1000
    assert specs.CLRS30["test"]["length"] == 64 and specs.CLRS30["test"]["seed"] == 3


def test_families_partition_all_algorithms():
    seen = [a for algs in specs.FAMILIES.values() for a in algs]
    assert sorted(seen) == sorted(specs.ALL_ALGS)
    assert len(specs.FAMILIES) == 8


def test_unknown_algorithm_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean 'dijkstra'"):
        specs.check_algorithm("dijkstar")
    with pytest.raises(ValueError, match="unknown algorithm"):
        openclrs.sample("no_such_thing", length=4)
