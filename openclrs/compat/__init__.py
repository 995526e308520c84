"""The published ``dm-clrs`` data API, on openclrs' trace engine (numpy only).

Training-data code written for dm-clrs runs by changing its import::

    from openclrs import compat as clrs

    sampler, spec = clrs.build_sampler("bfs", 1000, 16, seed=1)
    feedback = sampler.next(32)          # Feedback(features, outputs)
    spec, stream = clrs.process_permutations(spec, iter(lambda: sampler.next(32), None), True)

    dataset, num_samples, spec = clrs.create_dataset(None, "bfs", "train", 32)
    for feedback in dataset.as_numpy_iterator(): ...

``to_batch(feedback, spec, algorithm)`` turns such a batch into openclrs'
own :class:`~openclrs.data.batching.Batch`, for openclrs' models.

Samples, batches, dtypes, the with-replacement draw order and the TFDS
reading order equal the published ones (tests/test_compat.py checks them
against dm-clrs 2.0.3). What differs is listed in the README's "Coming from
dm-clrs" section.
"""

from .. import specs
from ..specs import (CLRS30, CLRS_30_ALGS, NUM_SAMPLES_MULTIPLIER, SPECS, Location,
                     OutputClass, Stage, Type)
from . import algorithms, probing
from .bridge import to_batch
from .dataset import Dataset, chunkify, create_chunked_dataset, create_dataset
from .evaluation import evaluate, evaluate_hints, fuse_perm_and_mask
from .probing import DataPoint, predecessor_to_cyclic_predecessor_and_first
from .samplers import (PUBLISHED_DTYPES, Features, FeaturesChunked, Feedback, Sampler,
                       build_sampler, feedback_from_traces, process_permutations,
                       process_pred_as_input, process_random_pos)
from .tfds import tfds_order

Trajectory = list  # a list of DataPoints, as published
Spec = dict  # probe name -> (stage, location, type), as published
ALGO_IDX_INPUT_NAME = "algo_idx"  # the published name of the algorithm-index input
CLRS_30_ALGS_SETTINGS = {name: {"num_samples_multiplier": NUM_SAMPLES_MULTIPLIER[name]}
                         for name in CLRS_30_ALGS}

__all__ = ["specs", "Spec", "ALGO_IDX_INPUT_NAME", "CLRS30", "CLRS_30_ALGS_SETTINGS",
           "SPECS", "Location", "OutputClass", "Stage", "Type", "algorithms", "probing",
           "Dataset", "chunkify", "create_chunked_dataset", "create_dataset", "tfds_order",
           "fuse_perm_and_mask", "evaluate", "evaluate_hints", "DataPoint",
           "predecessor_to_cyclic_predecessor_and_first", "PUBLISHED_DTYPES", "Features",
           "FeaturesChunked", "Feedback", "Sampler", "build_sampler", "feedback_from_traces",
           "process_permutations", "process_pred_as_input", "process_random_pos",
           "Trajectory", "to_batch"]
