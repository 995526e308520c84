"""The published model (dm-clrs 2.0.3) as the benchmarks that compare with it
run it: a script executed by the python of a venv that has the package.

:data:`PRELUDE` defines, in that venv, ``published_batches`` (run.py's
sampler options and preprocessing) and ``published_model`` (run.py's
Triplet-GMPNN); :func:`run` executes ``PRELUDE + script`` there.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

PRELUDE = r"""
import logging, tempfile
logging.disable(logging.WARNING)
import numpy as np, jax, clrs
from clrs.examples.run import PRED_AS_INPUT_ALGOS

def published_batches(algorithm, length, batch_size, count, seed, num_samples, rng):
    p = tuple(0.1 + 0.1 * i for i in range(9))  # run.py's sampler options
    if algorithm in ("articulation_points", "bridges", "mst_kruskal", "bipartite_matching"):
        p = tuple(np.array(p) / 2)
    sampler, spec = clrs.build_sampler(algorithm, seed=seed, num_samples=num_samples,
                                       length=length, p=p, length_needle=-8)
    def stream():
        while True:
            yield sampler.next(batch_size)
    it = clrs.process_random_pos(stream(), rng)
    if algorithm in PRED_AS_INPUT_ALGOS:
        spec, it = clrs.process_pred_as_input(spec, it)
    spec, it = clrs.process_permutations(spec, it, True)
    return spec, [next(it) for _ in range(count)]

def published_model(spec, data, init_seed):
    factory = clrs.get_processor_factory("triplet_gmpnn", use_ln=True, nb_triplet_fts=8)
    model = clrs.models.BaselineModel(
        spec=[spec], dummy_trajectory=data[:1], processor_factory=factory, hidden_dim=128,
        encode_hints=True, decode_hints=True, encoder_init="xavier_on_scalars", use_lstm=False,
        learning_rate=1e-3, grad_clip_max_norm=1.0, checkpoint_path=tempfile.mkdtemp(),
        freeze_processor=False, dropout_prob=0.0, hint_teacher_forcing=0.0,
        hint_repred_mode="soft", nb_msg_passing_steps=1)
    model.init([data[0].features], init_seed)
    return model
"""


def _env(device: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    return env


def run(python: str, script: str, args: list[str], what: str, device: str = "cpu") -> str:
    """Run ``PRELUDE + script`` with ``python`` and ``args``; its stdout."""
    result = subprocess.run([python, "-c", PRELUDE + script, *args],
                            capture_output=True, text=True, env=_env(device))
    if result.returncode:
        raise RuntimeError(f"published {what} failed:\n{result.stderr[-2000:]}")
    return result.stdout


class Session:
    """``PRELUDE + script`` running in the background as a server: each
    :meth:`ask` writes one line to its stdin and returns the next line it
    prints. Lets a benchmark alternate between its own work and the
    published model's, so that both meet the same machine conditions."""

    def __init__(self, python: str, script: str, args: list[str], what: str,
                 device: str = "cpu"):
        self.what = what
        self.errors = tempfile.TemporaryFile("w+")  # a pipe nobody reads could fill up
        self.process = subprocess.Popen([python, "-c", PRELUDE + script, *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.errors, text=True, env=_env(device))

    def ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            self.process.wait()
            self.errors.seek(0)
            raise RuntimeError(f"published {self.what} failed:\n{self.errors.read()[-2000:]}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()
        self.errors.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            self.process.kill()
        self.close()
