"""The derivations of [BS Thm 2, 3] and [NFP Thm 3, 4], step by step, checked by sympy.

Each step is a sympy expression built from the previous ones (substitutions, a union bound,
``solve`` for L), never a pasted copy of the theorem. :func:`verify_derivation` then compares
what the steps produce with the theorem statements of :mod:`._dense` and :mod:`._sparse` (which
the numeric API evaluates): the difference must simplify to zero.

What is checked and what is not. The theorem statements (and so the constants 2^9 sqrt(c),
1152 sqrt(c), sqrt(delta), 8^4 and 8^3) are those of the papers as docs/theory.md states them:
[BS] NeurIPS version, [NFP] arXiv v1. The split of the constants among intermediate steps (the
sum lemma's 8, the accuracy eps/8 at which the net is used, NFP's variance proxy a_1^2 C_0) is
our reconstruction of the proofs, chosen to be consistent with the stated theorems; it could
not be checked against the sources. The steps' constants are parameters
(:data:`DENSE_CONSTANTS`, :data:`SPARSE_CONSTANTS`): change one and the check fails.

The last step of the sparse derivation follows [NFP] App. B.2, step 4: the finite-class lemma
in its *quantile* form, P(corr(f^W) >= s_C0(q)) <= q with
s_C0(q) = a1 sqrt(C0 (I/q + log(2/q))), at q = delta/2. It gives the constant
96 a1 sqrt(2c) = 1152 sqrt(c) of [NFP Thm 4] exactly. Solving the max form of [NFP Thm 3]
instead (each branch <= delta/2) gives a bound sqrt(2) smaller; that is an artefact of the
route (the max form loses a factor 2 in t^2 wherever I/q != log(2/q)), not an error in [NFP].
:func:`verify_derivation` checks both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ._dense import (
    dense_finite_class_probability,
    dense_lipschitz_bound,
    dense_sample_condition,
    net_log_size,
)
from ._sparse import (
    effective_params_expression,
    isoperimetric_variance_constant,
    sparse_finite_class_probability,
    sparse_lipschitz_bound,
    sparse_sample_condition,
)
from ._symbols import (
    A1_SQUARED,
    C,
    I,
    J,
    L,
    W,
    c,
    d,
    delta,
    epsilon,
    k,
    kept,
    latex,
    logF,
    n,
    p_eff,
    sigma2,
    solve_unique,
    t,
)

__all__ = ["Step", "Check", "Derivation", "derivation", "verify_derivation",
           "DENSE_CONSTANTS", "SPARSE_CONSTANTS"]

#: Constants of the dense proof steps (reconstruction; see the module docstring).
DENSE_CONSTANTS = {
    "noise_bound": sp.Integer(2),  # |z| = |y - E[y|x]| <= 2 for y in [-1, 1]
    "sum_lemma": sp.Integer(8),  # P(mean of n C-subgaussians >= t) <= 2 exp(-n t^2 / (8 C))
    "threshold": sp.Rational(1, 8),  # fitting below the noise => correlation >= eps/8
    "net_accuracy": sp.Rational(1, 8),  # the net is used at accuracy eps/8
    "mean_term": 4,  # 4k exp(-n eps^2 / (8^3 k)) [BS Thm 2], the mixture means
}

#: Constants of the sparse proof steps (see the module docstring).
SPARSE_CONSTANTS = {
    "threshold": sp.Rational(1, 8),  # correlation >= eps/8
    # the information term's share of delta: the quantile lemma is used at q = delta/2 [NFP
    # App. B.2, step 4], the mean term takes the other half
    "info_budget": sp.Rational(1, 2),
}

#: The quantile level of the finite-class lemma's quantile form.
q = sp.Symbol("q", positive=True, real=True)

@dataclass(frozen=True)
class Step:
    """One step: ``lhs rel expr`` with a title, a source and a note."""

    key: str
    title: str
    lhs: str
    lhs_latex: str
    rel: str
    expr: sp.Expr
    source: str
    note: str = ""

    def text(self) -> str:
        """Write the step as plain text.

        Returns
        -------
        str
            ``lhs rel expr``, the expression in sympy's string form.
        """
        return f"{self.lhs} {self.rel} {sp.sstr(self.expr)}"

    def latex(self) -> str:
        """Write the step as LaTeX.

        Returns
        -------
        str
            ``lhs rel expr`` in LaTeX, with the papers' spellings of the symbols.
        """
        rel = {"<=": r"\le", ">=": r"\ge", "=": "="}[self.rel]
        return f"{self.lhs_latex} {rel} {latex(self.expr)}"


@dataclass(frozen=True)
class Check:
    """A symbolic identity the derivation must satisfy: ``residual`` simplifies to 0."""

    name: str
    description: str
    residual: sp.Expr
    passed: bool


@dataclass
class Derivation:  # numpydoc ignore=PR01
    """The steps of one derivation and the checks tying them to the stated theorem.

    Attributes
    ----------
    title : str
        What is derived, e.g. ``"Dense Law of Robustness"``.
    theorem : str
        The theorems derived, e.g. ``"[BS Thm 2] and [BS Thm 3]"``.
    steps : list of Step
        The steps in order, each a relation ``lhs rel expr`` with its source.
    checks : list of Check
        The symbolic identities tying the steps to the stated theorem.
    notes : list of str
        Remarks printed after the checks.
    """

    title: str
    theorem: str
    steps: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(ch.passed for ch in self.checks)

    def step(self, key: str) -> Step:
        """Find a step by its key.

        Parameters
        ----------
        key : str
            The step's ``key``.

        Returns
        -------
        Step
            The first step with that key.

        Raises
        ------
        StopIteration
            If no step has that key.
        """
        return next(s for s in self.steps if s.key == key)


def _is_zero(expr):
    """True if sympy proves *expr* == 0 (tries log expansion, then squares of positive parts)."""
    if expr == 0:
        return True
    e = sp.simplify(sp.expand_log(expr, force=True))
    if e == 0:
        return True
    return bool(sp.simplify(sp.powsimp(sp.expand(e), force=True)) == 0)


def _same(a, b):
    """a == b for positive expressions: the difference or the difference of squares is 0."""
    return _is_zero(a - b) or _is_zero(sp.expand(a**2) - sp.expand(b**2))


def _check(name, description, a, b):
    passed = _same(a, b)
    return Check(name, description, sp.Integer(0) if passed else a - b, passed)


def _dense(const):
    z, K, thr, acc, mean = (const["noise_bound"], const["sum_lemma"], const["threshold"],
                            const["net_accuracy"], const["mean_term"])
    D = Derivation("Dense Law of Robustness", "[BS Thm 2] and [BS Thm 3]")
    tail_iso = 2 * sp.exp(-d * t**2 / (2 * c * L**2))
    D.steps.append(Step(
        "isoperimetry", "Isoperimetric tail (c-isoperimetry, for every L-Lipschitz f)",
        "P(|f(x) - E f| >= t)", r"\Pr(|f(x)-\mathbb{E}f|\ge t)", "<=", tail_iso,
        "assumption [BS Sec. 1]"))
    # |(f - Ef) z| >= t forces |f - Ef| >= t / |z|max
    tail_noise = tail_iso.subs(t, t / z)
    proxy = sp.simplify(-t**2 / sp.log(tail_noise / 2))
    D.steps.append(Step(
        "noise", "Bounded noise: X = (f(x) - E f) z with |z| <= 2 is C-subgaussian",
        "P(|X| >= t)", r"\Pr(|X|\ge t)", "<=", tail_noise,
        "[BS proof of Thm 2]", note=f"tail 2 exp(-t^2/C) with C = {sp.sstr(proxy)}"))
    tail_sum = (2 * sp.exp(-n * t**2 / (K * C))).subs(C, proxy)
    D.steps.append(Step(
        "subgaussian_sum", "Subgaussian average over the n samples (independent, centred)",
        "P((1/n) sum_i X_i >= t)", r"\Pr\big(\tfrac1n\sum_i X_i\ge t\big)", "<=", tail_sum,
        "[BS] sum lemma, constant 8 (reconstruction)"))
    single = sp.simplify(tail_sum.subs(t, thr * epsilon))
    D.steps.append(Step(
        "threshold", "Fitting below sigma^2 - eps forces a correlation >= eps/8 with the noise",
        "P(one f with Lip <= L correlates >= eps/8)",
        r"\Pr\big(\tfrac1n\sum_i (f(x_i)-\mathbb{E}f) z_i\ge \varepsilon/8\big)", "<=", single,
        "[BS proof of Thm 2]"))
    mean_term = mean * k * sp.exp(-n * epsilon**2 / (8**3 * k))
    finite = mean_term + sp.exp(logF) * single
    D.steps.append(Step(
        "union_bound", "Union bound over a finite class F, plus the mixture-mean event",
        "P(exists f in F fitting with Lip <= L)",
        r"\Pr(\exists f\in\mathcal F\text{ fitting},\ \mathrm{Lip}(f)\le L)", "<=", finite,
        "[BS Thm 2]", note="exp(log|F|) = |F|; the first term is Thm 2's, not rederived here"))
    D.checks.append(_check(
        "finite_class", "the union bound reproduces [BS Thm 2] as stated",
        sp.expand(sp.powsimp(sp.expand(finite), combine="exp")),
        sp.expand(sp.powsimp(sp.expand(dense_finite_class_probability()), combine="exp"))))
    log_net = net_log_size()
    D.steps.append(Step(
        "net", "eps/(6J)-net of the parameter set (diameter W, p parameters)",
        "log |N|", r"\log|\mathcal N|", "<=", log_net, "[BS proof of Thm 3]",
        note="|N| <= (60 W J / eps)^p"))
    net_term = single.subs(epsilon, acc * epsilon) * sp.exp(log_net)
    net_term = sp.powsimp(sp.expand_log(net_term, force=True), combine="exp")
    D.steps.append(Step(
        "net_union", "Union bound over the net, used at accuracy eps/8",
        "P(some f in F fits with Lip <= L) - mean term", r"\Pr(\dots)-\text{mean term}", "<=",
        net_term, "[BS proof of Thm 3] (accuracy eps/8: reconstruction)"))
    lhs_cond, rhs_cond = dense_sample_condition()
    n_req = solve_unique(sp.Eq(lhs_cond, rhs_cond), n)
    mean_at_req = sp.simplify(sp.expand_log(mean_term.subs(n, n_req), force=True))
    D.steps.append(Step(
        "mean_budget", "Sample-size condition 8^4 k log(8k/delta) <= n eps^2 bounds the mean "
        "term (decreasing in n) at its boundary", "mean term at n = n_req", r"\text{mean term}",
        "=", mean_at_req, "[BS Thm 3] condition",
        note="= 4k (delta/8k)^8 <= delta/2 since delta < 1 <= 8k"))
    D.checks.append(_check(
        "mean_budget", "at the condition's boundary the mean term is 4k (delta/(8k))^8 "
        "= (delta/2) (delta/(8k))^7 <= delta/2",
        mean_at_req, delta / 2 * (delta / (8 * k)) ** 7))
    L_star = solve_unique(sp.Eq(net_term, delta / 2), L)
    D.steps.append(Step(
        "solve_L", "Give the net term a budget delta/2 and solve for L (sympy solve)",
        "Lip(f)", r"\mathrm{Lip}(f)", ">=", L_star, "[BS Thm 3]",
        note="every f fitting below the noise level has Lip(f) above this, w.p. >= 1 - delta"))
    D.checks.append(_check(
        "theorem", "solving the last step for L gives [BS Thm 3] as stated "
        "(eps / (2^9 sqrt(c)) sqrt(n d / (p log(60WJ/eps) + log(4/delta))))",
        L_star, dense_lipschitz_bound()))
    return D


def _sparse(const):
    thr, budget = const["threshold"], const["info_budget"]
    D = Derivation("Sparse Law of Robustness", "[NFP Thm 3] and [NFP Thm 4]")
    D.steps.append(Step(
        "isoperimetry", "Isoperimetric tail (c-isoperimetry, for every L-Lipschitz f)",
        "P(|f(x) - E f| >= t)", r"\Pr(|f(x)-\mathbb{E}f|\ge t)", "<=",
        2 * sp.exp(-d * t**2 / (2 * c * L**2)), "assumption [NFP Sec. 2]"))
    C0 = isoperimetric_variance_constant()
    proxy = A1_SQUARED * C0
    D.steps.append(Step(
        "variance_proxy", "For a fixed f, the noise correlation (1/n) sum (f(x_i)-Ef) z_i is "
        "subgaussian with variance proxy a1^2 C0, C0 = 144 c L^2/(n d), a1^2 = 72",
        "sigma^2", r"\sigma^2", "=", proxy, "[NFP Thm 3] constants"))
    xr = sp.Max(2 * sigma2 * I / t**2, 2 * sp.exp(-t**2 / (2 * sigma2)))
    D.steps.append(Step(
        "change_of_measure", "Mutual-information change of measure for the data-dependent "
        "output f^W (Xu-Raginsky): P(correlation of f^W >= t)",
        "P(corr(f^W) >= t)", r"\Pr(\mathrm{corr}(f^{\mathcal W})\ge t)", "<=", xr,
        "[XR] as used in [NFP Lemma 1] (form reconstructed)",
        note="I = I(f^W; D); [XR] states it in nats, [NFP] writes bits"))
    mean_term = (2 * k + 2) * sp.exp(-n * epsilon**2 / (8**3 * k))
    finite = mean_term + xr.subs({t: thr * epsilon, sigma2: proxy})
    D.steps.append(Step(
        "threshold", "Fitting below sigma^2 - eps forces correlation >= eps/8; add the "
        "mixture-mean event", "P(f^W fits with Lip <= L)", r"\Pr(f^{\mathcal W}\text{ fits})",
        "<=", finite, "[NFP Thm 3]"))
    D.checks.append(_check("finite_class", "the steps reproduce [NFP Thm 3] as stated",
                           finite, sparse_finite_class_probability()))
    net_size = (1 + 60 * W * J / epsilon) ** kept
    info = I + sp.expand_log(sp.log(net_size), force=True) / sp.log(2)
    D.steps.append(Step(
        "chain_rule", "Data processing and chain rule: I(f^W; D) <= I(m^W; D) + E log2 N_m, "
        "with an eps/(8J)-net of each masked weight set, N_m <= (1 + 60WJ/eps)^||m||_1",
        "p_eff = I(m^W; D) + E log2 N_m", r"p_{\mathrm{eff}}", "=", info, "[NFP proof of Thm 4]",
        note="bits"))
    D.checks.append(_check("effective_params", "the chain rule gives p_eff as stated",
                           info, effective_params_expression()))
    lhs_cond, rhs_cond = sparse_sample_condition()
    n_req = solve_unique(sp.Eq(lhs_cond, rhs_cond), n)
    mean_at_req = sp.simplify(sp.expand_log(mean_term.subs(n, n_req), force=True))
    D.steps.append(Step(
        "mean_budget", "Sample-size condition 8^3 k log(8k/delta) <= n eps^2 bounds the mean "
        "term at its boundary", "mean term at n = n_req", r"\text{mean term}", "=", mean_at_req,
        "[NFP Thm 4] condition", note="= (k+1) delta / (4k) <= delta/2 for k >= 1"))
    D.checks.append(_check("mean_budget", "at the condition's boundary the mean term is "
                           "(delta/2) (k+1)/(2k) <= delta/2", mean_at_req,
                           delta / 2 * (k + 1) / (2 * k)))
    # [NFP] App. B.2, step 4: the finite-class lemma in its quantile form
    quantile = sp.sqrt(A1_SQUARED) * sp.sqrt(C0 * (I / q + sp.log(2 / q)))
    D.steps.append(Step(
        "quantile", "The same lemma in its quantile form: P(corr(f^W) >= s_C0(q)) <= q for "
        "every q in (0, 1], with s_C0(q) = a1 sqrt(C0 (I/q + log(2/q)))",
        "s_C0(q)", r"s_{C_0}(q)", "=", quantile, "[NFP App. B.2, step 4]",
        note="the failure probability of the fit is (2k+2) exp(-n eps^2/(8^3 k)) + "
             "s_C0^{-1}(eps/8)"))
    # where I/q = log(2/q) both branches of Thm 3's max at t = s_C0(q) equal q: the max form
    # is the quantile form with t^2 halved elsewhere (I/q + log(2/q) <= 2 max of the two)
    at_tie = {I: q * sp.log(2 / q)}
    t_q = quantile.subs(at_tie)
    branches = [(2 * proxy * I / t_q**2).subs(at_tie), 2 * sp.exp(-t_q**2 / (2 * proxy))]
    tie = sp.simplify(sp.expand_log(sum(b - q for b in branches), force=True))
    D.checks.append(Check(
        "quantile_vs_max", "where I/q = log(2/q), both branches of [NFP Thm 3]'s max at "
        "t = s_C0(q) equal q (elsewhere the max form is weaker: I/q + log(2/q) <= 2 max)",
        tie, tie == 0))
    slope = sp.simplify(sp.diff(quantile**2, q))
    D.checks.append(Check(
        "quantile_decreasing", "s_C0(q) decreases in q, so s_C0^{-1}(eps/8) <= q iff "
        "s_C0(q) <= eps/8", sp.Integer(0) if slope.is_negative else slope,
        bool(slope.is_negative)))
    at_budget = quantile.subs({q: budget * delta, I: p_eff})
    D.steps.append(Step(
        "information_budget", "The information term takes the other delta/2: "
        "s_C0^{-1}(eps/8) <= delta/2 iff s_C0(delta/2) <= eps/8, with I = p_eff",
        "s_C0(delta/2)", r"s_{C_0}(\delta/2)", "=", at_budget, "[NFP App. B.2, step 4]",
        note="a1 sqrt((144 c L^2/(n d)) (2 p_eff/delta + log(4/delta))) <= eps/8"))
    L_star = solve_unique(sp.Eq(at_budget, thr * epsilon), L, square=True)
    D.steps.append(Step(
        "solve_L", "Solve s_C0(delta/2) = eps/8 for L (sympy solve)",
        "Lip(f^W)", r"\mathrm{Lip}(f^{\mathcal W})", ">=", L_star, "[NFP Thm 4]",
        note="eps/(96 a1 sqrt(2c)) sqrt(n d delta/(p_eff + (delta/2) log(4/delta))), "
             "96 a1 sqrt(2) = 1152"))
    D.checks.append(_check(
        "theorem", "solving for L gives [NFP Thm 4] as stated (eps / (1152 sqrt(c)) "
        "sqrt(n d delta / (p_eff + (delta/2) log(4/delta))), sqrt(delta) dependence)",
        L_star, sparse_lipschitz_bound()))
    # the other route: Thm 3's max form at t = eps/8 is max{A I, 2 exp(-1/A)}; both branches
    # <= delta/2 when A (p_eff + (delta/2) log(4/delta)) <= delta/2 (at A = 1/log(4/delta),
    # 2 exp(-1/A) = delta/2)
    A_value = sp.simplify(2 * proxy / (thr * epsilon) ** 2)
    route = solve_unique(sp.Eq(A_value * (p_eff + delta / 2 * sp.log(4 / delta)), delta / 2), L)
    ratio = sp.simplify(sparse_lipschitz_bound() / route)
    D.checks.append(_check(
        "max_form_route", "solving [NFP Thm 3]'s max form instead (each branch <= delta/2) "
        "gives the stated [NFP Thm 4] divided by sqrt(2)", route * sp.sqrt(2),
        sparse_lipschitz_bound()))
    first = [st.key for st in D.steps].index("quantile") + 1
    D.notes.append(
        f"Why the constant is 1152 and not 1152 sqrt(2): [NFP] App. B.2, step 4 applies the "
        f"finite-class lemma in its quantile form (steps {first} to {len(D.steps)}), which "
        "gives the stated Theorem 4 exactly. Solving the max form of "
        f"[NFP Thm 3] (step 4) instead, with each branch <= delta/2, gives Lip >= "
        f"{sp.sstr(route)}, smaller by the factor {sp.sstr(ratio)}: an artefact of that route "
        "(the max form halves t^2 wherever I/q != log(2/q)), not an error in the paper.")
    D.notes.append("Units: [XR] is stated in nats, [NFP] writes p_eff and I in bits; the toolkit "
                   "uses bits (mi_unit='nats' converts). The paper does not reconcile the two.")
    return D


def derivation(sparse: bool = False, constants: dict[str, sp.Expr] | None = None,
               ) -> Derivation:
    """Build the derivation of [BS Thm 3] (``sparse=False``) or [NFP Thm 4] (``sparse=True``).

    Parameters
    ----------
    sparse : bool, default False
        Which theorem.
    constants : dict, optional
        Override constants of the proof steps (keys of :data:`DENSE_CONSTANTS` or
        :data:`SPARSE_CONSTANTS`); a wrong constant makes the checks fail.

    Returns
    -------
    Derivation
        ``steps`` (each a sympy expression), ``checks`` (symbolic identities, ``passed``),
        ``notes``, and ``ok``.

    Examples
    --------
    >>> derivation().ok, derivation(sparse=True).ok
    (True, True)
    >>> derivation(constants={"threshold": sp.Rational(1, 4)}).ok
    False
    """
    from noprune_theory._validation import check_bool

    sparse = check_bool(sparse, "sparse")
    base = dict(SPARSE_CONSTANTS if sparse else DENSE_CONSTANTS)
    if constants:
        unknown = set(constants) - set(base)
        if unknown:
            raise ValueError(f"constants must be among {sorted(base)}, got {sorted(unknown)}")
        base.update(constants)
    return (_sparse if sparse else _dense)(base)


def verify_derivation(sparse: bool = False, constants: dict[str, sp.Expr] | None = None,
                      ) -> list[Check]:
    """Run the symbolic checks of a derivation; return the list of :class:`Check` results.

    Parameters
    ----------
    sparse : bool, default False
        Which theorem: [BS Thm 3] (False) or [NFP Thm 4] (True).
    constants : dict, optional
        Override constants of the proof steps, as in :func:`derivation`.

    Returns
    -------
    list of Check
        Every check of the derivation (all passed).

    Raises
    ------
    AssertionError
        If a check fails, naming it.
    """
    D = derivation(sparse=sparse, constants=constants)
    failed = [ch.name for ch in D.checks if not ch.passed]
    if failed:
        raise AssertionError(f"derivation of {D.theorem}: checks failed: {', '.join(failed)}")
    return D.checks

