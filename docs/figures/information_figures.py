"""Information between pruning masks and data: plug-in estimates and an exact toy model.

(a) Plug-in estimates (``mask_data_information``) for a 2-2-1 ReLU network (p = 6 weights,
    half kept: at most C(6, 3) = 20 masks), datasets of n = 6 points from N(0, I_2 / 2) with
    random +-1 labels; N = 12 datasets x M = 40 pipeline seeds (init and pruning seed) for
    I(m; D), the same M seeds on the N datasets for I(m; D | init). Methods: random, magnitude
    at init, SynFlow (data-agnostic), SNIP (data at init), magnitude after training (Adam,
    lr 1e-2, 200 steps, MSE). Bars: Miller-Madow estimate and the permutation-debiased one with
    +-2 null sd; the ceiling log2 C(6, 3).
(b) Exact values (``mask_information_exact``) on the toy model of [NFP] Sec. 5: datasets of 6
    draws from the 16 points {-1, +1}^3 x {-1, +1} (all 54,264 multisets, with their multinomial
    probabilities), one hidden layer of width 4 (16 weights + 5 biases = 21 parameters),
    full-batch gradient descent on the MSE (lr 0.05, 200 steps) from a fixed initialization, then
    magnitude pruning keeping k of 16 weights. The mask is deterministic given (data, init), so
    I(m; D | init) = H(m | init), exactly; averaged over 4 initializations, with the ceilings
    log2 C(16, k), sum_i H(m_i) and H(D).

Run: ``python docs/figures/information_figures.py`` (writes information_masks.png, .pdf and
.json next to this file; fixed seeds).
"""
import itertools
import json
import math
from pathlib import Path

import numpy as np

from noprune_theory import __version__
from noprune_theory.estimators import (
    enumerate_datasets,
    mask_data_information,
    mask_information_exact,
)
from noprune_theory.models import MaskedMLP
from noprune_theory.pruning import prune
from noprune_theory.training import train

CONFIG = {
    "plugin": {"d": 2, "hidden": 2, "n": 6, "sparsity": 0.5, "n_datasets": 12, "n_inits": 40,
               "methods": ["random", "magnitude", "synflow", "snip", "magnitude_after_training"],
               "train": {"optimizer": "adam", "lr": 1e-2, "steps": 200}, "seed": 0},
    "toy": {"n": 6, "width": 4, "lr": 0.05, "steps": 200, "inits": [0, 1, 2, 3],
            "kept": [2, 4, 6, 8, 10, 12, 14]},
}


def _sampler(cfg):
    def sample(seed):
        r = np.random.default_rng(seed)
        return (r.standard_normal((cfg["n"], cfg["d"])) / math.sqrt(cfg["d"]),
                r.choice([-1.0, 1.0], size=cfg["n"]))
    return sample


def plugin_panel(cfg=CONFIG["plugin"]):
    out = {}
    for method in cfg["methods"]:
        options = {"synflow": {"iterations": 10},
                   "snip": {"loss": "mse"},
                   "magnitude_after_training": {"loss": "mse",
                                                "train_options": cfg["train"]}}.get(method, {})

        def mask_fn(X, y, seed, method=method, options=options):
            net = MaskedMLP(cfg["d"], (cfg["hidden"],), B=1, seed=seed)
            return prune(net, method, sparsity=cfg["sparsity"], data=(X, y), seed=seed,
                         **options)

        r = mask_data_information(mask_fn, _sampler(cfg), n_datasets=cfg["n_datasets"],
                                  n_inits=cfg["n_inits"], seed=cfg["seed"])
        out[method] = {k: getattr(r, k) for k in (
            "mi", "mi_se", "mi_debiased", "null_sd", "p_value", "mi_conditional",
            "mi_conditional_se", "entropy", "per_weight_entropy", "ceiling", "upper",
            "n_patterns", "n_runs", "reliable")}
        print(f"{method:>25s}: I(m;D) {r.mi:.3f} +- {r.mi_se:.3f} (debiased {r.mi_debiased:.3f},"
              f" null sd {r.null_sd:.3f}, p {r.p_value:.3f}); I(m;D|init) "
              f"{r.mi_conditional:.3f} +- {r.mi_conditional_se:.3f}; {r.n_patterns} patterns")
    return out


def _toy_masks(cfg, init, idx, pop_x, pop_y, kept):
    """Masks (len(kept), count, 16) of magnitude pruning after GD, one net per dataset."""
    count = len(idx)
    X = pop_x[idx]  # (count, n, 3)
    y = pop_y[idx]  # (count, n)
    net = MaskedMLP(3, (cfg["width"],), B=count, seed=init)
    # one initialization for every dataset: copy network 0's weights across the batch
    net.weights = [np.ascontiguousarray(np.broadcast_to(w[:1], w.shape)) for w in net.weights]
    net.initial_weights = [w.copy() for w in net.weights]
    train(net, X, y, loss="mse", optimizer="gd", lr=cfg["lr"], steps=cfg["steps"], seed=0)
    mags = np.concatenate([np.abs(w).reshape(count, -1) for w in net.weights], axis=1)
    # ties broken by a fixed tiny index-dependent offset: deterministic given (data, init)
    order = np.argsort(-(mags + 1e-12 * np.arange(mags.shape[1])), axis=1, kind="stable")
    masks = []
    for k in kept:
        m = np.zeros_like(mags, dtype=bool)
        np.put_along_axis(m, order[:, :k], True, axis=1)
        masks.append(m)
    return np.stack(masks)


def toy_panel(cfg=CONFIG["toy"]):
    pop_x = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    pop = [(x, s) for x in pop_x for s in (-1.0, 1.0)]
    px = np.array([p[0] for p in pop])
    py = np.array([p[1] for p in pop])
    idx, w = enumerate_datasets(len(pop), cfg["n"])
    h_data = float(-np.sum(w * np.log2(w)))
    print(f"toy: {len(idx)} datasets, H(D) = {h_data:.3f} bits")
    table = {k: {"mi_conditional": [], "mi": None, "per_weight": [], "ceiling": None}
             for k in cfg["kept"]}
    all_masks = {}
    for init in cfg["inits"]:
        all_masks[init] = _toy_masks(cfg, init, idx, px, py, cfg["kept"])
    fake = [(np.array([[float(i)]]), np.zeros(1)) for i in range(len(idx))]
    for j, k in enumerate(cfg["kept"]):
        def mask_fn(X, y, s, j=j):
            return all_masks[s][j, int(X[0, 0])]

        r = mask_information_exact(mask_fn, fake, w, seeds=cfg["inits"])
        table[k].update(mi=r.mi, mi_conditional=r.mi_conditional, per_weight=r.per_weight_entropy,
                        ceiling=r.ceiling, entropy=r.entropy, n_patterns=r.n_patterns)
        print(f"toy kept {k:2d}: I(m;D|init) {r.mi_conditional:.3f}  I(m;D) {r.mi:.3f}  "
              f"H(m) {r.entropy:.3f}  sum H(m_i) {r.per_weight_entropy:.3f}  "
              f"log2 C(16,k) {r.ceiling:.3f}  patterns {r.n_patterns}")
    return {"kept": table, "H_D": h_data, "datasets": len(idx)}


def plot(res, cfg=CONFIG, out=None):
    out = Path(__file__).with_name("information_masks") if out is None else Path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    pl = res["plugin"]
    names = list(pl)
    x = np.arange(len(names))
    mm = [pl[m]["mi"] for m in names]
    se = [pl[m]["mi_se"] for m in names]
    deb = [pl[m]["mi_debiased"] for m in names]
    band = [2 * pl[m]["null_sd"] for m in names]
    cond = [pl[m]["mi_conditional"] for m in names]
    cse = [pl[m]["mi_conditional_se"] for m in names]
    a.bar(x - 0.27, mm, 0.26, yerr=se, capsize=2,
          label="I(m; D), Miller-Madow ($\\pm$ bootstrap s.e.)",
          color="C0")
    a.bar(x, deb, 0.26, yerr=band, capsize=2,
          label="I(m; D), permutation-debiased ($\\pm$ 2 null sd)",
          color="C9")
    a.bar(x + 0.27, cond, 0.26, yerr=cse, capsize=2, label="I(m; D | init) = H(m | init)",
          color="C1")
    a.axhline(pl[names[0]]["ceiling"], color="k", ls=":",
              label=f"ceiling log2 C(6, 3) = {pl[names[0]]['ceiling']:.2f}")
    a.axhline(0, color="gray", lw=0.6)
    a.set_xticks(x, [n.replace("magnitude_after_training", "magnitude\nafter training")
                     for n in names], fontsize=8)
    a.set_ylabel("bits")
    a.set_title("(a) plug-in, 2-2-1 net, half of 6 weights kept,\n"
                f"{cfg['plugin']['n_datasets']} datasets x {cfg['plugin']['n_inits']} seeds",
                fontsize=9)
    a.legend(fontsize=7, loc="upper left")
    toy = res["toy"]["kept"]
    ks = sorted(toy, key=float)
    kv = [float(k) for k in ks]
    b.plot(kv, [toy[k]["mi_conditional"] for k in ks], "o-", color="C1",
           label="I(m; D | init) (exact, mean of 4 inits)")
    b.plot(kv, [toy[k]["mi"] for k in ks], "s-", color="C0",
           label="I(m; D) (exact, init uniform on 4)")
    b.plot(kv, [toy[k]["per_weight"] for k in ks], "^--", color="C2",
           label=r"$\sum_i H(m_i)$ (upper bound)")
    b.plot(kv, [toy[k]["ceiling"] for k in ks], "k:", label="log2 C(16, k) (upper bound)")
    b.axhline(res["toy"]["H_D"], color="gray", ls="--", label=f"H(D) = {res['toy']['H_D']:.2f}")
    b.set_xlabel("kept weights k of 16")
    b.set_ylabel("bits")
    b.set_title(f"(b) [NFP] toy model, exact over all {res['toy']['datasets']} datasets:\n"
                "GD on MSE, then magnitude pruning", fontsize=9)
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=130)
    fig.savefig(out.with_suffix(".pdf"))
    out.with_suffix(".json").write_text(json.dumps(
        {"config": cfg, "results": res, "version": __version__}, indent=1, default=float))


if __name__ == "__main__":
    plot({"toy": toy_panel(), "plugin": plugin_panel()})
