"""Per-layer densities chosen by each pruning method on the reference MLP (docs/pruning.md).

Reference MLP: d = 30, two hidden ReLU layers of 100, one output (layers 30x100, 100x100,
100x1), standard init, B = 8 networks (seeds of the batch), sparsity 0.9 (1310 of 13100
weights kept). Data for the data-dependent methods: the memorization setting of [NFP] Sec. 5,
n = 30 Gaussian points N(0, I/d) with random +-1 labels, logistic loss; training (IMP rounds,
magnitude after training) with Adam, lr 1e-2, 300 full-batch steps. The density schemes of
layer_densities are drawn beside the methods as references.

Run: ``python docs/figures/pruning_densities.py`` (writes pruning_densities.png, .pdf and
.json next to this file; fixed seeds, so the numbers are reproducible).
"""
import json
from pathlib import Path

import numpy as np

from noprune_theory import __version__
from noprune_theory.data import gaussian, random_labels
from noprune_theory.models import MaskedMLP
from noprune_theory.pruning import layer_densities, mask_counts, prune

CONFIG = {
    "d": 30,
    "hidden": [100, 100],
    "out": 1,
    "B": 8,
    "model_seed": 0,
    "sparsity": 0.9,
    "n": 30,
    "data_seed": 0,
    "loss": "logistic",
    "train_options": {"optimizer": "adam", "lr": 1e-2, "steps": 300},
    "synflow_iterations": 100,
    "grasp_temperature": 200.0,
    "prune_seed": 0,
}
METHODS = ["random", "magnitude", "snip", "grasp", "synflow", "magnitude_after_training", "imp"]
SCHEMES = ["uniform", "erk", "balanced", "pyramidal"]


def measure(cfg=CONFIG):
    net = MaskedMLP(cfg["d"], tuple(cfg["hidden"]), cfg["out"], B=cfg["B"], seed=cfg["model_seed"])
    X = gaussian(cfg["n"], cfg["d"], seed=cfg["data_seed"])
    y = random_labels(cfg["n"], seed=cfg["data_seed"] + 1)
    sizes = np.array([w.shape[1] * w.shape[2] for w in net.weights], dtype=np.float64)
    options = {
        "snip": {"loss": cfg["loss"]},
        "grasp": {"loss": cfg["loss"], "temperature": cfg["grasp_temperature"]},
        "synflow": {"iterations": cfg["synflow_iterations"]},
        "magnitude_after_training": {"loss": cfg["loss"], "train_options": cfg["train_options"]},
        "imp": {"loss": cfg["loss"], "train_options": cfg["train_options"]},
    }
    results = {}
    for method in METHODS:
        masks = prune(net, method, cfg["sparsity"], data=(X, y), seed=cfg["prune_seed"],
                      **options.get(method, {}))
        dens = mask_counts(masks) / sizes  # (B, L)
        results[method] = {"mean": dens.mean(axis=0).tolist(), "std": dens.std(axis=0).tolist()}
        print(f"{method:>25s}: " + "  ".join(f"{m:.4f}" for m in results[method]["mean"]))
    for scheme in SCHEMES:
        dens = layer_densities(net.sizes, 1 - cfg["sparsity"], scheme)
        results[f"scheme:{scheme}"] = {"mean": dens.tolist(), "std": [0.0] * len(dens)}
        print(f"{'scheme ' + scheme:>25s}: " + "  ".join(f"{m:.4f}" for m in dens))
    return results


OUT = Path(__file__).with_name("pruning_densities")


def plot(results, cfg=CONFIG, out=OUT):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    layers = ["layer 1 (30x100)", "layer 2 (100x100)", "layer 3 (100x1)"]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(names)
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        mean, std = np.array(results[name]["mean"]), np.array(results[name]["std"])
        xs = np.arange(len(layers)) + (i - (len(names) - 1) / 2) * width
        hatch = "//" if name.startswith("scheme:") else None
        ax.bar(xs, mean, width, yerr=std, color=cmap(i), hatch=hatch, edgecolor="k",
               linewidth=0.4, capsize=2, label=name.replace("scheme:", "scheme: "))
    ax.axhline(1 - cfg["sparsity"], color="k", ls="--", lw=0.8, label="global density 0.1")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.5)
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_ylabel("layer density (fraction of weights kept)")
    ax.set_title(
        f"Per-layer density at sparsity {cfg['sparsity']} (MLP 30-100-100-1, mean +- sd over "
        f"{cfg['B']} networks)"
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=150)
    fig.savefig(out.with_suffix(".pdf"))
    out.with_suffix(".json").write_text(
        json.dumps({"config": cfg, "version": __version__, "results": results}, indent=1)
    )
    print(f"wrote {out.with_suffix('.png')}")


if __name__ == "__main__":
    plot(measure())
