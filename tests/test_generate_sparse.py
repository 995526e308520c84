"""``openclrs generate --sparse``: SALSA-CLRS's splits written by the dataset builder."""

import json
import os

import numpy as np

from openclrs.cli import main
from openclrs.data.sparse import load_sparse_split, salsa_parts
from openclrs.distributions import TEST_SETS, SparseSampler


def test_generate_sparse_writes_salsa_splits(tmp_path, capsys):
    args = ["generate", "--sparse", "--algorithms", "bfs", "fast_mis", "--num-samples", "2",
            "--splits", "train", "val", "--root", str(tmp_path), "--quiet", "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "8 graphs" in out and str(tmp_path / "salsa") in out
    folder = str(tmp_path / "salsa")
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert set(manifest["parts"]) == {f"{a}/{s}.safetensors" for a in ("bfs", "fast_mis")
                                      for s in ("train", "val")}
    train = load_sparse_split(folder, "bfs", "train")
    val = load_sparse_split(folder, "bfs", "val")
    assert len(train) == len(val) == 2 and train.has_hints and not val.has_hints
    # the graphs of salsa_parts' train split (seed 0): SALSA's distribution, n <= 16
    for stored, sampled in zip(train, SparseSampler("bfs", "train", 0).take(2)):
        assert stored.num_nodes in (4, 7, 11, 13, 16)
        assert np.array_equal(stored.senders, sampled.senders)
        assert np.array_equal(stored.hints["pi_h"], sampled.hints["pi_h"])
    # done parts are kept: a rerun writes nothing
    stamp = os.path.getmtime(os.path.join(folder, "bfs", "train.safetensors"))
    assert main(args) == 0
    assert os.path.getmtime(os.path.join(folder, "bfs", "train.safetensors")) == stamp


def test_generate_sparse_test_sets_and_seed(tmp_path, capsys):
    assert main(["generate", "--sparse", "--algorithms", "dijkstra", "--num-samples", "1",
                 "--splits", "test", "--seed", "5", "--name", "tiny", "--root", str(tmp_path),
                 "--quiet", "--workers", "1"]) == 0
    folder = str(tmp_path / "tiny")
    parts = json.load(open(os.path.join(folder, "manifest.json")))["parts"]
    assert set(parts) == {f"dijkstra/test_{name}.safetensors" for name in TEST_SETS}
    seed = {p.split: p.seed for p in salsa_parts("dijkstra", 5)}["test_ws_80"]
    stored = load_sparse_split(folder, "dijkstra", "test_ws_80")[0]
    sampled = SparseSampler("dijkstra", "ws_80", seed, hints=False).take(1)[0]
    assert stored.num_nodes == 80 and not stored.has_hints
    assert np.array_equal(stored.inputs["A"], sampled.inputs["A"])
    assert np.array_equal(stored.outputs["pi"], sampled.outputs["pi"])


def test_generate_sparse_refuses_what_does_not_apply(tmp_path, capsys):
    root = ["--root", str(tmp_path), "--quiet", "--workers", "1"]
    assert main(["generate", "--algorithms", "fast_mis", *root]) == 2
    assert "add --sparse" in capsys.readouterr().err
    assert main(["generate", "--large", "--algorithms", "bfs", *root]) == 2
    assert "add --sparse" in capsys.readouterr().err
    assert main(["generate", "--sparse", "--lengths", "4", *root]) == 2
    assert "--lengths do not apply to --sparse" in capsys.readouterr().err
    assert main(["generate", "--sparse", "--algorithms", "insertion_sort", *root]) == 2
    assert "no sparse implementation of 'insertion_sort'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "salsa")


def test_generate_sparse_default_algorithms_are_the_spec_tables(tmp_path, capsys, monkeypatch):
    # The CLI holds no list of its own: the default (and its --help) is
    # openclrs.specs.SALSA_ALGS, so changing the table changes both.
    from openclrs import specs

    monkeypatch.setattr(specs, "SALSA_ALGS", ("bfs", "dijkstra"))
    assert main(["generate", "--sparse", "--num-samples", "1", "--splits", "val",
                 "--root", str(tmp_path), "--quiet", "--workers", "1"]) == 0
    manifest = json.load(open(os.path.join(tmp_path, "salsa", "manifest.json")))
    assert set(manifest["parts"]) == {"bfs/val.safetensors", "dijkstra/val.safetensors"}
    capsys.readouterr()
    try:
        main(["generate", "--help"])
    except SystemExit:
        pass
    assert "(default its six: bfs, dijkstra)" in " ".join(capsys.readouterr().out.split())
