"""openclrs.compat against the published dm-clrs 2.0.3 data API.

Fixtures (tests/data/compat, made by tests/parity/dump_compat.py with
dm-clrs installed) hold every batch of published training-data loops:
fixed pools drawn with replacement, on-the-fly sampling with and without
the 1,000-sample warm-up, the published training script's pipeline
(random pos, pred as input, permutations) and create_dataset iteration.
Each is replayed through openclrs.compat and compared exactly: probe order,
locations, types, dtypes, shapes and values.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import openclrs
from openclrs import compat
from openclrs.compat import algorithms as compat_algorithms
from openclrs.compat import probing
from tests.parity.dump_compat import (CANONICAL_SHARDED, CHUNK_CASES, DATASET_CASES,
                                      EVALUATE_CASES, MULTI_CASES, PIPELINE_CASES,
                                      POOL_CASES, SHARDED_CASES)

HERE = os.path.join(os.path.dirname(__file__), "data", "compat")


@pytest.fixture(scope="module")
def published():
    with np.load(os.path.join(HERE, "batches.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(str(arrays.pop("meta")))


def assert_same_feedback(published, prefix, feedback):
    arrays, meta = published
    entry = meta[prefix]
    marks = ("is_first", "is_last") if f"{prefix}/is_first" in arrays else ("lengths",)
    for mark in marks:
        got, want = np.asarray(getattr(feedback.features, mark)), arrays[f"{prefix}/{mark}"]
        assert got.dtype == want.dtype and np.array_equal(got, want), (prefix, mark)
    for group, points in (("inputs", feedback.features.inputs),
                          ("hints", feedback.features.hints),
                          ("outputs", feedback.outputs)):
        assert [[p.name, p.location, p.type_] for p in points] == entry[group], (prefix, group)
        assert type(points).__name__ == entry[group + "_container"], (prefix, group)
        for p in points:
            want = arrays[f"{prefix}/{group}/{p.name}"]
            got = np.asarray(p.data)
            where = f"{prefix} {group} {p.name}"
            assert got.dtype == want.dtype, (where, got.dtype, want.dtype)
            assert got.shape == want.shape, (where, got.shape, want.shape)
            assert np.array_equal(got, want), where


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_build_sampler_batches_match_published(published, case):
    """Pools drawn with replacement (and the whole pool with next()), the
    num_samples=-1 warm-up, positional options and truncation."""
    algorithm, num_samples, args, kwargs, batches = POOL_CASES[case]
    sampler, spec = compat.build_sampler(algorithm, num_samples, *args, **kwargs)
    assert dict(spec) == dict(openclrs.SPECS[algorithm])
    for k, size in enumerate(batches):
        assert_same_feedback(published, f"{case}/b{k}", sampler.next(size))


@pytest.mark.parametrize("case", list(PIPELINE_CASES))
def test_published_training_pipeline(published, case):
    """The published training script's sampler pipeline, step for step."""
    algorithm, length, pool, batch, pred_as_input, batches = PIPELINE_CASES[case]
    rng = np.random.RandomState(7)
    sampler, spec = compat.build_sampler(algorithm, seed=int(rng.randint(2**32)),
                                         num_samples=pool, length=length)
    stream = compat.process_random_pos(iter(lambda: sampler.next(batch), None), rng)
    if pred_as_input:
        spec, stream = compat.process_pred_as_input(spec, stream)
    spec, stream = compat.process_permutations(spec, stream, True)
    assert {k: list(v) for k, v in spec.items()} == published[1][case]["spec"]
    for k in range(batches):
        assert_same_feedback(published, f"{case}/b{k}", next(stream))


@pytest.mark.parametrize("case", list(MULTI_CASES))
def test_multi_length_training_loop(published, case):
    """The generalist recipe's loop: one rng seeds a sampler per length and
    randomizes positions, the samplers take turns (on the fly or pooled)."""
    algorithm, lengths, num_samples, batch, batches = MULTI_CASES[case]
    rng = np.random.RandomState(3)
    streams = []
    for length in lengths:
        sampler, spec = compat.build_sampler(algorithm, seed=rng.randint(2**32),
                                             num_samples=num_samples, length=length)
        stream = compat.process_random_pos(iter(lambda s=sampler: s.next(batch), None), rng)
        spec, stream = compat.process_permutations(spec, stream, True)
        streams.append(stream)
    for k in range(batches):
        assert_same_feedback(published, f"{case}/b{k}", next(streams[k % len(streams)]))


@pytest.mark.parametrize("case", list(DATASET_CASES))
def test_create_dataset_iteration(published, case, tmp_path):
    """Stored canonical splits read as the published TFDS dataset: hash
    order, batches running across epochs, split-wide hint padding."""
    algorithm, split, batch, batches = DATASET_CASES[case]
    dataset, num_samples, spec = compat.create_dataset(str(tmp_path), algorithm, split, batch)
    assert num_samples == published[1][case]["num_samples"]
    assert spec is openclrs.SPECS[algorithm]
    iterator = dataset.as_numpy_iterator()
    for k in range(batches):
        assert_same_feedback(published, f"{case}/b{k}", next(iterator))


@pytest.mark.parametrize("case", list(SHARDED_CASES))
def test_sharded_split_reading_order(published, case, tmp_path):
    """A split written in several TFDS shards is read in interleaved blocks
    (shown with small shard sizes forced on the published build)."""
    from openclrs.compat.tfds import example_bytes, tfds_num_shards

    algorithm, split, low, high = SHARDED_CASES[case]
    arrays, meta = published
    dataset, num_samples, _ = compat.create_dataset(str(tmp_path), algorithm, split, 1)
    sizes = example_bytes(dataset.batch(np.arange(num_samples)))
    n = len(sizes)
    assert tfds_num_shards(int(sizes.sum()), n, low, high) == len(meta[case]["shard_lengths"])
    order = compat.tfds_order(split, n, sizes, min_shard_bytes=low, max_shard_bytes=high)
    want = arrays[f"{case}/order"]
    assert np.array_equal(np.tile(order, len(want) // n + 1)[:len(want)], want)
    # with TFDS' real shard sizes these small splits are one shard: hash order
    assert np.array_equal(compat.tfds_order(split, n, sizes), compat.tfds_order(split, n))
    # create_dataset measures large splits chunk by chunk, to the same bytes
    from openclrs.compat.dataset import _split_example_bytes
    assert _split_example_bytes(dataset.split, dataset.steps) is None
    chunked = _split_example_bytes(dataset.split, dataset.steps, chunk=7, min_shard_bytes=1)
    assert np.array_equal(chunked, sizes)


def test_canonical_split_in_two_shards(published, tmp_path):
    """naive_string_matcher's test split (2,048 samples, 158 MiB) is written
    by TFDS in two shards: create_dataset measures it and reads the two
    interleaved, as the published dataset does."""
    arrays, meta = published
    dataset, num_samples, _ = compat.create_dataset(str(tmp_path), *CANONICAL_SHARDED, 64)
    assert len(meta["sharded_canonical"]["shard_lengths"]) == 2
    want = arrays["sharded_canonical/order"]
    assert np.array_equal(dataset.order[:len(want)], want)
    assert not np.array_equal(dataset.order, compat.tfds_order(CANONICAL_SHARDED[1], num_samples))


@pytest.mark.parametrize("case", list(CHUNK_CASES))
def test_chunkify_matches_published(published, case, tmp_path):
    """Fixed-length chunks across sample boundaries, from a stored split and
    from a sampler pool."""
    source, batch, chunk_length, chunks = CHUNK_CASES[case]
    if len(source) == 2:
        stream, _ = compat.create_chunked_dataset(str(tmp_path), *source, batch, chunk_length)
    else:
        sampler, _ = compat.build_sampler(*source, seed=0)
        stream = compat.chunkify(iter(lambda: sampler.next(batch), None), chunk_length)
    for k in range(chunks):
        assert_same_feedback(published, f"{case}/b{k}", next(stream))


def test_dtype_table_covers_every_algorithm():
    """Batched dtypes and shapes of every algorithm, and the dtypes of the
    published (result, probes) convention, as dm-clrs hands them out."""
    with open(os.path.join(HERE, "dtypes.json")) as f:
        table = json.load(f)
    assert set(table) == set(openclrs.SPECS)
    for algorithm, entry in table.items():
        length = 8 if algorithm in ("naive_string_matcher", "kmp_matcher") else 5
        feedback = compat.build_sampler(algorithm, 2, length, seed=0)[0].next()
        ours = {p.name: [group, str(p.data.dtype), list(p.data.shape)]
                for group, points in (("inputs", feedback.features.inputs),
                                      ("hints", feedback.features.hints),
                                      ("outputs", feedback.outputs)) for p in points}
        assert ours == entry["batched"], algorithm
        trace = openclrs.sample(algorithm, length, seed=0)[0]
        raw = {name: [stage, str(np.asarray(e["data"]).dtype)]
               for stage, locations in compat_algorithms.probes_dict(trace).items()
               for names in locations.values() for name, e in names.items()}
        assert raw == entry["raw"], algorithm


def test_probe_helpers_match_published(published):
    arrays = published[0]
    order = np.random.RandomState(0).permutation(7)
    assert np.array_equal(probing.array(order), arrays["helpers/array"])
    assert np.array_equal(probing.heap(order, 5), arrays["helpers/heap"])
    assert np.array_equal(probing.mask_one(3, 7), arrays["helpers/mask_one"])
    assert np.array_equal(probing.array_cat(np.array([0, 2, 1, 2]), 3),
                          arrays["helpers/array_cat"])
    assert np.array_equal(probing.graph(arrays["helpers/graph_in"]), arrays["helpers/graph"])
    perm, first = compat.predecessor_to_cyclic_predecessor_and_first(arrays["helpers/pointers"])
    for got, want in ((perm, arrays["helpers/cyclic"]), (first, arrays["helpers/first"])):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    pointers = arrays["helpers/pointers"][:2]
    matrix = probing.predecessor_pointers_to_permutation_matrix(pointers)
    assert matrix.dtype == np.float32
    assert np.array_equal(matrix, arrays["helpers/permutation_matrix"])
    back = probing.permutation_matrix_to_predecessor_pointers(matrix)
    assert back.dtype == np.float32
    assert np.array_equal(back, arrays["helpers/matrix_pointers"])
    assert np.array_equal(back, pointers)


def test_fuse_perm_and_mask_one_hot_mask(published):
    arrays = published[0]
    fused = compat.fuse_perm_and_mask(
        compat.DataPoint("p", "node", "permutation_pointer", arrays["helpers/fuse_perm"]),
        compat.DataPoint("p_mask", "node", "mask_one", arrays["helpers/fuse_onehot_mask"]))
    assert fused.type_ == "pointer"
    assert np.array_equal(fused.data, arrays["helpers/fuse_onehot"])
    with pytest.raises(ValueError, match="p_mask"):
        compat.fuse_perm_and_mask(
            compat.DataPoint("p", "node", "permutation_pointer", arrays["helpers/fuse_perm"]),
            compat.DataPoint("q_mask", "node", "mask_one", arrays["helpers/fuse_onehot_mask"]))


def test_fuse_perm_and_mask_soft_mask(published):
    """A mask of probabilities: every node with mask > 0.5 points to itself,
    as in the published evaluation (the engine's fuse_permutation rule)."""
    arrays = published[0]
    fused = compat.fuse_perm_and_mask(
        compat.DataPoint("p", "node", "permutation_pointer", arrays["helpers/fuse_perm"]),
        compat.DataPoint("p_mask", "node", "mask_one", arrays["helpers/fuse_soft_mask"]))
    assert np.array_equal(fused.data, arrays["helpers/fuse_soft"])


@pytest.mark.parametrize("case", list(EVALUATE_CASES))
def test_evaluate_matches_published(published, case):
    """evaluate / evaluate_hints on DataPoints give the published scores
    (permutations fused, F1 for masks, step t scored against hint t + 1)."""
    arrays, meta = published
    algorithm, length, batch = EVALUATE_CASES[case]
    sampler, spec = compat.build_sampler(algorithm, batch, length, seed=2)
    spec, stream = compat.process_permutations(spec, iter([sampler.next()]), True)
    feedback = next(stream)
    assert_same_feedback(published, f"{case}/truth", feedback)
    predictions = {p.name: compat.DataPoint(p.name, p.location, p.type_,
                                            arrays[f"{case}/pred/{p.name}"])
                   for p in feedback.outputs}
    got = compat.evaluate(feedback.outputs, predictions)
    want = meta[case]["evaluate"]
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-6), name
    steps = len(feedback.features.hints[0].data) - 1
    hint_preds = [{p.name: compat.DataPoint(p.name, p.location, p.type_,
                                            arrays[f"{case}/hint_pred/{p.name}"][t])
                   for p in feedback.features.hints} for t in range(steps)]
    got = compat.evaluate_hints(feedback.features.hints, feedback.features.lengths, hint_preds)
    want = meta[case]["evaluate_hints"]
    assert set(got) == set(want)
    for name, value in want.items():
        assert np.allclose(got[name], value, rtol=1e-6), name


def test_algorithm_wrappers_return_published_probes(published):
    arrays = published[0]
    result, probes = compat_algorithms.bfs(arrays["helpers/bfs_A"], 2)
    prefix = "helpers/bfs_probes/"
    want = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    got = {f"{stage}/{location}/{name}": e["data"] for stage, locations in probes.items()
           for location, names in locations.items() for name, e in names.items()}
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and np.array_equal(got[key], value), key
    assert np.array_equal(result, want["output/node/pi"])
    inputs, outs, hints = probing.split_stages(probes, compat.SPECS["bfs"])
    assert [p.name for p in inputs] == ["pos", "s", "A", "adj"]
    assert hints[0].data.shape[1] == 1 and outs[0].data.shape[0] == 1


def _from_json(entry):
    value = np.array(entry["value"], dtype=entry["dtype"])
    return value.item() if value.ndim == 0 else value


def _same_result(got, want) -> bool:
    if "tuple" in want:
        return isinstance(got, tuple) and len(got) == len(want["tuple"]) and all(
            _same_result(g, w) for g, w in zip(got, want["tuple"]))
    got, value = np.asarray(got), np.array(want["value"], dtype=want["dtype"])
    return got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value)


def test_algorithm_wrappers_return_published_results():
    """compat.algorithms.<name>(*args) returns the published (result, probes)
    pair: the raw result of every algorithm, bit for bit (maximum subarray
    sums added in the published order, also at length 40)."""
    with open(os.path.join(HERE, "results.json")) as f:
        table = json.load(f)
    assert set(table) == set(openclrs.SPECS)
    for algorithm, rows in table.items():
        for row in rows:
            args = [_from_json(a) for a in row["args"]]
            copies = [np.copy(a) for a in args]
            result, probes = getattr(compat_algorithms, algorithm)(*args)
            assert _same_result(result, row["result"]), (algorithm, result, row["result"])
            assert all(np.array_equal(a, c) for a, c in zip(args, copies)), algorithm
            assert set(probes) == {"input", "output", "hint"}


@pytest.mark.parametrize("algorithm", ["bfs", "insertion_sort", "floyd_warshall"])
def test_to_batch_gives_openclrs_batches(algorithm):
    """A compat pool (permutations enforced, as published) turned into an
    openclrs Batch equals openclrs' own collate of the same transformed
    traces: a bridge to openclrs' models."""
    from openclrs import transforms
    from openclrs.data import collate

    sampler, spec = compat.build_sampler(algorithm, 5, 6, seed=2)
    spec, stream = compat.process_permutations(spec, iter([sampler.next()]), True)
    batch = compat.to_batch(next(stream), spec, algorithm)
    traces = [transforms.apply(t, pred_as_input=False)
              for t in openclrs.sample(algorithm, 6, seed=2, num_samples=5)]
    want = collate(traces)
    assert dict(batch.spec) == dict(want.spec)
    assert np.array_equal(batch.lengths, want.lengths) and batch.lengths.dtype == np.int64
    for stage in ("inputs", "hints", "outputs"):
        got, ref = getattr(batch, stage), getattr(want, stage)
        assert list(got) == list(ref), stage
        for name in ref:
            assert got[name].dtype == ref[name].dtype, name
            assert np.array_equal(got[name], ref[name]), name
    with pytest.raises(ValueError, match="spec"):
        compat.to_batch(sampler.next(), {}, algorithm)


def test_positional_order_is_the_published_one():
    """build_sampler('bfs', 3, 10) is 3 samples of 10 nodes (openclrs.sample
    takes length first): the pool is the first 3 samples of the stream."""
    feedback = compat.build_sampler("bfs", 3, 10, seed=4)[0].next()
    traces = openclrs.sample("bfs", 10, seed=4, num_samples=3)
    assert feedback.features.inputs[0].data.shape == (3, 10)
    for b, trace in enumerate(traces):
        assert np.array_equal(feedback.outputs[0].data[b], trace.outputs["pi"])


def test_with_replacement_draws_follow_the_seeded_stream():
    sampler, _ = compat.build_sampler("insertion_sort", 8, 5, seed=9)
    pool = sampler.next()
    stream = openclrs.Sampler("insertion_sort", 5, seed=9)
    stream.take(8)  # the pool consumes the stream first
    for _ in range(3):
        indices = stream.rng.choice(8, (6,), replace=True)
        batch = sampler.next(6)
        assert np.array_equal(batch.features.inputs[1].data, pool.features.inputs[1].data[indices])


def test_bad_calls_give_clear_errors():
    sampler, _ = compat.build_sampler("bfs", 4, 5, seed=0)
    with pytest.raises(ValueError, match="Batch size 5 > dataset size 4"):
        sampler.next(5)
    fly, _ = compat.build_sampler("bfs", -1, 4, seed=0, track_max_steps=False)
    with pytest.raises(ValueError, match="pass a batch size"):
        fly.next()
    with pytest.raises(TypeError, match="needs a length"):
        compat.build_sampler("bfs", 4)
    with pytest.raises(NotImplementedError, match="bfs"):
        compat.build_sampler("bfss", 4, 5)
    with pytest.raises(ValueError, match="num_samples"):
        compat.build_sampler("bfs", 0, 5)
    # any negative size samples on the fly (the published script passes -1000)
    assert compat.build_sampler("bfs", -1000, 4, track_max_steps=False)[0].next(2)
    with pytest.raises(ValueError, match="batch_size"):
        compat.create_dataset(None, "bfs", "val", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler, _ = compat.build_sampler("insertion_sort", 2, 5, seed=0, p=(0.5,))
    assert any("ignoring ['p']" in str(w.message) for w in caught)


def test_constants_match_published(published):
    assert set(compat.__all__) <= set(dir(compat))
    assert compat.specs.SPECS is compat.SPECS and compat.ALGO_IDX_INPUT_NAME == "algo_idx"
    constants = published[1]["constants"]
    assert {k: dict(v) for k, v in compat.CLRS30.items()} == constants["CLRS30"]
    assert compat.CLRS_30_ALGS_SETTINGS == constants["CLRS_30_ALGS_SETTINGS"]


def test_tfds_order_is_md5_of_split_and_key():
    order = compat.tfds_order("val", 32)
    assert sorted(order.tolist()) == list(range(32))
    assert order[:4].tolist() == [22, 15, 10, 28]  # as dm-clrs' TFDS build wrote bfs val


def test_compat_imports_numpy_only():
    code = "import sys, openclrs.compat; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_random_positions_twice_are_refused():
    """Applied twice, pos no longer starts at 0 and part of the new array
    would be left uninitialised: refused (dm-clrs raises too)."""
    rng = np.random.RandomState(0)
    sampler, _ = compat.build_sampler("bfs", seed=1, num_samples=4, length=5)
    once = compat.process_random_pos(iter(lambda: sampler.next(2), None), rng)
    twice = compat.process_random_pos(once, rng)
    with pytest.raises(ValueError, match="applied twice"):
        next(twice)
