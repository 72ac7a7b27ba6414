"""MaskedMLP: forward against a per-network reference, gradients and hvp against finite
differences, masks, bad input, save/load; every backend and the array-API namespaces."""

import json
import math

import numpy as np
import pytest

from noprune_theory.backend import BackendUnavailableError, gpu_status, to_numpy
from noprune_theory.models import ACTIVATIONS, INITS, MaskedMLP, MaskedTwoLayer


def _random_masks(model, density, seed):
    rng = np.random.default_rng(seed)
    return [model.xp.asarray(rng.random(tuple(w.shape)) < density) for w in model.weights]


def _labels(loss, n, B, out, seed):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return rng.integers(0, out, size=n)
    if loss == "logistic":
        return 2.0 * rng.integers(0, 2, size=(B, n)) - 1.0
    return rng.standard_normal((n,) if out == 1 else (n, out))


def _reference_forward(model, X):
    """Network by network, point by point, with NumPy: an independent reading of the formula
    h_{l+1} = phi(c_l h_l W_l + b_l) of the class docstring."""
    phi = {
        "relu": lambda z: max(z, 0.0),
        "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
        "tanh": math.tanh,
        "softplus": lambda z: math.log1p(math.exp(z)),
        "identity": lambda z: z,
    }[model.activation]
    W = [to_numpy(w) for w in model.weights]
    b = None if model.biases is None else [to_numpy(v) for v in model.biases]
    out = np.zeros((model.B, X.shape[-2], model.sizes[-1]))
    for k in range(model.B):
        for i in range(X.shape[-2]):
            h = list(X[k, i] if X.ndim == 3 else X[i])
            for l, c in enumerate(model.multipliers):
                z = [
                    c * sum(h[p] * W[l][k, p, q] for p in range(len(h)))
                    + (b[l][k, q] if b else 0.0)
                    for q in range(W[l].shape[2])
                ]
                h = [phi(v) for v in z] if l < model.depth - 1 else z
            out[k, i] = h
    return out


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("scaling", ["standard", "ntk", "mean_field"])
def test_forward_matches_per_network_reference(backend, activation, scaling):
    model = MaskedMLP(
        3, (4, 2), 2, B=2, activation=activation, scaling=scaling, seed=3, backend=backend
    )
    model.biases = [b + 0.1 for b in model.biases]  # nonzero biases take part
    model.set_masks(_random_masks(model, 0.7, 0))
    X = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_allclose(
        to_numpy(model.forward(X)), _reference_forward(model, X), rtol=1e-12, atol=1e-14
    )
    Xb = np.random.default_rng(2).standard_normal((2, 5, 3))
    np.testing.assert_allclose(
        to_numpy(model.forward(Xb)), _reference_forward(model, Xb), rtol=1e-12, atol=1e-14
    )


def test_multipliers_and_initial_scale():
    d, m = 50, 400
    std = MaskedMLP(d, (m,), B=20, scaling="standard", seed=0)
    # He init: Var W_0 = 2/d, Var W_1 = 1/m, multipliers 1
    assert std.multipliers == (1.0, 1.0)
    assert abs(std.weights[0].var() * d / 2 - 1) < 0.01  # 4e5 draws: sd of var ratio 0.0022
    assert abs(std.weights[1].var() * m - 1) < 0.02  # 8e3 draws: sd 0.016
    ntk = MaskedMLP(d, (m,), B=2, scaling="ntk", seed=0)
    assert ntk.multipliers == pytest.approx((math.sqrt(2 / d), 1 / math.sqrt(m)), rel=1e-15)
    mf = MaskedMLP(d, (m,), B=2, scaling="mean_field", activation="tanh", seed=0)
    assert mf.multipliers == pytest.approx((math.sqrt(1 / d), 1 / m), rel=1e-15)
    # same seed, same function at init for standard and NTK (the same numbers, rescaled)
    X = np.random.default_rng(0).standard_normal((4, d))
    np.testing.assert_allclose(
        MaskedMLP(d, (m,), B=2, scaling="standard", seed=0).forward(X), ntk.forward(X), rtol=1e-12
    )


def test_default_init_is_he_and_draws_the_historical_numbers():
    # an independent reading of the documented He draw: one standard normal array per layer
    # from default_rng(seed), scaled by sqrt(2/fan_in) (hidden) and sqrt(1/fan_in) (output)
    sizes, B, seed = (7, 5, 4, 2), 3, 11
    rng = np.random.default_rng(seed)
    expected = [math.sqrt((2.0 if l < 2 else 1.0) / sizes[l])
                * rng.standard_normal((B, sizes[l], sizes[l + 1])) for l in range(3)]
    default = MaskedMLP(7, (5, 4), 2, B=B, seed=seed)
    he = MaskedMLP(7, (5, 4), 2, B=B, seed=seed, init="he")
    assert default.init == "he" and default.config()["init"] == "he"
    for w_default, w_he, w_ref in zip(default.weights, he.weights, expected):
        np.testing.assert_array_equal(w_default, w_ref)  # bit-identical, not just close
        np.testing.assert_array_equal(w_he, w_ref)
    assert all(not np.any(b) for b in default.biases + default.initial_biases)
    # printed by the code before init existed (main at 9cc527f, MaskedMLP(3, (4,), seed=0)):
    # a guard that does not share the formula above
    net = MaskedMLP(3, (4,), seed=0)
    assert net.weights[0][0, 0].tolist() == [
        0.10265829564204268, -0.10786316920127266, 0.522902904435612, 0.08565058699437483]
    assert net.weights[1][0, :, 0].tolist() == [
        -1.1625153873194172, -0.10939583196627287, -0.6229554736265326, -0.3661336773517258]


# Tolerances of the distribution tests: d = 400 inputs, 300 units, B = 20 networks give
# N = 2.4e6 first-layer weights and N = 6e3 output weights and hidden biases. The sd of a
# sample-variance ratio is sqrt((kurtosis - 1)/N): sqrt(2/N) for a normal (9e-4 and 0.018),
# sqrt(0.8/N) for a uniform (6e-4 and 0.012); the sd of mean|a| relative to E|a| is
# 0.76/sqrt(N) for a normal and 1.15/sqrt(N) for a uniform (<= 0.015). Every bound below is
# 5 sd or more. The 20 output biases are only checked against their interval.
_D, _M, _B = 400, 300, 20


def test_torch_init_is_uniform_in_plus_minus_one_over_sqrt_fan_in():
    net = MaskedMLP(_D, (_M,), B=_B, seed=1, init="torch")
    for l, fan_in in enumerate((_D, _M)):
        bound = 1 / math.sqrt(fan_in)
        for name, arr in (("weight", net.weights[l]), ("bias", net.biases[l])):
            a = np.asarray(arr)
            assert np.all(np.abs(a) <= bound), (name, l)
            if a.size < 1000:
                continue
            # the draws fill the interval: P(max < 0.99 bound) = 0.995^N < 1e-13
            assert a.max() > 0.99 * bound and a.min() < -0.99 * bound, (name, l)
            tol = 0.005 if a.size > 1e6 else 0.07
            assert abs(a.var() * 3 * fan_in - 1) < tol, (name, l, a.var() * 3 * fan_in)
            assert abs(a.mean()) < 5 * bound / math.sqrt(3 * a.size), (name, l)
            # a uniform, not a normal of the same variance (E|a| = 0.92 bound/2): E|a| = bound/2
            assert abs(np.abs(a).mean() / (bound / 2) - 1) < 0.05, (name, l)
    for w0, w in zip(net.initial_weights, net.weights):
        np.testing.assert_array_equal(w0, w)
    for b0, b in zip(net.initial_biases, net.biases):
        np.testing.assert_array_equal(b0, b)


def test_lecun_init_is_normal_with_variance_one_over_fan_in_and_zero_biases():
    net = MaskedMLP(_D, (_M,), B=_B, seed=2, init="lecun")
    for l, fan_in in enumerate((_D, _M)):
        w = np.asarray(net.weights[l])
        tol = 0.005 if l == 0 else 0.09
        assert abs(w.var() * fan_in - 1) < tol, (l, w.var() * fan_in)
        # normal, not uniform: E|w| = sqrt(2 / pi) sd
        assert abs(np.abs(w).mean() / math.sqrt(2 / (math.pi * fan_in)) - 1) < 0.05, l
        if l == 0:  # 2.4e6 draws: about 1100 beyond 3.5 sd, tails a uniform cannot reach
            assert np.abs(w).max() > 3.5 / math.sqrt(fan_in)
        assert not np.any(net.biases[l])
    # lecun has no ReLU gain: its first layer is the He layer divided by sqrt(2), draw for draw
    he = MaskedMLP(_D, (_M,), B=_B, seed=2)
    np.testing.assert_allclose(net.weights[0], he.weights[0] / math.sqrt(2), rtol=1e-15)


@pytest.mark.parametrize("init", INITS)
def test_inits_differ_and_are_reproducible(init):
    a = MaskedMLP(6, (5,), B=2, seed=4, init=init)
    b = MaskedMLP(6, (5,), B=2, seed=4, init=init)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)
    for other in INITS:
        if other != init:
            c = MaskedMLP(6, (5,), B=2, seed=4, init=other)
            assert not np.array_equal(a.weights[0], c.weights[0]), other


def _fd_grad_check(model, X, y, loss):
    """Central differences, h = 1e-6: truncation error ~h^2 |f'''| ~ 1e-12 and rounding error
    ~1e-16 / h = 1e-10 for losses of order one, so 1e-7 absolute + 1e-6 relative is tight."""
    _, wg, bg = model.gradients(X, y, loss=loss)
    rng = np.random.default_rng(0)
    h = 1e-6
    for l in range(model.depth):
        shape = tuple(model.weights[l].shape)
        for _ in range(4):
            idx = tuple(int(rng.integers(0, s)) for s in shape)
            if not bool(to_numpy(model.masks[l])[idx]):
                assert float(to_numpy(wg[l])[idx]) == 0.0
                continue
            plus, minus = model.copy(), model.copy()
            e = np.zeros(shape)
            e[idx] = h
            plus.weights[l] = plus.weights[l] + model.xp.asarray(e)
            minus.weights[l] = minus.weights[l] - model.xp.asarray(e)
            fd = (
                to_numpy(plus.loss(X, y, loss))[idx[0]] - to_numpy(minus.loss(X, y, loss))[idx[0]]
            ) / (2 * h)
            assert abs(fd - to_numpy(wg[l])[idx]) <= 1e-7 + 1e-6 * abs(fd), (l, idx)
        if bg is not None:
            k, q = int(rng.integers(0, model.B)), int(rng.integers(0, shape[2]))
            plus, minus = model.copy(), model.copy()
            e = np.zeros(tuple(model.biases[l].shape))
            e[k, q] = h
            plus.biases[l] = plus.biases[l] + model.xp.asarray(e)
            minus.biases[l] = minus.biases[l] - model.xp.asarray(e)
            fd = (to_numpy(plus.loss(X, y, loss))[k] - to_numpy(minus.loss(X, y, loss))[k]) / (
                2 * h
            )
            assert abs(fd - to_numpy(bg[l])[k, q]) <= 1e-7 + 1e-6 * abs(fd)


CASES = [
    # (hidden, out, loss, activation, scaling)
    ((5,), 1, "mse", "tanh", "standard"),
    ((5,), 1, "logistic", "softplus", "ntk"),
    ((4, 3), 3, "cross_entropy", "tanh", "mean_field"),
    ((4, 3), 2, "mse", "relu", "ntk"),
    ((3, 3, 3), 1, "logistic", "leaky_relu", "standard"),
    ((4,), 3, "cross_entropy", "identity", "standard"),
]


@pytest.mark.parametrize("hidden, out, loss, activation, scaling", CASES)
def test_gradients_match_central_differences(backend, hidden, out, loss, activation, scaling):
    model = MaskedMLP(
        3, hidden, out, B=2, activation=activation, scaling=scaling, seed=5, backend=backend
    )
    model.set_masks(_random_masks(model, 0.6, 1))
    X = np.random.default_rng(2).standard_normal((6, 3))
    _fd_grad_check(model, X, _labels(loss, 6, 2, out, 3), loss)


def test_gradients_with_per_network_inputs_match_central_differences(backend):
    # X of shape (B, n, d): each network its own data; labels (B, n)
    model = MaskedMLP(3, (4, 3), 1, B=2, activation="tanh", scaling="ntk", seed=8, backend=backend)
    model.set_masks(_random_masks(model, 0.7, 2))
    rng = np.random.default_rng(9)
    X = rng.standard_normal((2, 5, 3))
    _fd_grad_check(model, X, rng.standard_normal((2, 5)), "mse")


@pytest.mark.parametrize("hidden, out, loss, activation, scaling", CASES)
def test_hvp_matches_central_differences_of_gradients(
    backend, hidden, out, loss, activation, scaling
):
    """H v = d/dr grad(W + r v) at r = 0, by central differences of the analytic gradient with
    h = 1e-5 (error ~h^2 ~ 1e-10 for smooth activations). For ReLU-type activations no
    pre-activation crosses zero within +-h for these seeds (a crossing would break the
    tight tolerance), so the difference is exact there too."""
    model = MaskedMLP(
        3, hidden, out, B=2, activation=activation, scaling=scaling, seed=6, backend=backend
    )
    model.set_masks(_random_masks(model, 0.6, 4))
    X = np.random.default_rng(7).standard_normal((6, 3))
    y = _labels(loss, 6, 2, out, 8)
    rng = np.random.default_rng(9)
    V = [model.xp.asarray(rng.standard_normal(tuple(w.shape))) for w in model.weights]
    hv = model.hvp(X, y, V, loss=loss)
    h = 1e-5
    plus, minus = model.copy(), model.copy()
    Vm = [model.xp.where(m, v, 0.0) for v, m in zip(V, model.masks)]
    plus.weights = [w + h * v for w, v in zip(model.weights, Vm)]
    minus.weights = [w - h * v for w, v in zip(model.weights, Vm)]
    gp, gm = plus.gradients(X, y, loss)[1], minus.gradients(X, y, loss)[1]
    for l in range(model.depth):
        fd = (to_numpy(gp[l]) - to_numpy(gm[l])) / (2 * h)
        np.testing.assert_allclose(to_numpy(hv[l]), fd, rtol=1e-6, atol=1e-8)
        assert np.all(to_numpy(hv[l])[~to_numpy(model.masks[l])] == 0.0)


def test_hvp_of_quadratic_model_is_exact():
    """identity activation, MSE, one hidden layer, no bias: f = x W0 W1 (c = 1), so
    d^2/dr^2 L(W + rV) = (2/n) sum_i (x V0 W1 + x W0 V1)^2 + (4/n) sum_i (f - y)(x V0 V1),
    and <V, H V> must equal it to rounding."""
    model = MaskedMLP(3, (4,), B=1, activation="identity", bias=False, seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    V = [rng.standard_normal(tuple(w.shape)) for w in model.weights]
    W0, W1 = model.weights[0][0], model.weights[1][0]
    V0, V1 = V[0][0], V[1][0]
    f = X @ W0 @ W1
    second = (2 / 5) * np.sum((X @ V0 @ W1 + X @ W0 @ V1) ** 2) + (4 / 5) * np.sum(
        (f[:, 0] - y) * (X @ V0 @ V1)[:, 0]
    )
    hv = model.hvp(X, y, V)
    quad = sum(float(np.sum(h * v)) for h, v in zip(hv, V))
    assert quad == pytest.approx(second, rel=1e-12)


def test_namespace_generic_code_gives_numpy_results(xp):
    """The same model on numpy and on the xp namespace (array_api_strict checks that only
    array-API functions are used) gives the same losses, gradients and hvp."""
    ref = MaskedMLP(3, (4, 3), 3, B=2, activation="softplus", scaling="ntk", seed=1)
    ref.set_masks(_random_masks(ref, 0.7, 2))
    model = ref._as_namespace(xp)
    X = np.random.default_rng(3).standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    V = [np.random.default_rng(4).standard_normal(tuple(w.shape)) for w in ref.weights]
    for loss, yy in (("cross_entropy", y), ("mse", np.ones((5, 3)))):
        l0, g0, b0 = ref.gradients(X, yy, loss)
        l1, g1, b1 = model.gradients(xp.asarray(X), xp.asarray(yy), loss)
        np.testing.assert_allclose(to_numpy(l1), l0, rtol=1e-13)
        for a, b in zip(g0 + b0, g1 + b1):
            np.testing.assert_allclose(to_numpy(b), a, rtol=1e-12, atol=1e-15)
        h0 = ref.hvp(X, yy, V, loss)
        h1 = model.hvp(xp.asarray(X), xp.asarray(yy), [xp.asarray(v) for v in V], loss)
        for a, b in zip(h0, h1):
            np.testing.assert_allclose(to_numpy(b), a, rtol=1e-12, atol=1e-15)
    acc = model.accuracy(xp.asarray(X), xp.asarray(y), "cross_entropy")
    np.testing.assert_allclose(to_numpy(acc), ref.accuracy(X, y, "cross_entropy"))


def test_losses_have_their_closed_forms():
    model = MaskedMLP(2, (3,), 1, B=1, seed=0)
    X = np.array([[0.5, -1.0], [1.0, 2.0]])
    f = model.forward(X)[0, :, 0]
    y = np.array([1.0, -1.0])
    np.testing.assert_allclose(model.per_point_loss(X, y, "mse")[0], (f - y) ** 2, rtol=1e-14)
    np.testing.assert_allclose(
        model.per_point_loss(X, y, "logistic")[0], np.log1p(np.exp(-y * f)), rtol=1e-14
    )
    ce = MaskedMLP(2, (3,), 3, B=1, seed=0)
    F = ce.forward(X)[0]
    lab = np.array([2, 0])
    expect = np.log(np.exp(F).sum(axis=1)) - F[[0, 1], lab]
    np.testing.assert_allclose(ce.per_point_loss(X, lab, "cross_entropy")[0], expect, rtol=1e-13)
    np.testing.assert_allclose(ce.loss(X, lab, "cross_entropy"), [expect.mean()], rtol=1e-13)


def test_logistic_loss_is_finite_for_huge_margins():
    model = MaskedMLP(1, (1,), B=1, activation="identity", bias=False, seed=0)
    model.weights = [np.array([[[1.0]]]), np.array([[[1.0]]])]
    X = np.array([[1e4], [-1e4]])
    per = model.per_point_loss(X, np.array([1.0, 1.0]), "logistic")
    # log(1 + e^{-1e4}) = 0 in float64; log(1 + e^{1e4}) = 1e4 to rounding
    np.testing.assert_allclose(per[0], [0.0, 1e4], rtol=1e-15)
    _, g, _ = model.gradients(X, np.array([1.0, 1.0]), "logistic")
    assert all(np.all(np.isfinite(a)) for a in g)


def test_masks_zero_weights_and_gradients(backend):
    model = MaskedMLP(4, (6,), B=3, seed=0, backend=backend)
    masks = _random_masks(model, 0.5, 0)
    model.set_masks(masks)
    for w, m in zip(model.weights, model.masks):
        assert np.all(to_numpy(w)[~to_numpy(m)] == 0.0)
    X = np.random.default_rng(0).standard_normal((7, 4))
    _, g, _ = model.gradients(X, np.ones(7))
    for a, m in zip(g, model.masks):
        assert np.all(to_numpy(a)[~to_numpy(m)] == 0.0)
        assert np.any(to_numpy(a)[to_numpy(m)] != 0.0)
    expected = sum(to_numpy(m).sum(axis=(1, 2)) for m in masks)
    np.testing.assert_array_equal(model.kept_count(), expected)
    assert model.weight_count() == 4 * 6 + 6 and model.param_count() == 4 * 6 + 6 + 6 + 1


def test_rewind_restores_initial_kept_weights():
    model = MaskedMLP(3, (4,), B=2, seed=0)
    w0 = [w.copy() for w in model.initial_weights]
    model.weights = [w + 1.0 for w in model.weights]
    model.set_masks(_random_masks(model, 0.5, 1))
    model.rewind()
    for w, w_init, m in zip(model.weights, w0, model.masks):
        np.testing.assert_array_equal(w, np.where(m, w_init, 0.0))


def test_rewind_restores_nonzero_initial_biases_of_torch_init():
    # regression: rewind set the biases to zero, which was their initial value only under He
    model = MaskedMLP(3, (4,), B=2, seed=0, init="torch")
    b0 = [b.copy() for b in model.biases]
    assert all(np.any(b) for b in b0)
    model.biases = [b + 1.0 for b in model.biases]
    model.set_masks(_random_masks(model, 0.5, 1))
    model.rewind()
    for b, b_init in zip(model.biases, b0):
        np.testing.assert_array_equal(b, b_init)
    # copies and stacks carry their own initial biases
    other = MaskedMLP(3, (4,), B=1, seed=5, init="torch")
    big = MaskedMLP.concat([model.copy(), other])
    big.biases = [b * 0 for b in big.biases]
    big.rewind()
    for l in range(2):
        np.testing.assert_array_equal(big.biases[l], np.concatenate([b0[l], other.biases[l]]))
    with pytest.raises(ValueError, match="init"):
        MaskedMLP.concat([model, MaskedMLP(3, (4,), B=1, seed=5)])


def test_bad_masks_are_named():
    model = MaskedMLP(3, (4,), B=2, seed=0)
    good = [np.ones(tuple(w.shape), dtype=bool) for w in model.weights]
    with pytest.raises(ValueError, match=r"masks must hold 2 arrays"):
        model.set_masks(good[:1])
    with pytest.raises(
        ValueError, match=r"masks\[1\] must have shape \(2, 4, 1\), got \(2, 1, 4\)"
    ):
        model.set_masks([good[0], np.ones((2, 1, 4), dtype=bool)])
    with pytest.raises(ValueError, match=r"masks\[0\] must have dtype bool, got float64"):
        model.set_masks([good[0].astype(float), good[1]])
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match=r"masks\[0\] is a array_api_strict array"):
        model.set_masks([xps.asarray(good[0]), good[1]])


@pytest.mark.parametrize(
    "X, y, loss, message",
    [
        (np.ones((5, 2)), np.ones(5), "mse", r"X must have shape \(n, 3\) or \(2, n, 3\)"),
        (np.ones((3, 5, 3)), np.ones(5), "mse", r"X must have shape \(n, 3\) or \(2, n, 3\)"),
        (np.ones(3), np.ones(1), "mse", "X must have 2 or 3 axes"),
        (np.full((5, 3), np.nan), np.ones(5), "mse", "X must not contain NaN or inf"),
        (np.ones((5, 3)), np.ones(4), "mse", r"y must have shape \(5,\) or \(2, 5\)"),
        (np.ones((5, 3)), np.array([1, 0, 1, 1, 1.0]), "logistic", "labels -1 or \\+1"),
        (np.ones((5, 3)), np.array([1, np.inf, 1, 1, 1.0]), "mse", "y must not contain NaN"),
        (np.ones((5, 3)), np.zeros(5, dtype=int), "cross_entropy", "needs out = C >= 2"),
        (np.ones((5, 3)), np.ones(5), "hinge", "loss must be one of 'mse', 'logistic'"),
    ],
)
def test_bad_inputs_are_named(X, y, loss, message):
    model = MaskedMLP(3, (4,), B=2, seed=0)
    with pytest.raises(ValueError, match=message):
        model.gradients(X, y, loss=loss)


def test_bad_cross_entropy_labels_and_vectors():
    model = MaskedMLP(3, (4,), 3, B=2, seed=0)
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"class labels in \[0, 2\]"):
        model.loss(X, np.array([0, 1, 3, 0]), "cross_entropy")
    with pytest.raises(ValueError, match="integer class labels"):
        model.loss(X, np.array([0.0, 1, 2, 0]), "cross_entropy")
    with pytest.raises(ValueError, match=r"vectors\[0\] must have shape"):
        model.hvp(
            X, np.array([0, 1, 2, 0]), [np.ones((2, 3, 3)), np.ones((2, 4, 3))], "cross_entropy"
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d": 0}, "d must be an integer >= 1, got 0"),
        ({"hidden": (4, 0)}, "hidden width must be an integer >= 1, got 0"),
        ({"hidden": ()}, "hidden must list at least one"),
        ({"B": 0}, "B must be an integer >= 1, got 0"),
        ({"activation": "gelu"}, "activation must be one of 'relu'"),
        ({"scaling": "xavier"}, "scaling must be one of 'standard', 'ntk', 'mean_field'"),
        ({"dtype": "float16"}, "dtype must be one of 'float32', 'float64'"),
        ({"backend": "torch"}, "backend must be one of"),
        ({"init": "xavier"}, "init must be one of 'he', 'torch', 'lecun', got 'xavier'"),
        ({"init": None}, "init must be one of 'he', 'torch', 'lecun', got None"),
        ({"init": "torch", "scaling": "ntk"}, "init='torch' needs scaling='standard'"),
        ({"init": "lecun", "scaling": "mean_field"}, "init='lecun' needs scaling='standard'"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    args = {"d": 3, "hidden": (4,)}
    args.update(kwargs)
    d, hidden = args.pop("d"), args.pop("hidden")
    with pytest.raises(ValueError, match=message):
        MaskedMLP(d, hidden, **args)


def test_cupy_without_gpu_raises_the_install_hint():
    if gpu_status()[0]:
        pytest.skip("a GPU is usable here")
    with pytest.raises(BackendUnavailableError, match=r"noprune-theory\[gpu\]"):
        MaskedMLP(3, (4,), backend="cupy")


def test_float32_model_computes_in_float32():
    model = MaskedMLP(3, (4,), B=2, dtype="float32", seed=0)
    X = np.ones((5, 3))
    assert model.forward(X).dtype == np.float32
    loss, g, b = model.gradients(X, np.ones(5))
    assert loss.dtype == np.float32 and all(a.dtype == np.float32 for a in g + b)


def test_two_layer_alias():
    net = MaskedTwoLayer(5, 7, out=2, B=3, activation="tanh", seed=4)
    assert isinstance(net, MaskedMLP) and net.sizes == (5, 7, 2) and net.B == 3
    ref = MaskedMLP(5, (7,), 2, B=3, activation="tanh", seed=4)
    np.testing.assert_array_equal(net.weights[0], ref.weights[0])


def test_save_load_roundtrip(tmp_path):
    model = MaskedMLP(3, (4, 2), 2, B=2, activation="tanh", scaling="ntk", seed=3)
    model.set_masks(_random_masks(model, 0.5, 0))
    model.weights = [w * 2 for w in model.weights]
    path = tmp_path / "net.npz"
    model.save(path)
    back = MaskedMLP.load(path)
    assert back.config() == model.config()
    for a, b in zip(
        model.weights + model.masks + model.initial_weights + model.biases,
        back.weights + back.masks + back.initial_weights + back.biases,
    ):
        np.testing.assert_array_equal(a, b)
    assert isinstance(MaskedTwoLayer.load(path), MaskedTwoLayer)


@pytest.mark.parametrize("init", INITS)
def test_save_load_keeps_the_init_and_the_initial_biases(tmp_path, init):
    model = MaskedMLP(3, (4, 2), B=2, seed=3, init=init)
    model.biases = [b + 0.5 for b in model.biases]  # trained biases differ from the initial ones
    path = tmp_path / f"{init}.npz"
    model.save(path)
    back = MaskedMLP.load(path)
    assert back.init == init and back.config() == model.config()
    for a, b in zip(model.biases + model.initial_biases, back.biases + back.initial_biases):
        np.testing.assert_array_equal(a, b)
    back.rewind()
    for b, b0 in zip(back.biases, model.initial_biases):
        np.testing.assert_array_equal(b, b0)
    with np.load(path) as f:
        # older readers ignore initial biases: only a He file may carry their version number
        assert int(f["version"]) == (1 if init == "he" else 2)


def test_load_reads_a_file_written_before_init_existed(tmp_path):
    model = MaskedMLP(3, (4,), B=2, seed=1)
    model.biases = [b + 0.25 for b in model.biases]
    path = tmp_path / "new.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    # the version-1 layout: no init in the config, no initial biases
    cfg = json.loads(str(arrays["config"]))
    del cfg["init"]
    arrays["config"] = np.asarray(json.dumps(cfg))
    for l in range(2):
        del arrays[f"initial_bias_{l}"]
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    back = MaskedMLP.load(old)
    assert back.init == "he"
    np.testing.assert_array_equal(back.biases[0], model.biases[0])
    assert all(not np.any(b) for b in back.initial_biases)


def test_load_refuses_foreign_and_corrupt_files(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(ValueError, match="is not a saved MaskedMLP"):
        MaskedMLP.load(other)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        MaskedMLP.load(junk)
    model = MaskedMLP(3, (4,), B=1, seed=0)
    path = tmp_path / "net.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    del arrays["weight_1"]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(ValueError, match="corrupt MaskedMLP file"):
        MaskedMLP.load(broken)
    arrays = dict(np.load(path))
    arrays["version"] = np.asarray(99)
    newer = tmp_path / "newer.npz"
    np.savez(newer, **arrays)
    with pytest.raises(ValueError, match="format version 99"):
        MaskedMLP.load(newer)


def test_load_rejects_a_single_npy_array_with_a_clear_message(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="not a saved MaskedMLP"):
        MaskedMLP.load(path)


def test_masks_in_another_memory_layout_train_on_the_numba_backend():
    # regression: shuffle_masks returns non-C-contiguous masks and the fused kernels needed C order
    from noprune_theory.pruning import prune, shuffle_masks
    from noprune_theory.training import train

    m = MaskedMLP(5, (4,), B=3, backend="numba", seed=0)
    masks = shuffle_masks(prune(m, method="random", sparsity=0.5, seed=0), seed=1)
    m.set_masks(masks)
    assert all(mask.flags["C_CONTIGUOUS"] for mask in m.masks)
    X = np.random.default_rng(0).standard_normal((10, 5))
    y = np.random.default_rng(1).standard_normal(10)
    train(m, X, y, steps=3, optimizer="adam", lr=1e-2)
    for w, mask in zip(m.weights, m.masks):
        assert np.all(w[~mask] == 0)


def test_activations_and_losses_are_defined_once():
    """models, training and the Lipschitz estimators take their activations, losses and
    sigmoid from noprune_theory._activations (no second definition that could drift)."""
    import inspect

    import numpy as np

    from noprune_theory import _activations as act_mod
    from noprune_theory import models, training
    from noprune_theory.estimators import _lipschitz_common as lip

    assert models._act is act_mod.act and models._loss_terms is act_mod.loss_terms
    assert models._act_d1 is act_mod.act_d1 and models._correct is act_mod.correct
    assert training.loss_terms is act_mod.loss_terms and training._correct is act_mod.correct
    assert lip._act is act_mod.act and lip._sigmoid is act_mod.sigmoid_tanh
    assert models.LEAKY_SLOPE == lip.LEAKY_SLOPE == act_mod.LEAKY_SLOPE
    for module in (models, training, lip):
        src = inspect.getsource(module)
        for name in ("def _act(", "def _sigmoid(", "def _loss_terms(", "def _logsumexp("):
            assert name not in src, (module.__name__, name)
    # the two forms of the logistic function agree to rounding in absolute terms (the tanh
    # form cancels for very negative u, where it reaches 0 while exp does not), and neither
    # overflows
    u = np.linspace(-800.0, 800.0, 4001)
    a, b = act_mod.sigmoid(u, np), act_mod.sigmoid_tanh(u, np)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    np.testing.assert_allclose(b, a, rtol=1e-13, atol=2e-16)
    assert b[0] == 0.0 < a[200]


# ---------------------------------------------------------------------------------------------
# The prepared-array protocol that the trainer and the estimators use (issue 15: no private
# members as a protocol).

@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("hidden, out, loss, per_network", [
    ((6,), 1, "mse", False),  # the fused two-layer kernels on numba
    ((6,), 1, "logistic", True),
    ((5, 4), 3, "cross_entropy", False),
])
def test_prepared_protocol_gives_the_numbers_of_the_checked_methods(
        backend, hidden, out, loss, per_network):
    """prepare_inputs / prepare_targets, then loss_and_gradients and forward_rows, give the
    numbers of gradients, per_point_loss and forward: bit for bit where the same code runs
    (the fused kernels sum in another order than forward's matrix products)."""
    model = MaskedMLP(4, hidden, out, B=3, seed=2, backend=backend)
    model.set_masks(_random_masks(model, 0.6, 1))
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 9, 4) if per_network else (9, 4))
    y = _labels(loss, 9, 3, out, 6)
    Xa = model.prepare_inputs(X)
    t = model.prepare_targets(y, 9, loss)
    assert Xa.dtype == t.dtype == model.array_dtype
    assert tuple(t.shape) == ((1 if np.ndim(y) < 2 or loss == "mse" and out > 1 else 3), 9, out)
    per, f, wg, bg = model.loss_and_gradients(Xa, t, loss)
    mean, wg0, bg0 = model.gradients(X, y, loss)
    np.testing.assert_array_equal(np.mean(per, axis=-1), mean)
    for a, b in zip(wg + bg, wg0 + bg0):
        np.testing.assert_array_equal(a, b)
    fused = model.uses_fused_kernels(Xa, loss)
    assert fused == (backend == "numba" and hidden == (6,) and not per_network)
    same = np.testing.assert_array_equal if not fused else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15))
    same(per, model.per_point_loss(X, y, loss))
    same(f, model.forward(X))
    np.testing.assert_array_equal(model.forward_rows(Xa), model.forward(X))
    assert model.work_bytes_per_point(fused=fused) == model.work_bytes_per_point(
        fused=None if not per_network and loss == "mse" else fused)


def test_array_dtype_and_from_host_follow_the_dtype():
    for dtype in ("float32", "float64"):
        model = MaskedMLP(2, 3, dtype=dtype)
        assert model.array_dtype == np.dtype(dtype) == model.weights[0].dtype
        a = model.from_host([[1, 2]])
        assert isinstance(a, np.ndarray) and a.dtype == np.dtype(dtype)
        assert model.prepare_inputs([[1, 2]]).dtype == np.dtype(dtype)
        assert model.copy().array_dtype == model.array_dtype


def test_release_work_buffers_frees_the_fused_kernel_scratch():
    model = MaskedMLP(3, 5, B=2, backend="numba")
    X = np.random.default_rng(0).standard_normal((7, 3))
    Xa, t = model.prepare_inputs(X), model.prepare_targets(np.ones(7), 7)
    assert model.uses_fused_kernels(Xa)
    first = model.loss_and_gradients(Xa, t)
    assert model.__dict__.get("_work")  # the fused CPU kernel keeps its buffers
    model.release_work_buffers()
    assert "_work" not in model.__dict__
    again = model.loss_and_gradients(Xa, t)  # allocates them again, same numbers
    for a, b in zip(first[:2] + tuple(first[2]), again[:2] + tuple(again[2])):
        np.testing.assert_array_equal(a, b)
    model.release_work_buffers()  # nothing to free: no error


def test_concat_joins_networks_in_order():
    a = MaskedMLP(3, (4,), B=2, seed=0, init="torch")
    b = MaskedMLP(3, (4,), B=1, seed=1, init="torch")
    b.set_masks(_random_masks(b, 0.5, 3))
    both = MaskedMLP.concat([a, b])
    assert both.B == 3 and both.seed == 0
    X = np.random.default_rng(2).standard_normal((5, 3))
    np.testing.assert_array_equal(both.forward(X)[:2], a.forward(X))
    np.testing.assert_array_equal(both.forward(X)[2:], b.forward(X))
    np.testing.assert_array_equal(both.masks[0][2:], b.masks[0])
    np.testing.assert_array_equal(both.initial_biases[1][2:], b.initial_biases[1])
    with pytest.raises(ValueError, match="models"):
        MaskedMLP.concat([])
    with pytest.raises(ValueError, match="share sizes"):
        MaskedMLP.concat([a, MaskedMLP(3, (5,))])


def test_no_module_drives_the_model_through_private_members():
    """The trainer, the estimators, the kernels and the simulations use MaskedMLP's public
    protocol only."""
    import re
    from pathlib import Path

    import noprune_theory
    import noprune_theory.kernels
    import noprune_theory.sims

    pattern = re.compile(r"\b(?:model|net|models|nets|sub|ref|first|new|big)\._[a-z]\w*"
                         r"|MaskedMLP\._\w+"
                         r"|\.__dict__\.(?:pop|get|setdefault)\(\"_(?:work|kernel_table)")
    found = {}
    # the simulations and kernels are packages of their own folders in a source checkout
    own = Path(noprune_theory.__file__).parent / "models.py"
    for pkg in (noprune_theory, noprune_theory.sims, noprune_theory.kernels):
        for path in sorted(Path(pkg.__file__).parent.rglob("*.py")):
            hits = pattern.findall(path.read_text()) if path != own else []
            if hits:
                found[str(path)] = sorted(set(hits))
    assert not found, found
    assert pattern.search("x = model._prepare_X(X)")  # the scan can fail


# ----------------------------------------------------------------------------- live units
def _reaches_output(model):
    """Brute force: unit j of hidden layer l is live in network b when some chain of kept
    weights leads from it to an output (boolean products of the masks)."""
    masks = [to_numpy(m).astype(int) for m in model.masks]
    out = []
    for l in range(1, model.depth):
        reach = masks[l]
        for m in masks[l + 1:]:
            reach = (reach @ m > 0).astype(int)
        out.append(reach.sum(axis=2) > 0)
    return out


@pytest.mark.parametrize("hidden", [(6,), (5, 4), (4, 3, 5)])
def test_live_units_match_paths_to_the_output(hidden):
    model = MaskedMLP(3, hidden, out=2, B=4, seed=1)
    rng = np.random.default_rng(2)
    model.set_masks([rng.random(w.shape) < 0.35 for w in model.weights])
    live = model.live_units()
    want = _reaches_output(model)
    assert len(live) == len(hidden)
    for a, b in zip(live, want):
        assert a.dtype == bool
        np.testing.assert_array_equal(a, b)
    assert any((~a).any() for a in live)  # the test sees dead units
    for idx, a in zip(model.live_unit_indices(), want):
        union = np.flatnonzero(a.any(axis=0))
        np.testing.assert_array_equal(idx, union if union.size else [0])


def test_select_units_computes_the_same_functions_and_update_units_writes_back(xp):
    model = MaskedMLP(3, (6, 5), B=2, seed=0, scaling="ntk")
    rng = np.random.default_rng(0)
    model.set_masks([rng.random(w.shape) < 0.5 for w in model.weights])
    model.biases = [b + 0.1 for b in model.biases]
    if xp is not None:
        model = model._as_namespace(xp)
    keep = [np.flatnonzero(a.any(axis=0)) for a in model.live_units()]
    assert sum(k.size for k in keep) < 11
    sub = model.select_units(keep)
    assert sub.sizes == (3, keep[0].size, keep[1].size, 1)
    assert sub.multipliers == model.multipliers  # ntk multipliers follow the full widths
    X = np.random.default_rng(1).standard_normal((7, 3))
    Xa = model.from_host(X)
    np.testing.assert_allclose(to_numpy(sub.forward(Xa)), to_numpy(model.forward(Xa)),
                               rtol=1e-13, atol=1e-15)
    before = [to_numpy(w).copy() for w in model.weights + model.biases]
    sub.weights = [w + 1.0 for w in sub.weights]
    sub.biases = [b - 2.0 for b in sub.biases]
    model.update_units(sub, keep)
    after = [to_numpy(w) for w in model.weights + model.biases]
    idx = [np.arange(3)] + keep + [np.arange(1)]
    for l in range(3):
        rows, cols = idx[l], idx[l + 1]
        want = before[l].copy()
        want[:, rows[:, None], cols[None, :]] += 1.0
        np.testing.assert_array_equal(after[l], want)
        wantb = before[3 + l].copy()
        wantb[:, cols] -= 2.0
        np.testing.assert_array_equal(after[3 + l], wantb)


@pytest.mark.parametrize("keep, match", [
    ([np.arange(2)], "2 index arrays"),
    ([np.array([0, 0]), np.arange(2)], r"keep\[0\] must be increasing"),
    ([np.array([5]), np.arange(2)], r"keep\[0\] must be increasing indices in \[0, 4\)"),
    ([np.array([[0]]), np.arange(2)], r"keep\[0\] must be a 1-d array of integers"),
    ([np.array([0.5]), np.arange(2)], r"keep\[0\] must be a 1-d array of integers"),
])
def test_select_units_rejects_bad_indices(keep, match):
    model = MaskedMLP(3, (4, 3), seed=0)
    with pytest.raises(ValueError, match=match):
        model.select_units(keep)


def test_update_units_rejects_a_model_of_other_sizes():
    model = MaskedMLP(3, (4,), seed=0)
    sub = model.select_units([np.arange(2)])
    with pytest.raises(ValueError, match="sub must be a MaskedMLP of sizes"):
        model.update_units(sub, [np.arange(3)])


def test_prepare_inputs_checks_finiteness_without_a_full_size_temporary():
    import tracemalloc

    net = MaskedMLP(64, (4,), seed=0)
    X = np.random.default_rng(0).standard_normal((4000, 64))
    net.prepare_inputs(X)  # warm up
    tracemalloc.start()
    net.prepare_inputs(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < X.size // 4  # an isfinite mask would take X.size bytes
    for bad in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[1234, 7] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            net.prepare_inputs(Y)
