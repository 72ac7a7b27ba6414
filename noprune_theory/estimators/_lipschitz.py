"""Lipschitz constants of trained networks, bounded from both sides.

Where this sits in the data flow: a trained (and pruned) :class:`~noprune_theory.models.MaskedMLP`
comes in; its measured Lipschitz constant goes beside the lower bound of the (sparse) law of
robustness (:func:`noprune_theory.theory.sparse_robustness_bound`), for the same network.

- :func:`lipschitz_lower` -- certified lower bounds: every input-gradient norm at a point where
  ``f`` is differentiable, and every difference quotient ``|f(x) - f(x')| / ||x - x'||``, is a
  lower bound of ``Lip(f)``. Points: the data, random points, and the end points of projected
  gradient ascent on ``||grad f(x)||`` from many starts; pairs: every pair of data points.
- :func:`lipschitz_upper` -- upper bounds: the product of spectral norms (any depth),
  ``sum_j |a_j| ||w_j||`` (one hidden layer), and the activation-pattern bound
  ``max_s ||W diag(s) a||`` (one hidden layer), which is the exact Lipschitz constant when every
  activation pattern is realizable; enumerated for small widths, branch and bound beyond.
- :func:`input_gradients` -- ``grad_x f`` of every network at every point (analytic, batched).

All the array code takes its functions from the model's namespace (NumPy, CuPy,
``array_api_strict``). Norms are Euclidean, in input units per output unit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from noprune_theory._validation import check_choice, check_scalar
from noprune_theory.backend import to_numpy

__all__ = [
    "LOWER_METHODS",
    "UPPER_METHODS",
    "LipschitzLowerResult",
    "LipschitzUpperResult",
    "input_gradients",
    "lipschitz_lower",
    "lipschitz_upper",
]

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


def _check_scalar_output(model, what):
    if model.sizes[-1] != 1:
        raise ValueError(f"{what} needs networks with one output (out = 1), got out = "
                         f"{model.sizes[-1]}; the spectral upper bound works for any out")


def _sigmoid(u, xp):
    # one tanh, never overflows (cheaper than exp(u - logaddexp(u, 0)))
    return 0.5 + 0.5 * xp.tanh(0.5 * u)


def _d1(act, z, xp):
    """phi'(z) of the true activation (relu'(0) = 0, as in models.py)."""
    if act == "relu":
        return xp.astype(z > 0, z.dtype)
    if act == "leaky_relu":
        from noprune_theory.models import LEAKY_SLOPE

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
        from noprune_theory.models import LEAKY_SLOPE

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
    from noprune_theory.models import _act

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


def input_gradients(model, X):
    """Input gradients ``grad_x f(x)`` of every network at every point.

    Parameters
    ----------
    model : MaskedMLP
        Networks with one output (out = 1).
    X : array, shape (n, d) shared by all networks, or (B, n, d)

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
    Xa = model._prepare_X(X)
    return _grad_x(model, Xa)[0]


# ----------------------------------------------------------------------------- lower bounds
@dataclass
class LipschitzLowerResult:
    """Certified lower bounds of ``Lip(f)`` for a batch of networks.

    Attributes
    ----------
    value : array (B,)
        The largest lower bound found, per network (model's array library).
    method : tuple of str (B,)
        Which method gave ``value``: ``"data"``, ``"random"``, ``"ascent"`` or ``"pairs"``.
    witness : ndarray (B, d)
        The point whose gradient norm is ``value`` (or the first point of the pair).
    witness_pair : ndarray (B, d)
        The second point of the pair for ``method == "pairs"``, NaN rows otherwise.
    by_method : dict of str -> ndarray (B,)
        The best bound of each method that ran.
    secant : ndarray (B,)
        ``|f(w + h u) - f(w)| / h`` at the best gradient witness ``w`` with ``u`` its unit
        gradient and ``h`` small: a difference quotient, so a lower bound that needs no
        differentiability; equal to the gradient norm (to rounding) inside a linear piece.
    """

    value: object
    method: tuple
    witness: np.ndarray
    witness_pair: np.ndarray
    by_method: dict = field(default_factory=dict)
    secant: np.ndarray | None = None


def _check_X_lower(model, X):
    if X is None:
        return None
    Xa = model._prepare_X(X)
    if Xa.ndim != 2:
        raise ValueError(f"X must have shape (n, {model.sizes[0]}) (points shared by all "
                         f"networks), got {tuple(Xa.shape)}")
    return Xa


def _chunks(total, size):
    for start in range(0, total, size):
        yield start, min(total, start + size)


def _chunk_rows(model, budget):
    width = max(model.sizes[:-1])
    return max(1, int(budget // max(1, model.B * width)))


def _best_grad(model, P, budget):
    """Largest gradient norm over the rows of P (n, d): (B,) values and (B,) indices."""
    xp = model.xp
    best = None
    arg = None
    step = _chunk_rows(model, budget)
    for a, b in _chunks(P.shape[0], step):
        g, _, _ = _grad_x(model, P[a:b, :])
        nrm = _norm_last(g, xp)  # (B, m)
        v = xp.max(nrm, axis=1)
        i = xp.argmax(nrm, axis=1) + a
        if best is None:
            best, arg = v, i
        else:
            better = v > best
            best = xp.where(better, v, best)
            arg = xp.where(better, i, arg)
    return best, arg


def _pgd(model, anchors, starts, radius, region, lo, hi, steps, step_size, smoothing):
    """Projected gradient ascent from (B, S, d) starts; best true gradient norm and point."""
    xp = model.xp
    x = starts
    best = None
    best_x = None

    def record(x):
        nonlocal best, best_x
        g, _, zs = _grad_x(model, x)
        nrm = _norm_last(g, xp)  # (B, S)
        if best is None:
            best, best_x = nrm, x
        else:
            better = nrm > best
            best = xp.where(better, nrm, best)
            best_x = xp.where(better[..., None], x, best_x)
        return zs

    zs = record(x)
    # temperature of the smoothed gates relative to the spread of each layer's pre-activations
    betas = []
    for z in zs:
        rms = xp.sqrt(xp.mean(z * z, axis=(1, 2), keepdims=True))
        betas.append(1.0 / (smoothing * xp.where(rms > 0, rms, 1.0)))
    for t in range(steps):
        u = _ascent_direction(model, x, zs, betas)
        un = _norm_last(u, xp)[..., None]
        # a normalised step: the size of H g says nothing about how far the region extends
        eta = step_size * (1.0 - t / steps)
        x = x + eta * u / xp.where(un > 0, un, 1.0)
        if region == "ball":
            dx = x - anchors
            dn = _norm_last(dx, xp)[..., None]
            x = anchors + dx * xp.where(dn > radius, radius / xp.where(dn > 0, dn, 1.0), 1.0)
        else:
            x = xp.clip(x, lo, hi)
        zs = record(x)
    return best, best_x


def lipschitz_lower(model, X=None, *, methods=("data", "random", "ascent", "pairs"),
                    n_random=256, starts=64, steps=30, radius=None, region="ball",
                    step_size=None, smoothing=0.1, memory=2**24, seed=0):
    """Certified lower bounds of the Lipschitz constant of every network of a batch.

    Parameters
    ----------
    model : MaskedMLP
        B networks with one output (out = 1).
    X : array (n, d) or None
        Data points shared by all networks. ``None``: random points from ``N(0, I_d / d)``
        stand in for the data (``"data"`` and ``"pairs"`` are then skipped).
    methods : sequence of {"data", "random", "ascent", "pairs", "patterns"}
        ``data``: the largest gradient norm over X. ``random``: over ``n_random`` random points
        drawn from a Gaussian with the data's mean and per-coordinate spread. ``ascent``:
        projected gradient ascent on the gradient norm from ``starts`` data points (cycled,
        jittered when repeated), ``steps`` steps, inside the region. ``pairs``: the largest
        ``|f(x_i) - f(x_j)| / ||x_i - x_j||`` over pairs of distinct data points, in tiles.
        ``patterns`` (opt-in; one hidden layer): the gradient norm at a point realizing the
        maximizing activation pattern of :func:`lipschitz_upper` (found by a linear program),
        anywhere in R^d; there the lower bound equals the upper bound. When the maximizer is
        not realizable (and at most 20 units are active), the point of the best realizable
        pattern among the 256 highest; the origin where none is found.
    n_random : int >= 1, default 256
    starts : int >= 1, default 64
        Starts of the ascent per network.
    steps : int >= 0, default 30
        Ascent steps.
    radius : float > 0 or None
        Radius of the ball around each start (``region="ball"``); ``None``: half the RMS
        norm of the data points.
    region : {"ball", "box"}, default "ball"
        ``box``: the data's bounding box, widened by ``radius`` on each side.
    step_size : float > 0 or None
        First step length of the ascent (decays linearly to 0); ``None``: ``radius / 4``.
    smoothing : float > 0, default 0.1
        ReLU gates are replaced by ``sigmoid(z / (smoothing * rms(z)))`` to choose ascent
        directions (the ReLU gradient norm is piecewise constant); bounds always use the true
        gradient.
    memory : int, default 2**24
        Rough cap on the number of array elements of one chunk (B * rows * width).
    seed : int >= 0, default 0
        Seeds the random points and the jitter of repeated starts (NumPy, on the host).

    Returns
    -------
    LipschitzLowerResult

    Notes
    -----
    Every value is a lower bound of ``Lip(f) = sup_{x != x'} |f(x) - f(x')| / ||x - x'||``:
    a difference quotient by definition, and ``||grad f(x)||`` at a point of differentiability
    as the limit of difference quotients along the gradient. ReLU networks are differentiable
    at x unless a pre-activation is exactly 0, a set of measure zero; ``secant`` checks the
    best gradient witness by a difference quotient. The ascent maximises the gradient norm
    ``||grad f||`` over the region, the quantity whose supremum is ``Lip(f)`` (sec. 1 of
    THEORY.md; [BS] measure robustness by it).

    References
    ----------
    .. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry",
       NeurIPS 2021.

    Examples
    --------
    A single ReLU neuron ``f(x) = a relu(w . x)`` has ``Lip = |a| ||w||``:

    >>> import numpy as np
    >>> from noprune_theory.models import MaskedMLP
    >>> net = MaskedMLP(2, (1,), B=1, bias=False, seed=0)
    >>> exact = abs(net.weights[1][0, 0, 0]) * np.linalg.norm(net.weights[0][0, :, 0])
    >>> res = lipschitz_lower(net, seed=1)
    >>> bool(abs(res.value[0] - exact) < 1e-12)
    True
    """
    _check_model(model)
    _check_scalar_output(model, "lipschitz_lower")
    xp = model.xp
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one of " + ", ".join(
            repr(m) for m in LOWER_METHODS))
    for m in methods:
        check_choice(m, "methods", LOWER_METHODS)
    if "patterns" in methods and model.depth != 2:
        raise ValueError(f"method 'patterns' needs one hidden layer, got sizes {model.sizes}")
    n_random = check_scalar(n_random, "n_random", integer=True, low=1)
    starts = check_scalar(starts, "starts", integer=True, low=1)
    steps = check_scalar(steps, "steps", integer=True, low=0)
    check_choice(region, "region", ("ball", "box"))
    smoothing = check_scalar(smoothing, "smoothing", low=0, low_inclusive=False)
    memory = check_scalar(memory, "memory", integer=True, low=1)
    seed = check_scalar(seed, "seed", integer=True, low=0)
    Xa = _check_X_lower(model, X)
    d = model.sizes[0]
    rng = np.random.default_rng(seed)
    if Xa is None:
        methods = tuple(m for m in methods if m not in ("data", "pairs"))
        if not methods:
            raise ValueError("methods 'data' and 'pairs' need X; give X or add 'random', "
                             "'ascent' or 'patterns'")
        Xh = rng.standard_normal((max(starts, 2), d)) / math.sqrt(d)
    else:
        Xh = to_numpy(Xa).astype(np.float64)
    if radius is None:
        rms = float(np.sqrt(np.mean(np.sum(Xh * Xh, axis=1))))
        radius = 0.5 * rms if rms > 0 else 1.0
    radius = check_scalar(radius, "radius", low=0, low_inclusive=False)
    step_size = radius / 4 if step_size is None else check_scalar(
        step_size, "step_size", low=0, low_inclusive=False)

    cands = {}  # method -> (values (B,), points (B, d) host, second points or None)

    if "data" in methods:
        v, i = _best_grad(model, Xa, memory)
        cands["data"] = (v, _gather_rows(Xa, i, xp), None)

    if "random" in methods:
        mu, sd = Xh.mean(axis=0), Xh.std(axis=0)
        if Xa is None or not np.any(sd > 0):
            mu, sd = np.zeros(d), np.full(d, 1.0 / math.sqrt(d))
        R = model._from_host(mu + sd * rng.standard_normal((n_random, d)))
        v, i = _best_grad(model, R, memory)
        cands["random"] = (v, _gather_rows(R, i, xp), None)

    if "ascent" in methods:
        idx = np.arange(starts) % Xh.shape[0]
        S0 = Xh[idx]
        repeat = np.arange(starts) >= Xh.shape[0]
        if repeat.any():
            S0[repeat] += (radius / 2) * rng.standard_normal((int(repeat.sum()), d)) / math.sqrt(d)
        lo = model._from_host(Xh.min(axis=0) - radius)
        hi = model._from_host(Xh.max(axis=0) + radius)
        best = None
        best_x = None
        step = _chunk_rows(model, memory // 4)
        for a, b in _chunks(starts, step):
            # a real copy: a stride-0 batch axis takes NumPy's matmul off BLAS
            anchors = model._from_host(np.ascontiguousarray(
                np.broadcast_to(S0[a:b], (model.B, b - a, d))))
            v, px = _pgd(model, anchors, anchors, radius, region, lo, hi, steps, step_size,
                         smoothing)
            i = xp.argmax(v, axis=1)
            vb = xp.max(v, axis=1)
            pb = _gather_rows(px, i, xp)
            if best is None:
                best, best_x = vb, pb
            else:
                better = vb > best
                best = xp.where(better, vb, best)
                best_x = xp.where(better[:, None], pb, best_x)
        cands["ascent"] = (best, best_x, None)

    if "pairs" in methods:
        cands["pairs"] = _best_pair(model, Xa, memory)

    if "patterns" in methods:
        up = lipschitz_upper(model, "patterns")
        P = np.where(np.isnan(up.witness), 0.0, up.witness)
        pts = model._from_host(P)
        g, _, _ = _grad_x(model, pts[:, None, :])
        cands["patterns"] = (_norm_last(g, xp)[:, 0], pts, None)

    names = list(cands)
    vals = xp.stack([cands[m][0] for m in names], axis=0)  # (M, B)
    which = to_numpy(xp.argmax(vals, axis=0))
    value = xp.max(vals, axis=0)
    B = model.B
    witness = np.empty((B, d))
    pair = np.full((B, d), np.nan)
    host = {m: (to_numpy(cands[m][1]),
                None if cands[m][2] is None else to_numpy(cands[m][2])) for m in names}
    for b in range(B):
        m = names[int(which[b])]
        witness[b] = host[m][0][b]
        if host[m][1] is not None:
            pair[b] = host[m][1][b]
    method = tuple(names[int(k)] for k in which)
    by_method = {m: to_numpy(cands[m][0]).astype(np.float64) for m in names}
    secant = _secant(model, cands, names)
    return LipschitzLowerResult(value=value, method=method, witness=witness,
                                witness_pair=pair, by_method=by_method, secant=secant)


def _secant(model, cands, names):
    """Difference quotient along the gradient at the best gradient witness of each network."""
    xp = model.xp
    grads = [m for m in names if m != "pairs"]
    if not grads:
        return None
    vals = xp.stack([cands[m][0] for m in grads], axis=0)
    which = xp.argmax(vals, axis=0)
    pts = xp.stack([cands[m][1] for m in grads], axis=0)  # (M, B, d)
    onehot = xp.astype(xp.arange(len(grads))[:, None] == which[None, :], pts.dtype)
    w = xp.sum(pts * onehot[..., None], axis=0)[:, None, :]  # (B, 1, d)
    g, f0, _ = _grad_x(model, w)
    gn = _norm_last(g, xp)[..., None]
    u = g / xp.where(gn > 0, gn, 1.0)
    # a step far below the distance to the nearest kink, far above rounding of f
    eps_f = 1e-7 if model.dtype == "float64" else 3e-3
    h = eps_f * (1.0 + _norm_last(w, xp))[..., None]
    _, f1 = _hidden_preacts(model, w + h * u)
    return to_numpy(xp.abs(f1 - f0)[:, 0] / h[:, 0, 0]).astype(np.float64)


def _best_pair(model, Xa, memory):
    """max_{i<j} |f(x_i) - f(x_j)| / ||x_i - x_j|| in square tiles (never an n x n matrix)."""
    xp = model.xp
    n = Xa.shape[0]
    _, f = _hidden_preacts(model, Xa)  # (B, n)
    sq = xp.sum(Xa * Xa, axis=1)
    tile = max(1, int(math.sqrt(memory / max(1, model.B))))
    best = xp.zeros((model.B,), dtype=model._dt)
    bi = xp.zeros((model.B,), dtype=xp.int64)
    bj = xp.zeros((model.B,), dtype=xp.int64)
    for a0, a1 in _chunks(n, tile):
        for c0, c1 in _chunks(n, tile):
            if c1 <= a0:
                continue  # the lower triangle repeats the upper one
            d2 = sq[a0:a1, None] + sq[None, c0:c1] - 2.0 * xp.matmul(Xa[a0:a1, :], Xa[c0:c1, :].T)
            # the expansion loses digits for close points: recompute them exactly below
            dist = xp.sqrt(xp.clip(d2, 0.0, None))
            ii = xp.arange(a0, a1)[:, None]
            jj = xp.arange(c0, c1)[None, :]
            valid = (jj > ii) & (dist > 0)
            q = xp.abs(f[:, a0:a1, None] - f[:, None, c0:c1]) / xp.where(valid, dist, 1.0)
            q = xp.where(valid[None, ...], q, 0.0)
            flat = xp.reshape(q, (model.B, -1))
            v = xp.max(flat, axis=1)
            k = xp.argmax(flat, axis=1)
            w = c1 - c0
            better = v > best
            best = xp.where(better, v, best)
            bi = xp.where(better, k // w + a0, bi)
            bj = xp.where(better, k % w + c0, bj)
    # exact distances at the winners (the tiled expansion is only used to find them)
    xi = _gather_rows(Xa, bi, xp)
    xj = _gather_rows(Xa, bj, xp)
    fi = xp.sum(f * xp.astype(xp.arange(n)[None, :] == bi[:, None], f.dtype), axis=1)
    fj = xp.sum(f * xp.astype(xp.arange(n)[None, :] == bj[:, None], f.dtype), axis=1)
    dist = _norm_last(xi - xj, xp)
    value = xp.where(dist > 0, xp.abs(fi - fj) / xp.where(dist > 0, dist, 1.0), 0.0)
    return value, xi, xj


# ----------------------------------------------------------------------------- upper bounds
@dataclass
class LipschitzUpperResult:
    """Upper bounds of ``Lip(f)`` for a batch of networks.

    Attributes
    ----------
    value : array (B,)
        The bound (the smallest of the computed ones for ``method="auto"``).
    method : str or tuple of str
        Which bound ``value`` is: ``"spectral"``, ``"sum_norms"``, ``"patterns"`` or
        ``"branch_and_bound"`` (a tuple, per network, for ``"auto"``).
    exact : ndarray of bool (B,)
        True where ``value`` is the exact Lipschitz constant: a pattern bound of a ReLU or leaky
        ReLU network whose maximizing activation pattern is realized at a point (found by a
        linear program, then checked by evaluating the pre-activations), so the gradient there
        attains the bound.
    by_method : dict of str -> ndarray (B,)
        Every bound that was computed.
    pattern : ndarray of bool (B, h) or None
        The maximizing activation pattern (pattern bounds only).
    witness : ndarray (B, d) or None
        A point realizing the maximizing pattern where ``exact``; otherwise, for at most 20
        active units, a point realizing the highest-valued pattern found realizable among the
        256 best; NaN rows where none (pattern bounds of ReLU / leaky ReLU nets only).
    realized : ndarray (B,) or None
        The gradient norm of the pattern at ``witness`` (a lower bound of ``Lip(f)``; equal to
        ``value`` where ``exact``), NaN where no witness.
    """

    value: object
    method: object
    exact: np.ndarray
    by_method: dict = field(default_factory=dict)
    pattern: np.ndarray | None = None
    witness: np.ndarray | None = None
    realized: np.ndarray | None = None


def _spectral(model):
    xp = model.xp
    out = None
    for l, W in enumerate(model.weights):
        s = abs(model.multipliers[l]) * xp.linalg.matrix_norm(W, ord=2)
        out = s if out is None else out * s
    if model.activation == "identity":
        # a linear network: the product of the matrices is exact and never larger
        P = model.weights[0] * model.multipliers[0]
        for l in range(1, model.depth):
            P = xp.matmul(P, model.weights[l]) * model.multipliers[l]
        out = xp.minimum(out, xp.linalg.matrix_norm(P, ord=2))
    return out


def _unit_vectors(model):
    """u_j = c_0 c_1 a_j w_j, host (B, h, d); one hidden layer, one output."""
    W0 = to_numpy(model.weights[0]).astype(np.float64)  # (B, d, h)
    a = to_numpy(model.weights[1]).astype(np.float64)[:, :, 0]  # (B, h)
    c = model.multipliers[0] * model.multipliers[1]
    return c * np.transpose(W0, (0, 2, 1)) * a[:, :, None], W0


def _gate_range(activation):
    """[lo, 1] holds phi' everywhere (phi'' >= 0 is not needed: ||.|| is convex)."""
    if activation == "leaky_relu":
        from noprune_theory.models import LEAKY_SLOPE

        return LEAKY_SLOPE
    return 0.0


def _enumerate(U, lo, block=2**22):
    """max over t in {0,1}^k of ||v0 + sum_j t_j (1 - lo) u_j||, U (k, d); meet in the middle."""
    k = U.shape[0]
    v0 = lo * U.sum(axis=0)
    V = (1.0 - lo) * U
    if k == 0:
        return float(np.linalg.norm(v0)), np.zeros(0, dtype=bool)
    k1 = k // 2
    k2 = k - k1
    S1 = ((np.arange(2**k1)[:, None] >> np.arange(k1)[None, :]) & 1).astype(np.float64)
    S2 = ((np.arange(2**k2)[:, None] >> np.arange(k2)[None, :]) & 1).astype(np.float64)
    P1 = S1 @ V[:k1] + v0  # (2^k1, d)
    P2 = S2 @ V[k1:]  # (2^k2, d)
    n1 = np.sum(P1 * P1, axis=1)
    n2 = np.sum(P2 * P2, axis=1)
    best, bi, bj = -1.0, 0, 0
    rows = max(1, block // max(1, P2.shape[0]))
    for a, b in _chunks(P1.shape[0], rows):
        tot = n1[a:b, None] + n2[None, :] + 2.0 * (P1[a:b] @ P2.T)
        k_ = int(np.argmax(tot))
        v = float(tot.flat[k_])
        if v > best:
            best, bi, bj = v, a + k_ // P2.shape[0], k_ % P2.shape[0]
    s = np.concatenate([S1[bi], S2[bj]]).astype(bool)
    # recompute the winner directly: the expanded square loses digits
    return float(np.linalg.norm(v0 + s @ V)), s


def _all_pattern_norms(U, lo):
    """||v0 + sum_j t_j (1 - lo) u_j|| for every t in {0,1}^k (k <= 20), and a decoder."""
    k = U.shape[0]
    v0 = lo * U.sum(axis=0)
    V = (1.0 - lo) * U
    k1 = k // 2
    k2 = k - k1
    S1 = ((np.arange(2**k1)[:, None] >> np.arange(k1)[None, :]) & 1).astype(np.float64)
    S2 = ((np.arange(2**k2)[:, None] >> np.arange(k2)[None, :]) & 1).astype(np.float64)
    P1 = S1 @ V[:k1] + v0
    P2 = S2 @ V[k1:]
    sq = (np.sum(P1 * P1, axis=1)[:, None] + np.sum(P2 * P2, axis=1)[None, :]
          + 2.0 * (P1 @ P2.T))
    norms = np.sqrt(np.maximum(sq, 0.0)).reshape(-1)

    def decode(i):
        return np.concatenate([S1[i // 2**k2], S2[i % 2**k2]]).astype(bool)

    return norms, decode


def _branch_and_bound(U, lo, max_nodes, leaf=12):
    """max over t in {0,1}^k of ||v0 + sum_j t_j (1-lo) u_j|| by depth-first branch and bound.

    Bound of a node (fixed part v, free vectors R): in an orthonormal basis Q, coordinate i of
    the sum lies in [q_i.v + sum_R min(0, q_i.u), q_i.v + sum_R max(0, q_i.u)], so ||.||^2 <=
    sum_i max(lo_i^2, hi_i^2); taken in the standard basis and in the principal axes of U, and
    with the triangle bound ||v|| + sum_R ||u||. The last ``leaf`` free vectors are enumerated.
    Returns (value, pattern, upper, complete): ``upper`` bounds the maximum when the node
    budget ran out (complete False).
    """
    k, d = U.shape
    v0 = lo * U.sum(axis=0)
    V = (1.0 - lo) * U
    order = np.argsort(-np.linalg.norm(V, axis=1))
    V = V[order]
    # principal axes of the vectors make the box bound tight for low-rank sets
    _, _, Qt = np.linalg.svd(V, full_matrices=True)
    bases = [np.eye(d), Qt]
    Vb = [V @ Q.T for Q in bases]  # coordinates of every u in each basis, (k, d)
    pos = [np.cumsum(np.maximum(A, 0)[::-1], axis=0)[::-1] for A in Vb]  # suffix sums
    neg = [np.cumsum(np.minimum(A, 0)[::-1], axis=0)[::-1] for A in Vb]
    tri = np.cumsum(np.linalg.norm(V, axis=1)[::-1])[::-1]

    def bound(v, depth):
        if depth >= k:
            return float(np.linalg.norm(v))
        best_b = float(np.linalg.norm(v)) + tri[depth]
        for Q, P, N in zip(bases, pos, neg):
            c = Q @ v
            hi_, lo_ = c + P[depth], c + N[depth]
            best_b = min(best_b, math.sqrt(float(np.sum(np.maximum(hi_ * hi_, lo_ * lo_)))))
        return best_b

    # incumbent: local search from sign patterns of a few directions
    best_val, best_s = -1.0, None
    rng = np.random.default_rng(0)
    dirs = np.vstack([V, rng.standard_normal((8, d))])
    for r in dirs:
        s = (V @ r) > 0
        for _ in range(4 * k):
            v = v0 + s @ V
            gain = 2 * (V @ v) * np.where(s, -1, 1) + np.sum(V * V, axis=1)
            j = int(np.argmax(gain))
            if gain[j] <= 1e-15 * (1 + v @ v):
                break
            s[j] = ~s[j]
        val = float(np.linalg.norm(v0 + s @ V))
        if val > best_val:
            best_val, best_s = val, s.copy()
    m = min(leaf, k)
    tail = ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.float64)
    tailV = tail @ V[k - m:]  # (2^m, d)
    stack = [(v0.copy(), 0, ())]
    nodes = 0
    open_bound = 0.0
    complete = True
    while stack:
        v, depth, fixed = stack.pop()
        ub = bound(v, depth)
        if ub <= best_val * (1 + 1e-12):
            continue
        nodes += 1
        if nodes > max_nodes:
            complete = False
            open_bound = max(open_bound, ub)
            continue
        if depth >= k - m:
            tot = tailV + v
            nrm = np.sum(tot * tot, axis=1)
            i = int(np.argmax(nrm))
            val = math.sqrt(float(nrm[i]))
            if val > best_val:
                best_val = val
                best_s = np.concatenate([np.array(fixed, dtype=bool), tail[i].astype(bool)])
            continue
        stack.append((v, depth + 1, fixed + (False,)))
        stack.append((v + V[depth], depth + 1, fixed + (True,)))
    s = np.zeros(k, dtype=bool)
    s[order] = best_s
    return best_val, s, max(best_val, open_bound), complete


def _realize(W0b, b0b, c0, active, s):
    """A point x whose active units have the activation pattern s, or None.

    Linear program: maximize the margin t subject to
    ``sign_j (c0 w_j . x + b_j) >= t ||c0 w_j||`` for the active units, ``t <= 1`` and
    ``|x_i| <= R`` (a large box: any open region meets it). The caller verifies the signs at
    the returned point by evaluating the network, so the LP's tolerances certify nothing.
    """
    from scipy.optimize import linprog

    if len(active) == 0:
        return np.zeros(W0b.shape[0])
    A = c0 * W0b[:, active].T  # (k, d)
    bias = b0b[active]
    sign = np.where(s, 1.0, -1.0)
    norms = np.linalg.norm(A, axis=1)
    d = A.shape[1]
    R = 1e4 * (1.0 + float(np.max(np.abs(bias) / norms)))
    # -sign_j (A_j x + b_j) + t ||A_j|| <= 0
    A_ub = np.hstack([-sign[:, None] * A, norms[:, None]])
    b_ub = sign * bias
    res = linprog(np.r_[np.zeros(d), -1.0], A_ub=A_ub, b_ub=b_ub,
                  bounds=[(-R, R)] * d + [(None, 1.0)], method="highs")
    if res.status != 0 or res.x[-1] <= 1e-9:
        return None
    return res.x[:d]


def _pattern_bounds(model, force_bb, max_enumerate, max_nodes, max_lp=256):
    U, W0 = _unit_vectors(model)
    b0 = (np.zeros((model.B, U.shape[1])) if model.biases is None
          else to_numpy(model.biases[0]).astype(np.float64))
    c0 = model.multipliers[0]
    lo = _gate_range(model.activation)
    B, h, d = U.shape[0], U.shape[1], W0.shape[1]
    vals = np.empty(B)
    exact = np.zeros(B, dtype=bool)
    names = []
    pats = np.zeros((B, h), dtype=bool)
    witness = np.full((B, d), np.nan)
    realized = np.full(B, np.nan)
    piecewise_linear = model.activation in ("relu", "leaky_relu")

    def realize(b, active, s):
        x = _realize(W0[b], b0[b], c0, active, s)
        if x is None:
            return None
        z = c0 * (x @ W0[b][:, active]) + b0[b, active]
        # certified by evaluation: every active unit strictly on its pattern's side
        return x if np.all(np.where(s, z > 0, z < 0)) else None

    for b in range(B):
        active = np.flatnonzero(np.linalg.norm(U[b], axis=1) > 0)
        Ub = U[b, active]
        enumerated = len(active) <= max_enumerate and not force_bb
        if enumerated:
            val, s = _enumerate(Ub, lo)
            complete = True
            names.append("patterns")
        else:
            val, s, upper, complete = _branch_and_bound(Ub, lo, max_nodes)
            val = upper
            names.append("branch_and_bound")
        vals[b] = val
        pats[b, active] = s
        if not (complete and piecewise_linear):
            continue
        x = realize(b, active, s)
        if x is not None:
            witness[b], exact[b], realized[b] = x, True, val
        elif enumerated and len(active) <= 20:
            # the maximizer is not realized: walk down the patterns by value until one is
            # (a certified lower bound; the true constant when no higher pattern was skipped
            # for lack of LP budget, but the LP's 'infeasible' is not a certificate)
            norms, decode = _all_pattern_norms(Ub, lo)
            order = np.argsort(-norms, kind="stable")[:max_lp]
            for i in order[1:]:
                t = decode(int(i))
                x = realize(b, active, t)
                if x is not None:
                    witness[b], realized[b] = x, float(norms[i])
                    break
    return vals, exact, names, pats, witness, realized


def lipschitz_upper(model, method="auto", *, max_enumerate=MAX_ENUMERATE, max_nodes=200_000):
    """Upper bounds of the Lipschitz constant of every network of a batch.

    Parameters
    ----------
    model : MaskedMLP
        B networks. All activations of the package are 1-Lipschitz with ``phi'`` in
        ``[lo, 1]`` (lo = 0.01 for leaky ReLU, 0 otherwise).
    method : {"auto", "spectral", "sum_norms", "patterns", "branch_and_bound"}
        ``spectral``: ``prod_l c_l ||W_l||_2`` (any depth, any number of outputs).
        ``sum_norms``: ``sum_j |c_1 a_j| ||c_0 w_j||`` (one hidden layer, one output).
        ``patterns``: ``max_{s in [lo,1]^h} ||c_0 c_1 W diag(s) a||``, maximized over the
        vertices ``s in {lo, 1}^h``: enumerated when at most ``max_enumerate`` hidden units are
        active, else by branch and bound. ``branch_and_bound``: always branch and bound.
        ``auto``: the smallest of the bounds that apply.
    max_enumerate : int >= 0, default 20
        Largest number of active units (nonzero ``a_j w_j``) enumerated (``2^h`` patterns, meet
        in the middle: two sets of ``2^(h/2)`` partial sums and one matrix product).
    max_nodes : int >= 1, default 200000
        Node budget of the branch and bound; when it runs out the result is the largest bound
        among the open nodes (still an upper bound, not exact).

    Returns
    -------
    LipschitzUpperResult
        ``value`` in the model's array library.

    Notes
    -----
    Masked weights are zero in ``weights``, so the masks are respected. The forward
    multipliers ``c_l`` of the scaling (standard / ntk / mean_field) are included. For one hidden
    layer, ``grad f(x) = c_0 c_1 W diag(phi'(c_0 W^T x + b)) a``; the set of gate vectors lies
    in the box ``[lo, 1]^h`` and a norm is convex, so its maximum over the box is at a vertex:
    ``Lip(f) <= max_s ||c_0 c_1 W diag(s) a||`` and this never exceeds ``sum_norms``. For ReLU
    or leaky ReLU the gradient takes the vertex value of every pattern realized on an open set;
    when the maximizing pattern is realized (a linear program finds a point with every active
    unit strictly on its side, checked by evaluation) the bound is the exact Lipschitz constant
    (``exact`` True, the point in ``witness``). That is always so when the active units' weight
    vectors are linearly independent (h <= d). Biases do not change ``Lip(f)``, but they decide
    which patterns are realized.

    References
    ----------
    .. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry",
       NeurIPS 2021 (Lipschitz constants of two-layer networks, Sec. 1).

    Examples
    --------
    >>> from noprune_theory.models import MaskedMLP
    >>> net = MaskedMLP(5, (3,), B=2, seed=0)
    >>> up = lipschitz_upper(net)
    >>> up.method, bool(up.exact.all())
    (('patterns', 'patterns'), True)
    >>> bool((up.value <= up.by_method["sum_norms"] + 1e-12).all())
    True
    """
    _check_model(model)
    check_choice(method, "method", UPPER_METHODS)
    max_enumerate = check_scalar(max_enumerate, "max_enumerate", integer=True, low=0, high=40)
    max_nodes = check_scalar(max_nodes, "max_nodes", integer=True, low=1)
    xp = model.xp
    two_layer = model.depth == 2 and model.sizes[-1] == 1
    if method in ("sum_norms", "patterns", "branch_and_bound") and not two_layer:
        raise ValueError(f"method={method!r} needs one hidden layer and one output (sizes "
                         f"(d, h, 1)), got sizes {model.sizes}; use method='spectral'")
    by = {}
    exact = np.zeros(model.B, dtype=bool)
    pattern = None
    witness = None
    realized = None
    names = None
    if method in ("auto", "spectral"):
        by["spectral"] = to_numpy(_spectral(model)).astype(np.float64)
    if two_layer and method in ("auto", "sum_norms"):
        U, _ = _unit_vectors(model)
        by["sum_norms"] = np.linalg.norm(U, axis=2).sum(axis=1)
    if two_layer and method in ("auto", "patterns", "branch_and_bound"):
        vals, exact, names, pattern, witness, realized = _pattern_bounds(
            model, method == "branch_and_bound", max_enumerate, max_nodes)
        by["patterns"] = vals
    if method == "auto" and "patterns" in by:
        # max_s ||W diag(s) a|| <= ||W||_2 ||a|| and <= sum_j |a_j| ||w_j||, so a *finished*
        # pattern search is the smallest bound; a branch and bound that ran out of nodes
        # returns its open-node bound, which can exceed the others: take the smallest, and
        # prefer the pattern name on ties in the last digit (they must not hide `exact`)
        others = np.stack([by[k] for k in by if k != "patterns"])
        best_other = others.min(axis=0)
        other_name = [k for k in by if k != "patterns"]
        use_pattern = by["patterns"] <= best_other * (1 + 1e-12)
        value = np.where(use_pattern, by["patterns"], best_other)
        meth = tuple(names[b] if use_pattern[b] else other_name[int(np.argmin(others[:, b]))]
                     for b in range(model.B))
        exact = exact & use_pattern
    elif method == "auto":
        keys = list(by)
        table = np.stack([by[k] for k in keys])
        value = table.min(axis=0)
        meth = tuple(keys[int(w)] for w in np.argmin(table, axis=0))
    elif method in ("patterns", "branch_and_bound"):
        value = by["patterns"]
        meth = tuple(names)
    else:
        value = by[method]
        meth = method
    return LipschitzUpperResult(value=xp.asarray(value, dtype=model._dt), method=meth,
                                exact=exact, by_method=by, pattern=pattern, witness=witness,
                                realized=realized)
