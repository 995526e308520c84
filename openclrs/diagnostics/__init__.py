"""Why Transformers fail at algorithms: diagnostics for any causal LM.

* :mod:`.models`: :class:`~.models.DiagnosedModel`, one view of an openclrs LM
  or a local Hugging Face causal LM (tokens, recorded forward passes,
  attention weights, gradients through the token embeddings, dtypes);
* :mod:`.collapse`: representational collapse (Barbero et al. 2024, §4);
* :mod:`.oversquash`: over-squashing: Jacobian norms and the path proxy (§5);
* :mod:`.synthetic`: the theory checked on one attention layer, in seconds;
* :mod:`.rope`: RoPE frequency usage (Barbero et al. 2025);
* :mod:`.tasks`: counting and copying tasks;
* :mod:`.families`: the collapse probe's sequence pairs and the one source
  of random digits; :mod:`.figures`: how every PNG is made and saved.

A capability: it imports the core and openclrs.lm, and nothing imports it
but the command line.
"""
