"""The experiments (installed as ``noprune_theory.sims``): one module per simulation."""
