"""numba.cuda kernels for the batched masked networks (the ``cupy`` backend).

Where this sits: with the ``cupy`` backend the forward and backward passes are CuPy batched
matrix products (cuBLAS); :mod:`noprune_theory.training` calls these kernels for what cuBLAS does
not do:

- fused masked parameter updates, SGD and Adam, one thread per parameter, that skip masked
  entries (which therefore stay exactly zero) and stopped networks (``lr_eff[b] == 0``);
- per-network reductions: the mean of a ``(B, n)`` array over its points (one block per network,
  a shared-memory tree reduction accumulated in float64), and the fused MSE loss and its
  gradient ``df = 2 (f - y) / n`` in the same pass.

The kernels take CuPy arrays through ``__cuda_array_interface__`` (no copy, no host sync) and
run on CuPy's current stream, so they are ordered with the CuPy work around them; or, under the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, as in the tests), NumPy arrays. The simulator checks no
types, so every wrapper checks dtypes, shapes and contiguity itself before launching; no kernel
uses warp-level operations (the simulator has none).
"""

from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass, replace

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

__all__ = [
    "CUDA_MAX_GRID",
    "CUDA_MAX_THREADS_PER_BLOCK",
    "LaunchSettings",
    "batched_launches",
    "fused_launch_config",
    "fused_width_ok",
    "launch_settings",
    "masked_adam_update",
    "masked_sgd_update",
    "mse_loss_and_grad",
    "per_network_mean",
]

#: Threads per block for the reductions (a power of two; the shared arrays have this size).
REDUCE_THREADS = 128
#: CUDA's hardware limits on the grid (x, y, z) and on the threads of one block (all devices
#: of compute capability >= 3.0).
CUDA_MAX_GRID = (2**31 - 1, 65535, 65535)
CUDA_MAX_THREADS_PER_BLOCK = 1024


@dataclass(frozen=True)
class LaunchSettings:
    """Threads per block of each kernel family.

    Attributes
    ----------
    flat_threads : int
        The one-thread-per-parameter update kernels.
    reduce_threads : int
        The per-network reductions: a power of two, at most :data:`REDUCE_THREADS`.
    fused_threads : int
        Most threads per block of the fused two-layer kernel: a power of two, at most
        :data:`REDUCE_THREADS`. The kernel takes widths up to ``MAX_PER_THREAD`` times this.
    knn_threads : int, default 32
        Most threads per block of the KSG kernel (``kernels.cuda_knn``): a power of two in
        [32, 1024] (fewer when the tile of ``dx + dy`` columns would not fit 48 KB).
    """

    flat_threads: int
    reduce_threads: int
    fused_threads: int
    knn_threads: int = 32

    def __post_init__(self):
        if not 1 <= self.flat_threads <= CUDA_MAX_THREADS_PER_BLOCK:
            raise ValueError(f"flat_threads must be in [1, 1024], got {self.flat_threads}")
        for name in ("reduce_threads", "fused_threads"):
            v = getattr(self, name)
            if v < 1 or v > REDUCE_THREADS or v & (v - 1):
                raise ValueError(f"{name} must be a power of two <= {REDUCE_THREADS}, got {v}")
        v = self.knn_threads
        if v < 32 or v > CUDA_MAX_THREADS_PER_BLOCK or v & (v - 1):
            raise ValueError(f"knn_threads must be a power of two in [32, 1024], got {v}")


#: What a GPU runs.
GPU_SETTINGS = LaunchSettings(flat_threads=256, reduce_threads=REDUCE_THREADS, fused_threads=128,
                              knn_threads=128)
#: The simulator runs every thread as a Python thread: small blocks keep the tests fast.
SIMULATOR_SETTINGS = LaunchSettings(flat_threads=32, reduce_threads=32, fused_threads=8)
_override = None


def current_settings():
    """The :class:`LaunchSettings` in force (an override, else the GPU's or the simulator's)."""
    if _override is not None:
        return _override
    return SIMULATOR_SETTINGS if cuda_simulator_enabled() else GPU_SETTINGS


@contextlib.contextmanager
def launch_settings(**changes):
    """Run the kernels with other block sizes inside the ``with`` block.

    The tests use it to make the simulator run the GPU's block sizes
    (``with launch_settings(reduce_threads=128): ...``).
    """
    global _override
    previous = _override
    _override = replace(current_settings(), **changes)
    try:
        yield _override
    finally:
        _override = previous


def batched_launches(blocks_x, batch, threads):
    """The launches that cover a ``(blocks_x, batch)`` grid within CUDA's grid limits.

    Grid y (the batch axis) is limited to 65,535 blocks: larger batches are cut into slices
    launched one after the other, each kernel adding the slice's offset to ``blockIdx.y``.

    Returns
    -------
    list of (grid, block, offset)
        ``grid = (blocks_x, rows)`` covers batch entries ``offset .. offset + rows - 1``.
    """
    if blocks_x > CUDA_MAX_GRID[0]:
        raise ValueError(f"{blocks_x} blocks along x exceed CUDA's limit {CUDA_MAX_GRID[0]}")
    if not 1 <= threads <= CUDA_MAX_THREADS_PER_BLOCK:
        raise ValueError(f"threads per block must be in [1, 1024], got {threads}")
    step = CUDA_MAX_GRID[1]
    return [((blocks_x, min(step, batch - off)), threads, off) for off in range(0, batch, step)]


def fused_launch_config(n, B, h, settings=None):
    """The launches of the fused two-layer kernel for n points, B networks of width h.

    Returns
    -------
    list of (grid, block, offset)
        As :func:`batched_launches`; raises ValueError above the width limit
        (:func:`fused_width_ok`).
    """
    settings = settings or current_settings()
    if not fused_width_ok(h, settings):
        raise ValueError(
            f"width {h} exceeds the fused kernel's limit {MAX_PER_THREAD * settings.fused_threads}"
        )
    # a power of two covering the width, at least a warp (32 threads; a narrower block leaves
    # the rest of its warp idle), at most the settings' fused_threads
    tpb = min(settings.fused_threads, max(FUSED_MIN_THREADS, 1 << max(0, (h - 1).bit_length())))
    chunks = (n + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK
    return batched_launches(chunks, B, tpb)


def fused_width_ok(h, settings=None):
    """Whether the fused two-layer kernel takes width *h* (else use the generic path)."""
    settings = settings or current_settings()
    return h <= MAX_PER_THREAD * settings.fused_threads


@cuda.jit(cache=True)
def _sgd_kernel(W, G, mask, lr_eff, K):
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0 and mask[i]:
            W[i] -= s * G[i]


@cuda.jit(cache=True)
def _sgd_kernel_nomask(W, G, lr_eff, K):
    i = cuda.grid(1)
    if i < W.size:
        s = lr_eff[i // K]
        if s != 0:
            W[i] -= s * G[i]


@cuda.jit(cache=True)
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


@cuda.jit(cache=True)
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


@cuda.jit(device=True)
def _block_sum(buf, t, nt):
    """The sum of ``buf[0:nt]`` by a shared-memory tree (``nt`` a power of two), as every
    thread of the block sees it. Every thread calls it after writing its own ``buf[t]``; the
    tree adds in a fixed order, so the sum does not depend on timing. A caller that writes
    ``buf`` again must first ``syncthreads()`` (others may still be reading ``buf[0]``)."""
    cuda.syncthreads()
    s = nt // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    return buf[0]


@cuda.jit(cache=True)
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
    total = _block_sum(buf, t, nt)
    if t == 0:
        out[b] = total * inv_n


@cuda.jit(cache=True)
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
    total = _block_sum(buf, t, nt)
    if t == 0:
        loss[b] = total * inv_n


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
    """The array as the kernel sees it: a zero-copy device view for CuPy arrays.

    ``sync=False``: numba would otherwise block the host until the array's stream is idle, on
    every handoff. No sync is needed, because the kernels are launched on CuPy's current stream
    (:func:`_stream_for`), after the CuPy work that wrote the array.
    """
    if type(a).__module__.split(".")[0] == "cupy":
        return cuda.from_cuda_array_interface(a.__cuda_array_interface__, owner=a, sync=False)
    return a


def _stream_for(a):
    """The stream to launch on: CuPy's current stream for CuPy arrays, else the default (0).

    numba launches on stream 0 unless told; inside a non-blocking CuPy stream, later CuPy work
    (the next matmul, memory-pool reuse of temporaries) would then not be ordered after the
    kernel. The simulator takes and ignores the stream.
    """
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        ptr = cupy.cuda.get_current_stream().ptr
        return cuda.external_stream(ptr) if ptr else cuda.default_stream()
    return 0


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
    return current_settings().flat_threads


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
        _sgd_kernel_nomask[blocks, tpb, _stream_for(W)](w, g, lr, K)
    else:
        _sgd_kernel[blocks, tpb, _stream_for(W)](w, g, _device(mask.reshape(-1)), lr, K)


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
    stream = _stream_for(W)
    if mask is None:
        _adam_kernel_nomask[blocks, tpb, stream](w, g, m, v, _device(lr_eff), *consts)
    else:
        mk = _device(mask.reshape(-1))
        _adam_kernel[blocks, tpb, stream](w, g, m, v, mk, _device(lr_eff), *consts)


def _reduce_threads():
    return current_settings().reduce_threads


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
    stream = _stream_for(values)
    _mean_kernel[B, _reduce_threads(), stream](_device(values), _device(out), 1.0 / n)
    return out


def mse_loss_and_grad(f, y, *, n_total=None):
    """Mean squared error per network, its gradient in ``f`` and the per-point loss, one pass.

    Parameters
    ----------
    f : array (B, n) float32 or float64
        Scalar outputs of B networks on n points.
    y : array (n,), (1, n) or (B, n), same dtype
    n_total : int >= n or None
        The points of the mean (default n): with f one slice of them, ``loss`` and ``df`` are
        the slice's share, ``(1/n_total) sum`` and ``2 (f - y) / n_total``.

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
    _mse_kernel[B, _reduce_threads(), _stream_for(f)](
        _device(f), _device(y), _device(loss), _device(per), _device(df),
        1.0 / (n if n_total is None else n_total),
    )
    return loss, df, per


# ----------------------------------------------------------------------------- two-layer step
#: Activation and loss codes, the same as kernels.cpu's.
ACT_CODES = {"relu": 0, "leaky_relu": 1, "tanh": 2, "softplus": 3, "identity": 4}
LOSS_CODES = {"mse": 0, "logistic": 1}
#: Most hidden units one thread handles (width <= MAX_PER_THREAD * threads per block).
MAX_PER_THREAD = 8
#: Fewest threads per block of the fused two-layer kernel (a warp), unless the settings allow
#: fewer (the simulator's 8).
FUSED_MIN_THREADS = 32
#: Points (rows) handled by one block of the fused two-layer kernel.
ROWS_PER_BLOCK = 16


@cuda.jit(cache=True)
def _two_layer_middle_kernel(
    Z, b0, w1, b1, c0, c1, y, act, loss, slope, rows, per, fout, Pw1, Pb0, Pb1, b_off, inv_n
):
    # grid (chunks, batch slice); block: threads over the hidden units of one network, looping
    # over a chunk of `rows` points. Z (n, B, h): x W0 in, delta_1 out. Partial gradient sums go
    # to Pw1/Pb0 (B, chunks, h) and Pb1 (B, chunks): every block writes its own slice, no
    # atomics. b_off: the first network of this launch (grid y is limited to 65,535). inv_n:
    # 1 / the points of the whole mean loss (more than n when Z holds one slice of them).
    c = cuda.blockIdx.x
    b = cuda.blockIdx.y + b_off
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n = Z.shape[0]
    h = Z.shape[2]
    buf = cuda.shared.array(REDUCE_THREADS, dtype=np.float64)
    la = cuda.local.array(MAX_PER_THREAD, dtype=np.float64)
    ld = cuda.local.array(MAX_PER_THREAD, dtype=np.float64)
    accw = cuda.local.array(MAX_PER_THREAD, dtype=np.float64)
    accb = cuda.local.array(MAX_PER_THREAD, dtype=np.float64)
    for k in range(MAX_PER_THREAD):
        accw[k] = 0.0
        accb[k] = 0.0
    accg = 0.0
    yb = b if y.shape[0] > 1 else 0
    lo = c * rows
    hi = min(n, lo + rows)
    for i in range(lo, hi):
        part = 0.0
        k = 0
        for j in range(t, h, nt):
            z = c0 * Z[i, b, j] + b0[b, j]
            if act == 0:
                av = z if z > 0 else 0.0
                dv = 1.0 if z > 0 else 0.0
            elif act == 1:
                av = z if z > 0 else slope * z
                dv = 1.0 if z > 0 else slope
            elif act == 2:
                av = math.tanh(z)
                dv = 1.0 - av * av
            elif act == 3:
                e = math.exp(-abs(z))
                if z > 0:
                    av = z + math.log1p(e)
                    dv = 1.0 / (1.0 + e)
                else:
                    av = math.log1p(e)
                    dv = e / (1.0 + e)
            else:
                av = z
                dv = 1.0
            la[k] = av
            ld[k] = dv
            part += av * w1[b, j]
            k += 1
        buf[t] = part
        f = c1 * _block_sum(buf, t, nt) + b1[b]
        cuda.syncthreads()  # buf is reused by the next row
        yi = y[yb, i]
        if loss == 0:
            r = f - yi
            pl = r * r
            g = 2.0 * r * inv_n
        else:
            u = -yi * f
            e = math.exp(-abs(u))
            if u > 0:
                pl = u + math.log1p(e)
                sg = 1.0 / (1.0 + e)
            else:
                pl = math.log1p(e)
                sg = e / (1.0 + e)
            g = -yi * sg * inv_n
        if t == 0:
            per[b, i] = pl
            fout[b, i] = f
            accg += g
        gc = g * c1
        k = 0
        for j in range(t, h, nt):
            dz = gc * w1[b, j] * ld[k]
            Z[i, b, j] = dz
            accw[k] += gc * la[k]
            accb[k] += dz
            k += 1
    k = 0
    for j in range(t, h, nt):
        Pw1[b, c, j] = accw[k]
        Pb0[b, c, j] = accb[k]
        k += 1
    if t == 0:
        Pb1[b, c] = accg


def two_layer_loss_grad(X, W0, b0, W1, b1, c0, c1, y, activation, loss, slope=0.01, *,
                        n_total=None):
    """Loss and gradients of B two-layer networks with a shared input, fused for the GPU.

    The GPU counterpart of ``kernels.cpu.two_layer_loss_grad`` (same arguments and results,
    except that no work buffers are kept): the two products with X are single cuBLAS calls over
    all networks (``X @ [W0_1 ... W0_B]``, ``X^T @ [delta_1 ... delta_B]``) and everything in
    between is one kernel pass over the ``(n, B, h)`` buffer, instead of the ~10 passes of the
    namespace-generic code. Arrays are CuPy arrays, or NumPy arrays under the simulator.

    ``n_total`` (default n): the number of points of the mean loss whose gradient is wanted,
    when X is one slice of them (the caller sums the slices' gradients).

    Returns
    -------
    per (B, n), f (B, n), gW0 (B, d, h), gb0 (B, h), gW1 (B, h, 1), gb1 (B, 1)
        Gradients of the mean loss, NOT masked (the update kernels apply the masks).
    """
    mod = _check(X, "X", floating=True)
    if X.ndim != 2:
        raise ValueError(f"X must have 2 axes (n, d), got shape {tuple(X.shape)}")
    n, d = X.shape
    B, _, h = W0.shape
    dt = X.dtype
    _check(W0, "W0", (B, d, h), dt)
    _check(W1, "W1", (B, h, 1), dt)
    _check(y, "y", dtype=dt)
    if tuple(y.shape) not in ((1, n), (B, n)):
        raise ValueError(f"y must have shape (1, {n}) or ({B}, {n}), got {tuple(y.shape)}")
    launches = fused_launch_config(n, B, h)
    inv_n = 1.0 / (n if n_total is None else n_total)
    wcat = mod.ascontiguousarray(W0.transpose(1, 0, 2)).reshape(d, B * h)
    Z = mod.matmul(X, wcat).reshape(n, B, h)
    chunks = (n + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK
    per = mod.empty((B, n), dtype=dt)
    f = mod.empty((B, n), dtype=dt)
    Pw1 = mod.zeros((B, chunks, h), dtype=dt)
    Pb0 = mod.zeros((B, chunks, h), dtype=dt)
    Pb1 = mod.zeros((B, chunks), dtype=dt)
    zb0 = b0 if b0 is not None else mod.zeros((B, h), dtype=dt)
    zb1 = b1.reshape(B) if b1 is not None else mod.zeros(B, dtype=dt)
    w1 = mod.ascontiguousarray(W1.reshape(B, h))
    args = (
        _device(Z),
        _device(mod.ascontiguousarray(zb0)),
        _device(w1),
        _device(mod.ascontiguousarray(zb1)),
        float(c0),
        float(c1),
        _device(y),
        ACT_CODES[activation],
        LOSS_CODES[loss],
        float(slope),
        ROWS_PER_BLOCK,
        _device(per),
        _device(f),
        _device(Pw1),
        _device(Pb0),
        _device(Pb1),
    )
    stream = _stream_for(X)
    for grid, tpb, offset in launches:
        _two_layer_middle_kernel[grid, tpb, stream](*args, offset, inv_n)
    G = mod.matmul(X.T, Z.reshape(n, B * h))
    gW0 = mod.ascontiguousarray(G.reshape(d, B, h).transpose(1, 0, 2)) * dt.type(c0)
    return (per, f, gW0, Pb0.sum(axis=1), Pw1.sum(axis=1)[:, :, None], Pb1.sum(axis=1)[:, None])
