"""Training parity with the published JAX model: same parameters, same batches.

    python benchmarks/training_parity.py --reference-python .ref/bin/python
    python benchmarks/training_parity.py --algorithms insertion_sort --steps 30 --reference-python ...

For each algorithm, the published Triplet-GMPNN (dm-clrs 2.0.3, run in a
subprocess with ``--reference-python``) is initialised, samples ``--steps``
batches of 32 at n = 16 with the run.py preprocessing, computes its gradients
on the first batch and trains on all of them; its parameters are then loaded
into an openclrs Reasoner, which computes the gradients on the same first
batch and trains on the same batches with openclrs' own update. Gumbel noise
is off on both sides (the published one through a wrapper), so the runs are
deterministic. Reported: the loss on the first batch, the largest relative
gradient error over the parameters (those whose published gradient is
essentially zero are listed apart: the biases of score heads whose softmax
ignores them), the same for openclrs in float64 (which isolates the published
side's own float32 rounding), and the relative loss difference at each step,
which starts at float precision and grows as the two float32 runs drift apart
(Adam turns last-bit differences in near-zero gradients into full-size steps).
Results go to ``benchmarks/results/training_parity.json``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import published_reference  # noqa: E402  (beside this file)

REFERENCE = r"""
import pickle, sys
import clrs._src.decoders as decoders
algorithm, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sinkhorn = decoders.log_sinkhorn
decoders.log_sinkhorn = lambda x, steps, temperature, zero_diagonal, noise_rng_key: sinkhorn(
    x, steps, temperature, zero_diagonal, None)
spec, data = published_batches(algorithm, 16, 32, steps, 1, -1, np.random.RandomState(0))
model = published_model(spec, data, 5)
init = jax.device_get(model.params)
loss0, grads = model.compute_grad(jax.random.PRNGKey(1), data[0])
key, losses = jax.random.PRNGKey(0), []
for feedback in data:
    key, sub = jax.random.split(key)
    losses.append(float(model.feedback(sub, feedback)))
arrays = lambda points: {d.name: np.asarray(d.data) for d in points}
batches = [{"inputs": arrays(f.features.inputs), "hints": arrays(f.features.hints),
            "outputs": arrays(f.outputs), "lengths": np.asarray(f.features.lengths)}
           for f in data]
with open(out, "wb") as f:
    pickle.dump({"init": init, "grads": jax.device_get(grads), "loss0": float(loss0),
                 "losses": losses, "batches": batches}, f)
"""

# Haiku module names of the published PGN, in creation order.
PROCESSOR = {"m_1": "linear", "m_2": "linear_1", "m_e": "linear_2", "m_g": "linear_3",
             "o1": "linear_4", "o2": "linear_5", "triplets.t_1": "linear_6",
             "triplets.t_2": "linear_7", "triplets.t_3": "linear_8",
             "triplets.t_e_1": "linear_9", "triplets.t_e_2": "linear_10",
             "triplets.t_e_3": "linear_11", "triplets.t_g": "linear_12",
             "triplets.o3": "linear_13", "gate.node": "linear_14", "gate.message": "linear_15",
             "gate.out": "linear_16", "msgs_mlp.0": "mlp/~/linear_0",
             "msgs_mlp.2": "mlp/~/linear_1"}
PROCESSOR_SCOPE = "net/mpnn_aggr_clrs_processor/"
PROBE_SCOPE = "net/~_construct_encoders_decoders/algo_0_"


def to_state_dict(params: dict, model, algorithm: str) -> dict:
    """Published (Haiku) Triplet-GMPNN parameters -> a state dict of ``model``.

    A probe's decoder layers are ``{probe}_dec_linear``, ``..._linear_1``,
    ... in creation order, which is the order of the decoder's named layers."""
    import numpy as np
    import torch

    state = {}
    for ours, theirs in PROCESSOR.items():
        state[f"processor.{ours}.weight"] = params[PROCESSOR_SCOPE + theirs]["w"].T
        state[f"processor.{ours}.bias"] = params[PROCESSOR_SCOPE + theirs]["b"]
    state["processor.ln.weight"] = params[PROCESSOR_SCOPE + "layer_norm"]["scale"]
    state["processor.ln.bias"] = params[PROCESSOR_SCOPE + "layer_norm"]["offset"]
    for scope, value in params.items():
        if not scope.startswith(PROBE_SCOPE):
            continue
        name, kind, k = re.fullmatch(r"(.*)_(enc|dec)_linear(?:_(\d+))?",
                                     scope[len(PROBE_SCOPE):]).groups()
        if kind == "enc":
            prefix = f"encoders.{algorithm}.{name}.linear"
        else:
            layers = [layer for layer, _ in model.decoders[algorithm][name].named_children()]
            prefix = f"decoders.{algorithm}.{name}.{layers[int(k or 0)]}"
        state[prefix + ".weight"] = value["w"].T
        state[prefix + ".bias"] = value["b"]
    return {k: torch.tensor(np.asarray(v)) for k, v in state.items()}


def to_batch(arrays: dict, algorithm: str, spec):
    """A published Feedback's arrays -> a Batch (permutations as indices)."""
    from openclrs.data.batching import Batch

    def convert(group, time_major=False):
        out = {}
        for name, value in group.items():
            if spec[name][2] == "permutation_pointer" and value.ndim == 3 + time_major:
                value = value.argmax(-1)  # one-hot rows -> node indices
            out[name] = value
        return out

    return Batch(algorithm, convert(arrays["inputs"]), convert(arrays["hints"], True),
                 convert(arrays["outputs"]), arrays["lengths"], spec).to_torch()


def compare(algorithm: str, ref: dict) -> dict:
    import torch

    from openclrs.training import distributed
    from openclrs.models.config import ModelConfig
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import build_model, make_optimizer, update

    config = TrainConfig(algorithms=[algorithm],
                         model=ModelConfig(sinkhorn_noise=False)).validate()
    model = build_model(config)
    model.load_state_dict(to_state_dict(ref["init"], model, algorithm), strict=True)
    spec = model.specs[algorithm]
    batches = [to_batch(b, algorithm, spec) for b in ref["batches"]]

    published = to_state_dict(ref["grads"], model, algorithm)
    null = [name for name, g in published.items() if float(g.norm()) < 1e-6]

    def gradient_errors(model):
        loss, _ = model.loss(batches[0])
        loss.backward()
        return loss, {name: float((p.grad.double() - published[name].double()).norm()
                                  / published[name].double().norm())
                      for name, p in model.named_parameters() if name not in null}

    # The same model in float64: its gradients are the exact ones up to
    # 1e-15, so their distance to the published float32 gradients is the
    # published side's own rounding, and what float32 openclrs adds on top
    # is its rounding (another order of the same operations).
    exact = build_model(config).double()
    exact.load_state_dict(model.state_dict())
    _, exact_errors = gradient_errors(exact)
    loss0, errors = gradient_errors(model)
    worst = max(errors, key=errors.get)

    optimizer = make_optimizer(model, config)
    loss_of = distributed.loss_function(model, distributed.Context())
    losses = [update(model, optimizer, loss_of, b, config) for b in batches]
    drift = [abs(a - b) / abs(b) for a, b in zip(losses, ref["losses"])]
    return {"loss0": float(loss0.detach()), "published_loss0": ref["loss0"],
            "max_grad_rel_error": errors[worst], "worst_parameter": worst,
            "max_grad_rel_error_float64": max(exact_errors.values()),
            "zero_gradient_parameters": null, "loss_rel_diff_by_step": drift}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=["bfs", "insertion_sort"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--reference-python", required=True,
                        help="python of a venv with dm-clrs==2.0.3")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "training_parity.json"))
    args = parser.parse_args()

    import torch

    from openclrs.files import write_json

    torch.set_num_threads(1)
    results = {}
    for algorithm in args.algorithms:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "reference.pkl")
            published_reference.run(args.reference_python, REFERENCE,
                                    [algorithm, str(args.steps), path], f"run for {algorithm}")
            with open(path, "rb") as f:
                ref = pickle.load(f)
        results[algorithm] = r = compare(algorithm, ref)
        drift = r["loss_rel_diff_by_step"]
        print(f"{algorithm:16s} loss0 {r['loss0']:.6f} (published {r['published_loss0']:.6f})  "
              f"max grad rel error {r['max_grad_rel_error']:.1e} ({r['worst_parameter']}; "
              f"in float64 {r['max_grad_rel_error_float64']:.1e})  "
              f"loss drift: step 1 {drift[1]:.1e}, step {len(drift) - 1} {drift[-1]:.1e}")
    write_json(args.out, results)


if __name__ == "__main__":
    main()
