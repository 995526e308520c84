"""Counting and copying tasks of "Transformers need glasses!" (Barbero et al.,
NeurIPS 2024, §3 and App. C) as evaluations of any causal LM, and as an
example source that trains openclrs' own char-level LM on them.

The tasks (``n`` is the length the accuracy is plotted against):

=================  ==============================================  ============
task               the sequence (``n`` elements)                    answer
=================  ==============================================  ============
``copy_last``      ``1…10``: ``n - 1`` ones then a 0               its last digit
``copy_first``     ``01…1``: a 0 then ``n - 1`` ones               its first digit
``count_ones``     ``1…1``: ``n`` ones                             ``n``
``count_bernoulli`` ``n`` digits, each 1 with probability 0.7       the number of 1s
``sum_ones``       ``1 + 1 + … + 1``: ``n`` terms                  ``n``
``count_word``     ``n`` words, each ``car`` with probability 0.5  the number of ``car``
                   (else one of a few other nouns)
=================  ==============================================  ============

A prompt is the question, an optional hint sentence, the sequence on its
own line, and the paper's reply form (App. C.1: "The answer to your
question is: " for copying, "The final answer to your maths question is: "
for counting), so that the continuation *is* the answer::

    What is the last digit in the following sequence?
    1111111110
    The answer to your question is: 0

Remedies (paper §4 Fig. 5d, §3 Fig. 2b) are switches of :class:`TaskOptions`:
``separator_every=k`` puts ``separator`` (default ``,``) after every ``k``-th
digit counted from the left, never at the end (``copy_last`` with ``n = 10``,
``k = 3``: ``111,111,111,0``), and ``hint`` adds the paper's hint sentence
("*Hint* It's not necessarily a 1, check carefully.") after the question, or
a sentence of your own. ``balanced`` draws the digit to copy uniformly from
{0, 1} (the paper's copy answer is always 0; a model trained on that would
only learn to say 0, so training uses balanced copies).

Everything is a function of ``seed``: example ``i`` of ``(task, n)`` comes
from a NumPy stream seeded by ``(seed, task, n)``. Answers are read by
:func:`parse_answer` (see there for the rules).
"""

from __future__ import annotations

import dataclasses
import numbers
import re
import sys
import zlib
from collections import Counter
from dataclasses import asdict, dataclass

COPY_REPLY = "The answer to your question is: "
COUNT_REPLY = "The final answer to your maths question is: "
PAPER_HINT = "*Hint* It's not necessarily a 1, check carefully."
#: not the paper's (it gives a hint for copying only): the counting tasks' hint
COUNT_HINT = "*Hint* Count carefully, one element at a time."
DISTRACTORS = ("bus", "bike", "tree", "house", "dog", "road", "train")
EVAL_SEED = 20_240_604  # the paper's arXiv month; no training stream uses it


@dataclass(frozen=True)
class Task:
    """One task: how its prompt reads and what kind of sequence it has."""

    name: str
    question: str
    reply: str
    kind: str  # "digits" (separators apply), "sum" or "words"
    hint: str


TASKS = {t.name: t for t in (
    Task("copy_last", "What is the last digit in the following sequence?", COPY_REPLY,
         "digits", PAPER_HINT),
    Task("copy_first", "What is the first digit in the following sequence?", COPY_REPLY,
         "digits", PAPER_HINT),
    Task("count_ones", "How many ones are in the following sequence?", COUNT_REPLY,
         "digits", COUNT_HINT),
    Task("count_bernoulli", "How many ones are in the following sequence?", COUNT_REPLY,
         "digits", COUNT_HINT),
    Task("sum_ones", "What is the result of the following sum?", COUNT_REPLY, "sum", COUNT_HINT),
    Task("count_word", "How many times does the word '{word}' appear in the following "
         "sentence?", COUNT_REPLY, "words", COUNT_HINT),
)}


@dataclass(frozen=True)
class TaskOptions:
    """How the prompts are built (the paper's remedies are switches here)."""

    separator_every: int = 0  # 0: none; k: a separator after every k-th digit
    separator: str = ","
    hint: bool | str = False  # True: the task's hint sentence; a string: that sentence
    balanced: bool = False  # copy tasks: the digit to copy is 0 or 1 at random (paper: 0)
    p_one: float = 0.7  # count_bernoulli: P(digit = 1)
    word: str = "car"  # count_word: the word counted
    p_word: float = 0.5  # count_word: P(a word is `word`)

    def __post_init__(self):
        if isinstance(self.separator_every, bool) or not isinstance(self.separator_every, int) \
                or self.separator_every < 0:
            raise ValueError(f"separator_every must be a whole number >= 0 (0: no separators), "
                             f"got {self.separator_every!r}")
        if self.separator_every and (not self.separator
                                     or any(c in "01\n" for c in self.separator)):
            raise ValueError(f"separator must be non-empty text without digits 0/1 or newlines, "
                             f"got {self.separator!r}")
        for name in ("p_one", "p_word"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not re.fullmatch(r"[A-Za-z]+", self.word) or self.word in DISTRACTORS:
            raise ValueError(f"word must be letters only and not one of {DISTRACTORS}, "
                             f"got {self.word!r}")
        if not isinstance(self.hint, (bool, str)):
            raise ValueError(f"hint must be True/False or a sentence, got {self.hint!r}")


@dataclass(frozen=True)
class Example:
    task: str
    n: int
    prompt: str
    answer: int
    sequence: str  # the sequence line, as shown (separators included)


def check_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}")
    return TASKS[name]


def with_separators(digits: str, every: int, separator: str = ",") -> str:
    """``separator`` after every ``every``-th character, counted from the left,
    never at the end: ``with_separators("1111111", 3) == "111,111,1"``."""
    if not every:
        return digits
    return separator.join(digits[i:i + every] for i in range(0, len(digits), every))


def stream(*keys: int):
    """A NumPy generator seeded by integer ``keys`` (numpy is imported here,
    so that the command line's ``--help`` stays light)."""
    import numpy as np

    from ..training.runs import derive_seed

    return np.random.default_rng(derive_seed(*keys))


def make_example(task: str, n: int, rng,
                 options: TaskOptions = TaskOptions()) -> Example:
    """One example of ``task`` with ``n`` elements, drawn from ``rng``."""
    spec = check_task(task)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"the length n must be a positive integer, got {n!r}")
    n = int(n)
    if spec.kind != "digits" and options.separator_every:
        raise ValueError(f"separators apply to the digit tasks, not to {task!r}")
    if task in ("copy_last", "copy_first"):
        digit = int(rng.integers(2)) if options.balanced else 0
        ones = "1" * (n - 1)
        digits = ones + str(digit) if task == "copy_last" else str(digit) + ones
        answer = digit
    elif task == "count_ones":
        digits, answer = "1" * n, n
    elif task == "count_bernoulli":
        bits = rng.random(n) < options.p_one
        digits, answer = "".join("1" if b else "0" for b in bits), int(bits.sum())
    elif task == "sum_ones":
        digits, answer = " + ".join(["1"] * n), n
    else:  # count_word
        hits = rng.random(n) < options.p_word
        others = rng.integers(len(DISTRACTORS), size=n)
        words = [options.word if h else DISTRACTORS[o] for h, o in zip(hits, others)]
        digits, answer = " ".join(words) + ".", int(hits.sum())
    sequence = with_separators(digits, options.separator_every, options.separator) \
        if spec.kind == "digits" else digits
    question = spec.question.format(word=options.word)
    hint = spec.hint if options.hint is True else (options.hint or "")
    prompt = f"{question}{' ' + hint if hint else ''}\n{sequence}\n{spec.reply}"
    return Example(task, n, prompt, answer, sequence)


def task_stream(seed: int, task: str, n: int):
    """The NumPy stream of ``(seed, task, n)`` (tasks by a fixed hash of their name)."""
    return stream(seed, zlib.crc32(task.encode()), n)


def examples(task: str, n: int, num_samples: int, seed: int = EVAL_SEED,
             options: TaskOptions = TaskOptions()) -> list[Example]:
    """``num_samples`` examples of ``(task, n)``, a function of ``seed`` only."""
    rng = task_stream(seed, task, n)
    return [make_example(task, n, rng, options) for _ in range(num_samples)]


def answer_text(value: int) -> str:
    """The reply after the prompt: the number, then a blank line (where
    greedy decoding stops)."""
    return f"{value}\n\n"


# --------------------------------------------------------------------------
# Reading answers.
# --------------------------------------------------------------------------

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {w: 10 * i for i, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_WORDS = {w: i for i, w in enumerate(_SMALL)} | _TENS
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?![\d])"  # 1234 or 1,234 (thousands commas)
    r"|\b(?:(?:a|one)[ -]hundred|(?:" + "|".join(_TENS) + r")(?:[ -](?:one|two|three|four|"
    r"five|six|seven|eight|nine))?|" + "|".join(sorted(_SMALL, key=len, reverse=True)) + r")\b",
    re.IGNORECASE)
_REPLY = re.compile(r"answer[^:\n]*\bis\s*:", re.IGNORECASE)


def parse_answer(text: str) -> int | None:
    """The number a continuation answers, or ``None``.

    Rules, in order: if the continuation restates a reply form ("...answer
    ... is:"), only the text after its last occurrence is read; the answer is
    the first number there: digits (``42``; thousands commas ``1,024``; a
    sign or a decimal point is not part of it, so ``-3`` reads 3 and ``4.5``
    reads 4), or an English number word from ``zero`` to ``ninety-nine``
    and ``one hundred`` (the paper's Gemini answered "one"), whichever comes
    first. Markdown around the number (``**7**``) is fine.
    """
    if not isinstance(text, str):
        return None
    replies = list(_REPLY.finditer(text))
    if replies:
        text = text[replies[-1].end():]
    match = _NUMBER.search(text)
    if match is None:
        return None
    if match.group(1):
        return int(match.group(1).replace(",", ""))
    words = match.group(0).lower().replace("-", " ").split()
    if words[-1] == "hundred":
        return 100
    return sum(_WORDS[w] for w in words)


# --------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------

#: named prompt variants: the paper's plain prompts and its remedies
VARIANTS = {"plain": TaskOptions(), "separators": TaskOptions(separator_every=3),
            "hint": TaskOptions(hint=True)}


def variant_options(variant: str | TaskOptions, **overrides) -> TaskOptions:
    if isinstance(variant, TaskOptions):
        return dataclasses.replace(variant, **overrides)
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; the variants are "
                         f"{', '.join(VARIANTS)}")
    return dataclasses.replace(VARIANTS[variant], **overrides)


def applies(task: str, options: TaskOptions) -> bool:
    """Whether ``options`` make sense for ``task`` (separators: digit tasks only)."""
    return not options.separator_every or check_task(task).kind == "digits"


def evaluate(generate_fn, tasks=tuple(TASKS), lengths=(8, 16, 32, 64), num_samples: int = 20,
             seed: int = EVAL_SEED, options: TaskOptions = TaskOptions(),
             max_new_tokens: int = 12, progress: bool = False, records: list | None = None
             ) -> dict:
    """Accuracy against ``n`` of greedy answers to each task.

    ``generate_fn(prompts, max_new_tokens) -> continuations`` (e.g.
    :func:`openclrs.lm.evaluate.model_generator`, ``hf_generator``, or a
    diagnostics model adapter's greedy generation). Returns ``{task:
    {"lengths": [...], "accuracy": [...], "parsed": [...], "mean_abs_error":
    [...], "answers": [{answer: count}, ...]}}`` (``answers``: the five most
    common parsed answers per length, as the paper's Fig. 4 shows which
    outputs dominate; unparsed answers count as ``"none"``). Tasks that the
    options do not apply to (separators on ``sum_ones``, ``count_word``) are
    left out. ``records`` receives one dict per example.
    """
    from tqdm.auto import tqdm

    lengths = [int(n) for n in lengths]
    results = {}
    groups = [(t, n) for t in tasks if applies(t, options) for n in lengths]
    for t in tasks:
        check_task(t)
    for task, n in tqdm(groups, disable=not progress, desc="tasks", file=sys.stderr):
        batch = examples(task, n, num_samples, seed, options)
        continuations = generate_fn([e.prompt for e in batch], max_new_tokens)
        parsed = [parse_answer(c) for c in continuations]
        correct = [p == e.answer for p, e in zip(parsed, batch)]
        errors = [abs(p - e.answer) for p, e in zip(parsed, batch) if p is not None]
        row = results.setdefault(task, {"lengths": [], "accuracy": [], "parsed": [],
                                        "mean_abs_error": [], "answers": []})
        row["lengths"].append(n)
        row["accuracy"].append(sum(correct) / len(batch))
        row["parsed"].append(sum(p is not None for p in parsed) / len(batch))
        row["mean_abs_error"].append(sum(errors) / len(errors) if errors else None)
        row["answers"].append({("none" if p is None else str(p)): c for p, c in
                               Counter(parsed).most_common(5)})
        if records is not None:
            records += [{"task": task, "n": n, "prompt": e.prompt, "answer": e.answer,
                         "continuation": c, "parsed": p, "correct": ok}
                        for e, c, p, ok in zip(batch, continuations, parsed, correct)]
    return results


def plot_accuracy(results: dict, path: str, title: str | None = None,
                  train_lengths=None) -> str:
    """One panel per task: accuracy against ``n``, one line per variant.
    ``results``: ``{variant: evaluate(...)}``; train lengths shaded."""
    from .figures import save_figure, subplots

    tasks = [t for t in TASKS if any(t in r for r in results.values())]
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)
    fig, axes = subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for k, (variant, result) in enumerate(results.items()):
            if task in result:  # one colour per variant in every panel
                ax.plot(result[task]["lengths"], result[task]["accuracy"], marker="o",
                        markersize=3, label=variant, color=f"C{k % 10}")
        if train_lengths:
            ax.axvspan(min(train_lengths), max(train_lengths), color="grey", alpha=0.15,
                       linewidth=0, label="train lengths")
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(task, fontsize="medium")
        ax.set_xlabel("n")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    axes.flat[0].set_ylabel("accuracy")
    axes.flat[0].legend(fontsize="small")
    return save_figure(fig, path, dpi=110, title=title, title_size="medium")


# --------------------------------------------------------------------------
# Training: the tasks as an example source of openclrs.lm.train.train.
# --------------------------------------------------------------------------

class TaskExamples:
    """Fresh task examples for every training step (``train(...,
    examples=TaskExamples(...))``): each example picks a task and a length
    uniformly, then separators (every ``separator_every`` digits) with
    probability ``separator_rate`` and the hint with probability
    ``hint_rate``; copy tasks are balanced (the digit to copy is 0 or 1).
    Step ``s``'s batch is a function of ``(seed, s)`` only."""

    loss_on = "answer"

    def __init__(self, tasks=("copy_last", "copy_first", "count_ones", "count_bernoulli"),
                 lengths=tuple(range(1, 33)), seed: int = 0, separator_every: int = 3,
                 separator_rate: float = 0.5, hint_rate: float = 0.0,
                 options: TaskOptions = TaskOptions()):
        self.tasks = tuple(check_task(t).name for t in tasks)
        self.lengths = tuple(int(n) for n in lengths)
        if not self.tasks or not self.lengths or min(self.lengths) < 1:
            raise ValueError("give at least one task and positive lengths")
        for name, rate in (("separator_rate", separator_rate), ("hint_rate", hint_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {rate}")
        self.seed, self.separator_every = int(seed), int(separator_every)
        self.separator_rate, self.hint_rate = float(separator_rate), float(hint_rate)
        self.options = dataclasses.replace(options, balanced=True, separator_every=0, hint=False)
        variant_options(self.options, separator_every=self.separator_every)  # checked

    def __call__(self, step: int, batch_size: int) -> list[tuple[str, str]]:
        rng = stream(self.seed, step)
        pairs = []
        for _ in range(batch_size):
            task = self.tasks[rng.integers(len(self.tasks))]
            n = self.lengths[rng.integers(len(self.lengths))]
            separated = rng.random() < self.separator_rate
            hinted = rng.random() < self.hint_rate
            every = self.separator_every if separated and TASKS[task].kind == "digits" else 0
            options = dataclasses.replace(self.options, separator_every=every, hint=hinted)
            e = make_example(task, n, rng, options)
            pairs.append((e.prompt, answer_text(e.answer)))
        return pairs

    def longest_prompt(self) -> int:
        """Characters of the longest prompt + answer this source can make."""
        longest = 0
        for task in self.tasks:
            every = self.separator_every if TASKS[task].kind == "digits" else 0
            options = dataclasses.replace(self.options, separator_every=every,
                                          hint=self.hint_rate > 0)
            n = max(self.lengths)  # all ones / all the word: the longest count
            e = make_example(task, n, stream(0), dataclasses.replace(options, p_word=1.0,
                                                                      p_one=1.0))
            # count_word: any word may be the longest distractor instead
            wider = n * max(0, max(map(len, DISTRACTORS)) - len(self.options.word)) \
                if task == "count_word" else 0
            longest = max(longest, len(e.prompt) + wider + len(answer_text(e.answer)))
        return longest

    def describe(self) -> dict:
        return {"source": "glasses-tasks", "tasks": list(self.tasks),
                "lengths": list(self.lengths), "seed": self.seed,
                "separator_every": self.separator_every, "separator_rate": self.separator_rate,
                "hint_rate": self.hint_rate, "options": asdict(self.options)}


@dataclass(frozen=True)
class Recipe:
    """The ready recipe: a small char-level LM trained on the tasks on a CPU."""

    tasks: tuple = ("copy_last", "copy_first", "count_ones", "count_bernoulli")
    max_train_length: int = 48  # n is drawn uniformly from 1..this
    separator_every: int = 3
    separator_rate: float = 0.5  # half the examples have separators
    hint_rate: float = 0.0
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 64
    pos_encoding: str = "rope"
    steps: int = 3500
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0


def recipe_configs(out_dir: str, recipe: Recipe = Recipe(), block_size: int | None = None,
                   **train_options):
    """``(LMConfig, TrainConfig, TaskExamples)`` of ``recipe``; ``block_size``
    defaults to 4x the longest training example (room to test longer n)."""
    from ..lm.config import LMConfig, TrainConfig

    source = TaskExamples(recipe.tasks, range(1, recipe.max_train_length + 1), recipe.seed,
                          recipe.separator_every, recipe.separator_rate, recipe.hint_rate)
    model_cfg = LMConfig(n_layer=recipe.n_layer, n_head=recipe.n_head, n_embd=recipe.n_embd,
                         block_size=block_size or 4 * source.longest_prompt(),
                         pos_encoding=recipe.pos_encoding)
    cfg = TrainConfig(**{**dict(out_dir=out_dir, steps=recipe.steps,
                                batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
                                warmup_steps=min(100, recipe.steps // 10), seed=recipe.seed,
                                checkpoint_every=500), **train_options})
    return model_cfg, cfg, source


def train_on_tasks(out_dir: str, recipe: Recipe = Recipe(), resume: bool = True, log=None,
                   **train_options):
    """Train openclrs' char-level LM on the tasks (:func:`recipe_configs`);
    an ordinary LM run folder (``openclrs.lm.train.load_lm``). Returns
    ``(model, tokenizer)``."""
    from ..lm.train import train

    model_cfg, cfg, source = recipe_configs(out_dir, recipe, **train_options)
    return train(model_cfg, cfg, resume=resume, log=log, examples=source)


# --------------------------------------------------------------------------
# `openclrs diagnose tasks`: any model, through the diagnostics' adapter.
# --------------------------------------------------------------------------

def model_generate_fn(model, batch_size: int = 32):
    """``prompts, max_new_tokens -> continuations`` (greedy, batched) of a
    :class:`~openclrs.diagnostics.models.DiagnosedModel` (openclrs or HF)."""
    from ..lm.decode import greedy_decode
    from ..lm.huggingface import hf_greedy_decode

    decode = greedy_decode if model.kind == "openclrs" else hf_greedy_decode

    def run(prompts, max_new_tokens):
        return decode(model.module, model.tokenizer, prompts, max_new_tokens,
                      batch_size=batch_size)
    return run


PARSE_RULES = ("the text after the last restated reply form ('...answer ... is:'), if any; "
               "then the first number: digits (thousands commas allowed; sign and decimals "
               "not read) or an English number word zero..ninety-nine / one hundred")


def diagnose(model, out: str, tasks=tuple(TASKS), lengths=(1, 2, 4, 8, 16, 32, 64, 128),
             samples: int = 20, variants=("plain", "separators", "hint"),
             dtypes=("float32",), seed: int = EVAL_SEED, every: int = 3,
             separator: str = ",", max_new_tokens: int = 12, batch_size: int = 32,
             train: bool = False, train_steps: int | None = None,
             train_max_length: int | None = None, progress: bool = True) -> list[str]:
    """Accuracy against ``n`` of ``model`` (a :class:`~.models.DiagnosedModel`)
    on the tasks, for every prompt variant and dtype; writes ``out/tasks.json``
    and ``out/tasks.png`` and returns their paths. ``train*`` describe the
    recipe run the model came from (``openclrs diagnose tasks --train``) and
    are recorded, nothing else.

    ``tasks.json``::

        {"model": {...}, "tasks": [...], "lengths": [...], "samples": S, "seed": s,
         "variants": {variant: TaskOptions as a dict}, "parse_rules": "...",
         "prompts": {task: {variant: the prompt at the smallest n}},
         "results": {dtype: {variant: {task: {"lengths": [...], "accuracy": [...],
                     "parsed": [...], "mean_abs_error": [...], "answers": [...]}}}}}

    (see :func:`evaluate`; a variant that does not apply to a task, such as
    separators on ``sum_ones``, has no entry for it).
    """
    import os

    from ..files import write_json

    if model is None:
        raise ValueError("diagnose tasks needs a model (--checkpoint or --hf-model)")
    for t in tasks:
        check_task(t)
    lengths = sorted({int(n) for n in lengths})
    chosen = {v: variant_options(v, separator_every=every if v == "separators" else 0,
                                 separator=separator) for v in variants}
    record = {"model": model.describe(), "tasks": list(tasks), "lengths": lengths,
              "samples": samples, "seed": seed, "max_new_tokens": max_new_tokens,
              "variants": {v: asdict(o) for v, o in chosen.items()}, "parse_rules": PARSE_RULES,
              "prompts": {t: {v: make_example(t, lengths[0], task_stream(seed, t, lengths[0]),
                                              o).prompt
                              for v, o in chosen.items() if applies(t, o)} for t in tasks},
              "results": {}}
    if train:
        record["trained_with"] = asdict(recipe_with(train_steps, train_max_length))
    json_path, png_path = os.path.join(out, "tasks.json"), os.path.join(out, "tasks.png")
    curves = {}
    for dtype in dtypes:
        runner = model if str(model.dtype) == f"torch.{dtype}" else model.to(dtype)
        generate = model_generate_fn(runner, batch_size)
        for variant, options in chosen.items():
            result = evaluate(generate, tasks, lengths, samples, seed, options, max_new_tokens,
                              progress)
            record["results"].setdefault(dtype, {})[variant] = result
            curves[f"{variant}, {dtype}" if len(dtypes) > 1 else variant] = result
            write_json(json_path, record)  # as it goes
    plot_accuracy(curves, png_path, title=f"{record['model'].get('name') or 'model'}: "
                  f"greedy answers, {samples} per point")
    return [json_path, png_path]


def recipe_with(steps: int | None = None, max_train_length: int | None = None) -> Recipe:
    """The recipe with the command line's changes (``None``: the recipe's)."""
    changes = {k: v for k, v in (("steps", steps), ("max_train_length", max_train_length))
               if v is not None}
    return dataclasses.replace(Recipe(), **changes)


def train_recipe(out_dir: str, steps: int | None = None, max_train_length: int | None = None,
                 progress: bool = True):
    """``openclrs diagnose tasks --checkpoint DIR --train``: the recipe trained
    (or resumed) in ``out_dir`` before it is evaluated."""
    if not out_dir:
        raise ValueError("--train trains openclrs' LM into the run folder --checkpoint DIR; "
                         "give --checkpoint (not --hf-model)")
    return train_on_tasks(out_dir, recipe_with(steps, max_train_length), progress=progress)


__all__ = ["COPY_REPLY", "COUNT_REPLY", "EVAL_SEED", "Example", "PAPER_HINT", "Recipe", "TASKS",
           "Task", "TaskExamples", "TaskOptions", "VARIANTS", "diagnose", "evaluate", "examples",
           "make_example", "model_generate_fn", "parse_answer", "plot_accuracy", "recipe_configs",
           "recipe_with", "train_on_tasks", "train_recipe", "variant_options", "with_separators"]
