"""Lipschitz bounds: gradients against finite differences, lower <= exact <= upper on tiny nets
with the exact constant from realized activation patterns, branch and bound against
enumeration, pairs against a direct n x n computation, and clear errors."""
import itertools
import math

import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.estimators import input_gradients, lipschitz_lower, lipschitz_upper
from noprune_theory.models import MaskedMLP


def _fd_grad(net, X, h=1e-6):
    """Central differences of the forward pass (float64), (B, n, d)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((net.B, X.shape[0], X.shape[1]))
    for k in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[k] = h
        fp = to_numpy(net.forward(X + e))[..., 0]
        fm = to_numpy(net.forward(X - e))[..., 0]
        out[..., k] = (fp - fm) / (2 * h)
    return out


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "softplus", "identity"])
@pytest.mark.parametrize("scaling", ["standard", "ntk", "mean_field"])
@pytest.mark.parametrize("hidden", [(5,), (4, 3)])
def test_input_gradients_match_finite_differences(activation, scaling, hidden, rng):
    net = MaskedMLP(3, hidden, B=2, activation=activation, scaling=scaling, seed=3)
    net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    X = rng.standard_normal((7, 3))
    g = input_gradients(net, X)
    # central differences are exact for piecewise-linear nets away from kinks (h = 1e-6 and
    # random points keep every pre-activation away from 0) and O(h^2) ~ 1e-12 for smooth ones;
    # rounding of f ~ 1e-16 / 1e-6 = 1e-10
    np.testing.assert_allclose(g, _fd_grad(net, X), rtol=0, atol=1e-8)


def test_input_gradients_namespace_generic(xp, rng):
    net = MaskedMLP(3, (4, 2), B=2, activation="tanh", seed=1)
    X = rng.standard_normal((5, 3))
    ref = to_numpy(input_gradients(net, X))
    other = net._as_namespace(xp)
    got = input_gradients(other, xp.asarray(X))
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-13, atol=1e-14)
    lo = lipschitz_lower(other, xp.asarray(X), steps=3, starts=4, n_random=8)
    lo_ref = lipschitz_lower(net, X, steps=3, starts=4, n_random=8)
    np.testing.assert_allclose(to_numpy(lo.value), to_numpy(lo_ref.value), rtol=1e-12)
    up = lipschitz_upper(other)
    np.testing.assert_allclose(to_numpy(up.value), to_numpy(lipschitz_upper(net).value),
                               rtol=1e-12)


@pytest.mark.parametrize("scaling", ["standard", "ntk", "mean_field"])
def test_single_neuron_both_sides(scaling):
    # f(x) = c1 a relu(c0 w.x + b): Lip = |c0 c1 a| ||w|| (the ray where w.x > -b/c0 exists)
    net = MaskedMLP(4, (1,), B=3, scaling=scaling, seed=7)
    w = to_numpy(net.weights[0])[:, :, 0]
    a = to_numpy(net.weights[1])[:, 0, 0]
    c0, c1 = net.multipliers
    exact = np.abs(c0 * c1 * a) * np.linalg.norm(w, axis=1)
    lo = lipschitz_lower(net, seed=2)
    up = lipschitz_upper(net)
    np.testing.assert_allclose(to_numpy(lo.value), exact, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(up.value), exact, rtol=1e-13)
    for m in ("spectral", "sum_norms", "patterns"):
        np.testing.assert_allclose(up.by_method[m], exact, rtol=1e-13)
    assert up.exact.all()


def _exact_by_realized_patterns(net, b):
    """max over all 2^h activation patterns of ||grad f|| at a point realizing the pattern.

    Needs the hidden weight vectors linearly independent (h <= d): then c0 W^T x + bias = t has
    a solution for any target t; t_j = +1 / -1 switches unit j on / off. The gradient at that
    point is measured by central differences of the forward pass (independent of the code
    under test), and the maximum over patterns is Lip(f) exactly (f is piecewise linear and
    every linear piece is one of these).
    """
    W = to_numpy(net.weights[0])[b]  # (d, h)
    bias = to_numpy(net.biases[0])[b]
    c0 = net.multipliers[0]
    h = W.shape[1]
    assert np.linalg.matrix_rank(W) == h
    single = net.copy()
    best = 0.0
    for signs in itertools.product([-1.0, 1.0], repeat=h):
        t = np.array(signs)
        x, *_ = np.linalg.lstsq(c0 * W.T, t - bias, rcond=None)
        g = _fd_grad(single, x[None, :])[b, 0]
        best = max(best, float(np.linalg.norm(g)))
    return best


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("d,h", [(3, 2), (4, 4), (6, 3)])
def test_lower_exact_upper_on_tiny_nets(activation, d, h, rng):
    net = MaskedMLP(d, (h,), B=3, activation=activation, scaling="ntk", seed=d * 10 + h)
    net.biases[0] = 0.3 * rng.standard_normal(net.biases[0].shape)
    X = rng.standard_normal((40, d)) / math.sqrt(d)
    lo = lipschitz_lower(net, X, seed=1)
    up = lipschitz_upper(net)
    assert up.exact.all()
    for b in range(net.B):
        exact = _exact_by_realized_patterns(net, b)
        # central differences inside a linear piece: exact up to rounding 1e-16/1e-6
        assert abs(float(up.value[b]) - exact) <= 1e-8 * exact
        # (the finite-difference 'exact' carries the same 1e-8 relative rounding)
        assert float(lo.value[b]) <= exact * (1 + 1e-8)
        assert float(lo.value[b]) <= float(up.value[b]) * (1 + 1e-12)
        assert up.by_method["spectral"][b] >= exact * (1 - 1e-8)
        assert up.by_method["sum_norms"][b] >= exact * (1 - 1e-8)
    if h == 2:
        # 4 regions, each of Gaussian measure bounded below: 256 random points hit them all
        np.testing.assert_allclose(to_numpy(lo.value), to_numpy(up.value), rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "softplus"])
@pytest.mark.parametrize("hidden", [(12,), (6, 5)])
def test_lower_never_exceeds_upper(activation, hidden, rng):
    net = MaskedMLP(5, hidden, B=4, activation=activation, scaling="mean_field", seed=11)
    masks = [rng.random(w.shape) < 0.6 for w in net.weights]
    net.set_masks(masks)
    X = rng.standard_normal((60, 5)) / math.sqrt(5)
    lo = lipschitz_lower(net, X, steps=20, seed=3)
    up = lipschitz_upper(net)
    assert np.all(to_numpy(lo.value) <= to_numpy(up.value) * (1 + 1e-12))
    for m, v in lo.by_method.items():
        assert np.all(v <= to_numpy(lo.value)), m
    # the secant along the best gradient is a difference quotient: a bound with no smoothness
    assert np.all(lo.secant <= to_numpy(up.value) * (1 + 1e-9))
    if activation in ("relu", "leaky_relu"):
        best_grad = np.max([lo.by_method[m] for m in lo.by_method if m != "pairs"], axis=0)
        # inside a linear piece the secant equals the gradient norm; step 1e-7 stays inside
        np.testing.assert_allclose(lo.secant, best_grad, rtol=1e-6)


def test_ascent_improves_on_its_starts(rng):
    net = MaskedMLP(8, (24,), B=3, activation="tanh", seed=5)
    X = rng.standard_normal((16, 8)) / math.sqrt(8)
    start = lipschitz_lower(net, X, methods=("ascent",), steps=0, starts=16)
    climbed = lipschitz_lower(net, X, methods=("ascent",), steps=40, starts=16)
    # the ascent keeps the best iterate, so it can only improve, and it should strictly here
    assert np.all(to_numpy(climbed.value) >= to_numpy(start.value))
    assert np.any(to_numpy(climbed.value) > to_numpy(start.value) * 1.01)
    assert np.all(to_numpy(start.value) == to_numpy(
        lipschitz_lower(net, X, methods=("data",)).value))


def test_pairs_against_direct_computation(rng):
    net = MaskedMLP(3, (6,), B=2, seed=2)
    X = rng.standard_normal((37, 3))
    X[5] = X[9]  # a duplicate point must be skipped, not divide by zero
    f = to_numpy(net.forward(X))[..., 0]
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    Q = np.abs(f[:, :, None] - f[:, None, :]) / np.where(D > 0, D, np.inf)
    expect = Q.max(axis=(1, 2))
    # a tiny memory forces 7-point tiles (sqrt(100 / 2)), exercising the tiling
    lo = lipschitz_lower(net, X, methods=("pairs",), memory=100)
    np.testing.assert_allclose(to_numpy(lo.value), expect, rtol=1e-12)
    for b in range(2):
        wi, wj = lo.witness[b], lo.witness_pair[b]
        fi, fj = to_numpy(net.forward(np.stack([wi, wj])))[b, :, 0]
        assert abs(abs(fi - fj) / np.linalg.norm(wi - wj) - expect[b]) <= 1e-12 * expect[b]


def test_branch_and_bound_matches_enumeration(rng):
    # 18 active units in d = 5: not every pattern is realizable, the bound is not exact, but
    # the maximum over {0,1}^18 is a finite problem both methods must solve identically
    net = MaskedMLP(5, (18,), B=3, seed=9)
    enum = lipschitz_upper(net, "patterns")
    bb = lipschitz_upper(net, "branch_and_bound")
    np.testing.assert_allclose(bb.by_method["patterns"], enum.by_method["patterns"], rtol=1e-12)
    assert bb.method == ("branch_and_bound",) * 3 and enum.method == ("patterns",) * 3
    # with zero biases 18 hyperplanes through the origin of R^5 make 2 (1 + 17 + 136 + 680 +
    # 2380) = 6428 of the 2^18 patterns; for this seed no maximizer is among them (LP check)
    assert np.all(to_numpy(enum.value)[enum.exact] < enum.by_method["patterns"][enum.exact])
    # the walk down the patterns certifies the exact constant of networks 0 and 2 (the
    # skipped patterns' regions are proved empty), not of network 1 (none of the 256 best
    # patterns is realized)
    assert enum.exact.tolist() == [True, False, True]
    np.testing.assert_allclose(to_numpy(enum.value)[enum.exact], enum.realized[enum.exact],
                               rtol=0)
    # the certified value does not depend on how the maximum was found
    assert bb.exact.tolist() == enum.exact.tolist()
    np.testing.assert_allclose(to_numpy(bb.value), to_numpy(enum.value), rtol=1e-12)
    # a tiny node budget still returns an upper bound, flagged not exact
    tiny = lipschitz_upper(net, "branch_and_bound", max_nodes=1)
    assert np.all(to_numpy(tiny.value) >= enum.by_method["patterns"] * (1 - 1e-12))
    assert not tiny.exact.any()


def test_pattern_bound_brute_force_and_masks(rng):
    net = MaskedMLP(3, (7,), B=2, seed=4)
    masks = [np.ones(w.shape, dtype=bool) for w in net.weights]
    masks[1][0, 2, 0] = False  # unit 2 of network 0 is cut from the output
    masks[0][1, :, 4] = False  # unit 4 of network 1 sees no input
    net.set_masks(masks)
    W = to_numpy(net.weights[0])
    a = to_numpy(net.weights[1])[:, :, 0]
    up = lipschitz_upper(net, "patterns")
    for b in range(2):
        # max over every s in {0,1}^7 of ||W diag(s) a|| (standard scaling: c0 = c1 = 1)
        best = max(np.linalg.norm(W[b] @ (np.array(s) * a[b]))
                   for s in itertools.product([0, 1], repeat=7))
        assert abs(float(up.by_method["patterns"][b]) - best) <= 1e-12 * best
        # the value is that maximum, or the certified exact constant below it
        assert float(up.value[b]) <= best * (1 + 1e-12)
        if not up.exact[b]:
            assert abs(float(up.value[b]) - best) <= 1e-12 * best


def test_spectral_is_exact_for_linear_nets():
    net = MaskedMLP(4, (3, 5), B=2, activation="identity", scaling="ntk", seed=1)
    c = np.prod(net.multipliers)
    P = to_numpy(net.weights[0]) @ to_numpy(net.weights[1]) @ to_numpy(net.weights[2])
    exact = c * np.linalg.norm(P[:, :, 0], axis=1)
    up = lipschitz_upper(net, "spectral")
    np.testing.assert_allclose(to_numpy(up.value), exact, rtol=1e-12)
    # the norm of the product is the constant itself: flagged exact (also under "auto")
    assert up.exact.all() and lipschitz_upper(net).exact.all()
    lo = lipschitz_lower(net, seed=0)
    np.testing.assert_allclose(to_numpy(lo.value), exact, rtol=1e-12)


def test_spectral_for_vector_outputs():
    net = MaskedMLP(4, (6,), out=3, B=2, seed=1)
    s = [np.linalg.norm(to_numpy(w), ord=2, axis=(1, 2)) for w in net.weights]
    up = lipschitz_upper(net)
    np.testing.assert_allclose(to_numpy(up.value), s[0] * s[1], rtol=1e-12)
    assert up.method == ("spectral", "spectral")


def test_bad_inputs_give_clear_errors(rng):
    net = MaskedMLP(3, (4,), B=1)
    with pytest.raises(TypeError, match="model must be a MaskedMLP"):
        lipschitz_lower(np.zeros(3))
    with pytest.raises(ValueError, match="methods must be one of"):
        lipschitz_lower(net, methods=("gradient",))
    with pytest.raises(ValueError, match="need X"):
        lipschitz_lower(net, methods=("pairs",))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\)"):
        lipschitz_lower(net, rng.standard_normal((5, 2)))
    with pytest.raises(ValueError, match="X must not contain NaN"):
        lipschitz_lower(net, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        lipschitz_lower(net, steps=-1)
    with pytest.raises(ValueError, match="radius must be a number > 0"):
        lipschitz_lower(net, radius=0)
    with pytest.raises(ValueError, match="method must be one of"):
        lipschitz_upper(net, "svd")
    with pytest.raises(ValueError, match="one hidden layer and one output"):
        lipschitz_upper(MaskedMLP(3, (4, 4)), "patterns")
    with pytest.raises(ValueError, match="'patterns' needs one hidden layer"):
        lipschitz_lower(MaskedMLP(3, (4, 4)), methods=("patterns",))
    with pytest.raises(ValueError, match=r"one output \(out = 1\)"):
        lipschitz_lower(MaskedMLP(3, (4,), out=2))


def test_every_backend_gives_the_same_bounds(backend, rng):
    X = rng.standard_normal((20, 4)) / 2
    ref = MaskedMLP(4, (6,), B=2, seed=3)
    net = ref.to_backend(backend)
    lo = lipschitz_lower(net, X if backend != "cupy" else net.xp.asarray(X), steps=5, starts=8)
    lo_ref = lipschitz_lower(ref, X, steps=5, starts=8)
    np.testing.assert_allclose(to_numpy(lo.value), to_numpy(lo_ref.value), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(lipschitz_upper(net).value),
                               to_numpy(lipschitz_upper(ref).value), rtol=1e-12)


def test_float32_models(rng):
    net64 = MaskedMLP(3, (3,), B=2, seed=2)
    net32 = MaskedMLP(3, (3,), B=2, seed=2, dtype="float32")
    X = rng.standard_normal((30, 3))
    lo = lipschitz_lower(net32, X, seed=1)
    up = lipschitz_upper(net32)
    assert to_numpy(lo.value).dtype == np.float32 and to_numpy(up.value).dtype == np.float32
    # float32 weights are the float64 ones rounded (rel. 6e-8): bounds agree to ~1e-6
    np.testing.assert_allclose(to_numpy(up.value), to_numpy(lipschitz_upper(net64).value),
                               rtol=1e-5)
    assert np.all(to_numpy(lo.value) <= to_numpy(up.value) * (1 + 1e-5))
    # the float32 secant step (3e-3 relative) still lands in the same linear piece here
    np.testing.assert_allclose(lo.secant, np.max(
        [v for m, v in lo.by_method.items() if m != "pairs"], axis=0), rtol=1e-3)


def test_realizability_decides_exactness_by_hand():
    # d = 1, f(x) = relu(x + b) - relu(-x + b). Pattern bound: both units on, slope 1 + 1 = 2.
    # b = 0: both on needs x > 0 and x < 0, impossible; f(x) = x, Lip = 1 (not exact, the
    # lower bound finds 1). b = 0.5: both on for |x| < 0.5 where f = 2x, Lip = 2 (exact).
    net = MaskedMLP(1, (2,), B=2, seed=0)
    net.weights[0] = np.array([[[1.0, -1.0]], [[1.0, -1.0]]])
    net.weights[1] = np.array([[[1.0], [-1.0]], [[1.0], [-1.0]]])
    net.biases[0] = np.array([[0.0, 0.0], [0.5, 0.5]])
    up = lipschitz_upper(net)
    np.testing.assert_allclose(up.by_method["patterns"], [2.0, 2.0], rtol=1e-15)
    assert abs(up.witness[1, 0]) < 0.5
    # b = 0: the next patterns, (on, off) and (off, on), have value 1 and are realized
    # (x > 0 and x < 0): the walk down the patterns finds the true constant 1, and the
    # pattern (on, on) is proved unrealizable (Farkas: y = (1, 1) adds x > 0 and -x > 0 to
    # 0 > 0), so 1 is the certified exact constant: f(x) = x
    assert up.realized.tolist() == [1.0, 2.0]
    assert to_numpy(up.value).tolist() == [1.0, 2.0]
    assert up.exact.tolist() == [True, True]
    assert up.witness[0, 0] != 0 and not np.isnan(up.witness[0, 0])
    lo = lipschitz_lower(net, methods=("random", "patterns"), seed=0)
    np.testing.assert_allclose(to_numpy(lo.value), [1.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(lo.by_method["patterns"], [1.0, 2.0], rtol=1e-15)


def test_patterns_lower_meets_upper_beyond_d(rng):
    # width 12 > d = 4 with biases: where the maximizing pattern is realized the certified
    # lower bound (a gradient at the LP's point) equals the upper bound
    net = MaskedMLP(4, (12,), B=6, seed=21)
    net.biases[0] = rng.standard_normal(net.biases[0].shape)
    up = lipschitz_upper(net)
    lo = lipschitz_lower(net, methods=("patterns",))
    assert up.exact.sum() >= 1
    got, want = to_numpy(lo.value), to_numpy(up.value)
    np.testing.assert_allclose(got[up.exact], want[up.exact], rtol=1e-12)
    assert np.all(got <= want * (1 + 1e-12))
    # elsewhere the lower bound is the value of the best realized pattern (12 units <= 20)
    has = ~np.isnan(up.realized)
    assert has.all()
    np.testing.assert_allclose(got[has], up.realized[has], rtol=1e-12)


def test_auto_never_exceeds_spectral_when_branch_and_bound_runs_out_of_nodes():
    # regression: with a node budget of 1 the branch and bound returns its open-node bound,
    # which can exceed the spectral and sum-of-norms bounds; "auto" must return the smallest
    from noprune_theory.estimators import lipschitz_upper
    from noprune_theory.models import MaskedMLP

    # d = 64, width 200 at initialization: the root's bound (the smallest of the triangle, box
    # and Gram bounds) is 0.98-1.02x the spectral bound
    net = MaskedMLP(64, (200,), B=4, seed=3)
    up = lipschitz_upper(net, "auto", max_enumerate=0, max_nodes=1)
    assert np.any(up.by_method["patterns"] > up.by_method["spectral"])  # the case is exercised
    smallest = np.minimum(up.by_method["spectral"], up.by_method["sum_norms"])
    assert np.all(np.asarray(up.value) <= smallest * (1 + 1e-12))
    assert np.all(np.asarray(up.value) <= up.by_method["patterns"] * (1 + 1e-12))
    # where the value is not the pattern bound, it cannot be flagged exact
    not_pattern = np.asarray(up.value) < up.by_method["patterns"] * (1 - 1e-12)
    assert not np.any(up.exact & not_pattern)


@pytest.mark.parametrize("lo", [0.0, 0.01])
def test_compiled_branch_and_bound_against_enumeration_beyond_20_units(lo, rng):
    # 24 units in d = 6 and 26 in d = 3: the compiled search (triangle, box and Gram bounds)
    # must find the same maximum as meet-in-the-middle enumeration of all 2^24 / 2^26 patterns
    from noprune_theory.estimators._lipschitz_bb import branch_and_bound
    from noprune_theory.estimators._lipschitz_upper import _enumerate

    for k, d in [(24, 6), (26, 3)]:
        U = rng.standard_normal((k, d)) * rng.exponential(size=(k, 1))
        want, _ = _enumerate(U, lo)
        val, s, upper, complete = branch_and_bound(U, lo, 10**7)
        assert complete and upper == val
        assert abs(val - want) <= 1e-12 * want
        # the returned pattern attains the value
        assert abs(np.linalg.norm(lo * U.sum(0) + (1 - lo) * (s @ U)) - val) <= 1e-12 * val


def test_complete_flags_the_finished_searches():
    net = MaskedMLP(64, (200,), B=2, seed=3)
    up = lipschitz_upper(net, "auto", max_enumerate=0, max_nodes=1)
    assert not up.complete.any() and not up.exact.any()
    small = lipschitz_upper(MaskedMLP(3, (5,), B=2, seed=0))
    assert small.complete.all()
    assert lipschitz_upper(net, "spectral").complete is None


@pytest.mark.parametrize("k,d", [(21, 4), (22, 7)])
def test_top_patterns_against_full_enumeration(k, d, rng):
    # the walk beyond 20 active units scans the 2^k values in blocks keeping the best 256:
    # the same list, in the same order of value, as sorting every pattern
    from noprune_theory.estimators._lipschitz_upper import _all_pattern_norms, _top_patterns

    U = rng.standard_normal((k, d)) * rng.exponential(size=(k, 1))
    for lo in (0.0, 0.01):
        top = _top_patterns(U, lo, 256, block=2**15)
        norms, _ = _all_pattern_norms(U, lo)
        want = np.sort(norms)[::-1][:256]
        np.testing.assert_allclose([v for _, v in top], want, rtol=1e-12)
        for s, v in top[:20]:
            assert abs(np.linalg.norm(lo * U.sum(0) + (1 - lo) * (s @ U)) - v) <= 1e-12 * v


def test_walk_beyond_20_units_certifies_or_claims_nothing():
    # 22 units in d = 10: the branch and bound finds the maximum, the walk scans the best 256
    # patterns. Network 1's maximizer is not realized; the walk certifies a smaller value.
    # Network 0: some skipped pattern gets no certificate (its region may exist, however thin:
    # such near-degenerate regions occur), so nothing is claimed there
    rng = np.random.default_rng(16)
    net = MaskedMLP(10, (22,), B=3, seed=16)
    net.biases[0] = rng.standard_normal(net.biases[0].shape)
    up = lipschitz_upper(net, max_walk=26)
    assert up.method == ("branch_and_bound",) * 3 and up.complete.all()
    assert up.exact.tolist() == [False, True, True]
    assert float(up.value[1]) < up.by_method["patterns"][1] * (1 - 1e-6)
    assert float(up.value[0]) == up.by_method["patterns"][0]
    g = to_numpy(input_gradients(net, np.nan_to_num(up.witness)))  # (B, B, d)
    for b in range(3):
        if up.exact[b]:
            attained = float(np.linalg.norm(g[b, b]))
            assert abs(attained - float(up.value[b])) <= 1e-12 * float(up.value[b])
    # the default walk stops at 20 units: nothing beyond the realized maximizers is claimed
    default = lipschitz_upper(net)
    assert default.exact.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="max_walk must be an integer"):
        lipschitz_upper(net, max_walk=27)


def test_lower_bound_makes_no_copy_of_large_float64_data():
    # issue 13: at n = 65536, d = 4096 (2 GiB of data) the data's copy and the full-size
    # temporaries of its scale and spread took 6 GiB beside the data
    import tracemalloc

    X = np.random.default_rng(0).standard_normal((16000, 800)) / np.sqrt(800)  # 102 MB
    net = MaskedMLP(800, (4,), B=1, seed=0)
    lipschitz_lower(net, X[:50], methods=("data", "random", "ascent"), starts=2, steps=1)
    tracemalloc.start()
    try:
        lipschitz_lower(net, X, methods=("data", "random", "ascent"), starts=2, steps=1,
                        memory=2**16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.nbytes


def test_blockwise_statistics_of_the_data_are_numpys_bit_for_bit():
    from noprune_theory.estimators import _lipschitz_lower as low

    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 2500)) * 3.0  # 419 rows per block of 2**20 numbers
    for t in (1.0, 0.5):
        mu, sd = low._mean_std0(X, t)
        assert np.array_equal(mu, (X / t).mean(axis=0))
        assert np.array_equal(sd, (X / t).std(axis=0))
    assert low._abs_max(X) == float(np.max(np.abs(X)))
    assert low._pow2_scale(X * 2.0**120) == low._pow2_scale(np.array([np.abs(X).max()
                                                                       * 2.0**120]))
