"""Score TransNAR (and a Transformer-only baseline beside it) the paper's way.

Greedy answers to paired CLRS-Text examples (the sampler stream
:data:`~openclrs.lm.evaluate.EVAL_SEED`, the examples ``openclrs text
evaluate`` scores), each scored with :func:`openclrs.text.paper_score`
(shape, parse and CLRS scores) and exact match, averaged per ``(algorithm,
length)``. :func:`evaluate_checkpoint` writes ``eval.json`` after every
group, and a rerun with the same settings skips the groups already there
(resumable); :func:`format_table` and :func:`plot_scores` show TransNAR
and the baseline side by side.
"""

from __future__ import annotations

import os

from ..files import read_json, write_json
from ..lm.evaluate import EVAL_SEED, pyplot_or_skip, save_figure

SCORES = ("clrs_score", "shape_score", "parse_score", "exact_match")


def transnar_generator(model, tokenizer, batch_size: int = 64, seed: int = 0):
    """``examples, max_new_tokens -> answers`` for a TransNAR."""
    from .decode import greedy_decode

    def run(examples, max_new_tokens):
        return greedy_decode(model, tokenizer, examples, max_new_tokens, batch_size, seed)
    return run


def lm_generator(model, tokenizer, batch_size: int = 64, seed: int = 0):
    """The same for a Transformer-only openclrs LM (it reads the questions only)."""
    from ..lm.decode import greedy_decode

    def run(examples, max_new_tokens):
        return greedy_decode(model, tokenizer, [e.question for e in examples], max_new_tokens,
                             batch_size, seed)
    return run


def hf_transnar_generator(model, tokenizer, batch_size: int = 16):
    """The same for a Hugging Face TransNAR (:mod:`openclrs.transnar.huggingface`)."""
    from .huggingface import hf_greedy_decode

    def run(examples, max_new_tokens):
        return hf_greedy_decode(model, tokenizer, examples, max_new_tokens, batch_size)
    return run


def load_generator(checkpoint: str, device="cpu", batch_size: int = 64):
    """``(generate_fn, {"train", "step", ...})`` of a ``transnar train`` run
    or checkpoint folder, openclrs LM or Hugging Face LM alike."""
    from ..training.runs import CONFIG, MANIFEST, read_checkpoint
    from .huggingface import HF_FORMAT, load_hf_transnar
    from .train import load_transnar

    if os.path.exists(os.path.join(checkpoint, MANIFEST)):
        kind = read_checkpoint(checkpoint).metadata.get("format")
    elif os.path.exists(os.path.join(checkpoint, CONFIG)):
        kind = read_json(os.path.join(checkpoint, CONFIG), "run config",
                         fix="give a `transnar train` run folder").get("format")
    else:
        raise FileNotFoundError(f"{checkpoint} is not a `transnar train` run folder or "
                                "checkpoint folder")
    if kind == HF_FORMAT:
        model, tokenizer, info = load_hf_transnar(checkpoint, device)
        return hf_transnar_generator(model, tokenizer, min(batch_size, 16)), info
    model, tokenizer, info = load_transnar(checkpoint, device)
    return transnar_generator(model, tokenizer, batch_size), info


def score_group(examples, predictions) -> dict:
    """Means of :data:`SCORES` over one group's examples (of one algorithm),
    scored as ``openclrs text evaluate`` scores them
    (:class:`openclrs.lm.evaluate.EvaluationBoard`)."""
    from ..lm.evaluate import EvaluationBoard
    from ..text.parse import extract_answer

    board = EvaluationBoard()
    for e, p in zip(examples, predictions):
        board.score(e.algorithm, 0, extract_answer(p), e.answer)
    (row,) = board.rows()
    return {"count": row["count"], **{k: row[k] for k in SCORES}}


def evaluate(generate_fn, algorithms, lengths, num_samples: int = 100, seed: int = EVAL_SEED,
             max_new_tokens: int | None = None, progress: bool = False, done=None,
             on_group=None) -> list[dict]:
    """Rows ``{algorithm, length, count, clrs_score, shape_score,
    parse_score, exact_match}``, one per ``(algorithm, length)``.
    ``max_new_tokens`` defaults, per group, to twice the longest true answer
    plus 16. ``done``: rows already scored (kept, not recomputed);
    ``on_group(rows)`` is called after every new group."""
    from tqdm.auto import tqdm

    from .data import paired_examples

    rows = list(done or [])
    have = {(r["algorithm"], r["length"]) for r in rows}
    groups = [(a, n) for a in algorithms for n in lengths if (a, n) not in have]
    for algorithm, length in tqdm(groups, disable=not progress, desc="evaluate"):
        examples = paired_examples(algorithm, length, seed=seed, num_samples=num_samples)
        budget = max_new_tokens or 2 * max(len(e.answer) for e in examples) + 16
        rows.append({"algorithm": algorithm, "length": length,
                     **score_group(examples, generate_fn(examples, budget))})
        if on_group is not None:
            on_group(rows)
    return sorted(rows, key=lambda r: (r["algorithm"], r["length"]))


def format_table(rows: list[dict], baseline: list[dict] | None = None,
                 train_lengths=()) -> str:
    """One line per ``(algorithm, length)``: TransNAR's scores, and the
    baseline's beside them when given; ``*`` marks train lengths."""
    base = {(r["algorithm"], r["length"]): r for r in baseline or ()}
    names = {"clrs_score": "clrs", "shape_score": "shape", "parse_score": "parse",
             "exact_match": "exact"}
    head = f"{'algorithm':<28} {'length':>7}" + "".join(f" {names[k]:>7}" for k in SCORES)
    if baseline:
        head += "  |" + "".join(f" {'base ' + names[k]:>11}" for k in SCORES)
    lines = [head, "-" * len(head)]
    for r in rows:
        mark = "*" if r["length"] in train_lengths else " "
        line = f"{r['algorithm']:<28} {r['length']:>6}{mark}" + "".join(
            f" {r[k]:>7.3f}" for k in SCORES)
        b = base.get((r["algorithm"], r["length"]))
        if baseline:
            line += "  |" + "".join(f" {b[k]:>11.3f}" if b else f" {'-':>11}" for k in SCORES)
        lines.append(line)
    if train_lengths:
        lines.append("(* train length)")
    return "\n".join(lines)


def plot_scores(rows: list[dict], path: str, baseline: list[dict] | None = None,
                train_lengths=(), title: str | None = None, log=None) -> str | None:
    """CLRS, shape and parse score against length (one panel each), one
    colour per algorithm: TransNAR solid, the baseline dashed. Returns
    ``path``, or ``None`` (with a message) when matplotlib is missing."""
    plt = pyplot_or_skip("plot TransNAR scores", log)
    if plt is None:
        return None
    metrics = SCORES[:3]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), sharey=True)
    algorithms = sorted({r["algorithm"] for r in rows})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes, metrics):
        for i, algorithm in enumerate(algorithms):
            colour = colours[i % len(colours)]
            for data, style, label in ((rows, "-", algorithm),
                                       (baseline or [], "--", f"{algorithm} (baseline)")):
                points = sorted((r["length"], r[metric]) for r in data
                                if r["algorithm"] == algorithm)
                if points:
                    ax.plot(*zip(*points), style, marker="o", color=colour, label=label)
        for n in train_lengths:
            ax.axvspan(n - 0.5, n + 0.5, color="grey", alpha=0.15, linewidth=0)
        ax.set_title(metric)
        ax.set_xlabel("length (shaded: train lengths)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return save_figure(plt, fig, path)


def evaluate_checkpoint(checkpoint: str, lengths, algorithms=None, baseline: str | None = None,
                        num_samples: int = 100, seed: int = EVAL_SEED, batch_size: int = 64,
                        device: str = "cpu", max_new_tokens: int | None = None,
                        out: str | None = None, progress: bool = False) -> dict:
    """Score a TransNAR run (folder or checkpoint folder) and, if given, a
    Transformer-only ``openclrs text train`` run beside it; algorithms
    default to the TransNAR run's. Writes ``out`` (default
    ``<checkpoint>/eval.json``) after every group; a rerun with the same
    settings resumes. Returns its content."""
    from ..devices import check_device
    from ..lm.train import load_lm

    device = check_device(device, "device (--device)")
    generate, info = load_generator(checkpoint, device, batch_size)
    if baseline is not None:   # a bad path is found now, not after the long evaluation
        lm, lm_tokenizer, _ = load_lm(baseline, device)
    train_cfg = info["train"]
    algorithms = list(algorithms or train_cfg.get("algorithms", ()))
    if not algorithms:
        raise ValueError("give --algorithms: the checkpoint does not name its algorithms")
    out = out or os.path.join(checkpoint, "eval.json")
    # batch_size too: random positions are drawn for a batch's padded width,
    # so groups decoded in other batches would mix two draws
    settings = {"checkpoint": os.path.abspath(checkpoint), "step": info["step"],
                "baseline": None if baseline is None else os.path.abspath(baseline),
                "num_samples": num_samples, "seed": seed, "max_new_tokens": max_new_tokens,
                "batch_size": batch_size}
    results = {**settings, "train_lengths": list(train_cfg.get("lengths", ())),
               "rows": [], "baseline_rows": []}
    if os.path.exists(out):
        old = read_json(out, "evaluation results", fix="delete it to evaluate afresh")
        if all(old.get(k) == v for k, v in settings.items()):
            results["rows"] = old.get("rows", [])
            results["baseline_rows"] = old.get("baseline_rows", [])

    def save(key):
        def write(rows):
            results[key] = rows
            write_json(out, results)
        return write

    results["rows"] = evaluate(generate, algorithms,
                               lengths, num_samples, seed, max_new_tokens, progress,
                               results["rows"], save("rows"))
    if baseline is not None:
        results["baseline_rows"] = evaluate(lm_generator(lm, lm_tokenizer, batch_size),
                                            algorithms, lengths, num_samples, seed,
                                            max_new_tokens, progress, results["baseline_rows"],
                                            save("baseline_rows"))
    write_json(out, results)
    return results


__all__ = ["SCORES", "evaluate", "evaluate_checkpoint", "format_table", "hf_transnar_generator",
           "lm_generator", "load_generator", "plot_scores", "score_group",
           "transnar_generator"]
