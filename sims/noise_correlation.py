"""Correlation of a trained network with the label noise: over training, IMP rounds, lr, noise.

Where this sits: the label-noise experiment of [NFP] Sec. 6 (docs/theory.md#theory-experiments) on
synthetic student-teacher data. The sparse law of robustness ([NFP] Theorem 4) charges a network
that fits noise for its *effective* parameters ``p_eff = I(m; D) + E||m||_1 log(...)``: a mask
chosen from the data (IMP) can carry information about the noise of the labels, so IMP masks should
let a sparse network fit the noise more than a data-agnostic mask with the same per-layer densities.
The quantity that measures "fitting the noise" is the correlation of the function with the noise
([BS] proof of Theorem 3, [NFP] Sec. 6)::

    corr(f) = (1/n) sum_i (f(x_i) - E_mu f) z_i ,     y_i = f*(x_i) + sigma z_i ,

with ``z`` drawn once and held fixed, and ``E_mu f`` estimated as the mean of ``f`` on ``fresh``
new inputs from the data law. A function that ignores the noise has ``corr ~ 0`` (of order
``1/sqrt(n)``); an interpolator of the labels has ``corr ~ sigma (1/n) sum z_i^2 ~ sigma``.

Protocol of one cell (lr, grad_noise, seed):

1. Data: :func:`noprune_theory.data.teacher_student` with a teacher MLP of ``teacher_depth``
   weight layers of width ``teacher_width`` (NTK scaling, no biases), ``n`` inputs
   ``x ~ N(0, I_d/d)``, labels ``y = f*(x) + sigma z``. ``fresh`` further inputs estimate
   ``E_mu f``. The data depend on the seed only, so every (lr, grad_noise) sees the same problem
   (paired comparisons).
   With ``input_scale = "standard"`` the students see the same draws times ``sqrt(d)``
   (``x ~ N(0, I_d)``) and the same labels: the teacher as a function of these inputs is
   ``f*(x / sqrt(d))``, so its output and the signal-to-noise ratio do not change.
2. Dense training ("round 0"): ``nets`` students (MLPs with ``depth`` weight layers of width
   ``width``, ReLU, ``init``: ``"he"``, the default, He weights and zero biases, ``"torch"``,
   PyTorch's ``nn.Linear`` default, or ``"lecun"``; seed-dependent, shared across the grid)
   trained on the
   MSE loss with full-batch Adam at step size ``lr`` for ``steps`` steps (one step = one epoch),
   with isotropic Gaussian noise of standard deviation ``grad_noise`` added to every gradient
   entry (:func:`noprune_theory.training.train`). ``corr`` is recorded every ``record_every``
   steps through train's callback.
3. IMP rounds ``r = 1 .. imp_rounds``: prune ``imp_fraction`` (20%) of the remaining weights by
   magnitude of the previous round's trained weights (global ranking,
   :func:`noprune_theory.pruning.prune` with ``"magnitude"``: density ``0.8^r``), rewind the
   survivors to the initialization and retrain exactly as in step 2. Two controls per round,
   trained on the same labels from the same initialization with the same gradient noise:

   - ``shuffled``: the IMP mask shuffled within each layer
     (:func:`noprune_theory.pruning.shuffle_masks`): the same per-layer densities, no
     information about the data ([FDRC]'s ablation);
   - ``other_noise``: the mask of a second IMP chain run on labels ``y' = f*(x) + sigma z'``
     with the same inputs and teacher but an independent noise draw ``z'``: a mask as
     "trainable" as IMP's and informed about the inputs and the teacher, but not about ``z``.
     ``corr_imp - corr_other_noise`` isolates the information about the noise in the mask.

Batched runs: the cells of one point (its seeds) run in lockstep (:func:`cells_batch`): the
dense runs of every cell train as one batch, then the four runs of each IMP round (the three
masks and the other-noise chain). With gradient noise each run trains alone, because
:func:`~noprune_theory.training.train` draws one noise array for its whole batch from one seed:
batching those runs would change their noise. Every training and measurement runs on
per-network inputs in both paths, so the values equal the cell-by-cell ones.

Values per cell (means over the ``nets`` students): ``steps_recorded`` (list), ``corr_curve``
and ``loss_curve`` (dense run, lists), ``corr_final`` and ``loss_final`` (end of the dense run),
``density`` (list over rounds 0..R), and for each mask ``M`` in ``imp``, ``shuffled``,
``other_noise``: ``corr_M`` and ``loss_M`` (end of each round, lists over rounds 0..R; round 0
is the dense run), ``corr_M_curves`` (R lists, the trajectory of each round), ``corr_M_last``;
the paired differences at the last round ``corr_gain_vs_shuffled`` and
``corr_gain_vs_other_noise``; ``noise_power`` (``(1/n) sum z_i^2``) and ``corr_teacher`` (corr
of the teacher itself: a function with no noise in it, ~ 0).

``corr`` is :func:`noprune_theory.estimators.noise_correlation` of the network's values on the
training inputs, centred by its mean on the fresh inputs.

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Sec. 6 and Theorem 4.
[BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021,
proof of Theorem 3 (the term ``(f(x_i) - E f) z_i``).
[FDRC] J. Frankle, G. K. Dziugaite, D. M. Roy and M. Carbin, "Pruning Neural Networks at
Initialization: Why are We Missing the Mark?", ICLR 2021, Sec. 5 (layer-wise shuffling).
"""
from __future__ import annotations

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset

DESCRIPTION = ("Correlation (1/n) sum (f(x_i) - E f) z_i of a student with the label noise: "
               "over training, IMP rounds (vs shuffled masks), learning rate, gradient noise.")
CELL_VERSION = 1

#: Input scales: ``normalized`` is ``x ~ N(0, I_d/d)`` (``E ||x||^2 = 1``), ``standard`` is
#: ``x ~ N(0, I_d)`` (the same draws times ``sqrt(d)``).
INPUT_SCALES = ("normalized", "standard")

FIELDS = {
    "lr": Field([1e-4, 3e-4, 1e-3], "Adam step size (1/step)", low=0, low_inclusive=False),
    "grad_noise": Field([0.0, 1e-3], "std of Gaussian noise added to every gradient entry "
                        "(loss units per weight unit)", low=0),
    "n": Field(1000, "number of training points", low=2),
    "d": Field(50, "input dimension", low=1),
    "input_scale": Field("normalized", "students' inputs: 'normalized' x ~ N(0, I_d/d), "
                         "'standard' x ~ N(0, I_d) (the teacher's labels are the same)",
                         choices=INPUT_SCALES),
    "init": Field("he", "students' initial weights: 'he' (zero biases), 'torch' "
                  "(U(+-1/sqrt(fan_in)) weights and biases), 'lecun' (N(0, 1/fan_in), zero "
                  "biases)", choices=INITS),
    "sigma": Field(1.0, "label noise standard deviation (label units)", low=0,
                   low_inclusive=False),
    "teacher_depth": Field(3, "teacher weight layers", low=1, high=10),
    "teacher_width": Field(50, "teacher hidden width (units)", low=1),
    "depth": Field(5, "student weight layers (hidden layers + 1)", low=2, high=10),
    "width": Field(100, "student hidden width (units)", low=1),
    "steps": Field(100, "full-batch Adam steps (= epochs) per training run", low=1),
    "record_every": Field(10, "steps between two measurements of corr", low=1),
    "imp_rounds": Field(8, "IMP rounds after the dense run (0: none)", low=0, high=40),
    "imp_fraction": Field(0.2, "IMP: fraction of the remaining weights pruned per round", low=0,
                          high=1, low_inclusive=False, high_inclusive=False),
    "fresh": Field(4000, "fresh inputs that estimate E_mu f", low=2),
    "nets": Field(2, "students (initializations) per cell, averaged", low=1),
}

PRESETS = {
    "quick": preset("about 20 s on 2 cores: n = 200, d = 20, width 32, 3 IMP rounds of 60 "
                    "steps, lr in {1e-3, 1e-2}, grad_noise in {0, 3e-3}, 2 seeds",
                    n=200, d=20, teacher_width=20, width=32, steps=60, imp_rounds=3,
                    lr=[1e-3, 1e-2], grad_noise=[0.0, 3e-3], fresh=2000, seeds=2),
    "paper": preset("[NFP] data and networks (n = 1000, d = 50, teacher 3 x 50, student "
                    "5 x 100); 6 IMP rounds of 100 steps; lr in {1e-4, 3e-4, 1e-3}, "
                    "grad_noise in {0, 1e-3, 3e-3}; 3 seeds x 2 students; ~15-25 min on 2 "
                    "idle cores (estimated from 5 ms per network-step)",
                    lr=[1e-4, 3e-4, 1e-3], grad_noise=[0.0, 1e-3, 3e-3], imp_rounds=6,
                    seeds=3),
}


def _noise_correlation(f_train, f_fresh, z):
    """``(1/n) sum_i (f(x_i) - mean(f_fresh)) z_i`` per network, by
    :func:`noprune_theory.estimators.noise_correlation`.

    ``f_train`` (B, n), ``f_fresh`` (B, m), ``z`` (n,); returns a float64 array (B,).
    """
    import numpy as np

    from noprune_theory.estimators import noise_correlation

    return np.asarray(noise_correlation(np.asarray(f_train, dtype=np.float64), None,
                                        np.asarray(z, dtype=np.float64),
                                        fresh=np.asarray(f_fresh, dtype=np.float64)),
                      dtype=np.float64)


def _outputs(model, X):
    import numpy as np

    from noprune_theory.backend import to_numpy

    return np.asarray(to_numpy(model.forward(X)), dtype=np.float64)[..., 0]


def _contiguous(masks):
    """C-contiguous copies of host masks: the numba update kernels refuse strided masks, and
    ``shuffle_masks`` / ``prune`` may return strided ones (reported to the lead)."""
    import numpy as np

    return [np.ascontiguousarray(m) if isinstance(m, np.ndarray) else m for m in masks]


def _problem(config, seed):
    """The data of a cell: depends on the seed only (paired across lr and grad_noise).

    Returns the data set, the fresh inputs and the labels of the same inputs and teacher with
    an independent noise draw ``z'`` (for the other-noise control).
    """
    import numpy as np

    from noprune_theory.data import gaussian, teacher_student

    hidden = (config["teacher_width"],) * (config["teacher_depth"] - 1)
    data = teacher_student(config["n"], config["d"], teacher_hidden=hidden,
                           sigma=config["sigma"], seed=seed)
    fresh = gaussian(config["fresh"], config["d"], seed=np.random.default_rng([seed, 7]))
    z_other = np.random.default_rng([seed, 8]).standard_normal(config["n"])
    y_other = np.asarray(data.target, dtype=np.float64) + config["sigma"] * z_other
    return data, fresh, y_other


def _per_network(a, B):
    """*a* repeated for each of B networks, C-contiguous: every training and measurement runs
    on per-network inputs, in a cell alone as in a batch of cells, so that a network's numbers
    never depend on the others trained with it."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    return np.ascontiguousarray(np.broadcast_to(a, (B,) + a.shape))


def _run(model, data, y, fresh, config, seed):
    """Train *model* in place on labels *y*; (steps, corr (T, B), loss (T, B)).

    corr is always taken against the noise ``data.noise`` of the real labels. *seed* seeds the
    gradient noise only (the initialization is the model's).
    """
    run = {"model": model, "X": data.X, "y": y, "fresh": fresh, "noise": data.noise,
           "seed": seed}
    _train_together([run], config)
    return run["out"]


def _train_together(runs, config):
    """Train the models of *runs* as one batch; each run's ``out`` = (steps, corr, loss).

    A run is a dict: ``model`` (trained in place), ``X`` (n, d), labels ``y`` (n,), ``fresh``
    inputs (m, d), the label ``noise`` z (n,) its corr is measured against, and the ``seed``
    of its gradient noise. The runs share one ``train()`` call, hence one seed: callers batch
    runs only when there is no gradient noise (then the seed draws nothing).
    """
    import numpy as np

    from noprune_theory.training import train

    models = [r["model"] for r in runs]
    big = models[0] if len(models) == 1 else type(models[0])._stack(models)
    X = np.concatenate([_per_network(r["X"], m.B) for r, m in zip(runs, models)])
    y = np.concatenate([_per_network(r["y"], m.B) for r, m in zip(runs, models)])
    fresh = np.concatenate([_per_network(r["fresh"], m.B) for r, m in zip(runs, models)])
    bounds = np.cumsum([0] + [m.B for m in models])

    def measure(net, step):
        f, f_fresh = _outputs(net, X), _outputs(net, fresh)
        return np.concatenate([_noise_correlation(f[a:b], f_fresh[a:b], r["noise"])
                               for r, a, b in zip(runs, bounds[:-1], bounds[1:])])

    res = train(big, X, y, loss="mse", optimizer="adam", lr=config["lr"],
                steps=config["steps"], grad_noise=config["grad_noise"],
                record_every=config["record_every"], callback=measure, seed=runs[0]["seed"])
    corr = np.stack(res.trajectory.callback)
    loss = np.asarray(res.trajectory.loss)
    for r, m, a, b in zip(runs, models, bounds[:-1], bounds[1:]):
        if m is not big:
            m.weights = [w[a:b] for w in big.weights]
            m.biases = [v[a:b] for v in big.biases]
        r["out"] = (res.trajectory.steps, corr[:, a:b], loss[:, a:b])


def _train_stage(runs, config):
    """Train every run of one stage of the protocol (the runs are independent).

    Without gradient noise all runs train as one batch. With it, ``train()`` draws one noise
    array for its whole batch from its seed, so each run trains alone with its own draws, as
    the protocol states (a batch would draw different numbers).
    """
    if config["grad_noise"] > 0:
        for r in runs:
            _train_together([r], config)
    else:
        _train_together(runs, config)


#: The three masks of every IMP round: (key, what it is).
MASKS = (
    ("imp", "IMP mask found on these labels"),
    ("shuffled", "the IMP mask shuffled within each layer"),
    ("other_noise", "IMP mask found on labels with an independent noise draw"),
)


def _cells(items):
    """The values of cells ``[(config, seed), ...]`` sharing every field but the seed, run in
    lockstep: each stage (the dense run, then each IMP round) trains the networks of every
    cell together (:func:`_train_stage`)."""
    import numpy as np

    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune, shuffle_masks

    config = items[0][0]
    rounds = config["imp_rounds"]
    hidden = (config["width"],) * (config["depth"] - 1)
    cells = []
    for cfg, seed in items:
        data, fresh, y_other = _problem(cfg, seed)
        init = MaskedMLP(cfg["d"], hidden, B=cfg["nets"], activation="relu",
                         backend=cfg["backend"], seed=seed, init=cfg.get("init", "he"))
        # the students' inputs: the same draws, times sqrt(d) for N(0, I_d); the labels are the
        # teacher's on the normalized draws either way
        scale = (np.sqrt(cfg["d"]) if cfg.get("input_scale", "normalized") == "standard"
                 else None)
        X = data.X if scale is None else np.asarray(data.X) * scale
        cells.append({"seed": seed, "data": data, "X": X, "y_other": y_other,
                      "fresh": fresh if scale is None else np.asarray(fresh) * scale,
                      "teacher_fresh": fresh, "init": init, "dense": init.copy(),
                      "density": [1.0]})

    def run(c, model, y, seed):
        return {"model": model, "X": c["X"], "y": y, "fresh": c["fresh"],
                "noise": c["data"].noise, "seed": seed}

    stage = []
    for c in cells:
        stage.append(run(c, c["dense"], c["data"].y, c["seed"]))
        if rounds > 0:
            # the IMP chain of the other-noise control: same init and inputs, labels y'
            c["chain_other"] = c["init"].copy()
            stage.append(run(c, c["chain_other"], c["y_other"], c["seed"]))
    _train_stage(stage, config)
    outs = iter(stage)
    for c in cells:
        c["first"] = next(outs)["out"]
        if rounds > 0:
            next(outs)
        c["ends"] = {k: {"corr": [float(c["first"][1][-1].mean())],
                         "loss": [float(c["first"][2][-1].mean())], "curves": []}
                     for k, _ in MASKS}
        c["chain"] = c["dense"]  # trained weights of the previous round, its masks, its init
    for r in range(1, rounds + 1):
        sparsity = 1.0 - (1.0 - config["imp_fraction"]) ** r
        stage = []
        for c in cells:
            seed, init = c["seed"], c["init"]
            # magnitude of the trained survivors, global ranking; pruned weights stay pruned
            masks = prune(c["chain"], "magnitude", sparsity=sparsity, seed=seed)
            masks_other = prune(c["chain_other"], "magnitude", sparsity=sparsity, seed=seed)
            shuffle_seed = int(np.random.default_rng([seed, r]).integers(2**31))
            nets = {"imp": c["chain"], "shuffled": init.copy(), "other_noise": init.copy()}
            nets["imp"].set_masks(_contiguous(masks))
            nets["shuffled"].set_masks(_contiguous(shuffle_masks(masks, seed=shuffle_seed)))
            nets["other_noise"].set_masks(_contiguous(masks_other))
            c["chain_other"].set_masks(_contiguous(masks_other))
            # same gradient-noise draws for every network of the round (paired comparisons)
            noise_seed = int(np.random.default_rng([seed, r, 1]).integers(2**31))
            for key, net in nets.items():
                net.rewind()
                stage.append(run(c, net, c["data"].y, noise_seed) | {"cell": c, "key": key})
            c["chain_other"].rewind()
            stage.append(run(c, c["chain_other"], c["y_other"], noise_seed) | {"cell": c})
        _train_stage(stage, config)
        for s in stage:
            if "key" in s:
                _, corr, loss = s["out"]
                ends = s["cell"]["ends"][s["key"]]
                ends["corr"].append(float(corr[-1].mean()))
                ends["loss"].append(float(loss[-1].mean()))
                ends["curves"].append(corr.mean(axis=1).tolist())
        for c in cells:
            c["density"].append(float(c["chain"].density().mean()))
    return [_record(c) for c in cells]


def _record(c):
    """The values of one cell from its finished runs."""
    import numpy as np

    data, fresh = c["data"], c["teacher_fresh"]
    steps, corr, loss = c["first"]
    # the teacher (B = 1) holds no noise: its corr is the O(1/sqrt(n)) floor
    teacher_corr = _noise_correlation(_outputs(data.teacher, data.X),
                                      _outputs(data.teacher, fresh), data.noise)
    record = {
        "steps_recorded": [int(s) for s in steps],
        "corr_curve": corr.mean(axis=1).tolist(),
        "loss_curve": loss.mean(axis=1).tolist(),
        "corr_final": float(corr[-1].mean()),
        "loss_final": float(loss[-1].mean()),
        "noise_power": float(np.mean(np.asarray(data.noise, dtype=np.float64) ** 2)),
        "corr_teacher": float(teacher_corr[0]),
    }
    ends = c["ends"]
    record["density"] = c["density"]
    for key, _ in MASKS:
        record[f"corr_{key}"] = ends[key]["corr"]
        record[f"loss_{key}"] = ends[key]["loss"]
        record[f"corr_{key}_curves"] = ends[key]["curves"]
        record[f"corr_{key}_last"] = ends[key]["corr"][-1]
    # paired differences at the last round: information about z in the mask, beyond its
    # per-layer densities (shuffled) and beyond what any IMP mask of this data gives (other)
    record["corr_gain_vs_shuffled"] = ends["imp"]["corr"][-1] - ends["shuffled"]["corr"][-1]
    record["corr_gain_vs_other_noise"] = (ends["imp"]["corr"][-1]
                                          - ends["other_noise"]["corr"][-1])
    return record


def cell(config, seed):
    """Dense training, then IMP rounds against two controls; corr with the label noise."""
    return _cells([(config, seed)])[0]


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key run as one batch: the same point (they differ by the seed)."""
    return tuple(sorted(config.items()))


def network_count(config):
    """Networks one cell trains at once: ``nets`` students, times four in an IMP round (the
    IMP mask, its two controls and the other-noise chain)."""
    return config["nets"] * (4 if config["imp_rounds"] > 0 else 1)


def network_bytes(config):
    """Memory one network takes while its batch trains (bytes, an upper estimate)."""
    d, w, n, m = config["d"], config["width"], config["n"], config["fresh"]
    L = config["depth"]
    weights = d * w + (L - 2) * w * w + w
    units = (L - 1) * w + 1
    # weights, initial weights, gradients, two Adam moments, masks and copies (float64);
    # activations, pre-activations and deltas over the n points; per-network copies of the
    # training and fresh inputs and the forward pass over the fresh inputs
    return 8 * (10 * weights + 4 * units * n + (n + m) * (d + 1) + 2 * units * m)


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group, run as one batch.

    The cells run in lockstep (:func:`_cells`): the dense runs of every cell train together,
    then the four runs of each IMP round of every cell. Training treats every network on its
    own (its own inputs, labels, mask and Adam state), so every value equals the cell's own.
    With gradient noise the runs train one by one (see :func:`_train_stage`): the same values,
    without the speed-up.
    """
    return _cells(items)


# ----------------------------------------------------------------------------- plots
def _mean_sem_arrays(rows, key):
    """Mean and standard error over rows (seeds) of an array-valued column."""
    import numpy as np

    a = np.asarray([np.asarray(r[key], dtype=np.float64) for r in rows])
    sem = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.full(a.shape[1:], np.nan)
    return a.mean(axis=0), sem


def _band(ax, x, mean, sem, **kwargs):
    import numpy as np

    line, = ax.plot(x, mean, **kwargs)
    if np.all(np.isfinite(sem)):
        ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=0.2,
                        linewidth=0)
    return line


def _where(table, **equal):
    return [r for r in table if all(r[k] == v for k, v in equal.items())]


def _reference(values, target):
    """The value of *values* closest to *target* on a log scale (targets the paper's lr)."""
    import math

    return min(values, key=lambda v: abs(math.log(v) - math.log(target)))


def _ceiling(ax, table, sigma):
    import numpy as np

    power = float(np.mean(table["noise_power"]))
    ax.axhline(sigma * power, color="k", linestyle=":", linewidth=1,
               label=(r"interpolating $y$: $\sigma \frac{1}{n}\sum z_i^2$"
                      + f" = {sigma * power:.2f}"))
    ax.axhline(float(np.mean(table["corr_teacher"])), color="gray", linestyle="-.",
               linewidth=0.8, label="teacher $f^*$ (no noise fitted)")


def plot(table, config, outdir):
    """Three figures: corr over training, over IMP rounds, and at the end against lr / noise."""
    import numpy as np

    from noprune_theory.sims._plotting import mean_sem, new_figure

    rows = table.to_dict("records")
    lrs = sorted({r["lr"] for r in rows})
    noises = sorted({r["grad_noise"] for r in rows})
    lr_ref = _reference(lrs, 1e-3)
    quiet = noises[0]
    sigma = float(rows[0]["sigma"])
    seeds = len({r["seed"] for r in rows})
    head = (f"n = {rows[0]['n']}, d = {rows[0]['d']}, student {rows[0]['depth']} x "
            f"{rows[0]['width']}, full-batch Adam; mean $\\pm$ s.e. over {seeds} seeds x "
            f"{rows[0]['nets']} students")
    ylabel = r"corr $=\frac{1}{n}\sum_i (f(x_i) - E f)\, z_i$ (label units)"
    figs = {}

    # 1. over training: one line per lr (no gradient noise), one per grad_noise (lr_ref)
    fig, axes = new_figure(1, 2, width=5.0, height=4.0)
    for lr in lrs:
        sub = _where(rows, lr=lr, grad_noise=quiet)
        m, s = _mean_sem_arrays(sub, "corr_curve")
        _band(axes[0], sub[0]["steps_recorded"], m, s, label=f"lr = {lr:g}")
    for g in noises:
        sub = _where(rows, lr=lr_ref, grad_noise=g)
        m, s = _mean_sem_arrays(sub, "corr_curve")
        _band(axes[1], sub[0]["steps_recorded"], m, s, label=f"grad noise = {g:g}")
    axes[0].set_title(f"dense student, grad noise = {quiet:g}", fontsize=9)
    axes[1].set_title(f"dense student, lr = {lr_ref:g}", fontsize=9)
    for ax in axes:
        _ceiling(ax, table, sigma)
        ax.set_xlabel("full-batch Adam steps (= epochs)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle("Correlation with the label noise over training\n" + head, fontsize=9)
    figs["noise_correlation_training"] = fig

    # 2. over IMP rounds, against the two controls
    if rows[0]["imp_rounds"] > 0:
        styles = {"imp": ("-", "o", "C0", "IMP mask"),
                  "shuffled": ("--", "s", "C1", "IMP mask shuffled in layers"),
                  "other_noise": (":", "^", "C2", "IMP mask of other noise $z'$")}
        fig, axes = new_figure(1, 3, width=5.0, height=4.2)
        sub = _where(rows, lr=lr_ref, grad_noise=quiet)
        T = rows[0]["steps"]
        R = rows[0]["imp_rounds"]
        st = np.asarray(sub[0]["steps_recorded"], dtype=float)
        m0, s0 = _mean_sem_arrays(sub, "corr_curve")
        _band(axes[0], st, m0, s0, color="k", label="dense (round 0)")
        for r in range(R):
            for key, (ls, _, color, name) in styles.items():
                a = np.asarray([np.asarray(x[f"corr_{key}_curves"], dtype=float)[r]
                                for x in sub])
                m = a.mean(axis=0)
                s = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else m * np.nan
                _band(axes[0], st + (r + 1) * T, m, s, linestyle=ls, color=color,
                      label=name if r == 0 else None)
        axes[0].set_xlabel(f"cumulative steps (rewind + retrain every {T} steps)")
        axes[0].set_title(f"during each round; lr = {lr_ref:g}, grad noise = {quiet:g}",
                          fontsize=9)
        rounds = np.arange(R + 1)
        for key, (ls, mk, color, name) in styles.items():
            m, s = _mean_sem_arrays(sub, f"corr_{key}")
            axes[1].errorbar(rounds, m, yerr=s, linestyle=ls, marker=mk, capsize=3,
                             color=color, label=name)
        axes[1].set_title(f"end of each round ({T} steps); lr = {lr_ref:g}, grad noise = "
                          f"{quiet:g}", fontsize=9)
        for i, lr in enumerate(lrs):
            lsub = _where(rows, lr=lr, grad_noise=quiet)
            for other, ls, mk in (("shuffled", "--", "s"), ("other_noise", ":", "^")):
                a = np.asarray([np.subtract(x["corr_imp"], x[f"corr_{other}"]) for x in lsub])
                m = a.mean(axis=0)
                s = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else m * np.nan
                axes[2].errorbar(rounds[1:], m[1:], yerr=s[1:], linestyle=ls, marker=mk,
                                 capsize=3, color=f"C{i + 3}",
                                 label=f"IMP - {other.replace('_', ' ')}, lr = {lr:g}")
        axes[2].axhline(0.0, color="k", linewidth=0.8)
        axes[2].set_title(f"paired differences at the end of each round, grad noise = "
                          f"{quiet:g}", fontsize=9)
        axes[2].set_ylabel("difference of corr (label units)")
        dens = np.mean([r["density"] for r in rows], axis=0)
        ticks = rounds[:: max(1, len(rounds) // 4)]
        for ax in axes[1:]:
            ax.set_xlabel(f"IMP round ({rows[0]['imp_fraction']:.0%} of the remaining weights "
                          "pruned per round)", fontsize=8)
            top = ax.secondary_xaxis("top")
            top.set_ticks(ticks)
            top.set_xticklabels([f"{dens[t]:.2f}" for t in ticks])
            top.set_xlabel("fraction of weights kept", fontsize=8)
        for ax in axes[:2]:
            _ceiling(ax, table, sigma)
            ax.set_ylabel(ylabel)
        for ax in axes:
            ax.legend(fontsize=6)
        fig.suptitle("Correlation with the label noise over IMP rounds: the IMP mask against "
                     "the same mask shuffled within layers and the IMP mask found on an "
                     "independent noise draw\n" + head, fontsize=9)
        figs["noise_correlation_imp"] = fig

    # 3. end of the dense run against lr and against gradient noise; the training loss below
    fig, axes = new_figure(2, 2, width=5.0, height=3.5, sharex="col")
    loss_label = "training MSE at the end (label units$^2$)"
    for row, (key, label) in enumerate((("corr_final", ylabel), ("loss_final", loss_label))):
        for g in noises:
            st = mean_sem(_where(rows, grad_noise=g), key, by=["lr"])
            axes[row, 0].errorbar(st["lr"], st["mean"], yerr=st["sem"], marker="o", capsize=3,
                                  label=f"grad noise = {g:g}")
        for lr in lrs:
            st = mean_sem(_where(rows, lr=lr), key, by=["grad_noise"])
            axes[row, 1].errorbar(st["grad_noise"], st["mean"], yerr=st["sem"], marker="o",
                                  capsize=3, label=f"lr = {lr:g}")
        for ax in axes[row]:
            if row == 0:
                _ceiling(ax, table, sigma)
            ax.set_ylabel(label, fontsize=8)
            ax.legend(fontsize=7)
    axes[0, 0].set_xscale("log")
    positive = [g for g in noises if g > 0]
    if positive:
        axes[0, 1].set_xscale("symlog", linthresh=min(positive))
    axes[1, 0].set_xlabel("Adam step size lr (1/step, log scale)")
    axes[1, 1].set_xlabel("gradient noise std (per entry; symlog scale, 0 = none)")
    fig.suptitle(f"End of the dense run ({rows[0]['steps']} steps) against lr and gradient "
                 "noise\n" + head, fontsize=9)
    figs["noise_correlation_lr_noise"] = fig
    return figs


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("noise_correlation")
