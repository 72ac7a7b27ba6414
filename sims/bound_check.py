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
   There is no ``input_scale`` key here: the theorem's setting fixes the scale
   (``E ||x||^2 = 1``, docs/theory.md), and ``data`` chooses the law.
2. ``nets`` two-layer ReLU networks ``d -> width -> 1`` (``init``: He weights and zero biases
   by default, or ``"torch"``/``"lecun"`` as in :class:`~noprune_theory.models.MaskedMLP`; seed =
   the cell's seed: paired across methods), pruned to ``sparsity`` with ``method``
   (:func:`noprune_theory.pruning.prune`; global ranking, exact kept count; the data-dependent
   methods see (X, y) and the MSE loss; IMP and magnitude after training train with step 3's
   settings). ``sparsity = 0`` is the dense network.
3. Train from the initialization with Adam (full batch, MSE) until the mean squared error is
   at most ``sigma^2 - eps`` (each network stops on its own) or ``steps`` updates (``kernels``
   picks the training kernels).
4. Measure, per network: the training MSE and whether it fits below the noise level; a
   certified lower bound of Lip (:func:`~noprune_theory.estimators.lipschitz_lower`: gradient
   norms at the data, at random points, projected gradient ascent and difference quotients of
   pairs, unless ``pairs`` is false) and an upper bound
   (:func:`~noprune_theory.estimators.lipschitz_upper`: the smallest of the spectral,
   sum-of-norms and activation-pattern bounds; the pattern search only up to
   ``pattern_max_width`` hidden units); ``p_eff`` of the theorem from
   the measured weights (:func:`~noprune_theory.estimators.measured_effective_params`:
   ``W = 2 w_max sqrt(p)``, ``J = R (w_max p)^2``, R the largest data norm); ``I(m; D)``; and
   the bound :func:`noprune_theory.theory.sparse_robustness_bound` at these numbers (the
   sample-size condition is recorded, not enforced).

Memory (``work_memory``, MiB): every pass over the n points that a cell makes -- its
trainings (``train(memory_budget=work_memory)``, also those inside IMP and magnitude after
training), SNIP's gradient pass, IMP's and the measurement's loss evaluations -- goes through
the points in slices whose ``(nets, rows, width)`` buffers fit the budget, and the Lipschitz
lower bound works in chunks of ``work_memory / 64`` Mi numbers (``memory`` of
:func:`~noprune_theory.estimators.lipschitz_lower`; its default at 1024 MiB). A sliced pass
sums the slices' gradients or losses, so it changes results by rounding only; a pass that fits
is not sliced. Beside the budget a cell holds its data: float64 (and a float32 copy for float32
networks), 3 GiB at n = 2^16, d = 4096. This budget is the cell's own; the runner's
``--memory-budget`` only plans how many cells run as one batch.

The theorem's regime (preset ``theorem``): ``eps_rule = "condition"`` takes the smallest margin
for which the sample-size condition ``8^3 log(8/delta) <= n eps^2`` (k = 1) holds, with the
factor ``eps_margin`` to spare, ``eps = sqrt(eps_margin 8^3 log(8/delta) / n)`` (0.94, 0.47,
0.23 at n = 2^12, 2^14, 2^16 with 5% to spare), so eps shrinks as n grows; and ``width_rule =
"capacity"`` takes the width that keeps ``capacity * eps * n`` weights after pruning (fitting a
fraction eps of the variance of pure-noise labels takes about eps n effective parameters, not
full interpolation): ``width = ceil(capacity eps n / ((d + 1)(1 - sparsity)))``
(:func:`theorem_setting`). Networks can train in float32 (``dtype``; the measurements always
run in float64 on the trained weights and the data as drawn). Beside every cell stands the
floor: the smallest Lipschitz constant of any function interpolating the cell's own dataset
(:func:`noprune_theory.sims.lipschitz_floor.interpolation_floor`, McShane). A network that
only fits below the noise level need not interpolate, so it may sit below the floor; networks
that nearly interpolate (eps near 1) may not.

Cells of one shape train as batches of the runner (:func:`cells_batch`): the pruning is
prepared once per initialization for all the sparsities of a batch, and each cell's networks
then train on their own.

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
``lip_upper``, ``upper_method``, ``kept``, ``live_units`` (hidden units with a kept path to the
output: the others never change f, and the Lipschitz bounds and the training skip them),
``mi_bits``, ``mi_kind``, ``p_eff`` (bits),
``bits_per_weight`` (``log2(1 + 60 W J / eps)``), ``bound`` (the theorem's Lip lower bound),
``bound_dense`` ([BS] Theorem 3 with p = kept weights + biases), ``x_theorem``
(``sqrt(n d / p_eff)``), ``x_informal`` (``sqrt(n d / (kept + I))``, I in bits), ``train_steps``;
``ratio`` (``lip_lower / bound``), ``ratio_upper`` (``lip_upper / bound``); and the cell
summaries ``fit_fraction``, ``lip_lower_mean``, ``lip_upper_mean``, ``sigma2``, ``eps_used``
(the margin the cell ran with: ``eps``, or the condition rule's), ``width_used``,
``kept_target`` (``capacity * eps * n``, None under the fixed width), ``condition_lhs``
(``8^3 log(8/delta)``), ``condition_rhs`` (``n eps^2``), ``sample_condition_n`` (the n the
theorem's condition needs at this eps), ``condition_holds``, ``lip_floor`` (the McShane floor of
the dataset), and the CPU seconds of each phase, ``cpu_seconds_prune`` (IMP and magnitude after
training train inside it; shared out over the cells pruned together), ``cpu_seconds_train``
(0 for a cell whose masks equal an earlier cell's of the batch: ``same_mask_as`` names that
cell's method, and its trained networks are reused),
``cpu_seconds_floor`` (shared out likewise; 0 when the process had it from an earlier batch),
``cpu_seconds_lower``, ``cpu_seconds_upper``.

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Theorem 4 and Sec. 4.1.
[BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021,
Theorem 3.
"""
from __future__ import annotations

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset, pruning_options

DESCRIPTION = ("Lipschitz constants of pruned two-layer nets that fit noise vs sqrt(n d / p_eff), "
               "beside the sparse law of robustness ([NFP] Thm 4).")
CELL_VERSION = 2

EPS_RULES = ("fixed", "condition")
WIDTH_RULES = ("fixed", "capacity")
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
    "width": Field(64, "hidden units (width_rule = fixed)", low=1),
    "data": Field("gaussian", "input law: N(0, I_d/d) or uniform on the unit sphere",
                  choices=("gaussian", "sphere")),
    "labels": Field("sign", "labels: random +-1 (sigma^2 = 1), sigma z, or x_1 + sigma z",
                    choices=("sign", "noise", "linear")),
    "init": Field("he", "initial weights: 'he' (zero biases), 'torch' (U(+-1/sqrt(fan_in)) "
                  "weights and biases), 'lecun' (N(0, 1/fan_in), zero biases)",
                  choices=INITS),
    "sigma": Field(1.0, "noise standard deviation of the noise and linear labels", low=0,
                   low_inclusive=False),
    "eps": Field(0.5, "fitting margin: fit means MSE <= sigma^2 - eps (label units^2; "
                 "eps_rule = fixed)", low=0, high=1, low_inclusive=False, high_inclusive=False),
    "eps_rule": Field("fixed", "fixed: eps as given; condition: the smallest eps for which "
                      "[NFP] Thm 4's sample-size condition holds at n, times sqrt(eps_margin)",
                      choices=EPS_RULES),
    "eps_margin": Field(1.05, "eps_rule = condition: n eps^2 = eps_margin * 8^3 log(8/delta) "
                        "(the condition holds with this factor to spare)", low=1),
    "width_rule": Field("fixed", "fixed: width as given; capacity: the width keeping "
                        "capacity * eps * n weights after pruning", choices=WIDTH_RULES),
    "capacity": Field(2.0, "width_rule = capacity: kept weights per unit of eps * n (fitting "
                      "a fraction eps of the label variance needs ~eps * n parameters)", low=0,
                      low_inclusive=False),
    "delta": Field(0.01, "failure probability of the theorem", low=0, high=1,
                   low_inclusive=False, high_inclusive=False),
    "c": Field(1.0, "isoperimetry constant of the input law", low=0, low_inclusive=False),
    "nets": Field(8, "networks (initializations) per cell, trained as one batch", low=1),
    "dtype": Field("float64", "floating type of the networks while they are pruned and "
                   "trained (measurements run in float64 on the trained weights)",
                   choices=("float32", "float64")),
    "kernels": Field("auto", "training kernels: auto = train()'s choice, xp = the batched "
                     "array products (train(kernels='xp'))", choices=("auto", "xp")),
    "work_memory": Field(1024, "MiB that the working buffers growing with n (shape (nets, n, "
                         "width)) of one training, SNIP gradient pass or loss evaluation, and "
                         "the chunks of the Lipschitz lower bound, may take: train("
                         "memory_budget=...); sliced passes change sums by rounding only",
                         low=1),
    "lr": Field(1e-2, "Adam step size (1/step)", low=0, low_inclusive=False),
    "steps": Field(3000, "maximum full-batch training steps", low=1),
    "imp_fraction": Field(0.2, "IMP: fraction of survivors pruned per round", low=0, high=1,
                          low_inclusive=False, high_inclusive=False),
    "synflow_iterations": Field(20, "SynFlow: pruning iterations", low=1),
    "ascent_starts": Field(32, "Lipschitz lower bound: gradient-ascent starts per network",
                           low=1),
    "ascent_steps": Field(20, "Lipschitz lower bound: gradient-ascent steps", low=0),
    "pairs": Field(True, "Lipschitz lower bound: also the difference quotients of all pairs "
                   "of data points (O(n^2 d) per network)"),
    "max_nodes": Field(200, "Lipschitz upper bound: node budget of the branch and bound",
                       low=1),
    "pattern_max_width": Field(1_000_000, "Lipschitz upper bound: widest network that gets the "
                               "activation-pattern search (wider: spectral and sum-of-norms "
                               "bounds only)", low=0),
}

#: The theorem preset's description (``sim --list``); the measured cost is in
#: docs/reproduction/bound_check.md.
THEOREM_DESCRIPTION = (
    "[NFP] Thm 4 in its regime: n in {2^12, 2^14, 2^16} with eps the smallest margin of the "
    "sample-size condition (x1.05 on n eps^2: 0.94, 0.47, 0.23), d in {64, 256, 1024, "
    "4096}, 5 methods x sparsity {0.5, 0.75}, width keeping 2 eps n weights, float32, "
    "1 seed x 1 net, at most 500 steps; measured: 27 min on 2 idle cores with --workers 2 "
    "(49 CPU-min), peak 7.9 GB summed over the processes")

#: What the two theorem presets share: [NFP] Thm 4's regime (n, the condition's eps, the
#: capacity width) and the measurement settings; they differ in d and the step budget.
THEOREM_SETTINGS = dict(
    n=[4096, 16384, 65536], sparsity=[0.5, 0.75], eps_rule="condition", eps_margin=1.05,
    width_rule="capacity", capacity=2.0, nets=1, seeds=1, dtype="float32", kernels="xp",
    imp_fraction=0.5, pairs=False, max_nodes=50, pattern_max_width=256, ascent_starts=16,
    ascent_steps=10, memory_budget=2048)

#: The d = 16 part of the theorem regime (``sim --list``): its networks need more steps.
THEOREM_D16_DESCRIPTION = (
    "[NFP] Thm 4 in its regime at d = 16 (the theorem preset's n, eps, widths, methods and "
    "sparsities), at most 3000 steps; measured for n <= 2^14 (20 cells): 9 min on 2 idle "
    "cores with --workers 2 (16 CPU-min), peak 1.5 GB; n = 2^16 estimated at 3-4 CPU-hours "
    "(a GPU box)")

PRESETS = {
    "quick": preset("~30 s on 2 cores: 5 methods x sparsity {0.5, 0.8} x n {40, 120} x "
                    "d {8, 32}, width 32, 1 seed x 4 nets, at most 1000 steps",
                    sparsity=[0.5, 0.8], n=[40, 120], width=32, nets=4, steps=1000, seeds=1),
    "paper": preset("~4 min of CPU (105 s per seed measured): 5 methods x sparsity "
                    "{0.5, 0.8, 0.9} x n {25, 50, 100, 200} x d {4, 16, 64}, width 64, "
                    "2 seeds x 8 nets, at most 1000 steps",
                    sparsity=[0.5, 0.8, 0.9], n=[25, 50, 100, 200], d=[4, 16, 64],
                    width=64, nets=8, steps=1000, seeds=2),
    "theorem": preset(THEOREM_DESCRIPTION, d=[64, 256, 1024, 4096], steps=500,
                      **THEOREM_SETTINGS),
    "theorem-d16": preset(THEOREM_D16_DESCRIPTION, d=16, steps=3000, **THEOREM_SETTINGS),
}


def theorem_setting(config):
    """The fitting margin and width of a cell under its rules, and the sample-size condition.

    ``eps_rule = "condition"``: ``eps = sqrt(eps_margin * L / n)`` with ``L = 8^3
    log(8 / delta)`` the left side of [NFP] Theorem 4's condition ``L <= n eps^2`` (k = 1), so
    the condition holds with the factor ``eps_margin`` to spare. ``width_rule = "capacity"``:
    ``width = ceil(capacity * eps * n / ((d + 1) (1 - sparsity)))`` ((d + 1) width prunable
    weights), so that pruning to
    ``sparsity`` keeps about ``capacity * eps * n`` weights.

    Returns
    -------
    dict
        ``eps``, ``width``, ``kept_target`` (capacity * eps * n; None under the fixed width),
        ``condition_lhs`` (L), ``condition_rhs`` (n eps^2), ``condition_holds``,
        ``sample_condition_n`` (the n at which the condition holds with equality).

    Raises
    ------
    ValueError
        If the rule gives eps >= sigma^2 (n too small for the condition below the noise level).

    Examples
    --------
    512 log(800) = 3422.6, so n = 4096 with 5% to spare needs eps = sqrt(1.05 * 3422.6 / 4096)
    = 0.9367, and keeping 2 eps n = 7673.2 weights at sparsity 0.5 of d = 64 inputs needs
    ceil(7673.2 / 32.5) = 237 hidden units:

    >>> cfg = dict(n=4096, d=64, sparsity=0.5, eps=0.5, eps_rule="condition", eps_margin=1.05,
    ...            width=8, width_rule="capacity", capacity=2.0, delta=0.01, labels="sign",
    ...            sigma=1.0)
    >>> s = theorem_setting(cfg)
    >>> round(s["eps"], 4), round(s["kept_target"], 1), s["width"], s["condition_holds"]
    (0.9367, 7673.2, 237, True)
    """
    import math

    from noprune_theory.theory import sample_size_condition

    n, delta = config["n"], config["delta"]
    sigma2 = noise_level(config)
    lhs = float(sample_size_condition(n, eps=0.5, delta=delta, k=1, theorem="sparse").lhs)
    if config["eps_rule"] == "condition":
        eps = math.sqrt(config["eps_margin"] * lhs / n)
        if eps >= min(sigma2, 1.0):
            raise ValueError(
                f"eps_rule = condition needs eps = sqrt(eps_margin * {lhs:.1f} / n) below the "
                f"noise level sigma^2 = {sigma2:g} (and 1); n = {n} gives {eps:.3f}: raise n")
    else:
        eps = float(config["eps"])
    cond = sample_size_condition(n, eps=eps, delta=delta, k=1, theorem="sparse")
    kept_target = None
    width = config["width"]
    if config["width_rule"] == "capacity":
        kept_target = config["capacity"] * eps * n
        # a few parts in 1e12 above an integer must not add a unit
        # a two-layer net d -> width -> 1 has (d + 1) width prunable weights
        width = max(1, math.ceil(kept_target / ((config["d"] + 1) * (1.0 - config["sparsity"]))
                                 - 1e-9))
    return {"eps": eps, "width": int(width), "kept_target": kept_target,
            "condition_lhs": float(cond.lhs), "condition_rhs": float(cond.rhs),
            "condition_holds": bool(cond.holds),
            "sample_condition_n": float(cond.n_required)}


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


def _train_options(config, eps):
    # every training of a cell (its own, and those inside IMP and magnitude after training)
    # keeps its (nets, n, width) step buffers within work_memory: without a budget train()
    # takes half the free memory
    opts = {"optimizer": "adam", "lr": config["lr"], "steps": config["steps"],
            "target_loss": noise_level(config) - eps, "memory_budget": config["work_memory"]}
    if config["kernels"] != "auto":
        opts["kernels"] = config["kernels"]
    return opts


def _prune_options(config, eps):
    opts = pruning_options(config, loss="mse", train_options=_train_options(config, eps))
    if config["method"] == "snip":
        # SNIP's gradient pass over all n points, sliced like a training step
        opts["memory_budget"] = config["work_memory"]
    return opts


def _lower_memory(config):
    """lipschitz_lower's ``memory`` (elements of one chunk): work_memory over 8 float64
    buffers (2**24, its default, at the default 1024 MiB)."""
    return int(config["work_memory"]) * 2**20 // 64


def _mse(net, X, y, budget):
    """Mean squared error of every network (B,) over all points, within *budget* MiB.

    ``net.loss(X, y)`` with the forward pass in slices of points (one pass when they fit:
    then the very numbers of ``net.loss``).
    """
    from noprune_theory._activations import loss_terms

    Xa = net.prepare_inputs(X)
    t = net.prepare_targets(y, Xa.shape[-2], "mse")
    rows = max(1, int(budget * 2**20 // net.work_bytes_per_point(backward=False)))
    per = loss_terms("mse", net.forward_rows(Xa, rows), t, net.xp)[0]
    return net.xp.mean(per, axis=-1)


def _largest_norm_row(X):
    """The row of X (as a (1, d) array) of the largest Euclidean norm, found in row blocks."""
    import numpy as np

    step = max(1, 2**20 // max(1, X.shape[1]))
    norms = np.concatenate([np.sqrt((b * b).sum(axis=-1))
                            for b in (X[i:i + step] for i in range(0, X.shape[0], step))])
    i = int(np.argmax(norms))
    return X[i:i + 1]


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
    return cells_batch([(config, seed)])[0]


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key train as one batch: same shape and settings, any method and
    sparsity (the width is part of the key, so under the capacity rule each sparsity has its
    own)."""
    setting = theorem_setting(config)
    rest = tuple((k, v) for k, v in sorted(config.items()) if k not in ("method", "sparsity"))
    return rest + (("_width", setting["width"]), ("_eps", setting["eps"]))


def network_count(config):
    """Networks one cell trains."""
    return config["nets"]


def network_bytes(config):
    """Memory one network of a cell takes while it is pruned, trained and measured (bytes, an
    upper estimate): weights, initial weights, gradients, two Adam moments and masks; about six
    (n x width) buffers of the forward and backward passes, at most ``work_memory`` MiB (the
    passes are sliced beyond it); and a copy of the data."""
    n, d = config["n"], config["d"]
    h = theorem_setting(config)["width"]
    item = 4 if config["dtype"] == "float32" else 8
    work = min(item * 6 * n * h, config["work_memory"] * 2**20)
    return item * (8 * (d + 2) * h + n * (d + 1)) + work


def _float64(net):
    """A float64 copy of a trained network (the estimators measure in float64)."""
    if net.dtype == "float64":
        return net
    import numpy as np

    new = net.copy()
    xp = new.xp
    new.dtype = "float64"
    up = lambda arrays: None if arrays is None else [xp.astype(a, xp.float64) for a in arrays]
    new.weights, new.biases = up(net.weights), up(net.biases)
    new.initial_weights, new.initial_biases = up(net.initial_weights), up(net.initial_biases)
    assert all(w.dtype == np.float64 for w in new.weights)
    return new


#: McShane floors computed in this process, by dataset: the runner may split the cells of one
#: dataset over several batches (one network per batch at n = 2^16), and the floor of
#: n = 2^16 points in d = 4096 takes minutes.
_FLOORS = {}


def _floor(config, seed, X, y):
    """The McShane floor of the cell's own dataset (sims/lipschitz_floor), once per dataset."""
    from noprune_theory.sims.lipschitz_floor import interpolation_floor

    key = (seed, config["n"], config["d"], config["data"], config["labels"], config["sigma"])
    if key not in _FLOORS:
        _FLOORS[key] = interpolation_floor(X, y)["lip_floor"]
    return _FLOORS[key]


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group, trained as one batch.

    The pruning is prepared once per (method, seed), i.e. per initialization, for all the
    sparsities of the batch (:func:`noprune_theory.pruning._methods.prune_at_sparsities`: one
    IMP trajectory to the largest sparsity, one training for magnitude after training, one set
    of SNIP scores), giving each cell exactly the masks of :func:`noprune_theory.pruning.prune`.
    The networks of one seed share the dataset; each cell's networks then train as one batch
    (not the whole batch at once: :func:`train` computes every network until the last one
    stops, so a network that never fits would make all the others run its full step budget),
    and each cell is measured.
    """
    import time

    import numpy as np

    from noprune_theory.models import MaskedTwoLayer
    from noprune_theory.pruning import prune_at_sparsities, reuse_trainings
    from noprune_theory.training import train

    out = [None] * len(items)
    by_seed = {}
    for i, (config, seed) in enumerate(items):
        sigma2 = noise_level(config)
        setting = theorem_setting(config)
        if setting["eps"] >= sigma2:
            raise ValueError(f"eps must be below the noise level sigma^2 = {sigma2:g}, "
                             f"got {setting['eps']:g}")
        # one dataset and one architecture per training batch
        by_seed.setdefault((seed, setting["width"], setting["eps"]), []).append(i)
    for (seed, _, _), where in by_seed.items():
        config0 = items[where[0]][0]
        setting = theorem_setting(config0)
        eps, width = setting["eps"], setting["width"]
        X64, y = _problem(config0, seed)
        # the floor first: its own float32 copy of the points (in class order) and the
        # network's float32 copy are then never held together (1 GiB each at n = 2^16,
        # d = 4096)
        t0 = time.process_time()
        floor = _floor(config0, seed, X64, y)
        t_floor = time.process_time() - t0
        # float32 networks train on the points rounded to float32; the floor and the
        # measurements use the points as drawn, drawn again after training (the same numbers:
        # the draw depends on the seed and the shape only), so that the two copies are never
        # held together (3 GiB -> 2 GiB at n = 2^16, d = 4096)
        if config0["dtype"] == "float32":
            X = X64.astype(np.float32)
            del X64
        else:
            X = X64
        t0 = time.process_time()
        nets = {}
        by_method = {}
        for i in where:
            by_method.setdefault(items[i][0]["method"], []).append(i)
        with reuse_trainings():  # IMP's first round = magnitude after training's
            for method, cells in by_method.items():
                config = items[cells[0]][0]
                net = MaskedTwoLayer(config["d"], width, B=config["nets"], activation="relu",
                                     backend=config["backend"], seed=seed, dtype=config["dtype"],
                                     init=config["init"])
                pruned = [i for i in cells if items[i][0]["sparsity"] > 0]
                masks = prune_at_sparsities(net, method, [items[i][0]["sparsity"] for i in pruned],
                                            data=(X, y), seed=seed, **_prune_options(config, eps))
                chosen = dict(zip(pruned, masks))
                for i in cells:
                    nets[i] = net.copy()
                    if i in chosen:
                        nets[i].set_masks(chosen[i])
        t_prune = time.process_time() - t0
        order = sorted(nets)
        t_train = {}
        same = {}
        for i in order:
            # one method's mask can equal another's (IMP at sparsity = imp_fraction is one
            # round: magnitude after training's mask): the same networks from the same
            # initialization train to the same weights, once
            twin = next((j for j in t_train if _same_masks(nets[i], nets[j])), None)
            if twin is not None:
                nets[i], steps = nets[twin].copy(), out[twin][1]
                same[i] = items[twin][0]["method"]
                t_train[i] = 0.0
                out[i] = (nets[i], steps)
                continue
            # each cell's networks train on their own: train() computes every network of a
            # batch until the last one stops, so one that never fits would make the others pay
            # for its full step budget
            t0 = time.process_time()
            result = train(nets[i], X, y, loss="mse", seed=seed, **_train_options(config0, eps))
            t_train[i] = time.process_time() - t0
            out[i] = (nets[i], np.asarray(result.steps))
        if config0["dtype"] == "float32":
            del X
            X64, _ = _problem(config0, seed)
        for i in order:
            trained, steps = out[i]
            config = items[i][0]
            values = _measure(config, theorem_setting(config), trained, X64, y, steps, floor,
                              seed)
            values["cpu_seconds_prune"] = t_prune / len(order)
            values["cpu_seconds_train"] = t_train[i]
            values["same_mask_as"] = same.get(i)
            values["cpu_seconds_floor"] = t_floor / len(order)
            out[i] = values
    return out


def _same_masks(a, b):
    """Whether two networks of one batch (the same initialization) have the same masks."""
    import numpy as np

    from noprune_theory.backend import to_numpy

    return all(np.array_equal(to_numpy(p), to_numpy(q)) for p, q in zip(a.masks, b.masks))


def _measure(config, setting, net, X, y, steps, floor, seed):
    """Step 4 of a cell on its trained networks (float64), with the floor and the theorem."""
    import time

    import numpy as np

    from noprune_theory.backend import to_numpy
    from noprune_theory.estimators import (
        lipschitz_lower,
        lipschitz_upper,
        measured_effective_params,
    )
    from noprune_theory.theory import robustness_bound, sparse_robustness_bound

    n, d, B = config["n"], config["d"], config["nets"]
    sigma2 = noise_level(config)
    eps, delta, c = setting["eps"], config["delta"], config["c"]
    net = _float64(net)
    X = np.asarray(X, dtype=np.float64)
    t0 = time.process_time()
    mse = to_numpy(_mse(net, X, y, config["work_memory"])).astype(np.float64).reshape(-1)
    fits = mse <= sigma2 - eps
    methods = ("data", "random", "ascent") + (("pairs",) if config["pairs"] else ())
    lo = lipschitz_lower(net, X, methods=methods, starts=config["ascent_starts"],
                         steps=config["ascent_steps"], memory=_lower_memory(config), seed=seed)
    t_lower = time.process_time() - t0
    t0 = time.process_time()
    # patterns by branch and bound with a small node budget: when the budget runs out its
    # open-node bound can exceed the spectral bound, so keep the smallest valid upper bound
    # the bounds run on the units that reach the output (the same function); the pattern
    # search's size is set by them
    live = net.live_units()[0].sum(axis=1)
    if int(live.max()) <= config["pattern_max_width"]:
        by_method = lipschitz_upper(net, "auto", max_enumerate=16,
                                    max_nodes=config["max_nodes"]).by_method
    else:
        # the pattern search's linear programs (checked in exact arithmetic) grow with the
        # width: above pattern_max_width only the two closed-form bounds
        by_method = {m: lipschitz_upper(net, m).by_method[m] for m in ("spectral", "sum_norms")}
    t_upper = time.process_time() - t0
    names = list(by_method)
    stacked = np.stack([np.asarray(by_method[k], dtype=np.float64) for k in names])
    upper = stacked.min(axis=0)
    upper_method = [names[i] for i in stacked.argmin(axis=0)]

    kept = np.asarray(to_numpy(net.kept_count()), dtype=np.int64).reshape(-1)
    total = int(net.weight_count())
    mi = np.zeros(B)
    kinds = []
    for b in range(B):
        mi[b], kind = mask_information_bits(config["method"], total, int(kept[b]))
        kinds.append(kind)
    # R is the largest data norm: the row that has it gives the same R without an (n, d)
    # temporary
    pe = measured_effective_params(net, mi, eps=eps, X=_largest_norm_row(X))
    p_eff = np.asarray(pe["p_eff"], dtype=np.float64)
    bound = np.asarray(sparse_robustness_bound(n, d, p_eff, eps=eps, delta=delta, c=c,
                                               check="ignore"), dtype=np.float64)
    # the dense law with every parameter counted (kept weights and biases), same W and J
    bound_dense = np.asarray(robustness_bound(n, d, pe["p"], eps=eps, delta=delta, c=c,
                                              W=pe["W"], J=pe["J"], check="ignore"),
                             dtype=np.float64)
    lower = to_numpy(lo.value).astype(np.float64).reshape(-1)
    return {
        "sigma2": sigma2,
        "eps_used": eps,
        "width_used": setting["width"],
        "kept_target": setting["kept_target"],
        "condition_lhs": setting["condition_lhs"],
        "condition_rhs": setting["condition_rhs"],
        "sample_condition_n": setting["sample_condition_n"],
        "condition_holds": setting["condition_holds"],
        "mse": mse.tolist(),
        "fits": fits.tolist(),
        "fit_fraction": float(fits.mean()),
        "lip_lower": lower.tolist(),
        "lip_upper": upper.tolist(),
        "upper_method": upper_method,
        "lip_lower_mean": float(lower.mean()),
        "lip_upper_mean": float(upper.mean()),
        "lip_floor": floor,
        "kept": kept.tolist(),
        "live_units": live.astype(int).tolist(),
        "total_weights": total,
        "mi_bits": mi.tolist(),
        "mi_kind": kinds,
        "p_eff": p_eff.tolist(),
        "bits_per_weight": ((p_eff - mi) / np.maximum(kept, 1)).tolist(),
        "bound": bound.tolist(),
        "ratio": (lower / bound).tolist(),
        "ratio_upper": (upper / bound).tolist(),
        "bound_dense": bound_dense.tolist(),
        "x_theorem": np.sqrt(n * d / p_eff).tolist(),
        "x_informal": np.sqrt(n * d / (kept + mi)).tolist(),
        "train_steps": np.asarray(steps).astype(int).tolist(),
        "cpu_seconds_lower": t_lower,
        "cpu_seconds_upper": t_upper,
    }


def network_rows(table):
    """One dict per network: the cell's fields with the per-network lists unpacked."""
    per_net = ("mse", "fits", "lip_lower", "lip_upper", "upper_method", "kept", "mi_bits",
               "mi_kind", "p_eff", "bits_per_weight", "bound", "ratio", "ratio_upper",
               "bound_dense", "x_theorem", "x_informal", "train_steps", "live_units")
    rows = []
    for r in (table.to_dict("records") if hasattr(table, "to_dict") else table):
        for b in range(len(r["mse"])):
            row = {k: v for k, v in r.items() if k not in per_net}
            # records of earlier versions may lack later keys (live_units)
            row.update({k: r[k][b] for k in per_net if k in r and isinstance(r[k], list)})
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


def slope_summary(rows, x="x_informal", y="lip_lower"):
    """The fitted log-log slope of *y* against *x* over the networks that fit, with its span.

    ``x_informal = sqrt(n d / (kept + I(m; D)))`` (I in bits) and ``x_theorem = sqrt(n d /
    p_eff)``. The informal law ``Lip ~ sqrt(n d / p)`` predicts slope 1 against these x, i.e.
    slope 1/2 against ``n d / p``.

    Returns
    -------
    dict or None
        ``slope``, ``slope_se`` (standard error), ``slope_nd_over_p`` (= slope / 2, the slope
        against n d / p) and its ``slope_nd_over_p_se``, ``r2``, ``networks`` (count), ``x_min``,
        ``x_max`` and ``decades`` (log10 of x_max / x_min); None with fewer than three fitting
        networks or a single x.

    Examples
    --------
    >>> rows = [{"fits": True, "x_informal": x, "lip_lower": 2.0 * x} for x in (1, 10, 100)]
    >>> s = slope_summary(rows)
    >>> round(s["slope"], 12), round(s["slope_nd_over_p"], 12), round(s["decades"], 12)
    (1.0, 0.5, 2.0)
    """
    import math

    from noprune_theory.sims._plotting import loglog_fit

    sel = [r for r in rows if r["fits"] and r[y] > 0]
    xs = [r[x] for r in sel]
    if len(sel) < 3 or len(set(xs)) < 2:
        return None
    fit = loglog_fit(xs, [r[y] for r in sel])
    return {"slope": fit.slope, "slope_se": fit.slope_se, "slope_nd_over_p": fit.slope / 2,
            "slope_nd_over_p_se": fit.slope_se / 2, "r2": fit.r2, "networks": len(sel),
            "x_min": min(xs), "x_max": max(xs), "decades": math.log10(max(xs) / min(xs))}


def plot(table, config, outdir):
    """Lip (lower bound marker, upper bound bar) against sqrt(n d / p_eff), theorem and informal."""
    import numpy as np
    from matplotlib.ticker import NullFormatter

    from noprune_theory.sims._plotting import new_figure

    rows = network_rows(table)
    fitted = [r for r in rows if r["fits"]]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    colors = dict(zip(METHODS, ("C0", "C7", "C2", "C1", "C3", "C4")))
    # eps_used is the margin each cell ran with (the eps field under eps_rule = fixed)
    eps_of = [r.get("eps_used", r["eps"]) for r in rows]
    eps = float(np.median(eps_of))
    one_eps = len(set(eps_of)) == 1
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
            if one_eps:
                # the theorem at x = sqrt(n d / p_eff), dropping (delta/2) log(4/delta) << p_eff
                pref = eps * np.sqrt(delta) / (1152.0 * np.sqrt(c))
                ax.plot(grid, pref * grid, color="k", linewidth=1.2,
                        label=rf"[NFP] Thm 4 bound: $\varepsilon\sqrt{{\delta}}/(1152\sqrt{{c}})"
                              rf"\,x$ ($\varepsilon$={eps:g}, $\delta$={delta:g})")
            ax.plot([r["x_theorem"] for r in fitted], [r["bound"] for r in fitted], "x",
                    color="k" if not one_eps else "gray", markersize=3,
                    label="[NFP] Thm 4 bound at each network's own eps and p_eff")
        floors = [r for r in fitted if r.get("lip_floor")]
        if floors:
            # the McShane floor of the network's own dataset: no interpolator is smoother
            ax.plot([r[xkey] for r in floors], [r["lip_floor"] for r in floors], "_",
                    color="k", markersize=7, markeredgewidth=1.2,
                    label="floor: smallest Lip of any interpolator of the same data")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the x range spans about one decade: minor tick labels would overlap
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("Lip(f)  (label units per unit input distance)", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    n_fit, n_all = len(fitted), len(rows)
    seeds = len({r["seed"] for r in rows})
    eps_text = f"eps = {eps:g}" if one_eps else (f"eps from the sample-size condition "
                                                 f"({min(eps_of):.3g} to {max(eps_of):.3g})")
    fig.suptitle(f"Pruned two-layer ReLU nets that fit {config['labels']} labels below the noise "
                 f"level by {eps_text}\n({n_fit} of {n_all} networks fit; {seeds} seed(s)); "
                 "marker: certified lower bound, bar up to the upper bound", fontsize=8)
    return {"bound_check": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("bound_check")
