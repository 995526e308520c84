"""Batching, storage and loading of traces (numpy only; see
:mod:`openclrs.data.torch` for PyTorch datasets)."""

from .batching import Batch, collate, uncollate
from .datasets import (CANONICAL, Part, canonical_parts, default_root, generate,
                       load_split, read_manifest)
from .storage import CorruptFileError, StoredSplit, read_safetensors, write_safetensors

__all__ = ["Batch", "collate", "uncollate", "CANONICAL", "Part", "canonical_parts",
           "default_root", "generate", "load_split", "read_manifest", "CorruptFileError",
           "StoredSplit", "read_safetensors", "write_safetensors"]
