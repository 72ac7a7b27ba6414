"""Certified lower bounds of the Lipschitz constant: :func:`lipschitz_lower` (see
:mod:`noprune_theory.estimators._lipschitz` for the overview)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory._validation import check_choice, check_scalar
from noprune_theory.backend import to_numpy
from noprune_theory.estimators._lipschitz_common import (
    LOWER_METHODS,
    _ascent_direction,
    _check_model,
    _check_params,
    _check_scalar_output,
    _chunk_rows,
    _chunks,
    _forward_bounds,
    _gather_rows,
    _grad_x,
    _grad_x_certified,
    _live_only,
    _norm_last,
    _rescaled,
    _unscale,
)
from noprune_theory.estimators._lipschitz_upper import lipschitz_upper

if TYPE_CHECKING:
    from noprune_theory.models import MaskedMLP

__all__ = ["LipschitzLowerResult", "lipschitz_lower"]


@dataclass
class LipschitzLowerResult:  # numpydoc ignore=PR01
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

    value: Any
    method: tuple[str, ...]
    witness: NDArray[np.float64]
    witness_pair: NDArray[np.float64]
    by_method: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    secant: NDArray[np.float64] | None = None


#: Elements of the row blocks in which the statistics of the data run (see _row_blocks).
BLOCK_ELEMENTS = 2**20


def _row_blocks(A, elements=BLOCK_ELEMENTS):
    """Views of consecutive rows of the 2-D array *A*, about *elements* numbers each."""
    step = max(1, elements // max(1, A.shape[1]))
    for start in range(0, A.shape[0], step):
        yield A[start:min(start + step, A.shape[0]), :]


def _abs_max(A, xp=np):
    """max |A|, block by block over the rows of a 2-D array (never an |A| as large as A)."""
    if A.ndim != 2:
        return float(xp.max(xp.abs(A)))
    return max(float(xp.max(xp.abs(b))) for b in _row_blocks(A))


def _sum0(blocks):
    """The sum over axis 0 of the concatenated *blocks*, bit for bit ``np.sum(A, axis=0)``.

    NumPy reduces axis 0 of a C-ordered array row after row, so each block continues from the
    running sum (prepended as a first row) instead of starting from zero.
    """
    acc = None
    for b in blocks:
        acc = b.sum(axis=0) if acc is None else np.concatenate([acc[None], b]).sum(axis=0)
    return acc


def _mean_std0(A, t):
    """``((A / t).mean(axis=0), (A / t).std(axis=0))`` bit for bit, without full-size copies."""
    n = A.shape[0]
    mu = _sum0(b / t for b in _row_blocks(A)) / n

    def centered_squares():
        for b in _row_blocks(A):
            c = b / t - mu
            yield np.multiply(c, c, out=c)

    return mu, np.sqrt(_sum0(centered_squares()) / n)


def _pow2_scale(A):
    """1.0, or the power of two nearest max |A| when that is outside [2^-100, 2^100]."""
    m = _abs_max(A) if A.size else 0.0
    if m == 0.0 or 2.0 ** -100 <= m <= 2.0 ** 100:
        return 1.0
    return float(np.ldexp(1.0, np.frexp(m)[1] - 1))  # <= m: never overflows


def _check_X_lower(model, X):
    if X is None:
        return None
    Xa = model.prepare_inputs(X)
    if Xa.ndim != 2:
        raise ValueError(f"X must have shape (n, {model.sizes[0]}) (points shared by all "
                         f"networks), got {tuple(Xa.shape)}")
    return Xa



def _best_grad(model, P, budget, rng, what):
    """Largest certified gradient norm over the rows of P (n, d): (B,) values, (B, d) points.

    A row where some network has a pre-activation within rounding of a ReLU kink gives no
    bound there (``relu'(0) = 0`` is not a derivative, and kinks can cancel); it is replaced by
    a point nudged off the kinks (a random step of 1e-6 of its scale, re-checked; up to four
    tries), whose certified gradient is a bound like any other.
    """
    xp = model.xp
    best = None
    best_x = None
    step = _chunk_rows(model, budget)
    for a, b in _chunks(P.shape[0], step):
        rows = P[a:b, :]
        for attempt in range(5):
            g, f, _, ok = _grad_x_certified(model, rows)
            if attempt == 0 and not bool(xp.all(xp.isfinite(f))):
                raise ValueError(f"{what}: the network's output overflows float64 at some "
                                 "points; rescale X")
            nrm = xp.where(ok, _norm_last(g, xp), 0.0)  # (B, m)
            v = xp.max(nrm, axis=1)
            i = xp.argmax(nrm, axis=1)
            pts = _gather_rows(rows, i, xp)
            if best is None:
                best, best_x = v, pts
            else:
                better = v > best
                best = xp.where(better, v, best)
                best_x = xp.where(better[:, None], pts, best_x)
            bad = np.flatnonzero(~np.all(to_numpy(ok), axis=0))
            if bad.size == 0 or attempt == 4:
                break
            host = to_numpy(rows)[bad].astype(np.float64)
            scale = 1e-6 * (1.0 + np.max(np.abs(host), axis=1, keepdims=True))
            host = host + scale * rng.standard_normal(host.shape)
            rows = model.from_host(host)
    return best, best_x


def _pgd(model, anchors, starts, radius, region, lo, hi, steps, step_size, smoothing):
    """Projected gradient ascent from (B, S, d) starts; best true gradient norm and point."""
    xp = model.xp
    x = starts
    best = None
    best_x = None

    def record(x):
        nonlocal best, best_x
        g, _, zs, ok = _grad_x_certified(model, x)
        nrm = xp.where(ok, _norm_last(g, xp), 0.0)  # (B, S): certified points only
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


def lipschitz_lower(model: MaskedMLP, X: ArrayLike | None = None, *,
                    methods: Sequence[str] = ("data", "random", "ascent", "pairs"),
                    n_random: int = 256, starts: int = 64, steps: int = 30,
                    radius: float | None = None, region: Literal["ball", "box"] = "ball",
                    step_size: float | None = None, smoothing: float = 0.1,
                    memory: int = 2**24, seed: int = 0) -> LipschitzLowerResult:
    """Compute certified lower bounds of the Lipschitz constant of every network of a batch.

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
        Number of random points of the ``random`` method.
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
        The bounds per network, the method that gave each, and the witness points.

    Raises
    ------
    TypeError
        If ``model`` is not a MaskedMLP, or its weights or biases are not real numbers.
    ValueError
        If an argument is out of range, the parameters hold inf or NaN, or the constant (or
        the network's output at the points) exceeds the float64 range.

    Notes
    -----
    Every value is a lower bound of ``Lip(f) = sup_{x != x'} |f(x) - f(x')| / ||x - x'||``:
    a difference quotient by definition, and ``||grad f(x)||`` at a point of differentiability
    as the limit of difference quotients along the gradient. At a ReLU kink (a pre-activation
    equal to 0) ``relu'(0) = 0`` is no derivative and kinks can cancel, so a gradient norm is
    used only where every pre-activation is farther from 0 than a rigorous bound of its
    rounding error (then the computed activation pattern is the true one and f is affine
    around the point); data and random points on kinks are nudged off them and re-checked,
    ascent iterates on kinks are skipped. Pair quotients subtract the rounding-error bounds of
    both outputs first. Weights or data far from 1 are rescaled by exact powers of two (Lip
    is homogeneous); a constant beyond float64 raises ValueError. ``secant`` checks the best
    gradient witness by a difference quotient. The ascent maximises the gradient norm
    ``||grad f||`` over the region, the quantity whose supremum is ``Lip(f)`` ([BS] measure
    robustness by it; see docs/lipschitz.md).

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
    _check_params(model)
    xp = model.xp
    model, _ = _live_only(model)  # the same function, computed on the live units only
    scaled, k = _rescaled(model)
    t = 1.0
    if X is not None and model.activation in ("relu", "leaky_relu", "identity"):
        # huge (or tiny) data: f~(u) = f(t u) / t has the same gradients and quotients, and
        # for these activations it is the same network with every bias divided by t
        X = _check_X_lower(model, X)
        t = _pow2_scale(np.array([_abs_max(X, xp)])) if X.shape[0] else 1.0
        if t != 1.0:
            if scaled is model:
                scaled = model.copy()
            if scaled.biases is not None:
                scaled.biases = [b / t for b in scaled.biases]
            X = X / t
            if radius is not None:
                radius = check_scalar(radius, "radius", low=0, low_inclusive=False) / t
            if step_size is not None:
                step_size = check_scalar(step_size, "step_size", low=0, low_inclusive=False) / t
    # overflow is checked on the results (a clean error), not left to warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        res = _lower(scaled, X, methods, n_random, starts, steps, radius, region, step_size,
                     smoothing, memory, seed)
    if t != 1.0:
        res.witness = res.witness * t
        res.witness_pair = res.witness_pair * t
    if k is None:
        return res
    res.value = xp.asarray(_unscale(to_numpy(res.value), k, "Lipschitz lower bound"),
                           dtype=model.array_dtype)
    res.by_method = {m: _unscale(v, k, "Lipschitz lower bound")
                     for m, v in res.by_method.items()}
    if res.secant is not None:
        res.secant = _unscale(res.secant, k, "Lipschitz lower bound")
    return res


def _lower(model, X, methods, n_random, starts, steps, radius, region, step_size, smoothing,
           memory, seed):
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
    # a separate stream for the nudges off kinks: the other draws stay those of the seed
    rng_kink = np.random.default_rng([seed, 1])
    if Xa is None:
        methods = tuple(m for m in methods if m not in ("data", "pairs"))
        if not methods:
            raise ValueError("methods 'data' and 'pairs' need X; give X or add 'random', "
                             "'ascent' or 'patterns'")
        Xh = rng.standard_normal((max(starts, 2), d)) / math.sqrt(d)
    else:
        # the host's float64 data as they are (no copy of a NumPy float64 X)
        Xh = np.asarray(to_numpy(Xa), dtype=np.float64)
    if not all(np.isfinite(b).all() for b in _row_blocks(Xh)):
        raise ValueError("X must hold finite numbers")
    if radius is None:
        # scaled by a power of two first: the squares of huge data must not overflow
        t = _pow2_scale(Xh)
        # row sums block by block: the same numbers as over all rows at once
        sq = np.concatenate([np.sum((b / t) ** 2, axis=1) for b in _row_blocks(Xh)])
        rms = float(np.sqrt(np.mean(sq))) * t
        radius = 0.5 * rms if rms > 0 else 1.0
    radius = check_scalar(radius, "radius", low=0, low_inclusive=False)
    step_size = radius / 4 if step_size is None else check_scalar(
        step_size, "step_size", low=0, low_inclusive=False)

    cands = {}  # method -> (values (B,), points (B, d) host, second points or None)

    if "data" in methods:
        v, px = _best_grad(model, Xa, memory, rng_kink, "X")
        cands["data"] = (v, px, None)

    if "random" in methods:
        t = _pow2_scale(Xh)
        mu, sd = _mean_std0(Xh, t)
        mu, sd = mu * t, sd * t
        if Xa is None or not np.any(sd > 0):
            mu, sd = np.zeros(d), np.full(d, 1.0 / math.sqrt(d))
        R = model.from_host(mu + sd * rng.standard_normal((n_random, d)))
        v, px = _best_grad(model, R, memory, rng_kink,
                           "the random points (drawn with the spread of X)")
        cands["random"] = (v, px, None)

    if "ascent" in methods:
        idx = np.arange(starts) % Xh.shape[0]
        S0 = Xh[idx]
        repeat = np.arange(starts) >= Xh.shape[0]
        if repeat.any():
            S0[repeat] += (radius / 2) * rng.standard_normal((int(repeat.sum()), d)) / math.sqrt(d)
        lo = model.from_host(Xh.min(axis=0) - radius)
        hi = model.from_host(Xh.max(axis=0) + radius)
        best = None
        best_x = None
        step = _chunk_rows(model, memory // 4)
        for a, b in _chunks(starts, step):
            # a real copy: a stride-0 batch axis takes NumPy's matmul off BLAS
            anchors = model.from_host(np.ascontiguousarray(
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
        pts = model.from_host(P)
        g, _, _, ok = _grad_x_certified(model, pts[:, None, :])
        cands["patterns"] = (xp.where(ok, _norm_last(g, xp), 0.0)[:, 0], pts, None)

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
    g, _, _ = _grad_x(model, w)
    _, f0, _, e0 = _forward_bounds(model, w)
    gn = _norm_last(g, xp)[..., None]
    u = g / xp.where(gn > 0, gn, 1.0)
    # a step far below the distance to the nearest kink, far above rounding of f
    eps_f = 1e-7 if model.dtype == "float64" else 3e-3
    h = eps_f * (1.0 + _norm_last(w, xp))[..., None]
    w1 = w + h * u
    _, f1, _, e1 = _forward_bounds(model, w1)
    # a difference quotient of the two points actually evaluated, net of the rounding of f
    dist = _norm_last(w1 - w, xp)[:, 0]
    df = xp.clip(xp.abs(f1 - f0) - e0 - e1, 0.0, None)[:, 0]
    q = xp.where(dist > 0, df / xp.where(dist > 0, dist, 1.0), 0.0)
    return to_numpy(q).astype(np.float64)


def _best_pair(model, Xa, memory):
    """max_{i<j} |f(x_i) - f(x_j)| / ||x_i - x_j|| in square tiles (never an n x n matrix)."""
    xp = model.xp
    n = Xa.shape[0]
    # f with a bound of its rounding error: a quotient of two rounded values is a lower bound
    # only after the errors are taken off (near-duplicate points would otherwise divide noise)
    _, f, _, ef = _forward_bounds(model, Xa)  # (B, n) each
    if not bool(xp.all(xp.isfinite(f))):
        raise ValueError("X: the network's output overflows float64 at some data points; "
                         "rescale X")
    # distances of huge data in units of a power of two t (exact; t = 1 for ordinary data)
    t = _pow2_scale(np.array([_abs_max(Xa, xp)]))
    Xs = Xa / t if t != 1.0 else Xa
    sq = xp.sum(Xs * Xs, axis=1)
    tile = max(1, int(math.sqrt(memory / max(1, model.B))))
    best = xp.zeros((model.B,), dtype=model.array_dtype)
    bi = xp.zeros((model.B,), dtype=xp.int64)
    bj = xp.zeros((model.B,), dtype=xp.int64)
    for a0, a1 in _chunks(n, tile):
        for c0, c1 in _chunks(n, tile):
            if c1 <= a0:
                continue  # the lower triangle repeats the upper one
            d2 = sq[a0:a1, None] + sq[None, c0:c1] - 2.0 * xp.matmul(Xs[a0:a1, :], Xs[c0:c1, :].T)
            # the expansion loses digits for close points: recompute them exactly below
            dist = xp.sqrt(xp.clip(d2, 0.0, None))
            ii = xp.arange(a0, a1)[:, None]
            jj = xp.arange(c0, c1)[None, :]
            valid = (jj > ii) & (dist > 0)
            df = (xp.abs(f[:, a0:a1, None] - f[:, None, c0:c1])
                  - ef[:, a0:a1, None] - ef[:, None, c0:c1])
            q = xp.clip(df, 0.0, None) / t / xp.where(valid, dist, 1.0)
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
    ei = xp.sum(ef * xp.astype(xp.arange(n)[None, :] == bi[:, None], f.dtype), axis=1)
    ej = xp.sum(ef * xp.astype(xp.arange(n)[None, :] == bj[:, None], f.dtype), axis=1)
    dist = _norm_last(xi / t - xj / t, xp)
    df = xp.clip(xp.abs(fi - fj) - ei - ej, 0.0, None) / t
    value = xp.where(dist > 0, df / xp.where(dist > 0, dist, 1.0), 0.0)
    return value, xi, xj
