"""Plug-in entropy and mutual information of discrete data, with bias corrections.

Where this sits: exact bookkeeping of counts, used for discrete masks and labels (for example
the mask-data information of the No Free Prune bound, in bits with ``base=2``). Each row of a
2-D array is one symbol (a tuple of values), so joint variables are just wider arrays.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory._validation import check_choice
from noprune_theory.estimators._preprocess import check_base, same_length

__all__ = ["CORRECTIONS", "plugin_entropy", "plugin_mi"]

#: Bias corrections offered by :func:`plugin_entropy` and :func:`plugin_mi`.
CORRECTIONS = ("none", "miller_madow", "jackknife")


def _as_discrete(x, name):
    """Validate discrete samples; return integer codes (n,) of the rows of *x*."""
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must not contain NaN or inf")
        frac = arr[arr != np.round(arr)]
        if frac.size:
            raise ValueError(
                f"{name} holds non-integer floats (e.g. {float(frac.flat[0])!r}): plugin "
                f"estimators are for discrete data (integer, bool or string labels); use "
                f"ksg_mi for continuous data or mixed_mi for a mixture"
            )
    elif kind not in "iubUS":
        raise ValueError(f"{name} must hold integer, bool or string labels, got dtype "
                         f"{arr.dtype}")
    rows = arr.reshape(arr.shape[0], -1)
    _, codes = np.unique(rows, axis=0, return_inverse=True)
    return np.asarray(codes, dtype=np.int64).reshape(-1)


def _joint_codes(*codes):
    """Codes of the tuples (codes[0][i], codes[1][i], ...)."""
    stacked = np.stack(codes, axis=1)
    _, joint = np.unique(stacked, axis=0, return_inverse=True)
    return np.asarray(joint, dtype=np.int64).reshape(-1)


def _xlogx(c):
    c = np.asarray(c, dtype=np.float64)
    out = np.zeros_like(c)
    pos = c > 0
    out[pos] = c[pos] * np.log(c[pos])
    return out


def _entropy_from_counts(counts, correction):
    """Entropy in nats of the empirical distribution of *counts*, with a correction."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    n = counts.sum()
    s = _xlogx(counts).sum()
    h_ml = math.log(n) - s / n
    if correction == "none":
        return h_ml
    if correction == "miller_madow":
        return h_ml + (len(counts) - 1) / (2.0 * n)
    # jackknife: n * H - (n - 1)/n * sum_i H_{-i}; removing a sample of bin b changes only
    # c_b, so the sum over samples is a sum over bins weighted by c_b
    if n < 2:
        raise ValueError("correction='jackknife' needs at least 2 samples")
    h_minus = math.log(n - 1) - (s - _xlogx(counts) + _xlogx(counts - 1)) / (n - 1)
    return n * h_ml - (n - 1) / n * float(np.sum(counts * h_minus))


def plugin_entropy(x: ArrayLike, *,
                   correction: Literal["none", "miller_madow", "jackknife"] = "none",
                   base: float | str | None = None) -> float:
    r"""Entropy H(X) of discrete samples by the plug-in (maximum-likelihood) estimator.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
        Integer, bool or string labels; float arrays are accepted only if every value is an
        integer (else ValueError: the data is continuous). Each row is one symbol.
    correction : {"none", "miller_madow", "jackknife"}, default "none"
        Bias correction (see Notes).
    base : float or None, default None
        None: nats; 2: bits.

    Returns
    -------
    float
        The estimate of H(X) in the unit of *base*.

    Notes
    -----
    With counts :math:`c_b` over the :math:`m` observed symbols and :math:`n = \sum_b c_b`:

    - ``"none"``: :math:`\hat H = \log n - \frac1n \sum_b c_b \log c_b`, biased low by about
      :math:`(m - 1)/(2n)` (Miller 1955);
    - ``"miller_madow"``: :math:`\hat H + (m - 1)/(2n)`;
    - ``"jackknife"``: :math:`n \hat H - \frac{n-1}{n}\sum_{i} \hat H_{-i}`, the leave-one-out
      jackknife (Zahl 1977), computed exactly from the counts in O(m).

    All three underestimate when many symbols are unseen (n not much larger than the support).

    References
    ----------
    G. A. Miller, "Note on the bias of information estimates" (1955). S. Zahl, "Jackknifing an
    index of diversity", Ecology 58, 907-913 (1977). L. Paninski, "Estimation of entropy and
    mutual information", Neural Computation 15, 1191-1253 (2003).

    Examples
    --------
    >>> from noprune_theory.estimators import plugin_entropy
    >>> plugin_entropy([0, 1, 0, 1], base=2)
    1.0
    >>> round(plugin_entropy([0, 1, 0, 1], correction="miller_madow"), 4)   # log 2 + 1/8
    0.8181
    """
    correction = check_choice(correction, "correction", CORRECTIONS)
    divisor = check_base(base)
    codes = _as_discrete(x, "x")
    return float(_entropy_from_counts(np.bincount(codes), correction) / divisor)


def plugin_mi(x: ArrayLike, y: ArrayLike, *,
              correction: Literal["none", "miller_madow", "jackknife"] = "none",
              base: float | str | None = None, return_local: bool = False,
              ) -> float | NDArray[np.float64]:
    r"""Mutual information I(X; Y) of discrete samples by the plug-in estimator.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, dx)
        Discrete labels (as in :func:`plugin_entropy`).
    y : array_like, shape (n,) or (n, dy)
        Discrete labels, paired row by row with *x*.
    correction : {"none", "miller_madow", "jackknife"}, default "none"
        Applied to each of H(X), H(Y), H(X, Y).
    base : float or None, default None
        None: nats; 2: bits.
    return_local : bool, default False
        Return the pointwise values :math:`\log \hat p(x_i, y_i) / (\hat p(x_i) \hat p(y_i))`,
        shape (n,), whose mean is the estimate (only with ``correction="none"``: a correction
        is a property of the whole sample, not of a point).

    Returns
    -------
    float or ndarray
        The estimate of I(X; Y) in the unit of *base*; with ``return_local``, the pointwise
        values, shape (n,).

    Notes
    -----
    ``"none"``: :math:`\hat I = \sum_{x,y} \hat p(x,y) \log \frac{\hat p(x,y)}{\hat p(x)
    \hat p(y)}`, equal to :math:`\hat H(X) + \hat H(Y) - \hat H(X,Y)`. It is biased upward by
    about :math:`(m_{xy} - m_x - m_y + 1)/(2n)` for independent variables (Miller 1955;
    Paninski 2003); ``"miller_madow"`` subtracts that term,
    ``"jackknife"`` combines the jackknifed entropies. Corrected estimates can be negative and
    are returned as they are.

    References
    ----------
    L. Paninski, "Estimation of entropy and mutual information", Neural Computation 15,
    1191-1253 (2003).

    Examples
    --------
    >>> from noprune_theory.estimators import plugin_mi
    >>> round(plugin_mi([0, 0, 1, 1], [0, 0, 1, 1], base=2), 12)     # one bit
    1.0
    >>> plugin_mi([0, 1, 0, 1], [0, 0, 1, 1])                # independent in the sample
    0.0
    """
    correction = check_choice(correction, "correction", CORRECTIONS)
    divisor = check_base(base)
    if return_local not in (True, False):
        raise ValueError(f"return_local must be True or False, got {return_local!r}")
    if return_local and correction != "none":
        raise ValueError("return_local=True needs correction='none' (a bias correction is not "
                         f"a per-sample quantity), got correction={correction!r}")
    cx = _as_discrete(x, "x")
    cy = _as_discrete(y, "y")
    n = same_length(x=cx[:, None], y=cy[:, None])
    cxy = _joint_codes(cx, cy)
    if correction == "none":
        nx = np.bincount(cx)[cx].astype(np.float64)
        ny = np.bincount(cy)[cy].astype(np.float64)
        nxy = np.bincount(cxy)[cxy].astype(np.float64)
        local = np.log(n * nxy) - np.log(nx * ny)
        if return_local:
            return local / divisor if divisor != 1.0 else local
        # sum over cells = mean over samples; computed per cell to keep the sum exact
        counts_xy = np.bincount(cxy).astype(np.float64)
        first = np.unique(cxy, return_index=True)[1]
        cell = np.log(n * counts_xy[cxy[first]]) - np.log(nx[first] * ny[first])
        return float(np.sum(counts_xy[cxy[first]] * cell) / n) / divisor
    hx = _entropy_from_counts(np.bincount(cx), correction)
    hy = _entropy_from_counts(np.bincount(cy), correction)
    hxy = _entropy_from_counts(np.bincount(cxy), correction)
    return (hx + hy - hxy) / divisor
