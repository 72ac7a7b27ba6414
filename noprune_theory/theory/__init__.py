"""The dense and sparse Law of Robustness: symbolic, evaluated, solved, derived.

Numeric API (no sympy import once the generated code is cached; see :mod:`._compiled`):

- :func:`robustness_bound` -- [BS Thm 3], dense Lipschitz lower bound.
- :func:`sparse_robustness_bound` -- [NFP Thm 4], sparse Lipschitz lower bound.
- :func:`effective_params` -- p_eff = I(m; D) + E||m||_1 log2(1 + 60 W J / eps), bits.
- :func:`required_params` -- the p_eff (or p) needed for an interpolator with Lip <= L.
- :func:`mask_entropy_bound` -- log2 C(p, kept) and its asymptote p h2(gamma) [NFP Sec. 4.1].
- :func:`sample_size_condition`, :func:`dense_finite_class_probability` [BS Thm 2],
  :func:`sparse_finite_class_probability` [NFP Thm 3], :func:`two_layer_params`,
  :func:`lipschitz_param_constant` [BS Lemma 3.1] (J from the coordinate bound w_max),
  :func:`parameter_set_diameter` (the diameter W = 2 w_max sqrt(p) of [BS Thm 3]),
  :func:`solve_for`, :func:`mi_to_bits`.
- :func:`bound_report`, :func:`format_bound_text`, :func:`format_bound_latex` -- every number
  of ``noprune-theory bound`` as a dict, and its text and LaTeX layouts;
  :func:`format_derivation_text`, :func:`format_derivation_latex` lay out a
  :func:`derivation` (what ``noprune-theory derive`` prints).

Symbolic API (imports sympy on first access): the expressions ``dense_lipschitz_bound``,
``dense_finite_class_probability_expression``, ``sparse_lipschitz_bound``,
``sparse_finite_class_probability_expression``, ``effective_params_expression``,
``mask_entropy_expression``, ``mask_entropy_asymptote``, ``two_layer_params_expression``,
``lipschitz_param_constant_expression`` (functions returning sympy expressions), ``SYMBOLS``,
and the derivations ``derivation(sparse=False)`` / ``verify_derivation(sparse=False)``.

Units: logs are natural; information and p_eff are in bits (as in [NFP]); functions taking a
mutual information accept ``mi_unit="nats"``.
"""
from __future__ import annotations

from ._numeric import (
    DEFAULTS,
    SampleSizeCondition,
    SampleSizeWarning,
    dense_finite_class_probability,
    effective_params,
    lipschitz_param_constant,
    mask_entropy_bound,
    mi_to_bits,
    parameter_set_diameter,
    required_params,
    robustness_bound,
    sample_size_condition,
    solve_for,
    sparse_finite_class_probability,
    sparse_robustness_bound,
    two_layer_params,
)
from ._report import (
    bound_report,
    format_bound_latex,
    format_bound_text,
    format_derivation_latex,
    format_derivation_text,
)

#: symbolic names -> (private module, attribute); imported on first access (they need sympy)
_LAZY = {
    "SYMBOLS": ("_symbols", "SYMBOLS"),
    "latex": ("_symbols", "latex"),
    "dense_lipschitz_bound": ("_dense", "dense_lipschitz_bound"),
    "dense_finite_class_probability_expression": ("_dense", "dense_finite_class_probability"),
    "dense_sample_condition": ("_dense", "dense_sample_condition"),
    "net_log_size": ("_dense", "net_log_size"),
    "sparse_lipschitz_bound": ("_sparse", "sparse_lipschitz_bound"),
    "sparse_finite_class_probability_expression": ("_sparse", "sparse_finite_class_probability"),
    "sparse_sample_condition": ("_sparse", "sparse_sample_condition"),
    "effective_params_expression": ("_sparse", "effective_params_expression"),
    "mask_entropy_expression": ("_masks", "mask_entropy_expression"),
    "mask_entropy_asymptote": ("_masks", "mask_entropy_asymptote"),
    "binary_entropy": ("_masks", "binary_entropy"),
    "two_layer_params_expression": ("_masks", "two_layer_params_expression"),
    "lipschitz_param_constant_expression": ("_masks", "lipschitz_param_constant_expression"),
    "Derivation": ("_derivation", "Derivation"),
    "derivation": ("_derivation", "derivation"),
    "verify_derivation": ("_derivation", "verify_derivation"),
}

__all__ = [
    "DEFAULTS",
    "SampleSizeCondition",
    "SampleSizeWarning",
    "bound_report",
    "dense_finite_class_probability",
    "effective_params",
    "format_bound_latex",
    "format_bound_text",
    "format_derivation_latex",
    "format_derivation_text",
    "lipschitz_param_constant",
    "mask_entropy_bound",
    "mi_to_bits",
    "parameter_set_diameter",
    "required_params",
    "robustness_bound",
    "sample_size_condition",
    "solve_for",
    "sparse_finite_class_probability",
    "sparse_robustness_bound",
    "two_layer_params",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
