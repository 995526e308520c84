"""Dump traces from the published ``dm-clrs`` sampler as parity fixtures.

Run with the Python of an environment where ``dm-clrs==2.0.3`` is installed
(it needs JAX and TensorFlow, so it is kept out of openclrs' own environment):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install dm-clrs==2.0.3
    /tmp/ref/bin/python tests/parity/dump_reference.py --out tests/data/reference

Each ``ALGO__CONFIG.npz`` holds, for every sample ``i``, the arrays
``i/input/NAME``, ``i/hint/NAME`` (cut to that sample's length) and
``i/output/NAME``, and a ``meta`` JSON string with the sampler arguments, so
that ``openclrs.sample(**meta)`` must give the same traces.
"""

import argparse
import inspect
import json
import os
import sys
import tempfile

import numpy as np

GENERALIST_P = tuple(0.1 + 0.1 * i for i in range(9))

# name -> (length, seed, num_samples, sampler kwargs, truncate_decimals)
CONFIGS = {
    "default16": (16, 7, 4, {}, None),
    "generalist": (9, 11, 6, {"p": "generalist", "length_needle": -8}, None),
    "trunc3": (12, 5, 3, {}, 3),
    "small": (5, 3, 8, {}, None),
}


def sampler_kwargs(clrs, algorithm, wanted, length):
    params = inspect.signature(clrs._src.samplers.SAMPLERS[algorithm]._sample_data).parameters
    kwargs = {}
    for key, value in wanted.items():
        if key not in params:
            continue
        if value == "generalist":
            value = GENERALIST_P
            if algorithm in ("articulation_points", "bridges", "mst_kruskal",
                             "bipartite_matching"):
                value = tuple(np.array(value) / 2)
        kwargs[key] = value
    return kwargs


def dump(clrs, algorithm, config, out):
    length, seed, num_samples, wanted, trunc = CONFIGS[config]
    if config == "generalist" and algorithm in ("naive_string_matcher", "kmp_matcher"):
        length = 20  # the generalist recipe: (max train length 16 * 5) // 4
    kwargs = sampler_kwargs(clrs, algorithm, wanted, length)
    sampler, _ = clrs.build_sampler(algorithm, num_samples=num_samples, seed=seed,
                                    length=length, truncate_decimals=trunc, **kwargs)
    feedback = sampler.next()
    arrays = {}
    lengths = feedback.features.lengths.astype(int)
    for i in range(num_samples):
        for dp in feedback.features.inputs:
            arrays[f"{i}/input/{dp.name}"] = dp.data[i]
        for dp in feedback.features.hints:
            arrays[f"{i}/hint/{dp.name}"] = dp.data[:lengths[i], i]
        for dp in feedback.outputs:
            arrays[f"{i}/output/{dp.name}"] = dp.data[i]
    meta = {"algorithm": algorithm, "length": length, "seed": seed,
            "num_samples": num_samples, "truncate_decimals": trunc,
            "sampler_kwargs": {k: list(v) if isinstance(v, tuple) else v
                               for k, v in kwargs.items()}}
    arrays["meta"] = np.array(json.dumps(meta))
    path = os.path.join(out, f"{algorithm}__{config}.npz")
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--algorithms", nargs="*")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--custom", metavar="LENGTH,SEED,NUM_SAMPLES",
                        help="dump one extra config 'custom' with default sampler "
                             "options instead of the built-in configs")
    args = parser.parse_args()
    if args.custom:
        length, seed, num_samples = map(int, args.custom.split(","))
        CONFIGS["custom"] = (length, seed, num_samples, {}, None)
        args.configs = ["custom"]
    import clrs  # noqa: the published package

    os.makedirs(args.out, exist_ok=True)
    for algorithm in args.algorithms or list(clrs.SPECS):
        for config in args.configs:
            dump(clrs, algorithm, config, args.out)
            print(algorithm, config, file=sys.stderr)


if __name__ == "__main__":
    main()
