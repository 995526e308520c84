"""The torch device a setting names, checked before any work starts.

Every trainer and evaluator takes a ``device`` string from its config or
command line; :func:`check_device` turns a name torch does not know, or a
device this machine does not have, into a ``ValueError`` that says what to
use instead (torch's own errors are ``RuntimeError``/``AssertionError``
raised at the first tensor moved, after folders were made).
"""

from __future__ import annotations

SUPPORTED = ("cpu", "cuda", "mps")


def check_device(name, setting: str = "device") -> str:
    """Return ``name`` if it names a device this machine has (``cpu``,
    ``cuda``, ``cuda:N``, ``mps``); otherwise raise ``ValueError`` naming
    ``setting`` (e.g. ``"device (--device)"``). Imports torch unless ``cpu``."""
    if name == "cpu":
        return name
    import torch

    hint = "; use --device cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{setting} is {name!r}, which is not a device: use cpu, cuda, "
                         "cuda:N or mps") from None
    if device.type not in SUPPORTED:
        raise ValueError(f"{setting} is {name!r}: openclrs runs on cpu, cuda or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{setting} is {name!r} but CUDA is not available on this "
                             f"machine{hint}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"{setting} is {name!r} but this machine has {count} CUDA "
                             f"device(s): cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{setting} is {name!r} but MPS is not available on this "
                         f"machine{hint}")
    return name
