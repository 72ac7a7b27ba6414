"""A whole full-batch training run of B masked MLPs in one numba call (the ``numba`` backend).

Where this sits: :func:`noprune_theory.training.train` hands a run to :func:`train_full_batch`
when the model and the options allow it (full batch, scalar output, mse or logistic loss, gd
or adam, no gradient noise, no intermediate records). Every step of every network then runs
inside compiled code: forward pass, loss, backward pass, the masked Adam or GD update and the
per-network stopping test, with no Python between steps. For the small networks of the
simulations ([NFP] Fig. 1: n = 30 points, width 100) a NumPy step costs tens of microseconds of
interpreter and dispatch time per array operation; here it costs only its arithmetic.

Each network is trained to its end on its own (``prange`` over networks), so a network's
numbers do not depend on which other networks share the batch: a sweep may train any grouping
of its cells together and store the same results.

Only kept weights are visited. A network's kept weights are listed once per run (in row-major
order, layer by layer), and every multiply-add of the forward and backward passes runs over
that list as a short vector operation over the ``n`` points (activations are stored point-last,
``(features, n)``). The cost of a step is therefore proportional to the kept weights: a network
pruned to 1% of its weights trains about as fast as one 100 times smaller. For a given weight
the sums run over the same inputs in the same order as a dense product, so dense and sparse
networks follow the same arithmetic.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["ACT_CODES", "LOSS_CODES", "train_full_batch"]

#: Activation codes (the order of ``models.ACTIVATIONS``).
ACT_CODES = {"relu": 0, "leaky_relu": 1, "tanh": 2, "softplus": 3, "identity": 4}
#: Loss codes (scalar output only).
LOSS_CODES = {"mse": 0, "logistic": 1}
#: Optimizer codes.
OPT_CODES = {"gd": 0, "adam": 1}

# Reassociation and contraction (fma) let the short loops over points vectorize (sums too); no
# 'nnan'/'ninf', so NaN and inf propagate to the finiteness test.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FAST)
def _softplus(z):
    if z > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@njit(cache=True, fastmath=_FAST)
def _sigmoid(u):
    e = np.exp(-abs(u))
    if u >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


@njit(cache=True, fastmath=_FAST)
def _forward(xb, w, bias, has_bias, ent, ek, ej, estart, units, ustart, sizes, zoff, mult, act,
             slope, Z, A):
    """Pre-activations Z and activations A, both (features, n), for layers 1..L."""
    L = sizes.shape[0] - 1
    n = xb.shape[1]
    for l in range(L):
        zo = zoff[l]
        io = zoff[l - 1] if l > 0 else 0
        for u in range(ustart[l + 1], ustart[l + 2]):
            j = units[u]
            for i in range(n):
                Z[zo + j, i] = 0.0
        for e in range(estart[l], estart[l + 1]):
            k = ek[e]
            j = ej[e]
            wv = w[ent[e]]
            zr = Z[zo + j]
            ar = xb[k] if l == 0 else A[io + k]
            for i in range(n):
                zr[i] += ar[i] * wv
        c = mult[l]
        code = 4 if l == L - 1 else act
        for u in range(ustart[l + 1], ustart[l + 2]):
            j = units[u]
            bj = bias[zo + j] if has_bias else 0.0
            zr = Z[zo + j]
            ar = A[zo + j]
            for i in range(n):
                zr[i] = c * zr[i] + bj
            # the activation's branch sits outside the loops over points, so that they vectorize
            if code == 0:
                for i in range(n):
                    ar[i] = max(zr[i], 0.0)
            elif code == 1:
                for i in range(n):
                    ar[i] = zr[i] if zr[i] > 0.0 else slope * zr[i]
            elif code == 2:
                for i in range(n):
                    ar[i] = np.tanh(zr[i])
            elif code == 3:
                for i in range(n):
                    ar[i] = _softplus(zr[i])
            else:
                for i in range(n):
                    ar[i] = zr[i]


@njit(cache=True, fastmath=_FAST)
def _loss(A, zoff, L, yb, loss, per):
    """Per-point loss into per (n,); returns True when every value is finite."""
    n = per.shape[0]
    fo = zoff[L - 1]
    ok = True
    for i in range(n):
        f = A[fo, i]
        if loss == 0:
            r = f - yb[i]
            v = r * r
        else:
            u = -yb[i] * f
            v = u + np.log1p(np.exp(-u)) if u > 0.0 else np.log1p(np.exp(u))
        per[i] = v
        if not np.isfinite(v):
            ok = False
    return ok


@njit(cache=True, fastmath=_FAST)
def _backward(xb, w, has_bias, ent, ek, ej, estart, units, ustart, sizes, zoff, mult, act, slope,
              Z, A, D, yb, loss,
              gw, gb):
    """Gradients of the mean loss: gw over the kept entries (same order as ent), gb all."""
    L = sizes.shape[0] - 1
    n = xb.shape[1]
    inv_n = 1.0 / n
    fo_last = zoff[L - 1]
    for i in range(n):
        f = A[fo_last, i]
        if loss == 0:
            D[fo_last, i] = 2.0 * (f - yb[i]) * inv_n
        else:
            D[fo_last, i] = -yb[i] * _sigmoid(-yb[i] * f) * inv_n
    for l in range(L - 1, -1, -1):
        zo = zoff[l]
        io = zoff[l - 1] if l > 0 else 0
        c = mult[l]
        if has_bias:  # biases are laid out like the rows of Z
            for u in range(ustart[l + 1], ustart[l + 2]):
                j = units[u]
                s = 0.0
                for i in range(n):
                    s += D[zo + j, i]
                gb[zo + j] = s
        if l > 0:
            for u in range(ustart[l], ustart[l + 1]):
                k = units[u]
                for i in range(n):
                    D[io + k, i] = 0.0
        for e in range(estart[l], estart[l + 1]):
            k = ek[e]
            j = ej[e]
            dr = D[zo + j]
            ar = xb[k] if l == 0 else A[io + k]
            s = 0.0
            for i in range(n):
                s += ar[i] * dr[i]
            gw[e] = c * s
            if l > 0:
                wv = c * w[ent[e]]
                br = D[io + k]
                for i in range(n):
                    br[i] += dr[i] * wv
        if l > 0:
            for u in range(ustart[l], ustart[l + 1]):
                k = units[u]
                br = D[io + k]
                zr = Z[io + k]
                ar = A[io + k]
                if act == 0:
                    for i in range(n):
                        br[i] = br[i] if zr[i] > 0.0 else 0.0
                elif act == 1:
                    for i in range(n):
                        br[i] = br[i] if zr[i] > 0.0 else slope * br[i]
                elif act == 2:
                    for i in range(n):
                        br[i] *= 1.0 - ar[i] * ar[i]
                elif act == 3:
                    for i in range(n):
                        br[i] *= _sigmoid(zr[i])


@njit(parallel=True, cache=True, fastmath=_FAST)
def _train_kernel(XT, shared, Y, sizes, zoff, mult, act, slope, loss, opt, W, Bias, has_bias,
                  Ent, Ek, Ej, Estart, Units, Urow, Ustart, lr, beta1, beta2, eps, bc1, bc2, steps,
                  use_target, target,
                  stop_mem, mem_thr, per0, f0, per_out, f_out, taken, converged, diverged):
    B = W.shape[0]
    L = sizes.shape[0] - 1
    n = XT.shape[2]
    S = zoff[L]
    Pb = Bias.shape[1]
    for b in prange(B):
        xb = XT[0] if shared else XT[b]
        yb = Y[0] if Y.shape[0] == 1 else Y[b]
        w = W[b]
        bias = Bias[b]
        ent = Ent[b]
        ek = Ek[b]
        ej = Ej[b]
        units = Units[b]
        urow = Urow[b]
        ustart = Ustart[b]
        estart = Estart[b]
        nk = estart[L]
        Z = np.empty((S, n), dtype=W.dtype)
        A = np.empty((S, n), dtype=W.dtype)
        D = np.empty((S, n), dtype=W.dtype)
        per = np.empty(n, dtype=W.dtype)
        gw = np.empty(nk, dtype=W.dtype)
        gb = np.zeros(Pb, dtype=W.dtype)
        mw = np.zeros(nk, dtype=W.dtype)
        vw = np.zeros(nk, dtype=W.dtype)
        mb = np.zeros(Pb, dtype=W.dtype)
        vb = np.zeros(Pb, dtype=W.dtype)
        t = 0
        while True:
            _forward(xb, w, bias, has_bias, ent, ek, ej, estart, units, ustart, sizes, zoff, mult,
                     act, slope, Z, A)
            finite = _loss(A, zoff, L, yb, loss, per)
            if t == 0:
                for i in range(n):
                    per0[b, i] = per[i]
                    f0[b, i] = A[zoff[L - 1], i]
            if use_target or stop_mem:
                hit = True
                if use_target:
                    s = 0.0
                    for i in range(n):
                        s += per[i]
                    hit = s / n <= target
                if stop_mem:
                    for i in range(n):
                        if not per[i] < mem_thr:
                            hit = False
                if hit:
                    converged[b] = True
                    break
            if not finite:
                diverged[b] = True
                break
            if t >= steps:
                break
            _backward(xb, w, has_bias, ent, ek, ej, estart, units, ustart, sizes, zoff, mult, act,
                      slope, Z, A, D, yb,
                      loss, gw, gb)
            t += 1
            if opt == 0:
                for e in range(nk):
                    w[ent[e]] -= lr * gw[e]
                if has_bias:
                    for u in range(ustart[1], ustart[L + 1]):
                        j = urow[u]
                        bias[j] -= lr * gb[j]
            else:
                c1 = bc1[t]
                c2 = bc2[t]
                for e in range(nk):
                    g = gw[e]
                    m = beta1 * mw[e] + (1.0 - beta1) * g
                    v = beta2 * vw[e] + (1.0 - beta2) * g * g
                    mw[e] = m
                    vw[e] = v
                    w[ent[e]] -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
                if has_bias:
                    for u in range(ustart[1], ustart[L + 1]):
                        j = urow[u]
                        g = gb[j]
                        m = beta1 * mb[j] + (1.0 - beta1) * g
                        v = beta2 * vb[j] + (1.0 - beta2) * g * g
                        mb[j] = m
                        vb[j] = v
                        bias[j] -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
        taken[b] = t
        for i in range(n):
            per_out[b, i] = per[i]
            f_out[b, i] = A[zoff[L - 1], i]


def _kept_entries(masks, B, sizes):
    """The weights and units that matter, per network.

    A unit is *live* when a kept weight leads from it to a live unit of the next layer (the
    output is live). The gradient of every other unit, and of the weights into it, is exactly
    zero at every step, so neither the reference loop nor Adam ever moves them: the kernel
    skips them. Returns, padded with zeros to the largest count over networks:

    ``ent`` (B, K): flat index in the weight vector of every kept weight into a live unit, in
    row-major order layer by layer; ``ek``, ``ej`` (B, K): its row (input unit) and column
    (output unit) in the layer; ``estart`` (B, L + 1): where each layer's entries start;
    ``units`` (B, S): the live units of neuron layers 1..L (column within the layer);
    ``urow`` (B, S): their row in the stacked (features, n) buffers; ``ustart`` (B, L + 2):
    where neuron layer m's units start (``ustart[m]``, m = 1..L; ``ustart[0] = ustart[1] = 0``).
    """
    L = len(sizes) - 1
    per_layer = [sizes[l] * sizes[l + 1] for l in range(L)]
    zoff = np.concatenate([[0], np.cumsum(sizes[1:])])
    m = [np.asarray(mk).reshape(B, sizes[l], sizes[l + 1]) for l, mk in enumerate(masks)]
    ents, eks, ejs, estarts, unitss, urows, ustarts = [], [], [], [], [], [], []
    base = np.concatenate([[0], np.cumsum(per_layer)[:-1]])
    for b in range(B):
        live = [None] * (L + 1)
        live[L] = np.ones(sizes[L], dtype=bool)
        for l in range(L - 1, 0, -1):
            live[l] = (m[l][b] & live[l + 1][None, :]).any(axis=1)
        e_idx, e_k, e_j, counts = [], [], [], []
        for l in range(L):
            kk, jj = np.nonzero(m[l][b] & live[l + 1][None, :])
            e_idx.append(base[l] + kk * sizes[l + 1] + jj)
            e_k.append(kk)
            e_j.append(jj)
            counts.append(kk.size)
        ents.append(np.concatenate(e_idx))
        eks.append(np.concatenate(e_k))
        ejs.append(np.concatenate(e_j))
        estarts.append(np.concatenate([[0], np.cumsum(counts)]))
        u = [np.flatnonzero(live[mm]) for mm in range(1, L + 1)]
        unitss.append(np.concatenate(u))
        urows.append(np.concatenate([zoff[mm - 1] + u[mm - 1] for mm in range(1, L + 1)]))
        ustarts.append(np.concatenate([[0, 0], np.cumsum([x.size for x in u])]))

    def pad(rows):
        width = max(1, max(r.size for r in rows))
        out = np.zeros((B, width), dtype=np.int64)
        for b, r in enumerate(rows):
            out[b, : r.size] = r
        return out

    return (pad(ents), pad(eks), pad(ejs), np.array(estarts, dtype=np.int64), pad(unitss),
            pad(urows), np.array(ustarts, dtype=np.int64))


def train_full_batch(X, y, weights, biases, masks, multipliers, *, activation, loss, optimizer,
                     lr, steps, beta1=0.9, beta2=0.999, eps=1e-8, target_loss=None,
                     stop_when_memorized=False, memorize_threshold=None, slope=0.01):
    """Train B masked MLPs in place, each to its own stop, in one compiled call.

    Parameters
    ----------
    X : ndarray (n, d) shared, or (B, n, d)
    y : ndarray (B, n) or (1, n)
        Targets (mse) or signs +-1 (logistic), of the weights' dtype.
    weights : list of ndarray (B, m_l, m_{l+1}), C-contiguous
        Updated in place; ``sizes[-1]`` must be 1.
    biases : list of ndarray (B, m_{l+1}) or None
        Updated in place.
    masks : list of bool ndarray like weights
    multipliers : sequence of float
        The forward constants ``c_l`` of the model.
    activation, loss, optimizer : str
        See :data:`ACT_CODES`, :data:`LOSS_CODES`, :data:`OPT_CODES`.
    lr, steps, beta1, beta2, eps, target_loss, stop_when_memorized, memorize_threshold
        As in :func:`noprune_theory.training.train` (trusted: validated there).

    Returns
    -------
    dict
        ``per0``, ``f0`` (B, n): per-point loss and output at initialization; ``per``, ``f``
        (B, n): at the end; ``steps`` (B,) updates applied; ``converged``, ``diverged`` (B,).

    Notes
    -----
    Step ``t`` of network b (from 0): forward pass and per-point loss at the current
    parameters; stop (converged) if the target is reached, stop (diverged) if a loss is not
    finite, stop if ``t = steps``; else the gradient of the mean loss and one update of the kept
    weights and the biases (Adam with bias corrections ``1 - beta^t``). This is the order of
    :func:`~noprune_theory.training.train`, so the step counts agree.
    """
    dt = weights[0].dtype
    B = weights[0].shape[0]
    sizes = np.array([weights[0].shape[1]] + [w.shape[2] for w in weights], dtype=np.int64)
    L = len(weights)
    zoff = np.zeros(L + 1, dtype=np.int64)
    zoff[1:] = np.cumsum(sizes[1:])
    shared = X.ndim == 2
    XT = np.ascontiguousarray(np.swapaxes(X, -1, -2)[None] if shared else np.swapaxes(X, 1, 2),
                              dtype=dt)
    Y = np.ascontiguousarray(y, dtype=dt)
    W = np.ascontiguousarray(np.concatenate([w.reshape(B, -1) for w in weights], axis=1))
    has_bias = biases is not None
    Bias = (np.ascontiguousarray(np.concatenate(biases, axis=1)) if has_bias
            else np.zeros((B, 0), dtype=dt))
    ent, ek, ej, estart, units, urow, ustart = _kept_entries(
        masks, B, tuple(int(s) for s in sizes))
    tt = np.arange(steps + 1, dtype=np.float64)
    bc1 = (1.0 - beta1 ** tt).astype(np.float64)
    bc2 = (1.0 - beta2 ** tt).astype(np.float64)
    bc1[0] = bc2[0] = 1.0
    n = XT.shape[2]
    per0 = np.empty((B, n), dtype=dt)
    f0 = np.empty((B, n), dtype=dt)
    per = np.empty((B, n), dtype=dt)
    f = np.empty((B, n), dtype=dt)
    taken = np.zeros(B, dtype=np.int64)
    converged = np.zeros(B, dtype=np.bool_)
    diverged = np.zeros(B, dtype=np.bool_)
    _train_kernel(
        XT, shared, Y, sizes, zoff, np.asarray(multipliers, dtype=dt), ACT_CODES[activation],
        dt.type(slope), LOSS_CODES[loss], OPT_CODES[optimizer], W, Bias, has_bias, ent, ek, ej,
        estart, units, urow, ustart, dt.type(lr), dt.type(beta1), dt.type(beta2), dt.type(eps),
        bc1.astype(dt), bc2.astype(dt),
        int(steps), target_loss is not None, dt.type(target_loss or 0.0),
        bool(stop_when_memorized), dt.type(memorize_threshold or 0.0),
        per0, f0, per, f, taken, converged, diverged,
    )  # fmt: skip
    off = 0
    for w in weights:
        k = w[0].size
        w.reshape(B, -1)[...] = W[:, off : off + k]
        off += k
    if has_bias:
        off = 0
        for bv in biases:
            k = bv.shape[1]
            bv[...] = Bias[:, off : off + k]
            off += k
    return {"per0": per0, "f0": f0, "per": per, "f": f, "steps": taken, "converged": converged,
            "diverged": diverged}
