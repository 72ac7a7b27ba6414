"""Upper bounds of the Lipschitz constant: :func:`lipschitz_upper` (see
:mod:`noprune_theory.estimators._lipschitz` for the overview)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from noprune_theory._validation import check_choice, check_scalar
from noprune_theory.backend import to_numpy
from noprune_theory.estimators._lipschitz_bb import branch_and_bound
from noprune_theory.estimators._lipschitz_common import (
    MAX_ENUMERATE,
    UPPER_METHODS,
    _check_model,
    _check_params,
    _chunks,
    _live_only,
    _rescaled,
    _unscale,
)
from noprune_theory.estimators._lipschitz_exact import exact_beta, farkas_empty, realizes

if TYPE_CHECKING:
    from noprune_theory.models import MaskedMLP

__all__ = ["LipschitzUpperResult", "lipschitz_upper"]


@dataclass
class LipschitzUpperResult:  # numpydoc ignore=PR01
    """Upper bounds of ``Lip(f)`` for a batch of networks.

    Attributes
    ----------
    value : array (B,)
        The bound (the smallest of the computed ones for ``method="auto"``); where ``exact``,
        the Lipschitz constant itself.
    method : str or tuple of str
        Which bound ``value`` is: ``"spectral"``, ``"sum_norms"``, ``"patterns"`` or
        ``"branch_and_bound"`` (a tuple, per network, for ``"auto"``).
    exact : ndarray of bool (B,)
        True where the upper bound ``value`` is certified equal to ``Lip(f)`` (up to the
        rounding of one vector norm). Two certificates: a linear network (identity activation,
        ``value`` is the norm of the product of the matrices); or a ReLU / leaky-ReLU network
        with one hidden layer whose activation pattern of value ``value`` is realized at
        ``witness`` (checked in exact rational arithmetic) while every pattern of higher value
        has an empty region (an exact Farkas certificate each). It says nothing about the lower
        bound of :func:`lipschitz_lower`, which is searched independently.
    by_method : dict of str -> ndarray (B,)
        Every bound that was computed; ``"patterns"`` is the maximum over all patterns (the
        relaxation), which can exceed ``value`` where the walk down certified a smaller one.
    pattern : ndarray of bool (B, h) or None
        The maximizing activation pattern (pattern bounds only).
    witness : ndarray (B, d) or None
        A point realizing the maximizing pattern, or, for at most ``max_walk`` active units
        when that one is not realized, the highest-valued pattern found realized among the 256
        best; when
        the branch and bound ran out of nodes, a point realizing the best pattern it found (if
        it is realized); NaN rows where none (pattern bounds of ReLU / leaky ReLU nets only).
    realized : ndarray (B,) or None
        The gradient norm of the pattern at ``witness`` (a lower bound of ``Lip(f)``; equal to
        ``value`` where ``exact``), NaN where no witness.
    complete : ndarray of bool (B,) or None
        Whether the pattern search finished (pattern bounds only): False where the branch and
        bound ran out of ``max_nodes`` and ``by_method["patterns"]`` is its open-node bound.
    """

    value: Any
    method: str | tuple[str, ...]
    exact: NDArray[np.bool_]
    by_method: dict[str, Any] = field(default_factory=dict)
    pattern: NDArray[np.bool_] | None = None
    witness: NDArray[np.float64] | None = None
    realized: NDArray[np.float64] | None = None
    complete: NDArray[np.bool_] | None = None


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
        from noprune_theory._activations import LEAKY_SLOPE

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


#: Largest ``max_walk`` of :func:`lipschitz_upper` (2^k pattern values are scanned).
MAX_WALK = 26


def _top_patterns(U, lo, M, block=2**22):
    """The M highest-valued patterns t in {0,1}^k of ||v0 + sum_j t_j (1 - lo) u_j||, best first.

    Meet in the middle like :func:`_enumerate`, in blocks, keeping the M best of each block;
    the values are recomputed directly for the winners. Returns a list of (pattern, value).
    """
    k = U.shape[0]
    v0 = lo * U.sum(axis=0)
    V = (1.0 - lo) * U
    k1 = k // 2
    k2 = k - k1
    S1 = ((np.arange(2**k1)[:, None] >> np.arange(k1)[None, :]) & 1).astype(np.float64)
    S2 = ((np.arange(2**k2)[:, None] >> np.arange(k2)[None, :]) & 1).astype(np.float64)
    P1 = S1 @ V[:k1] + v0
    P2 = S2 @ V[k1:]
    n1 = np.sum(P1 * P1, axis=1)
    n2 = np.sum(P2 * P2, axis=1)
    rows = max(1, block // P2.shape[0])
    cand_v, cand_i = [], []
    for a, b in _chunks(P1.shape[0], rows):
        tot = (n1[a:b, None] + n2[None, :] + 2.0 * (P1[a:b] @ P2.T)).reshape(-1)
        m = min(M, tot.size)
        idx = np.argpartition(-tot, m - 1)[:m]
        cand_v.append(tot[idx])
        cand_i.append(idx + a * P2.shape[0])
    cv, ci = np.concatenate(cand_v), np.concatenate(cand_i)
    top = ci[np.argsort(-cv, kind="stable")[:M]]
    out = []
    for i in top:
        s = np.concatenate([S1[i // P2.shape[0]], S2[i % P2.shape[0]]]).astype(bool)
        out.append((s, float(np.linalg.norm(v0 + s @ V))))
    out.sort(key=lambda p: -p[1])
    return out


def _pattern_bounds(model, force_bb, max_enumerate, max_nodes, max_walk, max_lp=256):
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
    done = np.ones(B, dtype=bool)
    piecewise_linear = model.activation in ("relu", "leaky_relu")

    def realize(b, active, s, beta):
        x = _realize(W0[b], b0[b], c0, active, s)
        if x is None or c0 <= 0:
            return None
        # certified by exact rational evaluation: every active unit strictly on its side
        return x if realizes(W0[b][:, active].T, beta, s, x) else None

    for b in range(B):
        active = np.flatnonzero(np.linalg.norm(U[b], axis=1) > 0)
        Ub = U[b, active]
        enumerated = len(active) <= max_enumerate and not force_bb
        if enumerated:
            val, s = _enumerate(Ub, lo)
            complete = True
            names.append("patterns")
        else:
            found, s, upper, complete = branch_and_bound(Ub, lo, max_nodes)
            val = upper
            names.append("branch_and_bound")
        vals[b] = val
        done[b] = complete
        pats[b, active] = s
        if not piecewise_linear:
            continue
        beta = exact_beta(b0[b, active], c0)
        if not complete:
            # the best pattern the search found: where it is realized, its value is attained
            # (a certified lower bound, reported in `realized`; the upper bound stays open)
            x = realize(b, active, s, beta)
            if x is not None:
                witness[b], realized[b] = x, found
            continue
        x = realize(b, active, s, beta)
        if x is not None:
            witness[b], exact[b], realized[b] = x, True, val
        elif len(active) <= max_walk:
            # the maximizer is not realized: walk down the patterns by value until one is.
            # Every pattern passed over gets an exact Farkas certificate that its region is
            # empty; when all of them do, the realized pattern's value is Lip(f) exactly
            Wa = W0[b][:, active].T
            if len(active) <= 20:
                norms, decode = _all_pattern_norms(Ub, lo)
                order = np.argsort(-norms, kind="stable")[:max_lp]
                walk = ((decode(int(i)), float(norms[i])) for i in order)
            else:
                walk = _top_patterns(Ub, lo, max_lp)
            certified = True
            for t, value in walk:
                x = realize(b, active, t, beta)
                if x is not None:
                    witness[b], realized[b] = x, value
                    exact[b] = certified
                    break
                if certified and farkas_empty(Wa, beta, t) is None:
                    certified = False
    return vals, exact, names, pats, witness, realized, done


def lipschitz_upper(model: MaskedMLP,
                    method: Literal["auto", "spectral", "sum_norms", "patterns",
                                    "branch_and_bound"] = "auto", *,
                    max_enumerate: int = MAX_ENUMERATE, max_nodes: int = 200_000,
                    max_walk: int = 20) -> LipschitzUpperResult:
    """Compute upper bounds of the Lipschitz constant of every network of a batch.

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
        Node budget of the branch and bound (compiled with numba); when it runs out the result
        is the largest bound among the open nodes (still an upper bound, not exact).
    max_walk : int in [0, 26], default 20
        Most active units for which the patterns are walked down (with exact certificates)
        when the maximizing one is not realized. Beyond 20 the best 256 patterns come from a
        scan of all ``2^k`` values (about a second at 26) and each certificate costs two linear
        programs, so the default keeps the cost of the former walk.

    Returns
    -------
    LipschitzUpperResult
        ``value`` in the model's array library.

    Raises
    ------
    TypeError
        If ``model`` is not a MaskedMLP, or its weights or biases are not real numbers.
    ValueError
        If an argument is out of range, the parameters hold inf or NaN, or the constant (or
        the network's output at the points) exceeds the float64 range.

    Notes
    -----
    Masked weights are zero in ``weights``, so the masks are respected. The forward
    multipliers ``c_l`` of the scaling (standard / ntk / mean_field) are included. For one hidden
    layer, ``grad f(x) = c_0 c_1 W diag(phi'(c_0 W^T x + b)) a``; the set of gate vectors lies
    in the box ``[lo, 1]^h`` and a norm is convex, so its maximum over the box is at a vertex:
    ``Lip(f) <= max_s ||c_0 c_1 W diag(s) a||`` and this never exceeds ``sum_norms``. For ReLU
    or leaky ReLU the gradient takes the vertex value of every pattern realized on an open set;
    when the maximizing pattern is realized (a linear program finds a point with every active
    unit strictly on its side, checked in exact rational arithmetic) the bound is the exact
    Lipschitz constant (``exact`` True, the point in ``witness``). That is always so when the
    active units' weight vectors are linearly independent (h <= d). Otherwise, for at most
    ``max_walk`` active units (and a finished search), the patterns are walked down by value
    (at most 256;
    beyond 20 units the best 256 are found by a blockwise scan): each one passed over
    gets an exact Farkas certificate that its region is empty (Motzkin's transposition
    theorem, verified with ``fractions.Fraction``), and when every one does, the first
    realized pattern's value is ``Lip(f)``: ``value`` is then that value and ``exact`` True.
    Biases do not change the pattern maximum, but they decide which patterns are realized.

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
    max_walk = check_scalar(max_walk, "max_walk", integer=True, low=0, high=MAX_WALK)
    _check_params(model)
    full = model
    model, keep = _live_only(model)
    scaled, k = _rescaled(model)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        res = _upper(scaled, method, max_enumerate, max_nodes, max_walk)
    if keep is not None and res.pattern is not None:
        res.pattern = _full_pattern(full, keep[0], res.pattern, res.witness)
    what = "Lipschitz upper bound"
    if k is not None:
        res.value = model.xp.asarray(_unscale(to_numpy(res.value), k, what),
                                     dtype=model.array_dtype)
        res.by_method = {m: _unscale(v, k, what) for m, v in res.by_method.items()}
        if res.realized is not None:
            res.realized = _unscale(res.realized, k, what)
    if not np.all(np.isfinite(to_numpy(res.value))):
        bad = np.flatnonzero(~np.isfinite(to_numpy(res.value))).tolist()
        raise ValueError(f"the {what} of the networks {bad} is not finite in float64: the "
                         "weights are too large for this activation; rescale them")
    return res


def _full_pattern(model, keep, pattern, witness):
    """The activation pattern over all hidden units from one over the live units ``keep``.

    The dead units (no path to the output) do not change the gradient; they get their state
    at the witness where there is one (so the pattern is the one realized there), else off.
    """
    B, h = model.B, model.sizes[1]
    full = np.zeros((B, h), dtype=bool)
    full[:, keep] = pattern
    dead = np.setdiff1d(np.arange(h), keep)
    if dead.size and witness is not None:
        W = to_numpy(model.weights[0]).astype(np.float64)[:, :, dead]
        z = np.einsum("bd,bdh->bh", np.nan_to_num(witness), W)
        if model.biases is not None:
            z = z + to_numpy(model.biases[0]).astype(np.float64)[:, dead]
        ok = np.all(np.isfinite(witness), axis=1)
        full[:, dead] = (z > 0) & ok[:, None]
    return full


def _upper(model, method, max_enumerate, max_nodes, max_walk):
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
    complete = None
    names = None
    if method in ("auto", "spectral"):
        by["spectral"] = to_numpy(_spectral(model)).astype(np.float64)
    if two_layer and method in ("auto", "sum_norms"):
        U, _ = _unit_vectors(model)
        by["sum_norms"] = np.linalg.norm(U, axis=2).sum(axis=1)
    if two_layer and method in ("auto", "patterns", "branch_and_bound"):
        vals, exact, names, pattern, witness, realized, complete = _pattern_bounds(
            model, method == "branch_and_bound", max_enumerate, max_nodes, max_walk)
        by["patterns"] = vals
    if method == "auto" and "patterns" in by:
        # max_s ||W diag(s) a|| <= ||W||_2 ||a|| and <= sum_j |a_j| ||w_j||, so a *finished*
        # pattern search is the smallest bound; a branch and bound that ran out of nodes
        # returns its open-node bound, which can exceed the others: take the smallest, and
        # prefer the pattern name on ties in the last digit (they must not hide `exact`)
        others = np.stack([by[k] for k in by if k != "patterns"])
        best_other = others.min(axis=0)
        other_name = [k for k in by if k != "patterns"]
        # a certified exact value (the walk down the patterns) is below every upper bound
        use_pattern = (by["patterns"] <= best_other * (1 + 1e-12)) | exact
        value = np.where(exact, realized,
                         np.where(use_pattern, by["patterns"], best_other))
        meth = tuple(names[b] if use_pattern[b] else other_name[int(np.argmin(others[:, b]))]
                     for b in range(model.B))
    elif method == "auto":
        keys = list(by)
        table = np.stack([by[k] for k in keys])
        value = table.min(axis=0)
        meth = tuple(keys[int(w)] for w in np.argmin(table, axis=0))
    elif method in ("patterns", "branch_and_bound"):
        value = np.where(exact, realized, by["patterns"])
        meth = tuple(names)
    else:
        value = by[method]
        meth = method
    if model.activation == "identity" and method in ("auto", "spectral"):
        # a linear network: the norm of the product of the matrices is Lip(f) itself, and it
        # is never above the other bounds (computed in _spectral)
        value = by["spectral"]
        meth = "spectral" if method == "spectral" else ("spectral",) * model.B
        exact = np.ones(model.B, dtype=bool)
    return LipschitzUpperResult(value=xp.asarray(value, dtype=model.array_dtype), method=meth,
                                exact=exact, by_method=by, pattern=pattern, witness=witness,
                                realized=realized, complete=complete)
