"""Exact (rational) certificates about activation regions of a one-hidden-layer network.

The activation region of a pattern ``s`` (unit ``j`` on where ``s_j``, off elsewhere) is
``{x : sigma_j (w_j . x + beta_j) > 0 for every active unit j}`` with ``sigma_j = +1`` for on
and ``-1`` for off, ``w_j`` the unit's input weights and ``beta_j = b_j / c_0`` its bias over the
forward multiplier. Two facts about it are checked here in exact rational arithmetic
(:class:`fractions.Fraction`; every float is a rational), so no solver tolerance enters:

- :func:`realizes` -- a given point lies in the open region (every inequality strict).
- :func:`farkas_empty` -- the region is empty. By Motzkin's transposition theorem the strict
  system ``M x + c > 0`` (rows ``M_j = sigma_j w_j``, ``c_j = sigma_j beta_j``) has no solution
  iff some ``y >= 0``, ``y != 0`` has ``M^T y = 0`` and ``c . y <= 0``. A linear program finds a
  candidate ``y``; its support's rows are then solved exactly for a rational null vector, and the
  three conditions are verified with fractions. A failed verification certifies nothing (the
  caller then treats the pattern as possibly realizable).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["farkas_empty", "realizes"]


def _rows(W, beta, s):
    """Exact rows M_j = sigma_j w_j (k lists of d Fractions) and c_j = sigma_j beta_j."""
    M, c = [], []
    for j in range(W.shape[0]):
        sg = 1 if s[j] else -1
        M.append([Fraction(float(v)) * sg for v in W[j]])
        c.append(beta[j] * sg)
    return M, c


def exact_beta(b, c0):
    """beta_j = b_j / c_0 as Fractions (c_0 > 0 is the float forward multiplier)."""
    c0 = Fraction(float(c0))
    return [Fraction(float(v)) / c0 for v in b]


def realizes(W, beta, s, x):
    """True iff ``sigma_j (w_j . x + beta_j) > 0`` for every row j, exactly.

    Parameters
    ----------
    W : ndarray (k, d)
        Input weights of the active units (floats, taken exactly).
    beta : list of Fraction (k,)
        Biases over the forward multiplier, exact.
    s : ndarray of bool (k,)
        The pattern.
    x : ndarray (d,)
        The point (floats, taken exactly).
    """
    xs = [Fraction(float(v)) for v in x]
    for j in range(W.shape[0]):
        z = beta[j]
        for wv, xv in zip(W[j], xs):
            if wv != 0.0:
                z += Fraction(float(wv)) * xv
        if (z <= 0) if s[j] else (z >= 0):
            return False
    return True


def _null_vector(rows):
    """A basis of {y : sum_j y_j rows_j = 0} over the rationals (rows: m lists of d Fractions).

    Reduced row echelon form of the d x m matrix whose columns are the rows.
    """
    m = len(rows)
    d = len(rows[0]) if m else 0
    A = [[rows[j][i] for j in range(m)] for i in range(d)]
    pivots = []
    r = 0
    for col in range(m):
        piv = next((i for i in range(r, d) if A[i][col] != 0), None)
        if piv is None:
            continue
        A[r], A[piv] = A[piv], A[r]
        p = A[r][col]
        A[r] = [v / p for v in A[r]]
        for i in range(d):
            if i != r and A[i][col] != 0:
                f = A[i][col]
                A[i] = [a - f * b for a, b in zip(A[i], A[r])]
        pivots.append(col)
        r += 1
        if r == d:
            break
    free = [c for c in range(m) if c not in pivots]
    basis = []
    for fcol in free:
        y = [Fraction(0)] * m
        y[fcol] = Fraction(1)
        for i, pc in enumerate(pivots):
            y[pc] = -A[i][fcol]
        basis.append(y)
    return basis


def farkas_empty(W, beta, s):
    """An exact certificate that the open region of pattern ``s`` is empty, or None.

    Parameters
    ----------
    W : ndarray (k, d)
        Input weights of the active units.
    beta : list of Fraction (k,)
        Biases over the forward multiplier, exact.
    s : ndarray of bool (k,)

    Returns
    -------
    list of Fraction (k,) or None
        ``y >= 0``, ``y != 0`` with ``sum_j y_j sigma_j w_j = 0`` and
        ``sum_j y_j sigma_j beta_j <= 0``, verified exactly; None when none was found (which
        proves nothing).
    """
    from scipy.optimize import linprog

    k, d = W.shape
    sign = np.where(s, 1.0, -1.0)
    Mf = sign[:, None] * W
    cf = sign * np.array([float(b) for b in beta])
    scale = np.linalg.norm(Mf, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    # y' = y * ||M_j|| (row scaling keeps the LP well conditioned): min c'.y', M'^T y' = 0,
    # sum y' = 1, y' >= 0; the optimum is <= 0 iff the strict system is infeasible
    res = linprog(cf / scale, A_eq=np.vstack([(Mf / scale[:, None]).T, np.ones((1, k))]),
                  b_eq=np.r_[np.zeros(d), 1.0], bounds=[(0, None)] * k, method="highs")
    if res.status != 0 or res.fun > 1e-9 * (1.0 + float(np.max(np.abs(cf / scale)))):
        return None
    yf = res.x
    support = [j for j in range(k) if yf[j] > 1e-12]
    if not support:
        return None
    M, c = _rows(W, beta, s)
    basis = _null_vector([M[j] for j in support])
    if not basis:
        return None
    if len(basis) == 1:
        y_s = basis[0]
        if all(v <= 0 for v in y_s):
            y_s = [-v for v in y_s]
    else:
        # fit the LP's vector in the exact null space (least squares in floats), then take the
        # exact combination of the basis with the rounded coefficients
        N = np.array([[float(v) for v in b] for b in basis]).T  # (|S|, dim)
        coef, *_ = np.linalg.lstsq(N, yf[support] / scale[support], rcond=None)
        y_s = [sum(Fraction(float(a)) * b[i] for a, b in zip(coef, basis))
               for i in range(len(support))]
    y = [Fraction(0)] * k
    for j, v in zip(support, y_s):
        y[j] = v
    # the certificate, verified exactly
    if any(v < 0 for v in y) or not any(v > 0 for v in y):
        return None
    for i in range(d):
        if sum(y[j] * M[j][i] for j in support) != 0:
            return None
    if sum(y[j] * c[j] for j in support) > 0:
        return None
    return y
