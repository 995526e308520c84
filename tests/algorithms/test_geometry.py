"""Geometry traces against independent truths: exact rational segment
intersection, Andrew's monotone-chain convex hull (and scipy's, where
installed), hand-worked touching and collinear cases, and the invariants of
each algorithm's hints."""

import math
from fractions import Fraction

import numpy as np
import pytest

import openclrs
from openclrs.algorithms import ALGORITHMS, geometry
from openclrs.probes import validate_trace

HULLS = ["graham_scan", "jarvis_march"]


# ----------------------------------------------------------------------------
# Segment intersection
# ----------------------------------------------------------------------------

def on_segment_exactly(px, py, ax, ay, bx, by):
    """Whether point p lies on segment ab (a point when a == b)."""
    return ((bx - ax) * (py - ay) == (by - ay) * (px - ax)
            and min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by))


def meet_exactly(xs, ys):
    """Whether segments p0p1 and p2p3 share a point, in exact rational
    arithmetic, by solving p0 + s (p1 - p0) = p2 + u (p3 - p2)."""
    p = [(Fraction(x), Fraction(y)) for x, y in zip(xs, ys)]
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = p
    rx, ry, sx, sy = bx - ax, by - ay, dx - cx, dy - cy
    denom = rx * sy - ry * sx
    qx, qy = cx - ax, cy - ay
    if denom != 0:
        s = (qx * sy - qy * sx) / denom
        u = (qx * ry - qy * rx) / denom
        return 0 <= s <= 1 and 0 <= u <= 1
    # Parallel, or a segment reduced to a point: they meet only if an
    # endpoint of one lies on the other.
    return (on_segment_exactly(ax, ay, cx, cy, dx, dy) or on_segment_exactly(bx, by, cx, cy, dx, dy)
            or on_segment_exactly(cx, cy, ax, ay, bx, by)
            or on_segment_exactly(dx, dy, ax, ay, bx, by))


@pytest.mark.parametrize("segments,expected", [
    (((0, 0), (2, 2), (0, 2), (2, 0)), 1),  # an X
    (((0, 0), (2, 0), (0, 1), (2, 1)), 0),  # parallel
    (((0, 0), (2, 0), (1, 0), (3, 0)), 1),  # collinear, overlapping
    (((0, 0), (1, 0), (2, 0), (3, 0)), 0),  # collinear, apart
    (((0, 0), (2, 0), (1, 0), (1, 1)), 1),  # a T: p2 lies on p0p1
    (((0, 0), (1, 1), (1, 1), (2, 0)), 1),  # sharing an endpoint
    (((0, 0), (1, 0), (1.5, -1), (1.5, 1)), 0),  # near miss beyond p1
    (((0, 0), (4, 4), (1, 2), (2, 3)), 0),  # parallel line above
])
def test_segments_hand_worked(segments, expected):
    xs = [float(p[0]) for p in segments]
    ys = [float(p[1]) for p in segments]
    trace = geometry.segments_intersect(xs, ys)
    assert trace.outputs["intersect"] == expected
    assert meet_exactly(xs, ys) == expected


def test_segments_textbook_orientations():
    # An X: each endpoint is on a different side of the other segment.
    trace = geometry.segments_intersect([0.0, 2.0, 0.0, 2.0], [0.0, 2.0, 2.0, 0.0])
    d = trace.hints["dir"][-1]
    # d_k = (p_k - p_i) x (p_j - p_i), per the tests (2,3,0) (2,3,1) (0,1,2) (0,1,3).
    assert d.tolist() == [4.0, -4.0, -4.0, 4.0]
    assert trace.hints["on_seg"][-1].tolist() == [1.0, 1.0, 1.0, 1.0]
    # One endpoint per step, in the order p0, p1 (against p2p3), p2, p3 (against p0p1).
    assert trace.length == 5
    assert trace.hints["k"].argmax(axis=1).tolist() == [0, 0, 1, 2, 3]
    assert trace.hints["i"].argmax(axis=1).tolist() == [0, 2, 2, 0, 0]
    assert trace.hints["j"].argmax(axis=1).tolist() == [0, 3, 3, 1, 1]
    for t in range(5):
        assert (trace.hints["dir"][t, t:] == 0).all()
        np.testing.assert_array_equal(trace.hints["dir"][t, :t], d[:t])


def test_segments_against_exact_arithmetic():
    rng = np.random.RandomState(0)
    for trial in range(600):
        if trial % 2:  # a small grid: many collinear and touching cases
            xs, ys = rng.randint(0, 3, size=4) * 1.0, rng.randint(0, 3, size=4) * 1.0
        else:
            xs, ys = rng.uniform(size=4), rng.uniform(size=4)
        trace = geometry.segments_intersect(xs, ys)
        assert trace.outputs["intersect"] == meet_exactly(xs, ys), (xs, ys)


# ----------------------------------------------------------------------------
# Convex hull
# ----------------------------------------------------------------------------

def monotone_chain_hull(xs, ys):
    """Hull vertices (sorted indices) by Andrew's monotone chain, in exact
    rational arithmetic; points on an edge are left out."""
    pts = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
    fx, fy = [Fraction(v) for v in xs], [Fraction(v) for v in ys]

    def cross(o, a, b):
        return (fx[a] - fx[o]) * (fy[b] - fy[o]) - (fy[a] - fy[o]) * (fx[b] - fx[o])

    def chain(order):
        out = []
        for p in order:
            while len(out) >= 2 and cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]
    return sorted(set(chain(pts) + chain(pts[::-1])))


def test_monotone_chain_agrees_with_scipy():
    spatial = pytest.importorskip("scipy.spatial")
    for xs, ys in sampled_points(30, 5, seed=9):
        scipy_hull = spatial.ConvexHull(np.stack([xs, ys], axis=1)).vertices
        assert monotone_chain_hull(xs, ys) == sorted(scipy_hull.tolist())


def lowest(xs, ys):
    return int(np.lexsort((xs, ys))[0])


def left_turn(xs, ys, a, b, c):
    return (xs[b] - xs[a]) * (ys[c] - ys[a]) - (ys[b] - ys[a]) * (xs[c] - xs[a]) > 0


def sampled_points(n, count, seed):
    # The sampler redraws point sets with (nearly) collinear triples.
    return [(tr.inputs["x"], tr.inputs["y"])
            for tr in openclrs.sample("graham_scan", length=n, seed=seed, num_samples=count)]


@pytest.mark.parametrize("name", HULLS)
@pytest.mark.parametrize("n", [3, 5, 12, 40])
def test_hull_matches_monotone_chain(name, n):
    for xs, ys in sampled_points(n, 8, seed=n):
        trace = ALGORITHMS[name](xs, ys)
        assert np.flatnonzero(trace.outputs["in_hull"]).tolist() == monotone_chain_hull(xs, ys)
        np.testing.assert_array_equal(trace.hints["in_hull_h"][-1], trace.outputs["in_hull"])
        assert (trace.hints["best"][1:].argmax(axis=1) == lowest(xs, ys)).all()


@pytest.mark.parametrize("name", HULLS)
def test_hull_square_with_inner_points(name):
    xs = np.array([1.0, 2.0, 0.5, 2.0, 0.0, 0.0, 1.2])
    ys = np.array([1.0, 0.0, 1.5, 2.0, 2.0, 0.0, 0.3])
    trace = ALGORITHMS[name](xs, ys)
    assert np.flatnonzero(trace.outputs["in_hull"]).tolist() == [1, 3, 4, 5]


def test_graham_drops_collinear_boundary_points():
    # (2, 1) lies on the hull edge from (2, 0) to (2, 2): a straight turn
    # pops it, as a right turn would.
    xs = np.array([0.0, 2.0, 2.0, 0.0, 2.0])
    ys = np.array([0.0, 0.0, 2.0, 2.0, 1.0])
    trace = geometry.graham_scan(xs, ys)
    assert np.flatnonzero(trace.outputs["in_hull"]).tolist() == [0, 1, 2, 3]
    pops = trace.hints["phase"].argmax(axis=1) == 3
    assert trace.hints["in_hull_h"][pops][:, 4].tolist() == [0.0]


def test_graham_stack_is_a_convex_chain():
    for xs, ys in sampled_points(30, 5, seed=3):
        trace = geometry.graham_scan(xs, ys)
        n = len(xs)
        best = lowest(xs, ys)
        # The angles hint: polar angles around the lowest point, from step 2.
        expected = [0.0 if p == best else math.atan2(ys[p] - ys[best], xs[p] - xs[best])
                    for p in range(n)]
        assert (trace.hints["atans"][:2] == 0).all()
        assert (trace.hints["atans"][2:] == expected).all()
        # Following stack_prev from the top reaches the anchor through the
        # hull, clockwise; every three consecutive points turn left.
        prev = trace.hints["stack_prev"][-1]
        stack = [int(trace.hints["last_stack"][-1].argmax())]
        while stack[-1] != best:
            stack.append(int(prev[stack[-1]]))
        stack.reverse()
        assert sorted(stack) == monotone_chain_hull(xs, ys)
        for a, b, c in zip(stack, stack[1:] + stack[:1], stack[2:] + stack[:2]):
            assert left_turn(xs, ys, a, b, c)
        # Every point is pushed once; only non-hull points are popped.
        h = len(stack)
        phases = trace.hints["phase"].argmax(axis=1)
        assert phases[:3].tolist() == [0, 1, 2]
        assert (phases[3:] == 4).sum() == n - 1
        assert (phases[3:] == 3).sum() == n - h
        assert trace.length == 3 + (n - 1) + (n - h)


def test_jarvis_wraps_counterclockwise():
    for xs, ys in sampled_points(25, 5, seed=4):
        trace = geometry.jarvis_march(xs, ys)
        n = len(xs)
        hull = monotone_chain_hull(xs, ys)
        h = len(hull)
        # One scan of all points per hull vertex, plus a step per vertex found.
        assert trace.length == 2 + h * n + (h - 1)
        visited = []
        for p in trace.hints["last_point"][1:].argmax(axis=1).tolist():
            if not visited or visited[-1] != p:
                visited.append(p)
        assert visited[0] == lowest(xs, ys)
        assert sorted(visited) == hull
        for a, b, c in zip(visited, visited[1:] + visited[:1], visited[2:] + visited[:2]):
            assert left_turn(xs, ys, a, b, c)
        # The scanned point cycles through all points; pred_h never changes.
        assert trace.hints["pred_h"].tolist() == [[0] + list(range(n - 1))] * trace.length
        assert trace.hints["phase"][:, 1].tolist() == [0.0] + [1.0] * (trace.length - 1)


@pytest.mark.parametrize("name", HULLS)
def test_degenerate_inputs_terminate(name):
    # Duplicates of the lowest point made the published Graham scan pop its
    # anchor and loop forever; here it must finish with a valid trace.
    cases = [([0.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
             ([0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]),
             ([1.0], [1.0]),
             ([0.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0]),
             # The published scan never finishes on this one.
             ([4.0, 5.0, 2.0, 3.0, 4.0, 4.0, 0.0, 0.0, 0.0, 2.0],
              [5.0, 5.0, 1.0, 5.0, 2.0, 2.0, 2.0, 2.0, 3.0, 1.0])]
    for xs, ys in cases:
        trace = ALGORITHMS[name](xs, ys)
        validate_trace(trace)
        assert trace.outputs["in_hull"][lowest(np.array(xs), np.array(ys))] == 1


@pytest.mark.parametrize("name", ["segments_intersect", *HULLS])
@pytest.mark.parametrize("length", [4, 16, 64])
def test_sampled_traces_match_independent_truths(name, length):
    count = 3 if length == 64 and name != "segments_intersect" else 10
    for trace in openclrs.sample(name, length=length, seed=length, num_samples=count):
        validate_trace(trace)
        xs, ys = trace.inputs["x"], trace.inputs["y"]
        if name == "segments_intersect":
            assert trace.outputs["intersect"] == meet_exactly(xs, ys)
        else:
            assert np.flatnonzero(trace.outputs["in_hull"]).tolist() == monotone_chain_hull(xs, ys)


@pytest.mark.parametrize("name", ["segments_intersect", *HULLS])
def test_integer_coordinates_give_the_same_trace_as_floats(name):
    grid = ALGORITHMS[name]([0, 3, 1, 2], [1, 0, 3, 2])
    again = ALGORITHMS[name]([0.0, 3.0, 1.0, 2.0], np.array([1.0, 0.0, 3.0, 2.0]))
    for a, b in zip(grid.probes(), again.probes()):
        np.testing.assert_array_equal(a[-1], b[-1])


@pytest.mark.parametrize("xs, ys, in_hull", [
    # (1, 0) lies on the hull edge from (0, 0) to (2, 0): it is on the hull
    # only when it comes later than (2, 0), the edge's far end
    ([0, 2, 1, 2, 0], [0, 0, 0, 2, 2], [1, 1, 1, 1, 1]),
    ([0, 1, 2, 2, 0], [0, 0, 0, 2, 2], [1, 0, 1, 1, 1]),
    # all collinear: an inner point can be marked
    ([0, 1, 2, 3], [0, 1, 2, 3], [1, 0, 1, 1]),
])
def test_jarvis_march_on_collinear_points_depends_on_their_order(xs, ys, in_hull):
    """Documented quirk, as in the published code (ties on a line go to the
    later point); the samplers never draw collinear triples."""
    trace = ALGORITHMS["jarvis_march"](np.array(xs, float), np.array(ys, float))
    assert trace.outputs["in_hull"].tolist() == in_hull
