"""Batching, storage and loading of traces (numpy only; see
:mod:`openclrs.data.torch` for PyTorch datasets). :mod:`openclrs.data.build`
is the one resumable, locked builder behind every stored dataset."""

from .batching import Batch, collate, uncollate
from .build import RecipeConflictError, check_name
from .datasets import (CANONICAL, Part, build_dataset, canonical_parts, default_root,
                       load_split, read_manifest)
from .storage import CorruptFileError, StoredSplit, read_safetensors, write_safetensors

__all__ = ["Batch", "collate", "uncollate", "RecipeConflictError", "check_name", "CANONICAL",
           "Part", "build_dataset", "canonical_parts", "default_root", "load_split",
           "read_manifest", "CorruptFileError", "StoredSplit", "read_safetensors",
           "write_safetensors"]
