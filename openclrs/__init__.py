"""openclrs: the CLRS algorithmic reasoning benchmark, fast and PyTorch-native.

``import openclrs`` is light: numpy only. The PyTorch parts load when used.
"""

from .algorithms import ALGORITHMS, execute
from .probes import Trace, validate_trace
from .samplers import Sampler, sample, sample_split, sampler_options
from .specs import (ALL_ALGS, CLRS30, CLRS_30_ALGS, FAMILIES, NUM_SAMPLES_MULTIPLIER,
                    SPECS, Location, Stage, Type, split_size)

__version__ = "0.1.0"

__all__ = ["ALGORITHMS", "execute", "Trace", "validate_trace", "Sampler", "sample",
           "sample_split", "sampler_options", "ALL_ALGS", "CLRS30", "CLRS_30_ALGS",
           "FAMILIES", "NUM_SAMPLES_MULTIPLIER", "SPECS", "Location", "Stage", "Type",
           "split_size"]
