"""The symbols of the theory, named as in the papers.

Imported only by the symbolic modules (it imports sympy); the numeric API never imports it on a
warm cache (see :mod:`noprune_theory.theory._compiled`). A symbol's name is also the argument
name of the generated numeric function, so names are valid Python identifiers; LaTeX spellings
live in :data:`LATEX_NAMES`.
"""
from __future__ import annotations

import sympy as sp

__all__ = ["SYMBOLS", "LATEX_NAMES", "A1_SQUARED", "latex"]

_pos = dict(positive=True, real=True)

n = sp.Symbol("n", **_pos)  # number of samples
d = sp.Symbol("d", **_pos)  # input dimension
p = sp.Symbol("p", **_pos)  # number of parameters
p_eff = sp.Symbol("p_eff", **_pos)  # effective number of parameters [NFP Thm 4], bits
epsilon = sp.Symbol("epsilon", **_pos)  # fitting margin below the noise level
delta = sp.Symbol("delta", **_pos)  # failure probability
c = sp.Symbol("c", **_pos)  # isoperimetry constant
W = sp.Symbol("W", **_pos)  # diameter of the parameter set [BS Thm 3]
w_max = sp.Symbol("w_max", **_pos)  # coordinate bound: weights in [-w_max, w_max]^p [BS Lemma 3.1]
J = sp.Symbol("J", **_pos)  # Lipschitz constant of the parametrization w -> f_w (sup norm)
k = sp.Symbol("k", **_pos)  # number of mixture components of the data law
L = sp.Symbol("L", **_pos)  # Lipschitz constant of f
I = sp.Symbol("I", nonnegative=True, real=True)  # noqa: E741 -- I(m^W; D), bits
kept = sp.Symbol("kept", **_pos)  # ||m||_1, number of kept weights
gamma = sp.Symbol("gamma", **_pos)  # sparsity: fraction of weights removed
t = sp.Symbol("t", **_pos)  # deviation threshold
logF = sp.Symbol("logF", **_pos)  # log |F| (natural log) of a finite class
R = sp.Symbol("R", **_pos)  # radius of the input ball
Q = sp.Symbol("Q", **_pos)  # weight sharing factor
D = sp.Symbol("D", **_pos)  # depth
width = sp.Symbol("width", **_pos)  # hidden width of a two-layer net
bias = sp.Symbol("bias", nonnegative=True, real=True)  # 1 with an output bias, else 0
sigma2 = sp.Symbol("sigma2", **_pos)  # variance proxy of a subgaussian variable
C = sp.Symbol("C", **_pos)  # subgaussian constant in the tail form 2 exp(-t^2 / C)
A = sp.Symbol("A", **_pos)  # the information term's factor in [NFP Thm 3]

SYMBOLS = {s.name: s for s in (n, d, p, p_eff, epsilon, delta, c, W, w_max, J, k, L, I, kept,
                               gamma, t, logF, R, Q, D, width, bias, sigma2, C, A)}

#: [NFP Thm 4]: a_1^2 = 72, so 96 a_1 sqrt(2) = 1152.
A1_SQUARED = sp.Integer(72)

LATEX_NAMES = {
    p_eff: r"p_{\mathrm{eff}}",
    epsilon: r"\varepsilon",
    delta: r"\delta",
    logF: r"\log|\mathcal{F}|",
    sigma2: r"\sigma^{2}",
    kept: r"\|m\|_1",
    width: r"\mathrm{width}",
    bias: r"b",
    w_max: r"w_{\max}",
}


def latex(expr: sp.Basic) -> str:
    """Write *expr* as LaTeX with the papers' spellings of the symbols.

    Parameters
    ----------
    expr : sympy.Basic
        An expression in the symbols of the theory.

    Returns
    -------
    str
        The LaTeX source (no surrounding ``$``).
    """
    return sp.latex(expr, symbol_names=LATEX_NAMES)


def solve_unique(equation: sp.Eq, symbol: sp.Symbol, *, square: bool = False) -> sp.Expr:
    """The one solution of *equation* for *symbol* (the symbols' assumptions make it unique).

    With ``square=True`` both sides (positive by assumption) are squared first, which turns the
    square-root bounds into rational equations sympy solves directly. Logs of powers that sympy
    forms on the way (``log((4/delta)**(c L**2))``) are expanded back, so that the numeric form
    neither overflows nor loses the structure of the theorem.

    Raises RuntimeError if sympy finds none or several: a symbolic fact we rely on changed.
    """
    if square:
        equation = sp.Eq(equation.lhs**2, equation.rhs**2)
    solutions = sp.solve(equation, symbol)
    if len(solutions) == 2 and sp.simplify(solutions[0] + solutions[1]) == 0:
        # +-sqrt(...) of a positive symbol: sympy cannot always see that the radicand is
        # positive; the negative root is the one with an extractable minus sign
        solutions = [s for s in solutions if not s.could_extract_minus_sign()]
    if len(solutions) != 1:
        raise RuntimeError(f"expected one solution for {symbol}, sympy found {solutions}")
    return sp.expand_log(solutions[0], force=True)
