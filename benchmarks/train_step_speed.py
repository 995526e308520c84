"""Training-step time of the Triplet-GMPNN, openclrs against the published JAX model.

    python benchmarks/train_step_speed.py                          # openclrs only
    python benchmarks/train_step_speed.py --reference-python .ref/bin/python
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
(a venv with ``dm-clrs==2.0.3``) on the same machine, the two taking turns
round by round, so that a shift in the machine's load (other tenants of a
shared host) falls on both; the range of the per-round ratios shows how much
it moved them. Results go to ``benchmarks/results/train_step_speed[_DEVICE].json``.
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
algorithm, length, batch_size, batches, seed = json.loads(sys.argv[1])
if algorithm in ("naive_string_matcher", "kmp_matcher"):
    length = (length * 5) // 4
spec, data = published_batches(algorithm, length, batch_size, batches, seed,
                               batch_size * batches, np.random.RandomState(seed))
model = published_model(spec, data, seed + 1)
key = jax.random.PRNGKey(seed)

def one_round():
    global key
    times = []
    for feedback in data:
        key, sub = jax.random.split(key)
        start = time.perf_counter()
        float(model.feedback(sub, feedback))  # float() waits for the device
        times.append(time.perf_counter() - start)
    return times

for line in sys.stdin:  # "warmup" first (JAX compiles one program per hint length), then "round"s
    start = time.perf_counter()
    times = one_round()
    print(json.dumps({"times": times, "seconds": time.perf_counter() - start,
                      "device": str(jax.devices()[0])}), flush=True)
"""


def our_rounds(algorithm: str, args):
    """A function that runs one timed pass over the batches (the first call
    is the warm-up) and returns the step times."""
    import torch

    from openclrs.training import distributed
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import (autocast_of, build_model, make_optimizer, train_batch,
                                        update)

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

    def one_round() -> list[float]:
        times = []
        for batch in data:
            start = time.perf_counter()
            update(model, optimizer, loss_of, batch, config, autocast)  # the training loop's
            times.append(time.perf_counter() - start)
        return times

    return one_round


def time_both(algorithm: str, args) -> tuple[dict, dict | None]:
    """Step times of ours and, with ``--reference-python``, of the published
    model, round by round in turn: machine load that drifts over minutes
    then weighs on both sides alike."""
    ours_round = our_rounds(algorithm, args)
    start = time.perf_counter()
    ours_round()
    ours = {"times": [], "rounds": [], "warmup": time.perf_counter() - start,
            "device": args.device}
    if not args.reference_python:
        for _ in range(args.rounds):
            ours["rounds"].append(ours_round())
            ours["times"] += ours["rounds"][-1]
        return ours, None
    job = [algorithm, args.length, args.batch_size, args.batches, args.seed]
    with published_reference.Session(args.reference_python, REFERENCE_TIMER, [json.dumps(job)],
                                     f"timer for {algorithm}", args.device) as session:
        warm = json.loads(session.ask("warmup"))
        ref = {"times": [], "rounds": [], "warmup": warm["seconds"], "device": warm["device"]}
        for _ in range(args.rounds):
            ours["rounds"].append(ours_round())
            ours["times"] += ours["rounds"][-1]
            ref["rounds"].append(json.loads(session.ask("round"))["times"])
            ref["times"] += ref["rounds"][-1]
    return ours, ref


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

    from openclrs.training.allocator import keep_freed_memory
    from openclrs.files import write_json

    keep_freed_memory()  # as openclrs train does

    rows = []
    print(f"{'algorithm':<18}{'openclrs ms':>13}{'published ms':>14}{'ratio':>8}", flush=True)
    for algorithm in args.algorithms:
        ours, ref = time_both(algorithm, args)
        row = {"algorithm": algorithm, "openclrs_ms": 1e3 * statistics.median(ours["times"]),
               "openclrs_warmup_s": ours["warmup"],
               "openclrs_round_ms": [1e3 * statistics.median(r) for r in ours["rounds"]]}
        if ref is not None:
            row.update(published_ms=1e3 * statistics.median(ref["times"]),
                       published_warmup_s=ref["warmup"], published_device=ref["device"],
                       published_round_ms=[1e3 * statistics.median(r) for r in ref["rounds"]])
            row["ratio"] = row["openclrs_ms"] / row["published_ms"]
            # Each round's ratio, ours and theirs timed back to back: their
            # spread says how far the machine's load moved the result.
            row["round_ratios"] = [a / b for a, b in zip(row["openclrs_round_ms"],
                                                         row["published_round_ms"])]
        rows.append(row)
        pub = f"{row['published_ms']:>14.1f}{row['ratio']:>8.2f}" if "ratio" in row else ""
        spread = ""
        if "round_ratios" in row:
            spread = f"   rounds {min(row['round_ratios']):.2f}-{max(row['round_ratios']):.2f}"
        print(f"{algorithm:<18}{row['openclrs_ms']:>13.1f}{pub}{spread}", flush=True)
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
