"""SNIP, GraSP and SynFlow scores against finite-difference references on tiny float64 nets."""
import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.models import MaskedMLP
from noprune_theory.pruning import (
    compute_scores,
    grasp_hessian_gradient,
    grasp_scores,
    magnitude_scores,
    mask_counts,
    prune,
    snip_scores,
    synflow_scores,
)


def _tiny(activation="tanh", seed=1):
    """A 3 -> 4 -> 1 tanh net (B = 2) with nonzero biases, so no term vanishes by accident."""
    rng = np.random.default_rng(seed)
    net = MaskedMLP(3, (4,), B=2, activation=activation, seed=seed)
    net.biases = [b + 0.1 * rng.standard_normal(b.shape) for b in net.biases]
    X = rng.standard_normal((5, 3))
    y = np.sign(rng.standard_normal(5))
    return net, X, y


def _loss_T(net, weights, X, y, loss, T):
    """Hand-written mean loss of the logits divided by T (independent of the model's loss)."""
    probe = net.copy()
    probe.weights = weights
    f = probe.forward(X)[..., 0] / T
    per = (f - y) ** 2 if loss == "mse" else np.logaddexp(0.0, -y * f)
    return per.mean(axis=-1)


def _fd_grad(fun, weights, h=1e-4):
    """Central differences of fun (returning (B,)) in every weight, every network at once."""
    grads = [np.zeros_like(w) for w in weights]
    for l, w in enumerate(weights):
        for idx in np.ndindex(w.shape[1:]):
            plus = [x.copy() for x in weights]
            minus = [x.copy() for x in weights]
            plus[l][(slice(None),) + idx] += h
            minus[l][(slice(None),) + idx] -= h
            grads[l][(slice(None),) + idx] = (fun(plus) - fun(minus)) / (2 * h)
    return grads


def _max_rel(got, ref):
    scale = max(np.abs(r).max() for r in ref)
    return max(np.abs(np.asarray(to_numpy(g)) - r).max() for g, r in zip(got, ref)) / scale


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_snip_equals_finite_differences(loss):
    net, X, y = _tiny()
    ref_grad = _fd_grad(lambda ws: _loss_T(net, ws, X, y, loss, 1.0), net.weights)
    ref = [np.abs(w * g) for w, g in zip(net.weights, ref_grad)]
    got = compute_scores(net, "snip", data=(X, y), loss=loss)
    # central differences with h = 1e-4: truncation ~h^2 = 1e-8 relative
    assert _max_rel(got, ref) < 1e-7


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_grasp_hg_equals_differences_of_gradients(loss):
    # T = 1: H g = (grad L(w + eps g) - grad L(w - eps g)) / (2 eps), gradients from the model.
    net, X, y = _tiny()
    _, g, _ = net.gradients(X, y, loss=loss)
    eps = 1e-5

    def grad_at(ws):
        probe = net.copy()
        probe.weights = ws
        return probe.gradients(X, y, loss=loss)[1]

    gp = grad_at([w + eps * v for w, v in zip(net.weights, g)])
    gm = grad_at([w - eps * v for w, v in zip(net.weights, g)])
    ref = [(a - b) / (2 * eps) for a, b in zip(gp, gm)]
    got = grasp_hessian_gradient(net, X, y, loss=loss, temperature=1.0)
    # O(eps^2) truncation (~1e-10) plus rounding 1e-16 / eps ~ 1e-11
    assert _max_rel(got, ref) < 1e-7


@pytest.mark.parametrize("loss", ["mse", "logistic"])
@pytest.mark.parametrize("T", [4.0, 200.0])
def test_grasp_with_temperature_equals_nested_differences(loss, T):
    # Independent of the model's gradients: grad of the hand-written loss of f/T by central
    # differences, and H g by differences of those gradients along u = g/|g| (times |g|).
    net, X, y = _tiny()

    def fun(ws):
        return _loss_T(net, ws, X, y, loss, T)

    g = _fd_grad(fun, net.weights)
    norm = np.sqrt(sum((x**2).sum(axis=(1, 2)) for x in g))[:, None, None]
    u = [x / norm for x in g]
    eps = 1e-3
    gp = _fd_grad(fun, [w + eps * v for w, v in zip(net.weights, u)])
    gm = _fd_grad(fun, [w - eps * v for w, v in zip(net.weights, u)])
    ref_hg = [(a - b) / (2 * eps) * norm for a, b in zip(gp, gm)]
    got_hg = grasp_hessian_gradient(net, X, y, loss=loss, temperature=T)
    # nested differences: measured 2e-6 relative at T = 200 (rounding of the inner gradients)
    assert _max_rel(got_hg, ref_hg) < 2e-5
    # the registered method's keep-score is -S = w * (H g)
    keep = compute_scores(net, "grasp", data=(X, y), loss=loss, temperature=T)
    ref_keep = [w * h for w, h in zip(net.weights, ref_hg)]
    assert _max_rel(keep, ref_keep) < 2e-5


def _synflow_R(weights):
    """R = 1^T |W_0| |W_1| ... 1 per network, by explicit products (no closed form)."""
    v = np.ones((weights[0].shape[0], 1, weights[0].shape[1]))
    for w in weights:
        v = v @ np.abs(w)
    return v.sum(axis=(1, 2))


def test_synflow_equals_finite_differences():
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5)),
               rng.standard_normal((2, 5, 2))]
    masks = [rng.random(w.shape) < 0.7 for w in weights]
    masked = [np.where(m, w, 0.0) for w, m in zip(weights, masks)]
    # R is multilinear in |w|; differentiate in |w| (abs weights, positive steps stay positive)
    absw = [np.abs(w) for w in masked]
    dR = _fd_grad(_synflow_R, absw, h=1e-3)
    ref = [a * d for a, d in zip(absw, dR)]
    got = synflow_scores(weights, masks)
    # multilinear: central differences are exact up to rounding
    assert _max_rel(got, ref) < 1e-10
    # and the scores of one layer sum to R (each path counted once per layer)
    R = _synflow_R(masked)
    for s in got:
        np.testing.assert_allclose(s.sum(axis=(1, 2)), R, rtol=1e-12)


def test_array_scores_on_every_namespace(xp):
    rng = np.random.default_rng(0)
    w = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 1))]
    g = [rng.standard_normal(a.shape) for a in w]
    W, G = [xp.asarray(a) for a in w], [xp.asarray(a) for a in g]
    for got, ref in [
        (magnitude_scores(W), [np.abs(a) for a in w]),
        (snip_scores(W, G), [np.abs(a * b) for a, b in zip(w, g)]),
        (grasp_scores(W, G), [-(a * b) for a, b in zip(w, g)]),
        (synflow_scores(W), synflow_scores(w)),
    ]:
        for a, b in zip(got, ref):
            np.testing.assert_allclose(np.asarray(to_numpy(a)), b, rtol=1e-14)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_synflow_overflow_is_an_error():
    w = [np.full((1, 2, 2), 1e200), np.full((1, 2, 2), 1e200)]
    with pytest.raises(ValueError, match="overflow float64"):
        synflow_scores(w)


def test_synflow_avoids_layer_collapse_where_magnitude_does_not():
    # Two hidden layers: a WIDE first layer (10 x 100 = 1000 weights) with tiny weights
    # (std ~ 0.0045), a NARROW second layer (100 x 5 = 500) with large weights (std ~ 1.4) and
    # a 5 x 1 output. At sparsity 0.99 the network keeps round(0.01 * 1505) = 15 weights:
    # global magnitude spends them all on the large-scale layers and empties layer 0
    # (the network computes a constant), while iterative SynFlow keeps every layer connected.
    net = MaskedMLP(10, (100, 5), B=3, seed=0)
    net.weights = [net.weights[0] * 0.01, net.weights[1] * 10.0, net.weights[2]]
    magnitude = mask_counts(prune(net, "magnitude", 0.99))
    synflow = prune(net, "synflow", 0.99, iterations=100)
    counts = mask_counts(synflow)
    np.testing.assert_array_equal(magnitude.sum(axis=1), [15] * 3)
    np.testing.assert_array_equal(counts.sum(axis=1), [15] * 3)
    assert np.all(magnitude[:, 0] == 0)  # magnitude: layer collapse
    assert np.all(counts > 0), counts  # SynFlow: every layer keeps weights ...
    # ... and an input-output path survives (R > 0 on the pruned net)
    R = _synflow_R([np.where(m, w, 0.0) for w, m in zip(net.weights, synflow)])
    assert np.all(R > 0)
