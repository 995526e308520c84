"""TransNAR against its Transformer-only baseline (issue 18's reproduction, scaled down).

1. A multi-task reasoner (Triplet-GMPNN, ``openclrs train``) is trained on
   ``--algorithms`` and the ``--control`` at the published train lengths
   (n <= 16) and frozen.
2. For every seed, two LMs of one configuration are trained on the same
   examples (no traces, ``--lengths``, random positions by default) for the
   same steps: the baseline (``openclrs.lm.train``, what ``openclrs text
   train`` runs) and TransNAR (``openclrs.transnar.train``: the same LM with
   gated cross-attention to the reasoner).
3. Both are scored at ``--eval-lengths`` with the paper's shape, parse and
   CLRS scores and exact match (``openclrs.transnar.evaluate``).

Results go to the JSON file (default ``benchmarks/results/transnar.json``)
after every (arm, seed, algorithm, length); what is there is skipped, and an
interrupted training resumes from its run folder (run the same command
again). The summary gives mean and standard deviation over seeds per
(algorithm, length, arm); the plot shows CLRS and shape score against length::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/transnar.py --runs /tmp/transnar-runs
    python benchmarks/transnar.py --smoke --runs /tmp/tn-smoke --out /tmp/tn-smoke.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import torch

from openclrs import files
from openclrs.extras import pyplot
from openclrs.lm import train as lm_train
from openclrs.lm.config import LMConfig, TrainConfig as LMTrainConfig
from openclrs.lm.evaluate import EVAL_SEED
from openclrs.models.config import ModelConfig
from openclrs.training import runs
from openclrs.training.config import TrainConfig
from openclrs.training.loop import train as train_reasoner
from openclrs.transnar import evaluate as tn_evaluate
from openclrs.transnar import train as tn_train
from openclrs.transnar.config import TransNARConfig

HERE = os.path.dirname(os.path.abspath(__file__))
ARMS = ("baseline", "transnar")


def machine(device: str = "cpu") -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def nar_run(args) -> str:
    """Train (or resume) the reasoner; its run folder."""
    out = os.path.join(args.runs, "nar")
    if not os.path.exists(os.path.join(out, "results.json")):
        train_reasoner(TrainConfig(
            algorithms=list(args.algorithms) + list(args.control), out_dir=out,
            steps=args.nar_steps, batch_size=args.nar_batch_size, seed=args.seeds[0],
            eval_every=args.nar_steps, test_every=0, progress=not args.quiet,
            data_root=os.path.join(args.runs, "data"), device=args.device,
            model=ModelConfig(hidden_size=args.nar_hidden)))
    return out


def lm_settings(args, arm: str, seed: int) -> tuple[LMConfig, LMTrainConfig]:
    lm_cfg = LMConfig(n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head,
                      block_size=args.block_size, pos_encoding=args.pos_encoding,
                      max_random_position=args.max_random_position)
    cfg = LMTrainConfig(out_dir=os.path.join(args.runs, f"{arm}-seed{seed}"),
                        algorithms=tuple(args.algorithms) + tuple(args.control),
                        lengths=tuple(args.lengths), steps=args.steps,
                        batch_size=args.batch_size, learning_rate=args.lr,
                        warmup_steps=args.warmup, seed=seed, checkpoint_every=args.steps // 4 or 1,
                        progress=not args.quiet, device=args.device)
    return lm_cfg, cfg


def run_arm(args, arm: str, seed: int, nar: str, results: dict, save) -> None:
    key = f"{arm}/seed{seed}"
    entry = results["entries"].setdefault(key, {"arm": arm, "seed": seed, "rows": []})
    lm_cfg, cfg = lm_settings(args, arm, seed)
    if "train_seconds" not in entry:
        if arm == "baseline":
            model, tokenizer = lm_train.train(lm_cfg, cfg)
            parameters = model.num_parameters()
        else:
            model, tokenizer = tn_train.train(lm_cfg, cfg, TransNARConfig(
                layers=args.xattn_layers, keys=args.keys, nar_states=args.nar_states,
                gate_init=args.gate_init, ffn=not args.no_xattn_ffn), nar)
            parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
        # from the run folder: right also when the run was trained before this call
        losses = [r["loss"] for r in runs.read_metrics(os.path.join(cfg.out_dir, runs.METRICS))]
        last = runs.load_checkpoint(cfg.out_dir, "last")
        entry.update(train_seconds=last.state["train_seconds"], parameters=parameters,
                     final_loss=float(np.mean(losses[-20:])), first_loss=float(losses[0]))
        save()
    if arm == "baseline":
        model, tokenizer, _ = lm_train.load_lm(cfg.out_dir, args.device)
        generate = tn_evaluate.lm_generator(model, tokenizer, args.eval_batch_size)
    else:
        model, tokenizer, _ = tn_train.load_transnar(cfg.out_dir, args.device)
        generate = tn_evaluate.transnar_generator(model, tokenizer, args.eval_batch_size)

    def keep(rows):
        entry["rows"] = rows
        save()
    entry["rows"] = tn_evaluate.evaluate(
        generate, list(args.algorithms) + list(args.control), args.eval_lengths,
        args.eval_samples, EVAL_SEED, progress=not args.quiet, done=entry["rows"],
        on_group=keep)
    save()


def summarize(results: dict) -> list[dict]:
    """Mean and std over seeds per (algorithm, length, arm)."""
    groups: dict[tuple, list[dict]] = {}
    for entry in results["entries"].values():
        for r in entry["rows"]:
            groups.setdefault((r["algorithm"], r["length"], entry["arm"]), []).append(r)
    out = []
    for (algorithm, length, arm), rows in sorted(groups.items()):
        row = {"algorithm": algorithm, "length": length, "arm": arm, "seeds": len(rows)}
        for k in tn_evaluate.SCORES:
            values = [r[k] for r in rows]
            row[k] = float(np.mean(values))
            row[f"{k}_std"] = float(np.std(values))
        out.append(row)
    return out


def plot(summary: list[dict], path: str, train_lengths) -> None:
    plt = pyplot("plot the TransNAR benchmark")
    algorithms = sorted({r["algorithm"] for r in summary})
    metrics = ("clrs_score", "shape_score")
    fig, axes = plt.subplots(len(metrics), len(algorithms), squeeze=False,
                             figsize=(3.6 * len(algorithms), 3.2 * len(metrics)), sharey=True)
    for j, algorithm in enumerate(algorithms):
        for i, metric in enumerate(metrics):
            ax = axes[i][j]
            for arm, style in zip(ARMS, ("--", "-")):
                rows = sorted((r for r in summary if r["algorithm"] == algorithm
                               and r["arm"] == arm), key=lambda r: r["length"])
                if rows:
                    xs = [r["length"] for r in rows]
                    ax.errorbar(xs, [r[metric] for r in rows],
                                yerr=[r[f"{metric}_std"] for r in rows], fmt="o" + style,
                                capsize=3, label=arm)
            for n in train_lengths:
                ax.axvspan(n - 0.5, n + 0.5, color="grey", alpha=0.15, linewidth=0)
            ax.set_title(f"{algorithm}: {metric}", fontsize="small")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if i == len(metrics) - 1:
                ax.set_xlabel("length (shaded: train lengths)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algorithms", nargs="+", default=["bfs", "topological_sort"])
    p.add_argument("--control", nargs="*", default=["binary_search"],
                   help="algorithms where the paper saw no gain (index search)")
    p.add_argument("--lengths", nargs="+", type=int, default=[4, 5, 6, 7, 8, 12])
    p.add_argument("--eval-lengths", nargs="+", type=int, default=[10, 12, 14, 16])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--nar-steps", type=int, default=500)
    p.add_argument("--nar-batch-size", type=int, default=32)
    p.add_argument("--nar-hidden", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--pos-encoding", default="random")
    p.add_argument("--max-random-position", type=int, default=2048)
    p.add_argument("--keys", default="both", choices=("node", "edge", "both"))
    p.add_argument("--nar-states", default="final", choices=("final", "per-layer"))
    p.add_argument("--xattn-layers", nargs="+", type=int, default=None,
                   help="blocks followed by a gated cross-attention layer (default: every block)")
    p.add_argument("--gate-init", type=float, default=0.0, help="tanh gate's initial alpha")
    p.add_argument("--no-xattn-ffn", action="store_true",
                   help="no gated FFN after each cross-attention")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-samples", type=int, default=50)
    p.add_argument("--eval-batch-size", type=int, default=50)
    p.add_argument("--runs", default="runs/transnar-bench", help="run folders")
    p.add_argument("--out", default=os.path.join(HERE, "results", "transnar.json"))
    p.add_argument("--device", default="cpu",
                   help="torch device for every model (cpu, cuda, cuda:1, ...); not a setting: "
                        "a run may resume on another device")
    p.add_argument("--smoke", action="store_true",
                   help="a minute-long check that every part runs (tiny everything)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report", action="store_true",
                   help="plot and print the table of --out's results (no training)")
    p.add_argument("--probe", action="store_true",
                   help="measure the trained TransNARs' index alignment (where the token that "
                        "writes answer element k reads the NAR's nodes) into --out's _attention "
                        "JSON and PNG (no training)")
    args = p.parse_args(argv)
    if args.smoke:
        args.nar_steps, args.nar_hidden, args.steps, args.warmup = 2, 16, 4, 0
        args.n_layer, args.n_embd, args.n_head, args.batch_size = 1, 32, 2, 4
        args.eval_samples, args.eval_lengths, args.lengths = 2, [5], [4]
        args.algorithms, args.seeds = ["bfs"], [0]

    settings = {k: v for k, v in vars(args).items()
                if k not in ("quiet", "out", "runs", "report", "probe", "device")}
    results = {"machine": machine(args.device), "settings": settings, "entries": {}}
    if os.path.exists(args.out):
        old = files.read_json(args.out, "benchmark results", fix="delete it to start afresh")
        if old.get("settings") != settings:
            raise SystemExit(f"{args.out} holds results of other settings; use another --out")
        results = old

    results["command"] = " ".join(["python", "benchmarks/transnar.py",
                                   *(sys.argv[1:] if argv is None else argv)])

    def save():
        results["summary"] = summarize(results)
        files.write_json(args.out, results)

    if args.probe:
        probe(args, os.path.splitext(args.out)[0] + "_attention")
        return
    if args.report:
        if not results["entries"]:
            raise SystemExit(f"{args.out} holds no results yet: run without --report first")
        report(results, os.path.splitext(args.out)[0] + ".png", args.lengths)
        return
    nar = nar_run(args)
    results["nar"] = files.read_json(os.path.join(nar, "results.json"), "reasoner results",
                                     fix="train the reasoner again")
    results["nar_seconds"] = results["nar"].get("train_seconds")
    save()
    for seed in args.seeds:
        for arm in ARMS:
            run_arm(args, arm, seed, nar, results, save)
    save()
    report(results, os.path.splitext(args.out)[0] + ".png", args.lengths)


def probe(args, stem: str) -> None:
    """Index alignment of every seed's trained TransNAR on the (non-control)
    algorithms at the evaluation lengths (:func:`openclrs.transnar.attention.alignment`
    over ``--eval-samples`` examples of the evaluation stream): ``stem.json``,
    written after every cell and resumed, and ``stem.png``, the mean
    (element, node) weights of seed 0's most aligned head at the largest
    train length."""
    from openclrs.transnar.attention import alignment, mean_alignment_map, node_attention
    from openclrs.transnar.data import paired_examples

    path = stem + ".json"
    out = {"cells": {}}
    if os.path.exists(path):
        out = files.read_json(path, "alignment results", fix="delete it to measure afresh")
    out.update(machine=machine(args.device), eval_samples=args.eval_samples, seed=EVAL_SEED,
               command=" ".join(["python", "benchmarks/transnar.py", *sys.argv[1:]]))
    maps, n_map = {}, max(args.lengths)
    for seed in args.seeds:
        folder = lm_settings(args, "transnar", seed)[1].out_dir
        model, tokenizer, info = tn_train.load_transnar(folder, args.device)
        for algorithm in args.algorithms:
            for length in sorted(set(args.eval_lengths) | {n_map}):
                key = f"seed{seed}/{algorithm}/{length}"
                if key in out["cells"] and not (seed == args.seeds[0] and length == n_map):
                    continue
                examples = paired_examples(algorithm, length, seed=EVAL_SEED,
                                           num_samples=args.eval_samples)
                attentions = node_attention(model, tokenizer, examples)
                cell = out["cells"][key] = {"step": info["step"], **alignment(attentions)}
                files.write_json(path, out)
                layers = cell["layers"]
                print(f"{key}: chance {cell['chance']:.3f} / near {cell['near_chance']:.3f}  "
                      + "  ".join(f"block {name}: mass {v['mass_mean']:.3f} (best head "
                                  f"{max(v['mass']):.3f}) hit {v['hit_mean']:.3f} near "
                                  f"{v['near_mean']:.3f} (best {max(v['near']):.3f})"
                                  for name, v in layers.items()))
                if seed == args.seeds[0] and length == n_map:
                    name = max(layers, key=lambda k: max(layers[k]["mass"]))
                    head = layers[name]["best_head"]
                    maps[algorithm] = (name, head, mean_alignment_map(attentions, name, head))
    plt = pyplot("plot TransNAR's attention")
    fig, axes = plt.subplots(1, len(maps), squeeze=False, figsize=(3.8 * len(maps), 3.6))
    for ax, (algorithm, (name, head, weights)) in zip(axes[0], sorted(maps.items())):
        image = ax.imshow(weights, cmap="viridis", vmin=0)
        ax.set_title(f"{algorithm}, n={n_map}: block {name}'s read, head {head}",
                     fontsize="small")
        ticks = range(0, weights.shape[1], 2)
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_xlabel("NAR node j")
        ax.set_ylabel("answer element k")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"mean node-read weight (seed {args.seeds[0]}); aligned reading = diagonal",
                 fontsize="small")
    fig.tight_layout()
    files.atomic_write(stem + ".png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def markdown_table(summary: list[dict], train_lengths) -> str:
    """Baseline and TransNAR side by side per (algorithm, length): CLRS and
    shape score, mean ± std over seeds (the README's table)."""
    cells = {(r["algorithm"], r["length"], r["arm"]): r for r in summary}
    lines = ["| algorithm | n | seeds | CLRS baseline | CLRS TransNAR | shape baseline "
             "| shape TransNAR |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for algorithm, length in sorted({(a, n) for a, n, _ in cells}):
        rows = [cells.get((algorithm, length, arm)) for arm in ARMS]
        seeds = "/".join(str(r["seeds"]) if r else "0" for r in rows)
        line = [algorithm, f"{length}{'*' if length in train_lengths else ''}", seeds]
        for metric in ("clrs_score", "shape_score"):
            line += [f"{r[metric]:.3f} ± {r[metric + '_std']:.3f}" if r else "-" for r in rows]
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def target_report(summary: list[dict], control, length: int = 14,
                  points: float = 0.20, needed: int = 2) -> str:
    """Issue 18's target, checked: TransNAR ahead of the baseline by at
    least ``points`` in CLRS score AND shape score at ``length`` on at least
    ``needed`` algorithms (the control excluded). One line per algorithm
    with both deltas, then the verdict."""
    cells = {(r["algorithm"], r["length"], r["arm"]): r for r in summary}
    lines, met = [f"target: TransNAR - baseline >= {points:.2f} in CLRS and shape score at "
                  f"n={length} on >= {needed} algorithms (control excluded)"], []
    for algorithm in sorted({a for a, n, _ in cells if n == length}):
        base, tn = (cells.get((algorithm, length, arm)) for arm in ARMS)
        if not (base and tn):
            continue
        clrs = tn["clrs_score"] - base["clrs_score"]
        shape = tn["shape_score"] - base["shape_score"]
        ok = clrs >= points and shape >= points
        is_control = algorithm in control
        if ok and not is_control:
            met.append(algorithm)
        lines.append(f"  {algorithm}{' (control)' if is_control else ''}: "
                     f"CLRS {clrs:+.3f}, shape {shape:+.3f}"
                     f"{'  (both >= target)' if ok else ''}")
    verdict = "MET" if len(met) >= needed else "NOT met"
    lines.append(f"target {verdict}: {len(met)} algorithm(s) {met}")
    return "\n".join(lines)


def paired(results: dict) -> dict:
    """The results restricted to the seeds that both arms have finished
    (every row scored): the fair comparison while a seed is still running."""
    def rows(arm, seed):
        entry = results["entries"].get(f"{arm}/seed{seed}")
        return entry["rows"] if entry else []
    counts = {len(rows(arm, seed)) for entry in results["entries"].values()
              for arm, seed in [(entry["arm"], entry["seed"])]}
    full = max(counts, default=0)
    seeds = sorted({e["seed"] for e in results["entries"].values()
                    if all(len(rows(arm, e["seed"])) == full for arm in ARMS)})
    return {**results, "entries": {k: e for k, e in results["entries"].items()
                                   if e["seed"] in seeds}}


def report(results: dict, png: str, train_lengths) -> None:
    """The plot, one line per (algorithm, length, arm), and the markdown
    table, over the seeds both arms have finished (:func:`paired`)."""
    both = paired(results)
    left = sorted(set(results["entries"]) - set(both["entries"]))
    if left:
        print(f"not in the table or plot (the other arm of its seed is not finished): {left}")
    summary = summarize(both)
    if not summary:
        print("no seed has both arms scored yet")
        return
    plot(summary, png, train_lengths)
    width = max(len(r["algorithm"]) for r in summary)
    for r in summary:
        print(f"{r['algorithm']:<{width}} n={r['length']:<3} {r['arm']:<9} seeds {r['seeds']}  "
              f"clrs {r['clrs_score']:.3f}±{r['clrs_score_std']:.3f}  "
              f"shape {r['shape_score']:.3f}±{r['shape_score_std']:.3f}  "
              f"parse {r['parse_score']:.3f}  exact {r['exact_match']:.3f}")
    print()
    print(markdown_table(summary, train_lengths))
    control = results.get("settings", {}).get("control") or []
    print()
    print(target_report(summary, control))


if __name__ == "__main__":
    main()
