"""Measured Lipschitz constants of pruned two-layer nets that fit noise, beside [NFP] Theorem 4.

Where this sits: the heart of the reproduction. The sparse law of robustness ([NFP] Theorem 4,
docs/theory.md#theory-sparse) says that any masked network ``f^W`` fitting the labels below
the noise level, ``(1/n) sum_i (f(x_i) - y_i)^2 <= sigma^2 - eps``, on c-isoperimetric data
has

    Lip(f^W) >= eps / (1152 sqrt(c)) * sqrt( n d delta / (p_eff + (delta/2) log(4/delta)) ),
    p_eff = I(m; D) + ||m||_1 log2(1 + 60 W J / eps)     (bits),

informally ``Lip ~ sqrt(n d / p_eff)``. This simulation trains batches of pruned two-layer ReLU
networks (:class:`noprune_theory.models.MaskedTwoLayer`) until they fit below the noise level,
measures certified lower and upper bounds of their Lipschitz constants, and puts them beside
the theorem's bound at the measured ``p_eff``.

Protocol of one cell (method, sparsity, n, d, width, seed):

1. One dataset of ``n`` points, shared by the ``nets`` networks of the cell: ``x ~ N(0, I_d/d)``
   (:func:`noprune_theory.data.gaussian`) or uniform on the unit sphere
   (:func:`noprune_theory.data.sphere`); labels ``sign``: ``y = +-1`` uniformly (noise level
   ``sigma^2 = 1``), ``noise``: ``y = sigma z``, ``linear``: ``y = x_1 + sigma z``
   (:func:`noprune_theory.data.noisy_labels`, noise level ``sigma^2``). The data depend on
   (seed, n, d, data, labels) only, so every method and sparsity sees the same problems.
2. ``nets`` two-layer ReLU networks ``d -> width -> 1`` (standard He initialization, seed =
   the cell's seed: paired across methods), pruned to ``sparsity`` with ``method``
   (:func:`noprune_theory.pruning.prune`; global ranking, exact kept count; the data-dependent
   methods see (X, y) and the MSE loss; IMP and magnitude after training train with step 3's
   settings). ``sparsity = 0`` is the dense network.
3. Train from the initialization with Adam (full batch, MSE) until the mean squared error is
   at most ``sigma^2 - eps`` (each network stops on its own) or ``steps`` updates.
4. Measure, per network: the training MSE and whether it fits below the noise level; a
   certified lower bound of Lip (:func:`~noprune_theory.estimators.lipschitz_lower`: gradient
   norms at the data, at random points, projected gradient ascent and difference quotients of
   pairs) and an upper bound (:func:`~noprune_theory.estimators.lipschitz_upper`: the smallest
   of the spectral, sum-of-norms and activation-pattern bounds); ``p_eff`` of the theorem from
   the measured weights (:func:`~noprune_theory.estimators.measured_effective_params`:
   ``W = 2 w_max sqrt(p)``, ``J = R (w_max p)^2``, R the largest data norm); ``I(m; D)``; and
   the bound :func:`noprune_theory.theory.sparse_robustness_bound` at these numbers (the
   sample-size condition is recorded, not enforced).

``I(m; D)`` per record (``mi_kind`` says which): ``zero`` for data-agnostic masks (random,
magnitude at initialization, SynFlow) and for the dense network: the mask is a function of the
initialization alone, so ``I(m; D | init) = 0`` exactly. ``ceiling`` for data-dependent masks
(SNIP, magnitude after training, IMP): ``log2 C(p, k)`` bits, an upper bound of
``H(m | init) >= I(m; D | init)`` for a mask keeping k of p weights ([NFP] Sec. 4.1). A
resampling estimate (:func:`~noprune_theory.estimators.mask_data_information`) is not used:
masks of hundreds of weights are all distinct across datasets, so the plug-in saturates at
log2(number of datasets), which says nothing. The ceiling is at most one bit per prunable
weight, ``p h2(k/p)``: 2 bits per kept weight at sparsity 0.5, 4.7 at sparsity 0.9, against
``log2(1 + 60 W J / eps)``, 27 to 38 bits per kept weight in the paper preset, so p_eff is
dominated by the net-size term either way.

Values per cell (lists hold one value per network): ``mse``, ``fits``, ``lip_lower``,
``lip_upper``, ``upper_method``, ``kept``, ``mi_bits``, ``mi_kind``, ``p_eff`` (bits),
``bits_per_weight`` (``log2(1 + 60 W J / eps)``), ``bound`` (the theorem's Lip lower bound),
``bound_dense`` ([BS] Theorem 3 with p = kept weights + biases), ``x_theorem``
(``sqrt(n d / p_eff)``), ``x_informal`` (``sqrt(n d / (kept + I))``, I in bits), ``train_steps``;
and the cell summaries ``fit_fraction``, ``lip_lower_mean``, ``lip_upper_mean``,
``sigma2``, ``sample_condition_n`` (the n the theorem's condition ``8^3 log(8/delta) <= n eps^2``
needs), ``condition_holds``.

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Theorem 4 and Sec. 4.1.
[BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021,
Theorem 3.
"""
from __future__ import annotations

from noprune_theory.sims._config import Field, preset

DESCRIPTION = ("Lipschitz constants of pruned two-layer nets that fit noise vs sqrt(n d / p_eff), "
               "beside the sparse law of robustness ([NFP] Thm 4).")
CELL_VERSION = 1

METHODS = ("random", "magnitude", "synflow", "snip", "magnitude_after_training", "imp")
#: masks that are a function of the initialization only: I(m; D | init) = 0 exactly
DATA_AGNOSTIC = ("random", "magnitude", "synflow")

FIELDS = {
    "method": Field(["random", "synflow", "snip", "magnitude_after_training", "imp"],
                    "pruning method", choices=METHODS),
    "sparsity": Field([0.5, 0.9], "fraction of weights removed (0: dense)", low=0, high=1,
                      high_inclusive=False),
    "n": Field([50, 200], "number of data points", low=2),
    "d": Field([8, 32], "input dimension", low=1),
    "width": Field(64, "hidden units", low=1),
    "data": Field("gaussian", "input law: N(0, I_d/d) or uniform on the unit sphere",
                  choices=("gaussian", "sphere")),
    "labels": Field("sign", "labels: random +-1 (sigma^2 = 1), sigma z, or x_1 + sigma z",
                    choices=("sign", "noise", "linear")),
    "sigma": Field(1.0, "noise standard deviation of the noise and linear labels", low=0,
                   low_inclusive=False),
    "eps": Field(0.5, "fitting margin: fit means MSE <= sigma^2 - eps (label units^2)", low=0,
                 high=1, low_inclusive=False, high_inclusive=False),
    "delta": Field(0.01, "failure probability of the theorem", low=0, high=1,
                   low_inclusive=False, high_inclusive=False),
    "c": Field(1.0, "isoperimetry constant of the input law", low=0, low_inclusive=False),
    "nets": Field(8, "networks (initializations) per cell, trained as one batch", low=1),
    "lr": Field(1e-2, "Adam step size (1/step)", low=0, low_inclusive=False),
    "steps": Field(3000, "maximum full-batch training steps", low=1),
    "imp_fraction": Field(0.2, "IMP: fraction of survivors pruned per round", low=0, high=1,
                          low_inclusive=False, high_inclusive=False),
    "synflow_iterations": Field(20, "SynFlow: pruning iterations", low=1),
    "ascent_starts": Field(32, "Lipschitz lower bound: gradient-ascent starts per network",
                           low=1),
    "ascent_steps": Field(20, "Lipschitz lower bound: gradient-ascent steps", low=0),
}

PRESETS = {
    "quick": preset("~30 s on 2 cores: 5 methods x sparsity {0.5, 0.8} x n {40, 120} x "
                    "d {8, 32}, width 32, 1 seed x 4 nets, at most 1000 steps",
                    sparsity=[0.5, 0.8], n=[40, 120], width=32, nets=4, steps=1000, seeds=1),
    "paper": preset("~4 min of CPU (105 s per seed measured): 5 methods x sparsity "
                    "{0.5, 0.8, 0.9} x n {25, 50, 100, 200} x d {4, 16, 64}, width 64, "
                    "2 seeds x 8 nets, at most 1000 steps",
                    sparsity=[0.5, 0.8, 0.9], n=[25, 50, 100, 200], d=[4, 16, 64],
                    width=64, nets=8, steps=1000, seeds=2),
}


def noise_level(config):
    """sigma^2 = E_x Var(y | x) of the label law of *config* (docs/theory.md#theory-setting).

    Random signs are independent of x, so Var(y | x) = 1; the other label laws add
    ``sigma z`` with z ~ N(0, 1) to a deterministic target.

    Examples
    --------
    >>> noise_level({"labels": "sign", "sigma": 3.0})
    1.0
    >>> noise_level({"labels": "noise", "sigma": 0.5})
    0.25
    """
    return 1.0 if config["labels"] == "sign" else float(config["sigma"]) ** 2


def _problem(config, seed):
    """The cell's dataset: X (n, d) and y (n,), from (seed, n, d, data, labels) only."""
    import numpy as np

    from noprune_theory.data import gaussian, noisy_labels, random_labels, sphere

    n, d = config["n"], config["d"]
    codes = {"gaussian": 0, "sphere": 1, "sign": 0, "noise": 1, "linear": 2}
    rng = np.random.default_rng([seed, n, d, codes[config["data"]], codes[config["labels"]]])
    draw = gaussian if config["data"] == "gaussian" else sphere
    X = draw(n, d, seed=rng)
    if config["labels"] == "sign":
        y = random_labels(n, seed=rng)
    else:
        target = (lambda Z: Z[:, 0]) if config["labels"] == "linear" else None
        y = noisy_labels(X, target, sigma=config["sigma"], seed=rng)
    return X, y


def _train_options(config):
    return {"optimizer": "adam", "lr": config["lr"], "steps": config["steps"],
            "target_loss": noise_level(config) - config["eps"]}


def _prune_options(config):
    method = config["method"]
    if method in ("imp", "magnitude_after_training"):
        opts = {"loss": "mse", "train_options": _train_options(config)}
        if method == "imp":
            opts["fraction"] = config["imp_fraction"]
        return opts
    if method == "snip":
        return {"loss": "mse"}
    if method == "synflow":
        return {"iterations": config["synflow_iterations"]}
    return {}


def mask_information_bits(method, total, kept):
    """I(m; D | init) in bits recorded for a mask, and which kind of number it is.

    ``(0, "zero")`` for a data-agnostic method or a dense network (the mask is a function of
    the initialization), else ``(log2 C(total, kept), "ceiling")``, the upper bound of [NFP]
    Sec. 4.1.

    Examples
    --------
    >>> bits, kind = mask_information_bits("snip", 10, 5)     # log2 C(10, 5) = log2 252
    >>> round(bits, 4), kind
    (7.9773, 'ceiling')
    >>> mask_information_bits("synflow", 10, 5)
    (0.0, 'zero')
    """
    import math

    if method in DATA_AGNOSTIC or kept >= total:
        return 0.0, "zero"
    ln_binom = math.lgamma(total + 1) - math.lgamma(kept + 1) - math.lgamma(total - kept + 1)
    return ln_binom / math.log(2), "ceiling"


def cell(config, seed):
    """Prune, train to fit below the noise level, and measure Lip beside the theorem's bound."""
    import numpy as np

    from noprune_theory.backend import to_numpy
    from noprune_theory.estimators import (
        lipschitz_lower,
        lipschitz_upper,
        measured_effective_params,
    )
    from noprune_theory.models import MaskedTwoLayer
    from noprune_theory.pruning import prune
    from noprune_theory.theory import (
        robustness_bound,
        sample_size_condition,
        sparse_robustness_bound,
    )
    from noprune_theory.training import train

    sigma2 = noise_level(config)
    eps, delta, c = config["eps"], config["delta"], config["c"]
    if eps >= sigma2:
        raise ValueError(f"eps must be below the noise level sigma^2 = {sigma2:g}, got {eps:g}")
    n, d, B = config["n"], config["d"], config["nets"]
    X, y = _problem(config, seed)
    net = MaskedTwoLayer(d, config["width"], B=B, activation="relu",
                         backend=config["backend"], seed=seed)
    if config["sparsity"] > 0:
        masks = prune(net, config["method"], sparsity=config["sparsity"], data=(X, y),
                      seed=seed, **_prune_options(config))
        net.set_masks(masks)
    result = train(net, X, y, loss="mse", seed=seed, **_train_options(config))

    mse = to_numpy(net.loss(X, y, loss="mse")).astype(np.float64).reshape(-1)
    fits = mse <= sigma2 - eps
    lo = lipschitz_lower(net, X, starts=config["ascent_starts"], steps=config["ascent_steps"],
                         seed=seed)
    # patterns by branch and bound with a small node budget: when the budget runs out its
    # open-node bound can exceed the spectral bound, so keep the smallest valid upper bound
    up = lipschitz_upper(net, "auto", max_enumerate=16, max_nodes=200)
    names = list(up.by_method)
    stacked = np.stack([np.asarray(up.by_method[k], dtype=np.float64) for k in names])
    upper = stacked.min(axis=0)
    upper_method = [names[i] for i in stacked.argmin(axis=0)]

    kept = np.asarray(to_numpy(net.kept_count()), dtype=np.int64).reshape(-1)
    total = int(net.weight_count())
    mi = np.zeros(B)
    kinds = []
    for b in range(B):
        mi[b], kind = mask_information_bits(config["method"], total, int(kept[b]))
        kinds.append(kind)
    pe = measured_effective_params(net, mi, eps=eps, X=X)
    p_eff = np.asarray(pe["p_eff"], dtype=np.float64)
    bound = np.asarray(sparse_robustness_bound(n, d, p_eff, eps=eps, delta=delta, c=c,
                                               check="ignore"), dtype=np.float64)
    # the dense law with every parameter counted (kept weights and biases), same W and J
    bound_dense = np.asarray(robustness_bound(n, d, pe["p"], eps=eps, delta=delta, c=c,
                                              W=pe["W"], J=pe["J"], check="ignore"),
                             dtype=np.float64)
    # [NFP] Thm 4 needs 8^3 k log(8 k / delta) <= n eps^2 (k = 1 component)
    condition = sample_size_condition(n, eps=eps, delta=delta, k=1, theorem="sparse")
    lower = to_numpy(lo.value).astype(np.float64).reshape(-1)
    return {
        "sigma2": sigma2,
        "mse": mse.tolist(),
        "fits": fits.tolist(),
        "fit_fraction": float(fits.mean()),
        "lip_lower": lower.tolist(),
        "lip_upper": upper.tolist(),
        "upper_method": upper_method,
        "lip_lower_mean": float(lower.mean()),
        "lip_upper_mean": float(upper.mean()),
        "kept": kept.tolist(),
        "total_weights": total,
        "mi_bits": mi.tolist(),
        "mi_kind": kinds,
        "p_eff": p_eff.tolist(),
        "bits_per_weight": ((p_eff - mi) / np.maximum(kept, 1)).tolist(),
        "bound": bound.tolist(),
        "bound_dense": bound_dense.tolist(),
        "x_theorem": np.sqrt(n * d / p_eff).tolist(),
        "x_informal": np.sqrt(n * d / (kept + mi)).tolist(),
        "train_steps": np.asarray(result.steps).astype(int).tolist(),
        "sample_condition_n": float(condition.n_required),
        "condition_holds": bool(condition.holds),
    }


def network_rows(table):
    """One dict per network: the cell's fields with the per-network lists unpacked."""
    per_net = ("mse", "fits", "lip_lower", "lip_upper", "upper_method", "kept", "mi_bits",
               "mi_kind", "p_eff", "bits_per_weight", "bound", "bound_dense", "x_theorem",
               "x_informal", "train_steps")
    rows = []
    for r in (table.to_dict("records") if hasattr(table, "to_dict") else table):
        for b in range(len(r["mse"])):
            row = {k: v for k, v in r.items() if k not in per_net}
            row.update({k: r[k][b] for k in per_net})
            row["net"] = b
            rows.append(row)
    return rows


def fit_slopes(rows, x="x_theorem", y="lip_lower"):
    """Log-log slopes of y against x over the networks that fit: all, and per method."""
    from noprune_theory.sims._plotting import loglog_fit

    fitted = [r for r in rows if r["fits"]]
    out = {}
    if len({r[x] for r in fitted}) >= 2:
        out["all"] = loglog_fit([r[x] for r in fitted], [r[y] for r in fitted])
    for m in sorted({r["method"] for r in fitted}):
        sel = [r for r in fitted if r["method"] == m]
        if len({r[x] for r in sel}) >= 2:
            out[m] = loglog_fit([r[x] for r in sel], [r[y] for r in sel])
    return out


def plot(table, config, outdir):
    """Lip (lower bound marker, upper bound bar) against sqrt(n d / p_eff), theorem and informal."""
    import numpy as np
    from matplotlib.ticker import NullFormatter

    from noprune_theory.sims._plotting import new_figure

    rows = network_rows(table)
    fitted = [r for r in rows if r["fits"]]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    colors = dict(zip(METHODS, ("C0", "C7", "C2", "C1", "C3", "C4")))
    eps = float(np.median([r["eps"] for r in rows]))
    delta = float(np.median([r["delta"] for r in rows]))
    c = float(np.median([r["c"] for r in rows]))
    fig, axes = new_figure(1, 2, width=5.8, height=4.8)
    label_theorem = (r"$\sqrt{n d / p_{\mathrm{eff}}}$, $p_{\mathrm{eff}}$ of [NFP] Thm 4 in "
                     r"bits (dimensionless)")
    label_informal = (r"$\sqrt{n d / (\|m\|_1 + I(m;D))}$, informal $p_{\mathrm{eff}}$ "
                      r"(dimensionless)")
    panels = (("x_theorem", label_theorem), ("x_informal", label_informal))
    for ax, (xkey, xlabel) in zip(axes, panels):
        slopes = fit_slopes(rows, x=xkey)
        for m in methods:
            sel = [r for r in fitted if r["method"] == m]
            if not sel:
                continue
            xs = np.array([r[xkey] for r in sel])
            lo = np.array([r["lip_lower"] for r in sel])
            up = np.array([r["lip_upper"] for r in sel])
            lab = m if m not in slopes else f"{m}: slope {slopes[m].slope:.2f}"
            # the upper bound can sit a rounding error below the lower one when both are exact
            bar = np.maximum(up - lo, 0.0)
            ax.errorbar(xs, lo, yerr=[np.zeros_like(lo), bar], fmt="o", markersize=3,
                        color=colors[m], ecolor=colors[m], elinewidth=0.6, alpha=0.7,
                        capsize=0, label=lab)
        xs_all = np.array([r[xkey] for r in fitted]) if fitted else np.array([1.0])
        grid = np.geomspace(xs_all.min() / 1.2, xs_all.max() * 1.2, 50)
        if "all" in slopes:
            fit = slopes["all"]
            ax.plot(grid, fit.predict(grid), "k--", linewidth=1,
                    label=f"fit, all methods: slope {fit.slope:.2f} $\\pm$ "
                          f"{fit.slope_se:.2f} (informal theory: 1)")
        if fitted:
            # the informal law Lip ~ x has no stated constant: a slope-1 guide through the
            # geometric mean of the fitted networks shows the predicted shape only
            gx = np.exp(np.mean(np.log(xs_all)))
            gy = np.exp(np.mean(np.log([max(r["lip_lower"], 1e-300) for r in fitted])))
            ax.plot(grid, gy * grid / gx, color="gray", linestyle=":", linewidth=1,
                    label="slope 1 guide (informal law, constant free)")
        if xkey == "x_theorem":
            # the theorem at x = sqrt(n d / p_eff), dropping (delta/2) log(4/delta) << p_eff
            pref = eps * np.sqrt(delta) / (1152.0 * np.sqrt(c))
            ax.plot(grid, pref * grid, color="k", linewidth=1.2,
                    label=rf"[NFP] Thm 4 bound: $\varepsilon\sqrt{{\delta}}/(1152\sqrt{{c}})\,x$"
                          rf" ($\varepsilon$={eps:g}, $\delta$={delta:g})")
            ax.plot([r["x_theorem"] for r in fitted], [r["bound"] for r in fitted], "x",
                    color="gray", markersize=3, label="bound at each network's p_eff")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the x range spans about one decade: minor tick labels would overlap
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("Lip(f)  (label units per unit input distance)", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    n_fit, n_all = len(fitted), len(rows)
    seeds = len({r["seed"] for r in rows})
    fig.suptitle(f"Pruned two-layer ReLU nets that fit {config['labels']} labels below the noise "
                 f"level by eps = {eps:g} ({n_fit} of {n_all} networks fit; {seeds} seed(s)); "
                 "marker: certified lower bound, bar up to the upper bound", fontsize=8)
    return {"bound_check": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("bound_check")
