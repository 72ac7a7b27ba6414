"""numba.cuda kernels for the batched masked networks (the ``cupy`` backend).

Where this sits: with the ``cupy`` backend the forward and backward passes are CuPy batched
matrix products (cuBLAS); :mod:`noprune_theory.training` calls these kernels for what cuBLAS does
not do:

- fused masked parameter updates, SGD and Adam, one thread per parameter, that skip masked
  entries (which therefore stay exactly zero) and stopped networks (``lr_eff[b] == 0``);
- per-network reductions: the mean of a ``(B, n)`` array over its points (one block per network,
  a shared-memory tree reduction accumulated in float64), and the fused MSE loss and its
  gradient ``df = 2 (f - y) / n`` in the same pass.

The kernels take CuPy arrays through ``__cuda_array_interface__`` (no copy) or, under the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, as in the tests), NumPy arrays. The simulator checks no
types, so every wrapper checks dtypes, shapes and contiguity itself before launching; no kernel
uses warp-level operations (the simulator has none).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from noprune_theory.backend import cuda_simulator_enabled

if cuda_simulator_enabled() and "numba.cuda" not in sys.modules:
    # numba reads NUMBA_ENABLE_CUDASIM once, when numba.core.config is first imported; a
    # pytest plugin may import numba before tests/conftest.py sets the variable, so read the
    # environment again before numba.cuda decides between the driver and the simulator.
    from numba.core import config as _numba_config

    if not _numba_config.ENABLE_CUDASIM:
        _numba_config.reload_config()

from numba import cuda

__all__ = ["masked_adam_update", "masked_sgd_update", "mse_loss_and_grad", "per_network_mean"]

#: Threads per block for the reductions (a power of two; the shared arrays have this size).
REDUCE_THREADS = 128


@cuda.jit
def _sgd_kernel(W, G, mask, lr_eff, K):
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0 and mask[i]:
            W[i] -= s * G[i]


@cuda.jit
def _sgd_kernel_nomask(W, G, lr_eff, K):
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0:
            W[i] -= s * G[i]


@cuda.jit
def _adam_kernel(W, G, M, V, mask, lr_eff, K, beta1, beta2, eps, bc1, bc2):
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0 and mask[i]:
            g = G[i]
            m = beta1 * M[i] + (1 - beta1) * g
            v = beta2 * V[i] + (1 - beta2) * g * g
            M[i] = m
            V[i] = v
            W[i] -= s * (m / bc1) / (math.sqrt(v / bc2) + eps)


@cuda.jit
def _adam_kernel_nomask(W, G, M, V, lr_eff, K, beta1, beta2, eps, bc1, bc2):
    # a separate kernel rather than passing W again as a dummy mask: host arrays passed twice
    # are copied back twice (the unmodified copy would win)
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0:
            g = G[i]
            m = beta1 * M[i] + (1 - beta1) * g
            v = beta2 * V[i] + (1 - beta2) * g * g
            M[i] = m
            V[i] = v
            W[i] -= s * (m / bc1) / (math.sqrt(v / bc2) + eps)


@cuda.jit
def _mean_kernel(values, out, inv_n):
    # one block per network; threads stride over the points, then a shared-memory tree
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    buf = cuda.shared.array(REDUCE_THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(t, values.shape[1], nt):
        acc += values[b, i]
    buf[t] = acc
    cuda.syncthreads()
    s = nt // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        out[b] = buf[0] * inv_n


@cuda.jit
def _mse_kernel(f, y, loss, per, df, inv_n):
    # f (B, n); y (Y, n) with Y = 1 (shared labels) or B; writes per, df and the mean loss
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    yb = b if y.shape[0] > 1 else 0
    buf = cuda.shared.array(REDUCE_THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(t, f.shape[1], nt):
        r = f[b, i] - y[yb, i]
        df[b, i] = 2 * r * inv_n
        per[b, i] = r * r
        acc += r * r
    buf[t] = acc
    cuda.syncthreads()
    s = nt // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        loss[b] = buf[0] * inv_n


# ----------------------------------------------------------------------------- wrappers
def _module_of(a):
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    if isinstance(a, np.ndarray):
        return np
    raise TypeError(
        f"the cuda kernels take CuPy (or, under the simulator, NumPy) arrays, got "
        f"{type(a).__module__}.{type(a).__name__}"
    )


def _device(a):
    """The array as the kernel sees it: a zero-copy device view for CuPy arrays."""
    if type(a).__module__.split(".")[0] == "cupy":
        return cuda.as_cuda_array(a)
    return a


def _check(a, name, shape=None, dtype=None, floating=False):
    mod = _module_of(a)
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    if floating and a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    return mod


def _threads(size):
    # the simulator runs every thread as a Python thread: keep blocks small there
    return 32 if cuda_simulator_enabled() else 256


def _flat_common(W, G, mask, lr_eff):
    mod = _check(W, "W", floating=True)
    _check(G, "G", W.shape, W.dtype)
    if mask is not None:
        _check(mask, "mask", W.shape, np.bool_)
    _check(lr_eff, "lr_eff", (W.shape[0],), W.dtype)
    for name, a in (("G", G), ("mask", mask), ("lr_eff", lr_eff)):
        if a is not None and _module_of(a) is not mod:
            raise TypeError(f"{name} and W are arrays of different libraries")
    K = int(np.prod(W.shape[1:])) if W.ndim > 1 else 1
    return K


def masked_sgd_update(W, G, mask, lr_eff):
    """In place on the device: ``W[b] -= lr_eff[b] * G[b]`` where ``mask`` is True.

    Parameters
    ----------
    W : array (B, ...) float32 or float64, C-contiguous (CuPy, or NumPy under the simulator)
    G : array like W (same dtype)
    mask : bool array like W, or None (biases)
    lr_eff : array (B,) of W's dtype; 0 for a stopped network
    """
    K = _flat_common(W, G, mask, lr_eff)
    size = W.size
    if size == 0:
        return
    tpb = _threads(size)
    blocks = (size + tpb - 1) // tpb
    w, g = _device(W.reshape(-1)), _device(G.reshape(-1))
    lr = _device(lr_eff)
    if mask is None:
        _sgd_kernel_nomask[blocks, tpb](w, g, lr, K)
    else:
        _sgd_kernel[blocks, tpb](w, g, _device(mask.reshape(-1)), lr, K)


def masked_adam_update(W, G, M, V, mask, lr_eff, beta1, beta2, eps, step):
    """In place Adam step on the kept entries (see ``kernels.cpu.masked_adam_update``)."""
    K = _flat_common(W, G, mask, lr_eff)
    _check(M, "M", W.shape, W.dtype)
    _check(V, "V", W.shape, W.dtype)
    size = W.size
    if size == 0:
        return
    tpb = _threads(size)
    blocks = (size + tpb - 1) // tpb
    bc1, bc2 = 1.0 - beta1**step, 1.0 - beta2**step
    consts = (K, float(beta1), float(beta2), float(eps), float(bc1), float(bc2))
    w, g = _device(W.reshape(-1)), _device(G.reshape(-1))
    m, v = _device(M.reshape(-1)), _device(V.reshape(-1))
    if mask is None:
        _adam_kernel_nomask[blocks, tpb](w, g, m, v, _device(lr_eff), *consts)
    else:
        _adam_kernel[blocks, tpb](w, g, m, v, _device(mask.reshape(-1)), _device(lr_eff), *consts)


def _reduce_threads():
    return 32 if cuda_simulator_enabled() else REDUCE_THREADS


def per_network_mean(values):
    """Mean over axis 1 of a ``(B, n)`` float array, one block per network: returns ``(B,)``.

    Accumulates in float64 whatever the input dtype; the result has the input's dtype.
    """
    mod = _check(values, "values", floating=True)
    if values.ndim != 2:
        raise ValueError(f"values must have 2 axes (B, n), got shape {tuple(values.shape)}")
    B, n = values.shape
    out = mod.zeros(B, dtype=values.dtype)
    if n == 0:
        raise ValueError("values must hold at least one point per network, got n = 0")
    _mean_kernel[B, _reduce_threads()](_device(values), _device(out), 1.0 / n)
    return out


def mse_loss_and_grad(f, y):
    """Mean squared error per network, its gradient in ``f`` and the per-point loss, one pass.

    Parameters
    ----------
    f : array (B, n) float32 or float64
        Scalar outputs of B networks on n points.
    y : array (n,), (1, n) or (B, n), same dtype

    Returns
    -------
    loss : array (B,)
        ``(1/n) sum_i (f_bi - y_bi)^2``.
    df : array (B, n)
        ``2 (f - y) / n``.
    per : array (B, n)
        ``(f - y)^2``, the per-point loss (for the memorization check).
    """
    mod = _check(f, "f", floating=True)
    if f.ndim != 2:
        raise ValueError(f"f must have 2 axes (B, n), got shape {tuple(f.shape)}")
    B, n = f.shape
    if y.ndim == 1:
        y = y.reshape(1, -1)
    if tuple(y.shape) not in ((1, n), (B, n)):
        raise ValueError(f"y must have shape ({n},), (1, {n}) or ({B}, {n}), got {tuple(y.shape)}")
    _check(y, "y", dtype=f.dtype)
    if _module_of(y) is not mod:
        raise TypeError("y and f are arrays of different libraries")
    loss = mod.zeros(B, dtype=f.dtype)
    df = mod.empty_like(f)
    per = mod.empty_like(f)
    _mse_kernel[B, _reduce_threads()](
        _device(f), _device(y), _device(loss), _device(per), _device(df), 1.0 / n
    )
    return loss, df, per
