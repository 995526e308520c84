"""The p-RoPE ablation of Barbero et al. 2025 (Table 2), at CPU scale.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/rope_ablation.py
    python benchmarks/rope_ablation.py --report        # table and plot of what is done

The same small openclrs LM (:mod:`openclrs.lm`) is trained from scratch,
through the LM trainer (``openclrs.lm.train.train(..., examples=...)``), with
each positional encoding of the paper's table: NoPE, RoPE with base 10k and
500k, p-RoPE with p = 0.25, 0.5, 0.75 (the highest frequencies kept, the
paper's rule), reversed 0.75-RoPE (the lowest kept) and partial rotary
0.75 (GPT-NeoX's convention: a RoPE over the first 75% of the channels),
for each of ``--seeds`` seeds (the seed sets the initialisation and the
data order, the same for every encoding, so differences are paired).

Corpus: the Python reference documentation shipped with Python
(``pydoc_data.topics``: ~465k characters of English prose and code
examples; nothing downloaded). Typographic characters outside the char
tokenizer's set are mapped to ASCII (quotes, dashes, ellipsis) and the
rest dropped, so every character is a token of the vocabulary. The topics,
sorted by name and joined, are cut into blocks of 4096 characters; every
10th block is held out for validation.

Training: windows of ``--context - 1`` characters at random offsets of the
training text (the trainer adds ``<bos>`` and ``<eos>``, and scores every
token: ``loss_on = "all"``). Evaluation: the perplexity of the validation
text (``<bos>`` + characters; ``<eos>`` not scored) cut into windows of
the training context ``T`` and of ``4T``, over the same characters, plus
the perplexity of positions ``>= T`` of the ``4T`` windows only (what the
model never saw in training).

Results go to ``benchmarks/results/rope_ablation.json`` after every run;
runs already there are skipped (the run folders under ``--work`` resume
from their checkpoints); ``rope_ablation.png`` plots them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from openclrs.extras import pyplot  # noqa: E402
from openclrs.files import atomic_write, read_json, write_json  # noqa: E402
from openclrs.lm.config import LMConfig, TrainConfig  # noqa: E402
from openclrs.lm.tokenizer import CLRS_TEXT_CHARS, CharTokenizer  # noqa: E402
from openclrs.lm.train import train  # noqa: E402
from openclrs.training.runs import derive_seed  # noqa: E402

RESULTS = os.path.join(HERE, "results", "rope_ablation.json")
PLOT = os.path.join(HERE, "results", "rope_ablation.png")

# name -> LMConfig settings (rope_base is 10k unless given), in the paper's order
ENCODINGS = {
    "NoPE": {"pos_encoding": "none"},
    "RoPE θ=10k": {"pos_encoding": "rope"},
    "RoPE θ=500k": {"pos_encoding": "rope", "rope_base": 500_000.0},
    "0.75-RoPE reversed": {"pos_encoding": "reversed-p-rope", "p_rope": 0.75},
    "0.75 partial rotary": {"pos_encoding": "partial-rope", "rotary_fraction": 0.75},
    "0.25-RoPE": {"pos_encoding": "p-rope", "p_rope": 0.25},
    "0.5-RoPE": {"pos_encoding": "p-rope", "p_rope": 0.5},
    "0.75-RoPE": {"pos_encoding": "p-rope", "p_rope": 0.75},
}

# Barbero et al. 2025, Table 2 (Gemma 2B, 8k context): Wiki, FlanV2 perplexity
PAPER = {"NoPE": (4.8594, 6.6429), "RoPE θ=10k": (4.4627, 6.4429),
         "RoPE θ=500k": (4.4485, 6.4593), "0.75-RoPE reversed": (4.4592, 6.4683),
         "0.75 partial rotary": (4.4537, 6.4562), "0.25-RoPE": (4.5302, 6.5111),
         "0.75-RoPE": (4.4414, 6.4422)}

BLOCK = 4096  # the corpus is cut into blocks of this many characters; every 10th is held out
ASCII = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
         "\u2014": "-", "\u2013": "-"}


# --------------------------------------------------------------- the corpus

def corpus() -> tuple[str, str]:
    """``(train text, validation text)`` from ``pydoc_data.topics``, every
    character in the char tokenizer's set."""
    from pydoc_data.topics import topics

    allowed = set(CLRS_TEXT_CHARS)

    def clean(text):
        text = "".join(ASCII.get(c, c) for c in text)
        return "".join(c for c in text if c in allowed)

    text = "\n\n".join(clean(topics[name]) for name in sorted(topics))
    blocks = [text[i:i + BLOCK] for i in range(0, len(text), BLOCK)]
    return ("".join(b for i, b in enumerate(blocks) if i % 10 != 9),
            "".join(b for i, b in enumerate(blocks) if i % 10 == 9))


class Windows:
    """The trainer's example source: ``batch_size`` windows of ``length``
    characters at random offsets, a function of ``(seed, step)``."""

    loss_on = "all"

    def __init__(self, text: str, length: int, seed: int):
        self.text, self.length, self.seed = text, length, seed
        self.digest = hashlib.sha256(text.encode()).hexdigest()

    def __call__(self, step: int, batch_size: int):
        rng = np.random.default_rng(derive_seed(self.seed, step))
        starts = rng.integers(len(self.text) - self.length, size=batch_size)
        return [(self.text[s:s + self.length], "") for s in starts.tolist()]

    def describe(self) -> dict:
        return {"source": "pydoc_data.topics windows", "sha256": self.digest,
                "length": self.length, "seed": self.seed}


# ------------------------------------------------------------ evaluation

@torch.no_grad()
def perplexities(model, tokenizer, text: str, context: int, windows: int,
                 batch_size: int = 8) -> dict:
    """Perplexity of ``windows * 4`` windows of ``context`` characters and
    of ``windows`` windows of ``4 * context`` over the same characters
    (``<bos>`` first, every character scored), and of positions
    ``>= context`` of the long windows only."""
    long = 4 * context
    if len(text) < windows * long:
        raise ValueError(f"the validation text has {len(text)} characters, fewer than "
                         f"{windows} windows of {long}")
    ids = torch.tensor(tokenizer.encode(text[:windows * long]))

    def losses(length):  # (n, length) per-token losses
        rows = ids.view(-1, length)
        out = []
        for chunk in rows.split(batch_size):
            inputs = torch.cat([torch.full((len(chunk), 1), tokenizer.bos_id), chunk[:, :-1]], 1)
            logits = model(inputs)
            out.append(F.cross_entropy(logits.transpose(1, 2), chunk, reduction="none"))
        return torch.cat(out)

    short, longer = losses(context), losses(long)
    return {"ppl": math.exp(short.mean().item()), "ppl_4x": math.exp(longer.mean().item()),
            "ppl_4x_beyond": math.exp(longer[:, context:].mean().item())}


# ---------------------------------------------------------------- running

def model_config(args, settings: dict) -> LMConfig:
    return LMConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.width,
                    block_size=args.context, **settings)


def run_one(args, name: str, seed: int, train_text: str, valid_text: str) -> dict:
    tokenizer = CharTokenizer()
    folder = os.path.join(args.work, f"{name.replace(' ', '_').replace('=', '')}-seed{seed}")
    cfg = TrainConfig(out_dir=folder, steps=args.steps, batch_size=args.batch_size,
                      learning_rate=args.lr, warmup_steps=args.steps // 10, seed=seed,
                      checkpoint_every=max(1, args.steps // 4), log_every=50, threads=1,
                      progress=False)
    start = time.perf_counter()
    model, tokenizer = train(model_config(args, ENCODINGS[name]), cfg, tokenizer=tokenizer,
                             examples=Windows(train_text, args.context - 1, seed),
                             log=open(os.devnull, "w"))
    trained = time.perf_counter() - start
    model.eval()
    result = perplexities(model, tokenizer, valid_text, args.context, args.eval_windows)
    result["final_train_loss"] = model.history[-1][1] if model.history else None
    result["train_seconds"] = round(trained, 1)
    return result


def summary(runs: dict) -> dict:
    """Per encoding, per measure: mean, std (sample, n-1) and n over seeds."""
    out = {}
    for name, by_seed in runs.items():
        out[name] = {}
        for key in ("ppl", "ppl_4x", "ppl_4x_beyond"):
            values = [r[key] for r in by_seed.values()]
            out[name][key] = {"mean": statistics.fmean(values),
                              "std": statistics.stdev(values) if len(values) > 1 else None,
                              "n": len(values)}
    return out


def paired(runs: dict, reference: str = "RoPE θ=10k") -> dict:
    """Per encoding and measure, the relative difference to ``reference``
    of each seed both have (same seed: same initialisation and data), in %."""
    out = {}
    for name, by_seed in runs.items():
        seeds = sorted(set(by_seed) & set(runs.get(reference, {})), key=int)
        if name == reference or not seeds:
            continue
        out[name] = {key: [100 * (by_seed[s][key] / runs[reference][s][key] - 1) for s in seeds]
                     for key in ("ppl", "ppl_4x", "ppl_4x_beyond")}
    return out


def table(results: dict) -> str:
    s = results["summary"]
    context = results["settings"]["context"]
    rows = [f"| encoding | ppl @ {context} | ppl @ {4 * context} | ppl of positions "
            f"{context}-{4 * context - 1} | paper Wiki / FlanV2 |", "|---|---|---|---|---|"]

    def cell(m):
        return f"{m['mean']:.4f} ± {m['std']:.4f}" if m["std"] is not None else f"{m['mean']:.4f}"

    for name in ENCODINGS:
        if name in s:
            paper = PAPER.get(name)
            rows.append(f"| {name} | {cell(s[name]['ppl'])} | {cell(s[name]['ppl_4x'])} | "
                        f"{cell(s[name]['ppl_4x_beyond'])} | "
                        f"{'%.4f / %.4f' % paper if paper else '-'} |")
    differences = results.get("paired", {})
    if differences:
        rows += ["", f"Against RoPE θ=10k, per seed (same initialisation and data), in %:", "",
                 f"| encoding | ppl @ {context} | ppl @ {4 * context} |", "|---|---|---|"]
        for name in ENCODINGS:
            if name in differences:
                d = differences[name]
                rows.append(f"| {name} | {' / '.join('%+.2f' % x for x in d['ppl'])} | "
                            f"{' / '.join('%+.2f' % x for x in d['ppl_4x'])} |")
    return "\n".join(rows)


def plot(results: dict, path: str) -> None:
    plt = pyplot()
    s = results["summary"]
    names = [n for n in ENCODINGS if n in s]
    context = results["settings"]["context"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    measures = (("ppl", f"validation perplexity, context {context} (training)"),
                ("ppl_4x", f"context {4 * context} (4x), all positions"),
                ("ppl_4x_beyond", f"context {4 * context}, positions >= {context}"))
    for ax, (key, title) in zip(axes, measures):
        seeds = [[r[key] for r in results["runs"][n].values()] for n in names]
        colors = ["#999999" if n == "NoPE" else "#4c72b0" for n in names]
        if key == "ppl":  # mean ± std, linear
            means = [s[n][key]["mean"] for n in names]
            stds = [s[n][key]["std"] or 0.0 for n in names]
            ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=colors)
            low = min(m - e for m, e in zip(means, stds))
            high = max(m + e for m, e in zip(means, stds))
            margin = 0.15 * (high - low) or 0.05 * high
            ax.set_ylim(low - margin, high + margin)
        else:  # beyond the training context the seeds differ by orders of magnitude
            ax.bar(range(len(names)), [math.exp(statistics.fmean(map(math.log, v)))
                                       for v in seeds], color=colors)
            ax.set_yscale("log")
            title += " (log; bars: geometric mean)"
        for x, values in enumerate(seeds):
            ax.plot([x] * len(values), values, "k.", ms=5)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"p-RoPE ablation: {results['settings']['describe']} "
                 "(dots: seeds)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=list(ENCODINGS),
                   metavar="NAME")
    p.add_argument("--context", type=int, default=64, help="training context (characters)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eval-windows", type=int, default=128,
                   help="validation windows of 4x the context")
    p.add_argument("--work", default=os.path.join("runs", "rope_ablation"),
                   help="run folders (checkpoints; not committed)")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--report", action="store_true", help="only print the table and plot")
    args = p.parse_args(argv)

    settings = {"context": args.context, "layers": args.layers, "heads": args.heads,
                "width": args.width, "steps": args.steps, "batch_size": args.batch_size,
                "lr": args.lr, "eval_windows": args.eval_windows}
    settings["describe"] = (f"{args.layers} layers x {args.heads} heads x {args.width}, "
                            f"{args.steps} steps of {args.batch_size} x {args.context} chars, "
                            "pydoc_data.topics")
    results = read_json(args.results, "rope ablation results") if os.path.exists(
        args.results) else None
    if results is None or {k: v for k, v in results["settings"].items()} != settings:
        if results is not None and not args.report:
            raise SystemExit(f"{args.results} holds results of other settings; move it away "
                             "or give --results")
        results = results or {"settings": settings, "runs": {}}
    if not args.report:
        train_text, valid_text = corpus()
        results["machine"] = {"python": sys.version.split()[0], "torch": torch.__version__,
                              "platform": platform.platform(), "threads": 1,
                              "corpus_characters": [len(train_text), len(valid_text)],
                              "corpus_sha256": hashlib.sha256(
                                  (train_text + "\0" + valid_text).encode()).hexdigest()}
        torch.set_num_threads(1)
        for seed in args.seeds:       # seed-major: one seed of everything first
            for name in args.encodings:
                done = results["runs"].get(name, {})
                if str(seed) in done:
                    continue
                result = run_one(args, name, seed, train_text, valid_text)
                print(f"{name} seed {seed}: {json.dumps(result)}", flush=True)
                results["runs"].setdefault(name, {})[str(seed)] = result
                results["summary"] = summary(results["runs"])
                results["paired"] = paired(results["runs"])
                write_json(args.results, results)
    results["summary"] = summary(results["runs"])
    results["paired"] = paired(results["runs"])
    if not args.report:
        write_json(args.results, results)
    print(table(results))
    if results["runs"]:
        plot(results, os.path.splitext(args.results)[0] + ".png")


if __name__ == "__main__":
    main()
