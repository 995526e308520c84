"""``openclrs diagnose ...``: why Transformers fail at algorithms, measured on
an openclrs LM or any local Hugging Face causal LM (:mod:`openclrs.diagnostics`).

::

    openclrs diagnose collapse --hf-model models/gemma --dtypes float32 bfloat16 --out diag/
    openclrs diagnose oversquash --checkpoint runs/count --out diag/
    openclrs diagnose synthetic --out diag/
    openclrs diagnose rope --checkpoint runs/count --out diag/
    openclrs diagnose tasks --hf-model models/qwen --out diag/

Every command writes ``<out>/<command>.json`` (the schema is in the
docstring of the module that computes it) and PNG plots beside it. Each
command's library function is ``openclrs.diagnostics.<command>.diagnose(model,
out, **options)``: the options are the command's own (every parsed option
but the model, ``--out`` and the command's name).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .arguments import add_command, fraction, positive_int, seed32
from .policy import run_command

DTYPE_CHOICES = ("float32", "bfloat16", "float16", "float64")
SHARED = {"command", "diagnostic", "func", "checkpoint", "hf_model", "out"}
DESCRIPTION = ("Representational collapse, over-squashing (Barbero et al. 2024, \"Transformers "
               "need glasses!\"), RoPE frequency usage (Barbero et al. 2025, \"Round and Round "
               "We Go!\"), counting and copying tasks, and synthetic checks of the theory.")


def load_model(args):
    """The :class:`~openclrs.diagnostics.models.DiagnosedModel` that
    ``--checkpoint`` or ``--hf-model`` names (``None`` if neither)."""
    from ..diagnostics.models import DiagnosedModel

    if args.checkpoint:
        return DiagnosedModel.from_path(args.checkpoint, kind="openclrs")
    if args.hf_model:
        return DiagnosedModel.from_path(args.hf_model, kind="hf")
    return None


def cmd_diagnose(args) -> int:
    from ..files import check_path

    check_path(args.out, folder=True, what="--out")   # before the model is loaded
    module = importlib.import_module(f"..diagnostics.{args.diagnostic}", __package__)
    options = {k: v for k, v in vars(args).items() if k not in SHARED}
    if getattr(args, "train", False):  # `tasks --train`: the recipe trained into --checkpoint
        module.train_recipe(args.checkpoint, args.train_steps, args.train_max_length)
    written = module.diagnose(load_model(args), args.out, **options)
    for path in written or ():
        print(path)
    return 0


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The model (one of two), ``--dtypes`` and ``--out``: every command's."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", metavar="DIR",
                       help="an openclrs LM: a `text train` run folder, one of its checkpoints, "
                            "or a saved model folder")
    which.add_argument("--hf-model", metavar="PATH",
                       help="a local Hugging Face causal LM folder (safetensors; nothing is "
                            "downloaded)")
    add_common_options(p)


def add_common_options(p: argparse.ArgumentParser, dtypes=("float32", "bfloat16", "float16")
                       ) -> None:
    p.add_argument("--dtypes", nargs="+", choices=DTYPE_CHOICES, default=list(dtypes),
                   metavar="DTYPE", help=f"compute in these dtypes (of {', '.join(DTYPE_CHOICES)}; "
                                         f"default {' '.join(dtypes)})")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the JSON results and PNG plots")


def add_collapse_options(p: argparse.ArgumentParser) -> None:
    from ..diagnostics.families import FAMILY_NAMES

    p.add_argument("--families", nargs="+", default=["count_ones"], choices=FAMILY_NAMES,
                   metavar="FAMILY", help=f"sequence-pair families ({', '.join(FAMILY_NAMES)}; "
                                          "default count_ones); the first is collapse.json's "
                                          "top-level curve")
    p.add_argument("--template", action="append", default=[], metavar="TEXT",
                   help="your own family: TEXT with {seq} where the n (vs n+1) repeated "
                        "--unit go, e.g. 'Count: {seq}' (repeatable)")
    p.add_argument("--unit", default="1", help="the repeated text of --template (default 1)")
    p.add_argument("--max-length", type=positive_int, default=128, metavar="N",
                   help="longest n (default 128)")
    p.add_argument("--step", type=positive_int, default=1, help="n goes 1, 1+step, ... "
                                                                 "(default 1)")
    p.add_argument("--separator", default=",", help="the separator of the *_separated "
                                                     "families (default ',')")
    p.add_argument("--every", type=positive_int, default=3,
                   help="a separator after every this many digits (default 3)")
    p.add_argument("--state", choices=("residual", "normed"), default="residual",
                   help="residual: v^(L) before the final norm (the theorem's); normed: "
                        "y = norm(v^(L)) (default residual)")
    p.add_argument("--merged-digits", action="store_true",
                   help="tokenise digit runs as the tokenizer would (default: one token per "
                        "character of the repeated part)")
    p.add_argument("--seed", type=seed32, default=0, help="seed of the random digits")


def add_oversquash_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lengths", nargs="+", type=positive_int, default=[16, 32, 64],
                   metavar="N", help="sequence lengths in digits (default 16 32 64)")
    p.add_argument("--sequence", choices=("ones", "random"), default="ones",
                   help="the digits: all ones, or random digits (default ones)")
    p.add_argument("--prompt", default="Copy the following number: ",
                   help="the text before the digits")
    p.add_argument("--suffix", default="",
                   help="text after the digits (default none: the last digit is the "
                        "differentiated position)")
    p.add_argument("--state", choices=("residual", "normed"), default="residual",
                   help="the differentiated state (default residual: v^(L))")
    p.add_argument("--beta", type=float, default=1.0,
                   help="the path proxy's LayerNorm constant beta: prod_l (A_l / beta + I), "
                        "rows renormalised (default 1, the paper's Prop. 5.2)")
    p.add_argument("--seed", type=seed32, default=0, help="seed of the random digits")


def add_synthetic_options(p: argparse.ArgumentParser) -> None:
    add_common_options(p, dtypes=("float32", "bfloat16"))
    p.add_argument("--max-length", type=positive_int, default=65536, metavar="N",
                   help="longest sequence of the collapse curves (default 65536)")
    p.add_argument("--seeds", type=positive_int, default=5,
                   help="seeds of the softmax total-variation curve (default 5)")
    p.add_argument("--seed", type=seed32, default=0, help="seed of the Gaussian tokens")


def add_rope_options(p: argparse.ArgumentParser) -> None:
    """``openclrs diagnose rope``'s own options (openclrs.diagnostics.rope)."""
    p.add_argument("--text", action="append", dest="texts", default=None, metavar="TEXT",
                   help="a text to measure over (repeatable; default: ten Shakespeare lines)")
    p.add_argument("--texts-file", metavar="FILE",
                   help="texts to measure over, one per non-empty line (UTF-8)")
    p.add_argument("--max-tokens", type=positive_int, default=128, metavar="N",
                   help="tokens of each text used (default 128)")
    p.add_argument("--positional-threshold", type=fraction, default=0.5, metavar="P",
                   help="a head whose mean diagonal or previous-token attention is above P is "
                        "listed as positional (default 0.5)")


def add_tasks_options(p: argparse.ArgumentParser) -> None:
    """``openclrs diagnose tasks``'s own options (openclrs.diagnostics.tasks)."""
    from ..diagnostics.tasks import TASKS, VARIANTS

    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS),
                   metavar="TASK", help=f"tasks ({', '.join(TASKS)}; default all)")
    p.add_argument("--lengths", nargs="+", type=positive_int, default=[1, 2, 4, 8, 16, 32, 64, 128],
                   metavar="N", help="sequence lengths n (default 1 2 4 8 16 32 64 128)")
    p.add_argument("--samples", type=positive_int, default=20,
                   help="examples per task and n (default 20)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   metavar="VARIANT", help="prompt variants: plain, separators (the paper's "
                                           "remedy: a separator every --every digits), hint "
                                           "(the paper's hint sentence) (default all)")
    p.add_argument("--separator", default=",", help="the separator (default ',')")
    p.add_argument("--every", type=positive_int, default=3,
                   help="a separator after every this many digits (default 3)")
    p.add_argument("--max-new-tokens", type=positive_int, default=12,
                   help="greedy tokens generated per answer (default 12)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="prompts decoded together (default 32)")
    p.add_argument("--seed", type=seed32, default=20_240_604, help="seed of the examples")
    p.add_argument("--train", action="store_true",
                   help="first train openclrs' char-level LM on the tasks with the ready recipe "
                        "into --checkpoint DIR (resumes if it is there), then evaluate it")
    p.add_argument("--train-steps", type=positive_int, default=None, metavar="N",
                   help="--train: optimizer steps (default: the recipe's, 3500)")
    p.add_argument("--train-max-length", type=positive_int, default=None, metavar="N",
                   help="--train: train on n = 1..N (default: the recipe's, 48)")


# command -> (help line, its own options)
DIAGNOSTICS = {
    "collapse": ("representational collapse: last-token distance of n vs n+1 repeated digits, "
                 "per dtype", add_collapse_options),
    "oversquash": ("over-squashing: the last token's Jacobian norms per input position beside "
                   "the attention path proxy", add_oversquash_options),
    "synthetic": ("the theory on one synthetic attention layer (no model): collapse in fp32 vs "
                  "bf16, softmax decay, RoPE decay, a sharp diagonal head", add_synthetic_options),
    "rope": ("RoPE frequency usage per layer, head and frequency; positional heads",
             add_rope_options),
    "tasks": ("counting and copying accuracy against n, with remedies", add_tasks_options),
}
NO_MODEL = {"synthetic"}


def _add_group(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="diagnostic", metavar="COMMAND", required=True)
    for name, (help_text, add_options) in DIAGNOSTICS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name not in NO_MODEL:
            add_model_options(p)
        add_options(p)
        p.set_defaults(func=cmd_diagnose, checkpoint=None, hf_model=None) if name in NO_MODEL \
            else p.set_defaults(func=cmd_diagnose)
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``diagnose`` command group to a top-level CLI's subparsers."""
    return _add_group(add_command(subparsers, "diagnose", DESCRIPTION))


def build_parser() -> argparse.ArgumentParser:
    """The group on its own (``openclrs diagnose``'s parser)."""
    return _add_group(argparse.ArgumentParser(prog="openclrs diagnose", description=DESCRIPTION))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["diagnose"]:
        argv = argv[1:]
    return run_command(build_parser().parse_args(argv))
