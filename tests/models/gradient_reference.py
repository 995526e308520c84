"""Float64 losses and gradients of every processor on every algorithm, saved
from one version of the code and compared against another.

Reshaping the models must not change what they compute. Before a reshaping,
save the reference from the old code (a ``git worktree`` of it on the path);
after it, compare the new code with it::

    git worktree add /tmp/models-base HEAD
    PYTHONPATH=/tmp/models-base python tests/models/gradient_reference.py save /tmp/ref.npz
    # ... reshape ...
    python tests/models/gradient_reference.py compare /tmp/ref.npz

For every variant (each registered processor with its published options, a
few other reductions and head counts, and the Triplet-GMPNN under other
model options) and every algorithm, a float64 Reasoner (hidden size 8) is
built under a fixed seed on a batch of 2 traces at n = 5; the script records
its parameters, the training loss and the gradient of every parameter, and
the evaluation-mode outputs. ``compare`` loads the saved parameters into the
new model (matched by order: names may change, order may not) and reports
the largest relative difference of any loss, gradient or output (per
tensor: max |new - old| / max |old|), and whether the same seed still gives
the same initial parameters.

MemNet's tables start at zero, which makes all its gradients zero; they are
randomised here so that the comparison says something.

``digest`` writes a small summary of a subset of the cases (each processor
on three algorithms, the Triplet-GMPNN on all of them): the loss, and the
norm and the projection on a fixed random direction of all the gradients
(in parameter order) and of all the outputs. ``test_gradient_digest.py``
checks the current code against the stored one, so that any change of what
the models compute shows (regenerate it only for a deliberate change, and
say so)::

    python tests/models/gradient_reference.py digest tests/models/data/gradient_digest.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

HIDDEN, BATCH, NODES = 8, 2, 5

# (label, ModelConfig keywords); every registered processor is added below.
EXTRA_VARIANTS = [
    ("pgn/mean", dict(processor="pgn", processor_options={"reduction": "mean"})),
    ("pgn/sum", dict(processor="pgn", processor_options={"reduction": "sum"})),
    ("mpnn/mean", dict(processor="mpnn", processor_options={"reduction": "mean"})),
    ("mpnn/sum", dict(processor="mpnn", processor_options={"reduction": "sum"})),
    ("deepsets/mean", dict(processor="deepsets", processor_options={"reduction": "mean"})),
    ("deepsets/sum", dict(processor="deepsets", processor_options={"reduction": "sum"})),
    ("gat/heads2", dict(processor="gat", nb_heads=2)),
    ("gatv2/heads2", dict(processor="gatv2", nb_heads=2)),
    ("triplet_gmpnn/lstm", dict(use_lstm=True)),
    ("triplet_gmpnn/steps2", dict(nb_msg_passing_steps=2)),
    ("triplet_gmpnn/decoded_only", dict(hint_mode="decoded_only")),
    ("triplet_gmpnn/forcing_dropout", dict(hint_teacher_forcing=0.5, dropout=0.1)),
    ("triplet_gmpnn/hard", dict(hint_repred_mode="hard")),
]
MEMNET_TABLES = ("query_biases", "stories_biases", "memory_contents", "output_biases")


def variants():
    from openclrs.models.processors import PROCESSORS

    return [(kind, dict(processor=kind)) for kind in sorted(PROCESSORS)] + EXTRA_VARIANTS


def build(algorithm, options, batch):
    """The seeded float64 model of one case (MemNet tables randomised)."""
    from openclrs.models.model import ModelConfig, Reasoner

    torch.manual_seed(0)
    model = Reasoner({algorithm: batch.spec}, ModelConfig(hidden_size=HIDDEN, **options)).double()
    if "memnet" in model.config.processor:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name in MEMNET_TABLES:
                table = getattr(model.processor, name)
                table.copy_(0.1 * torch.randn(table.shape, generator=g, dtype=table.dtype))
    return model


def run(model, batch):
    """Loss, gradients (in parameter order) and evaluation outputs."""
    model.zero_grad()
    torch.manual_seed(1)
    model.train()
    loss, _ = model.loss(batch)
    loss.backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone()
             for _, p in model.named_parameters()]
    torch.manual_seed(2)
    with torch.no_grad():
        outputs = model(batch, repred=True).outputs
    return loss.detach(), grads, outputs


def cases(only=None):
    from openclrs.data.torch import TraceStream
    from openclrs.specs import ALL_ALGS

    for label, options in variants():
        for algorithm in ALL_ALGS:
            key = f"{label}|{algorithm}"
            if only and not any(s in key for s in only):
                continue
            stream = TraceStream(algorithm, batch_size=BATCH, lengths=(NODES,), seed=0,
                                 as_torch=False)
            yield key, algorithm, options, next(iter(stream)).to_torch()


DIGEST_ALGORITHMS = ("bfs", "insertion_sort", "floyd_warshall")


def digest_cases():
    """(variant, algorithm) pairs of the digest."""
    from openclrs.specs import ALL_ALGS

    pairs = [(label, a) for label, _ in variants() if "/" not in label
             for a in DIGEST_ALGORITHMS]
    return pairs + [("triplet_gmpnn", a) for a in ALL_ALGS if a not in DIGEST_ALGORITHMS]


def summary(tensors) -> list[float]:
    """Norm and projection on a fixed random direction of the tensors laid
    end to end (in order: a changed parameter order shows too)."""
    x = torch.cat([t.detach().double().flatten() for t in tensors])
    direction = torch.randn(x.numel(), generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
    return [float(x.norm()), float(x @ direction)]


def digest(only=None) -> dict:
    """Per case: the loss, then norm and projection of all gradients, then
    of all evaluation outputs."""
    wanted = {f"{label}|{a}" for label, a in digest_cases()}
    result = {}
    for key, algorithm, options, batch in cases(only):
        if key not in wanted:
            continue
        loss, grads, outputs = run(build(algorithm, options, batch), batch)
        result[key] = [float(loss), *summary(grads),
                       *summary(outputs[k] for k in sorted(outputs))]
    return result


def save(path, only=None):
    arrays, index = {}, {}
    for key, algorithm, options, batch in cases(only):
        model = build(algorithm, options, batch)
        names = [n for n, _ in model.named_parameters()]
        for n, p in model.named_parameters():
            arrays[f"{key}|param|{n}"] = p.detach().numpy()
        loss, grads, outputs = run(model, batch)
        arrays[f"{key}|loss"] = loss.numpy()
        for n, g in zip(names, grads):
            arrays[f"{key}|grad|{n}"] = g.numpy()
        for n, o in outputs.items():
            arrays[f"{key}|out|{n}"] = o.numpy()
        index[key] = {"params": names, "outputs": sorted(outputs)}
    arrays["index"] = np.array(json.dumps(index))
    np.savez_compressed(path, **arrays)
    print(f"saved {len(index)} cases to {path}")


def relative(new: torch.Tensor, old: np.ndarray) -> float:
    old = torch.as_tensor(old)
    if new.shape != old.shape:
        return float("inf")
    scale = old.abs().max().item() if old.numel() else 0.0
    diff = (new.double() - old.double()).abs().max().item() if old.numel() else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def compare(path, only=None, tolerance=1e-12):
    ref = np.load(path)
    index = json.loads(str(ref["index"]))
    worst, worst_case, bad, init_differs, renamed = 0.0, None, [], 0, {}
    count = 0
    for key, algorithm, options, batch in cases(only):
        if key not in index:
            continue
        count += 1
        old_names = index[key]["params"]
        model = build(algorithm, options, batch)
        new_names = [n for n, _ in model.named_parameters()]
        if len(new_names) != len(old_names):
            bad.append(f"{key}: {len(new_names)} parameters, reference {len(old_names)}")
            continue
        for old, (new, p) in zip(old_names, model.named_parameters()):
            if old != new:  # per decoder class: decoders.{algorithm}.{probe}.{layer}
                short = (lambda name: name.split(".", 3)[-1] if name.startswith("decoders")
                         else name)
                renamed.setdefault(short(old), set()).add(short(new))
            if not torch.equal(p.detach(), torch.as_tensor(ref[f"{key}|param|{old}"])):
                init_differs += 1
        # The reference parameters, matched by order (names may have changed;
        # order may not, or published weights would no longer map onto them).
        state = model.state_dict()
        for old, new in zip(old_names, new_names):
            state[new] = torch.as_tensor(ref[f"{key}|param|{old}"])
        model.load_state_dict(state, strict=True)
        loss, grads, outputs = run(model, batch)
        errors = [("loss", relative(loss, ref[f"{key}|loss"]))]
        errors += [(f"grad {n}", relative(g, ref[f"{key}|grad|{n}"]))
                   for n, g in zip(old_names, grads)]
        if sorted(outputs) != index[key]["outputs"]:
            bad.append(f"{key}: outputs {sorted(outputs)}")
        errors += [(f"out {n}", relative(o, ref[f"{key}|out|{n}"])) for n, o in outputs.items()
                   if f"{key}|out|{n}" in ref]
        for what, err in errors:
            if err > worst:
                worst, worst_case = err, f"{key} {what}"
            if err > tolerance:
                bad.append(f"{key} {what}: {err:.3g}")
    print(f"{count} cases; largest relative difference {worst:.3g} ({worst_case})")
    print(f"initial parameters under the same seed differ in {init_differs} tensors")
    if renamed:
        print("renamed parameters (old -> new):")
        for old, new in sorted(renamed.items()):
            print(f"  {old} -> {' / '.join(sorted(new))}")
    if bad:
        print(f"{len(bad)} over {tolerance}:")
        print("\n".join(bad[:40]))
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["save", "compare", "digest"])
    parser.add_argument("path")
    parser.add_argument("--only", nargs="*", help="substrings of 'variant|algorithm' to run")
    parser.add_argument("--tolerance", type=float, default=1e-12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import openclrs

    print(f"openclrs from {openclrs.__file__}")
    start = time.time()
    if args.action == "save":
        save(args.path, args.only)
        status = 0
    elif args.action == "digest":
        from openclrs.files import write_json

        result = digest(args.only)
        write_json(args.path, result)
        print(f"digest of {len(result)} cases written to {args.path}")
        status = 0
    else:
        status = compare(args.path, args.only, args.tolerance)
    print(f"{time.time() - start:.0f} s")
    sys.exit(status)


if __name__ == "__main__":
    main()
