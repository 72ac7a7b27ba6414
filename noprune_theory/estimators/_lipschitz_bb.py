"""The branch and bound of the activation-pattern upper bound, compiled with numba.

``max over t in {0,1}^k of ||v0 + sum_j t_j u_j||`` (the vectors ``u_j = (1 - lo) c_0 c_1 a_j w_j``
of the active units, in order of decreasing norm), depth first. A node fixes the first ``depth``
units (fixed sum ``v``) and leaves the rest free. Its bound is the smallest of

- the triangle bound ``||v|| + sum_free ||u_j||``;
- for each orthonormal basis ``Q`` given (the standard basis and the principal axes of the
  ``u_j``), ``sqrt(sum_i max(lo_i^2, hi_i^2))`` where ``[lo_i, hi_i]`` is the range of coordinate
  ``i`` of ``v + sum_free t_j u_j``: ``q_i.v + sum_free min(0, q_i.u_j)`` and the same with max.

The last ``m`` free units are enumerated at once (``2^m`` precomputed partial sums). The search
order, the bounds and the pruning rule are those of the pure-Python version it replaced, so the
results agree with it to rounding (tested against exhaustive enumeration).
"""
from __future__ import annotations

import math

import numpy as np

_KERNEL = None


def _compile():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    from numba import njit

    @njit(cache=True, fastmath=False)
    def search(v0, V, bases, Vq, pos, neg, tri, G, gpos, tailV, tail, best_val, best_s,
               max_nodes):
        k, d = V.shape
        nb = bases.shape[0]
        nt = tailV.shape[0]
        m = tail.shape[1]
        cap = 2 * k + 2
        sv = np.empty((cap, d))
        svu = np.empty((cap, k))  # v . u_j for every unit, updated incrementally
        sc = np.empty((cap, nb, d))  # coordinates of v in every basis, updated incrementally
        sdepth = np.empty(cap, dtype=np.int64)
        sfix = np.zeros((cap, k), dtype=np.bool_)
        top = 0
        sv[0, :] = v0
        for q in range(nb):
            for i in range(d):
                ci = 0.0
                for j in range(d):
                    ci += bases[q, i, j] * v0[j]
                sc[0, q, i] = ci
        for j in range(k):
            e = 0.0
            for i in range(d):
                e += v0[i] * V[j, i]
            svu[0, j] = e
        sdepth[0] = 0
        top = 1
        nodes = 0
        open_bound = 0.0
        complete = True
        cq = np.empty((nb, d))
        vu = np.empty(k)
        cur = np.zeros(k, dtype=np.bool_)
        v = np.empty(d)
        while top > 0:
            top -= 1
            for i in range(d):
                v[i] = sv[top, i]
            for q in range(nb):
                for i in range(d):
                    cq[q, i] = sc[top, q, i]
            depth = sdepth[top]
            for j in range(depth, k):
                vu[j] = svu[top, j]
            for i in range(depth):
                cur[i] = sfix[top, i]
            # bound of the node
            nv = 0.0
            for i in range(d):
                nv += v[i] * v[i]
            nv = math.sqrt(nv)
            if depth >= k:
                ub = nv
            else:
                ub = nv + tri[depth]
                # ||v + S||^2 = ||v||^2 + 2 v.S + t'Gt <= ||v||^2 + 2 sum (v.u_j)+ + sum G_ij+
                lin = 0.0
                for j in range(depth, k):
                    if vu[j] > 0.0:
                        lin += vu[j]
                r2 = nv * nv + 2.0 * lin + gpos[depth]
                r = math.sqrt(r2) if r2 > 0.0 else 0.0
                ub = min(ub, r)
                for q in range(nb):
                    tot = 0.0
                    for i in range(d):
                        ci = cq[q, i]
                        hi = ci + pos[q, depth, i]
                        lo = ci + neg[q, depth, i]
                        tot += max(hi * hi, lo * lo)
                    r = math.sqrt(tot)
                    ub = min(ub, r)
            if ub <= best_val * (1 + 1e-12):
                continue
            nodes += 1
            if nodes > max_nodes:
                complete = False
                open_bound = max(open_bound, ub)
                continue
            if depth >= k - m:
                bi = 0
                bn = -1.0
                for t in range(nt):
                    s2 = 0.0
                    for i in range(d):
                        e = tailV[t, i] + v[i]
                        s2 += e * e
                    if s2 > bn:
                        bn = s2
                        bi = t
                val = math.sqrt(bn)
                if val > best_val:
                    best_val = val
                    for i in range(k - m):
                        best_s[i] = cur[i]
                    for i in range(m):
                        best_s[k - m + i] = tail[bi, i]
                continue
            # push the "off" child, then the "on" child (popped first)
            for i in range(d):
                sv[top, i] = v[i]
            for q in range(nb):
                for i in range(d):
                    sc[top, q, i] = cq[q, i]
            sdepth[top] = depth + 1
            for j in range(depth + 1, k):
                svu[top, j] = vu[j]
            for i in range(depth):
                sfix[top, i] = cur[i]
            sfix[top, depth] = False
            top += 1
            for i in range(d):
                sv[top, i] = v[i] + V[depth, i]
            for q in range(nb):
                for i in range(d):
                    sc[top, q, i] = cq[q, i] + Vq[q, depth, i]
            sdepth[top] = depth + 1
            for j in range(depth + 1, k):
                svu[top, j] = vu[j] + G[depth, j]
            for i in range(depth):
                sfix[top, i] = cur[i]
            sfix[top, depth] = True
            top += 1
        return best_val, open_bound, complete, nodes

    _KERNEL = search
    return search


def branch_and_bound(U, lo, max_nodes, leaf=12):
    """max over t in {0,1}^k of ||v0 + sum_j t_j (1-lo) u_j||, U (k, d) (see the module).

    Returns
    -------
    value : float
        The best pattern's norm found.
    pattern : ndarray of bool (k,)
        That pattern, in the order of ``U``.
    upper : float
        An upper bound of the maximum: ``value`` when the search completed, else the largest
        bound among the open nodes (if larger).
    complete : bool
        Whether the node budget sufficed.
    """
    k, d = U.shape
    v0 = lo * U.sum(axis=0)
    V = (1.0 - lo) * U
    order = np.argsort(-np.linalg.norm(V, axis=1))
    V = np.ascontiguousarray(V[order])
    # principal axes of the vectors make the box bound tight for low-rank sets
    _, _, Qt = np.linalg.svd(V, full_matrices=True)
    bases = np.stack([np.eye(d), Qt])
    Vb = [V @ Q.T for Q in bases]  # coordinates of every u in each basis, (k, d)
    Vq = np.ascontiguousarray(np.stack(Vb))
    pos = np.stack([np.cumsum(np.maximum(A, 0)[::-1], axis=0)[::-1] for A in Vb])
    neg = np.stack([np.cumsum(np.minimum(A, 0)[::-1], axis=0)[::-1] for A in Vb])
    G = V @ V.T
    Gp = np.maximum(G, 0.0)
    # gpos[t] = sum_{i, j >= t} max(0, u_i . u_j), and 0 past the end
    gpos = np.array([Gp[t:, t:].sum() for t in range(k)] + [0.0])
    tri = np.cumsum(np.linalg.norm(V, axis=1)[::-1])[::-1].copy()

    # incumbent: local search (single flips) from sign patterns of a few directions
    best_val, best_s = -1.0, None
    rng = np.random.default_rng(0)
    dirs = np.vstack([V, rng.standard_normal((8, d))])
    sq = np.sum(V * V, axis=1)
    for r in dirs:
        s = (V @ r) > 0
        for _ in range(4 * k):
            v = v0 + s @ V
            gain = 2 * (V @ v) * np.where(s, -1, 1) + sq
            j = int(np.argmax(gain))
            if gain[j] <= 1e-15 * (1 + v @ v):
                break
            s[j] = ~s[j]
        val = float(np.linalg.norm(v0 + s @ V))
        if val > best_val:
            best_val, best_s = val, s.copy()
    m = min(leaf, k)
    tail = ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    tailV = tail.astype(np.float64) @ V[k - m:]  # (2^m, d)
    best_s = np.ascontiguousarray(best_s)
    search = _compile()
    best_val, open_bound, complete, _ = search(
        np.ascontiguousarray(v0, dtype=np.float64), V, np.ascontiguousarray(bases), Vq,
        np.ascontiguousarray(pos), np.ascontiguousarray(neg), tri, G, gpos,
        np.ascontiguousarray(tailV),
        tail, float(best_val), best_s, int(max_nodes))
    s = np.zeros(k, dtype=bool)
    s[order] = best_s
    return float(best_val), s, max(float(best_val), float(open_bound)), bool(complete)
