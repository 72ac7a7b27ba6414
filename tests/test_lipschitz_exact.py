"""Certified exact Lipschitz constants of one-hidden-layer ReLU / leaky-ReLU networks: the walk
down the activation patterns with exact Farkas certificates, checked against an independent
brute force over the cells of the hyperplane arrangement (d = 1 and d = 2), and the Farkas and
realization checks themselves."""
import itertools
from fractions import Fraction

import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
from noprune_theory.estimators._lipschitz_exact import exact_beta, farkas_empty, realizes
from noprune_theory.models import LEAKY_SLOPE, MaskedMLP


def _identity_as_relus(d):
    """f(x) = x_1 written as relu(x_1) - relu(-x_1), in R^d (B = 1)."""
    net = MaskedMLP(d, (2,), B=1, seed=0)
    W = np.zeros((1, d, 2))
    W[0, 0] = [1.0, -1.0]
    net.weights[0] = W
    net.weights[1] = np.array([[[1.0], [-1.0]]])
    net.biases[0] = np.zeros((1, 2))
    return net


@pytest.mark.parametrize("d", [1, 2, 5])
def test_identity_written_with_relus_is_exactly_one(d):
    net = _identity_as_relus(d)
    up = lipschitz_upper(net)
    assert to_numpy(up.value).tolist() == [1.0]
    assert up.exact.tolist() == [True]
    assert up.by_method["patterns"].tolist() == [2.0]  # the relaxation alone gives [1, 2]
    lo = lipschitz_lower(net, methods=("random", "patterns"), seed=0)
    assert to_numpy(lo.value).tolist() == [1.0]


def _grad_at(W, b, a, c0, c1, act, x):
    """grad f at x from the signs of the pre-activations (numpy only, not the library)."""
    z = c0 * (x @ W) + b
    gate = np.where(z > 0, 1.0, LEAKY_SLOPE if act == "leaky_relu" else 0.0)
    return c0 * c1 * (W @ (gate * a))


def _brute_force_lip(net, b):
    """max ||grad f|| over every cell of the arrangement of the units' hyperplanes (d <= 2).

    d = 1: a point inside every interval between consecutive breakpoints and beyond both ends.
    d = 2: every cell has a vertex on its boundary (random lines are in general position):
    around each vertex, a point in the middle of every angular sector cut by the lines through
    it, and far away, a point in the middle of every sector cut by the line directions.
    """
    W = to_numpy(net.weights[0])[b].astype(float)  # (d, h)
    bias = to_numpy(net.biases[0])[b].astype(float)
    a = to_numpy(net.weights[1])[b, :, 0].astype(float)
    c0, c1 = net.multipliers
    d = W.shape[0]
    act = net.activation
    pts = []
    if d == 1:
        br = np.sort(-bias / (c0 * W[0]))
        pts = [br[0] - 1.0, br[-1] + 1.0] + list((br[1:] + br[:-1]) / 2)
        pts = [np.array([p]) for p in pts]
    else:
        N = c0 * W.T  # (h, 2): lines N_j . x + bias_j = 0
        dirs = np.stack([-N[:, 1], N[:, 0]], axis=1)
        ang = np.sort(np.mod(np.concatenate([np.arctan2(dirs[:, 1], dirs[:, 0]),
                                             np.arctan2(-dirs[:, 1], -dirs[:, 0])]), 2 * np.pi))

        def sectors(angles):
            angles = np.unique(np.round(angles, 12))  # coincident lines cut no sector
            mids = (angles + np.roll(angles, -1)) / 2
            mids[-1] = (angles[-1] + angles[0] + 2 * np.pi) / 2
            return np.stack([np.cos(mids), np.sin(mids)], axis=1)

        verts = []
        for i, j in itertools.combinations(range(N.shape[0]), 2):
            if abs(np.linalg.det(N[[i, j]])) > 1e-9:
                verts.append(np.linalg.solve(N[[i, j]], -bias[[i, j]]))
        R = 1e6 * (1 + max((np.linalg.norm(v) for v in verts), default=1.0))
        pts += list(R * sectors(ang))
        for v in verts:
            through = np.abs(N @ v + bias) < 1e-9 * (1 + np.linalg.norm(v))
            a_t = np.mod(np.concatenate([np.arctan2(dirs[through, 1], dirs[through, 0]),
                                         np.arctan2(-dirs[through, 1], -dirs[through, 0])]),
                         2 * np.pi)
            pts += list(v + 1e-7 * sectors(np.sort(a_t)))
    return max(float(np.linalg.norm(_grad_at(W, bias, a, c0, c1, act, x))) for x in pts)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("d,h,seed", [(1, 3, 0), (1, 6, 1), (2, 4, 2), (2, 6, 3), (2, 5, 4)])
def test_certified_exact_equals_brute_force(activation, d, h, seed):
    rng = np.random.default_rng(seed)
    net = MaskedMLP(d, (h,), B=4, activation=activation, scaling="ntk", seed=seed)
    net.biases[0] = 0.5 * rng.standard_normal(net.biases[0].shape)
    up = lipschitz_upper(net)
    # 2^h <= 64 patterns: the walk covers them all, every skipped one gets its certificate
    assert up.exact.all()
    lo = lipschitz_lower(net, methods=("patterns",))
    for b in range(net.B):
        brute = _brute_force_lip(net, b)
        assert abs(float(up.value[b]) - brute) <= 1e-12 * brute
        assert float(up.value[b]) <= up.by_method["patterns"][b] * (1 + 1e-15)
        assert abs(float(lo.value[b]) - brute) <= 1e-12 * brute
    # h > d: somewhere the relaxation is strictly above the constant, and the walk closes it
    if h > d + 2:
        assert np.any(to_numpy(up.value) < up.by_method["patterns"] * (1 - 1e-9))


def test_farkas_certificate_is_exact_and_refuses_feasible_regions():
    # x > 0 and -x > 0 (d = 1): y = (1, 1) is a certificate
    W = np.array([[1.0], [-1.0]])
    beta = exact_beta([0.0, 0.0], 1.0)
    y = farkas_empty(W, beta, np.array([True, True]))
    assert y is not None and all(v > 0 for v in y) and y[0] == y[1]
    # x + 1e-300 > 0 and -x > 0: feasible (0 < x < ... no: -1e-300 < x < 0), so no certificate
    beta = exact_beta([1e-300, 0.0], 1.0)
    assert farkas_empty(W, beta, np.array([True, True])) is None
    assert realizes(W, beta, np.array([True, True]), np.array([-5e-301]))
    # exactly on the boundary is not inside the open region
    assert not realizes(W, exact_beta([0.0, 0.0], 1.0), np.array([True, True]), np.array([0.0]))
    # a region empty only because of a bias gap: x > 1 and x < 1 - 2^-52 (d = 2, w = (1, 0))
    W2 = np.array([[1.0, 0.0], [-1.0, 0.0], [0.3, 0.7]])
    beta2 = [Fraction(-1), Fraction(1) - Fraction(1, 2**52), Fraction(0)]
    y = farkas_empty(W2, beta2, np.array([True, True, False]))
    assert y is not None and y[2] == 0
    # widen the gap the other way: now it is realizable and must not be certified empty
    beta3 = [Fraction(-1), Fraction(1) + Fraction(1, 2**52), Fraction(0)]
    assert farkas_empty(W2, beta3, np.array([True, True, False])) is None


def test_exact_only_when_certified():
    # 18 units in d = 5 without biases: 6428 of 2^18 patterns are realized; whatever the walk
    # reports as exact must be a realized pattern whose gradient is measured at the witness
    net = MaskedMLP(5, (18,), B=2, seed=9)
    up = lipschitz_upper(net, "patterns")
    for b in np.flatnonzero(up.exact):
        x = up.witness[b]
        W = to_numpy(net.weights[0])[b]
        g = _grad_at(W, to_numpy(net.biases[0])[b], to_numpy(net.weights[1])[b, :, 0],
                     *net.multipliers, "relu", x)
        assert abs(np.linalg.norm(g) - float(up.value[b])) <= 1e-12 * float(up.value[b])


# ----------------------------------------------------------------------------- points on kinks
def _issue_net():
    """f = -x1 + relu(x1 + 0.1 x2 + 10) as relu(x1) and relu(-x1) cancelling: Lip(f) = 1."""
    net = MaskedMLP(2, (3,), B=1, seed=0)
    net.weights[0] = np.array([[[1.0, -1.0, 1.0], [0.0, 0.0, 0.1]]])
    net.biases[0] = np.array([[0.0, 0.0, 10.0]])
    net.weights[1] = np.array([[[-1.0], [1.0], [1.0]]])
    return net


def test_lower_bound_at_a_kink_of_the_issue():
    net = _issue_net()
    X = np.array([[0.0, 0.0], [1.0, 2.0]])  # (0, 0) lies on the kinks of units 0 and 1
    assert _brute_force_lip(net, 0) == 1.0
    for methods in (("data",), ("ascent",), ("random",), ("pairs",),
                    ("data", "random", "ascent", "pairs", "patterns")):
        lo = lipschitz_lower(net, X, methods=methods, seed=0)
        assert float(lo.value[0]) <= 1.0, methods
        for m, v in lo.by_method.items():
            assert float(v[0]) <= 1.0, m
    # the point on the kink is replaced by a nearby kink-free one: the gradient there (and at
    # (1, 2)) is the true (0, 0.1)
    lo = lipschitz_lower(net, X[:1], methods=("data",))
    assert abs(float(lo.value[0]) - 0.1) <= 1e-12
    assert 0 < np.linalg.norm(lo.witness[0]) < 1e-5
    up = lipschitz_upper(net)
    assert up.exact.tolist() == [True] and to_numpy(up.value).tolist() == [1.0]


def _cancelling_net(rng, B, d, extra):
    """B nets in R^d: a linear part -w.x hidden as -relu(w.x) + relu(-w.x) (integer w), a unit
    relu(w.x + eps v.x + beta) that is on near the kink, and `extra` random units far off."""
    h = 3 + extra
    net = MaskedMLP(d, (h,), B=B, seed=int(rng.integers(1 << 30)))
    W = np.zeros((B, d, h))
    bias = np.zeros((B, h))
    a = np.zeros((B, h, 1))
    for b in range(B):
        w = rng.integers(1, 4, size=d) * rng.choice([-1.0, 1.0], size=d)
        v = rng.standard_normal(d)
        v *= np.sign(v @ w)  # the kink's dropped term -w makes the gradient too large
        W[b, :, 0], W[b, :, 1], W[b, :, 2] = w, -w, w + rng.uniform(0.05, 0.5) * v
        bias[b, 2] = rng.uniform(2.0, 20.0)
        a[b, :3, 0] = [-1.0, 1.0, 1.0]
        W[b, :, 3:] = rng.standard_normal((d, extra))
        bias[b, 3:] = -50.0 - rng.uniform(0, 1, extra)  # off wherever the data lie
        a[b, 3:, 0] = 0.01 * rng.standard_normal(extra)
    net.weights[0], net.biases[0], net.weights[1] = W, bias, a
    net.biases[1] = np.zeros((B, 1))
    return net, W


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_points_on_kinks_never_exceed_the_exact_constant(seed):
    # d = 2, every data point exactly on the cancelling pair's kink (w . x = 0 in floats:
    # integer w, x a dyadic multiple of w rotated by 90 degrees), checked against brute force
    rng = np.random.default_rng(seed)
    net, W = _cancelling_net(rng, B=4, d=2, extra=2)
    lo_bad = 0
    for b in range(net.B):
        w = W[b, :, 0]
        t = rng.integers(-8, 9, size=6) / 4.0
        X = t[:, None] * np.array([-w[1], w[0]])[None, :]
        assert np.all(X @ w == 0.0)
        brute = _brute_force_lip(net, b)
        lo = lipschitz_lower(net, X, methods=("data", "random", "ascent", "pairs"), seed=seed)
        v = float(lo.value[b])
        assert v <= brute * (1 + 1e-12), (b, v, brute)
        for m, vals in lo.by_method.items():
            assert float(vals[b]) <= brute * (1 + 1e-12), m
        # relu'(0) = 0 at these points would give ||w + eps v|| > ||w|| = Lip on this side
        gate0 = np.linalg.norm(W[b, :, 2] * net.multipliers[0] * net.multipliers[1])
        lo_bad += gate0 > brute * (1 + 1e-9)
    assert lo_bad > 0  # the case the test is about is exercised
    up = lipschitz_upper(net)
    assert np.all(to_numpy(lo.value) <= to_numpy(up.value) * (1 + 1e-12))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_deep_nets_with_points_on_kinks_stay_below_the_upper_bound(activation, rng):
    # two hidden layers; the first layer's units pass exactly through the data points (integer
    # weights, zero biases, integer points on the hyperplanes), so relu'(0) would be used
    net = MaskedMLP(3, (4, 4), B=3, activation=activation, seed=5)
    W0 = rng.integers(-2, 3, size=(3, 3, 4)).astype(float)
    W0[:, 2, :] = 0.0  # every unit ignores x3 ...
    W0[:, 0, :2] = [[1.0, -1.0]] * 1
    W0[:, 1, :2] = 0.0  # ... units 0 and 1 are relu(x1) and relu(-x1): a cancelling pair
    net.weights[0] = W0
    net.biases[0] = np.zeros((3, 4))
    X = np.stack([np.zeros(8), rng.standard_normal(8), rng.standard_normal(8)], axis=1)
    lo = lipschitz_lower(net, X, methods=("data",))
    up = lipschitz_upper(net)  # spectral: certified for any depth
    assert np.all(to_numpy(lo.value) <= to_numpy(up.value) * (1 + 1e-12))
    # every witness of a positive bound is a kink-free point (nudged off x1 = 0)
    pos = to_numpy(lo.value) > 0
    assert pos.any() and np.all(np.abs(lo.witness[pos, 0]) > 0)


def test_pairs_of_nearby_points_do_not_divide_rounding_noise():
    # f(x) = relu(x + 1e8): Lip = 1, but f is rounded to ulp(1e8) = 1.5e-8, so points 2.5e-9
    # apart gave quotients up to 6; the rounding error of f is now taken off first
    net = MaskedMLP(1, (1,), B=1, seed=1)
    net.weights[0] = np.ones((1, 1, 1))
    net.weights[1] = np.ones((1, 1, 1))
    net.biases[0] = np.full((1, 1), 1e8)
    X = np.linspace(0, 1e-7, 41)[:, None]
    lo = lipschitz_lower(net, X, methods=("pairs",))
    assert 0.0 <= float(lo.value[0]) <= 1.0
    # far apart points are unaffected to rounding: (f(10) - f(0)) / 10 = 1
    lo = lipschitz_lower(net, np.array([[0.0], [10.0]]), methods=("pairs",))
    assert abs(float(lo.value[0]) - 1.0) <= 1e-6


def test_dead_units_with_zero_bias_are_no_kinks():
    # a unit with no incoming weights and bias 0 has z = 0 everywhere: constant, not a kink;
    # one with no outgoing weight never reaches f. Neither may void the gradient bounds
    net = MaskedMLP(3, (4,), B=1, seed=0)
    W = to_numpy(net.weights[0]).copy()
    W[0, :, 0] = 0.0
    net.weights[0] = W
    a = to_numpy(net.weights[1]).copy()
    a[0, 1, 0] = 0.0
    net.weights[1] = a
    b = to_numpy(net.biases[0]).copy()
    b[0, 0] = 0.0
    net.biases[0] = b
    X = np.random.default_rng(0).standard_normal((20, 3))
    lo = lipschitz_lower(net, X, methods=("data",))
    assert float(lo.value[0]) > 0
    g = np.stack([_grad_at(W[0], b[0], a[0, :, 0], *net.multipliers, "relu", x) for x in X])
    np.testing.assert_allclose(float(lo.value[0]), np.linalg.norm(g, axis=1).max(), rtol=1e-12)


def test_secant_is_net_of_the_rounding_of_f():
    # f(x) = relu(x + 1e8) - 1e8-ish: Lip = 1, f ~ 1e8 is rounded to 1.5e-8 and the secant's
    # step is ~4e-7: the raw quotient was up to 1.043; the reported one never exceeds 1
    net = MaskedMLP(1, (1,), B=1, seed=1)
    net.weights[0] = np.ones((1, 1, 1))
    net.weights[1] = np.ones((1, 1, 1))
    net.biases[0] = np.full((1, 1), 1e8)
    for x0 in np.linspace(-3.0, 3.0, 13):
        lo = lipschitz_lower(net, np.array([[x0], [x0 + 1.0]]), methods=("data",))
        assert float(lo.value[0]) == 1.0
        assert 0.0 <= lo.secant[0] <= 1.0
