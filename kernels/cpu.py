"""numba CPU kernels for the batched masked networks (the ``numba`` backend).

Where this sits: :mod:`noprune_theory.training` calls these for the parameter updates when the
model's backend is ``numba``; the forward and backward matrix products stay with NumPy's BLAS,
which numba cannot beat. What NumPy does badly is the chain of elementwise passes of an update
(``m = b1 m + (1 - b1) g``, ``v = ...``, ``W -= ...``, each a full pass over memory with a
temporary): the kernels here do the whole update in one pass, in place, and honour the mask
and the per-network ``active`` flag so that masked weights stay exactly zero and stopped
networks do not move.

For a two-layer network with a shared input (the common simulation case),
:func:`two_layer_loss_grad` goes further: the two products with X become single large BLAS
calls over all networks, and everything in between is one fused pass over memory.

The kernels are serial (``parallel=False``) on purpose: BLAS already runs the matrix products
on every core, and on a small machine numba's OpenMP threads and OpenBLAS's threads spin while
waiting for each other; measured on 2 cores, a parallel update kernel run between two BLAS
calls took 12 ms instead of 0.01 ms (B = 1) and the whole step ran 2-10 times slower.
Parallelism across simulation cells comes from processes (Dask), not from these loops.

All kernels take C-contiguous arrays viewed as ``(B, K)`` (``K`` = entries per network) and are
compiled with ``cache=True``. The wrappers check shapes and dtypes: numba would otherwise compile
a new specialization silently, or (under the CUDA simulator, for the sibling ``cuda.py``) accept
anything.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "masked_adam_update",
    "masked_sgd_update",
]


@njit(parallel=False, cache=True, fastmath=False)
def _sgd_kernel(W, G, mask, lr_eff):
    B, K = W.shape
    for b in range(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            if mask[b, k]:
                W[b, k] -= s * G[b, k]


@njit(parallel=False, cache=True, fastmath=False)
def _sgd_kernel_nomask(W, G, lr_eff):
    B, K = W.shape
    for b in range(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        for k in range(K):
            W[b, k] -= s * G[b, k]


@njit(parallel=False, cache=True, fastmath=False, error_model="numpy")
def _adam_kernel(W, G, M, V, mask, lr_eff, beta1, beta2, eps, bc1, bc2):
    # Written to vectorize (SIMD square roots and divisions, measured 3 times faster): one row
    # per network, every entry's new values computed and the mask selecting what is stored (a
    # masked entry stores its old values back), and error_model="numpy" (no division-by-zero
    # branch; the divisors bc1 and sqrt(.) + eps are never 0). A kept entry goes through the
    # same IEEE operations in the same order as element by element (no fastmath: no fma, no
    # reassociation), so the results are bit for bit those of a scalar loop.
    B, K = W.shape
    for b in range(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        wr, gr, mr, vr, kr = W[b], G[b], M[b], V[b], mask[b]
        for k in range(K):
            g = gr[k]
            m0 = mr[k]
            v0 = vr[k]
            w0 = wr[k]
            m = beta1 * m0 + (1.0 - beta1) * g
            v = beta2 * v0 + (1.0 - beta2) * g * g
            w = w0 - s * (m / bc1) / (np.sqrt(v / bc2) + eps)
            keep = kr[k]
            mr[k] = m if keep else m0
            vr[k] = v if keep else v0
            wr[k] = w if keep else w0


@njit(parallel=False, cache=True, fastmath=False, error_model="numpy")
def _adam_kernel_nomask(W, G, M, V, lr_eff, beta1, beta2, eps, bc1, bc2):
    # vectorizes as _adam_kernel does
    B, K = W.shape
    for b in range(B):
        s = lr_eff[b]
        if s == 0.0:
            continue
        wr, gr, mr, vr = W[b], G[b], M[b], V[b]
        for k in range(K):
            g = gr[k]
            m = beta1 * mr[k] + (1.0 - beta1) * g
            v = beta2 * vr[k] + (1.0 - beta2) * g * g
            mr[k] = m
            vr[k] = v
            wr[k] -= s * (m / bc1) / (np.sqrt(v / bc2) + eps)


def _as_rows(a, B, name, dtype=None):
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array for the numba kernels, got {type(a).__name__}"
        )
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
    bc1 = 1.0 - beta1**step
    bc2 = 1.0 - beta2**step
    if m is None:
        _adam_kernel_nomask(w, g, mm, vv, lr, beta1, beta2, eps, bc1, bc2)
    else:
        _adam_kernel(w, g, mm, vv, m, lr, beta1, beta2, eps, bc1, bc2)


# ----------------------------------------------------------------------------- two-layer step
#: Reassociation and contraction only (sums may be vectorized); no 'nnan'/'ninf', so NaN and
#: inf propagate and the trainer's finiteness checks still see them.
_FAST = {"reassoc", "contract", "nsz", "arcp"}

#: Activation codes of the fused two-layer kernel (the order of models.ACTIVATIONS).
ACT_CODES = {"relu": 0, "leaky_relu": 1, "tanh": 2, "softplus": 3, "identity": 4}
#: Loss codes of the fused two-layer kernel (scalar output only).
LOSS_CODES = {"mse": 0, "logistic": 1}


@njit(cache=True, fastmath=_FAST)
def _two_layer_middle(Z, b0, w1, b1, c0, c1, y, act, loss, slope, nchunk, per, fout, Pw1, Pb0, Pb1,
                      inv_n):
    """Everything between the two big matrix products of a two-layer step, in one pass.

    Z (n, B, h) holds x W0 (no multiplier, no bias) and is overwritten by
    delta_1 = dLoss/dz_1; per/fout (B, n) receive the per-point loss and output; Pw1, Pb0
    (B, nchunk, h) and Pb1 (B, nchunk) receive partial sums of the gradients of W1, b0 and b1
    over chunks of points (summed by the caller), added to what they hold (so that a caller
    going through the points in slices carries one running sum). ``inv_n`` is 1 / (number of
    points of the whole mean loss), which is more than Z's rows when Z is one slice. Each row
    of h values is read once from memory and processed twice while it sits in L1; the
    activation branch sits outside the inner loops so that they vectorize.
    """
    n, B, h = Z.shape
    ntask = B * nchunk
    a = np.empty(h, dtype=Z.dtype)
    d1 = np.empty(h, dtype=Z.dtype)
    for task in range(ntask):
        b = task // nchunk
        c = task % nchunk
        lo = (c * n) // nchunk
        hi = ((c + 1) * n) // nchunk
        wb = w1[b]
        bb = b0[b]
        pw = Pw1[b, c]
        pb = Pb0[b, c]
        for i in range(lo, hi):
            zr = Z[i, b]
            if act == 0:
                for j in range(h):
                    z = c0 * zr[j] + bb[j]
                    pos = z > 0.0
                    a[j] = z if pos else 0.0
                    d1[j] = 1.0 if pos else 0.0
            elif act == 1:
                for j in range(h):
                    z = c0 * zr[j] + bb[j]
                    pos = z > 0.0
                    a[j] = z if pos else slope * z
                    d1[j] = 1.0 if pos else slope
            elif act == 2:
                for j in range(h):
                    t = np.tanh(c0 * zr[j] + bb[j])
                    a[j] = t
                    d1[j] = 1.0 - t * t
            elif act == 3:
                for j in range(h):
                    z = c0 * zr[j] + bb[j]
                    e = np.exp(-abs(z))
                    if z > 0.0:
                        a[j] = z + np.log1p(e)
                        d1[j] = 1.0 / (1.0 + e)
                    else:
                        a[j] = np.log1p(e)
                        d1[j] = e / (1.0 + e)
            else:
                for j in range(h):
                    a[j] = c0 * zr[j] + bb[j]
                    d1[j] = 1.0
            f = 0.0
            for j in range(h):
                f += a[j] * wb[j]
            f = c1 * f + b1[b]
            yi = y[b, i] if y.shape[0] > 1 else y[0, i]
            if loss == 0:
                r = f - yi
                per[b, i] = r * r
                g = 2.0 * r * inv_n
            else:
                u = -yi * f
                e = np.exp(-abs(u))
                if u > 0.0:
                    per[b, i] = u + np.log1p(e)
                    s = 1.0 / (1.0 + e)
                else:
                    per[b, i] = np.log1p(e)
                    s = e / (1.0 + e)
                g = -yi * s * inv_n
            fout[b, i] = f
            Pb1[b, c] += g
            gc = g * c1
            for j in range(h):
                dz = gc * wb[j] * d1[j]
                zr[j] = dz
                pw[j] += gc * a[j]
                pb[j] += dz


#: When the ``(n, B, h)`` buffer of :func:`two_layer_loss_grad` would exceed
#: ``CACHE_BLOCK_ABOVE`` bytes, the kernel goes through the points in slices whose buffer stays
#: near ``CACHE_BLOCK_BYTES`` (at least ``CACHE_BLOCK_MIN_ROWS`` points): the product with X
#: writes it, the middle pass rewrites it and the product with X^T reads it while it is in the
#: cache, instead of three passes over memory. Measured on 2 shared cores, float32, n = 65,536,
#: one thread: 0.40 -> 0.24 s per call at d = 16, h = 1802; 0.27 -> 0.22 s at d = 64, h = 800;
#: no change at d = 256, h = 230. Smaller problems run in one slice, as before.
CACHE_BLOCK_ABOVE = 32 * 2**20
CACHE_BLOCK_BYTES = 2 * 2**20
CACHE_BLOCK_MIN_ROWS = 128


def two_layer_loss_grad(X, W0, b0, W1, b1, c0, c1, y, activation, loss, slope=0.01, work=None,
                        rows=None):
    """Loss and gradients of B two-layer networks with a shared input, fused for the CPU.

    The two matrix products with X go to BLAS as single large products over all networks
    (``X @ [W0_1 ... W0_B]`` and ``X^T @ [delta_1 ... delta_B]``, far faster than B small
    ones); everything in between (bias, activation, output, loss, its derivative, the
    back-propagated delta, the gradients of W1 and the biases) is one serial pass of
    :func:`_two_layer_middle` over the ``(rows, B, h)`` buffer, which is overwritten in place.

    Parameters
    ----------
    X : ndarray (n, d)
    W0 : ndarray (B, d, h); b0 : (B, h) or None; W1 : (B, h, 1); b1 : (B, 1) or None
    c0, c1 : float
        Forward multipliers of the two layers.
    y : ndarray (1, n) or (B, n)
        Targets (mse) or signs (logistic), of X's dtype.
    activation : str; loss : {"mse", "logistic"}
    work : dict or None
        Reused buffers between calls (the ``(rows, B, h)`` buffer is the big one).
    rows : int >= 1 or None
        Points per slice: the points are processed in ``ceil(n / rows)`` consecutive slices of
        balanced sizes, at most *rows* points each, so that the big buffer holds
        ``rows * B * h`` numbers instead of ``n * B * h``. None (or ``rows >= n``): one slice,
        unless the buffer of all points would exceed ``CACHE_BLOCK_ABOVE`` bytes: then slices of
        about ``CACHE_BLOCK_BYTES`` (cache blocking; see the constants).

    Returns
    -------
    per : (B, n) per-point loss; f : (B, n) outputs; gW0 (B, d, h); gb0 (B, h);
    gW1 (B, h, 1); gb1 (B, 1)
        The gradients of the mean loss. They are NOT masked: the update kernels apply the
        masks.

    Notes
    -----
    With slices, every point's values are computed alone and the gradient sums of W1 and the
    biases run over the points in the same order, carried from slice to slice; ``gW0`` is the
    sum of the slices' BLAS products ``X_s^T delta_s``. Everything equals the one-slice values
    up to rounding: BLAS may add the d terms of a point's ``x W0`` in another order for a
    product of fewer rows (measured: a few units in the last place, in a one-row slice), and
    adds the points of ``gW0`` in another grouping.
    """
    dt = X.dtype
    n, d = X.shape
    B, _, h = W0.shape
    rows = n if rows is None else max(1, min(int(rows), n))
    per_point = B * h * dt.itemsize
    if n * per_point > CACHE_BLOCK_ABOVE:
        rows = min(rows, max(CACHE_BLOCK_MIN_ROWS, CACHE_BLOCK_BYTES // per_point))
    k = -(-n // rows)  # slices of balanced sizes, at most rows points each
    bounds = [(i * n) // k for i in range(k + 1)]
    rows = max(hi - lo for lo, hi in zip(bounds, bounds[1:]))
    if work is None:
        work = {}
    key = (rows, d, B, h, dt.str)
    if work.get("key") != key:
        work.clear()
        work["key"] = key
        work["Z"] = np.empty(rows * B * h, dtype=dt)
        work["W0cat"] = np.empty((d, B, h), dtype=dt)
        work["G"] = np.empty((d, B * h), dtype=dt)
        if rows < n:
            work["Gs"] = np.empty((d, B * h), dtype=dt)
    W0cat, G = work["W0cat"], work["G"]
    np.copyto(W0cat, W0.transpose(1, 0, 2))
    wcat = W0cat.reshape(d, B * h)
    nchunk = 1
    per = np.empty((B, n), dtype=dt)
    f = np.empty((B, n), dtype=dt)
    Pw1 = np.zeros((B, nchunk, h), dtype=dt)
    Pb0 = np.zeros((B, nchunk, h), dtype=dt)
    Pb1 = np.zeros((B, nchunk), dtype=dt)
    zb0 = b0 if b0 is not None else np.zeros((B, h), dtype=dt)
    zb1 = b1[:, 0] if b1 is not None else np.zeros(B, dtype=dt)
    w1 = np.ascontiguousarray(W1[:, :, 0])
    inv_n = 1.0 / n
    for lo, hi in zip(bounds, bounds[1:]):
        Xs = X[lo:hi]
        Z = work["Z"][: (hi - lo) * B * h].reshape(hi - lo, B * h)
        np.matmul(Xs, wcat, out=Z)
        _two_layer_middle(
            Z.reshape(hi - lo, B, h), zb0, w1, zb1, float(c0), float(c1),
            y[:, lo:hi], ACT_CODES[activation], LOSS_CODES[loss], float(slope), nchunk,
            per[:, lo:hi], f[:, lo:hi], Pw1, Pb0, Pb1, inv_n,
        )  # fmt: skip
        if lo == 0:
            np.matmul(Xs.T, Z, out=G)
        else:
            np.matmul(Xs.T, Z, out=work["Gs"])
            G += work["Gs"]
    gW0 = np.empty((B, d, h), dtype=dt)
    np.multiply(G.reshape(d, B, h).transpose(1, 0, 2), dt.type(c0), out=gW0)
    gW1 = Pw1.sum(axis=1).astype(dt)[:, :, None]
    gb0 = Pb0.sum(axis=1).astype(dt)
    gb1 = Pb1.sum(axis=1).astype(dt)[:, None]
    return per, f, gW0, gb0, gW1, gb1
