"""Measured Lipschitz constants of trained two-layer networks beside the law of robustness.

Setting: n = 100 points from N(0, I_d / d), d = 10, pure-noise labels y = z ~ N(0, 1)
(sigma^2 = 1, so fitting below the noise level means memorizing noise); two-layer ReLU networks
(standard scaling) trained on the MSE with Adam (lr 1e-2, 3000 full-batch steps), 4 seeds per
setting. (a) against the width k (dense); (b) against the density of a random mask at width 64
(pruned at initialization, then trained). For every network: the certified lower bound
(``lipschitz_lower``: data, random points, gradient ascent, pairs, and the point realizing the
maximizing activation pattern when a linear program finds one), the pattern upper bound
(``lipschitz_upper``: enumerated up to 20 active units, branch and bound beyond), the spectral
and sum-of-norms bounds, and the lower bound of [NFP, Theorem 4] at the network's measured p_eff
(``law_of_robustness_check``, I(m; D) = 0 for random masks, eps = 0.1, delta = 0.01, c = 1).

Run: ``python docs/figures/lipschitz_figures.py`` (writes lipschitz_bounds.png, .pdf and
.json next to this file; fixed seeds).
"""
import json
from pathlib import Path

import numpy as np

from noprune_theory import __version__
from noprune_theory.backend import to_numpy
from noprune_theory.data import gaussian, noisy_labels
from noprune_theory.estimators import law_of_robustness_check
from noprune_theory.models import MaskedTwoLayer
from noprune_theory.pruning import prune
from noprune_theory.training import train

CONFIG = {
    "n": 100, "d": 10, "sigma": 1.0, "data_seed": 0, "B": 4,
    "widths": [2, 4, 8, 16, 32, 64],
    "sparse_width": 64, "densities": [1.0, 0.5, 0.25, 0.125, 0.0625],
    "train": {"optimizer": "adam", "lr": 1e-2, "steps": 3000},
    "eps": 0.1, "delta": 0.01, "c": 1.0,
    "lower": {"starts": 64, "steps": 30, "n_random": 512, "seed": 0,
              "methods": ["data", "random", "ascent", "pairs", "patterns"]},
}


def _measure(net, X, y, cfg):
    train(net, X, y, loss="mse", seed=0, **cfg["train"])
    chk = law_of_robustness_check(net, X, y, 0.0, eps=cfg["eps"], delta=cfg["delta"],
                                  c=cfg["c"], sigma2=cfg["sigma"] ** 2,
                                  lower_options=cfg["lower"])
    from noprune_theory.estimators import lipschitz_upper

    up = lipschitz_upper(net)
    return {
        "lower": chk.lipschitz_lower.tolist(),
        "upper": chk.lipschitz_upper.tolist(),
        "exact": up.exact.tolist(),
        "spectral": up.by_method["spectral"].tolist(),
        "sum_norms": up.by_method["sum_norms"].tolist(),
        "bound": chk.bound.tolist(),
        "p_eff": chk.p_eff.tolist(),
        "mse": chk.mse.tolist(),
        "fits": chk.fits.tolist(),
        "kept": to_numpy(net.kept_count()).tolist(),
    }


def measure(cfg=CONFIG):
    X = gaussian(cfg["n"], cfg["d"], seed=cfg["data_seed"])
    y = noisy_labels(X, None, sigma=cfg["sigma"], seed=cfg["data_seed"] + 1)
    out = {"width": {}, "density": {}}
    for k in cfg["widths"]:
        net = MaskedTwoLayer(cfg["d"], k, B=cfg["B"], seed=k)
        out["width"][k] = r = _measure(net, X, y, cfg)
        print(f"width {k:4d}: lower {np.mean(r['lower']):.3f} upper {np.mean(r['upper']):.3f} "
              f"exact {sum(r['exact'])}/{cfg['B']} mse {np.mean(r['mse']):.3f} "
              f"bound {np.mean(r['bound']):.2e}")
    for rho in cfg["densities"]:
        net = MaskedTwoLayer(cfg["d"], cfg["sparse_width"], B=cfg["B"], seed=7)
        if rho < 1:
            net.set_masks(prune(net, "random", sparsity=1 - rho, seed=1))
        out["density"][rho] = r = _measure(net, X, y, cfg)
        print(f"density {rho:6.4f}: kept {np.mean(r['kept']):.0f} lower "
              f"{np.mean(r['lower']):.3f} upper {np.mean(r['upper']):.3f} mse "
              f"{np.mean(r['mse']):.3f} bound {np.mean(r['bound']):.2e}")
    return out


def plot(res, cfg=CONFIG, out=None):
    out = Path(__file__).with_name("lipschitz_bounds") if out is None else Path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    series = [("lower", "certified lower bound", "C0", "o-"),
              ("upper", "pattern upper bound", "C1", "s-"),
              ("sum_norms", r"$\sum_j |a_j|\,\|w_j\|$", "C2", "^--"),
              ("spectral", r"$\|W\|_2\,\|a\|$", "C3", "v--"),
              ("bound", "[NFP] Thm 4 lower bound at measured $p_{eff}$", "k", "x:")]
    for ax, key, xlab in ((axes[0], "width", "width k (hidden units)"),
                          (axes[1], "density", "kept weights $\\|m\\|_1$ (random mask, k = 64)")):
        table = res[key]
        xs = list(table)
        xv = [float(np.mean(table[x]["kept"])) for x in xs] if key == "density" else \
            [float(x) for x in xs]
        for name, label, color, style in series:
            vals = np.array([table[x][name] for x in xs])
            ax.errorbar(xv, vals.mean(axis=1), yerr=vals.std(axis=1, ddof=1) / np.sqrt(
                vals.shape[1]), fmt=style, color=color, label=label, ms=4, capsize=2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlab)
        ax.set_ylabel("Lipschitz constant (output units per unit input distance)")
        for x, xval in zip(xs, xv):
            frac = np.mean(table[x]["fits"])
            if frac < 1:
                ax.annotate(f"{frac:.0%} fit", (xval, np.mean(table[x]["lower"])),
                            textcoords="offset points", xytext=(0, -14), fontsize=7,
                            ha="center")
    axes[0].set_title("(a) dense, trained on noise: against width", fontsize=9)
    axes[1].set_title("(b) random masks at width 64: against kept weights", fontsize=9)
    axes[0].legend(fontsize=7, loc="center right")
    fig.suptitle(f"n = {cfg['n']}, d = {cfg['d']}, labels = N(0,1) noise; mean $\\pm$ s.e. over "
                 f"{cfg['B']} networks; 'x% fit' marks settings where not all networks fit "
                 f"below $\\sigma^2 - \\varepsilon$", fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=130)
    fig.savefig(out.with_suffix(".pdf"))
    out.with_suffix(".json").write_text(json.dumps(
        {"config": cfg, "results": res, "version": __version__}, indent=1, default=str))


if __name__ == "__main__":
    plot(measure())
