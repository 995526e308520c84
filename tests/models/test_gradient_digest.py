"""What the models compute, pinned: float64 losses, gradients and outputs of
every processor (on three algorithms) and of the Triplet-GMPNN (on all of
them) against a stored digest.

The digest (tests/models/data/gradient_digest.json) was written by
``tests/models/gradient_reference.py digest`` and is byte-identical to the
one the code before the processors/decoders reshaping writes. A reshaping
must leave it unchanged; regenerate it only for a deliberate change of
behaviour. To locate a difference, save and compare the full reference
(see gradient_reference.py: every gradient tensor, 1024 cases).
"""

import json
import pathlib

import pytest

from tests.models import gradient_reference as reference

DIGEST = pathlib.Path(__file__).parent / "data" / "gradient_digest.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_models_compute_what_the_digest_says():
    stored = json.loads(DIGEST.read_text())
    assert set(stored) == {f"{label}|{a}" for label, a in reference.digest_cases()}
    ours = reference.digest()
    differ = []
    for key, expected in stored.items():
        got = ours[key]
        # Float64 reductions may be ordered differently by another BLAS or
        # machine: far below anything a change of behaviour would give.
        if any(abs(g - e) > 1e-9 * max(1.0, abs(e)) for g, e in zip(got, expected, strict=True)):
            differ.append(f"{key}: {got} vs {expected}")
    assert not differ, "\n".join(differ[:10])
