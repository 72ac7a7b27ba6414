"""
The Lipschitz lower bounds against the number of samples
========================================================

The dense law [BS, Theorem 3] and the sparse law [NFP, Theorem 4] bound the Lipschitz constant
of any model that fits ``n`` noisy points below the noise level. Both grow like
:math:`\\sqrt{n}` at a fixed model size; the sample-size condition of each theorem says from
which ``n`` on the value is a guarantee rather than the formula evaluated outside its range.
See :func:`~noprune_theory.theory.robustness_bound`,
:func:`~noprune_theory.theory.sparse_robustness_bound` and
:func:`~noprune_theory.theory.sample_size_condition`.
"""
import warnings

import matplotlib.pyplot as plt
import numpy as np

from noprune_theory.theory import (
    SampleSizeWarning,
    robustness_bound,
    sample_size_condition,
    sparse_robustness_bound,
)

d, p, p_eff, eps = 100, 1e4, 1e4, 0.5
n = np.logspace(4, 10, 61)

with warnings.catch_warnings():
    # below the sample-size condition the theorems' formulas are drawn dashed, not as bounds
    warnings.simplefilter("ignore", SampleSizeWarning)
    dense = robustness_bound(n, d, p, eps=eps)
    sparse = sparse_robustness_bound(n, d, p_eff, eps=eps)

n_dense = sample_size_condition(n[0], eps=eps, theorem="dense").n_required
n_sparse = sample_size_condition(n[0], eps=eps, theorem="sparse").n_required

fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
curves = [(dense, n_dense, f"dense [BS Thm 3], p = {p:.0e}", "C0"),
          (sparse, n_sparse, f"sparse [NFP Thm 4], p_eff = {p_eff:.0e} bits", "C1")]
for values, n_req, label, color in curves:
    valid = n >= n_req
    ax.loglog(n[valid], values[valid], color=color, label=label)
    ax.loglog(n[~valid], values[~valid], color=color, ls="--")
    ax.axvline(n_req, color=color, lw=0.8, ls=":")
ax.loglog(n, eps * np.sqrt(n * d / p), color="0.5", lw=1,
          label=r"informal scale $\varepsilon\sqrt{nd/p}$")
ax.set_xlabel("number of samples n")
ax.set_ylabel("Lipschitz lower bound")
ax.set_title(f"d = {d}, eps = {eps}, delta = 0.01, c = 1 (dashed: condition fails)")
ax.legend(fontsize=8)
plt.show()

# %%
# The rigorous bounds sit far below the informal scale :math:`\varepsilon\sqrt{nd/p}`: their
# absolute constants (:math:`2^9` and 1152) and the logarithmic factors cost about three orders
# of magnitude. The dotted lines mark the ``n`` at which each sample-size condition holds.
print(f"dense condition holds from n = {n_dense:.3g}, sparse from n = {n_sparse:.3g}")
