"""The memory estimate: above what sampled traces take (and not far above),
never in the way of the canonical splits, and a clear, immediate refusal of
what cannot fit."""

import re
import time

import pytest

import openclrs
from openclrs import footprint, samplers
from openclrs.specs import CLRS30, split_size

ALGS = list(openclrs.ALL_ALGS)


def trace_bytes(trace):
    return sum(v.size * footprint.BYTES_PER_NUMBER for *_, v in trace.probes())


OPTIONS = [{}] + [{"p": p} for p in (0.05, 1.0)]


@pytest.mark.parametrize("name", ALGS)
def test_estimate_is_above_sampled_traces_and_not_far_above(name):
    for options in OPTIONS:
        if options and "p" not in samplers.sampler_options(name):
            continue
        for n in (8, 24):
            length = max(n, 10) if name.endswith("matcher") else n
            traces = openclrs.sample(name, length=length, seed=n, num_samples=3, **options)
            largest = max(trace_bytes(t) for t in traces)
            estimate = samplers.estimate_sample_bytes(name, length, **options)
            assert estimate >= largest, (options, n)
            assert max(t.length for t in traces) <= samplers.estimate_steps(
                name, length, **options)
            if not options:  # the samplers' own distribution: a tight estimate
                assert estimate <= 6 * largest, (n, estimate / largest)


def test_canonical_splits_are_never_refused():
    for name in ALGS:
        for split, recipe in CLRS30.items():
            # one sample at a time (dataset generation streams): tens of MiB
            one = samplers.estimate_peak_bytes(name, recipe["length"])
            assert one < 128 * 2**20, (name, split)
            # a whole split held in memory (sample_split): under 3 GiB
            samplers.check_fits(name, recipe["length"], split_size(name, split),
                                available=3 * 2**30)


def test_estimates_are_fast():
    start = time.perf_counter()
    for name in ALGS:
        for length in (16, 64, 100_000):
            samplers.estimate_sample_bytes(name, length)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("name", ["insertion_sort", "bfs", "floyd_warshall"])
def test_a_length_that_cannot_fit_is_refused_at_once(name):
    start = time.perf_counter()
    with pytest.raises(samplers.SampleTooLarge) as error:
        openclrs.sample(name, length=100_000)
    assert time.perf_counter() - start < 1.0
    assert isinstance(error.value, ValueError) and isinstance(error.value, MemoryError)
    message = str(error.value)
    assert f"{name} at length 100000 needs about" in message
    assert re.search(r"use length <= \d+", message), message


def test_the_advised_length_is_the_largest_that_fits():
    budget = samplers.estimate_peak_bytes("floyd_warshall", 300)
    samplers.check_fits("floyd_warshall", 300, available=budget)
    with pytest.raises(samplers.SampleTooLarge, match=r"use length <= (\d+)") as error:
        samplers.check_fits("floyd_warshall", 301, available=budget)
    assert re.search(r"use length <= 300\b", str(error.value))
    assert footprint.largest_length_that_fits("floyd_warshall", budget) == 300
    assert footprint.largest_length_that_fits("floyd_warshall", 10) == 0


def test_many_samples_are_counted_together(monkeypatch):
    one = samplers.estimate_peak_bytes("insertion_sort", 50)
    monkeypatch.setattr(footprint, "available_memory", lambda: 2 * one)
    sampler = samplers.Sampler("insertion_sort", 50, seed=0)  # one sample fits
    assert len(sampler.take(1)) == 1
    with pytest.raises(samplers.SampleTooLarge, match="1000 samples.*or fewer samples"):
        sampler.take(1000)
    with pytest.raises(samplers.SampleTooLarge, match="1000 samples"):
        openclrs.sample("insertion_sort", length=50, num_samples=1000)


def test_unknown_available_memory_skips_the_check(monkeypatch):
    monkeypatch.setattr(footprint, "available_memory", lambda: None)
    assert samplers.check_fits("insertion_sort", 10**6) > 2**40


def test_available_memory_is_read_from_the_system():
    available = samplers.available_memory()
    assert isinstance(available, int) and 0 < available
    pages = footprint.os.sysconf("SC_PHYS_PAGES") * footprint.os.sysconf("SC_PAGE_SIZE")
    assert available <= pages


def test_options_that_change_the_size_are_read():
    # two strings of 8 and 24 characters are 32 nodes, not 8
    assert footprint.num_nodes("lcs_length", 8, 24) == 32
    assert samplers.estimate_sample_bytes("lcs_length", 8, length_2=24) > \
        samplers.estimate_sample_bytes("lcs_length", 8)
    assert samplers.estimate_sample_bytes("bridges", 64, p=1.0) > \
        samplers.estimate_sample_bytes("bridges", 64)
    traces = openclrs.sample("lcs_length", length=8, length_2=24, seed=0)
    assert trace_bytes(traces[0]) <= samplers.estimate_sample_bytes("lcs_length", 8,
                                                                     length_2=24)


def test_the_command_line_refuses_with_one_line(capsys):
    from openclrs.cli import main

    assert main(["show", "bfs", "--length", "100000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bfs at length 100000 needs about") and "\n" not in err
