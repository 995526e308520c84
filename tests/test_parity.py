"""Every algorithm against traces dumped from the published dm-clrs 2.0.3.

The fixtures in tests/data/reference come from tests/parity/dump_reference.py
(run in an environment with dm-clrs installed). They cover default sampler
options, the generalist recipe's options, truncated inputs and small sizes.
"""

import pathlib

import pytest

from tests.parity.compare import differences, load_fixture, ours_for

FIXTURES = sorted((pathlib.Path(__file__).parent / "data" / "reference").glob("*.npz"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_matches_published(path):
    meta, theirs = load_fixture(path)
    ours = ours_for(meta)
    assert len(ours) == len(theirs)
    for i, (ref, trace) in enumerate(zip(theirs, ours)):
        diff = differences(meta["algorithm"], ref, trace)
        assert not diff, f"sample {i}: " + "; ".join(diff)


def test_every_algorithm_has_fixtures():
    from openclrs.specs import ALL_ALGS
    covered = {p.stem.split("__")[0] for p in FIXTURES}
    assert covered == set(ALL_ALGS)
