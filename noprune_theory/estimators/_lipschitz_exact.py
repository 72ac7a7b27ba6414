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

import math
from fractions import Fraction

import numpy as np

__all__ = ["farkas_empty", "realizes"]


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


def _int_row(w, sg):
    """``sg * w`` as integers over one power of two: ``(ints, den)`` with row = ints / den."""
    fr = [Fraction(float(v)) for v in w]
    den = max(f.denominator for f in fr)
    return [sg * f.numerator * (den // f.denominator) for f in fr], den


def _null_vector_int(rows):
    """A basis (Fractions) of {z : sum_j z_j rows_j = 0}, rows: m lists of d Python ints.

    Gauss-Jordan elimination without fractions (rows kept primitive by their gcd), then one
    division per pivot.
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
        for i in range(d):
            if i != r and A[i][col] != 0:
                f = A[i][col]
                row = [p * x - f * y for x, y in zip(A[i], A[r])]
                g = math.gcd(*row)
                A[i] = [v // g for v in row] if g > 1 else row
        pivots.append(col)
        r += 1
        if r == d:
            break
    free = [c for c in range(m) if c not in pivots]
    basis = []
    for fcol in free:
        z = [Fraction(0)] * m
        z[fcol] = Fraction(1)
        for i, pc in enumerate(pivots):
            z[pc] = Fraction(-A[i][fcol], A[i][pc])
        basis.append(z)
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
    # the support's rows M_j = sigma_j w_j, each an integer row over a power of two (exact)
    rows, dens = [], []
    for j in support:
        ints, den = _int_row(W[j], 1 if s[j] else -1)
        rows.append(ints)
        dens.append(den)
    basis = _null_vector_int(rows)
    if not basis:
        return None
    if len(basis) == 1:
        z = basis[0]
        if all(v <= 0 for v in z):
            z = [-v for v in z]
    else:
        # fit the LP's vector in the exact null space (least squares in floats), then take the
        # exact combination of the basis with the rounded coefficients
        target = yf[support] / scale[support] / np.array([float(q) for q in dens])
        N = np.array([[float(v) for v in bv] for bv in basis]).T  # (|S|, dim)
        coef, *_ = np.linalg.lstsq(N, target, rcond=None)
        z = [sum(Fraction(float(a)) * bv[i] for a, bv in zip(coef, basis))
             for i in range(len(support))]
    # the certificate, verified exactly: y_j = z_j den_j >= 0, not all 0, sum_j z_j ints_j = 0
    # (that is sum_j y_j M_j = 0) and sum_j y_j c_j <= 0
    if any(v < 0 for v in z) or not any(v > 0 for v in z):
        return None
    for i in range(d):
        if sum(zj * r[i] for zj, r in zip(z, rows) if r[i]) != 0:
            return None
    y = [Fraction(0)] * k
    for j, zj, den in zip(support, z, dens):
        y[j] = zj * den
    if sum(y[j] * (beta[j] if s[j] else -beta[j]) for j in support) > 0:
        return None
    return y
