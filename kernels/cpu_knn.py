"""CPU k-nearest-neighbour kernels for the information estimators (max-norm throughout).

Where this sits: :mod:`noprune_theory.estimators` preprocesses the data (centring, scaling,
jitter) and calls these kernels for the two expensive steps of every k-NN estimator:

1. the distance from each point to its k-th nearest neighbour in the joint space
   (:func:`knn_distances`, a ``scipy.spatial.cKDTree`` query with ``p=inf``: O(n log n) in low
   dimension, memory O(n k));
2. for each point, how many other points lie within a given radius in a marginal space
   (:func:`count_within`).

For step 2 there are two implementations with identical results:

- ``cKDTree.query_ball_point(..., return_length=True)`` (any dimension; never stores the
  neighbour lists, so memory stays O(n));
- a numba kernel for one-dimensional marginals (:func:`count_within_sorted_1d`): after one sort,
  the count for each point is two binary searches, with the comparison written as
  ``abs(x_j - x_i) < r`` so that it rounds exactly like the distances of step 1.

No function here builds an ``n x n`` matrix. Distances are compared exactly as
``abs(a - b)`` in float64, the same expression the tree and the CUDA kernel use, so the counts
of all paths agree bit for bit (the tests check this).
"""
from __future__ import annotations

import os

import numpy as np

__all__ = [
    "default_workers",
    "knn_distances",
    "knn_kth_distance",
    "count_within",
    "count_within_tree",
    "count_within_sorted_1d",
    "count_zero_distance",
]


def default_workers():
    """Threads for the tree queries: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def knn_distances(points, k, *, workers=None, return_indices=False):
    """Max-norm distances from each point to its ``k`` nearest other points.

    Parameters
    ----------
    points : ndarray of shape (n, d), float64
    k : int
        Number of neighbours, ``1 <= k < n``.
    workers : int or None
        Threads for the query (None: all usable cores).
    return_indices : bool
        Also return the neighbours' indices.

    Returns
    -------
    dist : ndarray of shape (n, k)
        Sorted distances to the k nearest points other than the point itself.
    idx : ndarray of shape (n, k), int64 (only with ``return_indices``)
    """
    from scipy.spatial import cKDTree

    workers = default_workers() if workers is None else workers
    tree = cKDTree(points, leafsize=16, balanced_tree=False, compact_nodes=False)
    dist, idx = tree.query(points, k=k + 1, p=np.inf, workers=workers)
    dist = np.asarray(dist, dtype=np.float64).reshape(len(points), k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(len(points), k + 1)
    # The point itself is normally in column 0, but with exact duplicates a twin at distance 0
    # may come first; drop the point itself wherever it is, else the farthest of the k + 1.
    own = idx == np.arange(len(points))[:, None]
    keep = ~own
    missing = ~own.any(axis=1)
    keep[missing, k] = False
    dist_k = dist[keep].reshape(len(points), k)
    if not return_indices:
        return dist_k
    return dist_k, idx[keep].reshape(len(points), k)


def knn_kth_distance(points, k, *, workers=None):
    """Max-norm distance from each point to its k-th nearest *other* point, shape (n,).

    Asks the tree for the (k+1)-th smallest distance only: the point itself contributes the
    smallest possible distance, 0, so the (k+1)-th smallest over all points is the k-th
    smallest over the others, duplicates or not. Half the memory of :func:`knn_distances`.
    """
    from scipy.spatial import cKDTree

    workers = default_workers() if workers is None else workers
    tree = cKDTree(points, leafsize=16, balanced_tree=False, compact_nodes=False)
    dist, _ = tree.query(points, k=[k + 1], p=np.inf, workers=workers)
    return np.ascontiguousarray(dist[:, 0], dtype=np.float64)


def count_within_tree(points, radii, *, strict, workers=None):
    """Number of *other* points within ``radii[i]`` of point i (max norm), via cKDTree.

    ``strict=True`` counts ``dist < r``, ``strict=False`` counts ``dist <= r``.
    """
    from scipy.spatial import cKDTree

    workers = default_workers() if workers is None else workers
    r = np.asarray(radii, dtype=np.float64)
    if strict:
        # dist < r  <=>  dist <= the largest float below r (distances are floats too)
        r = np.nextafter(r, -np.inf)
    tree = cKDTree(points, leafsize=16, balanced_tree=False, compact_nodes=False)
    counts = tree.query_ball_point(points, r, p=np.inf, return_length=True, workers=workers)
    counts = np.asarray(counts, dtype=np.int64)
    # the point itself is inside its own ball whenever r >= 0
    return counts - (r >= 0)


_NUMBA_KERNEL = None


def _numba_kernel():
    """Compile (or load from the cache) the 1-D counting kernel on first use."""
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is not None:
        return _NUMBA_KERNEL
    import numba

    @numba.njit(parallel=True, cache=True)
    def _count_sorted(sorted_values, values, radii, strict):
        n = sorted_values.shape[0]
        out = np.empty(values.shape[0], dtype=np.int64)
        for i in numba.prange(values.shape[0]):
            xi = values[i]
            r = radii[i]
            # hi: first m with sorted[m] - xi >= r (strict) or > r (not strict); the
            # predicate is monotone in m because float subtraction rounds monotonically.
            lo_m = 0
            hi_m = n
            while lo_m < hi_m:
                mid = (lo_m + hi_m) >> 1
                d = sorted_values[mid] - xi
                inside = d < r if strict else d <= r
                if inside:
                    lo_m = mid + 1
                else:
                    hi_m = mid
            upper = lo_m
            # lower: first m with xi - sorted[m] < r (strict) or <= r; fl(xi - a) equals
            # -fl(a - xi) exactly, so this is the same |a - xi| as above.
            lo_m = 0
            hi_m = n
            while lo_m < hi_m:
                mid = (lo_m + hi_m) >> 1
                d = xi - sorted_values[mid]
                inside = d < r if strict else d <= r
                if inside:
                    hi_m = mid
                else:
                    lo_m = mid + 1
            lower = lo_m
            # an empty window (r <= 0 with "<") gives upper <= lower
            count = upper - lower if upper > lower else 0
            # remove the point itself when it satisfies its own predicate (0 < r or 0 <= r)
            if (strict and r > 0.0) or ((not strict) and r >= 0.0):
                count -= 1
            out[i] = count
        return out

    _NUMBA_KERNEL = _count_sorted
    return _NUMBA_KERNEL


def count_within_sorted_1d(values, radii, *, strict):
    """Like :func:`count_within_tree` for one-dimensional points, with a numba kernel.

    Parameters
    ----------
    values : ndarray of shape (n,) or (n, 1), float64
    radii : ndarray of shape (n,), float64
    strict : bool

    Returns
    -------
    ndarray of shape (n,), int64
    """
    values = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
    radii = np.ascontiguousarray(np.asarray(radii, dtype=np.float64))
    return _numba_kernel()(np.sort(values), values, radii, bool(strict))


def count_within(points, radii, *, strict, method="auto", workers=None):
    """Dispatch: the numba 1-D kernel for one-dimensional points (``method="numba"`` or
    ``"auto"``), else the tree."""
    if points.shape[1] == 1 and method in ("auto", "numba"):
        return count_within_sorted_1d(points[:, 0], radii, strict=strict)
    return count_within_tree(points, radii, strict=strict, workers=workers)


def count_zero_distance(points, *, workers=None):
    """Number of other points identical to each point (used by the mixed estimator)."""
    return count_within_tree(points, np.zeros(len(points)), strict=False, workers=workers)
