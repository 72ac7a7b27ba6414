"""
A small memorization curve
==========================

[NFP] Sec. 5 compares how many random labels a pruned network can still memorize when its mask
is chosen with the data (magnitude after training) or without it (random). This is a tiny
version: ``n = 20`` Gaussian points in ``d = 10`` with random :math:`\\pm1` labels, a network with
one hidden layer of width 16, four networks per point, trained with Adam. See
:func:`~noprune_theory.pruning.prune` and :func:`~noprune_theory.training.train`; the full
experiment is the ``memorization`` simulation.
"""
import matplotlib.pyplot as plt
import numpy as np

from noprune_theory.data import gaussian, random_labels
from noprune_theory.models import MaskedMLP
from noprune_theory.pruning import prune
from noprune_theory.training import train

n, d, width, B = 20, 10, 16, 4
X = gaussian(n, d, seed=0)
y = random_labels(n, seed=1)
sparsities = [0.0, 0.5, 0.75, 0.9, 0.95]
fit = dict(loss="logistic", optimizer="adam", lr=1e-2, steps=1500, stop_when_memorized=True)

curves = {"magnitude_after_training": [], "random": []}
for method in curves:
    for sparsity in sparsities:
        net = MaskedMLP(d, (width,), B=B, seed=0)
        if sparsity > 0:
            options = {"data": (X, y), "loss": "logistic"} if method != "random" else {}
            net.set_masks(prune(net, method, sparsity=sparsity, seed=0, **options))
        result = train(net, X, y, **fit)
        curves[method].append(np.asarray(result.memorized, dtype=float))

fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
for (method, values), marker in zip(curves.items(), "os"):
    values = np.asarray(values)
    sem = values.std(axis=1, ddof=1) / np.sqrt(B)
    ax.errorbar(sparsities, values.mean(axis=1), yerr=sem, marker=marker, capsize=2,
                label=method.replace("_", " "))
ax.set_xlabel("sparsity (fraction of weights removed)")
ax.set_ylabel("fraction of points memorized")
ax.set_ylim(-0.05, 1.05)
ax.set_title(f"n = {n}, d = {d}, width {width}, {B} networks per point (mean ± s.e.)")
ax.legend(fontsize=8)
plt.show()
