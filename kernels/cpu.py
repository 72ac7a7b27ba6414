"""numba CPU kernels for the batched masked networks (the ``numba`` backend).

Where this sits: :mod:`noprune_theory.training` calls these for the parameter updates when the
model's backend is ``numba``; the forward and backward matrix products stay with NumPy's BLAS,
which numba cannot beat. What NumPy does badly is the chain of elementwise passes of an update
(``m = b1 m + (1 - b1) g``, ``v = ...``, ``W -= ...``, each a full pass over memory with a
temporary): the kernels here do the whole update in one pass, in place, parallel over the
networks' rows, and honour the mask and the per-network ``active`` flag so that masked weights
stay exactly zero and stopped networks do not move.

All kernels take C-contiguous arrays viewed as ``(B, K)`` (``K`` = entries per network) and are
compiled with ``cache=True``. The wrappers check shapes and dtypes: numba would otherwise compile
a new specialization silently, or (under the CUDA simulator, for the sibling ``cuda.py``) accept
anything.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "masked_sgd_update",
    "masked_adam_update",
]


@njit(parallel=True, cache=True, fastmath=False)
def _sgd_kernel(W, G, mask, lr_eff):
    B, K = W.shape
    for b in prange(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            if mask[b, k]:
                W[b, k] -= s * G[b, k]


@njit(parallel=True, cache=True, fastmath=False)
def _sgd_kernel_nomask(W, G, lr_eff):
    B, K = W.shape
    for b in prange(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            W[b, k] -= s * G[b, k]


@njit(parallel=True, cache=True, fastmath=False)
def _adam_kernel(W, G, M, V, mask, lr_eff, beta1, beta2, eps, bc1, bc2):
    B, K = W.shape
    for b in prange(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            if mask[b, k]:
                g = G[b, k]
                m = beta1 * M[b, k] + (1.0 - beta1) * g
                v = beta2 * V[b, k] + (1.0 - beta2) * g * g
                M[b, k] = m
                V[b, k] = v
                W[b, k] -= s * (m / bc1) / (np.sqrt(v / bc2) + eps)


@njit(parallel=True, cache=True, fastmath=False)
def _adam_kernel_nomask(W, G, M, V, lr_eff, beta1, beta2, eps, bc1, bc2):
    B, K = W.shape
    for b in prange(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            g = G[b, k]
            m = beta1 * M[b, k] + (1.0 - beta1) * g
            v = beta2 * V[b, k] + (1.0 - beta2) * g * g
            M[b, k] = m
            V[b, k] = v
            W[b, k] -= s * (m / bc1) / (np.sqrt(v / bc2) + eps)


def _as_rows(a, B, name, dtype=None):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array for the numba kernels, got {type(a).__name__}")
    if a.shape[0] != B:
        raise ValueError(f"{name} must have {B} networks on axis 0, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    return a.reshape(B, -1)


def _check_common(W, G, mask, lr_eff):
    if W.dtype not in (np.float32, np.float64):
        raise TypeError(f"W must be float32 or float64, got {W.dtype}")
    B = W.shape[0]
    w = _as_rows(W, B, "W")
    g = _as_rows(G, B, "G", W.dtype)
    if g.shape != w.shape:
        raise ValueError(f"G must have the shape of W {W.shape}, got {G.shape}")
    m = None
    if mask is not None:
        m = _as_rows(mask, B, "mask", np.bool_)
        if m.shape != w.shape:
            raise ValueError(f"mask must have the shape of W {W.shape}, got {mask.shape}")
    lr = np.ascontiguousarray(lr_eff, dtype=W.dtype)
    if lr.shape != (B,):
        raise ValueError(f"lr_eff must have shape ({B},), got {lr.shape}")
    return w, g, m, lr


def masked_sgd_update(W, G, mask, lr_eff):
    """In place: ``W[b] -= lr_eff[b] * G[b]`` where ``mask`` is True; nothing elsewhere.

    Parameters
    ----------
    W : ndarray (B, ...) float32 or float64, C-contiguous
        Updated in place.
    G : ndarray like W
        Gradient (noise included).
    mask : bool ndarray like W, or None (biases: no mask)
    lr_eff : ndarray (B,)
        Step size per network; 0 for a network that has stopped.
    """
    w, g, m, lr = _check_common(W, G, mask, lr_eff)
    if m is None:
        _sgd_kernel_nomask(w, g, lr)
    else:
        _sgd_kernel(w, g, m, lr)


def masked_adam_update(W, G, M, V, mask, lr_eff, beta1, beta2, eps, step):
    """In place Adam step (Kingma & Ba 2015, Algorithm 1) on the kept entries.

    ``M = b1 M + (1 - b1) G``, ``V = b2 V + (1 - b2) G^2``,
    ``W -= lr (M / (1 - b1^t)) / (sqrt(V / (1 - b2^t)) + eps)``, only where ``mask`` is True and
    only for networks with ``lr_eff[b] != 0``; masked entries (and their moments) are not
    touched, so they stay exactly zero.
    """
    w, g, m, lr = _check_common(W, G, mask, lr_eff)
    mm = _as_rows(M, W.shape[0], "M", W.dtype)
    vv = _as_rows(V, W.shape[0], "V", W.dtype)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    if m is None:
        _adam_kernel_nomask(w, g, mm, vv, lr, beta1, beta2, eps, bc1, bc2)
    else:
        _adam_kernel(w, g, mm, vv, m, lr, beta1, beta2, eps, bc1, bc2)
