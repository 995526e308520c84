import subprocess
import sys

import numpy as np
import pytest

import openclrs
from openclrs.data import collate, uncollate


def _traces():
    return openclrs.sample("insertion_sort", length=6, seed=0, num_samples=4)


def test_collate_round_trip_with_padding():
    mixed = _traces()
    mixed[1] = openclrs.execute("insertion_sort", [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="nodes"):
        collate(mixed)
    traces = _traces()
    batch = collate(traces, min_steps=9)
    assert batch.num_steps == 9 and batch.batch_size == 4
    assert batch.inputs["key"].shape == (4, 6)
    assert batch.hints["pred_h"].shape == (9, 4, 6)
    assert np.all(batch.hints["i"][6:] == 0)  # padding is zero
    for a, b in zip(traces, uncollate(batch)):
        for name, stage, _, _, value in a.probes():
            other = {"input": b.inputs, "hint": b.hints, "output": b.outputs}[stage][name]
            assert np.array_equal(value, other)


def test_to_torch_dtypes():
    torch = pytest.importorskip("torch")
    batch = collate(_traces()).to_torch()
    assert batch.outputs["pred"].dtype == torch.int64
    assert batch.hints["i"].dtype == torch.float32
    assert batch.lengths.tolist() == [6, 6, 6, 6]


def test_cannot_mix_algorithms_or_collate_nothing():
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_import_openclrs_does_not_import_torch():
    code = ("import sys, openclrs, openclrs.data; "
            "openclrs.sample('insertion_sort', length=4); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_dataset_and_stream():
    torch = pytest.importorskip("torch")
    from openclrs.data.torch import TraceDataset, TraceStream, collate_to_torch

    loader = torch.utils.data.DataLoader(TraceDataset(_traces()), batch_size=2,
                                         collate_fn=collate_to_torch)
    batches = list(loader)
    assert len(batches) == 2 and batches[0].inputs["key"].shape == (2, 6)
    stream = iter(TraceStream("insertion_sort", batch_size=3, lengths=(4, 7), seed=1))
    first, second, third = next(stream), next(stream), next(stream)
    assert first.inputs["key"].shape == (3, 4) and second.inputs["key"].shape == (3, 7)
    assert third.inputs["key"].shape == (3, 4)
    assert "pred_mask" in first.outputs  # permutations enforced by default
    again = next(iter(TraceStream("insertion_sort", batch_size=3, lengths=(4, 7), seed=1)))
    assert torch.equal(again.inputs["pos"], first.inputs["pos"])  # seeded
    assert not torch.allclose(first.inputs["pos"][0], torch.arange(4) / 4)  # random pos
