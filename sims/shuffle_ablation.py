"""The ablations of [FDRC] on the memorization task: shuffled, reinitialized and inverted masks.

Where this sits: [FDRC] (Frankle, Dziugaite, Roy & Carbin, ICLR 2021) found that the masks of
pruning-at-initialization methods (SNIP, GraSP, SynFlow, magnitude, random) survive being
shuffled within each layer and having their kept weights reinitialized -- only the per-layer
densities they choose matter -- while masks found after training (IMP / lottery tickets,
magnitude after training) lose accuracy under both ablations. In the language of the sparse law
of robustness ([NFP] Theorem 4, docs/theory.md#theory-sparse and
docs/theory.md#theory-counting-masks), a mask whose value survives shuffling carries no
information about the data beyond its layer densities. This simulation runs the ablations on
the memorization task of [NFP] Sec. 5 (docs/theory.md#theory-experiments), where the thing to
learn is pure label noise.

Protocol of one cell (method, k, seed):

1. ``nets`` independent problems: ``x_i ~ N(0, I_d/d)`` (``input_scale = "normalized"``, the
   default) or ``N(0, I_d)`` (``"standard"``), ``y_i = +-1`` uniformly, ``i = 1..n``
   (:func:`noprune_theory.data.gaussian`, :func:`noprune_theory.data.random_labels`), and an
   MLP ``d -> width -> ... -> 1`` with ``depth`` hidden ReLU layers per problem, initialized by
   ``init`` (``"he"``, the default, ``"torch"`` or ``"lecun"``; see the memorization
   simulation, whose fields these are). The seed fixes data and initializations, shared by
   every method and k (paired).
2. ``found``: prune the initialization to sparsity ``1 - 0.8^k`` with ``method``
   (:func:`noprune_theory.pruning.prune`, global ranking, exact count; IMP prunes 20% of the
   survivors per round and rewinds to the initialization; the training-based methods train
   with the settings of step 4).
3. The ablations of the found mask ([FDRC] Sec. 5):

   - ``shuffled``: the mask shuffled uniformly within each layer
     (:func:`noprune_theory.pruning.shuffle_masks`), same initial weights;
   - ``reinit``: the found mask with the kept weights (and, under ``init = "torch"``, the
     biases) redrawn from the initial distribution (:func:`noprune_theory.pruning.reinitialize`);
   - ``inverted``: the mask of the same method keeping the LOWEST scores
     (``prune(..., invert=True)``, :func:`noprune_theory.pruning.invert_scores`); for IMP and
     magnitude after training that keeps the smallest trained magnitudes (every round for IMP).

4. Train all four variants from their initial weights on the logistic loss with ``optimizer``
   at step size ``lr`` for at most ``steps`` full-batch steps, stopping a network once it
   memorizes every point; a point is memorized when its loss is below ``log(2)/10``.

Presets: ``paper`` runs the toolkit's protocol (He init, ``N(0, I_d/d)`` inputs);
``paper-protocol`` the paper's stated one (``N(0, I_d)`` inputs, PyTorch's default init).

Values per cell, for each variant ``V`` in ``found``, ``shuffled``, ``reinit``, ``inverted``
(means over the ``nets`` problems): ``memorized_V`` (fraction of points memorized),
``loss_V`` (final mean training loss, nats per point), ``steps_V`` (updates used); and
``sparsity``, ``density``, ``kept_weights``, ``total_weights``, ``layer_density_found`` and
``layer_density_inverted`` (per-layer kept fractions, lists), ``effective_found``,
``effective_shuffled``, ``effective_inverted`` (kept weights on an input-to-output path, mean
per network; reinit has the found mask), ``diverged`` (networks whose loss became non-finite,
all variants).

References
----------
[FDRC] J. Frankle, G. K. Dziugaite, D. M. Roy and M. Carbin, "Pruning Neural Networks at
Initialization: Why are We Missing the Mark?", ICLR 2021, Sec. 5 and Figs. 3-5.
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Sec. 5 (memorization) and Theorem 4.
"""
from __future__ import annotations

from noprune_theory.sims._config import Field, preset

# the task is the memorization experiment's: the same data, training and pruning options
from noprune_theory.sims.memorization import FIELDS as _MEMORIZATION_FIELDS
from noprune_theory.sims.memorization import (
    _problems,
    _prune_options,
    _train_options,
    protocol_label,
)

DESCRIPTION = ("[FDRC] ablations (shuffle within layers, reinitialize, invert scores) of each "
               "pruning method's mask on the memorization task: points memorized and loss.")
CELL_VERSION = 1

METHODS = ("random", "magnitude", "snip", "grasp", "synflow", "magnitude_after_training", "imp")
#: The mask variants of every cell, in plotting order.
VARIANTS = ("found", "shuffled", "reinit", "inverted")
#: Methods that choose the mask before any training ([FDRC]'s "at initialization" group).
AT_INIT = ("random", "magnitude", "snip", "grasp", "synflow")

# the memorization task's fields; only the methods and the sparsity grid differ
FIELDS = {
    **_MEMORIZATION_FIELDS,
    "method": Field(list(METHODS), "pruning method", choices=METHODS),
    "k": Field([6, 10, 14], "sparsity exponent: sparsity = 1 - 0.8^k", low=1, high=100),
}

PRESETS = {
    "quick": preset("about 30 s on 2 cores: k in {8, 14}, 2 seeds x 4 networks, 600 steps",
                    k=[8, 14], seeds=2, nets=4, steps=600, synflow_iterations=20),
    "paper": preset("k in {6, 10, 14} (kept 26%, 11%, 4.4%), 8 seeds x 10 networks = 80 "
                    "problems per point, 2000 steps; measured 9 min 20 s with --workers 2 on "
                    "2 idle cores",
                    seeds=8),
    "paper-protocol": preset(
        "[NFP]'s stated protocol (x ~ N(0, I_30), PyTorch-default init; width 32 and <= 2000 "
        "steps are our choice), k in {6, 10, 14}, 25 seeds x 10 networks = 250 problems per "
        "point; measured in full: 8 min 30 s of CPU, 36 min wall in one process on 2 cores "
        "shared with other jobs", init="torch", input_scale="standard", seeds=25),
}


def _contiguous(masks):
    """C-contiguous copies of host masks: the numba update kernels refuse strided masks, and
    ``shuffle_masks`` / ``prune`` may return strided ones (reported to the lead)."""
    import numpy as np

    return [np.ascontiguousarray(m) if isinstance(m, np.ndarray) else m for m in masks]


def _layer_density(masks):
    """Kept fraction of every layer, averaged over the networks of the batch."""
    import numpy as np

    from noprune_theory.backend import to_numpy

    return [float(np.asarray(to_numpy(m), dtype=np.float64).mean()) for m in masks]


def _effective_weights(masks):
    """Kept weights on at least one input-to-output path, per network: an int array (B,).

    A kept weight into a unit that reaches the output through no kept weight (or out of a unit
    that no input reaches) cannot change what the network computes from its input; such
    weights are the "ineffective" ones a within-layer shuffle creates at high sparsity
    (Vysogorets & Kempe 2023). Biases are ignored.
    """
    import numpy as np

    from noprune_theory.backend import to_numpy

    m = [np.asarray(to_numpy(x), dtype=bool) for x in masks]   # (B, fan_in, fan_out)
    B = m[0].shape[0]
    fwd = [np.ones((B, m[0].shape[1]), dtype=bool)]            # reached from the input
    for layer in m:
        fwd.append(np.einsum("bi,bij->bj", fwd[-1].astype(np.int64), layer) > 0)
    bwd = [np.ones((B, m[-1].shape[2]), dtype=bool)]           # reaching the output
    for layer in reversed(m):
        bwd.insert(0, np.einsum("bij,bj->bi", layer, bwd[0].astype(np.int64)) > 0)
    count = np.zeros(B, dtype=np.int64)
    for l, layer in enumerate(m):
        count += (layer & fwd[l][:, :, None] & bwd[l + 1][:, None, :]).sum(axis=(1, 2))
    return count


def _stack_variants(template, nets_list):
    """One batch holding the networks of every variant (trained in one call, same steps)."""
    xp = template.xp
    big = template.copy()
    big.B = sum(n.B for n in nets_list)
    big.weights = [xp.concat([n.weights[l] for n in nets_list], axis=0)
                   for l in range(template.depth)]
    big.initial_weights = [xp.asarray(w, copy=True) for w in big.weights]
    if template.biases is not None:
        big.biases = [xp.concat([n.biases[l] for n in nets_list], axis=0)
                      for l in range(template.depth)]
        big.initial_biases = [xp.asarray(b, copy=True) for b in big.biases]
    big.set_masks(_contiguous([xp.concat([n.masks[l] for n in nets_list], axis=0)
                               for l in range(template.depth)]))
    return big


def _prepared(config, seed):
    """Everything of a cell before training: the batch of its four variants and its data."""
    import numpy as np

    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune, reinitialize, shuffle_masks

    X, y = _problems(config, seed)
    B = config["nets"]
    init = MaskedMLP(config["d"], (config["width"],) * config["depth"], B=B,
                     activation="relu", backend=config["backend"], seed=seed,
                     init=config["init"])
    sparsity = 1.0 - 0.8 ** config["k"]
    opts = _prune_options(config)
    method = config["method"]
    found = prune(init, method, sparsity=sparsity, data=(X, y), seed=seed, **opts)
    inverted = prune(init, method, sparsity=sparsity, data=(X, y), seed=seed, invert=True,
                     **opts)
    variants = {}
    for name, masks in (("found", found), ("inverted", inverted)):
        net = init.copy()
        net.set_masks(_contiguous(masks))
        variants[name] = net
    variants["shuffled"] = init.copy()
    variants["shuffled"].set_masks(_contiguous(shuffle_masks(found, seed=seed + 1)))
    # reinitialize() draws a fresh MaskedMLP with this seed: one far from the init seeds used
    variants["reinit"] = reinitialize(variants["found"], seed=seed + 1_000_003)
    order = list(VARIANTS)
    big = _stack_variants(init, [variants[v] for v in order])
    Xs = np.concatenate([X] * len(order))
    ys = np.concatenate([y] * len(order))
    return init, variants, big, Xs, ys


def cell(config, seed):
    """One method, one sparsity: train the found mask and its three ablations."""
    from noprune_theory.training import train

    init, variants, big, Xs, ys = _prepared(config, seed)
    # the seed of train() draws nothing here (full batch, no gradient noise)
    result = train(big, Xs, ys, loss="logistic", seed=seed, **_train_options(config))
    return _record(config, init, variants, result)


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key train as one batch: every field but the method and k."""
    return tuple((k, v) for k, v in sorted(config.items()) if k not in ("method", "k"))


def network_count(config):
    """Networks one cell trains (four variants of ``nets`` networks)."""
    return len(VARIANTS) * config["nets"]


def network_bytes(config):
    """Memory one network takes while its batch trains (bytes, an upper estimate)."""
    from noprune_theory.sims.memorization import network_bytes as per_network

    return per_network(config)


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]``, their networks trained as one batch.

    Each cell's four variants are built exactly as in :func:`cell`; training treats every
    network on its own (its own data, mask, Adam state and stop), so every value equals the
    cell's own.
    """
    import numpy as np

    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import TrainResult, train

    prepared = [_prepared(config, seed) for config, seed in items]
    big = MaskedMLP._stack([p[2] for p in prepared])
    result = train(big, np.concatenate([p[3] for p in prepared]),
                   np.concatenate([p[4] for p in prepared]), loss="logistic", seed=0,
                   **_train_options(items[0][0]))
    out = []
    start = 0
    for (config, _), (init, variants, cell_big, _, _) in zip(items, prepared):
        idx = np.arange(start, start + cell_big.B)
        start += cell_big.B
        part = TrainResult(
            final_loss=result.final_loss[idx], final_accuracy=result.final_accuracy[idx],
            memorized=result.memorized[idx], steps=result.steps[idx],
            converged=result.converged[idx], diverged=result.diverged[idx], trajectory=None,
        )
        out.append(_record(config, init, variants, part))
    return out


def _record(config, init, variants, result):
    import numpy as np

    from noprune_theory.backend import to_numpy

    B = config["nets"]
    order = list(VARIANTS)
    sparsity = 1.0 - 0.8 ** config["k"]
    record = {
        "sparsity": sparsity,
        "density": float(variants["found"].density().mean()),
        "kept_weights": float(variants["found"].kept_count().mean()),
        "total_weights": int(init.weight_count()),
        "layer_density_found": _layer_density(variants["found"].masks),
        "layer_density_inverted": _layer_density(variants["inverted"].masks),
        "diverged": int(np.sum(result.diverged)),
    }
    for v in ("found", "shuffled", "inverted"):  # reinit has the found mask
        record[f"effective_{v}"] = float(_effective_weights(variants[v].masks).mean())
    memorized = np.asarray(result.memorized, dtype=np.float64).reshape(len(order), B)
    loss = np.asarray(result.final_loss, dtype=np.float64).reshape(len(order), B)
    steps = np.asarray(to_numpy(result.steps), dtype=np.float64).reshape(len(order), B)
    for i, v in enumerate(order):
        record[f"memorized_{v}"] = float(memorized[i].mean())
        record[f"loss_{v}"] = float(loss[i].mean())
        record[f"steps_{v}"] = float(steps[i].mean())
    return record


def plot(table, config, outdir):
    """Memorized fraction and final loss of each variant, per method, one panel per k."""
    import numpy as np

    from noprune_theory.sims._plotting import mean_sem, new_figure

    rows = table.to_dict("records")
    ks = sorted({r["k"] for r in rows})
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    seeds = len({r["seed"] for r in rows})
    nets = rows[0]["nets"]
    total = rows[0]["total_weights"]
    colors = {"found": "C0", "shuffled": "C1", "reinit": "C2", "inverted": "C3"}
    markers = {"found": "o", "shuffled": "s", "reinit": "^", "inverted": "v"}
    figs = {}
    for stem, prefix, ylabel in (
            ("shuffle_ablation_memorization", "memorized",
             "fraction of points memorized (loss < log(2)/10)"),
            ("shuffle_ablation_loss", "loss", "final training loss (nats per point, log)")):
        fig, axes = new_figure(1, len(ks), width=4.6, height=4.0, sharey=True, squeeze=False)
        for ax, k in zip(axes[0], ks):
            sub = [r for r in rows if r["k"] == k]
            x = np.arange(len(methods))
            for j, v in enumerate(VARIANTS):
                st = mean_sem(sub, f"{prefix}_{v}", by=["method"])
                by = {r["method"]: r for r in st.to_dict("records")}
                means = [by[m]["mean"] if m in by else np.nan for m in methods]
                sems = [by[m]["sem"] if m in by else np.nan for m in methods]
                ax.errorbar(x + (j - 1.5) * 0.17, means, yerr=sems, linestyle="none",
                            marker=markers[v], color=colors[v], capsize=2, markersize=5,
                            label=v)
            ax.axvline(len(AT_INIT) - 0.5, color="gray", linewidth=0.8)
            ax.set_xticks(x)
            ax.set_xticklabels([m.replace("magnitude_after_training", "mag. after\ntraining")
                                .replace("magnitude", "magnitude\nat init") for m in methods],
                               rotation=45, ha="right", fontsize=7)
            kept = 0.8 ** k
            ax.set_title(f"k = {k}: {kept:.1%} kept (~{kept * total:.0f} of {total} weights)",
                         fontsize=8)
            if prefix == "loss":
                ax.set_yscale("log")
            else:
                ax.set_ylim(-0.03, 1.03)
        axes[0, 0].set_ylabel(ylabel)
        axes[0, 0].legend(fontsize=7, title="mask", title_fontsize=7)
        fig.suptitle(f"[FDRC] ablations on memorization: n = {rows[0]['n']} random labels, "
                     f"d = {rows[0]['d']}, {rows[0]['depth']} hidden ReLU layers of "
                     f"{rows[0]['width']}, {protocol_label(config)}; left of the line: pruning "
                     f"at init, right: after training\nmean $\\pm$ s.e. over {seeds} seeds "
                     f"(each the mean of {nets} networks)", fontsize=9)
        figs[stem] = fig
    return figs


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("shuffle_ablation")
