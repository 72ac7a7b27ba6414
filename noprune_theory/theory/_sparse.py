"""The sparse Law of Robustness [NFP] as sympy expressions, written from the theorem statements.

Information is in bits, as in [NFP]: p_eff = I(m^W; D) + E||m||_1 log2(1 + 60 W J / eps). The
[XR] lemma behind the theorem is usually stated in nats; [NFP] does not reconcile the two
(docs/theory.md, sec. 3). The numeric API converts nats to bits when asked (``mi_unit="nats"``).

References
----------
.. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to
   Pruning at Initialization", ICML 2024, arXiv:2402.01089 (constants of v1).
.. [XR] A. Xu and M. Raginsky, "Information-theoretic analysis of generalization capability of
   learning algorithms", NeurIPS 2017.
"""
from __future__ import annotations

import sympy as sp

from ._symbols import A1_SQUARED, I, J, L, W, c, d, delta, epsilon, k, kept, n, p_eff, solve_unique

__all__ = [
    "effective_params_expression",
    "sparse_lipschitz_bound",
    "sparse_finite_class_probability",
    "sparse_sample_condition",
    "isoperimetric_variance_constant",
    "sparse_condition_lhs",
    "informal_scale",
    "informal_required_params",
    "sparse_required_params",
    "sparse_required_samples",
]


def effective_params_expression() -> sp.Expr:
    """[NFP Thm 4]: p_eff = I(m^W; D) + E||m||_1 log2(1 + 60 W J / eps), in bits.

    Returns
    -------
    sympy.Expr
        The effective number of parameters p_eff, in bits.
    """
    return I + kept * sp.log(1 + 60 * W * J / epsilon) / sp.log(2)


def sparse_lipschitz_bound() -> sp.Expr:
    """[NFP Thm 4]: Lip >= eps/(96 a1 sqrt(2c)) sqrt(n d delta/(p_eff + delta/2 log(4/delta))).

    Returns
    -------
    sympy.Expr
        The right side, the lower bound on Lip(f^W).
    """
    a1 = sp.sqrt(A1_SQUARED)
    return (epsilon / (96 * a1 * sp.sqrt(2 * c))
            * sp.sqrt(n * d * delta / (p_eff + delta / 2 * sp.log(4 / delta))))


def isoperimetric_variance_constant() -> sp.Expr:
    """C0 = 144 c L^2 / (n d) of [NFP Thm 3]."""
    return 144 * c * L**2 / (n * d)


def sparse_finite_class_probability() -> sp.Expr:
    """[NFP Thm 3]: P(fit below sigma^2 - eps) for every f with Lip <= L is at most this.

    Returns
    -------
    sympy.Expr
        The bound on the probability (it may exceed 1).
    """
    C0 = isoperimetric_variance_constant()
    return ((2 * k + 2) * sp.exp(-n * epsilon**2 / (8**3 * k))
            + sp.Max(2**7 * A1_SQUARED * C0 * I / epsilon**2,
                     2 * sp.exp(-epsilon**2 / (2**7 * A1_SQUARED * C0))))


def sparse_sample_condition() -> tuple[sp.Expr, sp.Expr]:
    """[NFP Thm 4] sample-size condition ``lhs <= rhs``: 8^3 k log(8k/delta) <= n eps^2.

    Returns
    -------
    lhs : sympy.Expr
        The left side, 8^3 k log(8k/delta).
    rhs : sympy.Expr
        The right side, n eps^2.
    """
    return 8**3 * k * sp.log(8 * k / delta), n * epsilon**2


def sparse_required_params() -> sp.Expr:
    """The p_eff at which the [NFP Thm 4] bound equals L (solved by sympy), in bits."""
    return solve_unique(sp.Eq(sparse_lipschitz_bound(), L), p_eff, square=True)


def sparse_required_samples() -> sp.Expr:
    """The n at which the [NFP Thm 4] sample-size condition holds with equality (sympy solve)."""
    lhs, rhs = sparse_sample_condition()
    return solve_unique(sp.Eq(lhs, rhs), n)


def sparse_condition_lhs() -> sp.Expr:
    """The left side 8^3 k log(8k/delta) of the [NFP Thm 4] sample-size condition."""
    return sparse_sample_condition()[0]


def informal_scale() -> sp.Expr:
    """eps sqrt(n d / p_eff): the informal form Lip >= Omega~(eps sqrt(n d / p_eff)) [NFP].

    Constants and logarithms dropped; the scale a theorist compares models with, not a bound.
    """
    return epsilon * sp.sqrt(n * d / p_eff)


def informal_required_params() -> sp.Expr:
    """The p_eff at which the informal scale eps sqrt(n d / p_eff) equals L: eps^2 n d / L^2."""
    return solve_unique(sp.Eq(informal_scale(), L), p_eff, square=True)
