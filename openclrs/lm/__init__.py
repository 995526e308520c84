"""A small character-level Transformer for CLRS-Text (:mod:`.model`) and
its training and greedy-decoding evaluation (:mod:`.train`). PyTorch."""
