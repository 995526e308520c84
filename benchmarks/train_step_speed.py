"""Training-step time of the Triplet-GMPNN, openclrs against the published JAX model.

    python benchmarks/train_step_speed.py                          # openclrs only
    python benchmarks/train_step_speed.py --reference-python /work/ref/venv/bin/python
    python benchmarks/train_step_speed.py --device cuda --bf16 --compile

One step = forward, backward, gradient clipping and the Adam update on one
batch (batch 32, n = 16, hidden 128, 8 triplet features, LayerNorm, hints
encoded and decoded, the ``run.py`` preprocessing: randomized ``pos``, pred
hints as inputs, enforced permutations). Both sides train on the same
``--batches`` batches per algorithm (the same samples: the two samplers are
byte-identical), first once untimed (JAX compiles one program per hint
length; ``torch.compile`` likewise warms up), then ``--rounds`` times timed;
the table shows the median step time and the ratio ours / published (target
<= 0.5). The published model runs in a subprocess with ``--reference-python``
(a venv with ``dm-clrs==2.0.3``) on the same machine, right after ours.
Results go to ``benchmarks/results/train_step_speed[_DEVICE].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import published_reference  # noqa: E402  (beside this file)

DEFAULT_ALGORITHMS = ["bfs", "dijkstra", "insertion_sort", "floyd_warshall", "kmp_matcher"]

REFERENCE_TIMER = r"""
import json, sys, time
algorithm, length, batch_size, batches, rounds, seed = json.loads(sys.argv[1])
if algorithm in ("naive_string_matcher", "kmp_matcher"):
    length = (length * 5) // 4
spec, data = published_batches(algorithm, length, batch_size, batches, seed,
                               batch_size * batches, np.random.RandomState(seed))
model = published_model(spec, data, seed + 1)
key = jax.random.PRNGKey(seed)
start = time.perf_counter()
for feedback in data:  # compiles one program per hint length
    key, sub = jax.random.split(key)
    float(model.feedback(sub, feedback))
warmup = time.perf_counter() - start
times = []
for _ in range(rounds):
    for feedback in data:
        key, sub = jax.random.split(key)
        start = time.perf_counter()
        float(model.feedback(sub, feedback))  # float() waits for the device
        times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "warmup": warmup, "device": str(jax.devices()[0])}))
"""


def time_ours(algorithm: str, args) -> dict:
    import torch

    from openclrs import distributed
    from openclrs.train import (TrainConfig, autocast_of, build_model, make_optimizer,
                                train_batch, update)

    config = TrainConfig(algorithms=[algorithm], batch_size=args.batch_size,
                         train_lengths=[args.length], seed=args.seed, device=args.device,
                         compile=args.compile, bf16=args.bf16, progress=False).validate()
    device = torch.device(args.device)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = make_optimizer(model, config)
    if args.compile:
        model.compile()
    data = [train_batch(config, 0, step).to_torch(device=device) for step in range(args.batches)]
    loss_of = distributed.loss_function(model, distributed.Context())
    autocast = autocast_of(config)

    def step(batch):  # the training loop's own update
        return update(model, optimizer, loss_of, batch, config, autocast)

    start = time.perf_counter()
    for batch in data:
        step(batch)
    warmup = time.perf_counter() - start
    times = []
    for _ in range(args.rounds):
        for batch in data:
            start = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - start)
    return {"times": times, "warmup": warmup, "device": str(device)}


def time_reference(python: str, algorithm: str, args) -> dict:
    job = [algorithm, args.length, args.batch_size, args.batches, args.rounds, args.seed]
    out = published_reference.run(python, REFERENCE_TIMER, [json.dumps(job)],
                                  f"timer for {algorithm}", args.device)
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=DEFAULT_ALGORITHMS)
    parser.add_argument("--length", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8, help="distinct batches per algorithm")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--reference-python", help="python of a venv with dm-clrs==2.0.3")
    parser.add_argument("--out", help="results JSON (default: benchmarks/results/...)")
    args = parser.parse_args()

    import torch

    from openclrs.train import write_json

    rows = []
    print(f"{'algorithm':<18}{'openclrs ms':>13}{'published ms':>14}{'ratio':>8}", flush=True)
    for algorithm in args.algorithms:
        ours = time_ours(algorithm, args)
        row = {"algorithm": algorithm, "openclrs_ms": 1e3 * statistics.median(ours["times"]),
               "openclrs_warmup_s": ours["warmup"]}
        if args.reference_python:
            ref = time_reference(args.reference_python, algorithm, args)
            row.update(published_ms=1e3 * statistics.median(ref["times"]),
                       published_warmup_s=ref["warmup"], published_device=ref["device"])
            row["ratio"] = row["openclrs_ms"] / row["published_ms"]
        rows.append(row)
        pub = f"{row['published_ms']:>14.1f}{row['ratio']:>8.2f}" if "ratio" in row else ""
        print(f"{algorithm:<18}{row['openclrs_ms']:>13.1f}{pub}", flush=True)
    if all("ratio" in r for r in rows):
        geo = statistics.geometric_mean([r["ratio"] for r in rows])
        print(f"{'geometric mean':<18}{'':>27}{geo:>8.2f}")
    else:
        geo = None

    name = "train_step_speed" + ("" if args.device == "cpu" else f"_{args.device.split(':')[0]}")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   name + ".json")
    record = {"rows": rows, "ratio_geometric_mean": geo,
              "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "torch": torch.__version__,
                          "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda")
                          else None, "torch_threads": torch.get_num_threads()}}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_json(out, record)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
