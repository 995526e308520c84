"""The depth-first algorithms on edge lists, producing sparse traces
directly: dfs, topological_sort, articulation_points, bridges,
strongly_connected_components and dag_shortest_paths.

They are the dense engine's searches (``elementary_graphs._StackDfs``, the
stack threaded through ``s_prev``; ``shortest_paths.dag_shortest_paths``)
step for step, with each node's sorted out-neighbour list and a cursor in
it instead of an ``n``-bit neighbour mask: nodes only ever leave the white
set within a pass, so the lowest white neighbour is found by moving the
cursor forward, O(E) per pass. Instead of copying all per-node hints at
every step, every change is logged as (step, cell, value) and the hint
arrays are rebuilt at the end (``_graphs.replay``, the dense engine's); with
``hints=False`` nothing is logged and memory stays O(n + E).
``dag_shortest_paths`` runs the dense engine's own walk
(``_graphs.dag_walk``) on the edge list.
"""

from __future__ import annotations

import bisect

import numpy as np

from ..probes import one_hot, one_hots
from ..sparse import Graph, SparseTrace, edge_index_of, make_sparse_trace
from . import _checks
from ._graphs import dag_hints, dag_walk, neighbour_lists, replay
from .sparse_graphs import checked_graph, edge_inputs


_TICK = 0.01  # the published clock's unit (see elementary_graphs)
_PLAIN, _CUTS, _BRIDGES = 0, 1, 2
_POINTERS = ("pi_h", "s_prev", "topo_h", "scc_id_h")


# White, grey and black as one-hot rows, each row one 24-byte item, so that
# a colour array becomes its one-hot encoding in one gather.
_ONE_HOT_COLORS = np.eye(3).view(np.dtype((np.void, 24))).ravel()


class _EdgeDfs:
    """The benchmark's stack-threaded depth-first search on neighbour lists.

    ``values[name]`` is the current value of each per-node hint (pointers
    start as the identity, the rest at 0); ``clock`` is the per-step clock
    slot (the time, or topological sort's list head), ``phase`` the pass.
    Each :meth:`record` is one step.
    """

    def __init__(self, n: int, names: tuple[str, ...], keep: bool):
        self.n = n
        self.names = names
        self.offset = {name: i * n for i, name in enumerate(names)}
        self.values = {name: list(range(n)) if name in _POINTERS else [0.0] * n
                       for name in names}
        self.values["color"] = [0] * n
        self.keep = keep
        self.ev_t: list[int] = []
        self.ev_c: list[int] = []
        self.ev_x: list[float] = []
        self.steps = 0
        self.trail: list[tuple] = []  # per step: s, u, v, s_last, clock, phase
        self.white = [True] * n
        self.time = 0.0
        self.clock = 0.0
        self.head = 0
        self.phase = 0
        self.root = 0
        self.bridge_log: list[tuple[int, int, int]] = []
        self.finished: list[int] = []

    def set(self, name: str, node: int, value) -> None:
        self.values[name][node] = value
        if self.keep:
            self.ev_t.append(self.steps)
            self.ev_c.append(self.offset[name] + node)
            self.ev_x.append(value)

    def record(self, u: int, v: int, s_last: int) -> None:
        if self.keep:
            self.trail.append((self.root, u, v, s_last, self.clock, self.phase))
        self.steps += 1

    def walk(self, nbrs: list[list[int]], roots, *, timed=True, edges=_PLAIN, topo=False,
             scc=False) -> None:
        """One pass from each still-white root (``_StackDfs.walk``'s rules)."""
        n, vals, white, put, record = self.n, self.values, self.white, self.set, self.record
        color, prev = vals["color"], vals["s_prev"]
        PI, D, LOW = vals.get("pi_h"), vals.get("d"), vals.get("low")
        children = [[] for _ in range(n)] if edges else None
        cursor = [0] * n
        last = n - 1
        for s in roots:
            if not white[s]:
                continue
            s_last = u = v = s
            self.root = s
            record(u, v, s_last)
            while True:
                if scc:
                    put("scc_id_h", u, s)
                if white[u] or (timed and D[u] == 0.0):
                    white[u] = False
                    put("color", u, 1)
                    if timed:
                        self.time += _TICK
                        put("d", u, self.time)
                        self.clock = self.time
                        if edges:
                            put("low", u, self.time)
                    record(u, v, s_last)
                nb = nbrs[u]
                k = cursor[u]
                while k < len(nb) and not white[nb[k]]:
                    k += 1
                cursor[u] = k
                fresh = k < len(nb)
                if edges:
                    # Every neighbour below the lowest white one (all, when
                    # none is white) but the parent is examined, each visit anew.
                    parent = PI[u]
                    for v in nb[:k]:
                        if v != parent:
                            if D[v] < LOW[u]:
                                put("low", u, D[v])
                            record(u, v, s_last)
                if fresh:
                    v = nb[k]
                    white[v] = False
                    put("color", v, 1)
                    if PI is not None:
                        put("pi_h", v, u)
                    if edges:
                        children[u].append(v)
                        if edges == _CUTS:
                            put("child_cnt", u, vals["child_cnt"][u] + _TICK)
                    put("s_prev", v, s_last)
                    s_last = v
                    record(u, v, s_last)
                    u = v
                    continue
                v = last
                put("color", u, 2)
                if timed:
                    self.time += _TICK
                    put("f", u, self.time)
                    self.clock = self.time
                if topo:
                    if color[self.head] == 2:
                        put("topo_h", u, self.head)
                    self.head = u
                    self.clock = u
                if edges:
                    self._close(u, children[u], edges)
                record(u, v, s_last)
                self.finished.append(u)
                if prev[u] == u:
                    break
                s_last = prev[u]
                put("s_prev", u, u)
                u = s_last

    def _close(self, u: int, kids: list[int], edges: int) -> None:
        vals = self.values
        low = vals["low"]
        lo, du = low[u], vals["d"][u]
        root = vals["pi_h"][u] == u
        cut = False
        for c in kids:
            lc = low[c]
            if lc < lo:
                lo = lc
            if edges == _BRIDGES:
                if lc > du:
                    self.bridge_log.append((self.steps, u, c))
            elif not root and lc >= du:
                cut = True
        self.set("low", u, lo)
        if edges == _CUTS and (cut or root and vals["child_cnt"][u] > _TICK):
            self.set("is_cut_h", u, 1.0)

    def restart(self) -> None:
        """Whiten every node for a second pass, which is phase 1."""
        for u in range(self.n):
            self.set("color", u, 0)
        self.phase = 1
        self.white = [True] * self.n

    def hints(self, clock: str | None = "time", phase: bool = False) -> dict:
        n, steps = self.n, self.steps
        # Changes after the last step (the log is in time order) show nowhere.
        end = bisect.bisect_left(self.ev_t, steps)
        ev_t = np.array(self.ev_t[:end], dtype=np.intp)
        ev_c = np.array(self.ev_c[:end], dtype=np.intp)
        ev_x = np.array(self.ev_x[:end], dtype=np.float64)
        out = {}
        for k, name in enumerate(self.names):
            mine = (ev_c >= k * n) & (ev_c < (k + 1) * n)
            init = np.arange(n) if name in _POINTERS else np.zeros(n)
            dtype = np.int64 if name in _POINTERS else np.intp if name == "color" else np.float64
            out[name] = replay(init, steps, ev_t[mine], ev_c[mine] - k * n, ev_x[mine],
                               dtype)
        out["color"] = _ONE_HOT_COLORS[out["color"]].view(np.float64).reshape(steps, n, 3)
        roots, us, vs, lasts, clocks, phases = zip(*self.trail)
        names = ["s", "u", "v", "s_last"]
        columns = [roots, us, vs, lasts]
        if clock == "topo_head_h":
            names.append(clock)
            columns.append([int(c) for c in clocks])
        out.update(zip(names, one_hots(n, *columns)))
        if clock == "time":
            out["time"] = np.array(clocks, dtype=np.float64)
        if phase:
            out["phase"] = np.array(phases, dtype=np.float64)
        return out


def _search(graph: Graph, names: tuple[str, ...], hints: bool, **walk) -> tuple:
    n = graph.num_nodes
    search = _EdgeDfs(n, names, hints)
    search.walk(neighbour_lists(n, graph.senders, graph.receivers), range(n), **walk)
    senders, receivers, inputs = edge_inputs(graph)
    return search, senders, receivers, inputs


def dfs(graph: Graph, hints: bool = True) -> SparseTrace:
    """Depth-first search from every white node in index order."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("pi_h", "color", "d", "f", "s_prev"), hints)
    return make_sparse_trace("dfs", graph.num_nodes, senders, receivers, inputs,
                             search.hints() if hints else None,
                             {"pi": search.values["pi_h"]}, search.steps)


def topological_sort(graph: Graph, hints: bool = True) -> SparseTrace:
    """Topological sort by depth-first search (finished nodes to the front
    of a linked list)."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("topo_h", "color", "s_prev"), hints, timed=False, topo=True)
    return make_sparse_trace(
        "topological_sort", graph.num_nodes, senders, receivers, inputs,
        search.hints("topo_head_h") if hints else None,
        {"topo": search.values["topo_h"], "topo_head": one_hot(search.head, graph.num_nodes)},
        search.steps)


def articulation_points(graph: Graph, hints: bool = True) -> SparseTrace:
    """Cut vertices by DFS low values."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("is_cut_h", "pi_h", "color", "d", "f", "low", "child_cnt", "s_prev"),
        hints, edges=_CUTS)
    return make_sparse_trace("articulation_points", graph.num_nodes, senders, receivers,
                             inputs, search.hints() if hints else None,
                             {"is_cut": search.values["is_cut_h"]}, search.steps)


def bridges(graph: Graph, hints: bool = True) -> SparseTrace:
    """Bridges by DFS low values; ``is_bridge`` is 1 on bridges (both
    directions), 0 on the other edges of ``adj`` and -1 on the reverse
    edges the trace adds to a directed graph (masked, as off-edge cells are
    in the dense trace)."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    search, senders, receivers, inputs = _search(
        graph, ("pi_h", "color", "d", "f", "low", "s_prev"), hints, edges=_BRIDGES)
    is_bridge = inputs["adj"] - 1.0
    log = search.bridge_log
    if log:
        t, a, b = (np.array(x) for x in zip(*log))
        both = np.concatenate([edge_index_of(senders, receivers, n, a, b),
                               edge_index_of(senders, receivers, n, b, a)])
        is_bridge[both] = 1.0
    hint_store = None
    if hints:
        hint_store = search.hints()
        is_bridge_h = np.empty((search.steps, len(senders)))
        is_bridge_h[:] = inputs["adj"] - 1.0
        if log:
            for step, e in zip(np.concatenate([t, t]).tolist(), both.tolist()):
                is_bridge_h[step:, e] = 1.0
        hint_store["is_bridge_h"] = is_bridge_h
    return make_sparse_trace("bridges", n, senders, receivers, inputs, hint_store,
                             {"is_bridge": is_bridge}, search.steps)


def strongly_connected_components(graph: Graph, hints: bool = True) -> SparseTrace:
    """Kosaraju's algorithm: a DFS of the graph, then of its transpose
    taking roots by decreasing finishing time."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    search, senders, receivers, inputs = _search(
        graph, ("scc_id_h", "color", "d", "f", "s_prev"), hints)
    by_receiver = np.lexsort((graph.senders, graph.receivers))
    search.restart()
    search.walk(neighbour_lists(n, graph.receivers[by_receiver], graph.senders[by_receiver]),
                search.finished[::-1], scc=True)
    hint_store = None
    if hints:
        hint_store = search.hints(phase=True)
        # A_t on edge (i, j) is adj at (j, i): the reverse edge's value.
        reverse = edge_index_of(senders, receivers, n, receivers, senders)
        hint_store["A_t"] = np.broadcast_to(inputs["adj"][reverse],
                                            (search.steps, len(senders))).copy()
    return make_sparse_trace("strongly_connected_components", n, senders, receivers,
                             inputs, hint_store, {"scc_id": search.values["scc_id_h"]},
                             search.steps)


def dag_shortest_paths(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Shortest paths from ``s`` in a DAG: a depth-first search from ``s``
    threading finished nodes into a topological list (phase 0), then the
    list walked in order relaxing out-edges (phase 1); the dense
    ``dag_shortest_paths`` step for step."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    s = _checks.node(s, n, "s")
    walk = dag_walk(n, s, graph.senders, graph.receivers, graph.weights, keep=hints)
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    return make_sparse_trace("dag_shortest_paths", n, senders, receivers, inputs,
                             dag_hints(n, walk) if hints else None,
                             {"pi": np.array(walk.pi)}, walk.steps)
