"""SALSA-CLRS's two algorithms beyond CLRS, on sparse graphs: fast_mis and
eccentricity (specs in ``openclrs.specs.SALSA_SPECS``).

Exact to SALSA-CLRS's code (jkminder/SALSA-CLRS 3c12bde,
salsaclrs/algorithms/mis.py ``fast_mis_2`` and eccentricity.py), read for
its behaviour; the loops over all ``n`` nodes become passes over edge lists.
Graphs are unweighted; SALSA samples only undirected ones.
"""

from __future__ import annotations

import numpy as np

from ..probes import one_hot
from ..sparse import Graph, SparseTrace, edge_index_of, edge_keys, make_sparse_trace
from . import _checks
from .sparse_graphs import checked_graph, edge_inputs



def _unweighted(graph: Graph, algorithm: str) -> None:
    if graph.num_edges and not (graph.weights == 1).all():
        raise ValueError(f"{algorithm} runs on unweighted graphs (every edge weight 1), "
                         "as SALSA-CLRS samples them")


def _rng(rng):
    if isinstance(rng, (int, np.integer)) or rng is None:
        return np.random.RandomState(rng)
    if not hasattr(rng, "random_sample"):
        raise ValueError("rng must be a seed or a numpy RandomState")
    return rng


def fast_mis(graph: Graph, rng=None, hints: bool = True) -> SparseTrace:
    """A maximal independent set by Luby-style rounds (SALSA's ``fast_mis_2``).

    Each round has two hint steps (``phase_h`` 0, then 1). At phase 0 every
    node draws ``r ~ U[0, 1)`` (all ``n`` nodes draw, dead ones too, from
    ``rng``); a live node joins the set when ``r[u] < r[v]`` for every live
    neighbour ``v``, a tie going to the larger index (``u`` loses to ``v``
    when ``r[u] > r[v]``, or ``r[u] == r[v]`` and ``u < v``: SALSA's comment
    says "largest" but its comparison keeps the smallest). Then the members
    and their live neighbours die and their edges leave ``Ain_h``. Rounds
    run while a node lives. ``randomness`` is ``(n, 2 * rounds)``: each
    round's numbers in both of its columns.

    SALSA's own function looks up ``SPECS['fast_mis_2']``, which its spec
    table does not define (it defines ``fast_mis``); the spec here is its
    ``fast_mis`` entry.
    """
    graph = checked_graph(graph)
    _unweighted(graph, "fast_mis")
    rng = _rng(rng)
    n = graph.num_nodes
    S, R = graph.senders, graph.receivers
    senders, receivers, inputs = edge_inputs(graph)
    A = inputs.pop("A")
    alive = np.ones(n, dtype=bool)
    in_mis = np.zeros(n, dtype=bool)
    states, numbers = [], []

    def record(phase):
        if hints:
            states.append((A * (alive[senders] & alive[receivers]), alive.copy(),
                           in_mis.copy(), phase))

    while alive.any():
        r = rng.random_sample(n)
        numbers.append(r)
        record(0)
        live = alive[S] & alive[R]  # Ain: the edges between live nodes
        s, t = S[live], R[live]
        loses = (r[s] > r[t]) | ((r[s] == r[t]) & (s < t))
        join = alive & (np.bincount(s[loses], minlength=n) == 0)
        in_mis |= join
        hit = np.bincount(s[join[t]], minlength=n) > 0
        alive &= ~(in_mis | hit)
        numbers.append(r)
        record(1)

    inputs["randomness"] = np.stack(numbers, axis=1)
    hint_store = None
    if hints:
        ain, live_h, mis_h, phase = zip(*states)
        hint_store = {"Ain_h": np.stack(ain), "alive_h": np.stack(live_h),
                      "inmis_h": np.stack(mis_h), "phase_h": np.array(phase)}
    return make_sparse_trace("fast_mis", n, senders, receivers, inputs, hint_store,
                             {"inmis": in_mis}, len(numbers))


class _Tree:
    """SALSA's ``tree`` matrix on the graph's edges, with, per node, the
    number of its out-edges ``(u, v)`` in the tree whose reverse ``(v, u)``
    is not (the children ``u`` still waits for). The count lets a node ask
    "am I a leaf now?" in O(1) instead of scanning its neighbours."""

    def __init__(self, n, S, R, rev):
        # Python lists: the flood and echo loops touch one entry at a time.
        self.on = [False] * len(S)
        self.waiting = [0] * n
        self.S, self.R, self.rev = S.tolist(), R.tolist(), rev.tolist()

    def set(self, k: int, value: bool) -> None:
        on = self.on
        if on[k] == value:
            return
        rk = self.rev[k]
        on[k] = value
        if rk == k:  # a self-loop never counts
            return
        step = 1 if value else -1
        if rk >= 0 and on[rk]:
            self.waiting[self.R[k]] -= step
        else:
            self.waiting[self.S[k]] += step


def eccentricity(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """The eccentricity of ``s`` by flood and echo (SALSA's ``eccentricity``).

    One hint step per synchronous round, after an initial all-zero one.
    Flood: the source, then every node reached by a flood message for the
    first time, sends its level plus one (the source sends 1) to its
    unvisited neighbours, marking those edges as tree edges; a node with no
    unvisited neighbour to flood becomes a leaf and echoes its level. Echo:
    a node whose tree children have all echoed (each echo clears the tree
    edge to the sender and raises the parent's echo state to the maximum)
    becomes a leaf and echoes its echo state to its tree parents; when that
    node is the source, the run ends (the round is still finished and
    recorded, up to the source in node order). Within a round nodes act in
    increasing order on one shared next state, so the order matters, as in
    SALSA's loop; this follows it node for node. Output: the source's echo
    state, its eccentricity.

    The source needs a neighbour: with none SALSA's loop never ends.
    """
    graph = checked_graph(graph)
    _unweighted(graph, "eccentricity")
    n = graph.num_nodes
    s = _checks.node(s, n, "s")
    S, R = graph.senders, graph.receivers
    if not np.any((S == s) & (R != s)):
        raise ValueError(f"eccentricity needs a source with a neighbour; node {s} has "
                         "none (SALSA's flood-echo loop would never end)")
    if not graph.is_symmetric():
        raise ValueError("eccentricity runs on undirected graphs, as SALSA-CLRS samples them "
                         "(on some directed ones its flood-echo loop never ends)")
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    E = graph.num_edges
    out_ptr = graph.indptr().tolist()
    out_to = R.tolist()
    by_receiver = np.lexsort((S, R))
    in_ptr = np.searchsorted(R[by_receiver], np.arange(n + 1)).tolist()
    in_edge = by_receiver.tolist()
    in_from = S[by_receiver].tolist()
    keys = edge_keys(S, R, n)
    back = edge_keys(R, S, n)
    at = np.minimum(np.searchsorted(keys, back), max(E - 1, 0))
    rev = np.where(keys[at] == back, at, -1) if E else np.zeros(0, np.int64)
    to_trace = edge_index_of(senders, receivers, n, S, R)

    flood = np.zeros(n, dtype=np.int64)
    echo = np.zeros(n, dtype=np.int64)
    phase = np.zeros(n, dtype=bool)
    visited = np.zeros(n, dtype=bool)
    leaf = np.zeros(n, dtype=bool)
    tree = _Tree(n, S, R, rev)
    is_source = np.zeros(n, dtype=bool)
    is_source[s] = True
    states = []

    def record():
        if hints:
            on_edges = np.zeros(len(senders), dtype=bool)
            on_edges[to_trace] = tree.on
            states.append((visited.copy(), phase.copy(), on_edges, flood.copy(),
                           echo.copy(), leaf.copy(), echo[s]))

    def send_flood(node, msg, seen, messages):
        is_leaf = True
        for k in range(out_ptr[node], out_ptr[node + 1]):
            v = out_to[k]
            if not seen[v]:
                if msg > messages[v]:
                    messages[v] = msg
                tree.set(k, True)
                is_leaf = False
        return is_leaf

    def send_echo(node, msg, seen, next_echo, next_phase):
        for j in range(in_ptr[node], in_ptr[node + 1]):
            k, u = in_edge[j], in_from[j]
            if tree.on[k] and seen[u]:
                if msg > next_echo[u]:
                    next_echo[u] = msg
                tree.set(k, False)
                next_phase[u] = True

    record()
    done = False
    rounds = 0
    for rounds in range(4 * n + 8):
        if done:
            break
        next_visited = visited.copy()
        next_phase = phase.copy()
        next_echo = echo.copy()
        messages = np.zeros(n, dtype=np.int64)
        waiting_before = tree.waiting[:]  # the round reads the old tree
        active = np.flatnonzero((~phase & ~visited & ((flood > 0) | is_source))
                                | (phase & ~leaf)).tolist()
        for node in active:
            if not phase[node]:
                is_leaf = False
                if node == s and not visited[node]:
                    next_visited[node] = True
                    is_leaf = send_flood(node, 1, visited, messages)
                if flood[node] > 0 and not visited[node]:
                    next_visited[node] = True
                    is_leaf = send_flood(node, int(flood[node]) + 1, visited, messages)
                if is_leaf:
                    leaf[node] = True
                    next_echo[node] = flood[node]
                    next_phase[node] = True
                    send_echo(node, int(flood[node]), visited, next_echo, next_phase)
            elif not leaf[node] and waiting_before[node] == 0:
                if node == s:
                    done = True
                    break
                leaf[node] = True
                send_echo(node, int(echo[node]), visited, next_echo, next_phase)
        visited, phase = next_visited, next_phase
        for node in np.flatnonzero(messages > 0).tolist():
            if not visited[node]:
                flood[node] = messages[node]
            elif tree.waiting[node] == 0:
                leaf[node] = True
                next_echo[node] = flood[node]
                phase[node] = True
                send_echo(node, int(flood[node]), visited, next_echo, phase)
        echo = next_echo
        record()
    else:
        raise RuntimeError("eccentricity did not finish; this is a bug, please report it")

    hint_store = None
    if hints:
        cols = list(zip(*states))
        hint_store = {name: np.stack(col) for name, col in zip(
            ("visited_h", "msgphase_h", "tree_h", "floodstate_h", "echostate_h", "leaf_h",
             "eccentricity_h"), cols)}
    return make_sparse_trace("eccentricity", n, senders, receivers, inputs, hint_store,
                             {"eccentricity": echo[s]}, rounds + 1)
