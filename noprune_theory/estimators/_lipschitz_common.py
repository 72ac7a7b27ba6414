"""Shared pieces of the Lipschitz bounds: checks, the forward pass with pre-activations, analytic
input gradients and the ascent direction (see :mod:`noprune_theory.estimators._lipschitz`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from noprune_theory._activations import LEAKY_SLOPE
from noprune_theory._activations import act as _act
from noprune_theory._activations import sigmoid_tanh as _sigmoid
from noprune_theory.backend import to_numpy

if TYPE_CHECKING:
    from noprune_theory.models import MaskedMLP

__all__ = ["LOWER_METHODS", "MAX_ENUMERATE", "UPPER_METHODS", "input_gradients"]

#: Methods of :func:`lipschitz_lower`, in the order they are tried.
LOWER_METHODS = ("data", "random", "ascent", "pairs", "patterns")
#: Methods of :func:`lipschitz_upper` (``"auto"`` takes the smallest valid one).
UPPER_METHODS = ("auto", "spectral", "sum_norms", "patterns", "branch_and_bound")

#: Largest number of active hidden units enumerated exhaustively by ``method="patterns"``.
MAX_ENUMERATE = 20

# ----------------------------------------------------------------------------- helpers
def _check_model(model):
    from noprune_theory.models import MaskedMLP

    if not isinstance(model, MaskedMLP):
        raise TypeError(f"model must be a MaskedMLP (or MaskedTwoLayer), got "
                        f"{type(model).__name__}")


def _check_params(model):
    """Weights and biases must be finite real floating-point numbers."""
    xp = model.xp
    params = [("weights", l, w) for l, w in enumerate(model.weights)]
    if model.biases is not None:
        params += [("biases", l, b) for l, b in enumerate(model.biases)]
    for name, l, w in params:
        if not xp.isdtype(w.dtype, "real floating"):
            raise TypeError(f"model.{name}[{l}] must hold real floating-point numbers, got "
                            f"dtype {w.dtype}")
        if not bool(xp.all(xp.isfinite(w))):
            raise ValueError(f"model.{name}[{l}] contains inf or NaN: the network (and its "
                             "Lipschitz constant) is undefined")


def _live_only(model):
    """``(model', keep)``: the networks restricted to the hidden units that reach an output.

    A unit from which no kept weight leads to an output (in any network of the batch) never
    changes f, so ``f' = f`` and ``Lip(f') = Lip(f)``; the bounds computed on ``f'`` are tighter
    (the spectral norm no longer counts the dead units' incoming weights) and cheaper (a
    narrower pattern search). ``keep`` is None, and the model itself returned, when every unit
    is live somewhere in the batch.
    """
    keep = model.live_unit_indices()
    if all(k.size == h for k, h in zip(keep, model.sizes[1:-1])):
        return model, None
    return model.select_units(keep), keep


#: Layers whose largest weight lies outside [2^-RESCALE, 2^RESCALE] are rescaled.
RESCALE = 60


def _rescaled(model):
    """``(model', k)``: ``Lip(f) = 2^k Lip(f')`` with ``f'`` computable in floating point.

    Lip is positively homogeneous in the output layer (its bias does not matter), and for the
    positively homogeneous activations (ReLU, leaky ReLU, identity) in every layer, when each
    later bias is scaled along. When some layer's largest weight is outside
    ``[2^-RESCALE, 2^RESCALE]`` (per network), every layer that may be scaled is divided by the
    power of two nearest its largest weight (exact in floating point; activation patterns and
    witnesses are unchanged). Otherwise the model itself is returned with ``k = None``, so
    ordinary networks are computed exactly as before.
    """
    xp = model.xp
    L = model.depth
    maxes = [to_numpy(xp.max(xp.abs(xp.reshape(w, (model.B, -1))), axis=1)).astype(np.float64)
             for w in model.weights]
    big = float(2.0 ** RESCALE)
    need = any(np.any((m > big) | ((m > 0) & (m < 1.0 / big))) for m in maxes)
    if not need:
        return model, None
    homogeneous = model.activation in ("relu", "leaky_relu", "identity")
    layers = range(L) if homogeneous else [L - 1]
    out = model.copy()
    k = np.zeros(model.B, dtype=np.int64)
    cum = np.zeros(model.B, dtype=np.int64)
    weights = list(model.weights)
    biases = None if model.biases is None else list(model.biases)
    for l in range(L):
        e = np.zeros(model.B, dtype=np.int64)
        if l in layers:
            m = maxes[l]
            e = np.where(m > 0, np.frexp(np.where(m > 0, m, 1.0))[1], 0).astype(np.int64)
            weights[l] = weights[l] * xp.asarray(np.ldexp(1.0, -e)[:, None, None],
                                                 dtype=model.array_dtype)
        cum = cum + e
        k = k + e
        if biases is not None and np.any(cum != 0):
            biases[l] = biases[l] * xp.asarray(np.ldexp(1.0, -cum)[:, None],
                                               dtype=model.array_dtype)
    out.weights = weights
    if biases is not None:
        out.biases = biases
    return out, k


def _unscale(values, k, what):
    """``values * 2^k`` (host float64), or a clean error where it leaves the float64 range."""
    v = np.asarray(values, dtype=np.float64)
    if k is None:
        return v
    with np.errstate(over="ignore"):
        out = np.ldexp(v, k)
    if not np.all(np.isfinite(out[np.isfinite(v)])):
        raise ValueError(f"the {what} exceeds the float64 range (about 1.8e308) for the networks "
                         f"{np.flatnonzero(~np.isfinite(out)).tolist()}: rescale the weights")
    return out


def _check_scalar_output(model, what):
    if model.sizes[-1] != 1:
        raise ValueError(f"{what} needs networks with one output (out = 1), got out = "
                         f"{model.sizes[-1]}; the spectral upper bound works for any out")


def _d1(act, z, xp):
    """phi'(z) of the true activation (relu'(0) = 0, as in models.py)."""
    if act == "relu":
        return xp.astype(z > 0, z.dtype)
    if act == "leaky_relu":
        return xp.where(z > 0, xp.ones_like(z), LEAKY_SLOPE)
    if act == "tanh":
        t = xp.tanh(z)
        return 1.0 - t * t
    if act == "softplus":
        return _sigmoid(z, xp)
    return xp.ones_like(z)


def _d1_d2_smooth(act, z, beta, xp):
    """phi' and phi'' of the activation used to choose ascent directions.

    ReLU and leaky ReLU have phi'' = 0 almost everywhere, so the gradient norm is piecewise
    constant and its gradient is zero: the ascent uses the gates of softplus_beta instead,
    ``phi'(z) ~ sigmoid(beta z)``. Smooth activations use their own derivatives.
    """
    if act in ("relu", "leaky_relu"):
        s = _sigmoid(beta * z, xp)
        d2 = beta * s * (1.0 - s)
        if act == "relu":
            return s, d2
        return LEAKY_SLOPE + (1.0 - LEAKY_SLOPE) * s, (1.0 - LEAKY_SLOPE) * d2
    if act == "tanh":
        t = xp.tanh(z)
        d1 = 1.0 - t * t
        return d1, -2.0 * t * d1
    if act == "softplus":
        s = _sigmoid(z, xp)
        return s, s * (1.0 - s)
    return xp.ones_like(z), xp.zeros_like(z)


def _hidden_preacts(model, Xa):
    """Pre-activations z_1..z_{L-1} of the hidden layers and the output f (B, n)."""
    xp = model.xp
    zs = []
    h = Xa
    L = model.depth
    for l in range(L):
        z = xp.matmul(h, model.weights[l])
        if model.multipliers[l] != 1.0:
            z = model.multipliers[l] * z
        if model.biases is not None:
            z = z + model.biases[l][:, None, :]
        if l < L - 1:
            zs.append(z)
            h = _act(model.activation, z, xp)
    return zs, z[..., 0]


def _unit_roundoff(model):
    return float(np.finfo(np.float32 if model.dtype == "float32" else np.float64).eps) / 2


def _forward_bounds(model, Xa):
    """The forward pass with rigorous bounds of its rounding errors.

    Returns the hidden pre-activations ``zs``, the output ``f`` (B, n), the bounds ``errs`` of
    ``|z_computed - z_exact|`` per hidden layer, and the bound ``err_f`` (B, n) for ``f``,
    where "exact" is real arithmetic on the same (float) weights and inputs. Standard forward
    error analysis: a dot product of length n carries at most ``gamma_n |h| . |w|`` with
    ``gamma_n = n u / (1 - n u)``; the multiplier and the bias add one rounding each; errors of
    a layer's input pass through ``|c W|`` (every activation is 1-Lipschitz) and the activation
    adds its own rounding. Everything is doubled for the rounding of the bound itself.
    """
    xp = model.xp
    u = _unit_roundoff(model)
    smooth = model.activation in ("tanh", "softplus")
    zs, errs = [], []
    h = Xa
    e = None  # error of h: None for the (exact) input
    L = model.depth
    for l in range(L):
        W = model.weights[l]
        Wa = xp.abs(W)
        c = model.multipliers[l]
        n_in = W.shape[-2] + 4
        g = n_in * u / (1.0 - n_in * u)
        z = xp.matmul(h, W)
        mag = xp.matmul(xp.abs(h), Wa)
        if c != 1.0:
            z = c * z
            mag = abs(c) * mag
        if model.biases is not None:
            z = z + model.biases[l][:, None, :]
            mag = mag + xp.abs(model.biases[l])[:, None, :]
        err = (2.0 * g) * mag
        if e is not None:
            err = err + (2.0 * abs(c) * (1.0 + g)) * xp.matmul(e, Wa)
        if l < L - 1:
            zs.append(z)
            errs.append(err)
            h = _act(model.activation, z, xp)
            # relu is exact, leaky relu one product, tanh / softplus a few ulps (+ 1 absolute)
            e = err + (4.0 * u) * (xp.abs(h) + (1.0 if smooth else 0.0))
    return zs, z[..., 0], errs, err[..., 0]


def _kink_free(model, zs, errs):
    """(B, n) bool: no pre-activation within its rounding error of a kink (ReLU, leaky ReLU).

    There the computed activation pattern is the exact one, ``f`` is affine on a neighbourhood
    and the computed gradient is its gradient (to rounding). Smooth activations: everywhere.
    """
    xp = model.xp
    ok = None
    if model.activation in ("relu", "leaky_relu"):
        for l, (z, e) in enumerate(zip(zs, errs)):
            # a unit without incoming weights is constant in x, one without outgoing weights
            # does not reach f: their gates never enter the gradient, their kinks do not count
            w_in = model.weights[l] != 0  # (B, h_{l-1}, h_l)
            w_out = model.weights[l + 1] != 0  # (B, h_l, h_{l+1})
            live = xp.any(w_in, axis=1) & xp.any(w_out, axis=2)  # (B, h_l)
            far = (xp.abs(z) > e) | ~live[:, None, :]
            k = xp.all(far, axis=-1)
            ok = k if ok is None else ok & k
    return ok


def _grad_x_certified(model, Xa):
    """(grad_x f, f, zs, ok): ``ok`` (B, n) where the gradient is certified (see _kink_free).

    Non-finite values (overflow) are never certified.
    """
    xp = model.xp
    zs, f, errs, _ = _forward_bounds(model, Xa)
    d1s = [_d1(model.activation, z, xp) for z in zs]
    g = _backward_x(model, zs, d1s, _output_row(model))
    ok = _kink_free(model, zs, errs)
    fin = xp.all(xp.isfinite(g), axis=-1) & xp.isfinite(f)
    ok = fin if ok is None else ok & fin
    return g, f, zs, ok


def _output_row(model):
    """df/da_{L-1} = c_L W_L[:, :, 0], shape (B, 1, h_{L-1})."""
    c = model.multipliers[-1]
    return c * model.weights[-1][:, None, :, 0]


def _backward_x(model, zs, d1s, gbar):
    """grad_x from df/da_{L-1} = gbar through gates d1s (one per hidden layer)."""
    xp = model.xp
    for l in range(model.depth - 1, 0, -1):
        delta = gbar * d1s[l - 1]
        gbar = xp.matmul(delta, model.weights[l - 1].mT)
        c = model.multipliers[l - 1]
        if c != 1.0:
            gbar = c * gbar
    return gbar


def _grad_x(model, Xa):
    """(grad_x f (B, n, d), f (B, n), hidden pre-activations)."""
    xp = model.xp
    zs, f = _hidden_preacts(model, Xa)
    d1s = [_d1(model.activation, z, xp) for z in zs]
    return _backward_x(model, zs, d1s, _output_row(model)), f, zs


def _ascent_direction(model, Xa, zs, betas):
    """The gradient (in x) of ||grad f_s(x)||^2 / 2 = H_s(x) grad f_s(x) of the smoothed net.

    Pearlmutter's R-operator in the input direction v = grad f_s (forward R pass, then the
    R pass of the input-gradient backward pass). Shares the true pre-activations ``zs``.
    """
    xp = model.xp
    L = model.depth  # >= 2: a MaskedMLP has at least one hidden layer
    gates = [_d1_d2_smooth(model.activation, z, b, xp) for z, b in zip(zs, betas)]
    d1s = [g[0] for g in gates]
    # backward of the smoothed gradient, keeping df/da_l for the R pass
    gbars = [None] * L
    gbar = _output_row(model)
    gbars[L - 1] = gbar
    for l in range(L - 1, 0, -1):
        delta = gbar * d1s[l - 1]
        gbar = xp.matmul(delta, model.weights[l - 1].mT)
        c = model.multipliers[l - 1]
        if c != 1.0:
            gbar = c * gbar
        gbars[l - 1] = gbar
    v = gbar  # grad f_s, (B, n, d)
    # forward R pass: R z_{l}
    rzs = []
    ra = v
    for l in range(L - 1):
        rz = xp.matmul(ra, model.weights[l])
        c = model.multipliers[l]
        if c != 1.0:
            rz = c * rz
        rzs.append(rz)
        ra = d1s[l] * rz
    # backward R pass: R{df/da_{L-1}} = 0
    rgbar = None
    for l in range(L - 1, 0, -1):
        term = gbars[l] * gates[l - 1][1] * rzs[l - 1]
        rdelta = term if rgbar is None else rgbar * d1s[l - 1] + term
        rgbar = xp.matmul(rdelta, model.weights[l - 1].mT)
        c = model.multipliers[l - 1]
        if c != 1.0:
            rgbar = c * rgbar
    return rgbar


def _norm_last(a, xp):
    return xp.sqrt(xp.sum(a * a, axis=-1))


def _gather_rows(P, idx, xp):
    """P (B, n, d) or (n, d), idx (B,) int: rows P[b, idx[b]] as (B, d), namespace-generic."""
    n = P.shape[-2]
    onehot = xp.astype(xp.arange(n)[None, :] == idx[:, None], P.dtype)  # (B, n)
    if P.ndim == 2:
        return xp.matmul(onehot, P)
    return xp.sum(P * onehot[..., None], axis=-2)


def input_gradients(model: MaskedMLP, X: ArrayLike) -> Any:
    """Compute the input gradients ``grad_x f(x)`` of every network at every point.

    Parameters
    ----------
    model : MaskedMLP
        Networks with one output (out = 1).
    X : array, shape (n, d) or (B, n, d)
        The points: shared by all networks, or one set per network.

    Returns
    -------
    array, shape (B, n, d)
        In the model's array library.

    Notes
    -----
    Backpropagation to the input: with ``gbar_{L-1} = c_L W_L`` (the output row),
    ``gbar_{l-1} = c_{l-1} (gbar_l * phi'(z_l)) W_{l-1}^T`` and ``grad_x f = gbar_0``.
    For ReLU, ``phi'(0) = 0``; the result is the gradient wherever no pre-activation is exactly
    zero, i.e. with probability one at random points.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.models import MaskedMLP
    >>> net = MaskedMLP(3, (5,), B=2, seed=0)
    >>> input_gradients(net, np.ones((4, 3))).shape
    (2, 4, 3)
    """
    _check_model(model)
    _check_scalar_output(model, "input_gradients")
    Xa = model.prepare_inputs(X)
    return _grad_x(model, Xa)[0]


def _chunks(total, size):
    for start in range(0, total, size):
        yield start, min(total, start + size)


def _chunk_rows(model, budget):
    width = max(model.sizes[:-1])
    return max(1, int(budget // max(1, model.B * width)))

