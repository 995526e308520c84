"""Fixtures of the CLRS-Text tests: published examples and their traces."""

import functools
import json
import pathlib

import openclrs

FIXTURE_DIR = pathlib.Path(__file__).resolve().parents[1] / "data" / "clrs_text"


@functools.lru_cache(maxsize=None)
def fixture_examples(algorithm: str) -> tuple:
    with open(FIXTURE_DIR / f"{algorithm}.json") as f:
        return tuple(json.load(f))


@functools.lru_cache(maxsize=None)
def traces(algorithm: str, length: int, seed: int, truncate_decimals, count: int,
           kwargs_json: str = "{}"):
    return tuple(openclrs.sample(algorithm, length=length, seed=seed, num_samples=count,
                                 truncate_decimals=truncate_decimals,
                                 **json.loads(kwargs_json)))


def _stream_key(example: dict) -> tuple:
    return (example["algorithm"], example["length"], example["seed"],
            example["truncate_decimals"], json.dumps(example["sampler_kwargs"], sort_keys=True))


def trace_for(example: dict):
    """The openclrs trace an example of the fixtures describes (each stream
    sampled once, as far as its fixtures go)."""
    key = _stream_key(example)
    count = 1 + max(e["index"] for e in fixture_examples(example["algorithm"])
                    if _stream_key(e) == key)
    algorithm, length, seed, truncate_decimals, kwargs_json = key
    return traces(algorithm, length, seed, truncate_decimals, count, kwargs_json)[example["index"]]
