"""Information between a pruning mask and the data: I(m; D) and I(m; D | init).

Where this sits in the data flow: a pruning pipeline ``(X, y, seed) -> mask`` (initialize with
``seed``, maybe train, prune) is run on many datasets drawn from a seeded generator; the
information its mask carries about the data is the first term of the effective number of
parameters ``p_eff = I(m; D) + E||m||_1 log2(1 + 60 W J / eps)`` of [NFP, Theorem 4].

Three ways in, from cheap to exact:

- :func:`mask_data_information` -- plug-in estimates with the Miller-Madow correction on whole
  mask patterns (when the number of distinct patterns is small against the number of runs),
  with a bootstrap standard error, the chi-square band of the independence null, and the
  per-weight entropies and the ``log2 C(p, k)`` ceiling that bound the information from above
  whatever the pattern space.
- :func:`mask_information_exact` -- exact values for a finite population of datasets with known
  probabilities (toy models, hand computations).
- :func:`enumerate_datasets` -- every dataset of n draws from a finite population, with its
  probability (multisets, for pipelines that do not depend on the order of the points).
- :func:`mask_codes`, :func:`weighted_entropy` and :func:`per_weight_entropy` -- the building
  blocks for masks already computed on an enumerated (weighted) or sampled set of datasets:
  one integer per mask, the entropy of a weighted law of codes, and ``sum_i H(m_i)``.

Which quantity bounds which (all in bits here):

- ``I(m; D) <= H(m) <= log2 C(p, k)`` when every mask keeps exactly k of p weights
  ([NFP] Sec. 4.1);
- ``H(m) <= sum_i H(m_i)`` (subadditivity), so ``I(m; D) <= sum_i H(m_i)`` too;
- ``sum_i I(m_i; D)`` is **not** a bound either way: ``m_1 = m_2 = b(D)`` gives 2 bits against
  ``I(m; D) = 1``; ``m_1 = U``, ``m_2 = U xor b(D)`` with ``U`` a fair coin independent of D gives
  0 against 1. It is reported for information only.
- For a pipeline that is deterministic given (D, init), ``I(m; D | init) = H(m | init)``.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from noprune_theory._validation import check_choice
from noprune_theory.backend import to_numpy
from noprune_theory.estimators._preprocess import check_base, check_number, reject_text

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MaskInformation",
    "enumerate_datasets",
    "log2_binomial",
    "mask_data_information",
    "mask_codes",
    "mask_information_exact",
    "per_weight_entropy",
    "weighted_entropy",
]


#: ``reliable`` needs the headline I(m; D)'s mean under the permutation null within this many
#: null standard deviations of 0.
RELIABLE_NULL_SDS = 2.0


def log2_binomial(p: ArrayLike, k: ArrayLike) -> Any:
    """log2 C(p, k) through log-Gamma (exact to rounding for any size).

    Examples
    --------
    >>> round(log2_binomial(10, 5), 3)    # log2 252
    7.977
    """
    p = check_number(p, "p", integer=True, low=0)
    k = check_number(k, "k", integer=True, low=0, high=p)
    return (math.lgamma(p + 1) - math.lgamma(k + 1) - math.lgamma(p - k + 1)) / math.log(2)


@dataclass
class MaskInformation:  # numpydoc ignore=PR01
    """Estimates of the information a pruning mask carries about the data.

    All information and entropies are in the unit ``unit`` (bits by default).

    Attributes
    ----------
    mi : float or None
        I(m; D) (Miller-Madow corrected plug-in, or exact). None when not computed.
    mi_conditional : float or None
        I(m; D | init), averaged over the inits.
    mi_se, mi_conditional_se : float or None
        Bootstrap standard errors (resampling datasets); 0 for exact values.
    mi_plugin, mi_conditional_plugin : float or None
        The uncorrected plug-in values (biased up by about the correction).
    bias_correction : float or None
        The Miller-Madow term subtracted from ``mi_plugin``, ``(K_mD - K_m - K_D + 1) / (2n)``.
    mi_debiased : float or None
        ``mi_plugin - null_mean``: the plug-in minus its mean under independence (permutation
        null). Unlike Miller-Madow it stays centred when each dataset's runs see few of the
        patterns (Miller-Madow counts only the cells it observes and then under-corrects).
    null_mean, null_sd : float or None
        Mean and standard deviation of the plug-in when m and D are independent, from
        ``n_permutations`` random reassignments of the runs to the datasets: the band within
        which an estimate is "zero".
    p_value : float or None
        Permutation p-value of independence, ``(1 + #{null >= observed}) / (1 + permutations)``.
    entropy, entropy_conditional : float or None
        H(m) and H(m | init) (Miller-Madow corrected, or exact).
    per_weight_entropy : float
        ``sum_i H(m_i)``: an upper bound on H(m), hence on I(m; D) (estimated).
    per_weight_mi : float or None
        ``sum_i I(m_i; D)``: NOT a bound on I(m; D) (see the module notes).
    ceiling : float
        ``log2 C(p, k)`` when every mask keeps k of p weights, else ``p`` bits.
    upper : float
        ``min(per_weight_entropy, ceiling)``: what bounds I(m; D) when the pattern space is too
        large for the plug-in.
    n_patterns : int
        Distinct masks seen (unconditional runs, or the support in the exact case).
    n_runs : int
        Pipeline runs of the unconditional estimate.
    reliable : bool
        Whether the estimates can be trusted. For I(m; D): at least 5 runs per distinct
        pattern over all runs, and the headline ``mi`` centred under independence: its mean
        over the permutation null within 2 null sd of 0 (without permutations: at least 5
        runs per distinct mask *per dataset*, since each dataset's M runs estimate H(m | D)).
        For I(m; D | init): at least 5 datasets per distinct pattern of each init.
    extra : dict
        ``conditional_patterns`` (most distinct masks of one init), ``runs_per_cell`` (runs
        per distinct (dataset, mask) pair), ``null_bias`` (the mean of ``mi``'s estimator over
        the permutation null: 0 if it is centred) and, when not reliable, ``unreliable``: what
        failed.
    kept : float
        Mean number of weights kept, E||m||_1.
    p : int
        Number of maskable weights.
    unit : str
        Unit of every information and entropy (``"bits"`` by default).
    method : str
        ``"plugin"`` or ``"exact"``.
    """

    mi: float | None = None
    mi_conditional: float | None = None
    mi_se: float | None = None
    mi_conditional_se: float | None = None
    mi_plugin: float | None = None
    mi_conditional_plugin: float | None = None
    bias_correction: float | None = None
    mi_debiased: float | None = None
    null_mean: float | None = None
    null_sd: float | None = None
    p_value: float | None = None
    entropy: float | None = None
    entropy_conditional: float | None = None
    per_weight_entropy: float = 0.0
    per_weight_mi: float | None = None
    ceiling: float = 0.0
    upper: float = 0.0
    n_patterns: int = 0
    n_runs: int = 0
    reliable: bool = True
    kept: float = 0.0
    p: int = 0
    unit: str = "bits"
    method: str = "plugin"
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- plumbing
def _flatten_mask(mask):
    """A mask (array, or list of per-layer arrays, e.g. from ``prune``) as a flat bool vector."""
    if isinstance(mask, (list, tuple)):
        parts = [np.asarray(to_numpy(m)).reshape(-1) for m in mask]
        if not parts:
            raise ValueError("mask_fn returned an empty list of masks")
        flat = np.concatenate(parts)
    else:
        flat = np.asarray(to_numpy(mask)).reshape(-1)
    if flat.dtype != np.bool_:
        if flat.size and not np.all((flat == 0) | (flat == 1)):
            raise ValueError(f"mask_fn must return boolean masks (or 0/1 arrays), got values "
                             f"other than 0 and 1 (dtype {flat.dtype})")
        flat = flat.astype(bool)
    if flat.size == 0:
        raise ValueError("mask_fn returned an empty mask")
    return flat


def _check_callable(f, name, signature):
    if not callable(f):
        raise TypeError(f"{name} must be a callable {signature}, got {type(f).__name__}")


def _draw_data(sample_data, s):
    out = sample_data(s)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(f"sample_data(seed) must return a tuple (X, y), got "
                         f"{type(out).__name__}")
    return out


def _same(a, b):
    a, b = np.asarray(to_numpy(a)), np.asarray(to_numpy(b))
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _check_reproducible(sample_data, s):
    X1, y1 = _draw_data(sample_data, s)
    X2, y2 = _draw_data(sample_data, s)
    if not (_same(X1, X2) and _same(y1, y2)):
        raise ValueError(
            f"sample_data is not reproducible: two calls with seed {s} gave different data; it "
            "must draw everything from a generator seeded by its argument (e.g. "
            "numpy.random.default_rng(seed)), never from global state")
    return X1, y1


def _codes(masks):
    """Integer codes of the distinct rows of a (runs, p) bool matrix."""
    packed = np.packbits(masks, axis=1)
    _, codes = np.unique(packed, axis=0, return_inverse=True)
    return np.asarray(codes, dtype=np.int64).reshape(-1)


def _h_counts(counts, correction):
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    n = counts.sum()
    h = math.log(n) - float(np.sum(counts * np.log(counts))) / n
    if correction == "miller_madow":
        h += (len(counts) - 1) / (2.0 * n)
    return h


def _h_codes(codes, correction):
    return _h_counts(np.bincount(codes), correction)


def _mi_rows(codes, rows, correction):
    """Plug-in I(m; row) in nats, and (plug-in, correction, K_m, K_D, K_mD)."""
    n = len(codes)
    joint = codes * (int(rows.max()) + 1) + rows
    km = len(np.unique(codes))
    kd = len(np.unique(rows))
    kmd = len(np.unique(joint))
    plug = _h_codes(codes, "none") + _h_codes(rows, "none") - _h_codes(joint, "none")
    corr = (kmd - km - kd + 1) / (2.0 * n) if correction == "miller_madow" else 0.0
    return plug - corr, plug, corr, km, kd, kmd


def _h2(q):
    q = np.clip(q, 0.0, 1.0)
    out = np.zeros_like(q)
    inside = (q > 0) & (q < 1)
    qi = q[inside]
    out[inside] = -(qi * np.log(qi) + (1 - qi) * np.log(1 - qi))
    return out


def _per_weight_entropy(masks, correction):
    """sum_i H(m_i) in nats from (runs, p) samples (Miller-Madow per weight)."""
    n = masks.shape[0]
    q = masks.mean(axis=0)
    h = _h2(q)
    if correction == "miller_madow":
        h = h + ((q > 0) & (q < 1)) / (2.0 * n)
    return float(h.sum())


def _per_weight_mi(masks, rows, correction):
    """sum_i I(m_i; row) in nats (plug-in, Miller-Madow), vectorised over weights."""
    n, p = masks.shape
    R = int(rows.max()) + 1
    cnt_r = np.bincount(rows, minlength=R).astype(np.float64)  # (R,)
    ones = np.zeros((R, p))
    np.add.at(ones, rows, masks.astype(np.float64))
    q = masks.mean(axis=0)
    h_m = _h2(q)
    # H(m_i | row) = sum_r (n_r / n) h2(ones_r / n_r)
    frac = ones / cnt_r[:, None]
    h_cond = (cnt_r[:, None] / n * _h2(frac)).sum(axis=0)
    mi = h_m - h_cond
    if correction == "miller_madow":
        km = ((q > 0) & (q < 1)) + 1.0
        kmd = (((frac > 0) & (frac < 1)) + 1.0).sum(axis=0)
        mi = mi - (kmd - km - R + 1) / (2.0 * n)
    return float(mi.sum())


def _ceiling(masks):
    """log2 C(p, k) in bits if every mask keeps k weights, else p bits (H of p bits)."""
    p = masks.shape[1]
    counts = masks.sum(axis=1)
    if np.all(counts == counts[0]):
        return log2_binomial(p, int(counts[0]))
    return float(p)


def _seed_list(seed, count, tag):
    ss = np.random.SeedSequence([seed, tag])
    return [int(s) for s in ss.generate_state(count, dtype=np.uint32)]


# ----------------------------------------------------------------------------- plug-in
def mask_data_information(mask_fn: Callable[..., Any],
                          sample_data: Callable[[int], tuple[ArrayLike, ArrayLike]], *,
                          n_datasets: int = 100, n_inits: int = 10,
                          quantity: Literal["both", "mi", "conditional"] = "both",
                          base: float | str = 2,
                          correction: Literal["miller_madow", "none"] = "miller_madow",
                          n_bootstrap: int = 200, n_permutations: int = 200,
                          seed: int = 0) -> MaskInformation:
    """Estimate I(m; D) and I(m; D | init) of a pruning pipeline by resampling datasets.

    Parameters
    ----------
    mask_fn : callable ``(X, y, seed) -> mask``
        The pipeline: initialize a model with ``seed`` (and use it for any other randomness),
        maybe train, prune, and return the mask: a bool array of any shape, or a list of
        per-layer arrays (as :func:`noprune_theory.pruning.prune` returns for ``B = 1``). It
        must be deterministic given its arguments (checked once).
    sample_data : callable ``seed -> (X, y)``
        Draws one dataset from the data law, from a generator seeded by ``seed`` only: two
        calls with the same seed must return identical arrays (checked; else ValueError).
    n_datasets : int >= 2, default 100
        N, datasets drawn.
    n_inits : int >= 1, default 10
        M, pipeline seeds (inits) per dataset.
    quantity : {"both", "mi", "conditional"}, default "both"
        ``mi``: I(m; D), from N x M runs with an independent seed in every run.
        ``conditional``: I(m; D | init), from M seeds each run on the same N datasets.
        Each quantity costs N M calls of ``mask_fn`` (``both``: 2 N M).
    base : float, default 2
        Log base of the results (2: bits, the unit of [NFP]; ``None`` or ``"e"``: nats).
    correction : {"miller_madow", "none"}, default "miller_madow"
    n_bootstrap : int >= 0, default 200
        Bootstrap replicates (datasets resampled with replacement) for the standard errors.
    n_permutations : int >= 0, default 200
        Permutations of the runs' dataset labels for the null band of I(m; D).
    seed : int >= 0, default 0
        Seeds the dataset seeds, the pipeline seeds and the bootstrap.

    Returns
    -------
    MaskInformation
        The estimates, their standard errors and whether they can be trusted.

    Notes
    -----
    With the datasets :math:`D_1..D_N` as the values of a uniform variable, the plug-in
    :math:`\\hat I(m; D) = \\hat H(m) + \\hat H(D) - \\hat H(m, D)` over the N M runs, minus the
    Miller-Madow term :math:`(K_{mD} - K_m - K_D + 1)/(2NM)` (K: distinct values seen). The
    null band comes from permutations: reassigning the runs to datasets at random makes m and
    D independent with the same margins, so the permuted plug-in values are draws of the
    estimator under independence (for large cells :math:`2NM \\hat I` in nats is then about
    :math:`\\chi^2_{(K_D - 1)(K_m - 1)}`, the G test). For a pipeline deterministic given (D, init),
    :math:`I(m; D | \\text{init}) = H(m | \\text{init})`, estimated per seed over the N datasets
    and averaged. Both need few distinct masks against the runs (``reliable``); otherwise use
    ``upper`` = min(sum_i H(m_i), log2 C(p, k)), which bounds I(m; D) from above (module notes).

    Miller-Madow is biased upward when each dataset's M runs see few copies of each of its
    masks: a data-agnostic random mask (6 weights, keep 3: 20 patterns, I = 0) with N = 100
    and M = 3 gives ``mi`` = 2.4 bits. The permutation null measures that bias at the design
    used (``extra["null_bias"]``); above 2 null sd, ``reliable`` is False and a warning says
    so. ``mi_debiased`` is centred under independence but subtracts too much under strong
    dependence (the null has more cells than the truth), so it is a test statistic, not an
    estimate of a large I(m; D).

    References
    ----------
    .. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune", ICML 2024, Theorem 4, Sec. 4.1
       and the toy experiment of Sec. 5.
    .. [P03] L. Paninski, "Estimation of entropy and mutual information", Neural Computation 15
       (2003) (Miller-Madow bias, the G test).

    Examples
    --------
    A mask that is a deterministic function of one label carries H(label) = 1 bit:

    >>> import numpy as np
    >>> def sample(s):
    ...     r = np.random.default_rng(s)
    ...     return r.standard_normal((4, 2)), r.choice([-1.0, 1.0], size=4)
    >>> def mask_fn(X, y, seed):
    ...     return np.array([y[0] > 0, y[0] < 0])
    >>> res = mask_data_information(mask_fn, sample, n_datasets=400, n_inits=2,
    ...                             quantity="conditional", seed=0)
    >>> bool(abs(res.mi_conditional - 1.0) < 0.01), round(res.ceiling, 6)
    (True, 1.0)
    """
    _check_callable(mask_fn, "mask_fn", "(X, y, seed) -> mask")
    _check_callable(sample_data, "sample_data", "seed -> (X, y)")
    for value, name in ((n_datasets, "n_datasets"), (n_inits, "n_inits"),
                        (n_bootstrap, "n_bootstrap"), (n_permutations, "n_permutations"),
                        (seed, "seed")):
        reject_text(value, name, "an integer")
    n_datasets = check_number(n_datasets, "n_datasets", integer=True, low=2)
    n_inits = check_number(n_inits, "n_inits", integer=True, low=1)
    check_choice(quantity, "quantity", ("both", "mi", "conditional"))
    divisor = check_base(base)
    check_choice(correction, "correction", ("miller_madow", "none"))
    n_bootstrap = check_number(n_bootstrap, "n_bootstrap", integer=True, low=0)
    n_permutations = check_number(n_permutations, "n_permutations", integer=True, low=0)
    seed = check_number(seed, "seed", integer=True, low=0)
    unit = "bits" if abs(divisor - math.log(2)) < 1e-15 else (
        "nats" if divisor == 1.0 else f"log base {base}")

    data_seeds = _seed_list(seed, n_datasets, 1)
    datasets = [_check_reproducible(sample_data, data_seeds[0])]
    datasets += [_draw_data(sample_data, s) for s in data_seeds[1:]]
    X0, y0 = datasets[0]
    m0 = _flatten_mask(mask_fn(X0, y0, 0))
    if not np.array_equal(m0, _flatten_mask(mask_fn(X0, y0, 0))):
        raise ValueError("mask_fn is not deterministic: two calls with the same (X, y, seed) "
                         "gave different masks; draw all its randomness from the seed")
    p = m0.size

    def run(i, s):
        m = _flatten_mask(mask_fn(*datasets[i], s))
        if m.size != p:
            raise ValueError(f"mask_fn returned masks of different sizes ({p} and {m.size})")
        return m

    res = MaskInformation(unit=unit, p=p, method="plugin")
    rng = np.random.default_rng([seed, 3])
    N, M = n_datasets, n_inits
    all_masks = []
    if quantity in ("both", "mi"):
        run_seeds = _seed_list(seed, N * M, 2)
        masks = np.stack([run(i, run_seeds[i * M + j]) for i in range(N) for j in range(M)])
        rows = np.repeat(np.arange(N), M)
        codes = _codes(masks)
        est, plug, corr, km, _, _ = _mi_rows(codes, rows, correction)
        n = len(codes)
        res.mi, res.mi_plugin, res.bias_correction = est / divisor, plug / divisor, corr / divisor
        if n_permutations:
            null_runs = [_mi_rows(codes, rng.permutation(rows), correction)
                         for _ in range(n_permutations)]
            null = np.array([r[1] for r in null_runs])
            null_est = np.array([r[0] for r in null_runs])
            res.null_mean = float(null.mean()) / divisor
            res.null_sd = float(null.std(ddof=1)) / divisor if n_permutations > 1 else 0.0
            res.mi_debiased = res.mi_plugin - res.null_mean
            # ties count against independence-rejection: >= with a relative slack of rounding
            res.p_value = float((1 + np.sum(null >= plug - 1e-12 * max(1.0, abs(plug))))
                                / (1 + n_permutations))
            # what the headline estimator returns when m and D are independent: it should be 0
            null_bias = float(null_est.mean()) / divisor
            res.extra["null_bias"] = null_bias
        res.entropy = _h_codes(codes, correction) / divisor
        res.per_weight_mi = _per_weight_mi(masks, rows, correction) / divisor
        res.n_patterns, res.n_runs = km, n
        kmd = len(np.unique(codes * N + rows))
        res.extra["runs_per_cell"] = n / kmd
        problems = []
        if n < 5 * km:
            problems.append(f"I(m; D): {km} distinct masks in {n} runs")
        if n_permutations > 1:
            if abs(null_bias) > RELIABLE_NULL_SDS * res.null_sd:
                problems.append(
                    f"I(m; D): under independence (permutation null) the estimate averages "
                    f"{null_bias:.3g} {unit}, {abs(null_bias) / max(res.null_sd, 1e-300):.1f} "
                    f"null sd from 0 ({M} runs per dataset over {kmd / N:.1f} distinct masks "
                    f"per dataset); use mi_debiased +- null_sd to test for dependence")
        elif n < 5 * kmd:
            problems.append(
                f"I(m; D): {n / kmd:.1f} runs per distinct mask per dataset ({M} runs per "
                f"dataset over {kmd / N:.1f} distinct masks), fewer than 5")
        if problems:
            res.reliable = False
            res.extra["unreliable"] = problems
        if n_bootstrap:
            reps = []
            for _ in range(n_bootstrap):
                pick = rng.integers(0, N, size=N)
                idx = (pick[:, None] * M + np.arange(M)[None, :]).reshape(-1)
                reps.append(_mi_rows(codes[idx], _rows_relabel(N, M), correction)[0])
            res.mi_se = float(np.std(reps, ddof=1)) / divisor if n_bootstrap > 1 else 0.0
        all_masks.append(masks)
    if quantity in ("both", "conditional"):
        init_seeds = _seed_list(seed, M, 4)
        grid = np.stack([np.stack([run(i, s) for i in range(N)]) for s in init_seeds])  # (M,N,p)
        col_codes = [_codes(grid[j]) for j in range(M)]
        h = [_h_codes(c, correction) for c in col_codes]
        hp = [_h_codes(c, "none") for c in col_codes]
        res.mi_conditional = float(np.mean(h)) / divisor
        res.mi_conditional_plugin = float(np.mean(hp)) / divisor
        res.entropy_conditional = res.mi_conditional
        if n_bootstrap:
            reps = []
            for _ in range(n_bootstrap):
                pick = rng.integers(0, N, size=N)
                reps.append(np.mean([_h_codes(c[pick], correction) for c in col_codes]))
            res.mi_conditional_se = (float(np.std(reps, ddof=1)) / divisor
                                     if n_bootstrap > 1 else 0.0)
        kc = max(len(np.unique(c)) for c in col_codes)
        res.extra["conditional_patterns"] = kc
        if quantity == "conditional":
            res.n_patterns, res.n_runs = kc, N
        if N < 5 * kc:
            res.reliable = False
            res.extra["unreliable"] = res.extra.get("unreliable", []) + [
                f"I(m; D | init): up to {kc} distinct masks over the {N} datasets of one init"]
        all_masks.append(grid.reshape(M * N, p))
    masks = np.concatenate(all_masks)
    res.kept = float(masks.sum(axis=1).mean())
    res.per_weight_entropy = _per_weight_entropy(masks, correction) / divisor
    res.ceiling = _ceiling(masks) * math.log(2) / divisor
    res.upper = min(res.per_weight_entropy, res.ceiling)
    if not res.reliable:
        warnings.warn(
            "; ".join(res.extra["unreliable"]) + ": the plug-in estimate of whole-mask "
            "information is unreliable at this design (too few runs per distinct mask; it "
            f"saturates near log(runs)); use the upper bound min(sum_i H(m_i), log2 C(p, k)) = "
            f"{res.upper:.4g} {unit}, or more runs", RuntimeWarning, stacklevel=2)
    return res


def _rows_relabel(N, M):
    """Row labels 0..N-1 (each repeated M times) of a bootstrap replicate: a dataset drawn
    twice counts as two datasets, as in the original sample."""
    return np.repeat(np.arange(N), M)


# ----------------------------------------------------------------------------- building blocks
def _check_weights(weights, count, name="weights"):
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (count,):
        raise ValueError(f"{name} must hold {count} numbers (one per code), got {w.size}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"{name} must be finite and >= 0 with a positive sum")
    return w


def weighted_entropy(codes: ArrayLike, weights: ArrayLike, *,
                     base: float | str = 2) -> float:
    """Entropy of the law that puts ``weights[i]`` on the symbol ``codes[i]``.

    Parameters
    ----------
    codes : array_like of int, shape (M,)
        Symbols (e.g. from :func:`mask_codes`); equal codes are one symbol, their weights add.
    weights : array_like of float >= 0, shape (M,)
        Probabilities (of enumerated datasets, say), normalized here: any positive sum.
    base : float > 1 or str, default 2
        Log base: 2 (or ``"bits"``) gives bits, None (or ``"nats"``) nats.

    Returns
    -------
    float
        ``-sum_c p_c log p_c / log(base)`` with ``p_c = sum_{i: codes_i = c} w_i / sum_i w_i``;
        never negative.

    Notes
    -----
    With equal weights this is the plug-in entropy of the codes
    (:func:`~noprune_theory.estimators.plugin_entropy`); with the probabilities of every
    dataset of a finite law (:func:`enumerate_datasets`) and the masks of a deterministic
    pipeline, it is the exact ``H(m | init)`` = ``I(m; D | init)``. In bits the logarithm is
    ``log2`` itself (exact on powers of two).

    Examples
    --------
    >>> weighted_entropy([0, 1, 1, 2], [0.5, 0.125, 0.125, 0.25])
    1.5
    """
    codes = np.asarray(codes).reshape(-1)
    if codes.size == 0:
        raise ValueError("codes must hold at least one symbol")
    if not (np.issubdtype(codes.dtype, np.integer) or codes.dtype == np.bool_):
        raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
    w = _check_weights(weights, codes.size)
    divisor = check_base(base)
    _, inv = np.unique(codes, return_inverse=True)
    p = np.bincount(inv.reshape(-1), weights=w)
    p = p[p > 0] / p.sum()
    if divisor == math.log(2):
        h = -np.sum(p * np.log2(p))
    else:
        h = -np.sum(p * np.log(p)) / divisor
    return float(max(0.0, h))


def mask_codes(masks: ArrayLike | Sequence[ArrayLike]) -> NDArray[np.int64]:
    """One integer per network from its masks, equal exactly when the masks are equal.

    Parameters
    ----------
    masks : array (B, p) or sequence of arrays (B, ...)
        Boolean (or 0/1) masks of B networks, e.g. one per layer as
        :func:`noprune_theory.pruning.prune` returns them.

    Returns
    -------
    ndarray of int64, shape (B,)
        With at most 62 weights, bit ``i`` of the code is flattened weight ``i`` (layer by
        layer, C order), so codes of different runs compare; with more, the index of the mask
        among the distinct masks of this call (in sorted order).

    Examples
    --------
    >>> import numpy as np
    >>> mask_codes([np.array([[[1, 0]], [[0, 1]], [[1, 0]]], dtype=bool)]).tolist()
    [1, 2, 1]
    """
    if isinstance(masks, (list, tuple)):
        if not masks:
            raise ValueError("masks must hold at least one array")
        parts = [np.asarray(to_numpy(m)) for m in masks]
        if any(m.ndim < 1 or m.shape[0] != parts[0].shape[0] for m in parts):
            raise ValueError("masks must share their first (network) axis")
        flat = np.concatenate([m.reshape(m.shape[0], -1) for m in parts], axis=1)
    else:
        flat = np.asarray(to_numpy(masks))
        if flat.ndim != 2:
            raise ValueError(f"masks must be a (B, p) array or a list of (B, ...) arrays, got "
                             f"shape {flat.shape}")
    if flat.dtype != np.bool_ and not np.all((flat == 0) | (flat == 1)):
        raise ValueError("masks must be boolean (or 0/1)")
    if flat.shape[1] > 62:
        # too many weights for one int64: number the distinct rows instead
        return np.asarray(np.unique(flat, axis=0, return_inverse=True)[1],
                          dtype=np.int64).reshape(-1)
    return flat.astype(np.int64) @ (np.int64(1) << np.arange(flat.shape[1], dtype=np.int64))


def per_weight_entropy(masks: ArrayLike | Sequence[ArrayLike], weights: ArrayLike | None = None,
                       *, base: float | str = 2) -> float:
    """``sum_i H(m_i)``: the entropies of the single weights' keep bits, summed.

    Parameters
    ----------
    masks : array (B, p) or sequence of arrays (B, ...)
        Masks of B runs (as in :func:`mask_codes`).
    weights : array_like (B,) or None
        Probability of each run: used as given when they sum to 1 (within 1e-9, as in
        :func:`mask_information_exact`), else normalized. None weighs the runs equally (the
        plug-in value of a sample).
    base : float > 1 or str, default 2
        2 (or ``"bits"``): bits; None (or ``"nats"``): nats.

    Returns
    -------
    float
        ``sum_i h(q_i)`` with ``q_i`` the (weighted) fraction of runs keeping weight i and
        ``h`` the binary entropy: an upper bound on ``H(m)`` (subadditivity), hence on
        ``I(m; D)``.

    Examples
    --------
    >>> import numpy as np
    >>> per_weight_entropy(np.array([[1, 0], [0, 1]], dtype=bool))   # two fair bits
    2.0
    """
    if isinstance(masks, (list, tuple)):
        flat = np.concatenate([np.asarray(to_numpy(m)).reshape(np.shape(m)[0], -1)
                               for m in masks], axis=1)
    else:
        flat = np.asarray(to_numpy(masks))
    if flat.ndim != 2 or flat.shape[0] == 0:
        raise ValueError("masks must be a (B, p) array or a list of (B, ...) arrays, B >= 1")
    divisor = check_base(base)
    if weights is None:
        q = flat.mean(axis=0)
    else:
        w = _check_weights(weights, flat.shape[0])
        if abs(w.sum() - 1.0) > 1e-9:  # probabilities are used as given, as in the exact routine
            w = w / w.sum()
        q = (w[:, None] * flat).sum(axis=0)
    return float(_h2(q).sum()) / divisor


# ----------------------------------------------------------------------------- exact
def enumerate_datasets(population_size: int, n: int, probs: ArrayLike | None = None,
                       ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Every multiset of n draws (with replacement) from a finite population, with its law.

    Parameters
    ----------
    population_size : int >= 1
        Number of distinct (x, y) points in the population.
    n : int >= 1
        Points per dataset.
    probs : array_like (population_size,) or None
        Probability of each point per draw; uniform when None.

    Returns
    -------
    indices : ndarray (count, n) of int
        One sorted multiset per row (the canonical order a pipeline sees).
    weights : ndarray (count,)
        The multinomial probability of each multiset; they sum to 1.

    Examples
    --------
    Two fair coins: {0,0}, {0,1}, {1,1} with probabilities 1/4, 1/2, 1/4.

    >>> idx, w = enumerate_datasets(2, 2)
    >>> idx.tolist(), w.tolist()
    ([[0, 0], [0, 1], [1, 1]], [0.25, 0.5, 0.25])
    """
    from itertools import combinations_with_replacement

    K = check_number(population_size, "population_size", integer=True, low=1)
    n = check_number(n, "n", integer=True, low=1)
    if probs is None:
        q = np.full(K, 1.0 / K)
    else:
        q = np.asarray(probs, dtype=np.float64)
        if q.shape != (K,) or not np.all(np.isfinite(q)) or np.any(q < 0) or \
                abs(q.sum() - 1.0) > 1e-9:
            raise ValueError(f"probs must be {K} non-negative numbers summing to 1")
    total = math.comb(K + n - 1, n)
    if total > 5_000_000:
        raise ValueError(f"{total} multisets of {n} draws from {K} points: too many to "
                         "enumerate (limit 5e6); sample with mask_data_information instead")
    idx = np.array(list(combinations_with_replacement(range(K), n)), dtype=np.int64)
    counts = np.stack([np.bincount(r, minlength=K) for r in idx])
    # exact integer multinomial coefficients; powers of q multiply without logs (rounding)
    coef = np.array([math.factorial(n) // math.prod(math.factorial(int(c)) for c in row)
                     for row in counts], dtype=np.float64)
    w = coef * np.prod(q[None, :] ** counts, axis=1)
    return idx, w


def _h_weights(codes, weights):
    """Entropy (nats) of the law putting weight w_r on code c_r."""
    tot = np.bincount(codes, weights=weights)
    tot = tot[tot > 0]
    tot = tot / tot.sum()
    return float(-np.sum(tot * np.log(tot)))


def mask_information_exact(mask_fn: Callable[..., Any],
                           datasets: Sequence[tuple[ArrayLike, ArrayLike]],
                           probs: ArrayLike | None = None, *, seeds: Sequence[int] = (0,),
                           seed_probs: ArrayLike | None = None,
                           base: float | str = 2) -> MaskInformation:
    """Exact I(m; D) and I(m; D | init) for a finite law of datasets and of seeds.

    Parameters
    ----------
    mask_fn : callable ``(X, y, seed) -> mask``
        As in :func:`mask_data_information`; deterministic.
    datasets : sequence of (X, y)
        Every dataset the law can produce.
    probs : array_like or None
        Their probabilities (uniform when None), summing to 1.
    seeds : sequence of int, default (0,)
        Every pipeline seed (init); with one seed, I(m; D) = I(m; D | init) = H(m).
    seed_probs : array_like or None
        Their probabilities (uniform when None). Seeds are independent of the data.
    base : float, default 2
        Log base (2: bits).

    Returns
    -------
    MaskInformation
        ``method="exact"``, standard errors 0.

    Notes
    -----
    The law of (D, init, m) is ``p(D) p(init) [m = g(D, init)]``;
    ``I(m; D) = H(m) - sum_D p(D) H(m | D)`` and
    ``I(m; D | init) = sum_init p(init) H(m | init)`` (as ``H(m | D, init) = 0``).

    Examples
    --------
    Four datasets with probabilities 1/2, 1/4, 1/8, 1/8 and a mask telling the first apart from
    the others: H = h2(1/2) = 1 bit.

    >>> import numpy as np
    >>> data = [(np.zeros((1, 1)) + i, np.zeros(1)) for i in range(4)]
    >>> res = mask_information_exact(lambda X, y, s: np.array([X[0, 0] == 0]), data,
    ...                              [0.5, 0.25, 0.125, 0.125])
    >>> round(res.mi, 12), round(res.ceiling, 12)   # masks keep 0 or 1 weight: ceiling p = 1
    (1.0, 1.0)
    """
    _check_callable(mask_fn, "mask_fn", "(X, y, seed) -> mask")
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets must hold at least one (X, y) pair")
    seeds = [check_number(s, "seeds", integer=True, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    divisor = check_base(base)

    def law(w, k, name):
        if w is None:
            return np.full(k, 1.0 / k)
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (k,) or not np.all(np.isfinite(w)) or np.any(w < 0) or \
                abs(w.sum() - 1.0) > 1e-9:
            raise ValueError(f"{name} must be {k} non-negative numbers summing to 1")
        return w

    pd_ = law(probs, len(datasets), "probs")
    ps = law(seed_probs, len(seeds), "seed_probs")
    masks = []
    for X, y in datasets:
        for s in seeds:
            masks.append(_flatten_mask(mask_fn(X, y, s)))
    sizes = {m.size for m in masks}
    if len(sizes) != 1:
        raise ValueError(f"mask_fn returned masks of different sizes {sorted(sizes)}")
    masks = np.stack(masks)  # (N * S, p), dataset-major
    N, S = len(datasets), len(seeds)
    w = (pd_[:, None] * ps[None, :]).reshape(-1)
    codes = _codes(masks)
    h = _h_weights(codes, w)
    h_given_d = sum(pd_[i] * _h_weights(codes[i * S:(i + 1) * S], ps) for i in range(N)
                    if pd_[i] > 0)
    h_given_s = sum(ps[j] * _h_weights(codes[j::S], pd_) for j in range(S) if ps[j] > 0)
    q = (w[:, None] * masks).sum(axis=0)
    per_h = float(_h2(q).sum())
    # sum_i I(m_i; D) = sum_i [h2(q_i) - sum_D p(D) h2(q_i | D)]
    qd = np.stack([(ps[:, None] * masks[i * S:(i + 1) * S]).sum(axis=0) for i in range(N)])
    per_mi = per_h - float((pd_[:, None] * _h2(qd)).sum())
    support = w > 0
    h_given_d, h_given_s = float(h_given_d), float(h_given_s)
    res = MaskInformation(
        mi=(h - h_given_d) / divisor, mi_conditional=h_given_s / divisor, mi_se=0.0,
        mi_conditional_se=0.0, mi_plugin=(h - h_given_d) / divisor,
        mi_conditional_plugin=h_given_s / divisor, bias_correction=0.0,
        entropy=h / divisor, entropy_conditional=h_given_s / divisor,
        per_weight_entropy=per_h / divisor, per_weight_mi=per_mi / divisor,
        ceiling=_ceiling(masks[support]) * math.log(2) / divisor,
        n_patterns=len(np.unique(codes[support])), n_runs=int(N * S), reliable=True,
        kept=float((w * masks.sum(axis=1)).sum()), p=int(masks.shape[1]),
        unit="bits" if abs(divisor - math.log(2)) < 1e-15 else (
            "nats" if divisor == 1.0 else f"log base {base}"),
        method="exact")
    res.upper = min(res.per_weight_entropy, res.ceiling)
    return res
