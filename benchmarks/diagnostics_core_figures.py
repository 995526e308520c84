"""The README's collapse and over-squashing figures on a small openclrs LM
trained here to count ones (CPU, a few minutes).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/diagnostics_core_figures.py

1. Trains (or reuses, if ``--work/model`` exists) a 2-layer, 4-head, width-64
   RoPE LM on "How many ones are in the following sequence? 1…1" -> " n",
   with n uniform in [1, --max-n], half the questions with a comma after
   every third digit (the paper's separators), the loss on the answer.
2. Greedy counting accuracy per n (plain and separated), n up to 2x --max-n.
3. ``openclrs.diagnostics.collapse`` (count_ones, count_ones_separated,
   count_random, copy_ones) in float32, bfloat16, float16 and
   ``openclrs.diagnostics.oversquash`` (n = 16, 48) in float32 and bfloat16.

Writes benchmarks/results/diagnostics_core_figures.json (each part is kept
as it finishes; a rerun skips finished parts) and docs/images/diag-collapse.png,
docs/images/diag-oversquash.png (``--pos-encoding none``: the same with a
``_none`` suffix, the NoPE model).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from openclrs.diagnostics import collapse, oversquash  # noqa: E402
from openclrs.diagnostics.families import COUNT_PROMPT, separated  # noqa: E402
from openclrs.diagnostics.models import DiagnosedModel  # noqa: E402
from openclrs.files import read_json, write_json  # noqa: E402
from openclrs.lm.config import LMConfig  # noqa: E402
from openclrs.lm.model import GPT, load_model, save_model  # noqa: E402
from openclrs.lm.tokenizer import CharTokenizer  # noqa: E402
from openclrs.lm.train import answer_loss, make_batch  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
RESULTS = os.path.join(ROOT, "benchmarks", "results", "diagnostics_core_figures.json")
IMAGES = os.path.join(ROOT, "docs", "images")


def example(rng: random.Random, max_n: int) -> tuple[str, str]:
    n = rng.randint(1, max_n)
    ones = "1" * n
    if rng.random() < 0.5:
        ones = separated(ones, ",", 3)
    return COUNT_PROMPT + ones, f" {n}"


def train(folder: str, steps: int, max_n: int, seed: int = 0, encoding: str = "rope") -> dict:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = CharTokenizer()
    model = GPT(LMConfig(n_layer=2, n_head=4, n_embd=64, block_size=512, pos_encoding=encoding))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    start, losses = time.time(), []
    for step in range(steps):
        lr = 3e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * (1 - step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        inputs, targets = make_batch([example(rng, max_n) for _ in range(32)], tokenizer, 512)
        loss = answer_loss(model, inputs, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 100 == 0:
            print(f"step {step} loss {sum(losses[-100:]) / len(losses[-100:]):.4f}", flush=True)
    model.eval()
    save_model(folder, model, tokenizer)
    return {"steps": steps, "max_n": max_n, "seed": seed, "pos_encoding": encoding,
            "seconds": time.time() - start,
            "final_loss": sum(losses[-50:]) / 50}


def accuracy(model: DiagnosedModel, max_n: int) -> dict:
    out = {"n": list(range(1, 2 * max_n + 1)), "plain": [], "separated": []}
    for n in out["n"]:
        for kind in ("plain", "separated"):
            ones = "1" * n if kind == "plain" else separated("1" * n, ",", 3)
            reply = model.generate_greedy(COUNT_PROMPT + ones, max_new_tokens=4)
            out[kind].append(reply.strip().split("\n")[0] == str(n))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/openclrs_diag_figures")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--max-n", type=int, default=48)
    p.add_argument("--max-length", type=int, default=120)
    p.add_argument("--pos-encoding", default="rope",
                   help="the LM's positional encoding; not rope: files get a _<encoding> suffix")
    args = p.parse_args(argv)
    tag = "" if args.pos_encoding == "rope" else f"_{args.pos_encoding}"
    results_path = RESULTS.replace(".json", f"{tag}.json")
    torch.set_num_threads(1)
    results = read_json(results_path) if os.path.exists(results_path) else {}
    folder = os.path.join(args.work, "model" + tag)
    if not os.path.exists(folder):
        results["training"] = train(folder, args.steps, args.max_n, encoding=args.pos_encoding)
        results.pop("accuracy", None)
        results.pop("collapse", None)
        results.pop("oversquash", None)
        write_json(results_path, results)
    gpt, tokenizer, _ = load_model(folder)
    model = DiagnosedModel.from_module(gpt, tokenizer)
    model.name = f"count-ones LM ({args.pos_encoding})"
    if "accuracy" not in results:
        results["accuracy"] = accuracy(model, args.max_n)
        write_json(results_path, results)
    out = os.path.join(args.work, "diagnose" + tag)
    if "collapse" not in results:
        paths = collapse.diagnose(model, out, families=("count_ones", "count_ones_separated",
                                                        "count_random", "copy_ones"),
                                  max_length=args.max_length)
        results["collapse"] = read_json(paths[0])
        results["collapse_info"] = read_json(paths[1])
        write_json(results_path, results)
        shutil.copyfile(paths[2], os.path.join(IMAGES, f"diag-collapse{tag}.png"))
    if "oversquash" not in results:
        paths = oversquash.diagnose(model, out, lengths=(16, 48),
                                    prompt=COUNT_PROMPT, dtypes=("float32", "bfloat16"))
        results["oversquash"] = read_json(paths[0])
        write_json(results_path, results)
        shutil.copyfile(paths[1], os.path.join(IMAGES, f"diag-oversquash{tag}.png"))
    for dtype, entry in results["collapse"].items():
        print(dtype, {f: c["collapse_length"] for f, c in entry["families"].items()})
    acc = results["accuracy"]
    for kind in ("plain", "separated"):
        print(kind, "accuracy n<=max_n:", sum(acc[kind][:args.max_n]) / args.max_n,
              "beyond:", sum(acc[kind][args.max_n:]) / args.max_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
