"""Pruning: scores, exact selection, layer-wise densities, IMP and the ablations of [FDRC].

Where this sits in the data flow: a :class:`~noprune_theory.models.MaskedMLP` (B networks) goes
in, boolean masks (one per layer, batch axis first) come out; ``model.set_masks(masks)`` applies
them and :mod:`noprune_theory.training` trains the sparse networks. Data-agnostic masks (random,
ERK, SynFlow) have ``I(m; D) = 0`` in the sparse law of robustness (docs/theory.md, sec. 4).

Public names (the implementation lives in private modules):

- :func:`prune` -- the entry point; :func:`prune_at_sparsities` (several targets at once),
  :func:`available_methods`, :func:`register_method`; :func:`reuse_trainings` (trainings
  inside pruning that repeat one already run, e.g. IMP's first round and magnitude after
  training, are computed once).
- :func:`layer_densities` -- uniform, ER, ERK, balanced, pyramidal [GMB].
- Ablations: :func:`shuffle_masks`, :func:`reinitialize`, :func:`invert_scores`.
- Scores of plain arrays: :func:`magnitude_scores`, :func:`snip_scores`, :func:`grasp_scores`,
  :func:`synflow_scores`, :func:`random_scores`; exact selection: :func:`select_masks`.

The formulas and references are in ``docs/pruning.md``.
"""
from __future__ import annotations

from ._densities import DENSITY_SCHEMES, layer_densities, layer_shapes
from ._methods import (
    DEFAULT_TRAINING,
    IMPResult,
    PruningMethod,
    available_methods,
    compute_scores,
    get_method,
    grasp_hessian_gradient,
    invert_scores,
    prune,
    prune_at_sparsities,
    register_method,
    reinitialize,
    reuse_trainings,
)
from ._scores import grasp_scores, magnitude_scores, random_scores, snip_scores, synflow_scores
from ._selection import apportion_counts, keep_count, mask_counts, select_masks, shuffle_masks

__all__ = [
    "DEFAULT_TRAINING",
    "DENSITY_SCHEMES",
    "IMPResult",
    "PruningMethod",
    "apportion_counts",
    "available_methods",
    "compute_scores",
    "get_method",
    "grasp_hessian_gradient",
    "grasp_scores",
    "invert_scores",
    "keep_count",
    "layer_densities",
    "layer_shapes",
    "magnitude_scores",
    "mask_counts",
    "prune",
    "prune_at_sparsities",
    "random_scores",
    "register_method",
    "reinitialize",
    "reuse_trainings",
    "select_masks",
    "shuffle_masks",
    "snip_scores",
    "synflow_scores",
]
