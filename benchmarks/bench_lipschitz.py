"""Benchmark: the gradient-ascent Lipschitz lower bound against a PyTorch autograd loop.

Both sides run the same algorithm on the same B two-layer ReLU networks: from ``starts`` data
points per network, ``steps`` projected ascent steps on the input-gradient norm (direction: the
input gradient of ||grad f_s||^2 / 2 for the softplus_beta-smoothed network, normalised; step
length decaying linearly; projection on the ball of radius r around the start), recording the
true ReLU gradient norm at every iterate. noprune-theory computes gradients and the
Hessian-vector product analytically (R-operator, batched matmuls); the reference uses
``torch.autograd.grad`` twice (double backward) plus once for the true gradient.

Run: ``python benchmarks/bench_lipschitz.py`` (defaults: B = 512 nets, n = 1000 points,
d = 100, width 256). The LAST line is one JSON object with the timings and their ratio.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time


def _threads_from_argv(default=1):
    # BLAS reads its thread count when NumPy is first imported: set it before that. One
    # thread by default: on a shared 2-core machine a spinning OpenBLAS pool loses 100x.
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


THREADS = _threads_from_argv()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np


def torch_reference(torch, W0, b0, a, c0, c1, S0, radius, steps, step_size, smoothing, dtype):
    """The same ascent with autograd; returns the best true gradient norm per network (B,)."""
    tW0 = torch.as_tensor(W0, dtype=dtype)
    tb0 = torch.as_tensor(b0, dtype=dtype)[:, None, :]
    ta = torch.as_tensor(a, dtype=dtype)[:, :, None] * c1
    anchors = torch.as_tensor(S0, dtype=dtype)
    x = anchors.clone()

    def true_norm(x):
        x = x.detach().requires_grad_(True)
        z = c0 * torch.matmul(x, tW0) + tb0
        f = torch.matmul(torch.relu(z), ta)
        (g,) = torch.autograd.grad(f.sum(), x)
        return g.norm(dim=-1), z.detach()

    best, z = true_norm(x)
    rms = torch.sqrt((z * z).mean(dim=(1, 2), keepdim=True))
    beta = 1.0 / (smoothing * torch.where(rms > 0, rms, torch.ones_like(rms)))
    for t in range(steps):
        xg = x.detach().requires_grad_(True)
        z = c0 * torch.matmul(xg, tW0) + tb0
        # softplus_beta(z) has derivative sigmoid(beta z): the smoothed gates
        fs = torch.matmul(torch.log1p(torch.exp(-(beta * z).abs())) / beta
                          + torch.clamp(z, min=0), ta)
        (gs,) = torch.autograd.grad(fs.sum(), xg, create_graph=True)
        (u,) = torch.autograd.grad(0.5 * (gs * gs).sum(), xg)
        un = u.norm(dim=-1, keepdim=True)
        eta = step_size * (1.0 - t / steps)
        x = x + eta * u / torch.where(un > 0, un, torch.ones_like(un))
        dx = x - anchors
        dn = dx.norm(dim=-1, keepdim=True)
        x = anchors + dx * torch.where(dn > radius, radius / torch.where(dn > 0, dn, torch.ones_like(dn)),
                                       torch.ones_like(dn))
        nrm, _ = true_norm(x)
        best = torch.maximum(best, nrm)
    return best.max(dim=1).values.numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--B", type=int, default=512)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--starts", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads of NumPy and intra-op threads of PyTorch (same for both)")
    args = ap.parse_args()

    from noprune_theory.estimators import lipschitz_lower
    from noprune_theory.models import MaskedTwoLayer

    B, n, d, h = args.B, args.n, args.d, args.width
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((n, d)) / math.sqrt(d)).astype(args.dtype)
    net = MaskedTwoLayer(d, h, B=B, dtype=args.dtype, seed=1)
    net.biases[0] = (0.1 * rng.standard_normal((B, h))).astype(args.dtype)
    radius = 0.5 * float(np.sqrt(np.mean(np.sum(X.astype(np.float64) ** 2, axis=1))))
    step_size = radius / 4
    smoothing = 0.1

    def ours():
        return lipschitz_lower(net, X, methods=("ascent",), starts=args.starts,
                               steps=args.steps, radius=radius, smoothing=smoothing)

    ours()  # warm-up (allocations)
    t_ours = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = ours()
        t_ours.append(time.perf_counter() - t0)
    v_ours = np.asarray(res.value, dtype=np.float64)
    print(f"B = {B} nets, n = {n} points, d = {d}, width {h}, {args.starts} starts x "
          f"{args.steps} steps, {args.dtype}, {THREADS} thread(s) on {os.cpu_count()} cores")
    print(f"noprune-theory (analytic R-operator, numpy):   {min(t_ours):8.3f} s "
          f"(best of {args.repeats})")

    record = {"benchmark": "lipschitz_ascent", "B": B, "n": n, "d": d, "width": h,
              "starts": args.starts, "steps": args.steps, "dtype": args.dtype,
              "threads": THREADS, "ours_s": min(t_ours)}
    try:
        import torch
    except ImportError:
        print("torch is not installed: reference skipped")
        record.update(torch_s=None, ratio=None)
        print(json.dumps(record))
        return
    torch.set_num_threads(THREADS)
    tdt = torch.float32 if args.dtype == "float32" else torch.float64
    W0 = np.asarray(net.weights[0], dtype=np.float64)
    b0 = np.asarray(net.biases[0], dtype=np.float64)
    a = np.asarray(net.weights[1], dtype=np.float64)[:, :, 0]
    c0, c1 = net.multipliers
    S0 = np.broadcast_to(X[np.arange(args.starts) % n].astype(np.float64),
                         (B, args.starts, d)).copy()
    t_ref = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        v_ref = torch_reference(torch, W0, b0, a, c0, c1, S0, radius, args.steps, step_size,
                                smoothing, tdt)
        t_ref.append(time.perf_counter() - t0)
    rel = float(np.max(np.abs(v_ref - v_ours) / np.abs(v_ref)))
    ratio = min(t_ref) / min(t_ours)
    print(f"PyTorch {torch.__version__} autograd (double backward): {min(t_ref):8.3f} s")
    print(f"speed-up: {ratio:.2f}x; largest relative difference of the bounds: {rel:.2e}")
    record.update(torch_s=min(t_ref), ratio=ratio, max_rel_diff=rel,
                  torch_version=torch.__version__)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
