"""A sparse evaluation resumed mid-trajectory (models.sparse.TrajectoryState,
training.sparse_evaluate.StateFile): continued from a state saved at step k
it gives exactly the logits of a run never stopped; a state of another
evaluation, or in training mode, is refused."""

import numpy as np
import pytest
import torch

from openclrs.distributions import SparseSampler
from openclrs.files import CorruptFileError
from openclrs.models.model import ModelConfig, Reasoner
from openclrs.models.sparse import TrajectoryState, sparse_forward, sparse_predict
from openclrs.training.sparse_evaluate import StateFile, first_step_batch

IDENTITY = {"cell": "dijkstra/er_16", "graph": "0"}


class Stop(Exception):
    """Stands for the process being killed right after a save."""


class StopAfter(StateFile):
    """Saves before every step and stops the run after saving step ``k``."""

    def __init__(self, path, k, **kw):
        super().__init__(path, IDENTITY, every=0.0, **kw)
        self.k = k

    def save(self, state):
        super().save(state)
        if state.step == self.k:
            raise Stop


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, processor="gpgn_mask", hint_repred_mode="hard_on_eval",
                         use_lstm=True)
    model = Reasoner.from_algorithms("dijkstra", config).eval()
    sampler = SparseSampler("dijkstra", "er_16", 5, hints=True)
    small = next(sampler)
    big = next(SparseSampler("dijkstra", "ws_80", 5, hints=True))
    # longest first: the short graph finishes (its outputs are decoded) at
    # step 15, the batch runs 80 steps on the long one alone after that
    batch = first_step_batch([big, small])
    with torch.no_grad():
        whole = sparse_forward(model, batch, repred=True)
    return model, batch, whole


@pytest.mark.parametrize("k", [1, 10, 40])
def test_resumed_run_equals_uninterrupted(setting, tmp_path, k):
    model, batch, whole = setting
    path = str(tmp_path / "state.safetensors")
    with pytest.raises(Stop), torch.no_grad():
        sparse_forward(model, batch, repred=True,
                       checkpoint=StopAfter(path, k, extra=lambda: {"cpu_seconds": 1.5}))
    again = StateFile(path, IDENTITY)
    with torch.no_grad():
        resumed = sparse_forward(model, batch, repred=True, checkpoint=again)
    assert again.saved_step == k and again.carried == {"cpu_seconds": 1.5}
    assert resumed.outputs.keys() == whole.outputs.keys()
    for name, value in whole.outputs.items():
        assert torch.equal(resumed.outputs[name], value), name
    # what the scorer reads: the hard predictions, the same too
    want = sparse_predict(model, batch)
    got = sparse_predict(model, batch, checkpoint=StateFile(path, IDENTITY))
    assert all(np.array_equal(want[n], got[n]) for n in want)


def test_state_round_trip_and_file_handling(setting, tmp_path):
    model, batch, _ = setting
    path = str(tmp_path / "state.safetensors")
    with pytest.raises(Stop), torch.no_grad():
        sparse_forward(model, batch, repred=True, checkpoint=StopAfter(path, 3))
    state = StateFile(path, IDENTITY).load()
    assert isinstance(state, TrajectoryState) and state.step == 3
    assert state.lstm_state is not None and set(state.preds) >= {"pi_h", "u"}
    back = TrajectoryState.from_tensors(state.tensors())
    assert back.step == 3 and torch.equal(back.hidden, state.hidden)
    with pytest.raises(ValueError, match="graph differ"):
        StateFile(path, {**IDENTITY, "graph": "1"}).load()
    with pytest.raises(ValueError, match="evaluation only"):
        sparse_forward(model, batch, repred=False, checkpoint=StateFile(path, IDENTITY))
    with open(path, "wb") as f:
        f.write(b"not a safetensors file")
    with pytest.raises(CorruptFileError, match="delete it"):
        StateFile(path, IDENTITY).load()
    StateFile(path, IDENTITY).remove()
    assert StateFile(path, IDENTITY).load() is None


def test_saves_only_when_due(setting, tmp_path):
    model, batch, _ = setting
    path = str(tmp_path / "state.safetensors")
    now = [0.0]

    def clock():
        now[0] += 1.0  # one "second" per look at the clock
        return now[0]

    with torch.no_grad():
        sparse_forward(model, batch, repred=True,
                       checkpoint=StateFile(path, IDENTITY, every=1e9, clock=clock))
    assert StateFile(path, IDENTITY).load() is None


def test_identity_content_and_device(setting, tmp_path):
    """The saved identity reads back without a matching one; a well-formed
    file of the wrong content is refused by name; a loaded state moves to
    the batch's device as a whole."""
    from openclrs.training.runs import safetensors_bytes

    model, batch, _ = setting
    path = str(tmp_path / "state.safetensors")
    assert StateFile(path, {}).saved_identity() is None
    with pytest.raises(Stop), torch.no_grad():
        sparse_forward(model, batch, repred=True, checkpoint=StopAfter(path, 2))
    assert StateFile(path, {}).saved_identity() == IDENTITY
    state = StateFile(path, IDENTITY).load()
    moved = state.to("meta")
    assert moved.step == 2 and moved.hidden.device.type == "meta"
    assert all(t.device.type == "meta" for t in (*moved.lstm_state, *moved.preds.values(),
                                                 *moved.outputs.values()))
    other = str(tmp_path / "other.safetensors")
    with open(other, "wb") as f:
        f.write(safetensors_bytes({"x": torch.zeros(2)},
                                  {f"id/{k}": v for k, v in IDENTITY.items()}))
    with pytest.raises(CorruptFileError, match="delete it"):
        StateFile(other, IDENTITY).load()


def test_salsa_table_clears_a_state_whose_graphs_are_in_the_results(tmp_path):
    """A stop between saving a chunk's results and removing its state must
    not block the next run (whose chunk starts further on)."""
    import importlib.util
    import os

    from openclrs.training.runs import safetensors_bytes

    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "salsa_table.py")
    spec = importlib.util.spec_from_file_location("salsa_table_benchmark", path)
    salsa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(salsa)
    state = tmp_path / "s.safetensors"

    def write(cell, start):
        state.write_bytes(safetensors_bytes({"step": torch.tensor(3)},
                                            {"id/cell": cell, "id/start": str(start)}))

    write("dijkstra/er_4096", 2)
    salsa.clear_finished_state(str(state), "dijkstra/er_4096", 2)   # its own chunk: kept
    assert state.exists()
    salsa.clear_finished_state(str(state), "dijkstra/ws_4096", 3)   # another cell's: kept
    assert state.exists()
    salsa.clear_finished_state(str(state), "dijkstra/er_4096", 3)   # in the results: removed
    assert not state.exists()
    salsa.clear_finished_state(str(state), "dijkstra/er_4096", 3)   # nothing there: fine
