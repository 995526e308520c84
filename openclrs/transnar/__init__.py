"""TransNAR (Bounsi et al. 2024): a Transformer whose tokens cross-attend to
the node and edge embeddings of a trained, frozen neural algorithmic
reasoner run on the graph version of the same CLRS-Text example.

* :mod:`.data`: paired examples (question, answer, algorithm, length, trace);
* :mod:`.nar`: the reasoner's per-step node and edge embeddings, padded and masked;
* :mod:`.model`: gated cross-attention layers interleaved with the GPT's blocks;
* :mod:`.decode`: greedy decoding with the KV cache and cached cross-attention keys;
* :mod:`.train`: the trainer (run folders, checkpoints, resume).
"""
