"""Exact, count-based selection of the weights to keep from scores; mask shuffling.

Where this sits in the data flow: a pruning method produces one score array per layer (batch axis
first, higher = keep); :func:`select_masks` turns them into boolean masks that keep *exactly*
the requested number of weights per network (globally or per layer). It never compares with a
threshold (``score >= t`` keeps every tied weight and misses the target): it ranks the weights
by score, breaking ties by a seeded random key, and keeps the first ``k``.

All functions are namespace-generic: they take the array namespace from their inputs and use
only array-API operations (``argsort``, ``take_along_axis``, ``concat``), so the same code runs
on NumPy, CuPy and ``array_api_strict``. Random keys are drawn on the host by
:func:`numpy.random.default_rng` and moved to the scores' namespace.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory._validation import check_random_state
from noprune_theory.backend import array_namespace

__all__ = [
    "apportion_counts",
    "keep_count",
    "mask_counts",
    "select_masks",
    "shuffle_masks",
    "topk_mask",
]


def keep_count(density: float, size: int) -> int:
    """Count the weights kept: ``round(density * size)``, halves rounded up.

    ``1 - 0.9`` is ``0.09999999999999998`` in floating point, so a floor would lose a weight;
    rounding to the nearest integer makes the achieved density the closest achievable one.

    Parameters
    ----------
    density : float
        Fraction of the weights kept, in [0, 1].
    size : int
        Number of weights.

    Returns
    -------
    int
        The number kept.
    """
    return math.floor(density * size + 0.5 + 1e-9)


def apportion_counts(targets: ArrayLike, caps: Sequence[int], total: int) -> list[int]:
    """Round real per-layer targets to integer counts that sum to *total*.

    Largest-remainder rounding: every layer gets the floor of its real target ``t_l``, and the
    ``total - sum floor`` layers with the largest fractional parts get one more (ties to the
    earlier layer). Used so that per-layer pruning also hits the global count exactly.

    Parameters
    ----------
    targets : array_like of float
        The real targets ``t_l``, one per layer.
    caps : sequence of int
        The largest count of each layer (its number of weights); targets above it are capped.
    total : int
        The sum the counts must reach.

    Returns
    -------
    list of int
        The counts ``k_l`` in ``[floor(t_l), ceil(t_l)]``, each at most ``caps[l]``.
    """
    t = np.minimum(np.asarray(targets, dtype=np.float64), np.asarray(caps, dtype=np.float64))
    base = np.floor(t + 1e-9).astype(np.int64)
    extra = int(total) - int(base.sum())
    frac = t - base
    order = np.argsort(-frac, kind="stable")
    k = base.copy()
    for i in order[: max(extra, 0)]:
        k[i] += 1
    return [int(min(v, c)) for v, c in zip(k, caps)]


def _tie_permutations(rng, batch, size):
    """One uniformly random permutation of ``range(size)`` per network: the tie-breaking keys."""
    base = np.broadcast_to(np.arange(size, dtype=np.int64), (batch, size))
    return rng.permuted(base, axis=1)


def _inverse_permutations(perm):
    inverse = np.empty_like(perm)
    rows = np.broadcast_to(np.arange(perm.shape[1], dtype=perm.dtype), perm.shape)
    np.put_along_axis(inverse, perm, rows, axis=1)
    return inverse


def _kth_largest(scores, k, xp):
    """The k-th largest entry of every row, shape (B, 1).

    ``partition`` (NumPy, CuPy: linear time) where the namespace has it, else a full sort (the
    array API standard has no selection function); both give the same number.
    """
    P = scores.shape[1]
    partition = getattr(xp, "partition", None)
    if partition is not None:
        return partition(scores, P - k, axis=1)[:, P - k : P - k + 1]
    return xp.sort(scores, axis=1)[:, P - k : P - k + 1]


def topk_mask(scores, k, *, rng, allowed=None):
    """Boolean mask keeping exactly the *k* highest scores of each row of *scores*.

    Parameters
    ----------
    scores : array, shape (B, P)
        Finite or ``-inf`` scores (higher = keep); NaN is rejected by the callers.
    k : int
        How many entries to keep per row, ``0 <= k <= P``.
    rng : numpy.random.Generator
        Source of the tie-breaking keys: among scores equal to the k-th largest, the ones kept
        are a uniformly random subset, drawn from *rng*.
    allowed : bool array, shape (B, P), optional
        Entries that may be kept; the others rank below every allowed one.

    Returns
    -------
    bool array, shape (B, P), in the namespace of *scores*, with exactly *k* True per row.

    Notes
    -----
    With ``t`` the k-th largest score of a row (one sort), every entry ``> t`` is kept, and the
    ``k - #{> t}`` entries ``== t`` that come first in a random permutation of the row are kept
    too (a cumulative sum along the permuted row). The count is exact whatever the ties; a
    bare ``score >= t`` comparison would keep every tied entry, so it is used only when it
    already keeps exactly k in every row (no tie at the k-th place; then no key is drawn).
    """
    xp = array_namespace(scores)
    B, P = scores.shape
    if k <= 0:
        return xp.zeros((B, P), dtype=xp.bool)
    if allowed is not None:
        scores = xp.where(allowed, scores, xp.asarray(-math.inf, dtype=scores.dtype))
    if k >= P:
        return xp.ones((B, P), dtype=xp.bool)
    threshold = _kth_largest(scores, k, xp)  # (B, 1)
    at_least = scores >= threshold
    n_at_least = xp.sum(xp.astype(at_least, xp.int32), axis=1, keepdims=True)
    if bool(xp.all(n_at_least == k)):
        return at_least  # no tie straddles the k-th place: the comparison is already exact
    above = scores > threshold
    n_above = xp.sum(xp.astype(above, xp.int32), axis=1, keepdims=True)
    perm_np = _tie_permutations(rng, B, P)
    perm = xp.asarray(perm_np)
    inverse = xp.asarray(_inverse_permutations(perm_np))
    tied = xp.take_along_axis(scores == threshold, perm, axis=1)
    # the first (k - n_above) tied entries in the random order are kept
    position = xp.cumulative_sum(xp.astype(tied, xp.int32), axis=1)
    keep_tied = tied & (position <= (k - n_above))
    return above | xp.take_along_axis(keep_tied, inverse, axis=1)


def mask_counts(masks: Sequence[Any]) -> NDArray[np.int64]:
    """Count the kept weights per network and layer.

    Parameters
    ----------
    masks : list of bool arrays, shapes (B, fan_in, fan_out)
        One mask per layer, batch axis first, in any array library.

    Returns
    -------
    numpy.ndarray of int64, shape (B, L)
        The number of True entries of every network's (row's) layer (column).
    """
    from noprune_theory.backend import to_numpy

    cols = []
    for m in masks:
        xp = array_namespace(m)
        flat = xp.reshape(xp.astype(m, xp.int64), (m.shape[0], -1))
        cols.append(np.asarray(to_numpy(xp.sum(flat, axis=1)), dtype=np.int64))
    return np.stack(cols, axis=1)


def _flatten(arrays, xp):
    return [xp.reshape(a, (a.shape[0], -1)) for a in arrays]


def _unflatten(flat, shapes, xp):
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape[1:])
        out.append(xp.reshape(flat[:, start : start + size], shape))
        start += size
    return out


def select_masks(scores: Sequence[Any], *, density: float | None = None,
                 densities: Sequence[float] | None = None,
                 scope: Literal["global", "layer"] = "global",
                 seed: int | np.random.Generator = 0,
                 current: Sequence[Any] | None = None) -> list[Any]:
    """Select masks keeping exactly the highest-scoring weights, globally or layer by layer.

    Parameters
    ----------
    scores : list of arrays, shapes (B, fan_in, fan_out)
        One score array per layer, batch axis first; higher = keep.
    density : float in [0, 1], optional
        Global fraction kept (``scope="global"``, or per layer for ``scope="layer"`` when
        *densities* is None).
    densities : sequence of float in [0, 1], optional
        Per-layer fractions kept; implies per-layer selection.
    scope : {"global", "layer"}
        One ranking over all weights of a network, or one per layer.
    seed : int >= 0 or numpy.random.Generator
        Seeds the random tie-breaking keys.
    current : list of bool arrays, optional
        Weights already pruned (False) are never revived; they rank below every live weight.

    Returns
    -------
    list of bool arrays
        One mask per layer, same shapes and array library as *scores*.

    Notes
    -----
    Global: ``K = round(density * P)`` weights per network, ``P`` the total number of weights.
    Per layer: the real targets ``p_l N_l`` are rounded by largest remainders to integers
    ``k_l`` that sum to ``round(sum_l p_l N_l)``, so both the per-layer and the global counts
    are the closest achievable.
    """
    xp = array_namespace(*scores)
    rng = check_random_state(seed)
    shapes = [tuple(s.shape) for s in scores]
    sizes = [math.prod(s[1:]) for s in shapes]
    flat = _flatten(scores, xp)
    allowed = _flatten(current, xp) if current is not None else [None] * len(flat)
    if densities is None and scope == "global":
        total = sum(sizes)
        k = keep_count(density, total)
        cat = xp.concat(flat, axis=1)
        allow_cat = xp.concat(allowed, axis=1) if current is not None else None
        _check_enough(allow_cat, k, xp, "the network")
        keep = topk_mask(cat, k, rng=rng, allowed=allow_cat)
        return _unflatten(keep, shapes, xp)
    if densities is None:
        densities = [density] * len(scores)
    targets = [float(p) * n for p, n in zip(densities, sizes)]
    counts = apportion_counts(targets, sizes, keep_count(sum(targets) / sum(sizes), sum(sizes)))
    masks = []
    for index, (s, a, k, shape) in enumerate(zip(flat, allowed, counts, shapes)):
        _check_enough(a, k, xp, f"layer {index}")
        masks.append(xp.reshape(topk_mask(s, k, rng=rng, allowed=a), shape))
    return masks


def _check_enough(allowed, k, xp, where):
    if allowed is None:
        return
    alive = xp.sum(xp.astype(allowed, xp.int64), axis=1)
    fewest = int(xp.min(alive))
    if fewest < k:
        raise ValueError(
            f"the target keeps {k} weights in {where} but the current mask keeps only {fewest}: "
            "pruning never revives weights; lower the density (raise sparsity) or reset the masks"
        )


def shuffle_masks(masks: Sequence[Any], seed: int | np.random.Generator = 0) -> list[Any]:
    """Shuffle each layer's mask uniformly at random, keeping its number of kept weights.

    Parameters
    ----------
    masks : list of bool arrays, shapes (B, fan_in, fan_out)
        Batch axis first; each network's layer is shuffled independently.
    seed : int >= 0 or numpy.random.Generator, default 0
        Seeds the permutations (one per network and layer, drawn in that order).

    Returns
    -------
    list of bool arrays
        Same shapes and namespace, with the same per-network, per-layer counts.

    Notes
    -----
    The layer-wise shuffle ablation of [FDRC] Sec. 5: if a method's accuracy survives it, the
    method's value lies only in the per-layer densities it chooses, not in which weights it keeps.

    References
    ----------
    .. [FDRC] J. Frankle, G. K. Dziugaite, D. M. Roy and M. Carbin, "Pruning Neural Networks at
       Initialization: Why are We Missing the Mark?", ICLR 2021, Sec. 5.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.pruning import shuffle_masks
    >>> m = [np.array([[[True, True], [False, False]]])]
    >>> int(shuffle_masks(m, seed=1)[0].sum())
    2
    """
    rng = check_random_state(seed)
    _check_mask_list(masks)
    xp = array_namespace(*masks)
    out = []
    for m in masks:
        B = m.shape[0]
        flat = xp.reshape(m, (B, -1))
        perm = xp.asarray(_tie_permutations(rng, B, flat.shape[1]))
        out.append(xp.reshape(xp.take_along_axis(flat, perm, axis=1), m.shape))
    return out


def _check_mask_list(masks):
    if isinstance(masks, (str, bytes)) or not hasattr(masks, "__len__") or len(masks) == 0:
        raise ValueError("masks must be a non-empty list of boolean arrays, one per layer")
    for i, m in enumerate(masks):
        xp = array_namespace(m)
        if m.dtype != xp.bool:
            raise ValueError(f"masks[{i}] must be a boolean array, got dtype {m.dtype}")
        if m.ndim < 2:
            raise ValueError(
                f"masks[{i}] must have a batch axis first, shape (B, fan_in, fan_out), "
                f"got shape {tuple(m.shape)}"
            )
