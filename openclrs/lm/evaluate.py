"""Score a CLRS-Text LM (ours, or any local Hugging Face causal LM) by greedy
decoding: a :class:`~openclrs.text.Scoreboard` per ``(algorithm, length)``
that also keeps the paper's shape, parse and CLRS scores
(:func:`openclrs.text.paper_score`; :class:`EvaluationBoard`), a table, a
JSON file and a plot of a score against length."""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from ..extras import MissingDependency, install_hint, pyplot, require
from ..files import atomic_write, write_json
from ..text.scoring import PAPER_METRICS, Scoreboard, paper_score
from .decode import greedy_decode
from .model import GPT
from .train import load_lm
from .tokenizer import CharTokenizer

EVAL_SEED = 1_000_003  # a sampler seed no training stream is derived from on purpose


class EvaluationBoard(Scoreboard):
    """A :class:`~openclrs.text.Scoreboard` that also scores every prediction
    the paper's way (Markeeva et al. 2024, CLRS-Text:
    :func:`~openclrs.text.paper_score`): its rows and per-algorithm means
    carry ``shape_score``, ``parse_score`` and ``clrs_score`` (the means of
    :data:`~openclrs.text.PAPER_METRICS`) beside the Scoreboard's own."""

    def __init__(self):
        super().__init__()
        self._paper: dict[tuple[str, int], list[dict]] = defaultdict(list)

    def score(self, algorithm: str, length: int, predicted_answer, true_answer: str,
              **kwargs):
        """Score one prediction both ways and record both; returns the
        Scoreboard's :class:`~openclrs.text.Score` (:meth:`paper` gives the
        paper's scores of the last one)."""
        result = super().score(algorithm, length, predicted_answer, true_answer, **kwargs)
        paper = paper_score(algorithm, predicted_answer, true_answer,
                            use_hints=kwargs.get("use_hints"))
        self._paper[(algorithm, int(length))].append(paper.as_dict())
        return result

    def paper(self, algorithm: str, length: int) -> list[dict]:
        """The paper's scores of every prediction of one group, in order."""
        return list(self._paper[(algorithm, int(length))])

    @staticmethod
    def _paper_means(scores: list[dict]) -> dict:
        return {m: float(np.mean([s[m] for s in scores])) if scores else 0.0
                for m in PAPER_METRICS}

    def summary(self) -> dict[tuple[str, int], dict]:
        return {key: {**row, **self._paper_means(self._paper[key])}
                for key, row in super().summary().items()}

    def by_algorithm(self) -> dict[str, dict]:
        groups: dict[str, list[dict]] = defaultdict(list)
        for (algorithm, _), scores in self._paper.items():
            groups[algorithm].extend(scores)
        return {a: {**row, **self._paper_means(groups[a])}
                for a, row in super().by_algorithm().items()}


def model_generator(model: GPT, tokenizer: CharTokenizer, batch_size: int = 64, seed: int = 0):
    """``prompts, max_new_tokens -> continuations`` for an openclrs model."""
    def run(prompts, max_new_tokens):
        return greedy_decode(model, tokenizer, prompts, max_new_tokens, batch_size, seed)
    return run


def hf_generator(path: str, batch_size: int = 16, device: str = "cpu"):
    """The same for a local Hugging Face causal LM (imports ``transformers``)."""
    from ..devices import check_device
    from .huggingface import hf_greedy_decode, load_hf_model

    model, tokenizer = load_hf_model(path, check_device(device, "device (--device)"))

    def run(prompts, max_new_tokens):
        return hf_greedy_decode(model, tokenizer, prompts, max_new_tokens, batch_size)
    return run


def evaluate(generate_fn, algorithms, lengths, num_samples: int = 100, seed: int = EVAL_SEED,
             use_hints: bool = False, max_new_tokens: int | None = None, progress: bool = False,
             records: list | None = None):
    """Score greedy answers to ``num_samples`` examples of each ``(algorithm,
    length)`` (sampler stream ``seed``) with :func:`openclrs.text.score`;
    returns an :class:`EvaluationBoard` (a Scoreboard whose rows add the
    paper's ``shape_score``, ``parse_score`` and ``clrs_score``).

    ``generate_fn(prompts, max_new_tokens)`` continues the questions
    (:func:`model_generator`, :func:`hf_generator`). ``max_new_tokens``
    defaults, per group, to twice the longest true answer plus 16 tokens.
    ``records``, if given, receives one dict per example (question, answer,
    prediction, the Scoreboard's scores and the paper's).
    """
    from tqdm.auto import tqdm

    from ..text.format import generate_examples
    from ..text.parse import extract_answer

    board = EvaluationBoard()
    groups = [(a, n) for a in algorithms for n in lengths]
    for algorithm, length in tqdm(groups, disable=not progress, desc="evaluate"):
        examples = generate_examples(algorithm, length, seed=seed, num_samples=num_samples,
                                     use_hints=use_hints)
        budget = max_new_tokens or 2 * max(len(e["answer"]) for e in examples) + 16
        predictions = generate_fn([e["question"] for e in examples], budget)
        for e, p in zip(examples, predictions):
            result = board.score(algorithm, length, extract_answer(p), e["answer"],
                                 use_hints=use_hints)
            if records is not None:
                records.append({"algorithm": algorithm, "length": length,
                                "question": e["question"], "answer": e["answer"],
                                "prediction": p, **result.as_dict(),
                                **board.paper(algorithm, length)[-1]})
    return board


def format_table(board, train_lengths: dict | None = None) -> str:
    """The scoreboard as a text table, one row per ``(algorithm, length)``;
    ``*`` marks train lengths. The paper's scores (``shape_s``, ``parse_s``,
    ``clrs``: :class:`EvaluationBoard`) follow the Scoreboard's columns when
    the rows have them."""
    train_lengths = train_lengths or {}
    rows = board.rows()
    paper = bool(rows) and all(m in rows[0] for m in PAPER_METRICS)
    header = f"{'algorithm':<30} {'length':>7} {'count':>6} {'parsed':>7} {'shape':>7} " \
             f"{'exact':>7} {'accuracy':>9}"
    if paper:
        header += f" {'shape_s':>7} {'parse_s':>7} {'clrs':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        mark = "*" if row["length"] in train_lengths.get(row["algorithm"], ()) else " "
        line = (f"{row['algorithm']:<30} {row['length']:>6}{mark} {row['count']:>6} "
                f"{row['parsed']:>7.3f} {row['shape_match']:>7.3f} "
                f"{row['exact_match']:>7.3f} {row['accuracy']:>9.3f}")
        if paper:
            line += "".join(f" {row[m]:>7.3f}" for m in PAPER_METRICS)
        lines.append(line)
    if train_lengths:
        lines.append("(* train length)")
    return "\n".join(lines)


def save_results(path: str, board, meta: dict | None = None) -> None:
    """The table as JSON: ``{"rows": [...], "by_algorithm": {...}, **meta}``."""
    data = {"rows": board.rows(), "by_algorithm": board.by_algorithm(), **(meta or {})}
    write_json(path, data)


def pyplot_or_skip(purpose: str, log=None):
    """matplotlib's pyplot, or ``None`` with a message on ``log`` (stderr)
    when matplotlib is missing: a score plot is never worth failing for."""
    try:
        return pyplot(purpose)
    except MissingDependency:
        print(f"matplotlib is not installed: skipping the plot ({install_hint('matplotlib')})",
              file=log or sys.stderr)
        return None


def save_figure(plt, fig, path: str) -> str:
    """Lay ``fig`` out, write it to ``path`` as a PNG (atomically) and close
    it; returns ``path``."""
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path


def plot_scores(rows: list[dict], path: str, train_lengths: dict | None = None,
                metric: str = "accuracy", title: str | None = None, log=None) -> str | None:
    """Plot ``metric`` against length, one line per algorithm, train lengths
    as filled markers and shaded; returns ``path``, or ``None`` (with a
    message) when matplotlib is missing."""
    plt = pyplot_or_skip("plot scores", log)
    if plt is None:
        return None
    ticker = require("matplotlib.ticker", "plot scores")
    train_lengths = train_lengths or {}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for algorithm in sorted({r["algorithm"] for r in rows}):
        mine = sorted((r["length"], r[metric]) for r in rows if r["algorithm"] == algorithm)
        xs, ys = zip(*mine)
        line, = ax.plot(xs, ys, marker="o", markerfacecolor="white", label=algorithm)
        seen = [(x, y) for x, y in mine if x in train_lengths.get(algorithm, ())]
        if seen:
            ax.plot(*zip(*seen), linestyle="none", marker="o", color=line.get_color())
    for n in sorted({n for ns in train_lengths.values() for n in ns}):
        ax.axvspan(n - 0.5, n + 0.5, color="grey", alpha=0.15, linewidth=0)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("length (filled markers, shaded: train lengths)")
    ax.set_ylabel(metric)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return save_figure(plt, fig, path)


def evaluate_checkpoint(checkpoint: str, algorithms=None, lengths=None, num_samples: int = 100,
                        seed: int = EVAL_SEED, batch_size: int = 64, device: str = "cpu",
                        max_new_tokens: int | None = None, progress: bool = False):
    """Load a checkpoint (a ``text train`` run folder, one of its checkpoint
    folders, or a :func:`~openclrs.lm.model.save_model` folder) and
    :func:`evaluate` it; algorithms, lengths and hints default to the
    training run's. Returns ``(board, train_config)``."""
    from ..devices import check_device

    model, tokenizer, train_cfg = load_lm(checkpoint, check_device(device, "device (--device)"))
    algorithms = algorithms or train_cfg.get("algorithms", ())
    lengths = lengths or train_cfg.get("lengths", ())
    if not algorithms or not lengths:
        raise ValueError(f"{checkpoint} records no algorithms or lengths (a saved model, not "
                         "a training run): give --algorithms and --lengths")
    board = evaluate(model_generator(model, tokenizer, batch_size), algorithms, lengths,
                     num_samples, seed, train_cfg.get("use_hints", False), max_new_tokens,
                     progress)
    return board, train_cfg
