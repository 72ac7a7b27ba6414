"""Memorization capacity of pruned networks: fraction of random labels fitted against sparsity.

Where this sits: the memorization experiment of [NFP] Sec. 5
(docs/theory.md#theory-experiments) on synthetic data. The sparse law of robustness ([NFP]
Theorem 4, docs/theory.md#theory-sparse) says a network can fit noise only with enough
*effective* parameters ``p_eff = I(m; D) + E||m||_1 log(...)``: a mask chosen from the
data (IMP, magnitude after training) carries information about the labels and buys capacity
that a data-agnostic mask (random, SynFlow) of the same size cannot. This simulation measures
how many of ``n`` random +-1 labels pruned networks still memorize as the kept fraction shrinks.

Protocol of one cell (method, k, seed):

1. ``nets`` independent problems, network ``b`` with its own data: ``x_i ~ N(0, I_d/d)``
   (``input_scale = "normalized"``, the default, :func:`noprune_theory.data.gaussian`:
   ``E ||x||^2 = 1``) or ``x_i ~ N(0, I_d)`` (``input_scale = "standard"``, the paper's
   standard Gaussian points; the same draws times ``sqrt(d)``), ``y_i = +-1`` uniformly
   (:func:`noprune_theory.data.random_labels`), ``i = 1..n``; and its own initialization of an
   MLP ``d -> width -> ... -> width -> 1`` with ``depth`` hidden ReLU layers
   (:class:`noprune_theory.models.MaskedMLP` with ``init``: ``"he"``, the default, is He
   weights and zero biases; ``"torch"`` is PyTorch's ``nn.Linear`` default, weights and biases
   ``U(-1/sqrt(fan_in), +1/sqrt(fan_in))``, which the paper's pruning code uses; ``"lecun"``
   is ``N(0, 1/fan_in)`` weights and zero biases). Only weights are pruned; the
   ``depth * width + 1`` biases (65 by default) are kept, as in the usual pruning setups.
2. Prune the initialization to sparsity ``1 - 0.8^k`` with ``method``
   (:func:`noprune_theory.pruning.prune`, global ranking, exact kept count). The
   data-dependent methods see the same ``(X, y)``; ``imp`` and ``magnitude_after_training``
   train with the settings of step 3 (IMP prunes 20% of the survivors per round and rewinds to
   the initialization). ``k = 0`` is the dense network.
3. Train the masked network from its initialization on the logistic loss
   ``log(1 + exp(-y f(x)))`` (the binary cross-entropy) with ``optimizer`` at step size ``lr``
   for at most ``steps`` full-batch steps, stopping a network once it memorizes every point.
4. A point is memorized when its loss is below ``log(2) / 10`` ([NFP] Sec. 5).

The seed fixes the data and the initializations; the same seed gives the same problems for
every method and every k, so the curves are paired comparisons. ``init`` and ``input_scale``
are config fields, so every stored cell records them.

Presets: ``paper`` keeps the toolkit's protocol (He init, normalized inputs);
``paper-protocol`` follows the paper's stated protocol (standard Gaussian inputs, PyTorch's
default init, n = d = 30, two hidden layers, Adam at lr 1e-2). The width (32) and the step
budget are not stated in the paper: they are our choice in both.

Values per cell: ``memorized`` (mean over the ``nets`` networks of the fraction of points
memorized), ``all_memorized`` (fraction of networks that memorized every point), ``density``
(fraction of weights kept), ``kept_weights`` (per network), ``total_weights``,
``train_steps`` (mean updates used), ``final_loss`` (mean training loss), ``diverged``
(networks whose loss became non-finite).

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Sec. 5 (memorization experiment) and Theorem 4.
"""
from __future__ import annotations

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset, pruning_options

DESCRIPTION = "Fraction of n random labels memorized vs. sparsity 1 - 0.8^k, per pruning method."
CELL_VERSION = 1

#: Input scales: ``normalized`` is ``x ~ N(0, I_d/d)`` (``E ||x||^2 = 1``), ``standard`` is
#: ``x ~ N(0, I_d)`` (the paper's "standard Gaussian" points).
INPUT_SCALES = ("normalized", "standard")

METHODS = ("imp", "magnitude_after_training", "snip", "grasp", "synflow", "random")

FIELDS = {
    "method": Field(list(METHODS), "pruning method", choices=METHODS),
    "k": Field([0, 3, 6, 9, 12, 15], "sparsity exponent: sparsity = 1 - 0.8^k", low=0, high=100),
    "n": Field(30, "number of data points (random +-1 labels)", low=1),
    "d": Field(30, "input dimension", low=1),
    "input_scale": Field("normalized", "inputs: 'normalized' x ~ N(0, I_d/d), 'standard' "
                         "x ~ N(0, I_d)", choices=INPUT_SCALES),
    "init": Field("he", "initial weights: 'he' (zero biases), 'torch' (U(+-1/sqrt(fan_in)) "
                  "weights and biases), 'lecun' (N(0, 1/fan_in), zero biases)",
                  choices=INITS),
    "width": Field(32, "width of every hidden layer (units)", low=1),
    "depth": Field(2, "number of hidden ReLU layers", low=1, high=10),
    "optimizer": Field("adam", "optimizer of every training run", choices=("adam", "gd")),
    "lr": Field(1e-2, "step size (1/step)", low=0, low_inclusive=False),
    "steps": Field(2000, "maximum full-batch training steps", low=1),
    "nets": Field(10, "independent problems (data + init) per cell, trained as one batch",
                  low=1),
    "imp_fraction": Field(0.2, "IMP: fraction of survivors pruned per round", low=0, high=1,
                          low_inclusive=False, high_inclusive=False),
    "synflow_iterations": Field(100, "SynFlow: pruning iterations", low=1),
    "grasp_temperature": Field(200.0, "GraSP: logit temperature", low=0, low_inclusive=False),
}

#: Seeds of the paper-protocol preset (x 10 networks per cell = networks per point).
PAPER_PROTOCOL_SEEDS = 25
PAPER_PROTOCOL_DESCRIPTION = (
    f"[NFP]'s stated protocol: x ~ N(0, I_30), PyTorch-default init, n = d = 30, 2 hidden "
    f"layers, Adam lr 1e-2; width 32 and <= 5000 steps are our choice; k = 0, 2, ..., 24, "
    f"{PAPER_PROTOCOL_SEEDS} seeds x 10 networks = {PAPER_PROTOCOL_SEEDS * 10} per point; "
    f"measured 10 s of CPU per seed (16 s wall in one process on 2 shared cores), so ~4 min "
    f"of CPU, ~7 min wall")

PRESETS = {
    "quick": preset("about 15 s on 2 cores: k in {0, 5, 10, 15, 20}, 2 seeds x 5 networks",
                    k=[0, 5, 10, 15, 20], seeds=2, nets=5, steps=1000, synflow_iterations=20),
    "paper": preset("[NFP] grid at every other k with our original protocol (He init, "
                    "N(0, I/d) inputs): k = 0, 2, ..., 24, 10 seeds x 10 networks = 100 per "
                    "point; about 10 s of CPU per seed measured with the batched runner (2 "
                    "shared cores), about 2 min in all",
                    k=list(range(0, 25, 2)), seeds=10, nets=10, steps=5000),
    "paper-protocol": preset(PAPER_PROTOCOL_DESCRIPTION, input_scale="standard", init="torch",
                             k=list(range(0, 25, 2)), seeds=PAPER_PROTOCOL_SEEDS, nets=10,
                             steps=5000),
}


def _problems(config, seed):
    """``nets`` datasets (X (B, n, d), y (B, n)) and the seed of the initializations."""
    import numpy as np

    from noprune_theory.data import gaussian, random_labels

    n, d, B = config["n"], config["d"], config["nets"]
    X = np.stack([gaussian(n, d, seed=np.random.default_rng([seed, b, 0])) for b in range(B)])
    if config["input_scale"] == "standard":
        # the same draws, unnormalized: N(0, I_d/d) * sqrt(d) = N(0, I_d), paired with the default
        X = X * np.sqrt(d)
    y = np.stack([random_labels(n, seed=np.random.default_rng([seed, b, 1])) for b in range(B)])
    return X, y


def _train_options(config):
    return {"optimizer": config["optimizer"], "lr": config["lr"], "steps": config["steps"],
            "stop_when_memorized": True}


def _prune_options(config):
    return pruning_options(config, loss="logistic", train_options=_train_options(config))


def _pruned_network(config, seed):
    """Steps 1 and 2 of a cell: the problems and the pruned initialization."""
    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune

    X, y = _problems(config, seed)
    net = MaskedMLP(config["d"], (config["width"],) * config["depth"], B=config["nets"],
                    activation="relu", backend=config["backend"], seed=seed,
                    init=config["init"])
    if config["k"] > 0:
        masks = prune(net, config["method"], sparsity=1.0 - 0.8 ** config["k"], data=(X, y),
                      seed=seed, **_prune_options(config))
        net.set_masks(masks)
    return net, X, y


def _values(config, net, result):
    import numpy as np

    from noprune_theory.backend import to_numpy

    kept = np.asarray(to_numpy(net.kept_count()), dtype=np.float64).reshape(-1)
    total = int(net.weight_count())
    memorized = np.asarray(result.memorized, dtype=np.float64)
    return {
        "sparsity": 1.0 - 0.8 ** config["k"],
        "density": float(kept.mean() / total),
        "kept_weights": float(kept.mean()),
        "total_weights": total,
        "memorized": float(memorized.mean()),
        "all_memorized": float((memorized == 1.0).mean()),
        "train_steps": float(np.mean(result.steps)),
        "final_loss": float(np.mean(result.final_loss)),
        "diverged": int(np.sum(result.diverged)),
    }


def cell(config, seed):
    """Prune ``nets`` fresh networks to sparsity 1 - 0.8^k, train, count memorized points."""
    from noprune_theory.training import train

    net, X, y = _pruned_network(config, seed)
    # the seed of train() draws nothing here (full batch, no gradient noise)
    result = train(net, X, y, loss="logistic", seed=seed, **_train_options(config))
    return _values(config, net, result)


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key train as one batch: every field but the method and k."""
    return tuple((k, v) for k, v in sorted(config.items()) if k not in ("method", "k"))


def network_count(config):
    """Networks one cell trains."""
    return config["nets"]


def network_bytes(config):
    """Memory one network of a cell takes while its batch trains (bytes, an upper estimate)."""
    sizes = (config["d"],) + (config["width"],) * config["depth"] + (1,)
    weights = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    units = sum(sizes[1:])
    # weights, initial weights, gradients, two Adam moments, masks and packed copies (float64),
    # plus activations, pre-activations and deltas over the n points, and the data
    return 8 * (10 * weights + 4 * units * config["n"] + config["n"] * (config["d"] + 1))


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group, trained as one batch.

    The pruning is prepared once per (method, seed), i.e. per initialization, for all the k of
    the batch (:func:`noprune_theory.pruning.prune_at_sparsities`: one IMP trajectory
    to the largest k, one training for magnitude after training, one set of SNIP or GraSP
    scores), giving each cell exactly the masks :func:`cell` computes. Then all the networks of
    the batch train together. Training treats every network on its own (its own data, mask,
    Adam state and stop), so every value equals the cell's own.
    """
    import numpy as np

    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune_at_sparsities, reuse_trainings
    from noprune_theory.training import train

    nets = [None] * len(items)
    Xs = [None] * len(items)
    ys = [None] * len(items)
    by_init = {}
    for i, (config, seed) in enumerate(items):
        by_init.setdefault((config["method"], seed), []).append(i)
    with reuse_trainings():  # IMP's first round = magnitude after training's
        for (method, seed), where in by_init.items():
            config = items[where[0]][0]
            X, y = _problems(config, seed)
            net = MaskedMLP(config["d"], (config["width"],) * config["depth"], B=config["nets"],
                            activation="relu", backend=config["backend"], seed=seed,
                            init=config["init"])
            pruned = [i for i in where if items[i][0]["k"] > 0]
            targets = [1.0 - 0.8 ** items[i][0]["k"] for i in pruned]
            masks = prune_at_sparsities(net, method, targets, data=(X, y), seed=seed,
                                        **_prune_options(config))
            chosen = dict(zip(pruned, masks))
            for i in where:
                cell_net = net.copy()
                if i in chosen:
                    cell_net.set_masks(chosen[i])
                nets[i], Xs[i], ys[i] = cell_net, X, y
    big = MaskedMLP.concat(nets)
    result = train(big, np.concatenate(Xs), np.concatenate(ys), loss="logistic", seed=0,
                   **_train_options(items[0][0]))
    out = []
    start = 0
    for (config, _), net in zip(items, nets):
        idx = np.arange(start, start + net.B)
        start += net.B
        part = type(result)(
            final_loss=result.final_loss[idx], final_accuracy=result.final_accuracy[idx],
            memorized=result.memorized[idx], steps=result.steps[idx],
            converged=result.converged[idx], diverged=result.diverged[idx], trajectory=None,
        )
        out.append(_values(config, net, part))
    return out


def protocol_label(config):
    """Words for the data scale and init of *config* (a plot title's part); a swept key lists
    its values. Folders written before the keys existed ran the defaults."""
    def words(key, default, names):
        value = config.get(key, default)
        values = value if isinstance(value, list) else [value]
        return " / ".join(names.get(v, v) for v in values)

    inputs = words("input_scale", "normalized",
                   {"normalized": "x ~ N(0, I/d)", "standard": "x ~ N(0, I)"})
    init = words("init", "he", {"he": "He init", "torch": "PyTorch-default init",
                                "lecun": "LeCun init"})
    return f"{inputs}, {init}"


def plot(table, config, outdir):
    """Fraction memorized against the kept fraction of weights, one line per method."""
    import numpy as np

    from noprune_theory.sims._plotting import errorbar_lines, mean_sem, new_figure

    fig, ax = new_figure(width=6.0, height=4.4)
    errorbar_lines(ax, table, "density", "memorized", group="method", label="{value}",
                   markersize=4)
    total = float(np.median(table["total_weights"]))
    n = float(np.median(table["n"]))
    # parameter counting: fitting n arbitrary labels needs at least ~n effective parameters
    ax.axvline(n / total, color="k", linestyle=":", linewidth=1,
               label=f"kept weights = n = {n:g}")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"fraction of weights kept, $0.8^k$ (dimensionless, log scale)")
    ax.set_ylabel("fraction of points memorized (loss < log(2)/10)")
    top = ax.secondary_xaxis("top", functions=(lambda p: p * total, lambda w: w / total))
    top.set_xlabel("kept weights per network")
    seeds = mean_sem(table, "memorized", by=["method", "k"])
    nets = int(np.median(table["nets"]))
    ax.set_title(f"n = {int(n)} random labels, d = {config['d']}, width {config['width']} x "
                 f"{config['depth']} ReLU layers\n{protocol_label(config)}; mean $\\pm$ s.e. over "
                 f"{int(np.median(seeds['count']))} seeds x {nets} nets", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    return {"memorization": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("memorization")
