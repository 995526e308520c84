"""Processors: the message-passing core shared by every algorithm.

Every processor is an ``nn.Module`` (:class:`~.base.Processor`) with one
interface::

    hidden, edge_msgs = processor(node_fts, edge_fts, graph_fts, adj, hidden)

    node_fts  (B, N, H)     encoded node features of this step
    edge_fts  (B, N, N, H)  encoded edge features: a tensor, or, if the
                            class sets ``affine_edges = True``, the same in
                            factored form (:class:`~..features.AffineFeatures`,
                            read through :func:`~..features.project`)
    graph_fts (B, H)        encoded graph features
    adj       (B, N, N)     nonzero where nodes i and j are adjacent (the
                            model passes it symmetric, with self-loops)
    hidden    (B, N, H)     node states of the previous step
    ->
    hidden    (B, N, H)     the next node states
    edge_msgs (B, N, N, edge_message_size) or None: triplet edge messages,
              which the model decodes edge hints and outputs from

and declares, as attributes, what the model needs before running it:
``edge_message_size`` (the width of ``edge_msgs``, 0 for None), ``adjacency``
(which pairs talk: ``"graph"`` reads ``adj``, ``"complete"`` ignores it,
``"self"`` lets a node hear only itself), ``inf_bias`` and ``inf_bias_edge``
(whether the decoders should push non-edges to a large negative logit, as the
published ``*_mask`` kinds ask) and ``affine_edges``.

Families, one module each: ``pgn`` (PGN, MPNN, Deep Sets; built from parts:
an aggregation from ``aggregation``, optional triplet messages from
``triplets``, an optional gate from ``gating``), ``attention`` (GAT, GATv2)
and ``memnet``. A full kind is its masked class with ``adjacency =
"complete"``.

Processors are built by name with :func:`make_processor`; the names are the
published package's (``mpnn``, ``triplet_gmpnn``, ...), each a class and its
parts (the table below). Register a new one with ``@register("name")`` on a
factory ``(hidden_size, **options) -> Processor``.

Options. Every registered factory takes the three options of the published
``get_processor_factory`` with the published training script's defaults,
``use_ln=True``, ``nb_triplet_fts=8`` and ``nb_heads=1``, and, like it, uses
only those that apply to its kind (the MemNet kinds ignore even ``use_ln``:
the published factory never passes it on), so a model can pass all three to
any kind. Other keywords go to the class (``activation``, ``reduction``,
``mid_size``, ...), whose own defaults are the published classes'.

Direction. The processors keep the published indexing: the MPNN/PGN family
reduces messages over the first node axis of ``adj[b, i, j]`` (node j gathers
from the nodes i), the GAT family attends along the last (node i attends to
the nodes j). On the symmetric adjacency the model builds the two agree.

Initialisation follows Haiku's (see :class:`~..layers.Linear`), so an
untrained model starts from the same distribution as the published one.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

from .aggregation import AGGREGATIONS, BIG_NUMBER, Aggregation, make_aggregation
from .attention import ATTENTION_BIAS, GAT, GATFull, GATv2, GATv2Full
from .base import COMPLETE, GRAPH, SELF, Processor
from .gating import Gate
from .memnet import MemNetFull, MemNetMasked
from .pgn import MPNN, PGN, DeepSets, PGNMask
from .triplets import TripletMessages

PROCESSORS: dict[str, Callable[..., Processor]] = {}


def register(name: str):
    """Decorator: register a processor factory ``(hidden_size, **options)`` as ``name``."""
    def wrap(factory):
        if name in PROCESSORS:
            raise ValueError(f"processor {name!r} is already registered")
        PROCESSORS[name] = factory
        return factory
    return wrap


def make_processor(name: str, hidden_size: int, **options) -> Processor:
    """Build a registered processor by name. A factory that lists the
    keywords it takes (an ``options`` attribute, as the published kinds do)
    gets an unknown one refused with a ``ValueError`` naming it."""
    check_processor(name, options)
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
    return PROCESSORS[name](hidden_size, **options)


def check_processor(name: str, options=()) -> None:
    """Refuse a name that is not registered (suggesting close ones), and
    keywords its factory does not take (when it lists them in an
    ``options`` attribute, as the published kinds do)."""
    if name not in PROCESSORS:
        close = difflib.get_close_matches(str(name), PROCESSORS, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown processor {name!r}{hint} (known: {', '.join(PROCESSORS)})")
    known = getattr(PROCESSORS[name], "options", None)
    unknown = sorted(set(options) - set(known)) if known is not None else []
    if unknown:
        raise ValueError(f"processor {name!r} has no option {', '.join(map(repr, unknown))} "
                         f"(it takes: {', '.join(sorted(known))})")


# The options every published kind's factory takes (each uses those that apply to it).
FACTORY_OPTIONS = ("use_ln", "nb_triplet_fts", "nb_heads")


def _class_options(cls: type, set_by_factory: tuple[str, ...] = ()) -> frozenset[str]:
    """The keywords a factory passes on to ``cls`` (its keyword arguments but
    those the factory sets itself), plus :data:`FACTORY_OPTIONS`."""
    parameters = inspect.signature(cls.__init__).parameters
    keywords = {n for n, p in parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                and n not in ("self", "hidden_size")}
    return frozenset(keywords - set(set_by_factory)) | frozenset(FACTORY_OPTIONS)


# --------------------------------------------------------------------------
# The published kinds


def _pgn_kind(cls: type[PGN], *, triplets: bool, gated: bool):
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> PGN:
        options.setdefault("msgs_mlp_sizes", [hidden_size, hidden_size])
        return cls(hidden_size, use_ln=use_ln, gated=gated,
                   nb_triplet_fts=nb_triplet_fts if triplets else None, **options)
    factory.__doc__ = (f"{cls.__name__}{' with triplets' if triplets else ''}"
                       f"{', gated' if gated else ''}; messages through a 2-layer MLP.")
    factory.options = _class_options(cls, set_by_factory=("gated",))
    return factory


def _attention_kind(cls: type[GAT | GATv2]):
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> Processor:
        return cls(hidden_size, nb_heads=nb_heads, use_ln=use_ln, **options)
    factory.__doc__ = f"{cls.__name__} with ``nb_heads`` heads."
    factory.options = _class_options(cls)
    return factory


def _memnet_kind(cls: type[MemNetMasked]):
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> MemNetMasked:
        # use_ln is ignored on purpose: the published factory builds MemNets
        # without LayerNorm whatever it is asked (MemNetMasked(use_ln=True)
        # gives one).
        return cls(hidden_size, **options)
    factory.__doc__ = f"{cls.__name__}; ignores use_ln, as published."
    factory.options = _class_options(cls, set_by_factory=("use_ln",))
    return factory


# name: factory, in the published registry's order.
PUBLISHED_KINDS = {
    "deepsets": _pgn_kind(DeepSets, triplets=False, gated=False),
    "gat": _attention_kind(GAT),
    "gat_full": _attention_kind(GATFull),
    "gatv2": _attention_kind(GATv2),
    "gatv2_full": _attention_kind(GATv2Full),
    "memnet_full": _memnet_kind(MemNetFull),
    "memnet_masked": _memnet_kind(MemNetMasked),
    "mpnn": _pgn_kind(MPNN, triplets=False, gated=False),
    "pgn": _pgn_kind(PGN, triplets=False, gated=False),
    "pgn_mask": _pgn_kind(PGNMask, triplets=False, gated=False),
    "triplet_mpnn": _pgn_kind(MPNN, triplets=True, gated=False),
    "triplet_pgn": _pgn_kind(PGN, triplets=True, gated=False),
    "triplet_pgn_mask": _pgn_kind(PGNMask, triplets=True, gated=False),
    "gpgn": _pgn_kind(PGN, triplets=False, gated=True),
    "gpgn_mask": _pgn_kind(PGNMask, triplets=False, gated=True),
    "gmpnn": _pgn_kind(MPNN, triplets=False, gated=True),
    "triplet_gpgn": _pgn_kind(PGN, triplets=True, gated=True),
    "triplet_gpgn_mask": _pgn_kind(PGNMask, triplets=True, gated=True),
    "triplet_gmpnn": _pgn_kind(MPNN, triplets=True, gated=True),
}
for _name, _factory in PUBLISHED_KINDS.items():
    register(_name)(_factory)
del _name, _factory

__all__ = [
    "PROCESSORS", "PUBLISHED_KINDS", "register", "make_processor", "check_processor", "Processor",
    "GRAPH", "COMPLETE", "SELF", "PGN", "MPNN", "PGNMask", "DeepSets", "GAT", "GATFull",
    "GATv2", "GATv2Full", "MemNetMasked", "MemNetFull", "TripletMessages", "Gate",
    "Aggregation", "AGGREGATIONS", "make_aggregation", "BIG_NUMBER", "ATTENTION_BIAS",
]
