"""Information estimators: mutual information, entropy (and, from other modules, Lipschitz
bounds and mask-data information).

Where this sits: measured quantities of the No Free Prune bound (``I(m; D)`` of a mask and the
data) and general-purpose estimators others can check their numbers against. Units are nats
unless ``base=`` says otherwise. See ``docs/estimators.md`` for formulas, bias and variance,
and when to use which.

This file only re-exports names from private modules: one line per module.
"""
from __future__ import annotations

from noprune_theory.estimators._categories import conditional_entropy
from noprune_theory.estimators._discrete import CORRECTIONS, plugin_entropy, plugin_mi
from noprune_theory.estimators._gaussian import gaussian_entropy, gaussian_mi, gaussian_mi_fit
from noprune_theory.estimators._knn import (
    conditional_mi,
    knn_entropy,
    ksg_mi,
    ksg_mi_batch,
    mixed_mi,
)
from noprune_theory.estimators._lipschitz import (
    LipschitzLowerResult,
    LipschitzUpperResult,
    input_gradients,
    lipschitz_lower,
    lipschitz_upper,
)
from noprune_theory.estimators._mask_information import (
    MaskInformation,
    enumerate_datasets,
    mask_codes,
    mask_data_information,
    mask_information_exact,
    per_weight_entropy,
    weighted_entropy,
)
from noprune_theory.estimators._noise import (
    LawCheck,
    law_of_robustness_check,
    measured_effective_params,
    noise_correlation,
)
from noprune_theory.estimators._permutation import PermutationResult, permutation_null
from noprune_theory.estimators._preprocess import log_base_divisor

__all__ = [
    "CORRECTIONS",
    "PermutationResult",
    "conditional_entropy",
    "conditional_mi",
    "gaussian_entropy",
    "gaussian_mi",
    "gaussian_mi_fit",
    "knn_entropy",
    "ksg_mi",
    "ksg_mi_batch",
    "log_base_divisor",
    "mixed_mi",
    "permutation_null",
    "plugin_entropy",
    "plugin_mi",
    "LipschitzLowerResult",
    "LipschitzUpperResult",
    "input_gradients",
    "lipschitz_lower",
    "lipschitz_upper",
    "MaskInformation",
    "enumerate_datasets",
    "mask_codes",
    "mask_data_information",
    "mask_information_exact",
    "per_weight_entropy",
    "weighted_entropy",
    "LawCheck",
    "law_of_robustness_check",
    "measured_effective_params",
    "noise_correlation",
]
