"""Neural algorithmic reasoners in PyTorch (encode-process-decode)."""
