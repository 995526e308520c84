"""Elementary graph algorithms (CLRS chapter 22): breadth-first search,
depth-first search, topological sort, articulation points, bridges and
strongly connected components.

Apart from BFS, these are all the benchmark's iterative depth-first search:
the recursion stack is threaded through the nodes as ``s_prev`` pointers,
``s_last`` is the top of that stack, and a step is recorded whenever a node
is discovered, a tree edge is taken (and, when looking for articulation points
or bridges, whenever a non-tree edge is examined), or a node finishes.

:class:`_StackDfs` runs that search with the neighbour and white sets as
Python int bitmasks (the next tree edge is one bit trick away) and keeps
everything a step records in one flat ``array('d')``, so that recording a
step is one memory copy onto the end of another; the hint arrays are cut
out of that record at the end. (Logging changes and replaying them is no
faster: the hints are large, and on their own the copies out of the record
already cost about as much as touching the fresh memory they fill.)
"""

from __future__ import annotations

from array import array

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, positions
from . import _checks
from ._graphs import graph_inputs

__all__ = ["dfs", "bfs", "topological_sort", "articulation_points", "bridges",
           "strongly_connected_components"]

# The published search advances its clock by this much at every discovery
# and every finish (and counts children in the same unit); the sums must be
# accumulated in the same order to give the same floats.
_TICK = 0.01

# What the search does with non-tree edges.
_PLAIN, _CUTS, _BRIDGES = 0, 1, 2

# Per-node hints that start as the identity (the others start at zero).
_POINTERS = ("pi_h", "s_prev", "topo_h", "scc_id_h")

# White, grey and black as one-hot rows, each row a single 24-byte item so
# that a colour array becomes its one-hot encoding in one gather.
_ONE_HOT_COLORS = np.eye(3).view(np.dtype((np.void, 24))).ravel()

# Per-step values after the per-node hints: s, u, v, s_last, then the clock
# (topological sort, which has none, keeps its list head there) and, for
# strongly connected components, the phase.
_S, _U, _V, _LAST, _CLOCK, _PHASE = range(6)


def _bitmasks(M: np.ndarray) -> list[int]:
    """Row ``i`` of the non-zero pattern of ``M`` as an int: bit ``j`` set
    when ``M[i, j] != 0``, so lower bits are lower-numbered neighbours."""
    bits = np.packbits(M != 0, axis=1, bitorder="little")
    raw, width = bits.tobytes(), bits.shape[1]
    return [int.from_bytes(raw[i:i + width], "little")
            for i in range(0, len(raw), width)]


class _StackDfs:
    """The benchmark's stack-threaded depth-first search.

    ``state`` holds the per-node hints named at construction (``n`` cells
    each, in that order), then the per-step values (``_S``...); every step
    appends it to ``record``, and ``steps`` counts them. ``walk`` runs one
    pass over some roots; strongly connected components make two passes on
    one object, so the clock and the steps carry over, as they do in the
    published code.
    """

    def __init__(self, n: int, hints: tuple[str, ...]):
        self.n = n
        self.at = {name: i * n for i, name in enumerate(hints)}
        self.trail = len(hints) * n
        self.state = array("d", bytes(8 * (self.trail + 6)))
        for name in hints:
            if name in _POINTERS:
                self.state[self.at[name]:self.at[name] + n] = array("d", range(n))
        self.record = array("d")  # the state at every step, end to end
        self.steps = 0
        self.white = (1 << n) - 1
        self.time = 0.0
        self.head = 0
        self.bridge_log: list = []  # step, u, v: from this step on, uv is a bridge
        self.finished: list[int] = []

    def values(self, name: str) -> list[float]:
        """The current value of a per-node hint."""
        return self.state[self.at[name]:self.at[name] + self.n].tolist()

    def walk(self, nbrs: list[int], roots, *, timed=True, edges=_PLAIN, topo=False,
             scc=False):
        """Search from each still-white node of ``roots`` in turn.

        ``nbrs``: out-neighbour bitmasks. ``timed``: keep the clock (all but
        topological sort); a node is then discovered when it reaches the top
        of the stack with no discovery time yet, otherwise only white roots
        are. ``edges``: also examine non-tree edges, for articulation points
        or bridges. ``topo``: thread finished nodes into a list. ``scc``:
        label each node with the root of its tree.
        """
        n, st, at = self.n, self.state, self.at
        COLOR, PREV = at["color"], at["s_prev"]
        PI, D, F, LOW, CNT = (at.get(k, -1) for k in ("pi_h", "d", "f", "low", "child_cnt"))
        TOPO, SCC = at.get("topo_h", -1), at.get("scc_id_h", -1)
        S = self.trail + _S
        U, V, LAST, CLOCK = S + 1, S + 2, S + 3, S + 4
        rec = self.record
        children = [[] for _ in range(n)] if edges else None
        white, time, head = self.white, self.time, self.head
        last = n - 1

        for s in roots:
            if not white >> s & 1:
                continue
            s_last = u = v = s
            st[S] = s
            st[U] = st[V] = st[LAST] = s
            rec += st
            while True:
                if scc:
                    st[SCC + u] = s
                if white >> u & 1 or (timed and st[D + u] == 0.0):
                    white &= ~(1 << u)
                    st[COLOR + u] = 1
                    if timed:
                        time += _TICK
                        st[D + u] = st[CLOCK] = time
                        if edges:
                            st[LOW + u] = time
                    st[U] = u
                    st[V] = v
                    st[LAST] = s_last
                    rec += st

                # The lowest white neighbour gives the tree edge. Searches
                # for cut vertices and bridges first examine every lower
                # (non-white) neighbour but the parent, each visit anew.
                mask = nbrs[u]
                fresh = mask & white
                if edges:
                    rest = mask & ((fresh & -fresh) - 1) if fresh else mask
                    parent = st[PI + u]
                    while rest:
                        bit = rest & -rest
                        rest ^= bit
                        v = bit.bit_length() - 1
                        if v != parent:
                            if st[D + v] < st[LOW + u]:
                                st[LOW + u] = st[D + v]
                            st[U] = u
                            st[V] = v
                            st[LAST] = s_last
                            rec += st

                if fresh:
                    v = (fresh & -fresh).bit_length() - 1
                    white ^= 1 << v
                    st[COLOR + v] = 1
                    if PI >= 0:
                        st[PI + v] = u
                    if edges:
                        children[u].append(v)
                        if edges == _CUTS:
                            st[CNT + u] += _TICK
                    st[PREV + v] = s_last
                    s_last = v
                    st[U] = u
                    st[V] = v
                    st[LAST] = s_last
                    rec += st
                    u = v
                    continue

                # No white neighbour left: u finishes (the published loop
                # over all nodes leaves v at the last one).
                v = last
                st[COLOR + u] = 2
                if timed:
                    time += _TICK
                    st[F + u] = st[CLOCK] = time
                if topo:
                    if st[COLOR + head] == 2:
                        st[TOPO + u] = head
                    head = u
                    st[CLOCK] = head
                if edges:
                    self._close(u, children[u], edges)
                st[U] = u
                st[V] = v
                st[LAST] = s_last
                rec += st
                self.finished.append(u)
                if st[PREV + u] == u:
                    break
                s_last = int(st[PREV + u])
                st[PREV + u] = u
                u = s_last

        self.white, self.time, self.head = white, time, head
        self.steps = len(rec) // len(st)

    def _close(self, u: int, kids: list[int], edges: int):
        """Fold the children's low values into ``u`` as it finishes, and
        decide whether ``u`` is a cut vertex or which tree edges are bridges."""
        st, at = self.state, self.at
        LOW = at["low"]
        lo, du = st[LOW + u], st[at["d"] + u]
        root = st[at["pi_h"] + u] == u
        cut = False
        for c in kids:
            lc = st[LOW + c]
            if lc < lo:
                lo = lc
            if edges == _BRIDGES:
                if lc > du:
                    self.bridge_log.append((len(self.record) // len(st), u, c))
            elif not root and lc >= du:
                cut = True
        st[LOW + u] = lo
        if edges == _CUTS and (cut or root and st[at["child_cnt"] + u] > _TICK):
            st[at["is_cut_h"] + u] = 1

    def restart(self):
        """Whiten every node for a second pass, which is phase 1."""
        at = self.at["color"]
        self.state[at:at + self.n] = array("d", bytes(8 * self.n))
        self.state[self.trail + _PHASE] = 1
        self.white = (1 << self.n) - 1

    def hints(self, clock: str | None = "time", phase: bool = False) -> dict[str, np.ndarray]:
        """The recorded steps as hints: the per-node ones, ``s``, ``u``,
        ``v`` and ``s_last``, and the clock slot as ``clock`` (a scalar
        ``time``, or the one-hot ``topo_head_h``)."""
        n, steps = self.n, self.steps
        recorded = np.frombuffer(self.record).reshape(steps, -1)
        out = {}
        for name, at in self.at.items():
            block = recorded[:, at:at + n]
            if name == "color":
                out[name] = (_ONE_HOT_COLORS[block.astype(np.intp)]
                             .view(np.float64).reshape(steps, n, 3))
            elif name in _POINTERS:
                out[name] = block.astype(np.int64)
            else:
                out[name] = block.copy()
        names = ["s", "u", "v", "s_last"]
        if clock == "topo_head_h":
            names.append(clock)
        trail = recorded[:, self.trail:]
        marks = np.zeros((len(names) * steps, n))
        marks[np.arange(len(names) * steps),
              trail[:, :len(names)].T.ravel().astype(np.intp)] = 1.0
        out.update(zip(names, marks.reshape(len(names), steps, n)))
        if clock == "time":
            out["time"] = trail[:, _CLOCK].copy()
        if phase:
            out["phase"] = trail[:, _PHASE].copy()
        return out


def dfs(A) -> Trace:
    """Depth-first search from every white node in index order (CLRS 22.3);
    outputs the DFS forest as parent pointers."""
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = _StackDfs(n, ("pi_h", "color", "d", "f", "s_prev"))
    search.walk(_bitmasks(A), range(n))
    return make_trace("dfs", inputs=graph_inputs(A), hints=search.hints(),
                      outputs={"pi": search.values("pi_h")})


def bfs(A, s) -> Trace:
    """Breadth-first search from ``s`` (CLRS 22.2), one step per BFS layer
    plus a last one where nothing new is reached; edges are the positive
    entries of ``A``.

    Each node's parent is the lowest-numbered node of the previous layer
    with an edge to it, which is the published tie-break: the layer is
    scanned in increasing order and each node claims the neighbours that
    nobody has claimed yet.
    """
    A = _checks.square(A, "A")
    n = A.shape[0]
    s = _checks.node(s, n, "s")
    nbrs = _bitmasks(A > 0)
    pi = list(range(n))
    layer = [n] * n  # n: never reached
    layer[s] = 0
    seen = 1 << s
    frontier = [s]
    rounds = 0
    while True:
        new = 0
        for i in frontier:
            fresh = nbrs[i] & ~seen
            if fresh:
                seen |= fresh
                new |= fresh
                while fresh:
                    bit = fresh & -fresh
                    fresh ^= bit
                    pi[bit.bit_length() - 1] = i
        if not new:
            break
        rounds += 1
        frontier = []
        while new:
            bit = new & -new
            new ^= bit
            frontier.append(bit.bit_length() - 1)
            layer[frontier[-1]] = rounds
    reach_h = np.array(layer) <= np.arange(rounds + 1)[:, None]
    pi = np.array(pi)
    return make_trace(
        "bfs",
        inputs={"pos": positions(n), "s": one_hot(s, n), "A": A, "adj": graph(A)},
        hints={"reach_h": reach_h, "pi_h": np.where(reach_h, pi, np.arange(n))},
        outputs={"pi": pi},
    )


def topological_sort(A) -> Trace:
    """Topological sort by depth-first search (CLRS 22.4): each finished node
    goes to the front of a linked list, ``topo`` pointing each node to the
    next one and ``topo_head`` marking the first. (On a graph with cycles
    this is still the reverse finishing order, just not a topological one.)"""
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = _StackDfs(n, ("topo_h", "color", "s_prev"))
    search.walk(_bitmasks(A), range(n), timed=False, topo=True)
    return make_trace(
        "topological_sort", inputs=graph_inputs(A), hints=search.hints("topo_head_h"),
        outputs={"topo": search.values("topo_h"), "topo_head": one_hot(search.head, n)})


def articulation_points(A) -> Trace:
    """Cut vertices of an undirected graph by DFS low values (CLRS problem
    22-2): a non-root node is a cut vertex when some child's subtree cannot
    reach above it, a root when it has two or more children (``child_cnt``
    counts them in hundredths)."""
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = _StackDfs(n, ("is_cut_h", "pi_h", "color", "d", "f", "low", "child_cnt",
                           "s_prev"))
    search.walk(_bitmasks(A), range(n), edges=_CUTS)
    return make_trace("articulation_points", inputs=graph_inputs(A), hints=search.hints(),
                      outputs={"is_cut": search.values("is_cut_h")})


def bridges(A) -> Trace:
    """Bridges of an undirected graph by DFS low values (CLRS problem 22-2):
    the tree edges to children whose subtrees cannot reach their parent or
    above. ``is_bridge`` is 1 on bridges (both directions), 0 on other
    edges and the diagonal, and -1 (masked) between non-adjacent nodes."""
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = _StackDfs(n, ("pi_h", "color", "d", "f", "low", "s_prev"))
    search.walk(_bitmasks(A), range(n), edges=_BRIDGES)
    adj = graph(A)
    is_bridge = adj - 1.0
    is_bridge_h = np.empty((search.steps, n, n))
    is_bridge_h[:] = is_bridge
    for t, a, b in search.bridge_log:
        is_bridge_h[t:, a, b] = is_bridge_h[t:, b, a] = 1.0
        is_bridge[a, b] = is_bridge[b, a] = 1.0
    hints = search.hints()
    hints["is_bridge_h"] = is_bridge_h
    return make_trace("bridges", inputs={"pos": positions(n), "A": A, "adj": adj},
                      hints=hints, outputs={"is_bridge": is_bridge})


def strongly_connected_components(A) -> Trace:
    """Kosaraju's strongly connected components (CLRS 22.5): a DFS of the
    graph, then a DFS of its transpose taking roots by decreasing finishing
    time; each node's ``scc_id`` points to the root of its second-pass tree.

    The clock and the discovery/finishing times run on through the second
    pass, where only roots are rediscovered.
    """
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = _StackDfs(n, ("scc_id_h", "color", "d", "f", "s_prev"))
    search.walk(_bitmasks(A), range(n))
    search.restart()
    search.walk(_bitmasks(A.T), search.finished[::-1], scc=True)
    hints = search.hints(phase=True)
    # The transpose never changes; it is still a real (writable) array per
    # step, like every other hint.
    hints["A_t"] = np.broadcast_to(graph(A.T), (search.steps, n, n)).copy()
    return make_trace("strongly_connected_components", inputs=graph_inputs(A),
                      hints=hints, outputs={"scc_id": search.values("scc_id_h")})
