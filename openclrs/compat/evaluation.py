"""``fuse_perm_and_mask``: the published evaluation's reading of a
permutation pointer prediction, on openclrs' :func:`fuse_permutation`."""

from __future__ import annotations

import numpy as np

from ..specs import Location, Type
from .probing import DataPoint

__all__ = ["fuse_perm_and_mask"]


def fuse_perm_and_mask(perm: DataPoint, mask: DataPoint) -> DataPoint:
    """A node ``permutation_pointer`` (data ``(..., N, N)``, read by argmax)
    and its ``<name>_mask`` ``mask_one`` (data ``(..., N)``) -> a plain node
    pointer ``(..., N)``: nodes the mask marks point to themselves."""
    from ..training.metrics import fuse_permutation

    checks = [
        (perm.type_ == Type.PERMUTATION_POINTER, f"{perm.name} is not a permutation_pointer"),
        (perm.location == Location.NODE, f"{perm.name} is not a node probe"),
        (mask.name == perm.name + "_mask", f"mask {mask.name!r} is not {perm.name}_mask"),
        (mask.type_ == Type.MASK_ONE and mask.location == Location.NODE,
         f"{mask.name} is not a node mask_one"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"fuse_perm_and_mask: {message}")
    perm_data, mask_data = np.asarray(perm.data), np.asarray(mask.data)
    if perm_data.shape[-1] != perm_data.shape[-2] or perm_data.shape[:-1] != mask_data.shape:
        raise ValueError(f"fuse_perm_and_mask: shapes {perm_data.shape} and {mask_data.shape} "
                         "are not (..., N, N) and (..., N)")
    return DataPoint(perm.name, perm.location, Type.POINTER,
                     fuse_permutation(perm_data, mask_data))
