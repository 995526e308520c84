"""TransNAR (Bounsi et al. 2024): a Transformer whose tokens cross-attend to
the node and edge embeddings of a trained, frozen neural algorithmic
reasoner run on the graph version of the same CLRS-Text example.

* :mod:`.config`: :class:`~.config.TransNARConfig`, the cross-attention's options (no torch);
* :mod:`.data`: paired examples (question, answer, algorithm, length, trace), generated or
  paired again from stored records; training sources; the reasoner's batches;
* :mod:`.nar`: the reasoner's per-step node and edge embeddings, padded and masked;
* :mod:`.model`: gated cross-attention layers interleaved with the GPT's blocks;
* :mod:`.decode`: greedy decoding with the KV cache and cached cross-attention keys;
* :mod:`.huggingface`: the same layers inside a local Hugging Face causal LM, its training
  and decoding;
* :mod:`.train`: the trainer (run folders, checkpoints with the NAR, resume);
* :mod:`.evaluate`: shape, parse and CLRS scores, TransNAR and a baseline side by side.
* :mod:`.attention`: where the answer tokens read the NAR's nodes (index alignment).
"""
