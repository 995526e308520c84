"""Elementary graph algorithms (CLRS chapter 22): breadth-first search,
depth-first search, topological sort, articulation points, bridges and
strongly connected components.

Apart from BFS, these are all the benchmark's iterative depth-first search:
the recursion stack is threaded through the nodes as ``s_prev`` pointers,
``s_last`` is the top of that stack, and a step is recorded whenever a node
is discovered, a tree edge is taken (and, when looking for articulation points
or bridges, whenever a non-tree edge is examined), or a node finishes.

:class:`StackDfs` is that search, written once for both engines; the
sparse one (``sparse_depth_first``) runs it too. Two things vary:

- the neighbour order (:class:`BitmaskNeighbours` here: the neighbour and
  white sets as Python int bitmasks, the next tree edge one bit trick away;
  :class:`ListNeighbours` for edge lists: sorted neighbour lists and a
  cursor in each, O(E) per pass, since nodes only leave the white set
  within a pass);
- what is kept of each step. Dense traces keep everything a step records
  in one flat ``array('d')``, so that recording a step is one memory copy
  onto the end of another, and cut the hint arrays out of it at the end
  (logging changes and replaying them is no faster here: the hints are
  large, and on their own the copies out of the record already cost about
  as much as touching the fresh memory they fill). Sparse traces log every
  change as (step, cell, value) and rebuild the hints at the end
  (``_graphs.replay``), or keep nothing at all (memory O(n + E)).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, positions
from . import _checks
from ._graphs import graph_inputs, replay

__all__ = ["dfs", "bfs", "topological_sort", "articulation_points", "bridges",
           "strongly_connected_components"]

# The published search advances its clock by this much at every discovery
# and every finish (and counts children in the same unit); the sums must be
# accumulated in the same order to give the same floats.
_TICK = 0.01

# What the search does with non-tree edges.
PLAIN, CUTS, BRIDGES = 0, 1, 2

# Per-node hints that start as the identity (the others start at zero).
_POINTERS = ("pi_h", "s_prev", "topo_h", "scc_id_h")

# White, grey and black as one-hot rows, each row a single 24-byte item so
# that a colour array becomes its one-hot encoding in one gather.
_ONE_HOT_COLORS = np.eye(3).view(np.dtype((np.void, 24))).ravel()

# Per-step values after the per-node hints: s, u, v, s_last, then the clock
# (topological sort, which has none, keeps its list head there) and, for
# strongly connected components, the phase.
_S, _U, _V, _LAST, _CLOCK, _PHASE = range(6)
_PER_STEP = 6

# What the search keeps of each step: the whole state (dense traces), the
# changes (sparse traces), or nothing but the count (sparse, hints=False).
SNAPSHOTS, CHANGES, COUNT = "snapshots", "changes", "count"


def _bitmasks(M: np.ndarray) -> list[int]:
    """Row ``i`` of the non-zero pattern of ``M`` as an int: bit ``j`` set
    when ``M[i, j] != 0``, so lower bits are lower-numbered neighbours."""
    bits = np.packbits(M != 0, axis=1, bitorder="little")
    raw, width = bits.tobytes(), bits.shape[1]
    return [int.from_bytes(raw[i:i + width], "little")
            for i in range(0, len(raw), width)]


class BitmaskNeighbours:
    """One pass's neighbour order on a dense graph: row ``i`` of ``M``'s
    non-zero pattern and the white set as ints (bit ``j``: node ``j``).

    The search asks three things of a neighbour order: :meth:`take` (make a
    node non-white, saying whether it was white), :meth:`claim` (``u``'s
    lowest white neighbour, taken, or -1) and :meth:`below` (``u``'s
    neighbours below a claimed one, or all of them after -1, in increasing
    order; none of them is white).
    """

    def __init__(self, M: np.ndarray):
        self.rows = _bitmasks(M)
        self.white = (1 << len(self.rows)) - 1
        self.lists: list = [None] * len(self.rows)  # for below(): rows as ascending lists

    def take(self, u: int) -> bool:
        bit = 1 << u
        if self.white & bit:
            self.white ^= bit
            return True
        return False

    def claim(self, u: int) -> int:
        fresh = self.rows[u] & self.white
        if fresh:
            lowest = fresh & -fresh
            self.white ^= lowest
            return lowest.bit_length() - 1
        return -1

    def below(self, u: int, v: int) -> list[int]:
        row = self.lists[u]
        if row is None:  # a node's list, made on its first visit (a search visits it again)
            rest, row = self.rows[u], []
            while rest:
                bit = rest & -rest
                rest ^= bit
                row.append(bit.bit_length() - 1)
            self.lists[u] = row
        return row[:bisect_left(row, v)] if v >= 0 else row


class ListNeighbours:
    """One pass's neighbour order on an edge list: each node's sorted
    out-neighbours and a cursor at its lowest possibly white one. Nodes only
    leave the white set within a pass, so a cursor only moves forward: O(E)
    per pass, whatever ``n``. Asked what :class:`BitmaskNeighbours` is."""

    def __init__(self, lists: list[list[int]]):
        self.lists = lists
        self.white = [True] * len(lists)
        self.cursor = [0] * len(lists)

    def take(self, u: int) -> bool:
        if self.white[u]:
            self.white[u] = False
            return True
        return False

    def claim(self, u: int) -> int:
        nb, white = self.lists[u], self.white
        k = self.cursor[u]
        while k < len(nb) and not white[nb[k]]:
            k += 1
        self.cursor[u] = k
        if k < len(nb):
            white[nb[k]] = False
            return nb[k]
        return -1

    def below(self, u: int, v: int) -> list[int]:
        return self.lists[u][:self.cursor[u]]  # the cursor stays at the last claim


class _Trail:
    """The record of a search that keeps no copies of its state (sparse
    traces): ``trail += state`` counts a step and, given ``cells``, keeps
    the step's per-step values (the state past its first ``cells``). The
    search appends every step with ``+=``, which for the dense traces' record
    (an ``array('d')``) is a plain copy with no Python call."""

    def __init__(self, cells: int | None = None):
        self.cells = cells
        self.steps = 0
        self.values = array("d")

    def __iadd__(self, state):
        if self.cells is not None:
            self.values.extend(state[self.cells:])
        self.steps += 1
        return self


class _ChangeLog(list):
    """A search's state that logs every change of its first ``cells`` cells
    as (step, cell, value), the step read from ``trail``. The search writes
    plain subscripts, so the dense traces, which copy the whole state
    instead, pay nothing for the log."""

    def __init__(self, state, cells: int, trail: _Trail):
        super().__init__(state)
        self.cells = cells
        self.trail = trail
        self.ev_t: list[int] = []
        self.ev_c: list[int] = []
        self.ev_x: list[float] = []

    def __setitem__(self, cell, value):
        list.__setitem__(self, cell, value)
        if cell < self.cells:
            self.ev_t.append(self.trail.steps)
            self.ev_c.append(cell)
            self.ev_x.append(value)


class StackDfs:
    """The benchmark's stack-threaded depth-first search.

    ``state`` holds the per-node hints named at construction (``n`` cells
    each, in that order), then the per-step values (``_S``...): an
    ``array('d')`` when steps are copied whole, a list (faster to read and
    write one cell of) otherwise. ``keep`` says what each step keeps in
    ``record``: ``SNAPSHOTS``, the whole state, end to end in an
    ``array('d')``; ``CHANGES``, the per-step values (a :class:`_Trail`),
    the state logging its changes (:class:`_ChangeLog`); ``COUNT``, only the
    count. :meth:`walk` runs one pass over some roots on a neighbour order;
    strongly connected components make two passes on one object, so the
    clock and the steps carry over, as they do in the published code.
    """

    def __init__(self, n: int, hints: tuple[str, ...], keep: str = SNAPSHOTS):
        self.n = n
        self.at = {name: i * n for i, name in enumerate(hints)}
        self.trail_at = len(hints) * n
        state = array("d", bytes(8 * (self.trail_at + _PER_STEP)))
        for name in hints:
            if name in _POINTERS:
                state[self.at[name]:self.at[name] + n] = array("d", range(n))
        self.keep = keep
        if keep == SNAPSHOTS:
            self.state, self.record = state, array("d")
        elif keep == CHANGES:
            self.initial = np.frombuffer(state[:self.trail_at])  # step 0's per-node cells
            self.record = _Trail(self.trail_at)
            self.state = _ChangeLog(state, self.trail_at, self.record)
        else:
            self.state, self.record = state.tolist(), _Trail()
        self.steps = 0
        self.time = 0.0
        self.head = 0
        self.bridge_log: list = []  # step, u, v: from this step on, uv is a bridge
        self.finished: list[int] = []

    def _steps_so_far(self) -> int:
        if self.keep == SNAPSHOTS:
            return len(self.record) // len(self.state)
        return self.record.steps

    def values(self, name: str) -> list[float]:
        """The current value of a per-node hint."""
        return list(self.state[self.at[name]:self.at[name] + self.n])

    def walk(self, nbrs, roots, *, timed=True, edges=PLAIN, topo=False, scc=False):
        """Search from each still-white node of ``roots`` in turn.

        ``nbrs``: the pass's neighbour order (:class:`BitmaskNeighbours`,
        :class:`ListNeighbours`), every node white. ``timed``: keep the clock
        (all but topological sort); a node is then discovered when it
        reaches the top of the stack with no discovery time yet, otherwise
        only roots are. ``edges``: also examine non-tree edges, for
        articulation points or bridges. ``topo``: thread finished nodes into
        a list. ``scc``: label each node with the root of its tree.
        """
        n, st, rec = self.n, self.state, self.record
        take, claim, below = nbrs.take, nbrs.claim, nbrs.below
        at = self.at
        COLOR, PREV = at["color"], at["s_prev"]
        PI, D, F, LOW, CNT = (at.get(k, -1) for k in ("pi_h", "d", "f", "low", "child_cnt"))
        TOPO, SCC = at.get("topo_h", -1), at.get("scc_id_h", -1)
        S = self.trail_at + _S
        U, V, LAST, CLOCK = S + 1, S + 2, S + 3, S + 4
        children = [[] for _ in range(n)] if edges else None
        time, head = self.time, self.head
        last = n - 1

        for s in roots:
            if not take(s):
                continue
            s_last = u = v = s
            st[S] = s
            st[U] = st[V] = st[LAST] = s
            rec += st
            root = True  # only a root reaches the top of the stack white
            while True:
                if scc:
                    st[SCC + u] = s
                if root or (timed and st[D + u] == 0.0):
                    root = False
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
                fresh = claim(u)
                if edges:
                    parent = st[PI + u]
                    for w in below(u, fresh):
                        if w != parent:
                            if st[D + w] < st[LOW + u]:
                                st[LOW + u] = st[D + w]
                            st[U] = u
                            st[V] = w
                            st[LAST] = s_last
                            rec += st

                if fresh >= 0:
                    v = fresh
                    st[COLOR + v] = 1
                    if PI >= 0:
                        st[PI + v] = u
                    if edges:
                        children[u].append(v)
                        if edges == CUTS:
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

        self.time, self.head = time, head
        self.steps = self._steps_so_far()

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
            if edges == BRIDGES:
                if lc > du:
                    self.bridge_log.append((self._steps_so_far(), u, c))
            elif not root and lc >= du:
                cut = True
        st[LOW + u] = lo
        if edges == CUTS and (cut or root and st[at["child_cnt"] + u] > _TICK):
            st[at["is_cut_h"] + u] = 1

    def restart(self):
        """Whiten every node for a second pass, which is phase 1."""
        st, at = self.state, self.at["color"]
        for cell in range(at, at + self.n):
            st[cell] = 0
        st[self.trail_at + _PHASE] = 1

    def hints(self, clock: str | None = "time", phase: bool = False) -> dict[str, np.ndarray]:
        """The kept steps as hints: the per-node ones, ``s``, ``u``, ``v``
        and ``s_last``, and the clock slot as ``clock`` (a scalar ``time``,
        or the one-hot ``topo_head_h``)."""
        n, steps = self.n, self.steps
        if self.keep == SNAPSHOTS:
            recorded = np.frombuffer(self.record).reshape(steps, -1)
            trail = recorded[:, self.trail_at:]

            def block(at, dtype):
                cut = recorded[:, at:at + n]
                return cut.copy() if dtype is np.float64 else cut.astype(dtype)
        elif self.keep == CHANGES:
            log = self.state
            trail = np.frombuffer(self.record.values).reshape(steps, _PER_STEP)
            # Changes after the last step (the log is in time order) show nowhere.
            ev_t = np.array(log.ev_t, dtype=np.intp)
            end = int(np.searchsorted(ev_t, steps))
            ev_t = ev_t[:end]
            ev_c = np.array(log.ev_c[:end], dtype=np.intp)
            ev_x = np.array(log.ev_x[:end], dtype=np.float64)

            def block(at, dtype):
                mine = (ev_c >= at) & (ev_c < at + n)
                return replay(self.initial[at:at + n], steps, ev_t[mine], ev_c[mine] - at,
                              ev_x[mine], dtype)
        else:
            raise ValueError("a search that keeps only the count of its steps has no hints")
        out = {}
        for name, at in self.at.items():
            if name == "color":
                colors = block(at, np.intp)
                out[name] = _ONE_HOT_COLORS[colors].view(np.float64).reshape(steps, n, 3)
            else:
                out[name] = block(at, np.int64 if name in _POINTERS else np.float64)
        names = ["s", "u", "v", "s_last"]
        if clock == "topo_head_h":
            names.append(clock)
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
    search = StackDfs(n, ("pi_h", "color", "d", "f", "s_prev"))
    search.walk(BitmaskNeighbours(A), range(n))
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
    search = StackDfs(n, ("topo_h", "color", "s_prev"))
    search.walk(BitmaskNeighbours(A), range(n), timed=False, topo=True)
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
    search = StackDfs(n, ("is_cut_h", "pi_h", "color", "d", "f", "low", "child_cnt",
                           "s_prev"))
    search.walk(BitmaskNeighbours(A), range(n), edges=CUTS)
    return make_trace("articulation_points", inputs=graph_inputs(A), hints=search.hints(),
                      outputs={"is_cut": search.values("is_cut_h")})


def bridges(A) -> Trace:
    """Bridges of an undirected graph by DFS low values (CLRS problem 22-2):
    the tree edges to children whose subtrees cannot reach their parent or
    above. ``is_bridge`` is 1 on bridges (both directions), 0 on other
    edges and the diagonal, and -1 (masked) between non-adjacent nodes."""
    A = _checks.square(A, "A")
    n = A.shape[0]
    search = StackDfs(n, ("pi_h", "color", "d", "f", "low", "s_prev"))
    search.walk(BitmaskNeighbours(A), range(n), edges=BRIDGES)
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
    search = StackDfs(n, ("scc_id_h", "color", "d", "f", "s_prev"))
    search.walk(BitmaskNeighbours(A), range(n))
    search.restart()
    search.walk(BitmaskNeighbours(A.T), search.finished[::-1], scc=True)
    hints = search.hints(phase=True)
    # The transpose never changes; it is still a real (writable) array per
    # step, like every other hint.
    hints["A_t"] = np.broadcast_to(graph(A.T), (search.steps, n, n)).copy()
    return make_trace("strongly_connected_components", inputs=graph_inputs(A),
                      hints=hints, outputs={"scc_id": search.values("scc_id_h")})
