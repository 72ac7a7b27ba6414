"""Counting masks and parameters: mask entropy [NFP Sec. 4.1], p and J of networks [BS].

References
----------
.. [NFP] Kumar, Luo & Sellke, ICML 2024, Section 4.1.
.. [BS] Bubeck & Sellke, NeurIPS 2021, Section 3 and Lemma 3.1.
"""
from __future__ import annotations

import sympy as sp

from ._symbols import D, Q, R, bias, d, gamma, kept, p, w_max, width

__all__ = [
    "mask_entropy_expression",
    "mask_entropy_numeric_form",
    "binary_entropy",
    "mask_entropy_asymptote",
    "two_layer_params_expression",
    "lipschitz_param_constant_expression",
    "parameter_set_diameter_expression",
]


def mask_entropy_expression() -> sp.Expr:
    """The entropy log2 C(p, kept) of a uniform mask with ``kept`` of ``p`` weights (bits).

    Returns
    -------
    sympy.Expr
        The entropy log2 C(p, kept), in bits.
    """
    return sp.log(sp.binomial(p, kept)) / sp.log(2)


def mask_entropy_numeric_form() -> sp.Expr:
    """The same as :func:`mask_entropy_expression` in log-gamma form, for evaluation.

    C(p, kept) overflows doubles for p of a few thousand; log Gamma does not. The rewrite is done
    by sympy (binomial -> gamma -> expanded logs -> loggamma), so the evaluated formula is the
    symbolic one.
    """
    expr = sp.expand_log(mask_entropy_expression().rewrite(sp.gamma), force=True)
    return expr.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.gamma),
        lambda e: sp.loggamma(e.args[0].args[0]),
    )


def binary_entropy(x: sp.Expr = gamma) -> sp.Expr:
    """The binary entropy h2(x) = -x log2 x - (1 - x) log2(1 - x), in bits.

    Parameters
    ----------
    x : sympy.Expr, default gamma
        The probability, a symbol or an expression (the sparsity gamma by default).

    Returns
    -------
    sympy.Expr
        The binary entropy h2(x), in bits.
    """
    return (-x * sp.log(x) - (1 - x) * sp.log(1 - x)) / sp.log(2)


def mask_entropy_asymptote() -> sp.Expr:
    """The asymptote p h2(gamma) of log2 C(p, (1 - gamma) p), up to O(log p) [NFP Sec. 4.1].

    Returns
    -------
    sympy.Expr
        The asymptote p h2(gamma), in bits.
    """
    return p * binary_entropy(gamma)


def two_layer_params_expression() -> sp.Expr:
    """The parameter count p = width (d + 2) + bias of a two-layer network [BS Sec. 3].

    Returns
    -------
    sympy.Expr
        The number of parameters p.
    """
    return width * (d + 2) + bias


def lipschitz_param_constant_expression() -> sp.Expr:
    """J = R (w_max Q p)^D [BS Lemma 3.1]: depth-D nets, weights in [-w_max, w_max]^p.

    w_max is the coordinate bound of the weights; the diameter W of [BS Thm 3] is another
    number (``parameter_set_diameter_expression()``).

    Returns
    -------
    sympy.Expr
        J, the Lipschitz constant of the parametrization w -> f_w in sup norm.
    """
    return R * (w_max * Q * p) ** D


def parameter_set_diameter_expression() -> sp.Expr:
    """W = 2 w_max sqrt(p): the Euclidean diameter of the cube [-w_max, w_max]^p [BS Thm 3]."""
    return 2 * w_max * sp.sqrt(p)
