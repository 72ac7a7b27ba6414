"""noprune-theory: the sparse Law of Robustness as numbers anyone can compute and check.

Subpackages are imported on demand so that ``import noprune_theory`` stays light: sympy, numba
and cupy load only when a function that needs them is called.

- :mod:`noprune_theory.theory` -- the dense and sparse bounds (sympy), evaluated and solved.
- :mod:`noprune_theory.estimators` -- mutual information, entropy and Lipschitz estimators.
- :mod:`noprune_theory.models`, :mod:`noprune_theory.training`, :mod:`noprune_theory.pruning`
  -- batched ensembles of masked networks.
- :mod:`noprune_theory.sims` -- the experiments.
"""
__version__ = "0.1.0"

__all__ = ["__version__"]
