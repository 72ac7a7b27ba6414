"""Numeric evaluation of the bounds: validated, vectorised over NumPy arrays, solvable.

This module sits between the symbolic theory and everything that needs numbers (the ``bound``
command, the estimators, the simulations). Each public function validates its arguments, then
calls a function that sympy generated from the expressions in :mod:`._dense`, :mod:`._sparse` or
:mod:`._masks` (see :mod:`._compiled`): there is no second, hand-written copy of a formula here.
It does not import sympy when the generated code is cached, except :func:`solve_for`, which
solves symbolically on demand.

Conventions: logs are natural; information and p_eff are in **bits**, as in [NFP]; pass
``mi_unit="nats"`` to give mutual information in nats (it is divided by ln 2).
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory._validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_scalar,
    describe_range,
)

from ._compiled import LOG_SPACE, compiled

__all__ = [
    "DEFAULTS",
    "SampleSizeWarning",
    "SampleSizeCondition",
    "robustness_bound",
    "sparse_robustness_bound",
    "effective_params",
    "required_params",
    "mask_entropy_bound",
    "two_layer_params",
    "lipschitz_param_constant",
    "parameter_set_diameter",
    "sample_size_condition",
    "dense_finite_class_probability",
    "sparse_finite_class_probability",
    "mi_to_bits",
    "solve_for",
]

#: Defaults of the optional arguments, shared by the API and ``noprune-theory bound``.
#: eps = 0.1: the model fits 0.1 below the noise level in mean squared error (labels in [-1, 1],
#: so sigma^2 <= 1; an exact interpolator has eps up to sigma^2, so 0.1 is conservative).
#: delta = 0.01: statements hold with probability 99%. c = 1: N(0, I_d / d) satisfies
#: c-isoperimetry with c = 1 (Gaussian concentration). W = J = 1: a normalised parametrisation;
#: they enter only through log(60 W J / eps). k = 1: one isoperimetric component.
DEFAULTS = {"eps": 0.1, "delta": 0.01, "c": 1.0, "W": 1.0, "J": 1.0, "k": 1}

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


class SampleSizeWarning(UserWarning):
    """A theorem's sample-size condition fails: the bound is printed but not guaranteed."""


class SampleSizeCondition(NamedTuple):  # numpydoc ignore=PR01
    """Result of :func:`sample_size_condition` (arrays when the inputs are arrays).

    Attributes
    ----------
    theorem : str
        ``"[BS Thm 3]"`` or ``"[NFP Thm 4]"``.
    statement : str
        The condition as text, e.g. ``"8^4 k log(8k/delta) <= n eps^2"``.
    holds : bool or ndarray of bool
        Whether ``lhs <= rhs``.
    lhs : float or ndarray
        The left side, 8^4 k log(8k/delta) (dense) or 8^3 k log(8k/delta) (sparse).
    rhs : float or ndarray
        The right side, n eps^2.
    n_required : float or ndarray
        The n at which the condition holds with equality.
    """

    theorem: str
    statement: str
    holds: bool | NDArray[np.bool_]
    lhs: float | NDArray[np.float64]
    rhs: float | NDArray[np.float64]
    n_required: float | NDArray[np.float64]


_THEOREMS = {
    "dense": ("[BS Thm 3]", "8^4 k log(8k/delta) <= n eps^2", "dense"),
    "sparse": ("[NFP Thm 4]", "8^3 k log(8k/delta) <= n eps^2", "sparse"),
}


def _check(value, name, **kwargs):
    """check_scalar for scalars; the same checks, element by element, for arrays.

    Arrays must hold real numbers: strings (``np.array(['1e4'])``), booleans, complex numbers
    and other objects are refused (TypeError or ValueError naming *name*), never converted.
    """
    rng = describe_range(kwargs.get("low"), kwargs.get("high"),
                         low_inclusive=kwargs.get("low_inclusive", True),
                         high_inclusive=kwargs.get("high_inclusive", True))
    kind = "integers" if kwargs.get("integer") else "numbers"
    try:
        if isinstance(value, (str, bytes)) or (np.ndim(value) == 0
                                               and not isinstance(value, np.ndarray)):
            return check_scalar(value, name, **kwargs)
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(f"{name} must be"):
            raise
        raise ValueError(f"{name} must be a number or an array of {kind} {rng}, got a ragged "
                         f"or unreadable {type(value).__name__}") from None
    if raw.dtype.kind == "O":
        for item in raw.ravel():
            check_scalar(item, name, **kwargs)  # names the first offending element
    elif raw.dtype.kind not in "iuf":
        error = ValueError if raw.dtype.kind == "b" else ArgumentTypeError
        raise error(f"{name} must be a number or an array of {kind} {rng}, got an array of "
                    f"dtype {raw.dtype} ({np.array2string(raw.ravel()[:3], threshold=3)}"
                    f"{', ...' if raw.size > 3 else ''})")
    arr = raw.astype(np.float64)
    for item in arr.ravel():
        # stops at the first offending element and reports it with check_scalar's message
        check_scalar(float(item), name, **kwargs)
    return arr


def _same_shape(**named):
    """ValueError naming the arguments whose shapes do not broadcast together."""
    shapes = {k: np.shape(v) for k, v in named.items() if np.ndim(v) > 0}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{k} {shape}" for k, shape in shapes.items())
        raise ValueError(f"{', '.join(shapes)} must have shapes that broadcast together, got "
                         f"{listed}") from None


def _pos(value, name):
    return _check(value, name, low=0, low_inclusive=False)


def _unit(value, name):
    return _check(value, name, low=0, high=1, low_inclusive=False, high_inclusive=False)


def _common(n, d, eps, delta, c):
    return (_check(n, "n", low=1), _check(d, "d", low=1), _unit(eps, "eps"),
            _unit(delta, "delta"), _pos(c, "c"))


def _check_net(W, J, eps):
    W, J = _pos(W, "W"), _pos(J, "J")
    _same_shape(eps=eps, W=W, J=J)
    # the net has (60 W J / eps)^p points; below one point the log turns negative and the
    # theorem's formula stops meaning anything
    bad = np.asarray(60 * np.asarray(W) * np.asarray(J) <= np.asarray(eps))
    if bad.any():
        raise ValueError("W*J must be > eps/60 (so that log(60 W J / eps) > 0), got "
                         f"W*J = {float(np.min(np.asarray(W) * np.asarray(J))):g}")
    return W, J


#: What each generated function computes, in the words of an error message.
_RESULTS = {
    "dense_bound": "the [BS Thm 3] bound",
    "dense_required_params": "the p at which the [BS Thm 3] bound equals lip",
    "dense_condition_lhs": "8^4 k log(8k/delta)",
    "condition_rhs": "n eps^2",
    "dense_required_samples": "the n the [BS Thm 3] sample-size condition needs",
    "dense_finite_probability": "the [BS Thm 2] probability bound",
    "sparse_bound": "the [NFP Thm 4] bound",
    "sparse_required_params": "the p_eff at which the [NFP Thm 4] bound equals lip",
    "sparse_condition_lhs": "8^3 k log(8k/delta)",
    "sparse_required_samples": "the n the [NFP Thm 4] sample-size condition needs",
    "sparse_finite_probability": "the [NFP Thm 3] probability bound",
    "effective_params": "p_eff",
    "informal_scale": "the informal scale eps sqrt(n d / p_eff)",
    "informal_required_params": "the informal p_eff = eps^2 n d / L^2",
    "mask_entropy": "log2 C(p, kept)",
    "mask_entropy_asymptote": "p h2(gamma)",
    "two_layer_params": "p = width (d + 2)",
    "lipschitz_param_constant": "J = R (w_max Q p)^D",
    "parameter_set_diameter": "W = 2 w_max sqrt(p)",
}

#: Results that are positive for every valid input: one below the smallest normal float64 has
#: underflowed (it would print as 0 or lose its digits), which is an error, not a bound of 0.
_POSITIVE = LOG_SPACE | {"dense_condition_lhs", "sparse_condition_lhs"}

_TINY = float(np.finfo(np.float64).tiny)


def _result_error(name, out):
    """ValueError if *out* holds NaN or inf, or a positive result underflowed; else None."""
    bad = ~np.isfinite(out)
    under = (out < _TINY) & ~bad if name in _POSITIVE else np.zeros_like(bad)
    if not (bad.any() or under.any()):
        return None
    how = ("is not a finite float64 (it overflows)" if bad.any()
           else f"underflows float64 (below {_TINY:.3g})")
    return ValueError(f"{_RESULTS[name]} {how} for these inputs; rescale them")


def _call(name, *args):
    """Evaluate the generated function *name*; ValueError instead of a NaN, inf or underflow."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args))
    # overflow and underflow warnings would precede the error below: it replaces them
    with np.errstate(all="ignore"):
        out = np.asarray(compiled(name)(*arrays), dtype=np.float64)
    error = _result_error(name, out)
    if error is not None:
        raise error
    return float(out) if out.ndim == 0 else out


def mi_to_bits(mi: ArrayLike, mi_unit: Literal["bits", "nats"] = "bits",
               ) -> float | NDArray[np.float64]:
    """Mutual information in bits: ``mi`` as is for ``"bits"``, ``mi / ln 2`` for ``"nats"``.

    Parameters
    ----------
    mi : float or array_like
        Mutual information, >= 0.
    mi_unit : {"bits", "nats"}, default "bits"
        The unit of ``mi``.

    Returns
    -------
    float or ndarray
        ``mi`` in bits, the unit of p_eff in [NFP Thm 4].

    Examples
    --------
    >>> round(mi_to_bits(math.log(2), "nats"), 12)
    1.0
    """
    check_choice(mi_unit, "mi_unit", ("bits", "nats"))
    mi = _check(mi, "mi", low=0)
    if mi_unit == "bits":
        return mi
    with np.errstate(over="ignore"):
        bits = np.asarray(mi, dtype=np.float64) / _LN2
    if not np.all(np.isfinite(bits)):
        raise ValueError(f"mi in bits (mi / ln 2) overflows float64, got mi = {mi!r} nats")
    return float(bits) if bits.ndim == 0 else bits


def _format_log10(log10):
    """A positive number given by its log10, in ``%.4g`` style even beyond float64's range."""
    if log10 < 300:
        return f"{10.0**log10:.4g}"
    exponent = math.floor(log10)
    return f"{10.0 ** (log10 - exponent):.4g}e+{exponent}"


def _warn_condition(n, eps, delta, k, theorem, check, *, context="", stacklevel=3):
    """Warn (or raise) when the sample-size condition of *theorem* fails somewhere.

    Compared in logs, log(lhs) <= log n + 2 log eps, so that a condition whose n eps^2
    underflows or whose required n overflows float64 still gets its verdict.
    """
    if check == "ignore":
        return
    label, statement, prefix = _THEOREMS[theorem]
    k = _check(k, "k", integer=True, low=1)
    log_lhs = np.log(_call(f"{prefix}_condition_lhs", k, delta))
    log_eps = np.log(np.asarray(eps, dtype=np.float64))
    holds = log_lhs <= np.log(np.asarray(n, dtype=np.float64)) + 2 * log_eps
    holds, log_required = np.broadcast_arrays(holds, log_lhs - 2 * log_eps)
    if holds.all():
        return
    needed = _format_log10(float(np.max(log_required)) / _LN10)
    msg = (f"{context}{label} sample-size condition {statement} fails "
           f"({int((~holds).sum())} of {holds.size} cases); the bound is only guaranteed "
           f"for n >= {needed}")
    if check == "raise":
        raise ValueError(msg)
    warnings.warn(msg, SampleSizeWarning, stacklevel=stacklevel)


def sample_size_condition(n: ArrayLike, *, eps: ArrayLike = DEFAULTS["eps"],
                          delta: ArrayLike = DEFAULTS["delta"], k: ArrayLike = DEFAULTS["k"],
                          theorem: Literal["dense", "sparse"] = "dense") -> SampleSizeCondition:
    """Check the sample-size condition of the dense or sparse theorem.

    Parameters
    ----------
    n : float or array_like
        Number of samples, >= 1.
    eps, delta : float or array_like, default 0.1, 0.01
        Fitting margin and failure probability, in (0, 1).
    k : int, default 1
        Number of isoperimetric mixture components.
    theorem : {"dense", "sparse"}, default "dense"
        ``"dense"``: [BS Thm 3], 8^4 k log(8k/delta) <= n eps^2.
        ``"sparse"``: [NFP Thm 4], 8^3 k log(8k/delta) <= n eps^2.

    Returns
    -------
    SampleSizeCondition
        ``holds`` (bool or bool array), ``lhs``, ``rhs`` = n eps^2, and ``n_required``, the n at
        which the condition holds with equality (solved by sympy).

    References
    ----------
    .. [BS] Bubeck & Sellke, NeurIPS 2021, Theorem 3.
    .. [NFP] Kumar, Luo & Sellke, ICML 2024, Theorem 4.

    Examples
    --------
    The issue's example: n = 1e4 and eps = 0.5 are not enough for [BS Thm 3]; 4096 log(800) / 0.25
    = 109,520.7 samples are.

    >>> cond = sample_size_condition(1e4, eps=0.5, delta=0.01)
    >>> bool(cond.holds), round(cond.n_required, 1)
    (False, 109520.7)
    """
    check_choice(theorem, "theorem", tuple(_THEOREMS))
    n = _check(n, "n", low=1)
    eps, delta = _unit(eps, "eps"), _unit(delta, "delta")
    k = _check(k, "k", integer=True, low=1)
    _same_shape(n=n, eps=eps, delta=delta, k=k)
    label, statement, prefix = _THEOREMS[theorem]
    lhs = _call(f"{prefix}_condition_lhs", k, delta)
    rhs = _call("condition_rhs", n, eps)
    n_required = _call(f"{prefix}_required_samples", k, eps, delta)
    holds = np.asarray(lhs) <= np.asarray(rhs)
    holds = bool(holds) if holds.ndim == 0 else holds
    return SampleSizeCondition(label, statement, holds, lhs, rhs, n_required)


def robustness_bound(n: ArrayLike, d: ArrayLike, p: ArrayLike, *, eps: ArrayLike = DEFAULTS["eps"],
                     delta: ArrayLike = DEFAULTS["delta"], c: ArrayLike = DEFAULTS["c"],
                     W: ArrayLike = DEFAULTS["W"], J: ArrayLike = DEFAULTS["J"],
                     k: ArrayLike = DEFAULTS["k"],
                     check: Literal["warn", "raise", "ignore"] = "warn",
                     ) -> float | NDArray[np.float64]:
    """Lipschitz lower bound of the dense Law of Robustness [BS, Theorem 3].

    Parameters
    ----------
    n : float or array_like
        Number of samples, >= 1.
    d : float or array_like
        Input dimension, >= 1.
    p : float or array_like
        Number of parameters, >= 0.
    eps : float or array_like, default 0.1
        The model fits below the noise level by eps: (1/n) sum (f(x_i) - y_i)^2 <= sigma^2 - eps.
    delta : float or array_like, default 0.01
        Failure probability, in (0, 1).
    c : float or array_like, default 1
        Isoperimetry constant of the data law (1 for N(0, I_d / d)).
    W, J : float or array_like, default 1
        Diameter of the parameter set and Lipschitz constant of w -> f_w in sup norm; W*J must
        exceed eps/60.
    k : int, default 1
        Number of isoperimetric mixture components (enters the sample-size condition).
    check : {"warn", "raise", "ignore"}, default "warn"
        What to do when the sample-size condition 8^4 k log(8k/delta) <= n eps^2 fails:
        warn with :class:`SampleSizeWarning` (naming the n needed), raise ValueError, or
        nothing (the caller checks with :func:`sample_size_condition`).

    Returns
    -------
    float or ndarray
        The lower bound on Lip(f) for every f in the class that fits below the noise level,
        with probability >= 1 - delta; broadcast over the array arguments.

    Notes
    -----
    [BS, Theorem 3]:

    .. math:: \\mathrm{Lip}(f) \\ge \\frac{\\varepsilon}{2^9\\sqrt{c}}
              \\sqrt{\\frac{n d}{p \\log(60 W J/\\varepsilon) + \\log(4/\\delta)}}

    Constants of the NeurIPS version. Evaluated by code that sympy generated from
    :func:`noprune_theory.theory.dense_lipschitz_bound`.

    References
    ----------
    .. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry",
       NeurIPS 2021, arXiv:2105.12806, Theorem 3.

    Examples
    --------
    n = 1e6, d = 100, p = 1e4, eps = 0.5: 0.5/512 sqrt(1e8 / (1e4 log 120 + log 400)) = 0.04463.

    >>> round(robustness_bound(1e6, 100, 1e4, eps=0.5), 4)
    0.0446
    """
    check_choice(check, "check", ("warn", "raise", "ignore"))
    n, d, eps, delta, c = _common(n, d, eps, delta, c)
    p = _check(p, "p", low=0)
    k = _check(k, "k", integer=True, low=1)
    W, J = _check_net(W, J, eps)
    _same_shape(n=n, d=d, p=p, eps=eps, delta=delta, c=c, W=W, J=J, k=k)
    _warn_condition(n, eps, delta, k, "dense", check)
    return _call("dense_bound", n, d, p, eps, delta, c, W, J)


def sparse_robustness_bound(n: ArrayLike, d: ArrayLike, p_eff: ArrayLike, *,
                            eps: ArrayLike = DEFAULTS["eps"], delta: ArrayLike = DEFAULTS["delta"],
                            c: ArrayLike = DEFAULTS["c"], k: ArrayLike = DEFAULTS["k"],
                            check: Literal["warn", "raise", "ignore"] = "warn",
                            ) -> float | NDArray[np.float64]:
    """Lipschitz lower bound of the sparse Law of Robustness [NFP, Theorem 4].

    Parameters
    ----------
    n, d : float or array_like
        Number of samples and input dimension, >= 1.
    p_eff : float or array_like
        Effective number of parameters in bits, >= 0 (see :func:`effective_params`).
    eps, delta : float or array_like, default 0.1, 0.01
        Fitting margin below the noise level and failure probability, in (0, 1).
    c : float or array_like, default 1
        Isoperimetry constant.
    k : int, default 1
        Number of mixture components (enters the sample-size condition).
    check : {"warn", "raise", "ignore"}, default "warn"
        What to do when 8^3 k log(8k/delta) <= n eps^2 fails (see :func:`robustness_bound`).

    Returns
    -------
    float or ndarray
        Lower bound on Lip(f^W) of the learner's output, when it fits below the noise level,
        with probability >= 1 - delta.

    Notes
    -----
    [NFP, Theorem 4], with a_1^2 = 72 so that 96 a_1 sqrt(2) = 1152:

    .. math:: \\mathrm{Lip}(f^{\\mathcal W}) \\ge \\frac{\\varepsilon}{96 a_1\\sqrt{2c}}
              \\sqrt{\\frac{n d \\delta}{p_{\\mathrm{eff}} + \\frac{\\delta}{2}\\log(4/\\delta)}}

    The dependence on delta is sqrt(delta) (from [XR]), not log(1/delta). p_eff is in bits as in
    [NFP]; the [XR] lemma the proof uses is usually stated in nats and the paper does not
    reconcile the two, so the bits convention is a choice (``mi_unit`` elsewhere).

    References
    ----------
    .. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune", ICML 2024, arXiv:2402.01089 (v1),
       Theorem 4.

    Examples
    --------
    n = 1e6, d = 100, p_eff = 100 bits, eps = 0.5, delta = 0.01:
    0.5/1152 sqrt(1e6 / (100 + 0.005 log 400)) = 0.04340.

    >>> round(sparse_robustness_bound(1e6, 100, 100, eps=0.5), 4)
    0.0434
    """
    check_choice(check, "check", ("warn", "raise", "ignore"))
    n, d, eps, delta, c = _common(n, d, eps, delta, c)
    k = _check(k, "k", integer=True, low=1)
    p_eff = _check(p_eff, "p_eff", low=0)
    _same_shape(n=n, d=d, p_eff=p_eff, eps=eps, delta=delta, c=c, k=k)
    _warn_condition(n, eps, delta, k, "sparse", check)
    return _call("sparse_bound", n, d, p_eff, eps, delta, c)


def effective_params(kept: ArrayLike, mi: ArrayLike = 0.0, *, eps: ArrayLike = DEFAULTS["eps"],
                     W: ArrayLike = DEFAULTS["W"], J: ArrayLike = DEFAULTS["J"],
                     mi_unit: Literal["bits", "nats"] = "bits") -> float | NDArray[np.float64]:
    """Effective number of parameters p_eff of a masked class [NFP, Theorem 4], in bits.

    Parameters
    ----------
    kept : float or array_like
        E||m||_1, the (expected) number of weights the mask keeps, >= 0.
    mi : float or array_like, default 0
        I(m; D), the mutual information between the mask and the data (or I(m; D | init) when
        the initialization is fixed), >= 0. Zero for data-agnostic masks (random, ERK, SynFlow).
    eps : float or array_like, default 0.1
        Fitting margin; sets the net resolution.
    W, J : float or array_like, default 1
        Diameter of the weight set and Lipschitz constant of the parametrization.
    mi_unit : {"bits", "nats"}, default "bits"
        Unit of ``mi``. The result is always in bits.

    Returns
    -------
    float or ndarray
        The effective number p_eff = I(m; D) + E||m||_1 log2(1 + 60 W J / eps), in bits.

    Notes
    -----
    The log2(1 + 60WJ/eps) per kept weight is the log-size of an eps/(8J)-net of each masked
    weight set, (1 + 60WJ/eps)^{||m||_1} [NFP, proof of Theorem 4].

    References
    ----------
    .. [NFP] Kumar, Luo & Sellke, ICML 2024, Theorem 4 and Section 4.1.

    Examples
    --------
    1000 kept weights, a data-agnostic mask, eps = 0.1: 1000 log2(601) = 9231.2 bits.

    >>> round(effective_params(1000), 1)
    9231.2
    >>> round(effective_params(1000, mi=math.log(2) * 100, mi_unit="nats"), 1)
    9331.2
    """
    kept = _check(kept, "kept", low=0)
    mi_bits = mi_to_bits(mi, mi_unit)
    eps = _unit(eps, "eps")
    W, J = _pos(W, "W"), _pos(J, "J")
    _same_shape(kept=kept, mi=mi_bits, eps=eps, W=W, J=J)
    return _call("effective_params", mi_bits, kept, eps, W, J)


def required_params(n: ArrayLike, d: ArrayLike, *, lip: ArrayLike = 1.0, sparse: bool = True,
                    eps: ArrayLike = DEFAULTS["eps"], delta: ArrayLike = DEFAULTS["delta"],
                    c: ArrayLike = DEFAULTS["c"], W: ArrayLike = DEFAULTS["W"],
                    J: ArrayLike = DEFAULTS["J"]) -> float | NDArray[np.float64]:
    """The (effective) number of parameters needed for an interpolator with Lip(f) <= ``lip``.

    Parameters
    ----------
    n, d : float or array_like
        Number of samples and input dimension, >= 1.
    lip : float or array_like, default 1
        Target Lipschitz constant, > 0 (1: an O(1)-Lipschitz interpolator).
    sparse : bool, default True
        True: the p_eff (bits) at which [NFP Thm 4] equals ``lip``. False: the p at which
        [BS Thm 3] equals ``lip`` (uses W and J).
    eps, delta, c, W, J : float or array_like
        As in :func:`robustness_bound`.

    Returns
    -------
    float or ndarray
        The solution of bound = lip for p_eff (or p), solved by sympy; 0 where the bound is
        below ``lip`` already at p_eff = 0, i.e. the theorem rules out no Lipschitz constant
        >= lip for any size.

    Examples
    --------
    n = 1e6, d = 100, eps = 0.5, delta = 0.01, lip = 0.25:
    p_eff = 0.25 * 1e8 * 0.01 / (1152^2 * 0.0625) - 0.005 log 400 = 2.984 bits.

    >>> round(required_params(1e6, 100, lip=0.25, eps=0.5), 2)
    2.98
    """
    sparse = check_bool(sparse, "sparse")
    n, d, eps, delta, c = _common(n, d, eps, delta, c)
    lip = _pos(lip, "lip")
    net = {} if sparse else dict(zip(("W", "J"), _check_net(W, J, eps)))
    _same_shape(n=n, d=d, lip=lip, eps=eps, delta=delta, c=c, **net)
    if sparse:
        out = _call("sparse_required_params", n, d, lip, eps, delta, c)
    else:
        out = _call("dense_required_params", n, d, lip, eps, delta, c, net["W"], net["J"])
    out = np.maximum(out, 0.0)
    return float(out) if np.ndim(out) == 0 else out


def mask_entropy_bound(p: ArrayLike, kept: ArrayLike | None = None, *,
                       sparsity: ArrayLike | None = None, asymptotic: bool = False,
                       ) -> float | NDArray[np.float64]:
    """Upper bound on I(m; D) for masks keeping ``kept`` of ``p`` weights, in bits [NFP Sec. 4.1].

    Parameters
    ----------
    p : int or array_like
        Number of prunable weights, >= 1.
    kept : int or array_like, optional
        Number of weights kept, in [0, p]. Give exactly one of ``kept`` and ``sparsity``.
    sparsity : float or array_like, optional
        The sparsity gamma, the fraction removed, in [0, 1); kept = (1 - gamma) p.
    asymptotic : bool, default False
        False: log2 C(p, kept) (evaluated through log-Gamma). True: p h2(gamma), which exceeds
        log2 C(p, kept) by O(log p).

    Returns
    -------
    float or ndarray
        Bits. I(m; D) <= H(m) <= log2 C(p, kept).

    Examples
    --------
    log2 C(10, 5) = log2 252 = 7.977; 10 h2(0.5) = 10.

    >>> round(mask_entropy_bound(10, 5), 3), mask_entropy_bound(10, sparsity=0.5, asymptotic=True)
    (7.977, 10.0)
    """
    if (kept is None) == (sparsity is None):
        raise ValueError("give exactly one of kept and sparsity")
    asymptotic = check_bool(asymptotic, "asymptotic")
    p = _check(p, "p", low=1)
    if kept is None:
        gamma = _check(sparsity, "sparsity", low=0, high=1, high_inclusive=False)
        _same_shape(p=p, sparsity=gamma)
        kept = (1 - np.asarray(gamma)) * np.asarray(p)
    else:
        kept = _check(kept, "kept", low=0)
        _same_shape(p=p, kept=kept)
        if np.any(np.asarray(kept) > np.asarray(p)):
            raise ValueError(f"kept must be a number in [0, p], got {kept!r} > p = {p!r}")
        gamma = 1 - np.asarray(kept) / np.asarray(p)
    if not asymptotic:
        return _call("mask_entropy", p, kept)
    # h2(0) = 0 is the limit the symbolic 0 log 0 leaves undefined: evaluated elsewhere (at 1/2)
    # and replaced, so that the NaN of 0 log 0 never reaches the result
    gamma = np.asarray(gamma, dtype=np.float64)
    inside = np.where(gamma > 0, gamma, 0.5)
    out = np.where(gamma > 0, _call("mask_entropy_asymptote", p, inside), 0.0)
    return float(out) if out.ndim == 0 else out


def two_layer_params(d: ArrayLike, width: ArrayLike, *, output_bias: bool = False,
                     ) -> int | NDArray[np.int64]:
    """Number of parameters p = width (d + 2) (+1 with an output bias) of a two-layer net [BS].

    Parameters
    ----------
    d : int or array_like
        Input dimension, >= 1.
    width : int or array_like
        Hidden width, >= 1.
    output_bias : bool, default False
        Count a bias of the output unit.

    Returns
    -------
    int or ndarray of int64
        The count of width * d input weights, width hidden biases and width output weights
        (+1 with the output bias).

    References
    ----------
    .. [BS] Bubeck & Sellke, NeurIPS 2021, Section 3 (two-layer networks).

    Examples
    --------
    >>> two_layer_params(100, 50), two_layer_params(100, 50, output_bias=True)
    (5100, 5101)
    """
    d = _check(d, "d", integer=True, low=1)
    width = _check(width, "width", integer=True, low=1)
    output_bias = check_bool(output_bias, "output_bias")
    _same_shape(d=d, width=width)
    out = _call("two_layer_params", d, width, 1.0 if output_bias else 0.0)
    return int(round(out)) if np.ndim(out) == 0 else np.rint(out).astype(np.int64)


def lipschitz_param_constant(p: ArrayLike, *, R: ArrayLike = 1.0, w_max: ArrayLike = 1.0,
                             Q: ArrayLike = 1.0, depth: ArrayLike = 2, W: ArrayLike | None = None,
                             ) -> float | NDArray[np.float64]:
    """J = R (w_max Q p)^D of [BS, Lemma 3.1] for depth-D nets with 1-Lipschitz activations.

    Parameters
    ----------
    p : float or array_like
        Number of parameters, >= 1.
    R : float, default 1
        Radius of the ball holding the inputs (N(0, I_d/d) points have norm close to 1).
    w_max : float, default 1
        The coordinate bound: weights lie in [-w_max, w_max]^p. Not the diameter W of
        [BS Thm 3], which for this cube is 2 w_max sqrt(p) (:func:`parameter_set_diameter`).
    Q : float, default 1
        Weight sharing (the largest number of times a parameter is used), >= 1.
    depth : int, default 2
        D, the number of layers.
    W : float, optional
        Deprecated name of ``w_max`` (it clashed with the diameter W of [BS Thm 3]); gives a
        :class:`FutureWarning`.

    Returns
    -------
    float or ndarray
        J, the Lipschitz constant of w -> f_w in sup norm over the input ball.

    References
    ----------
    .. [BS] Bubeck & Sellke, NeurIPS 2021, Lemma 3.1.

    Examples
    --------
    >>> lipschitz_param_constant(100, w_max=0.5, depth=2)
    2500.0
    """
    if W is not None:
        warnings.warn("lipschitz_param_constant(W=...) is the coordinate bound, now named w_max "
                      "(W is the parameter set's diameter in [BS Thm 3]); pass w_max=",
                      FutureWarning, stacklevel=2)
        w_max = W
    p = _check(p, "p", low=1)
    R, w_max = _pos(R, "R"), _pos(w_max, "w_max")
    Q = _check(Q, "Q", low=1)
    depth = _check(depth, "depth", integer=True, low=1)
    _same_shape(p=p, R=R, w_max=w_max, Q=Q, depth=depth)
    return _call("lipschitz_param_constant", p, R, w_max, Q, depth)


def parameter_set_diameter(p: ArrayLike, *, w_max: ArrayLike = 1.0) -> float | NDArray[np.float64]:
    """W = 2 w_max sqrt(p): the diameter of the parameter set [-w_max, w_max]^p [BS Thm 3].

    [BS] use two different numbers: the diameter W of the parameter set in Theorem 3 (the
    net of the union bound covers a set of diameter W) and the coordinate bound w_max of
    Lemma 3.1 (J = R (w_max Q p)^D). For the cube [-w_max, w_max]^p the diameter is the length
    of its main diagonal, 2 w_max sqrt(p).

    Parameters
    ----------
    p : float or array_like
        Number of parameters, >= 1.
    w_max : float or array_like, default 1
        The coordinate bound, > 0.

    Returns
    -------
    float or ndarray
        W, the Euclidean diameter.

    Examples
    --------
    >>> parameter_set_diameter(100, w_max=0.5)
    10.0
    """
    p = _check(p, "p", low=1)
    w_max = _pos(w_max, "w_max")
    _same_shape(p=p, w_max=w_max)
    return _call("parameter_set_diameter", p, w_max)


def dense_finite_class_probability(n: ArrayLike, d: ArrayLike, lip: ArrayLike, log_card: ArrayLike,
                                   *, eps: ArrayLike = DEFAULTS["eps"],
                                   c: ArrayLike = DEFAULTS["c"], k: ArrayLike = DEFAULTS["k"],
                                   ) -> float | NDArray[np.float64]:
    """[BS, Theorem 2]: bound on P(some f in F fits below sigma^2 - eps with Lip(f) <= lip).

    Parameters
    ----------
    n, d : float or array_like
        Number of samples and dimension, >= 1.
    lip : float or array_like
        L, > 0.
    log_card : float or array_like
        ``log |F|`` (natural log) of the finite class, >= 0.
    eps, c : float or array_like, default 0.1, 1
        Fitting margin and isoperimetry constant, as in :func:`robustness_bound`.
    k : int or array_like, default 1
        Number of isoperimetric mixture components, >= 1.

    Returns
    -------
    float or ndarray
        ``4k exp(-n eps^2 / (8^3 k)) + 2 exp(log|F| - eps^2 n d / (8^4 c L^2))``; may exceed 1.

    Examples
    --------
    n = 1e5, d = 100, L = 1, ``|F| = 1``, eps = 0.5: 4 exp(-48.83) + 2 exp(-610.35) = 2.49e-21.

    >>> f"{dense_finite_class_probability(1e5, 100, 1.0, 0.0, eps=0.5):.2g}"
    '2.5e-21'
    """
    n, d = _check(n, "n", low=1), _check(d, "d", low=1)
    lip, log_card = _pos(lip, "lip"), _check(log_card, "log_card", low=0)
    eps, c = _unit(eps, "eps"), _pos(c, "c")
    k = _check(k, "k", integer=True, low=1)
    _same_shape(n=n, d=d, lip=lip, log_card=log_card, eps=eps, c=c, k=k)
    return _call("dense_finite_probability", n, d, lip, log_card, eps, c, k)


def sparse_finite_class_probability(n: ArrayLike, d: ArrayLike, lip: ArrayLike, mi: ArrayLike, *,
                                    eps: ArrayLike = DEFAULTS["eps"], c: ArrayLike = DEFAULTS["c"],
                                    k: ArrayLike = DEFAULTS["k"],
                                    mi_unit: Literal["bits", "nats"] = "bits",
                                    ) -> float | NDArray[np.float64]:
    """[NFP, Theorem 3]: bound on P(fit below sigma^2 - eps) for a learner with Lip <= lip.

    Parameters
    ----------
    n, d : float or array_like
        Number of samples and dimension, >= 1.
    lip : float or array_like
        L, > 0.
    mi : float or array_like
        I, the information between the learner's output and the data, >= 0.
    eps, c : float or array_like, default 0.1, 1
        Fitting margin and isoperimetry constant, as in :func:`sparse_robustness_bound`.
    k : int or array_like, default 1
        Number of isoperimetric mixture components, >= 1.
    mi_unit : {"bits", "nats"}, default "bits"
        Unit of ``mi`` (see :func:`mi_to_bits`).

    Returns
    -------
    float or ndarray
        (2k+2) exp(-n eps^2/(8^3 k)) + max{2^7 a1^2 C0 I / eps^2, 2 exp(-eps^2/(2^7 a1^2 C0))},
        C0 = 144 c L^2 / (n d), a1^2 = 72.

    Examples
    --------
    n = 1e6, d = 100, L = 0.1, I = 10 bits, eps = 0.5: C0 = 1.44e-8; the information term
    2^7 * 72 * 1.44e-8 * 10 / 0.25 = 5.3084e-3 dominates.

    >>> round(sparse_finite_class_probability(1e6, 100, 0.1, 10, eps=0.5), 7)
    0.0053084
    """
    n, d = _check(n, "n", low=1), _check(d, "d", low=1)
    lip = _pos(lip, "lip")
    mi_bits = mi_to_bits(mi, mi_unit)
    eps, c = _unit(eps, "eps"), _pos(c, "c")
    k = _check(k, "k", integer=True, low=1)
    _same_shape(n=n, d=d, lip=lip, mi=mi_bits, eps=eps, c=c, k=k)
    return _call("sparse_finite_probability", n, d, lip, mi_bits, eps, c, k)


_SOLVABLE = {
    "dense": ("_dense", "dense_lipschitz_bound"),
    "sparse": ("_sparse", "sparse_lipschitz_bound"),
}


#: unknowns that sympy cannot isolate (eps sits in a prefactor and under a log; delta under a
#: square root and a log): solved numerically, by bisection on the generated bound
_NO_CLOSED_FORM = {("dense", "epsilon"), ("dense", "delta"), ("sparse", "delta")}


@functools.cache
def _solved(theorem, unknown):
    """(argument names, vectorised function, sympy solution or None) for bound(theorem) = L."""
    import importlib

    import sympy as sp

    from ._symbols import SYMBOLS, L, solve_unique

    module, builder = _SOLVABLE[theorem]
    expr = getattr(importlib.import_module(f"{__package__}.{module}"), builder)()
    names = sorted(s.name for s in expr.free_symbols) + ["L"]
    if unknown not in names:
        raise ValueError(f"unknown must be one of {', '.join(repr(s) for s in names)}, "
                         f"got {unknown!r}")
    args = [a for a in names if a != unknown]
    if (theorem, unknown) in _NO_CLOSED_FORM:
        bound = sp.lambdify([SYMBOLS[a] for a in names if a != "L"], expr, modules="numpy")
        return args, functools.partial(_bisect_unit, bound, names, unknown), None
    if unknown == "L":
        solution = expr
    else:
        solution = solve_unique(sp.Eq(expr, L), SYMBOLS[unknown], square=True)
        if any(isinstance(e, sp.Pow) and not e.exp.is_number
               for e in sp.preorder_traversal(solution)):
            # delta**(1/p) exp(n d eps^2 / (... p)): one exp of the summed logs does not
            # overflow where the factors do
            solution = sp.exp(sp.expand_log(sp.log(solution), force=True))
    func = sp.lambdify([SYMBOLS[a] for a in args], solution, modules="numpy")
    return args, func, solution


def _bisect_unit(bound, names, unknown, *values):
    """Solve bound(..., unknown, ...) = L for an unknown in (0, 1), elementwise.

    The bounds are monotone in eps and in delta, so bisection on u = log(unknown) in
    [log 1e-300, log(1 - 1e-16)] converges; 200 halvings take the bracket below 1e-50 in u.
    Where no root lies in (0, 1) the result is NaN (solve_for turns it into an error).
    """
    given = dict(zip([a for a in names if a != unknown], values))
    target = given.pop("L")
    order = [a for a in names if a != "L"]

    def f(u):
        given[unknown] = np.exp(u)
        return bound(*(given[a] for a in order)) - target

    lo = np.full(np.shape(target), math.log(1e-300))
    hi = np.full(np.shape(target), math.log1p(-1e-16))
    f_lo, f_hi = f(lo), f(hi)
    ok = np.sign(f_lo) * np.sign(f_hi) <= 0
    for _ in range(200):
        mid = (lo + hi) / 2
        f_mid = f(mid)
        left = np.sign(f_mid) == np.sign(f_lo)
        lo, f_lo = np.where(left, mid, lo), np.where(left, f_mid, f_lo)
        hi = np.where(left, hi, mid)
    return np.where(ok, np.exp((lo + hi) / 2), np.nan)


def _check_net_domain(theorem, unknown, full):
    """ValueError where 60 W J / eps <= 1 in *full* (dense only), as robustness_bound raises."""
    if theorem != "dense":
        return
    with np.errstate(all="ignore"):
        log_ratio = (np.log(60.0) + np.log(full["W"]) + np.log(full["J"])
                     - np.log(full["epsilon"]))
    bad = np.asarray(log_ratio <= 0)
    if not bad.any():
        return
    i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    at = {a: float(np.broadcast_to(full[a], bad.shape)[i]) for a in ("W", "J", "epsilon")}
    who = "the solution lies" if unknown in ("W", "J", "epsilon") else "the given values lie"
    raise ValueError(
        f"solve_for({theorem!r}, {unknown!r}): {who} outside the domain of [BS Thm 3], which "
        f"needs 60 W J / eps > 1 (the net's log-size p log(60 W J / eps) must be positive); "
        f"got 60 W J / eps = {60 * at['W'] * at['J'] / at['epsilon']:.4g} at "
        f"W = {at['W']:.4g}, J = {at['J']:.4g}, epsilon = {at['epsilon']:.4g}")


def _check_solution_domain(theorem, unknown, full, k, check):
    """The theorem's domain at the solution: raise or warn as the bound functions do.

    ``60 W J / eps > 1`` (dense) is part of the formula (below it the net's log is negative):
    ValueError, as :func:`robustness_bound` raises. The sample-size condition is the theorem's
    validity: :class:`SampleSizeWarning` (or ValueError with ``check="raise"``), as the bound
    functions warn.
    """
    _check_net_domain(theorem, unknown, full)
    shown = "" if unknown == "L" else f" = {_format_values(full[unknown])}"
    _warn_condition(full["n"], full["epsilon"], full["delta"], k, theorem, check,
                    context=f"solve_for({theorem!r}, {unknown!r}){shown}: ", stacklevel=4)


def _format_values(x):
    x = np.asarray(x, dtype=np.float64)
    return f"{float(x):.6g}" if x.ndim == 0 else np.array2string(x, precision=6)


def solve_for(theorem: Literal["dense", "sparse"], unknown: str, *, k: ArrayLike = DEFAULTS["k"],
              check: Literal["warn", "raise", "ignore"] = "warn", **values: ArrayLike,
              ) -> float | NDArray[np.float64]:
    """Solve ``bound(theorem) = L`` for any one variable, given the others (sympy, cached).

    Parameters
    ----------
    theorem : {"dense", "sparse"}
        [BS Thm 3] (variables n, d, p, epsilon, delta, c, W, J, L) or [NFP Thm 4]
        (n, d, p_eff, epsilon, delta, c, L).
    unknown : str
        The variable to solve for (``"L"`` evaluates the bound itself).
    k : int, default 1
        Number of isoperimetric mixture components; enters only the sample-size condition.
    check : {"warn", "raise", "ignore"}, default "warn"
        What to do when the solution (with the given values) violates the theorem's
        sample-size condition, as in :func:`robustness_bound`.
    **values
        Every other variable, by its symbol name, as numbers or arrays.

    Returns
    -------
    float or ndarray
        The solution.

    Raises
    ------
    ValueError
        Where no solution exists in the variable's range; and where the solution lies outside
        the formula's domain, for the dense theorem 60 W J / eps <= 1 (the same condition
        :func:`robustness_bound` refuses as input).

    Warns
    -----
    SampleSizeWarning
        Where the solution violates the theorem's sample-size condition (8^4 or 8^3
        k log(8k/delta) <= n eps^2): the equation is solved, but the theorem says nothing
        there. For example the n at which the dense bound reaches a target may be far below
        the n the theorem needs; the warning names that n. ``check="raise"`` makes it a
        ValueError, ``check="ignore"`` silences it.

    Notes
    -----
    This imports sympy: the first call per (theorem, unknown) solves symbolically with
    :func:`sympy.solve` and lambdifies the result (cached for the process). eps (dense) and
    delta (both) have no closed form; they are found by bisection on the lambdified bound, which
    is monotone in each, to the last few ulps. The specialised :func:`required_params` and
    :func:`sample_size_condition` do not import sympy.

    Examples
    --------
    The n at which the sparse bound reaches L = 1 for d = 100, p_eff = 1e4 bits, eps = 0.5:
    n = 1152^2 (1e4 + 0.005 log 400) / (0.25 * 100 * 0.01) = 5.3084e10.

    >>> f"{solve_for('sparse', 'n', d=100, p_eff=1e4, epsilon=0.5, delta=0.01, c=1, L=1):.5g}"
    '5.3084e+10'
    """
    check_choice(theorem, "theorem", tuple(_SOLVABLE))
    check_choice(check, "check", ("warn", "raise", "ignore"))
    k = _check(k, "k", integer=True, low=1)
    args, func, _ = _solved(theorem, unknown)
    missing = [a for a in args if a not in values]
    extra = sorted(set(values) - set(args))
    if missing or extra:
        raise ValueError(f"solve_for({theorem!r}, {unknown!r}) needs exactly {', '.join(args)}; "
                         f"missing {missing}, unexpected {extra}")
    ranges = {"epsilon": dict(low=0, high=1, low_inclusive=False, high_inclusive=False),
              "delta": dict(low=0, high=1, low_inclusive=False, high_inclusive=False),
              "n": dict(low=1), "d": dict(low=1), "p": dict(low=0), "p_eff": dict(low=0)}
    checked = [_check(values[a], a, **ranges.get(a, dict(low=0, low_inclusive=False)))
               for a in args]
    _same_shape(**dict(zip(args, checked)))
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in checked))
    full = dict(zip(args, arrays))
    if unknown not in ("W", "J", "epsilon"):
        _check_net_domain(theorem, unknown, full)  # before solving: the inputs' fault
    with np.errstate(all="ignore"):
        out = np.asarray(func(*arrays), dtype=np.float64)
    if np.isinf(out).any():
        raise ValueError(f"solve_for({theorem!r}, {unknown!r}): the solution overflows float64 "
                         "for these values")
    if unknown != "L":
        try:
            _check(out, unknown, **ranges.get(unknown, dict(low=0, low_inclusive=False)))
        except ValueError as exc:
            raise ValueError(f"solve_for({theorem!r}, {unknown!r}): no solution in the range of "
                             f"{unknown} for these values ({exc})") from None
    full[unknown] = out
    _check_solution_domain(theorem, unknown, full, k, check)
    return float(out) if out.ndim == 0 else out
