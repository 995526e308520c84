"""openclrs: the CLRS algorithmic reasoning benchmark, fast and PyTorch-native.

``import openclrs`` is light: the names below load (numpy only) on first use,
so that a command line's ``--help`` imports nothing heavy. The PyTorch parts
load when used.
"""

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ALGORITHMS": "algorithms", "execute": "algorithms",
    "Trace": "probes", "validate_trace": "probes",
    "Sampler": "samplers", "sample": "samplers", "sample_split": "samplers",
    "sampler_options": "samplers",
    # memory: estimated from the spec before sampling; too large is refused
    "estimate_sample_bytes": "footprint", "check_fits": "footprint",
    "SampleTooLarge": "footprint",
    **{name: "specs" for name in ("ALL_ALGS", "CLRS30", "CLRS_30_ALGS", "FAMILIES",
                                  "NUM_SAMPLES_MULTIPLIER", "SPECS", "Location", "Stage",
                                  "Type", "split_size")},
}

__all__ = list(_EXPORTS)


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for a package whose public names load from
    their modules (``exports``: name -> module) on first use."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))
    return __getattr__, __dir__


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
