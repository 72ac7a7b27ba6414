"""Lipschitz constants of trained networks, bounded from both sides.

Where this sits in the data flow: a trained (and pruned) :class:`~noprune_theory.models.MaskedMLP`
comes in; its measured Lipschitz constant goes beside the lower bound of the (sparse) law of
robustness (:func:`noprune_theory.theory.sparse_robustness_bound`), for the same network.

- :func:`lipschitz_lower` -- certified lower bounds: every input-gradient norm at a point where
  ``f`` is differentiable, and every difference quotient ``|f(x) - f(x')| / ||x - x'||``, is a
  lower bound of ``Lip(f)``. Points: the data, random points, and the end points of projected
  gradient ascent on ``||grad f(x)||`` from many starts; pairs: every pair of data points.
- :func:`lipschitz_upper` -- upper bounds: the product of spectral norms (any depth),
  ``sum_j |a_j| ||w_j||`` (one hidden layer), and the activation-pattern bound
  ``max_s ||W diag(s) a||`` (one hidden layer), which is the exact Lipschitz constant when every
  activation pattern is realizable; enumerated for small widths, branch and bound beyond.
- :func:`input_gradients` -- ``grad_x f`` of every network at every point (analytic, batched).

All the array code takes its functions from the model's namespace (NumPy, CuPy,
``array_api_strict``). Norms are Euclidean, in input units per output unit.

The code lives in three modules: ``_lipschitz_common`` (checks, forward pass, input gradients),
``_lipschitz_lower`` and ``_lipschitz_upper``; this module re-exports their public names.
"""
from __future__ import annotations

from noprune_theory.estimators._lipschitz_common import (
    LOWER_METHODS,
    UPPER_METHODS,
    input_gradients,
)
from noprune_theory.estimators._lipschitz_lower import LipschitzLowerResult, lipschitz_lower
from noprune_theory.estimators._lipschitz_upper import LipschitzUpperResult, lipschitz_upper

__all__ = [
    "LOWER_METHODS",
    "UPPER_METHODS",
    "LipschitzLowerResult",
    "LipschitzUpperResult",
    "input_gradients",
    "lipschitz_lower",
    "lipschitz_upper",
]
