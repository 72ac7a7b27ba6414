"""The dense Law of Robustness [BS] as sympy expressions, written from the theorem statements.

These are the statements the numeric API evaluates (through generated code, see
:mod:`._compiled`); :mod:`._derivation` rebuilds them from the proof steps and checks that both
agree. Logs are natural.

References
----------
.. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021,
   arXiv:2105.12806 (constants of the NeurIPS version).
"""
from __future__ import annotations

import sympy as sp

from ._symbols import J, L, W, c, d, delta, epsilon, k, logF, n, p, solve_unique

__all__ = [
    "net_log_size",
    "dense_lipschitz_bound",
    "dense_finite_class_probability",
    "dense_sample_condition",
    "dense_condition_lhs",
    "condition_rhs",
    "dense_required_params",
    "dense_required_samples",
]


def net_log_size() -> sp.Expr:
    """Log of the size of the eps/(6J)-net of the parameter set: p log(60 W J / eps) [BS Thm 3].

    Returns
    -------
    sympy.Expr
        The natural log of the number of points of the net.
    """
    return p * sp.log(60 * W * J / epsilon)


def dense_lipschitz_bound() -> sp.Expr:
    """[BS Thm 3]: Lip(f) >= eps / (2^9 sqrt(c)) sqrt(n d / (p log(60WJ/eps) + log(4/delta))).

    Returns
    -------
    sympy.Expr
        The right side, the lower bound on Lip(f).
    """
    return epsilon / (2**9 * sp.sqrt(c)) * sp.sqrt(n * d / (net_log_size() + sp.log(4 / delta)))


def dense_finite_class_probability() -> sp.Expr:
    """[BS Thm 2]: P(some f in F fits below sigma^2 - eps with Lip(f) <= L) is at most this.

    Returns
    -------
    sympy.Expr
        The bound on the probability (it may exceed 1).
    """
    return (4 * k * sp.exp(-n * epsilon**2 / (8**3 * k))
            + 2 * sp.exp(logF - epsilon**2 * n * d / (8**4 * c * L**2)))


def dense_sample_condition() -> tuple[sp.Expr, sp.Expr]:
    """[BS Thm 3] sample-size condition ``lhs <= rhs``: 8^4 k log(8k/delta) <= n eps^2.

    Returns
    -------
    lhs : sympy.Expr
        The left side, 8^4 k log(8k/delta).
    rhs : sympy.Expr
        The right side, n eps^2.
    """
    return 8**4 * k * sp.log(8 * k / delta), n * epsilon**2


def dense_required_params() -> sp.Expr:
    """The p at which the [BS Thm 3] bound equals L (solved by sympy).

    For p at least this, the theorem does not rule out an interpolator with Lip(f) <= L.
    """
    return solve_unique(sp.Eq(dense_lipschitz_bound(), L), p, square=True)


def dense_required_samples() -> sp.Expr:
    """The n at which the [BS Thm 3] sample-size condition holds with equality (sympy solve)."""
    lhs, rhs = dense_sample_condition()
    return solve_unique(sp.Eq(lhs, rhs), n)


def dense_condition_lhs() -> sp.Expr:
    """The left side 8^4 k log(8k/delta) of the [BS Thm 3] sample-size condition."""
    return dense_sample_condition()[0]


def condition_rhs() -> sp.Expr:
    """The right side n eps^2 of both sample-size conditions ([BS Thm 3], [NFP Thm 4])."""
    return dense_sample_condition()[1]
