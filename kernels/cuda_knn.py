"""Batched brute-force k-NN counts for the KSG estimator on the GPU (numba.cuda, tiled).

Where this sits: :func:`noprune_theory.estimators.ksg_mi_batch` with ``backend="cupy"``
preprocesses a batch of problems on the device (CuPy arrays, namespace-generic code) and calls
:func:`ksg_counts_batch`, which launches one kernel for *all* problems: the grid is
``(ceil(n / T), P)`` (cut into slices of at most 65,535 problems, CUDA's limit on grid y), one
thread per (point, problem), T threads per block (:func:`knn_threads`: 128 on a GPU, fewer
only when a tile would not fit 48 KB). Each block walks the n points of its
problem in tiles of T points staged in dynamic shared memory sized to the data
(``T (dx + dy)`` float64 numbers: 2 KB for dx = dy = 1 at 128 threads), keeps the k smallest joint
max-norm distances of its point in registers (insertion into a sorted local array), then walks
the tiles again to count the marginal neighbours. Work O(P n^2 (dx + dy)), memory O(P n): no
distance matrix is ever stored. Brute force wins on the GPU for the moderate n (<= 1e4..1e5) and
large batches (masks x seeds) the simulations need.

The kernel uses only shared memory and ``syncthreads`` (no warp shuffles), float64 data and
int64 counts; :func:`ksg_counts_batch` checks dtypes and shapes itself because the CUDA
simulator checks none. Distances are ``abs(a - b)`` in float64, the same expression as the CPU
kernels, so counts agree bit for bit with :mod:`noprune_theory.kernels.cpu_knn`.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernel runs on NumPy arrays (slowly: keep shapes tiny).
"""
from __future__ import annotations

import math
import sys

from noprune_theory.backend import cuda_simulator_enabled

if cuda_simulator_enabled() and "numba.cuda" not in sys.modules:
    # numba reads NUMBA_ENABLE_CUDASIM when numba.core.config is first imported; a pytest
    # plugin may import numba before tests/conftest.py sets it, so read it again before
    # numba.cuda chooses between the driver and the simulator.
    from numba.core import config as _numba_config

    if not _numba_config.ENABLE_CUDASIM:
        _numba_config.reload_config()

from numba import cuda, float64

#: Threads per block (points per tile) of the simulator; a GPU runs
#: ``kernels.cuda.GPU_SETTINGS.knn_threads`` (see :func:`knn_threads`).
TPB = 32
#: Largest k and largest number of columns of x or of y the kernel supports.
MAX_K = 32
MAX_D = 32
#: Shared memory one block may take without opting in (all devices of compute capability >= 3).
MAX_SHARED_BYTES = 48 * 1024

_KERNEL = None
# module-level names: the CUDA simulator swaps the ``cuda`` global of the kernel's module
max_k, max_d = MAX_K, MAX_D


def _kernel():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL

    @cuda.jit(cache=True)
    def ksg_kernel(X, Y, k, algorithm, nx_out, ny_out, eps_out, p_off):
        # p_off: the first problem of this launch (grid y is limited to 65,535)
        # the tile lives in dynamic shared memory sized at launch to tpb * (dx + dy) numbers:
        # x of point t at sh[t * dx + c], y at sh[tpb * dx + t * dy + c]
        p = cuda.blockIdx.y + p_off
        tid = cuda.threadIdx.x
        tpb = cuda.blockDim.x
        i = cuda.blockIdx.x * tpb + tid
        n = X.shape[1]
        dx = X.shape[2]
        dy = Y.shape[2]
        sh = cuda.shared.array(0, float64)
        oy = tpb * dx
        xi = cuda.local.array(max_d, float64)
        yi = cuda.local.array(max_d, float64)
        best = cuda.local.array(max_k, float64)
        best_x = cuda.local.array(max_k, float64)
        best_y = cuda.local.array(max_k, float64)
        active = i < n
        if active:
            for c in range(dx):
                xi[c] = X[p, i, c]
            for c in range(dy):
                yi[c] = Y[p, i, c]
        for m in range(k):
            best[m] = math.inf
            best_x[m] = 0.0
            best_y[m] = 0.0

        # pass 1: the k nearest points in the joint space (max norm)
        for start in range(0, n, tpb):
            j = start + tid
            if j < n:
                for c in range(dx):
                    sh[tid * dx + c] = X[p, j, c]
                for c in range(dy):
                    sh[oy + tid * dy + c] = Y[p, j, c]
            cuda.syncthreads()
            if active:
                stop = min(tpb, n - start)
                for t in range(stop):
                    if start + t != i:
                        ddx = 0.0
                        for c in range(dx):
                            v = abs(sh[t * dx + c] - xi[c])
                            ddx = max(ddx, v)
                        ddy = 0.0
                        for c in range(dy):
                            v = abs(sh[oy + t * dy + c] - yi[c])
                            ddy = max(ddy, v)
                        d = max(ddx, ddy)
                        if d < best[k - 1]:
                            m = k - 1
                            while m > 0 and best[m - 1] > d:
                                best[m] = best[m - 1]
                                best_x[m] = best_x[m - 1]
                                best_y[m] = best_y[m - 1]
                                m -= 1
                            best[m] = d
                            best_x[m] = ddx
                            best_y[m] = ddy
            cuda.syncthreads()

        # radii: KSG algorithm 1 counts dist < eps_i in both marginals; algorithm 2 counts
        # dist <= the largest marginal distance among the k neighbours
        if algorithm == 1:
            rx = best[k - 1]
            ry = best[k - 1]
        else:
            rx = 0.0
            ry = 0.0
            for m in range(k):
                rx = max(rx, best_x[m])
                ry = max(ry, best_y[m])

        # pass 2: marginal counts
        cx = 0
        cy = 0
        for start in range(0, n, tpb):
            j = start + tid
            if j < n:
                for c in range(dx):
                    sh[tid * dx + c] = X[p, j, c]
                for c in range(dy):
                    sh[oy + tid * dy + c] = Y[p, j, c]
            cuda.syncthreads()
            if active:
                stop = min(tpb, n - start)
                for t in range(stop):
                    if start + t != i:
                        ddx = 0.0
                        for c in range(dx):
                            v = abs(sh[t * dx + c] - xi[c])
                            ddx = max(ddx, v)
                        ddy = 0.0
                        for c in range(dy):
                            v = abs(sh[oy + t * dy + c] - yi[c])
                            ddy = max(ddy, v)
                        if algorithm == 1:
                            if ddx < rx:
                                cx += 1
                            if ddy < ry:
                                cy += 1
                        else:
                            if ddx <= rx:
                                cx += 1
                            if ddy <= ry:
                                cy += 1
            cuda.syncthreads()
        if active:
            nx_out[p, i] = cx
            ny_out[p, i] = cy
            eps_out[p, i] = best[k - 1]

    _KERNEL = ksg_kernel
    return _KERNEL


def ksg_counts_batch(X, Y, k, algorithm):
    """Marginal neighbour counts of the KSG estimator for a batch of problems, on the GPU.

    Parameters
    ----------
    X : device array (P, n, dx), float64
        CuPy array (or NumPy under the CUDA simulator), already preprocessed.
    Y : device array (P, n, dy), float64
    k : int
        ``1 <= k < n`` and ``k <= MAX_K``.
    algorithm : {1, 2}
        KSG algorithm 1 (strict counts within the joint k-NN distance) or 2 (counts within
        the marginal extents of the k neighbours, inclusive).

    Returns
    -------
    nx, ny : device arrays (P, n), int64
        Number of other points within the radius in x and in y.
    eps : device array (P, n), float64
        Joint max-norm distance to the k-th neighbour.
    """
    from array_api_compat import array_namespace

    xp = array_namespace(X, Y)
    if X.dtype != xp.float64 or Y.dtype != xp.float64:
        raise TypeError(f"X and Y must be float64, got {X.dtype} and {Y.dtype}")
    if X.ndim != 3 or Y.ndim != 3 or X.shape[:2] != Y.shape[:2]:
        raise ValueError(
            f"X and Y must have shapes (P, n, dx) and (P, n, dy), got {X.shape} and {Y.shape}"
        )
    P, n, dx = X.shape
    dy = Y.shape[2]
    if dx > MAX_D or dy > MAX_D:
        raise ValueError(f"the CUDA kernel supports at most {MAX_D} columns per variable, "
                         f"got dx = {dx}, dy = {dy}")
    if not 1 <= k < n or k > MAX_K:
        raise ValueError(f"k must be an integer in [1, min(n - 1, {MAX_K})], got {k}")
    if algorithm not in (1, 2):
        raise ValueError(f"algorithm must be 1 or 2, got {algorithm!r}")
    nx = xp.zeros((P, n), dtype=xp.int64)
    ny = xp.zeros((P, n), dtype=xp.int64)
    eps = xp.zeros((P, n), dtype=xp.float64)
    from noprune_theory.kernels.cuda import _device, _stream_for

    kernel = _kernel()
    stream = _stream_for(X)  # CuPy's current stream: ordered with the CuPy code around
    args = (_device(X), _device(Y), int(k), int(algorithm), _device(nx), _device(ny), _device(eps))
    threads = knn_threads(dx, dy)
    shared = shared_bytes(threads, dx, dy)
    for grid, block, offset in ksg_launch_config(n, P, dx, dy):
        kernel[grid, block, stream, shared](*args, offset)
    return nx, ny, eps


def shared_bytes(threads, dx, dy):
    """Dynamic shared memory of one block: a tile of *threads* points, ``dx + dy`` float64 each."""
    return threads * (dx + dy) * 8


def knn_threads(dx=MAX_D, dy=MAX_D, settings=None):
    """Threads per block of the KSG kernel for dx + dy columns.

    The launch settings' ``knn_threads`` (``kernels.cuda.launch_settings``), halved until the
    block's tile fits :data:`MAX_SHARED_BYTES` (never below 32, a warp: 32 threads of the
    largest tile, 2 x 32 columns, take 16 KB).
    """
    from noprune_theory.kernels.cuda import current_settings

    threads = (settings or current_settings()).knn_threads
    while threads > 32 and shared_bytes(threads, dx, dy) > MAX_SHARED_BYTES:
        threads //= 2
    return threads


def ksg_launch_config(n, P, dx=MAX_D, dy=MAX_D, settings=None):
    """The launches covering P problems of n points: ``[(grid, block, first problem), ...]``.

    The grid is ``(ceil(n / threads), problems)`` with ``threads = knn_threads(dx, dy)``;
    batches over CUDA's 65,535-block limit on grid y are cut into slices launched one after
    another.
    """
    from noprune_theory.kernels.cuda import batched_launches

    threads = knn_threads(dx, dy, settings)
    return batched_launches((n + threads - 1) // threads, P, threads)
