"""How wide a randomly masked two-layer network must be to fit a dense teacher, against sparsity.

Where this sits: [GMB] argue that a random mask of sparsity ``s`` (fraction of weights removed)
loses no expressive power if the network is wider by a factor of order ``1 / log(1/s)``
(docs/theory.md#theory-pruning-methods; their exact statement was **not** checked here, so this is a
measurement, not a test of a theorem). Random masks are data-agnostic, so in the sparse law of
robustness ([NFP] Theorem 4) their ``I(m; D) = 0`` and all their capacity must come from kept
weights: the width they need is the price of pruning without looking at the data.

Protocol of one cell (width, seed):

1. The teacher and the data depend on the seed only (common to every width, so the widths are
   paired): ``x ~ N(0, I_d / d)`` (:func:`noprune_theory.data.gaussian`), ``n`` training and
   ``n_test`` test points; the teacher is a dense two-layer ReLU network of width ``k0`` (He
   initialization, zero biases), its output divided by its standard deviation on the training
   inputs so that ``Var(y) = 1``; no label noise.
   With ``input_scale = "standard"`` the inputs are ``x ~ N(0, I_d)`` (the same draws times
   ``sqrt(d)``; the teacher labels them as they are).
2. One batch of students :class:`~noprune_theory.models.MaskedTwoLayer` of width ``width``
   (independent initializations, ``init``: ``"he"``, the default, He weights and zero
   biases; ``"torch"``, PyTorch's ``nn.Linear`` default; ``"lecun"``): ``nets`` dense ones,
   and ``nets`` per layer-density scheme (``uniform``, ``erk``, ``balanced``, ``pyramidal``,
   from :func:`noprune_theory.pruning.layer_densities`) and sparsity ``s_j = 1 - 2^-j``,
   ``j = 1..levels``, masked at random by ``prune(..., "random", sparsity=s, densities=scheme)``.
   ``balanced`` is the toolkit's variant (docs/pruning.md): a layer capped at density 1 gives
   its surplus to the others, so every mask keeps exactly ``(1 - s)`` of the weights; [GMB]'s
   ``min(1, p N / (L N_l))`` keeps fewer once a layer is capped, as ``W_1`` is here.
   With one hidden layer the "layers" of the schemes are the two weight matrices
   ``W_0`` (d x width) and ``W_1`` (width x 1); biases are never masked.
3. All students train together (one batched ensemble) with Adam, full batch, on the MSE, for
   ``steps`` steps at step size ``lr``.
4. Measured: the relative test error ``MSE_test / Var(y_test)`` (and the training one).

The plot finds, per scheme and sparsity, the width ``k*`` from which the relative test error,
averaged over seeds and students, stays at or below ``target`` (:func:`crossing_width`: linear
interpolation in ``(log width, log error)`` between the two grid widths around the crossing),
with a bootstrap over seeds for its standard error (:func:`required_widths`); a scheme and
sparsity that never cross within the widths run is drawn as a lower bound. It compares the
shape of ``k*(s)`` with ``C / log(1/s)`` [GMB] and ``C' / (1 - s)`` (the width that keeps the
number of kept weights fixed), each with one constant fitted to the measured points.

Batched runs: the cells of one point (its seeds) train as one batch (:func:`cells_batch`),
each student on its own seed's data; the values are those of :func:`cell` (every training and
measurement runs on per-network inputs in both paths, so a student's numbers never depend on
the batch it trained in).

Values per cell: lists over the groups of the batch (dense first, then scheme-major):
``group_scheme``, ``group_sparsity``, ``test_rel_mse`` and ``train_rel_mse`` (means over the
``nets`` students), ``test_rel_mse_sd`` (their SD), ``kept_weights`` (per student),
``density_w0`` and ``density_w1`` (the layer densities actually kept); and
``total_weights`` (weights of one dense student).

References
----------
[GMB] A. Gadhikar, S. Mukherjee and R. Burkholz, "Why Random Pruning Is All We Need to Start
Sparse", ICML 2023 (layer-wise densities; width factor 1/log(1/sparsity)).
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune", ICML 2024, Theorem 4 and Sec. 4.1.
"""
from __future__ import annotations

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset

DESCRIPTION = "Width a random-masked two-layer net needs to fit a dense teacher, vs sparsity."
CELL_VERSION = 1

SCHEMES = ("uniform", "erk", "balanced", "pyramidal")

#: Input scales: ``normalized`` is ``x ~ N(0, I_d/d)`` (``E ||x||^2 = 1``), ``standard`` is
#: ``x ~ N(0, I_d)`` (the same draws times ``sqrt(d)``).
INPUT_SCALES = ("normalized", "standard")

FIELDS = {
    "width": Field([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], "student hidden units", low=1),
    "levels": Field(4, "sparsities s_j = 1 - 2^-j for j = 1..levels (plus the dense students)",
                    low=1, high=12),
    "d": Field(4, "input dimension", low=1),
    "input_scale": Field("normalized", "inputs: 'normalized' x ~ N(0, I_d/d), 'standard' "
                         "x ~ N(0, I_d)", choices=INPUT_SCALES),
    "init": Field("he", "students' initial weights: 'he' (zero biases), 'torch' "
                  "(U(+-1/sqrt(fan_in)) weights and biases), 'lecun' (N(0, 1/fan_in), zero "
                  "biases)", choices=INITS),
    "k0": Field(4, "teacher width (dense, ReLU)", low=1),
    "n": Field(500, "training points", low=1),
    "n_test": Field(2000, "test points", low=1),
    "nets": Field(2, "students per (scheme, sparsity) in a cell", low=1),
    "lr": Field(1e-2, "Adam step size (1/step)", low=0, low_inclusive=False),
    "steps": Field(1500, "full-batch Adam steps", low=1),
    "target": Field(0.05, "fit criterion: relative test MSE (MSE / Var y) at most this", low=0,
                    low_inclusive=False),
}

PRESETS = {
    "quick": preset("~20 s on 2 cores: widths 1..64, 2 sparsity levels, 2 seeds, 400 steps",
                    width=[1, 2, 4, 8, 16, 32, 64], levels=2, steps=400, lr=2e-2, n=300,
                    n_test=1000, nets=1, target=0.1, seeds=2),
    "paper": preset("~16 min on 2 cores with --workers 2 (~32 core-min): widths 1..512, "
                    "s = 1/2 .. 15/16, 4 seeds (0-3) x 2 students", seeds=4),
}


def sparsity_levels(levels):
    """``[1 - 2^-j for j = 1..levels]``."""
    return [1.0 - 2.0**-j for j in range(1, levels + 1)]


def groups(levels):
    """The (scheme, sparsity) groups of a batch: ``("dense", 0.0)`` then scheme-major."""
    return [("dense", 0.0)] + [(sch, s) for sch in SCHEMES for s in sparsity_levels(levels)]


def teacher_data(config, seed):
    """Training and test inputs and unit-variance targets of the teacher of *seed*.

    Returns ``(X, y, X_test, y_test)``; depends on (seed, d, k0, n, n_test, input_scale)
    only. With ``input_scale = "standard"`` the inputs are the same draws times ``sqrt(d)``
    and the teacher labels them as they are.
    """
    import numpy as np

    from noprune_theory.data import gaussian
    from noprune_theory.models import MaskedTwoLayer

    d, k0 = config["d"], config["k0"]
    ss = np.random.SeedSequence([seed, d, k0, config["n"], config["n_test"]])
    s_x, s_t, s_w = (int(s.generate_state(1)[0]) for s in ss.spawn(3))
    X = gaussian(config["n"], d, seed=s_x)
    X_test = gaussian(config["n_test"], d, seed=s_t)
    if config.get("input_scale", "normalized") == "standard":
        # the same draws, unnormalized: N(0, I_d/d) * sqrt(d) = N(0, I_d)
        X, X_test = X * np.sqrt(d), X_test * np.sqrt(d)
    teacher = MaskedTwoLayer(d, k0, B=1, activation="relu", seed=s_w)
    f = np.asarray(teacher.forward(X))[0, :, 0]
    f_test = np.asarray(teacher.forward(X_test))[0, :, 0]
    scale = float(f.std())
    if not scale > 0:
        raise ValueError(f"the teacher of seed {seed} is constant on the training inputs")
    return X, f / scale, X_test, f_test / scale


def student_masks(config, seed, width, B_group):
    """Masks of every group, stacked: list of two bool arrays (G * B_group, ., .)."""
    import numpy as np

    from noprune_theory.models import MaskedTwoLayer
    from noprune_theory.pruning import prune

    d = config["d"]
    w0, w1 = [], []
    for g, (scheme, s) in enumerate(groups(config["levels"])):
        if scheme == "dense":
            w0.append(np.ones((B_group, d, width), dtype=bool))
            w1.append(np.ones((B_group, width, 1), dtype=bool))
            continue
        # random masks do not look at the weights: a throwaway model gives the shapes
        shell = MaskedTwoLayer(d, width, B=B_group, seed=0)
        mseed = int(np.random.SeedSequence([seed, width, g, 5]).generate_state(1)[0])
        m = prune(shell, "random", sparsity=s, densities=scheme, seed=mseed)
        w0.append(np.asarray(m[0]))
        w1.append(np.asarray(m[1]))
    return [np.concatenate(w0), np.concatenate(w1)]


def _students(config, seed):
    """The data of *seed* and its untrained, masked students (steps 1 and 2 of a cell)."""
    import numpy as np

    from noprune_theory.models import MaskedTwoLayer

    X, y, X_test, y_test = teacher_data(config, seed)
    width, nets = config["width"], config["nets"]
    B = len(groups(config["levels"])) * nets
    init_seed = int(np.random.SeedSequence([seed, width, 1]).generate_state(1)[0])
    net = MaskedTwoLayer(config["d"], width, B=B, activation="relu", seed=init_seed,
                         backend=config["backend"], init=config.get("init", "he"))
    masks = student_masks(config, seed, width, nets)
    net.set_masks([net.xp.asarray(m) for m in masks])
    return net, masks, (X, y, X_test, y_test)


def _train_options(config):
    # full batch, no gradient noise: train()'s seed draws nothing
    return {"loss": "mse", "optimizer": "adam", "lr": config["lr"], "steps": config["steps"]}


def _values(config, seed, net, masks, data):
    """Step 4 of a cell: the relative errors of the trained students, per group."""
    import numpy as np

    from noprune_theory.backend import to_numpy

    X, y, X_test, y_test = data
    width, nets = config["width"], config["nets"]
    gs = groups(config["levels"])
    B = len(gs) * nets
    test = np.asarray(to_numpy(net.loss(X_test, y_test)), dtype=np.float64) / y_test.var()
    tr = np.asarray(to_numpy(net.loss(X, y)), dtype=np.float64) / y.var()
    if not (np.all(np.isfinite(test)) and np.all(np.isfinite(tr))):
        raise FloatingPointError(f"training diverged at width {width}, seed {seed}; lower lr")
    kept = np.stack([m.reshape(B, -1).sum(axis=1) for m in masks])  # (2, B)
    sizes = [config["d"] * width, width]
    G = len(gs)
    return {
        "group_scheme": [g[0] for g in gs],
        "group_sparsity": [g[1] for g in gs],
        "test_rel_mse": test.reshape(G, nets).mean(axis=1).tolist(),
        "test_rel_mse_sd": (test.reshape(G, nets).std(axis=1, ddof=1).tolist() if nets > 1
                            else [0.0] * G),
        "train_rel_mse": tr.reshape(G, nets).mean(axis=1).tolist(),
        "kept_weights": kept.sum(axis=0).reshape(G, nets).mean(axis=1).tolist(),
        "density_w0": (kept[0] / sizes[0]).reshape(G, nets).mean(axis=1).tolist(),
        "density_w1": (kept[1] / sizes[1]).reshape(G, nets).mean(axis=1).tolist(),
        "total_weights": int(sum(sizes)),
    }


def _per_network(net, X):
    """*X* (n, d) as the per-network inputs (B, n, d) of *net*: the batched path and the
    cell's path then run the same products, so a cell's numbers do not depend on its batch."""
    import numpy as np

    return np.ascontiguousarray(np.broadcast_to(X, (net.B,) + X.shape))


def cell(config, seed):
    """Train every group's students of one width; relative train and test errors per group."""
    from noprune_theory.training import train

    net, masks, data = _students(config, seed)
    train(net, _per_network(net, data[0]), data[1], seed=seed, **_train_options(config))
    return _values(config, seed, net, masks, data)


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key train as one batch: the same point (they differ by the seed;
    two widths are two shapes)."""
    return tuple(sorted(config.items()))


def network_count(config):
    """Students one cell trains: every (scheme, sparsity) group and the dense one, ``nets``
    each."""
    return len(groups(config["levels"])) * config["nets"]


def network_bytes(config):
    """Memory one student takes while its batch trains (bytes, an upper estimate)."""
    d, w, n = config["d"], config["width"], config["n"]
    weights = d * w + w
    # weights, initial weights, gradients, two Adam moments, masks and copies (float64);
    # activations, pre-activations and deltas over the n training points; the data
    return 8 * (10 * weights + 4 * (w + 1) * n + n * (d + 1))


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group, trained as one batch.

    Every cell's students are built and masked as in :func:`cell`, then all of them train
    together, each on its own seed's data. Training treats every network on its own (its own
    inputs, mask and Adam state), so every value equals the cell's own.
    """
    import numpy as np

    from noprune_theory.models import MaskedTwoLayer
    from noprune_theory.training import train

    built = [_students(config, seed) for config, seed in items]
    big = MaskedTwoLayer._stack([net for net, _, _ in built])
    X = np.concatenate([_per_network(net, data[0]) for net, _, data in built])
    y = np.concatenate([np.broadcast_to(data[1], (net.B, len(data[1])))
                        for net, _, data in built])
    train(big, X, y, seed=0, **_train_options(items[0][0]))
    out, start = [], 0
    for (config, seed), (net, masks, data) in zip(items, built):
        stop = start + net.B
        net.weights = [w[start:stop] for w in big.weights]
        net.biases = [b[start:stop] for b in big.biases]
        start = stop
        out.append(_values(config, seed, net, masks, data))
    return out


# ----------------------------------------------------------------------------- analysis
def long_rows(table):
    """One dict per (width, seed, group): width, seed, scheme, sparsity, the errors."""
    rows = []
    for r in (table.to_dict("records") if hasattr(table, "to_dict") else table):
        for i, (sch, s) in enumerate(zip(r["group_scheme"], r["group_sparsity"])):
            rows.append({"width": r["width"], "seed": r["seed"], "scheme": sch,
                         "sparsity": float(s), "test": float(r["test_rel_mse"][i]),
                         "train": float(r["train_rel_mse"][i]),
                         "kept": float(r["kept_weights"][i])})
    return rows


def crossing_width(widths, errors, target):
    """Width from which the error stays at or below *target*, log-log interpolated.

    Parameters
    ----------
    widths : sequence of float, increasing
    errors : sequence of float > 0, same length
    target : float > 0

    Returns
    -------
    (float, bool)
        ``(k*, censored)``. With ``i`` the first index such that every ``e_j <= target`` for
        ``j >= i`` (robust to a noisy dip below the target followed by a rise): ``k* = w_0`` if
        ``i = 0``; else ``log k* = log w_{i-1} + (log w_i - log w_{i-1}) (log e_{i-1} - log
        target) / (log e_{i-1} - log e_i)``, ``censored = False``. If the last width misses
        the target, ``(w_last, True)``: k* is only known to exceed it.

    Examples
    --------
    >>> k, c = crossing_width([4, 8, 16], [0.4, 0.2, 0.05], 0.1)  # halfway (in log) to 16
    >>> round(k, 6), c
    (11.313708, False)
    >>> crossing_width([4, 8, 16], [0.05, 0.2, 0.05], 0.1)[0] > 8   # the dip at 4 is ignored
    True
    >>> crossing_width([4, 8], [0.4, 0.2], 0.1)
    (8.0, True)
    """
    import math

    if errors[-1] > target:
        return float(widths[-1]), True
    i = len(errors) - 1
    while i > 0 and errors[i - 1] <= target:
        i -= 1
    if i == 0:
        return float(widths[0]), False
    w0, w1 = widths[i - 1], widths[i]
    e0, e1 = errors[i - 1], max(errors[i], 1e-300)
    frac = (math.log(e0) - math.log(target)) / (math.log(e0) - math.log(e1))
    return float(math.exp(math.log(w0) + frac * (math.log(w1) - math.log(w0)))), False


def required_widths(table, target, bootstrap=200, seed=0):
    """k* per (scheme, sparsity) from the error curve averaged over seeds, with a bootstrap.

    Returns
    -------
    list of dict
        ``scheme``, ``sparsity``, ``kstar`` (crossing of the seed-averaged curve),
        ``censored``, ``log_se`` (bootstrap SD of log k* over seeds resampled with
        replacement, over the resamples that cross; NaN with one seed), ``boot_censored``
        (fraction of resamples that do not cross), ``seeds``.
    """
    import math

    import numpy as np

    rows = long_rows(table)
    seeds = sorted({r["seed"] for r in rows})
    rng = np.random.default_rng(seed)
    out = []
    for sch, s in sorted({(r["scheme"], r["sparsity"]) for r in rows}):
        sub = [r for r in rows if r["scheme"] == sch and r["sparsity"] == s]
        widths = sorted({r["width"] for r in sub})
        E = np.full((len(seeds), len(widths)), np.nan)
        for r in sub:
            E[seeds.index(r["seed"]), widths.index(r["width"])] = r["test"]
        E = E[~np.isnan(E).any(axis=1)]  # seeds with every width finished
        if len(E) == 0:
            continue
        k, cens = crossing_width(widths, E.mean(axis=0), target)
        logs, miss = [], 0
        if len(E) > 1:
            for _ in range(bootstrap):
                kb, cb = crossing_width(widths, E[rng.integers(0, len(E), len(E))].mean(axis=0),
                                        target)
                if cb:
                    miss += 1
                else:
                    logs.append(math.log(kb))
        se = float(np.std(logs, ddof=1)) if len(logs) > 1 else float("nan")
        out.append({"scheme": sch, "sparsity": s, "kstar": k, "censored": cens, "log_se": se,
                    "boot_censored": miss / bootstrap if len(E) > 1 else float("nan"),
                    "seeds": len(E)})
    return out


_COLOURS = {"dense": "k", "uniform": "tab:blue", "erk": "tab:orange", "balanced": "tab:green",
            "pyramidal": "tab:red"}


def plot(table, config, outdir):
    """k*(s) per scheme against 1/log(1/s), with the [GMB] shape; raw error curves."""
    import math

    import numpy as np

    from noprune_theory.sims._plotting import loglog_fit, new_figure

    target = config["target"]
    ks = required_widths(table, target)
    seeds = sorted(set(table["seed"].tolist()))
    dense = next(r for r in ks if r["scheme"] == "dense")
    k_dense, dense_cens = dense["kstar"], dense["censored"]

    fig, ax = new_figure(width=6.2, height=6.0)
    x_all, fit_pts = [], []
    for sch in SCHEMES:
        sub = sorted((r for r in ks if r["scheme"] == sch), key=lambda r: r["sparsity"])
        ok = [r for r in sub if not r["censored"]]
        cens = [r for r in sub if r["censored"]]
        c = _COLOURS[sch]
        if ok:
            xs = [1.0 / math.log(1.0 / r["sparsity"]) for r in ok]
            m = np.asarray([r["kstar"] for r in ok])
            se = np.nan_to_num(np.asarray([r["log_se"] for r in ok]))
            label = sch
            if len(xs) >= 2:
                fit = loglog_fit(xs, m)
                se_txt = "" if math.isnan(fit.slope_se) else f" $\\pm$ {fit.slope_se:.2f}"
                label += f" (log-log slope {fit.slope:.2f}{se_txt})"
            ax.errorbar(xs, m, yerr=[m * (1 - np.exp(-se)), m * (np.exp(se) - 1)], color=c,
                        marker="o", capsize=3, label=label)
            x_all += xs
            fit_pts += list(zip(xs, m))
        if cens:
            # nudged sideways per scheme so that coinciding lower bounds stay visible
            nudge = 1.0 + 0.025 * (SCHEMES.index(sch) - 1.5)
            cx = [nudge / math.log(1.0 / r["sparsity"]) for r in cens]
            ax.plot(cx, [r["kstar"] for r in cens], linestyle="none", marker="^",
                    markerfacecolor="none", color=c, markersize=9,
                    label=f"{sch}: target not reached by width {int(cens[0]['kstar'])}")
            x_all += cx
    ax.axhline(k_dense, color="k", linestyle=":", linewidth=1,
               label=f"dense students: k* = {k_dense:.1f}" + (" (censored)" if dense_cens
                                                                else ""))
    if fit_pts:
        grid = np.geomspace(min(x_all), max(x_all), 40)
        px, pk = np.asarray(fit_pts).T
        # one free constant each (least squares on logs over every measured point): only the
        # shapes are compared, k* = C / log(1/s) [GMB] or k* = C' / (1 - s)
        c_gmb = float(np.exp(np.mean(np.log(pk) - np.log(px))))
        ps = 1.0 - np.exp(-1.0 / px)
        c_par = float(np.exp(np.mean(np.log(pk) + np.log(ps))))
        ax.plot(grid, c_gmb * grid, color="gray", linestyle="--", linewidth=1,
                label=r"$C/\log(1/s)$ [GMB] (slope 1), C fitted")
        ax.plot(grid, c_par / (1.0 - np.exp(-1.0 / grid)), color="gray", linestyle="-.",
                linewidth=1, label=r"$C'/(1-s)$ (same number of kept weights), C' fitted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$1/\log(1/s)$, s = sparsity (fraction of weights removed; log scale)")
    ax.set_ylabel(f"k* = width reaching test MSE/Var(y) <= {target:g} (units)")
    levels = sorted({r["sparsity"] for r in ks if r["sparsity"] > 0})
    ticks = [1.0 / math.log(1.0 / v) for v in levels]
    ax.set_xticks(ticks, [f"{t:.2f}\n(s = {v:g})" for t, v in zip(ticks, levels)],
                  fontsize=7)
    ax.minorticks_off()
    ax.set_title(f"teacher: dense width {config['k0']}, d = {config['d']}, n = {config['n']}; "
                 f"Adam {config['steps']} steps; k* of the error averaged over\n{len(seeds)} "
                 f"seeds x {config['nets']} students; bars: bootstrap s.e. over seeds",
                 fontsize=8)
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)

    rows = long_rows(table)
    fig2, axes = new_figure(2, 2, width=4.2, height=3.4)
    levels = sorted({r["sparsity"] for r in rows})
    cmap = __import__("matplotlib").colormaps["viridis"]
    for ax2, sch in zip(np.asarray(axes).ravel(), SCHEMES):
        for i, s in enumerate(levels):
            scheme = "dense" if s == 0 else sch
            sub = [r for r in rows if r["scheme"] == scheme and r["sparsity"] == s]
            widths = sorted({r["width"] for r in sub})
            vals = [[r["test"] for r in sub if r["width"] == w] for w in widths]
            mean = [float(np.mean(v)) for v in vals]
            sem = [float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
                   for v in vals]
            ax2.errorbar(widths, mean, yerr=sem, marker="o", markersize=3, capsize=2,
                         color="k" if s == 0 else cmap(i / max(len(levels) - 1, 1)),
                         label="dense" if s == 0 else f"s = {s:g}")
        ax2.axhline(target, color="gray", linestyle=":", linewidth=1, label=f"target {target:g}")
        ax2.set_xscale("log", base=2)
        ax2.set_yscale("log")
        ax2.set_title(f"{sch} layer densities", fontsize=9)
        ax2.set_xlabel("student width (units)")
        ax2.set_ylabel("test MSE / Var(y)")
        ax2.legend(fontsize=6)
    fig2.suptitle(f"relative test error vs width; mean $\\pm$ s.e. over {len(seeds)} seeds",
                  fontsize=9)
    return {"random_width_kstar": fig, "random_width_curves": fig2}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("random_width")
