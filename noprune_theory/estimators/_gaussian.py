"""Closed forms for Gaussian variables: the ground truth of the estimator tests, and a
parametric estimator (fit a Gaussian, use the closed form).

Where this sits: :func:`gaussian_mi` gives exact values the k-NN estimators are checked
against; :func:`gaussian_mi_fit` is the low-variance estimate when the data is (close to)
jointly Gaussian.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from noprune_theory.estimators._preprocess import (
    _power_of_two_scale,
    _times_power_of_two,
    as_samples,
    check_base,
    check_number,
    same_length,
)

__all__ = ["gaussian_entropy", "gaussian_mi", "gaussian_mi_fit"]


def _check_cov(cov, name):
    arr = np.asarray(cov, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must not contain NaN or inf")
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * np.abs(arr).max(initial=0.0)):
        raise ValueError(f"{name} must be symmetric")
    try:
        chol = np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (a singular covariance has "
                         f"infinite mutual information or -inf entropy)") from None
    return arr, chol


def _logdet(chol):
    return 2.0 * float(np.sum(np.log(np.diag(chol))))


def gaussian_mi(cov: ArrayLike | None = None, *, dx: int | None = None,
                corr: ArrayLike | None = None, base: float | str | None = None) -> float:
    r"""Mutual information of jointly Gaussian X and Y, in closed form.

    Give either a joint covariance (or correlation) matrix *cov* with the number *dx* of
    coordinates that form X (the first dx), or a scalar correlation *corr* of two scalars.

    Parameters
    ----------
    cov : array_like (d, d), optional
        Joint covariance (or correlation) of (X, Y), positive definite.
    dx : int, optional
        Number of leading coordinates of X, ``1 <= dx < d``. Required with *cov*.
    corr : float or array_like (d, d), optional
        A correlation in [-1, 1] of scalar X and Y (±1 gives ``inf``), or a correlation matrix
        (then *dx* is required, as for *cov*).
    base : float or None
        None: nats; 2: bits.

    Returns
    -------
    float
        I(X; Y) in the unit of *base* (``inf`` for a correlation of +-1).

    Notes
    -----
    .. math:: I(X; Y) = \frac12 \log \frac{\det \Sigma_{XX} \det \Sigma_{YY}}{\det \Sigma},
              \qquad I = -\frac12 \log(1 - \rho^2) \text{ for scalars}

    (Cover & Thomas, Elements of Information Theory, 2nd ed., eq. 8.56 and Example 8.5.1).

    Examples
    --------
    >>> from noprune_theory.estimators import gaussian_mi
    >>> round(gaussian_mi(corr=0.6), 6)              # -log(0.64) / 2
    0.223144
    >>> round(gaussian_mi([[1.0, 0.6], [0.6, 1.0]], dx=1, base=2), 6)
    0.321928
    """
    divisor = check_base(base)
    if (cov is None) == (corr is None):
        raise ValueError("give exactly one of cov (with dx) or corr")
    if corr is not None and np.ndim(corr) == 0:
        if dx is not None:
            raise ValueError("dx is only used with a matrix; a scalar corr describes two "
                             "scalars")
        rho = check_number(corr, "corr", low=-1, high=1)
        if abs(rho) == 1:
            return math.inf
        return -0.5 * math.log1p(-rho * rho) / divisor
    name = "cov" if cov is not None else "corr"
    mat, chol = _check_cov(cov if cov is not None else corr, name)
    d = mat.shape[0]
    if name == "corr" and not np.allclose(np.diag(mat), 1.0):
        raise ValueError("corr must have a unit diagonal (use cov for a covariance)")
    if d < 2:
        raise ValueError(f"{name} must be at least 2 x 2 (X and Y), got shape {mat.shape}")
    if dx is None:
        raise ValueError(f"dx (the number of coordinates of X) is required with a {name} "
                         f"matrix")
    dx = check_number(dx, "dx", integer=True, low=1, high=d - 1)
    _, cxx = _check_cov(mat[:dx, :dx], f"{name}[:dx, :dx]")
    _, cyy = _check_cov(mat[dx:, dx:], f"{name}[dx:, dx:]")
    return 0.5 * (_logdet(cxx) + _logdet(cyy) - _logdet(chol)) / divisor


def gaussian_entropy(cov: ArrayLike, *, base: float | str | None = None) -> float:
    r"""Differential entropy of N(mu, cov): :math:`\frac12 \log \det(2 \pi e \Sigma)`.

    Parameters
    ----------
    cov : float or array_like (d, d)
        Variance or covariance matrix, positive definite.
    base : float or None
        None: nats; 2: bits.

    Returns
    -------
    float
        The differential entropy in the unit of *base*.

    Notes
    -----
    Cover & Thomas, Elements of Information Theory, 2nd ed., Theorem 8.4.1.

    Examples
    --------
    >>> from noprune_theory.estimators import gaussian_entropy
    >>> round(gaussian_entropy(1.0), 6)               # log(2 pi e) / 2
    1.418939
    """
    divisor = check_base(base)
    mat, chol = _check_cov(cov, "cov")
    d = mat.shape[0]
    return 0.5 * (d * math.log(2 * math.pi * math.e) + _logdet(chol)) / divisor


def gaussian_mi_fit(x: ArrayLike, y: ArrayLike, *, base: float | str | None = None) -> float:
    r"""Estimate I(X; Y) by fitting a joint Gaussian (sample covariance, closed form).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, dx)
        Samples of X, continuous.
    y : array_like, shape (n,) or (n, dy)
        Samples of Y, paired row by row with *x*.
    base : float or None
        None: nats; 2: bits.

    Returns
    -------
    float
        The estimate in the unit of *base*.

    Notes
    -----
    :func:`gaussian_mi` of the sample covariance (``ddof=1``). Exact in the limit for jointly
    Gaussian data; for other data it is the MI of the Gaussian with the same covariance, a lower
    bound on I(X; Y) only under conditions (it is the information carried by linear
    correlations). Its bias under independence is about :math:`d_x d_y / (2n)` nats (the
    Wilks / Bartlett chi-square limit: :math:`2 n \hat I \to \chi^2_{d_x d_y}`).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import gaussian_mi_fit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(10000)
    >>> y = 0.6 * x + 0.8 * rng.standard_normal(10000)
    >>> abs(gaussian_mi_fit(x, y) - 0.2231) < 0.02
    True
    """
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    n = same_length(x=xs, y=ys)
    if n < xs.shape[1] + ys.shape[1] + 1:
        raise ValueError(f"gaussian_mi_fit needs more samples than dimensions, got n = {n} "
                         f"for dx + dy = {xs.shape[1] + ys.shape[1]}")
    joint = np.concatenate([xs, ys], axis=1)
    # The MI does not depend on the columns' scales: columns of extreme magnitude (x * 1e300
    # would overflow the covariance, x * 1e-300 underflow it to a "singular" matrix) are
    # brought back by exact powers of two first; other columns are used as they are.
    exponent = _power_of_two_scale(np.abs(joint).max(axis=0))
    if np.any(exponent != 0):
        joint = _times_power_of_two(joint, exponent, np)
    cov = np.cov(joint, rowvar=False, ddof=1)
    return gaussian_mi(np.atleast_2d(cov), dx=xs.shape[1], base=base)
