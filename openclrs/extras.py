"""Optional dependencies: which ``pip install "openclrs[...]"`` brings each.

``import openclrs`` needs numpy alone; PyTorch, safetensors, matplotlib,
TensorBoard, pyarrow and the Hugging Face packages sit behind extras (see
``pyproject.toml``). :func:`require` imports one and, where it is missing,
raises an ``ImportError`` that says exactly what to install.
"""

from __future__ import annotations

import importlib

# module -> the extra that installs it
EXTRA_OF = {
    "torch": "torch",
    "safetensors": "torch",
    "matplotlib": "plots",
    "tensorboard": "train",
    "pyarrow": "text",
    "datasets": "text",
    "transformers": "text",
    "scipy": "graphs",
    "torch_geometric": "pyg",
}


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message says how to get it."""


def install_hint(module: str) -> str:
    top = module.split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return f"pip install {top}"
    return f'pip install "openclrs[{extra}]"'


def require(module: str, purpose: str | None = None):
    """``importlib.import_module(module)``, or a :class:`MissingDependency`
    naming the ``pip install`` that fixes it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        if getattr(e, "name", None) not in (None, top, module):
            raise  # the package is there but something inside it failed
        need = f" (needed to {purpose})" if purpose else ""
        raise MissingDependency(f"{top} is not installed{need}: {install_hint(module)}") from None


def pyplot(purpose: str | None = None):
    """``matplotlib.pyplot`` on the file-only Agg backend (plots are written
    to files, never shown), or a :class:`MissingDependency`."""
    require("matplotlib", purpose).use("Agg")
    return require("matplotlib.pyplot", purpose)
