"""Learned halting: recurrent computations that decide when they are done.

* :mod:`.ponder` — PonderNet (Banino et al. 2021): the halting distribution,
  the truncated geometric prior, the loss, sampled/thresholded evaluation,
  and a λ head.
* :mod:`.act` — Adaptive Computation Time (Graves 2016), the baseline.
* :mod:`.termination` — a NEGA-style supervised termination head
  (Veličković et al. 2020) and its BCE loss.
* :mod:`.parity` — the parity benchmark (task, models, trainer, evaluation);
  its settings in :mod:`.parity_config` (no torch).

Tensors are step-major, ``(steps, batch)``.
"""
