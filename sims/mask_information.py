"""Exact mask-data information I(m; D | init) of pruning methods on the [NFP] toy model.

Where this sits: the sparse law of robustness ([NFP] Theorem 4, docs/theory.md#theory-sparse)
charges a pruned network ``p_eff = I(m; D) + E||m||_1 log2(1 + 60 W J / eps)`` effective parameters.
A data-agnostic mask (random, SynFlow, magnitude at initialization) has ``I(m; D | init) = 0``; a
mask chosen from the data (SNIP, GraSP, magnitude after training, IMP) can carry up to ``H(m) <=
log2 C(P, k)`` bits (docs/theory.md#theory-counting-masks). This simulation measures those bits
exactly on the toy model of [NFP] Sec. 5 (docs/theory.md#theory-experiments).

The model. Inputs from the cube ``{-1, +1}^d`` (d = 3: 8 inputs), ``n = 6`` points with
uniform +-1 labels, a two-layer ReLU network ``d -> width -> 1`` (width 4) with biases: 3*4 + 4
+ 4 + 1 = 21 parameters, of which the **16 weights are prunable** (the biases are never masked
in :class:`~noprune_theory.models.MaskedTwoLayer`, and pruning methods score weights only). So a
mask keeps ``k`` of ``P = 16`` weights, and its entropy is at most ``log2 C(16, k)``; the plot
also draws the paper's ``log2 C(21, round(21 (1 - s)))`` for reference.

The datasets (field ``dataset``):

- ``subset`` (default): the n inputs are n *distinct* cube points (a uniformly random subset)
  with i.i.d. uniform labels. There are ``C(8, 6) 2^6 = 1792`` equally likely datasets.
- ``iid``: n i.i.d. draws of (x, y), x uniform on the cube, y uniform; full-batch gradient
  descent sees the dataset as a multiset, so there are ``C(16 + 6 - 1, 6) = 54264`` distinct
  datasets with multinomial probabilities ``6! / prod_j c_j! / 16^6``.

With ``datasets = 0`` every dataset is enumerated and weighted by its probability, so
``H(m | init)`` is **exact** (no estimator error). With ``datasets = N > 0``, N datasets are
sampled from the law (the paper's protocol, N = 32,000) and ``H`` is the plug-in estimate with
the Miller-Madow correction; its standard error is the bootstrap SD over resampled datasets.

Why ``I(m; D | init) = H(m | init)``: given the initialization *and the pruning randomness*
(random scores, tie-breaking keys), every method here is a deterministic function of the data,
so ``H(m | D, init) = 0``. The pruning randomness is therefore drawn once per initialization
(seed) and shared by all datasets: the random method's scores are drawn once and used for every
dataset, and ties among equal scores are broken by one fixed random priority order per seed
(not by independent keys per dataset, which would add entropy that is not information about
the data). The one-shot scores come from :func:`noprune_theory.pruning.compute_scores` (the
library's formulas); the selection, and the SynFlow and IMP schedules of
:func:`noprune_theory.pruning.prune`, are repeated here with that shared tie order, because
``prune`` draws independent tie keys per network: SynFlow's scores do tie (a unit that lost its
inputs gives its other weights score 0), and with per-network keys SynFlow at 8 of 16 weights
showed a spurious 1 bit over two masks in a first run.

The entropies, the mask codes and the iid enumeration are the estimators' own
(:func:`noprune_theory.estimators.mask_information_exact`, ``weighted_entropy``,
``mask_codes``, ``per_weight_entropy``, ``plugin_entropy`` with the Miller-Madow correction,
``enumerate_datasets``); this module adds the cube's dataset laws and the pruning with the
shared tie order.

Protocol of one cell (method, kept, seed): build the initialization ``seed`` of the network
(``init``: ``"he"``, the default, He weights and zero biases; ``"torch"``, PyTorch's
``nn.Linear`` default, weights and biases ``U(+-1/sqrt(fan_in))``; ``"lecun"``) and copy it to
one network per dataset (inputs: the cube points, or with ``input_scale = "normalized"`` the
cube scaled by ``1/sqrt(d)``); prune every copy on its
dataset to ``kept`` weights; encode each mask as an integer; return the exact (or estimated)
entropy of the mask's distribution over datasets, in bits.

Batched runs: the cells of one group (every method, kept count and seed of a point) run
together (:func:`cells_batch`): the datasets are enumerated once, and the pruning is prepared
once per (method, seed) for all its kept counts (:func:`prune_all_kept`: one set of scores, one
training for magnitude after training, one IMP trajectory); the values equal :func:`cell`'s.

Values per cell: ``info_bits`` (I(m; D | init) = H(m | init), bits), ``info_se`` (0 when exact,
bootstrap SE when sampled), ``info_x_bits`` (I(m; input set | init): what the mask learns from
which inputs were drawn) and ``info_y_bits`` (I(m; labels | input set, init)), both plug-in when
sampled; ``per_weight_bits`` (sum_i H(m_i), another upper bound on H(m));
``distinct_masks``; ``ceiling_bits`` (log2 C(P, kept)); ``data_ceiling_bits``
(H(D), the entropy of the dataset law: no mask can carry more); ``sparsity`` (1 - kept / P);
``prunable`` (P); ``n_datasets`` (datasets evaluated); ``tie_fraction`` (score methods: datasets
whose k-th and (k+1)-th scores were equal, broken by the common priority order);
``train_loss`` (training methods: mean final training MSE of the last training).

References
----------
[NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to Pruning
at Initialization", ICML 2024, Theorem 4, Sec. 4.1 and Sec. 5 (toy model).
G. A. Miller, "Note on the bias of information estimates" (1955) (Miller-Madow correction).
"""
from __future__ import annotations

from noprune_theory.models import INITS
from noprune_theory.sims._config import Field, preset

DESCRIPTION = ("Exact I(mask; data | init) in bits on the 6-point cube toy model, per pruning "
               "method.")
CELL_VERSION = 2

#: Input scales: ``standard`` is the cube {-1, +1}^d itself ([NFP]'s toy inputs, ``||x||^2 =
#: d``), ``normalized`` the cube scaled by ``1/sqrt(d)`` (``||x||^2 = 1``).
INPUT_SCALES = ("standard", "normalized")

#: Data-agnostic controls first, then the data-dependent methods of [NFP] Sec. 5.
METHODS = ("random", "synflow", "magnitude", "snip", "grasp", "magnitude_after_training", "imp")
#: Methods whose scores are computed once (one-shot), selected here with the common tie order.
_SCORE_METHODS = ("random", "magnitude", "snip", "grasp", "magnitude_after_training")

FIELDS = {
    "method": Field(list(METHODS), "pruning method", choices=METHODS),
    "kept": Field([2, 4, 6, 8, 10, 12, 14], "weights kept (of the width*(d+1) prunable weights)",
                  low=1),
    "dataset": Field("subset", "dataset law: n distinct cube points (subset) or n i.i.d. draws "
                     "(iid); labels uniform +-1", choices=("subset", "iid")),
    "datasets": Field(0, "0: enumerate every dataset (exact); N > 0: sample N datasets "
                      "(plug-in + Miller-Madow, bootstrap SE)", low=0),
    "d": Field(3, "input dimension (inputs are the 2^d cube points)", low=1, high=4),
    "input_scale": Field("standard", "inputs: 'standard' the cube points {-1, +1}^d "
                         "(||x||^2 = d), 'normalized' {-1, +1}^d / sqrt(d) (||x||^2 = 1)",
                         choices=INPUT_SCALES),
    "init": Field("he", "initial weights: 'he' (zero biases), 'torch' (U(+-1/sqrt(fan_in)) "
                  "weights and biases), 'lecun' (N(0, 1/fan_in), zero biases)",
                  choices=INITS),
    "n": Field(6, "points per dataset", low=1, high=8),
    "width": Field(4, "hidden ReLU units", low=1, high=16),
    "lr": Field(0.1, "gradient-descent step size (1/step) of the training methods", low=0,
                low_inclusive=False),
    "steps": Field(1000, "full-batch gradient-descent steps per training", low=1),
    "imp_fraction": Field(0.2, "IMP: fraction of survivors pruned per round", low=0, high=1,
                          low_inclusive=False, high_inclusive=False),
    "synflow_iterations": Field(100, "SynFlow: pruning iterations", low=1),
    "grasp_temperature": Field(200.0, "GraSP: output temperature", low=0, low_inclusive=False),
    "bootstrap": Field(200, "bootstrap resamples for the SE when sampling datasets", low=2),
}

PRESETS = {
    "quick": preset("~15 s on 2 cores: 5 methods, kept in {4, 8, 12}, 2 inits, 400 GD steps, "
                    "exact over the 1792 subset datasets",
                    method=["random", "synflow", "snip", "magnitude_after_training", "imp"],
                    kept=[4, 8, 12], steps=400, seeds=2),
    "paper": preset("~20 min in one process: 7 methods, kept = 2..14, 8 inits (seeds 0-7), exact "
                    "over the 1792 subset datasets, 1000 GD steps", seeds=8),
}

_TIE_RTOL = 1e-12


# ----------------------------------------------------------------------------- datasets
def cube_points(d):
    """The 2^d points of {-1, +1}^d, shape (2^d, d), in binary order (first coordinate slowest)."""
    import itertools

    import numpy as np

    return np.array(list(itertools.product((-1.0, 1.0), repeat=d)))


def enumerate_datasets(d, n, law):
    """Every dataset of the law with its probability.

    Parameters
    ----------
    d, n : int
        Cube dimension and points per dataset.
    law : {"subset", "iid"}

    Returns
    -------
    X : ndarray (M, n, d)
    y : ndarray (M, n), entries +-1
    prob : ndarray (M,), sums to 1
    xset : ndarray (M,) int
        A code of the dataset's input (multi)set, for I(m; inputs).

    Notes
    -----
    ``subset``: ``M = C(2^d, n) 2^n`` equally likely datasets. ``iid``: the multisets of n
    (x, y) pairs from the ``2^{d+1}`` pairs, ``M = C(2^{d+1} + n - 1, n)``, with probability
    ``n! / prod_j c_j! / 2^{(d+1) n}`` (the multinomial count of orderings), from
    :func:`noprune_theory.estimators.enumerate_datasets`.

    Examples
    --------
    >>> X, y, prob, xset = enumerate_datasets(3, 6, "subset")
    >>> X.shape, round(float(prob.sum()), 12)
    ((1792, 6, 3), 1.0)
    >>> X, y, prob, xset = enumerate_datasets(3, 6, "iid")
    >>> len(prob), round(float(prob.sum()), 12)
    (54264, 1.0)
    """
    import itertools

    import numpy as np

    from noprune_theory.estimators import enumerate_datasets as lib_enumerate_datasets

    cube = cube_points(d)
    m = len(cube)
    if law == "subset":
        if n > m:
            raise ValueError(f"n must be <= 2^d = {m} for dataset='subset', got n = {n}")
        subsets = np.array(list(itertools.combinations(range(m), n)), dtype=np.int64)
        labels = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
        idx = np.repeat(subsets, len(labels), axis=0)
        y = np.tile(labels, (len(subsets), 1))
        xset = np.repeat(np.arange(len(subsets)), len(labels))
        prob = np.full(len(idx), 1.0 / len(idx))
        return cube[idx], y, prob, xset
    # the multisets of n draws from the 2m (x, y) pairs, pair j = (cube[j // 2], label -1 if
    # j is even else +1), with their exact multinomial probabilities
    multisets, prob = lib_enumerate_datasets(2 * m, n)
    X = cube[multisets // 2]
    y = np.where(multisets % 2 == 1, 1.0, -1.0)
    # the input multiset: sorted cube indices, coded by np.unique
    _, xset = np.unique(np.sort(multisets // 2, axis=1), axis=0, return_inverse=True)
    return X, y, prob, np.asarray(xset).reshape(-1)


def sample_datasets(d, n, law, count, rng):
    """``count`` datasets drawn from the law (equal weights), as :func:`enumerate_datasets`."""
    import numpy as np

    cube = cube_points(d)
    m = len(cube)
    if law == "subset":
        if n > m:
            raise ValueError(f"n must be <= 2^d = {m} for dataset='subset', got n = {n}")
        idx = np.sort(np.argsort(rng.random((count, m)), axis=1)[:, :n], axis=1)
    else:
        idx = np.sort(rng.integers(0, m, size=(count, n)), axis=1)
    y = rng.choice(np.array([-1.0, 1.0]), size=(count, n))
    _, xset = np.unique(idx, axis=0, return_inverse=True)
    return cube[idx], y, np.full(count, 1.0 / count), np.asarray(xset).reshape(-1)


def law_entropy_bits(d, n, law):
    """H(D) in bits: ``log2(C(2^d, n) 2^n)`` (subset); the multiset law's entropy (iid),
    enumerated when there are at most 200,000 multisets, else its upper bound ``n (d + 1)``
    (the entropy of the ordered draws)."""
    import math

    if law == "subset":
        return math.log2(math.comb(2**d, n)) + n
    if math.comb(2 ** (d + 1) + n - 1, n) > 200_000:
        return float(n * (d + 1))
    import numpy as np

    from noprune_theory.estimators import weighted_entropy

    _, _, prob, _ = enumerate_datasets(d, n, law)
    return weighted_entropy(np.arange(len(prob)), prob, base=2)


# ----------------------------------------------------------------------------- entropies
def _joint_codes(a, b):
    import numpy as np

    _, inv = np.unique(np.stack([np.asarray(a), np.asarray(b)], axis=1), axis=0,
                       return_inverse=True)
    return np.asarray(inv).reshape(-1)


def bootstrap_entropy_se(codes, resamples, rng):
    """Bootstrap standard error of the Miller-Madow plug-in entropy (bits) of *codes*
    (:func:`noprune_theory.estimators.plugin_entropy`) over resampled datasets."""
    import numpy as np

    from noprune_theory.estimators import plugin_entropy

    _, inv = np.unique(np.asarray(codes), return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    reps = [plugin_entropy(inv[rng.integers(0, len(inv), len(inv))],
                           correction="miller_madow", base=2)
            for _ in range(resamples)]
    return float(np.std(reps, ddof=1))


# ----------------------------------------------------------------------------- pruning
def select_common_ties(scores, kept, priority):
    """Keep the *kept* highest scores of every network; ties go to the lower *priority* rank.

    Parameters
    ----------
    scores : list of arrays (B, fan_in, fan_out)
        Higher = keep (float; NaN is an error).
    kept : int
        Weights kept per network, over all layers (a global ranking).
    priority : ndarray (P,)
        A permutation of ``range(P)`` shared by all networks: among equal scores the weight
        with the smaller priority value is kept. Sharing it makes the mask a deterministic
        function of the scores, so datasets with equal scores get equal masks.

    Returns
    -------
    masks : list of bool ndarrays, shapes like *scores*
    tied : ndarray of bool (B,)
        Networks whose kept-th and (kept+1)-th scores were equal (relative tolerance 1e-12).
    """
    import numpy as np

    flat = np.concatenate([np.asarray(s, dtype=np.float64).reshape(s.shape[0], -1)
                           for s in scores], axis=1)
    if np.isnan(flat).any():
        raise ValueError("scores must not contain NaN")
    B, P = flat.shape
    order = np.lexsort((np.broadcast_to(priority, (B, P)), -flat), axis=-1)
    keep = np.zeros((B, P), dtype=bool)
    np.put_along_axis(keep, order[:, :kept], True, axis=1)
    if 0 < kept < P:
        ranked = np.take_along_axis(flat, order, axis=1)
        a, b = ranked[:, kept - 1], ranked[:, kept]
        # a -inf neighbour is a weight pruned earlier, not a tie
        both = np.isfinite(a) & np.isfinite(b)
        tied = both & (np.abs(np.where(both, a - b, 0.0))
                       <= _TIE_RTOL * np.maximum(np.abs(np.where(both, a, 0.0)),
                                                 np.abs(np.where(both, b, 0.0))))
    else:
        tied = np.zeros(B, dtype=bool)
    masks, start = [], 0
    for s in scores:
        size = int(np.prod(s.shape[1:]))
        masks.append(keep[:, start:start + size].reshape(s.shape))
        start += size
    return masks, tied


def _replicated_net(config, seed, B):
    """The initialization ``seed`` copied to B networks (one per dataset)."""
    import numpy as np

    from noprune_theory.models import MaskedTwoLayer

    init = config.get("init", "he")
    one = MaskedTwoLayer(config["d"], config["width"], B=1, activation="relu", seed=seed,
                         backend=config["backend"], init=init)
    net = MaskedTwoLayer(config["d"], config["width"], B=B, activation="relu", seed=seed,
                         backend=config["backend"], init=init)
    net.weights = [net.xp.asarray(np.repeat(np.asarray(w), B, axis=0)) for w in one.weights]
    net.initial_weights = [net.xp.asarray(w, copy=True) for w in net.weights]
    if init == "torch":  # random initial biases: the copies must share them too
        net.biases = [net.xp.asarray(np.repeat(np.asarray(b), B, axis=0)) for b in one.biases]
        net.initial_biases = [net.xp.asarray(b, copy=True) for b in net.biases]
    return one, net


def _train_options(config):
    return {"optimizer": "gd", "lr": config["lr"], "steps": config["steps"]}


def prune_all(config, seed, X, y):
    """Masks of ``config["method"]`` for the initialization *seed* on every dataset.

    Returns ``(masks, tied (B,), train_loss or None)``.
    """
    return prune_all_kept(config, seed, X, y, [config["kept"]])[0]


def prune_all_kept(config, seed, X, y, kepts):
    """:func:`prune_all` at several kept counts, with the work they share done once.

    The scores of a one-shot method (and the one training of magnitude after training) are
    computed once and every kept count selects from them; IMP follows one trajectory of rounds
    for every kept count (:func:`imp_common_ties_many`); SynFlow's schedule depends on the
    kept count, so it runs once per count. Returns one ``(masks, tied, train_loss)`` per kept
    count, each equal to :func:`prune_all`'s.
    """
    import numpy as np

    from noprune_theory.pruning import compute_scores, magnitude_scores
    from noprune_theory.training import train

    method = config["method"]
    B = X.shape[0]
    one, net = _replicated_net(config, seed, B)
    P = net.weight_count()
    for kept in kepts:
        if not 1 <= kept < P:
            raise ValueError(f"kept must be an integer in [1, {P - 1}] for width "
                             f"{config['width']} and d = {config['d']} ({P} prunable weights), "
                             f"got {kept}")
    priority = np.random.default_rng([seed, 7]).permutation(P)
    data = (X, y)
    train_loss = None
    if method in _SCORE_METHODS:
        if method == "random":
            # the random scores belong to the initialization: drawn once, used for every dataset
            scores = [np.repeat(np.asarray(s), B, axis=0)
                      for s in compute_scores(one, "random", seed=seed)]
        elif method == "magnitude":
            scores = compute_scores(net, "magnitude", seed=seed)
        elif method == "grasp":
            scores = compute_scores(net, "grasp", data=data, seed=seed, loss="mse",
                                    temperature=config["grasp_temperature"])
        elif method == "snip":
            scores = compute_scores(net, "snip", data=data, seed=seed, loss="mse")
        else:
            # what the library's "magnitude_after_training" does (train a copy, score |w|),
            # done here once so that the training loss can be reported too; a test checks
            # that it equals compute_scores(net, "magnitude_after_training", ...)
            trained = net.copy()
            train(trained, X, y, loss="mse", **_train_options(config))
            scores = magnitude_scores(trained.weights)
            train_loss = float(np.asarray(trained.loss(X, y)).mean())
        scores = [np.asarray(s) for s in scores]
        return [select_common_ties(scores, kept, priority) + (train_loss,) for kept in kepts]
    if method == "synflow":
        return [synflow_common_ties(net, kept, config["synflow_iterations"], priority) + (None,)
                for kept in kepts]
    # imp
    return [(masks, tied, float(np.mean(losses[-1])))
            for masks, tied, losses in imp_common_ties_many(
                net, X, y, kepts, config["imp_fraction"], _train_options(config), priority)]


def synflow_common_ties(net, kept, iterations, priority):
    """SynFlow [TKYG] with the shared tie order: ``iterations`` rounds of exact selection.

    The schedule of :func:`noprune_theory.pruning.prune` (``method="synflow"``): after round
    ``e`` (of E) the network keeps ``keep_count(p^((e+1)/E), P)`` weights, ``p = kept / P``,
    chosen by :func:`noprune_theory.pruning.synflow_scores` among the survivors. SynFlow's
    scores tie whenever a unit loses all its incoming (or outgoing) weights (its other weights
    then score exactly 0), so the shared tie order matters here.

    Returns ``(masks, tied)``, ``tied`` (B,) True when any round broke a tie at its threshold.
    """
    import numpy as np

    from noprune_theory.pruning import keep_count, synflow_scores

    P = net.weight_count()
    current = [np.asarray(m) for m in net.masks]
    tied_any = np.zeros(net.B, dtype=bool)
    for e in range(iterations):
        k_e = keep_count((kept / P) ** ((e + 1) / iterations), P)
        scores = [np.where(m, np.asarray(s), -np.inf)
                  for s, m in zip(synflow_scores(net.weights, current), current)]
        current, tied = select_common_ties(scores, k_e, priority)
        tied_any |= tied
    return current, tied_any


def imp_common_ties(net, X, y, kept, fraction, train_options, priority):
    """IMP with rewinding to initialization [FC], with the shared tie order.

    The schedule of :func:`noprune_theory.pruning.prune` (``method="imp"``): ``R =
    ceil(log p / log(1 - fraction))`` rounds; round r rewinds the survivors to the
    initialization (biases to their initial values, zero unless ``init="torch"``), trains them
    with ``train_options`` and keeps the
    ``keep_count(p^min(1, r log(1 - fraction) / log p), P)`` largest trained magnitudes among
    them. A test checks that the masks equal ``prune(net, "imp", ...)`` when no tie occurs.

    Returns ``(masks, tied (B,), final training losses per round (list of (B,) arrays))``.
    """
    return imp_common_ties_many(net, X, y, [kept], fraction, train_options, priority)[0]


def _imp_rounds(target, fraction):
    import math

    return max(1, math.ceil(math.log(target) / math.log(1.0 - fraction) - 1e-9))


def imp_common_ties_many(net, X, y, kepts, fraction, train_options, priority):
    """:func:`imp_common_ties` for several kept counts from one trajectory of rounds.

    Round ``r`` keeps ``(1 - fraction)^r`` of the weights whatever the final count, so the
    rounds of a smaller target are a prefix of a larger one's: one trajectory, trained up to
    the most rounds, serves every count. Every count still runs its own selection at each of
    its rounds; one whose survivors ever differ from the trajectory's before its last round (a
    kept count rounded the other way) runs alone, so the result is always
    :func:`imp_common_ties`'s. Returns one ``(masks, tied, losses)`` per kept count.
    """
    import math

    import numpy as np

    from noprune_theory.pruning import keep_count, magnitude_scores
    from noprune_theory.training import train

    P = net.weight_count()
    q = fraction
    targets = [{"target": kept / P, "rounds": _imp_rounds(kept / P, q),
                "current": [np.asarray(m) for m in net.masks],
                "tied": np.zeros(net.B, dtype=bool), "losses": [], "ok": True}
               for kept in kepts]
    work = net.copy()
    init_w = [np.asarray(w).copy() for w in net.weights]
    init_b = [np.asarray(b).copy() for b in net.initial_biases]  # zeros unless init="torch"
    current = [np.asarray(m) for m in net.masks]
    for r in range(1, max(t["rounds"] for t in targets) + 1):
        live = [t for t in targets if t["ok"] and t["rounds"] >= r]
        if not live:
            break
        work.weights = [work.xp.asarray(w.copy()) for w in init_w]
        work.biases = [work.xp.asarray(b, copy=True) for b in init_b]
        work.set_masks([work.xp.asarray(m) for m in current])
        train(work, X, y, loss="mse", **train_options)
        loss = np.asarray(work.loss(X, y), dtype=np.float64)
        trained = magnitude_scores(work.weights)
        nxt = None
        for t in live:
            progress = min(1.0, r * math.log(1.0 - q) / math.log(t["target"]))
            k_r = keep_count(t["target"] ** progress, P)
            scores = [np.where(m, np.asarray(s), -np.inf) for s, m in zip(trained, t["current"])]
            t["current"], tied = select_common_ties(scores, k_r, priority)
            t["tied"] |= tied
            t["losses"].append(loss)
            if t["rounds"] > r:  # it trains on: it must share the trajectory's survivors
                if nxt is None:
                    nxt = t["current"]
                elif not all(np.array_equal(a, b) for a, b in zip(t["current"], nxt)):
                    t["ok"] = False
        if nxt is None:
            break
        current = nxt
    return [(t["current"], t["tied"], t["losses"]) if t["ok"] else
            imp_common_ties_many(net, X, y, [kept], fraction, train_options, priority)[0]
            for t, kept in zip(targets, kepts)]


# ----------------------------------------------------------------------------- the cell
def _datasets(config, seed):
    """The datasets of a cell: every dataset of the law with its probability (``datasets =
    0``), or ``datasets`` draws of it (seeded by the seed), the inputs scaled by
    ``input_scale``; ``(X, y, prob, xset)``."""
    import math

    import numpy as np

    law = config["dataset"]
    if config["datasets"] == 0:
        count = (math.comb(2 ** config["d"], config["n"]) * 2 ** config["n"] if law == "subset"
                 else math.comb(2 ** (config["d"] + 1) + config["n"] - 1, config["n"]))
        if count > 200_000:
            raise ValueError(f"datasets=0 would enumerate {count} datasets of the {law!r} law "
                             f"(d = {config['d']}, n = {config['n']}); the limit is 200000: "
                             "sample them with datasets=N instead")
        X, y, prob, xset = enumerate_datasets(config["d"], config["n"], law)
    else:
        rng = np.random.default_rng([seed, config["datasets"], 11])
        X, y, prob, xset = sample_datasets(config["d"], config["n"], law, config["datasets"],
                                           rng)
    if config.get("input_scale", "standard") == "normalized":
        X = X / np.sqrt(config["d"])
    return X, y, prob, xset


def cell(config, seed):
    """I(m; D | init = seed) in bits for one method and one kept count."""
    X, y, prob, xset = _datasets(config, seed)
    return _values(config, seed, X, y, prob, xset, *prune_all(config, seed, X, y))


def _values(config, seed, X, y, prob, xset, masks, tied, train_loss):
    """The values of a cell from its datasets and its masks on them."""
    import math

    import numpy as np

    from noprune_theory.estimators import (
        mask_codes,
        mask_information_exact,
        per_weight_entropy,
        plugin_entropy,
        weighted_entropy,
    )

    law = config["dataset"]
    codes = mask_codes(masks)
    P = int(sum(int(np.prod(m.shape[1:])) for m in masks))
    kept = config["kept"]
    # labels code: the label vector in binary
    ycode = ((y > 0).astype(np.int64) @ (np.int64(1) << np.arange(y.shape[1], dtype=np.int64)))
    dcode = _joint_codes(xset, ycode)
    # I(m; inputs) = H(m) + H(inputs) - H(m, inputs) under the datasets' law (exact when
    # enumerated, plug-in when sampled)
    h_m = weighted_entropy(codes, prob, base=2)
    h_x = weighted_entropy(xset, prob, base=2)
    h_mx = weighted_entropy(_joint_codes(codes, xset), prob, base=2)
    info_x = h_m + h_x - h_mx
    if config["datasets"] == 0:
        # the estimators' exact I(m; D | init) on these masks (looked up per dataset: the
        # batched pipeline already ran), and sum_i H(m_i) under the same law
        flat = np.concatenate([m.reshape(m.shape[0], -1) for m in masks], axis=1)
        table = {(X[i].tobytes(), y[i].tobytes()): flat[i] for i in range(len(flat))}
        exact = mask_information_exact(lambda Xi, yi, s: table[(Xi.tobytes(), yi.tobytes())],
                                       [(X[i], y[i]) for i in range(len(flat))], prob,
                                       seeds=(seed,))
        info, se = float(exact.mi_conditional), 0.0
        per_weight = float(exact.per_weight_entropy)
    else:
        info = plugin_entropy(codes, correction="miller_madow", base=2)
        se = bootstrap_entropy_se(codes, config["bootstrap"],
                                  np.random.default_rng([seed, config["datasets"], 13]))
        per_weight = per_weight_entropy(masks)
    return {
        "info_bits": info,
        "info_se": se,
        "info_x_bits": max(0.0, info_x),
        "info_y_bits": max(0.0, h_m - info_x),
        "per_weight_bits": per_weight,
        "distinct_masks": len(np.unique(codes)),
        "ceiling_bits": math.log2(math.comb(P, kept)),
        "data_ceiling_bits": (weighted_entropy(dcode, prob, base=2) if config["datasets"] == 0
                              else law_entropy_bits(config["d"], config["n"], law)),
        "sparsity": 1.0 - kept / P,
        "prunable": P,
        "n_datasets": len(codes),
        "tie_fraction": float(np.mean(tied)),
        "train_loss": train_loss,
    }


# ----------------------------------------------------------------------------- batched cells
def group_key(config):
    """Cells with the same key run as one batch: every field but the method and the kept
    count (the same network, datasets and training settings)."""
    return tuple((k, v) for k, v in sorted(config.items()) if k not in ("method", "kept"))


def network_count(config):
    """Networks one cell prunes: one copy of the initialization per dataset."""
    import math

    if config["datasets"] > 0:
        return config["datasets"]
    d, n = config["d"], config["n"]
    return (math.comb(2**d, n) * 2**n if config["dataset"] == "subset"
            else math.comb(2 ** (d + 1) + n - 1, n))


def network_bytes(config):
    """Memory one network (one dataset) takes while its batch prunes (bytes, an upper
    estimate)."""
    d, w, n = config["d"], config["width"], config["n"]
    weights = d * w + w
    # weights, initial weights, gradients, masks, scores and copies (float64); activations,
    # pre-activations and deltas over the n points; the dataset
    return 8 * (12 * weights + 4 * (w + 1) * n + n * (d + 1))


def cells_batch(items):
    """Values of several cells ``[(config, seed), ...]`` of one group.

    The pruning is prepared once per (method, seed), i.e. per initialization, for all the kept
    counts of the batch (:func:`prune_all_kept`: one set of scores, one training for magnitude
    after training, one IMP trajectory), and the datasets are enumerated once. Every value
    equals the cell's own.
    """
    by_init = {}
    for i, (config, seed) in enumerate(items):
        by_init.setdefault((config["method"], seed), []).append(i)
    out = [None] * len(items)
    enumerated = None
    for (_, seed), where in by_init.items():
        config = items[where[0]][0]
        if config["datasets"] == 0:  # the same datasets for every seed
            enumerated = enumerated or _datasets(config, seed)
            X, y, prob, xset = enumerated
        else:
            X, y, prob, xset = _datasets(config, seed)
        kepts = [items[i][0]["kept"] for i in where]
        for i, pruned in zip(where, prune_all_kept(config, seed, X, y, kepts)):
            out[i] = _values(items[i][0], seed, X, y, prob, xset, *pruned)
    return out


# ----------------------------------------------------------------------------- the figure
_STYLE = {
    "random": ("tab:gray", "o", "-"), "synflow": ("tab:cyan", "s", "-"),
    "magnitude": ("tab:olive", "v", "-"), "snip": ("tab:green", "^", "-"),
    "grasp": ("tab:purple", "D", "-"), "magnitude_after_training": ("tab:orange", "P", "-"),
    "imp": ("tab:red", "*", "-"),
}


def plot(table, config, outdir):
    """I(m; D | init) in bits against sparsity per method, with the counting ceilings."""
    import numpy as np

    from noprune_theory.sims._plotting import mean_sem, new_figure
    from noprune_theory.theory import mask_entropy_bound

    P = int(np.median(table["prunable"]))
    total = P + config["width"] + 1  # + hidden and output biases
    fig, axes = new_figure(1, 2, width=5.6, height=5.2)
    ax, ax2 = axes
    stats = mean_sem(table, "info_bits", by=["method", "kept"])
    methods = [m for m in METHODS if m in set(stats["method"])]
    seeds = int(np.median(stats["count"]))
    for m in methods:
        sub = stats[stats["method"] == m].reset_index(drop=True)
        colour, marker, ls = _STYLE[m]
        s = 1.0 - sub["kept"].astype(float) / P
        # the spread over initializations; the entropy of each init is exact (or its bootstrap
        # SE, when sampled, is added in quadrature)
        est = mean_sem(table[table["method"] == m], "info_se", by=["kept"])
        err = np.sqrt(np.nan_to_num(sub["sem"]) ** 2 + (est["mean"] ** 2) / max(seeds, 1))
        # random and synflow both sit at exactly 0: hollow, larger markers keep both visible
        hollow = {"markerfacecolor": "none", "markersize": 9} if m == "random" else \
            {"markersize": 5}
        ax.errorbar(s, sub["mean"], yerr=err, color=colour, marker=marker, linestyle=ls,
                    capsize=3, label=m, **hollow)
    ks = np.arange(1, P)
    sgrid = 1.0 - ks / P
    ax.plot(sgrid, mask_entropy_bound(P, ks), color="k", linewidth=1.2,
            label=f"log2 C({P}, k): ceiling of masks over the {P} weights")
    k21 = np.rint(total * (1.0 - sgrid)).astype(int)
    ax.plot(sgrid, mask_entropy_bound(total, k21), color="k", linestyle="--", linewidth=1,
            label=f"log2 C({total}, {total}(1 - s)): the paper's {total}-parameter count")
    h_d = float(np.median(table["data_ceiling_bits"]))
    ax.axhline(h_d, color="gray", linestyle=":", linewidth=1,
               label=f"H(D) = {h_d:.2f} bits (entropy of the dataset law)")
    ax.set_xlabel(f"sparsity s = 1 - k/{P} (fraction of the {P} weights pruned)")
    ax.set_ylabel("I(m; D | init) = H(m | init)  (bits)")
    exact = int(np.median(table["datasets"])) == 0
    how = ("exact enumeration of all " if exact else "plug-in + Miller-Madow over ") + \
        f"{int(np.median(table['n_datasets']))} datasets"
    ax.set_title(f"{config['n']} points of {{-1,1}}^{config['d']} ({config['dataset']}), width "
                 f"{config['width']}; {how};\nmean $\\pm$ s.e. over {seeds} initializations",
                 fontsize=8)
    ax.set_ylim(bottom=-0.3)
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    # right: where the bits come from, for the data-dependent methods
    dep = [m for m in methods if m not in ("random", "synflow", "magnitude")]
    for m in dep:
        colour, marker, _ = _STYLE[m]
        sx = mean_sem(table[table["method"] == m], "info_x_bits", by=["kept"])
        sy = mean_sem(table[table["method"] == m], "info_y_bits", by=["kept"])
        s = 1.0 - sx["kept"].astype(float) / P
        ax2.errorbar(s, sx["mean"], yerr=sx["sem"], color=colour, marker=marker, linestyle="--",
                     capsize=2, markersize=4, label=f"{m}: I(m; inputs)")
        ax2.errorbar(s, sy["mean"], yerr=sy["sem"], color=colour, marker=marker, linestyle="-",
                     capsize=2, markersize=4, label=f"{m}: I(m; labels | inputs)")
    ax2.set_xlabel(f"sparsity s = 1 - k/{P}")
    ax2.set_ylabel("bits")
    ax2.set_title("I(m; D | init) = I(m; inputs) + I(m; labels | inputs)\n"
                  "(data-dependent methods; mean $\\pm$ s.e. over initializations)", fontsize=8)
    if dep:
        ax2.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return {"mask_information_bits": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("mask_information")
