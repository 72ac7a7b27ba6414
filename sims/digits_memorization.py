"""Real-data analogue of [NFP] Fig. 1b: train accuracy of pruned MLPs on noisy digit images.

Where this sits: the real-data half of the memorization experiment of [NFP] Sec. 5
(docs/theory.md#theory-experiments); :mod:`noprune_theory.sims.memorization` is the synthetic
half (Fig. 1a). [NFP] Fig. 1b trains pruned MLPs on FashionMNIST with Gaussian noise of
variance 3 added to every input image: the noise makes the images hard to classify, so the
train accuracy measures how much of a hard training set a sparse network can fit, and the
sparse law of robustness predicts that masks found from the data (IMP, magnitude after
training) fit more of it than data-agnostic masks of the same size.

This is an **analogue, not a reproduction**: FashionMNIST cannot be downloaded here, so the
default data are scikit-learn's 1,797 handwritten digits (8 x 8 pixels, 10 classes, shipped
inside scikit-learn). ``data_file`` runs the same protocol on a user's own arrays (a ``.npz``
with ``X`` and ``y``, or a ``.npy`` of ``X`` with ``labels_file``), e.g. FashionMNIST itself
where it is available (:func:`noprune_theory.data.classification_data` checks them).

Protocol of one cell (method, sparsity, seed):

1. The data: the images as rows of ``X`` (n, d), rescaled to [0, 1] over the whole array
   (``rescale = "unit"``: digits pixels 0..16 become x/16, 8-bit images x/255; the scale of
   torchvision's ``ToTensor``), their original labels ``y``. With ``n > 0`` a subset of ``n``
   examples drawn by the seed. Every one of the ``nets`` networks gets its own fixed noisy copy
   ``X + sqrt(noise_variance) * z``, ``z ~ N(0, I)`` drawn once from the seed (the noisy images
   are the training set; labels are kept). The default variance 3 is the paper's, on the same
   [0, 1] pixel scale; with 64 pixels instead of 784 it hides more of each image (a linear
   classifier of the noisy digits reaches about 20% on fresh noise, 10% being chance).
2. An MLP ``d -> width -> width -> C`` with ``depth`` hidden ReLU layers, ``init`` (default
   ``"torch"``: PyTorch's ``nn.Linear`` default, which the paper's code uses), seeded by the
   seed. Only weights are pruned (biases are kept).
3. Prune the initialization to ``sparsity`` with ``method`` (:func:`noprune_theory.pruning.prune`,
   global ranking); the data-dependent methods see the noisy training set with the
   cross-entropy loss; IMP (20% of the survivors per round, rewound to the initialization) and
   magnitude after training train with the settings of step 4. ``sparsity = 0`` is dense.
4. Train with Adam at ``lr`` on minibatches of ``batch_size`` for ``epochs`` epochs of
   ``ceil(n / batch_size)`` steps (the minibatch order is drawn from the seed and shared by
   the networks of a seed); then measure the train accuracy on the whole noisy training set.

[NFP]'s stated protocol (App. C): FashionMNIST, noise variance 3, two hidden layers of width
200, Adam lr 1e-3, batch 64, trained until the loss changes by less than 0.01 or the accuracy
is flat for 3 epochs, 10 seeds. Our choices: the data (digits), the [0, 1] pixel scale, the
PyTorch-default init, a fixed epoch budget instead of the stopping rule, one sparsity grid for
every method (the paper's IMP curve has its own grid).

Values per cell: ``train_accuracy`` (mean over the networks of the fraction of training
points classified correctly), ``final_loss`` (mean cross-entropy on the training set),
``density``, ``kept_weights`` (per network), ``total_weights``, ``n_train``, ``classes``,
``chance`` (frequency of the most common class), ``diverged``.

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Sec. 5 and Fig. 1b (noisy FashionMNIST).
"""
from __future__ import annotations

import functools

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset, pruning_options

DESCRIPTION = ("Real-data analogue of [NFP] Fig. 1b: train accuracy of pruned MLPs on noisy "
               "digit images (or your own .npz) vs. sparsity, per pruning method.")
CELL_VERSION = 1
#: each seed trains with its own minibatch order, so seeds cannot share a training: the runner
#: makes one batch per seed, and a seed's cells are saved as soon as that seed finishes
BATCH_SEEDS = False

METHODS = ("imp", "magnitude_after_training", "snip", "grasp", "synflow", "magnitude", "random")

#: The sparsities at which [NFP] Fig. 1b reports every method but IMP, with 0 (dense) and 0.9.
PAPER_SPARSITIES = [0.0, 0.9, 0.97, 0.98, 0.99, 0.9933, 0.9966]

FIELDS = {
    "method": Field(list(METHODS), "pruning method", choices=METHODS),
    "sparsity": Field(list(PAPER_SPARSITIES), "fraction of weights pruned (0: dense)", low=0,
                      high=1, high_inclusive=False),
    "data_file": Field("", "'' for scikit-learn's digits, or a .npz file with arrays X (n, ...) "
                       "and y (n,) of labels 0..C-1, or a .npy file of X (with labels_file)"),
    "labels_file": Field("", "the .npy file of the labels y when data_file is a .npy file"),
    "rescale": Field("unit", "inputs: 'unit' maps them onto [0, 1] (min-max over the whole "
                     "array), 'none' keeps them", choices=("unit", "none")),
    "n": Field(0, "training examples: a subset of n drawn by the seed (0: all)", low=0),
    "noise_variance": Field(3.0, "variance of the Gaussian noise added once to every input "
                            "value (pixels on the [0, 1] scale)", low=0),
    "init": Field("torch", "initial weights: 'torch' (U(+-1/sqrt(fan_in)) weights and biases), "
                  "'he' (zero biases), 'lecun' (N(0, 1/fan_in), zero biases)", choices=INITS),
    "width": Field(200, "width of every hidden layer (units)", low=1),
    "depth": Field(2, "number of hidden ReLU layers", low=1, high=10),
    "lr": Field(1e-3, "Adam step size (1/step)", low=0, low_inclusive=False),
    "batch_size": Field(64, "minibatch size (examples)", low=1),
    "epochs": Field(10, "training epochs (passes over the training set) of every training run",
                    low=1),
    "nets": Field(1, "networks per cell (own noise and init), trained as one batch", low=1),
    "imp_fraction": Field(0.2, "IMP: fraction of survivors pruned per round", low=0, high=1,
                          low_inclusive=False, high_inclusive=False),
    "synflow_iterations": Field(100, "SynFlow: pruning iterations", low=1),
    "grasp_temperature": Field(200.0, "GraSP: logit temperature", low=0, low_inclusive=False),
}

PRESETS = {
    "quick": preset("< 1 min on 2 shared cores: 500 digits, width 64, 3 epochs, sparsity "
                    "0, 0.9, 0.99, 1 seed", n=500, width=64, epochs=3,
                    sparsity=[0.0, 0.9, 0.99], synflow_iterations=20),
    "paper": preset("[NFP] Fig. 1b's stated protocol on the digits (width 200, 2 hidden "
                    "layers, Adam lr 1e-3, batch 64, noise variance 3, 10 seeds) with 10 epochs "
                    "per training (our choice); sparsity 0, 0.9 and the paper's 0.97 .. 0.9966; "
                    "measured 29 min 44 s wall, 6 min of CPU, in one process on 2 cores shared "
                    "with other jobs",
                    seeds=10),
}


# ----------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def _dataset(data_file, labels_file, rescale):
    """``(X, y)`` of the config, loaded and checked once per process (read-only arrays)."""
    from noprune_theory.data import classification_data

    if data_file:
        X, y = classification_data(data_file, labels_file or None, rescale=rescale)
    else:
        if labels_file:
            raise ValueError("labels_file is only for a .npy data_file; the digits (data_file "
                             "= '') have their labels")
        X, y = classification_data("digits", rescale=rescale)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _source(config):
    return config["data_file"], config["labels_file"], config["rescale"]


def check_config(config):
    """Load and check the data of *config* before any cell runs (ValueError naming the problem:
    a missing scikit-learn with how to get it, a bad data file, ``n`` above the examples)."""
    try:
        X, _ = _dataset(*_source(config))
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    n = config["n"]
    if n > X.shape[0]:
        raise ValueError(f"n must be at most the {X.shape[0]} examples of the data (or 0 for "
                         f"all), got {n}")
    if config["batch_size"] > (n or X.shape[0]):
        raise ValueError(f"batch_size must be at most the {n or X.shape[0]} training examples, "
                         f"got {config['batch_size']}")


def _problems(config, seed):
    """The training sets of one cell: noisy inputs (B, n, d), labels (B, n), classes."""
    import numpy as np

    X, y = _dataset(*_source(config))
    n, B = config["n"], config["nets"]
    if n and n < X.shape[0]:
        idx = np.sort(np.random.default_rng([seed, 2]).permutation(X.shape[0])[:n])
        X, y = X[idx], y[idx]
    sd = np.sqrt(config["noise_variance"])
    Xs = np.stack([X + sd * np.random.default_rng([seed, b, 0]).standard_normal(X.shape)
                   for b in range(B)])
    classes = int(y.max()) + 1
    return Xs, np.broadcast_to(y, (B, y.shape[0])).copy(), classes


def _train_options(config, n):
    import math

    return {"optimizer": "adam", "lr": config["lr"], "batch_size": config["batch_size"],
            "steps": config["epochs"] * math.ceil(n / config["batch_size"])}


def _prune_options(config, n):
    return pruning_options(config, loss="cross_entropy",
                           train_options=_train_options(config, n))


def _network(config, seed, d, classes):
    from noprune_theory.models import MaskedMLP

    return MaskedMLP(d, (config["width"],) * config["depth"], classes, B=config["nets"],
                     activation="relu", backend=config["backend"], seed=seed,
                     init=config["init"])


def _values(config, net, result, y):
    import numpy as np

    from noprune_theory.backend import to_numpy

    kept = np.asarray(to_numpy(net.kept_count()), dtype=np.float64).reshape(-1)
    total = int(net.weight_count())
    counts = np.bincount(y)
    return {
        "density": float(kept.mean() / total),
        "kept_weights": float(kept.mean()),
        "total_weights": total,
        "train_accuracy": float(np.mean(result.final_accuracy)),
        "final_loss": float(np.mean(result.final_loss)),
        "diverged": int(np.sum(result.diverged)),
        "n_train": int(y.shape[0]),
        "classes": int(counts.shape[0]),
        "chance": float(counts.max() / y.shape[0]),
    }


def cell(config, seed):
    """Prune ``nets`` fresh networks to ``sparsity``, train on the noisy images, measure."""
    from noprune_theory.pruning import prune
    from noprune_theory.training import train

    X, y, classes = _problems(config, seed)
    n = X.shape[1]
    net = _network(config, seed, X.shape[2], classes)
    if config["sparsity"] > 0:
        masks = prune(net, config["method"], sparsity=config["sparsity"], data=(X, y),
                      seed=seed, **_prune_options(config, n))
        net.set_masks(masks)
    result = train(net, X, y, loss="cross_entropy", seed=seed, **_train_options(config, n))
    return _values(config, net, result, y[0])


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key train as one batch: every field but the method and sparsity."""
    return tuple((k, v) for k, v in sorted(config.items()) if k not in ("method", "sparsity"))


def network_count(config):
    """Networks one cell trains."""
    return config["nets"]


def network_bytes(config):
    """Memory one network of a cell takes while its batch trains (bytes, an upper estimate)."""
    X, y = _dataset(*_source(config))  # cached: check_config loaded it
    n, d, classes = config["n"] or X.shape[0], X.shape[1], int(y.max()) + 1
    sizes = (d,) + (config["width"],) * config["depth"] + (classes,)
    weights = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    units = sum(sizes[1:])
    # weights, initial weights, gradients, two Adam moments, masks and packed copies (float64),
    # activations over a minibatch and over the whole set (the accuracy), and the noisy data
    return 8 * (10 * weights + 4 * units * (config["batch_size"] + n) + n * (d + 1))


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group, trained in batches.

    The pruning is prepared once per (method, seed) for all the sparsities of the batch
    (:func:`noprune_theory.pruning.prune_at_sparsities`, which gives exactly the masks
    of :func:`prune`); the dense cells of a seed (every method at sparsity 0) are one network,
    trained once. The networks of one seed then train together, with that seed's
    minibatch order, as :func:`cell` trains them (training treats every network on its own:
    its own data, mask, Adam state), so every value equals the cell's own.
    """
    import numpy as np

    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune_at_sparsities
    from noprune_theory.training import train

    out = [None] * len(items)
    by_seed = {}
    for i, (_, seed) in enumerate(items):
        by_seed.setdefault(seed, []).append(i)
    for seed, of_seed in by_seed.items():
        config = items[of_seed[0]][0]
        X, y, classes = _problems(config, seed)
        n = X.shape[1]
        by_method = {}
        for i in of_seed:
            by_method.setdefault(items[i][0]["method"], []).append(i)
        nets = {}
        dense_of = {}  # the dense cells of every method are one network: train it once
        for method, where in by_method.items():
            net = _network(items[where[0]][0], seed, X.shape[2], classes)
            pruned = [i for i in where if items[i][0]["sparsity"] > 0]
            masks = prune_at_sparsities(net, method, [items[i][0]["sparsity"] for i in pruned],
                                        data=(X, y), seed=seed,
                                        **_prune_options(items[where[0]][0], n))
            chosen = dict(zip(pruned, masks))
            for i in where:
                if i in chosen:
                    nets[i] = net.copy()
                    nets[i].set_masks(chosen[i])
                elif dense_of:
                    dense_of[i] = next(iter(dense_of.values()))
                else:
                    nets[i] = net.copy()
                    dense_of[i] = i
        order = list(nets)
        big = MaskedMLP.concat([nets[i] for i in order])
        result = train(big, np.concatenate([X] * len(order)), np.concatenate([y] * len(order)),
                       loss="cross_entropy", seed=seed, **_train_options(config, n))
        start = 0
        for i in order:
            idx = np.arange(start, start + nets[i].B)
            start += nets[i].B
            part = type(result)(
                final_loss=result.final_loss[idx], final_accuracy=result.final_accuracy[idx],
                memorized=result.memorized[idx], steps=result.steps[idx],
                converged=result.converged[idx], diverged=result.diverged[idx],
                trajectory=None,
            )
            out[i] = _values(items[i][0], nets[i], part, y[0])
        for i, j in dense_of.items():
            out[i] = dict(out[j])
    return out


# ----------------------------------------------------------------------------- figure
def plot(table, config, outdir):
    """Train accuracy against the kept fraction of weights, one line per method."""
    import numpy as np

    from noprune_theory.sims._plotting import errorbar_lines, mean_sem, new_figure

    fig, ax = new_figure(width=6.0, height=4.4)
    sparse = table[table["sparsity"] > 0]
    errorbar_lines(ax, sparse, "density", "train_accuracy", group="method", label="{value}",
                   markersize=4)
    dense = table[table["sparsity"] == 0]
    if len(dense):
        ax.axhline(float(dense["train_accuracy"].mean()), color="0.5", linestyle="--",
                   linewidth=1, label="dense")
    ax.axhline(float(np.median(table["chance"])), color="k", linestyle=":", linewidth=1,
               label="most common class")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("fraction of weights kept, 1 - sparsity (dimensionless, log scale)")
    ax.set_ylabel("train accuracy on the noisy images (fraction)")
    total = float(np.median(table["total_weights"]))
    top = ax.secondary_xaxis("top", functions=(lambda p: p * total, lambda w: w / total))
    top.set_xlabel("kept weights per network")
    from matplotlib.ticker import NullFormatter

    top.xaxis.set_minor_formatter(NullFormatter())  # the minor labels overlap
    seeds = mean_sem(table, "train_accuracy", by=["method", "sparsity"])
    data = config.get("data_file") or "scikit-learn digits"
    ax.set_title(f"{data}: n = {int(np.median(table['n_train']))}, noise variance "
                 f"{config['noise_variance']:g}, width {config['width']} x {config['depth']} "
                 f"ReLU layers, {config['init']} init\nAdam lr {config['lr']:g}, batch "
                 f"{config['batch_size']}, {config['epochs']} epochs; mean $\\pm$ s.e. over "
                 f"{int(np.median(seeds['count']))} seeds", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.0, 0.78), ncol=2)
    return {"digits_memorization": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("digits_memorization")
