"""Dump fixtures of the published ``dm-clrs`` data API for tests/compat.

Run with the Python of an environment where ``dm-clrs==2.0.3`` is installed
(JAX, TensorFlow and TFDS; ``create_dataset`` also needs ``importlib_resources``
and a protobuf 6.x):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install dm-clrs==2.0.3 \\
        importlib_resources "protobuf>=6.31,<7"
    /tmp/ref/bin/python tests/parity/dump_compat.py --out tests/data/compat

Writes ``batches.npz`` (every batch of the training-data loops below, as
``CASE/bK/lengths`` and ``CASE/bK/{inputs,hints,outputs}/NAME``, with a
``meta`` JSON string giving each batch's probe order, locations and types
and each case's recipe), ``dtypes.json`` (the dtype and shape of every
probe of a two-sample pool of every algorithm, batched and raw) and
``results.json`` (arguments and raw results of every algorithm).
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

# name -> (algorithm, num_samples, positional args after num_samples, kwargs, batches)
POOL_CASES = {
    "pool_bfs": ("bfs", 12, (6,), {"seed": 5}, [4, 4, 4, None]),
    "pool_bfs_p": ("bfs", 5, (6, (0.3,)), {"seed": 1}, [5, 2]),
    "pool_insertion_sort": ("insertion_sort", 12, (6,), {"seed": 5}, [4, 4, 4]),
    "pool_floyd_warshall": ("floyd_warshall", 6, (), {"length": 5, "seed": 2}, [3, 3]),
    "pool_task_scheduling": ("task_scheduling", 6, (7,), {"seed": 3}, [3, 3]),
    "pool_segments_intersect": ("segments_intersect", 6, (4,), {"seed": 3}, [6]),
    "pool_dijkstra_trunc": ("dijkstra", 6, (5,), {"seed": 4, "truncate_decimals": 2}, [3]),
    "fly_bfs": ("bfs", -1, (4,), {"seed": 3}, [3, 3]),
    "fly_bfs_untracked": ("bfs", -1, (4,), {"seed": 3, "track_max_steps": False}, [3, 3]),
    "fly_insertion_sort": ("insertion_sort", -1, (5,), {"seed": 8}, [2, 2]),
}

# The published training script's pipeline (examples/run.py make_sampler):
# name -> (algorithm, length, pool size, batch size, pred as input, batches)
PIPELINE_CASES = {
    "pipe_insertion_sort": ("insertion_sort", 8, 20, 5, False, 3),
    "pipe_naive_string_matcher": ("naive_string_matcher", 10, 20, 4, True, 3),
    "pipe_minimum": ("minimum", 7, 20, 4, True, 2),
}

# The published generalist recipe's multi-length sampler (make_multi_sampler):
# one shared rng seeds a sampler per length and randomizes positions; the
# samplers take turns. name -> (algorithm, lengths, num_samples, batch, batches)
MULTI_CASES = {
    "multi_insertion_sort_fly": ("insertion_sort", (4, 7), -1000, 3, 4),
    "multi_bfs_pool": ("bfs", (4, 7, 5), 10, 4, 6),
}

# name -> (algorithm, split, batch size, batches): more batches than one epoch
DATASET_CASES = {
    "data_bfs_val": ("bfs", "val", 5, 8),
    "data_insertion_sort_val": ("insertion_sort", "val", 7, 6),
}

# chunkify: name -> (source, batch size, chunk length, chunks); the source is
# a DATASET_CASES split or a build_sampler pool (algorithm, num_samples, length)
CHUNK_CASES = {
    "chunk_bfs_val": (("bfs", "val"), 3, 6, 6),
    "chunk_insertion_sort_pool": (("insertion_sort", 10, 5), 4, 9, 5),
}


def record(arrays, meta, prefix, feedback):
    entry = {}
    if hasattr(feedback.features, "is_first"):   # a chunk
        arrays[f"{prefix}/is_first"] = np.asarray(feedback.features.is_first)
        arrays[f"{prefix}/is_last"] = np.asarray(feedback.features.is_last)
    else:
        arrays[f"{prefix}/lengths"] = np.asarray(feedback.features.lengths)
    for group, points in (("inputs", feedback.features.inputs),
                          ("hints", feedback.features.hints),
                          ("outputs", feedback.outputs)):
        entry[group] = [[p.name, p.location, p.type_] for p in points]
        entry[group + "_container"] = type(points).__name__
        for p in points:
            arrays[f"{prefix}/{group}/{p.name}"] = np.asarray(p.data)
    meta[prefix] = entry


def dump_pools(clrs, arrays, meta):
    for case, (algorithm, num_samples, args, kwargs, batches) in POOL_CASES.items():
        sampler, _ = clrs.build_sampler(algorithm, num_samples, *args, **kwargs)
        for k, size in enumerate(batches):
            record(arrays, meta, f"{case}/b{k}", sampler.next(size))
        meta[case] = {"algorithm": algorithm, "num_samples": num_samples, "args": list(args),
                      "kwargs": kwargs, "batches": batches}
        print(case, file=sys.stderr)


def dump_pipelines(clrs, arrays, meta):
    for case, (algorithm, length, pool, batch, pred_as_input, batches) in PIPELINE_CASES.items():
        rng = np.random.RandomState(7)
        seed = int(rng.randint(2**32))
        sampler, spec = clrs.build_sampler(algorithm, seed=seed, num_samples=pool, length=length)

        def stream(sampler=sampler, batch=batch):
            while True:
                yield sampler.next(batch)
        stream = clrs.process_random_pos(stream(), rng)
        if pred_as_input:
            spec, stream = clrs.process_pred_as_input(spec, stream)
        spec, stream = clrs.process_permutations(spec, stream, True)
        for k in range(batches):
            record(arrays, meta, f"{case}/b{k}", next(stream))
        meta[case] = {"algorithm": algorithm, "length": length, "pool": pool, "batch": batch,
                      "pred_as_input": pred_as_input, "batches": batches,
                      "spec": {k: list(v) for k, v in spec.items()}}
        print(case, file=sys.stderr)


def dump_multi(clrs, arrays, meta):
    for case, (algorithm, lengths, num_samples, batch, batches) in MULTI_CASES.items():
        rng = np.random.RandomState(3)
        streams = []
        for length in lengths:
            sampler, spec = clrs.build_sampler(algorithm, seed=rng.randint(2**32),
                                               num_samples=num_samples, length=length)
            stream = iter(lambda sampler=sampler: sampler.next(batch), None)
            stream = clrs.process_random_pos(stream, rng)
            spec, stream = clrs.process_permutations(spec, stream, True)
            streams.append(stream)
        for k in range(batches):
            record(arrays, meta, f"{case}/b{k}", next(streams[k % len(streams)]))
        print(case, file=sys.stderr)


def dump_datasets(clrs, arrays, meta):
    import tensorflow_datasets as tfds

    with tempfile.TemporaryDirectory() as folder:
        for case, (algorithm, split, batch, batches) in DATASET_CASES.items():
            tfds.builder(f"clrs_dataset/{algorithm}_{split}", data_dir=folder) \
                .download_and_prepare()
            dataset, num_samples, _ = clrs.create_dataset(folder, algorithm, split, batch)
            iterator = dataset.as_numpy_iterator()
            for k in range(batches):
                record(arrays, meta, f"{case}/b{k}", next(iterator))
            meta[case] = {"algorithm": algorithm, "split": split, "batch": batch,
                          "batches": batches, "num_samples": num_samples}
            print(case, file=sys.stderr)
        for case, (source, batch, chunk_length, chunks) in CHUNK_CASES.items():
            if len(source) == 2:
                tfds.builder(f"clrs_dataset/{source[0]}_{source[1]}", data_dir=folder) \
                    .download_and_prepare()
                dataset, _, _ = clrs.create_dataset(folder, *source, batch)
                stream = dataset.as_numpy_iterator()
            else:
                sampler, _ = clrs.build_sampler(source[0], source[1], source[2], seed=0)
                stream = iter(lambda sampler=sampler, batch=batch: sampler.next(batch), None)
            chunked = clrs.chunkify(stream, chunk_length)
            for k in range(chunks):
                record(arrays, meta, f"{case}/b{k}", next(chunked))
            print(case, file=sys.stderr)


# TFDS writes a split of more than 128 MiB in several shards and reads them
# back interleaved. Forcing small shard sizes shows that reading order on a
# small split: name -> (algorithm, split, min shard bytes, max shard bytes)
SHARDED_CASES = {
    "sharded_bfs_train": ("bfs", "train", 600_000, 1_500_000),
    "sharded_bfs_val": ("bfs", "val", 8_000, 30_000),
}
# A canonical split big enough for two shards with TFDS' own sizes (158 MiB);
# only the first CANONICAL_SHARDED_READS read indices are kept.
CANONICAL_SHARDED = ("naive_string_matcher", "test")
CANONICAL_SHARDED_READS = 640


def dump_sharded(clrs, arrays, meta):
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.utils import shard_utils

    cases = dict(SHARDED_CASES)
    cases["sharded_canonical"] = CANONICAL_SHARDED + (shard_utils.ShardConfig.min_shard_size,
                                                      shard_utils.ShardConfig.max_shard_size)
    for case, (algorithm, split, low, high) in cases.items():
        saved = shard_utils.ShardConfig.min_shard_size, shard_utils.ShardConfig.max_shard_size
        shard_utils.ShardConfig.min_shard_size, shard_utils.ShardConfig.max_shard_size = low, high
        try:
            with tempfile.TemporaryDirectory() as folder:
                builder = tfds.builder(f"clrs_dataset/{algorithm}_{split}", data_dir=folder)
                builder.download_and_prepare()
                shards = [int(n) for n in builder.info.splits[split].shard_lengths]
                dataset, num_samples, _ = clrs.create_dataset(folder, algorithm, split, 50)
                # which sampler sample each read example is, by its input bytes
                config = clrs.CLRS30[split]
                sampler, _ = clrs.build_sampler(algorithm, num_samples, config["length"],
                                                seed=config["seed"])
                full = sampler.next()
                def fingerprint(points, i):   # float32: TFDS stores floats so
                    return b"".join(np.asarray(p.data[i], np.float32).tobytes() for p in
                                    sorted(points, key=lambda p: p.name))
                index = {fingerprint(full.features.inputs, i): i for i in range(num_samples)}
                order = []
                for feedback in dataset.as_numpy_iterator():
                    inputs = [p for p in feedback.features.inputs]
                    for i in range(len(feedback.features.lengths)):
                        order.append(index[fingerprint(inputs, i)])
                    if len(order) >= min(num_samples + 50, CANONICAL_SHARDED_READS):
                        break
        finally:
            shard_utils.ShardConfig.min_shard_size, shard_utils.ShardConfig.max_shard_size = saved
        arrays[f"{case}/order"] = np.array(order)
        meta[case] = {"algorithm": algorithm, "split": split, "min_shard_size": low,
                      "max_shard_size": high, "shard_lengths": shards}
        print(case, shards, file=sys.stderr)


def random_prediction(rng, point, shape):
    """A hard prediction of a probe's type (what a model's decoder hands out)."""
    n = shape[-1]
    if point.type_ == "scalar":
        return rng.uniform(size=shape)
    if point.type_ == "mask":
        return (rng.uniform(size=shape) < 0.5).astype(np.float32)
    if point.type_ in ("mask_one", "categorical", "permutation_pointer"):
        return np.eye(n)[rng.randint(n, size=shape[:-1])]
    return rng.randint(shape[-1] if point.location == "node" else n, size=shape)


# name -> (algorithm, length, batch): evaluate/evaluate_hints on random predictions
EVALUATE_CASES = {
    "eval_insertion_sort": ("insertion_sort", 6, 5),
    "eval_bfs": ("bfs", 7, 6),
    "eval_dijkstra": ("dijkstra", 6, 4),
}


def dump_evaluate(clrs, arrays, meta):
    for case, (algorithm, length, batch) in EVALUATE_CASES.items():
        rng = np.random.RandomState(11)
        sampler, spec = clrs.build_sampler(algorithm, batch, length, seed=2)
        spec, stream = clrs.process_permutations(spec, iter([sampler.next()]), True)
        feedback = next(stream)
        predictions = {}
        for p in feedback.outputs:
            data = random_prediction(rng, p, np.asarray(p.data).shape)
            predictions[p.name] = clrs.DataPoint(p.name, p.location, p.type_, data)
            arrays[f"{case}/pred/{p.name}"] = data
        hint_preds = [{} for _ in range(len(feedback.features.hints[0].data) - 1)]
        for p in feedback.features.hints:
            for t, step in enumerate(hint_preds):
                data = random_prediction(rng, p, np.asarray(p.data[t]).shape)
                step[p.name] = clrs.DataPoint(p.name, p.location, p.type_, data)
            arrays[f"{case}/hint_pred/{p.name}"] = np.stack([s[p.name].data for s in hint_preds])
        record(arrays, meta, f"{case}/truth", feedback)
        result = clrs.evaluate(feedback.outputs, predictions)
        hint_result = clrs.evaluate_hints(feedback.features.hints, feedback.features.lengths,
                                          hint_preds)
        meta[case] = {"evaluate": {k: float(v) for k, v in result.items()},
                      "evaluate_hints": {k: (np.asarray(v).tolist()) for k, v in
                                         hint_result.items()}}
        print(case, file=sys.stderr)


def dump_helpers(clrs, arrays, meta):
    from clrs._src import algorithms, evaluation, probing

    rng = np.random.RandomState(0)
    order = rng.permutation(7)
    arrays["helpers/array"] = probing.array(order)
    arrays["helpers/heap"] = probing.heap(order, 5)
    arrays["helpers/mask_one"] = probing.mask_one(3, 7)
    arrays["helpers/array_cat"] = probing.array_cat(np.array([0, 2, 1, 2]), 3)
    graph = rng.binomial(1, 0.4, size=(6, 6)) * rng.uniform(size=(6, 6))
    arrays["helpers/graph_in"] = graph
    arrays["helpers/graph"] = probing.graph(graph)
    # a batch of predecessor pointers: two orders and an all-zero (padding) row
    pointers = np.stack([probing.array(rng.permutation(6)), probing.array(rng.permutation(6)),
                         np.zeros(6, int)])
    perm, first = probing.predecessor_to_cyclic_predecessor_and_first(pointers)
    arrays["helpers/pointers"] = pointers
    arrays["helpers/cyclic"], arrays["helpers/first"] = np.asarray(perm), np.asarray(first)
    matrix = probing.predecessor_pointers_to_permutation_matrix(pointers[:2])
    arrays["helpers/permutation_matrix"] = np.asarray(matrix)
    arrays["helpers/matrix_pointers"] = np.asarray(
        probing.permutation_matrix_to_predecessor_pointers(matrix))
    soft = rng.uniform(size=(4, 6, 6))
    mask = rng.uniform(size=(4, 6))
    mask[0] = np.eye(6)[2]
    for name, m in (("onehot", np.eye(6)[[1, 4, 0, 5]]), ("soft", mask)):
        fused = evaluation.fuse_perm_and_mask(
            probing.DataPoint("p", "node", "permutation_pointer", soft),
            probing.DataPoint("p_mask", "node", "mask_one", m))
        arrays[f"helpers/fuse_{name}_mask"] = m
        arrays[f"helpers/fuse_{name}"] = np.asarray(fused.data)
    arrays["helpers/fuse_perm"] = soft
    A = (rng.uniform(size=(6, 6)) < 0.5).astype(float)
    arrays["helpers/bfs_A"] = A
    _, probes = algorithms.bfs(A, 2)
    for stage, locations in probes.items():
        for location, names in locations.items():
            for name, entry in names.items():
                arrays[f"helpers/bfs_probes/{stage}/{location}/{name}"] = entry["data"]
    print("helpers", file=sys.stderr)


def as_json(value):
    if isinstance(value, tuple):
        return {"tuple": [as_json(v) for v in value]}
    value = np.asarray(value)
    return {"dtype": str(value.dtype), "value": value.tolist()}


def dump_results(clrs):
    """Each algorithm's raw (result, probes) convention: arguments (saved
    before the call: some published algorithms modify them) and result, for
    a few samples; the maximum subarray also at length 40, where the order
    of its additions shows."""
    from clrs._src import algorithms, samplers

    table = {}
    for algorithm in clrs.SPECS:
        lengths = [8 if algorithm in ("naive_string_matcher", "kmp_matcher") else 6] * 5
        if algorithm.startswith("find_maximum_subarray"):
            lengths += [40] * 8
        rows = []
        for k, length in enumerate(lengths):
            sampler = samplers.SAMPLERS[algorithm](getattr(algorithms, algorithm),
                                                   clrs.SPECS[algorithm], 1, length, seed=k)
            data = sampler._trunc_array(sampler._sample_data(length))
            args = [as_json(d) for d in data]
            result, _ = getattr(algorithms, algorithm)(*data)
            rows.append({"args": args, "result": as_json(result)})
        table[algorithm] = rows
    return table


def dump_dtypes(clrs):
    from clrs._src import algorithms, samplers, probing

    table = {}
    for algorithm in clrs.SPECS:
        length = 8 if algorithm in ("naive_string_matcher", "kmp_matcher") else 5
        sampler, spec = clrs.build_sampler(algorithm, 2, length, seed=0)
        feedback = sampler.next()
        entry = {"batched": {}, "raw": {}}
        for group, points in (("inputs", feedback.features.inputs),
                              ("hints", feedback.features.hints),
                              ("outputs", feedback.outputs)):
            for p in points:
                entry["batched"][p.name] = [group, str(p.data.dtype), list(p.data.shape)]
        data = samplers.SAMPLERS[algorithm](getattr(algorithms, algorithm), spec, 1, length,
                                            seed=0)._sample_data(length)
        _, probes = getattr(algorithms, algorithm)(*data)
        for stage, locations in probes.items():
            for location, names in locations.items():
                for name, value in names.items():
                    entry["raw"][name] = [stage, str(np.asarray(value["data"]).dtype)]
        table[algorithm] = entry
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import clrs  # noqa: the published package

    os.makedirs(args.out, exist_ok=True)
    arrays, meta = {}, {}
    dump_pools(clrs, arrays, meta)
    dump_pipelines(clrs, arrays, meta)
    dump_multi(clrs, arrays, meta)
    dump_datasets(clrs, arrays, meta)
    dump_sharded(clrs, arrays, meta)
    dump_evaluate(clrs, arrays, meta)
    dump_helpers(clrs, arrays, meta)
    meta["constants"] = {"CLRS30": {k: dict(v) for k, v in clrs.CLRS30.items()},
                         "CLRS_30_ALGS_SETTINGS": dict(clrs.CLRS_30_ALGS_SETTINGS)}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(args.out, "batches.npz"), **arrays)
    with open(os.path.join(args.out, "dtypes.json"), "w") as f:
        json.dump(dump_dtypes(clrs), f, indent=0, sort_keys=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(dump_results(clrs), f, sort_keys=True)


if __name__ == "__main__":
    main()
