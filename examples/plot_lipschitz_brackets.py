"""
How tight are the Lipschitz brackets?
=====================================

:func:`~noprune_theory.estimators.lipschitz_lower` returns a value every network attains
(a certified lower bound) and :func:`~noprune_theory.estimators.lipschitz_upper` a certified
upper bound; the true Lipschitz constant lies between them. For one-hidden-layer ReLU networks
at initialization the figure shows the ratio upper/lower against the width, for the pattern
bound (``method="patterns"``, exact maximization over activation patterns) and the spectral
bound (product of the layers' spectral norms).
"""
import matplotlib.pyplot as plt
import numpy as np

from noprune_theory.data import gaussian
from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
from noprune_theory.models import MaskedMLP

d, B = 5, 4
X = gaussian(200, d, seed=0)
widths = [2, 4, 6, 8, 10, 12]
ratios = {"patterns": [], "spectral": []}
for width in widths:
    net = MaskedMLP(d, (width,), B=B, seed=width)
    lower = lipschitz_lower(net, X, methods=("data", "ascent"), starts=16, steps=20).value
    for method in ratios:
        ratios[method].append(lipschitz_upper(net, method=method).value / lower)

fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
for (method, values), marker in zip(ratios.items(), "os"):
    values = np.asarray(values)
    ax.plot(widths, values.mean(axis=1), marker=marker, label=f"upper ({method}) / lower")
    ax.fill_between(widths, values.min(axis=1), values.max(axis=1), alpha=0.2)
ax.axhline(1, color="k", lw=0.8)
ax.set_xlabel("hidden width")
ax.set_ylabel("bracket width: upper / lower bound")
ax.set_title(f"one-hidden-layer ReLU nets at initialization, d = {d}, {B} nets per width")
ax.legend(fontsize=8)
plt.show()

# %%
# A ratio of 1 means the Lipschitz constant is known exactly. The band is the range over the
# networks of each width.
