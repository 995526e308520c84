import json
import os

import numpy as np
import pytest

import openclrs
from openclrs.data import (CorruptFileError, Part, StoredSplit, build_dataset, canonical_parts,
                           load_split, read_manifest, read_safetensors, write_safetensors)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _parts():
    return [Part("insertion_sort", "a", 6, 0, 20), Part("insertion_sort", "b", 9, 1, 7),
            Part("bubble_sort", "a", 5, 2, 11)]


def _files(folder):
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_safetensors_round_trip_and_compatibility(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.int8).reshape(2, 3), "b": np.linspace(0, 1, 5)}
    size, digest = write_safetensors(str(tmp_path / "x.safetensors"), tensors, {"k": "v"})
    back, meta = read_safetensors(str(tmp_path / "x.safetensors"))
    assert meta == {"k": "v"} and np.array_equal(back["a"], tensors["a"])
    assert os.path.getsize(tmp_path / "x.safetensors") == size
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]  # no temp files
    assert os.stat(tmp_path / "x.safetensors").st_mode & 0o777 == 0o666 & ~_umask()
    safetensors = pytest.importorskip("safetensors.numpy")
    loaded = safetensors.load_file(str(tmp_path / "x.safetensors"))
    assert np.array_equal(loaded["b"], tensors["b"])


def test_stored_split_gives_back_the_traces(tmp_path):
    build_dataset(_parts(), str(tmp_path), workers=1, progress=False)
    split = StoredSplit(str(tmp_path / "insertion_sort" / "b.safetensors"))
    expected = openclrs.sample("insertion_sort", length=9, seed=1, num_samples=7)
    assert len(split) == 7
    for trace, ref in zip(split, expected):
        for name, stage, _, _, value in ref.probes():
            got = {"input": trace.inputs, "hint": trace.hints, "output": trace.outputs}[stage]
            assert got[name].dtype == value.dtype and np.array_equal(got[name], value)
    batch = split.batch([0, 3])
    assert batch.hints["pred_h"].shape == (9, 2, 9)
    # indices as numpy reads them: negative and boolean pick the same samples
    for same in ([-7, -4], np.arange(7) % 3 == 0):
        other = split.batch([0, 3, 6] if isinstance(same, np.ndarray) else same)
        want = split.batch([0, 3, 6] if isinstance(same, np.ndarray) else [0, 3])
        assert all(np.array_equal(other.hints[k], want.hints[k]) for k in want.hints)
        got = split.batch(same)
        assert all(np.array_equal(got.hints[k], want.hints[k]) for k in want.hints)
        assert all(np.array_equal(got.inputs[k], want.inputs[k]) for k in want.inputs)


def test_worker_count_does_not_change_a_byte(tmp_path):
    build_dataset(_parts(), str(tmp_path / "one"), workers=1, progress=False)
    build_dataset(_parts(), str(tmp_path / "two"), workers=2, progress=False)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_corruption_is_caught_reported_and_rebuilt(tmp_path, capsys):
    folder = tmp_path / "clrs30"
    build_dataset(canonical_parts(["insertion_sort"], ["val"]), str(folder), workers=1,
             progress=False)
    path = folder / "insertion_sort" / "val.safetensors"
    good = path.read_bytes()
    path.write_bytes(good[:-100] + b"x" * 100)  # same size, different bytes
    with pytest.raises(CorruptFileError, match="checksum"):
        StoredSplit(str(path), expected_sha256=read_manifest(str(folder))["parts"][
            "insertion_sort/val.safetensors"]["sha256"])
    split = load_split("insertion_sort", "val", root=str(tmp_path))
    assert "corrupted" in capsys.readouterr().err
    assert path.read_bytes() == good and len(split) == 32
    path.write_bytes(good[:1000])  # truncated
    with pytest.raises(CorruptFileError, match="truncated"):
        StoredSplit(str(path))
    assert len(load_split("insertion_sort", "val", root=str(tmp_path))) == 32


def test_interrupted_generation_resumes(tmp_path):
    folder = str(tmp_path)
    build_dataset(_parts()[:1], folder, workers=1, progress=False)
    first = _files(folder)["insertion_sort/a.safetensors"]
    stamp = os.path.getmtime(os.path.join(folder, "insertion_sort/a.safetensors"))
    manifest = build_dataset(_parts(), folder, workers=1, progress=False)
    assert os.path.getmtime(os.path.join(folder, "insertion_sort/a.safetensors")) == stamp
    assert len(manifest["parts"]) == 3
    assert _files(folder)["insertion_sort/a.safetensors"] == first
    on_disk = json.load(open(os.path.join(folder, "manifest.json")))
    assert set(on_disk["parts"]) == {p.file for p in _parts()}


def test_missing_canonical_split_is_generated_on_load(tmp_path):
    split = load_split("insertion_sort", "val", root=str(tmp_path))
    ref = openclrs.sample_split("insertion_sort", "val")
    assert np.array_equal(split[5].hints["pred_h"], ref[5].hints["pred_h"])
    with pytest.raises(FileNotFoundError, match="openclrs generate"):
        load_split("insertion_sort", "val", dataset="custom", root=str(tmp_path))


@pytest.mark.parametrize("alg", openclrs.ALL_ALGS)
def test_every_algorithm_survives_storage(alg, tmp_path):
    from openclrs.data import collate
    from openclrs.data.datasets import build_part

    length = 7 if "matcher" not in alg else 9
    build_part(Part(alg, "x", length, 3, 4), str(tmp_path))
    split = StoredSplit(str(tmp_path / alg / "x.safetensors"))
    expected = openclrs.sample(alg, length=length, seed=3, num_samples=4)
    for trace, ref in zip(split, expected):
        for name, stage, _, _, value in ref.probes():
            got = {"input": trace.inputs, "hint": trace.hints, "output": trace.outputs}[stage]
            assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name
    ours, theirs = split.batch([2, 0, 3]), collate([expected[2], expected[0], expected[3]])
    for store in ("inputs", "hints", "outputs"):
        for name, value in getattr(theirs, store).items():
            assert np.array_equal(getattr(ours, store)[name], value), name
    assert np.array_equal(ours.lengths, theirs.lengths)


def test_a_foreign_or_damaged_header_is_named(tmp_path):
    """Headers that safetensors' format allows but openclrs does not read,
    or that describe bytes wrongly, are refused by name (they gave a
    KeyError, a TypeError, or were read silently)."""
    import json as json_
    import struct

    from openclrs.data.storage import read_safetensors
    from openclrs.files import CorruptFileError

    def write(header, data=b"\0" * 16):
        raw = json_.dumps(header).encode()
        path = tmp_path / "x.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
        return str(path)

    good = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    assert read_safetensors(write(good))[0]["a"].shape == (2,)
    for bad in ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}},
                {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                {"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}},
                {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                ["not", "a", "header"]):
        with pytest.raises(CorruptFileError):
            read_safetensors(write(bad))
