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

``--wide``: instead, how tight the certified bounds are at width 256 (docs/lipschitz.md). Two-layer
ReLU networks of width ``--width`` trained (Adam, MSE) to fit pure-noise labels of n points in
d dimensions, dense and with random masks; per network: the lower bound (data, random, ascent,
pairs), the upper bound (``auto``: the compiled branch and bound, ``max_walk=26``), whether the
search finished and whether the constant is certified exact, with the times.
Defaults: n = 200, d = 20, B = 8
networks per setting.
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

import numpy as np  # noqa: E402 (after the thread settings above)


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
        safe = torch.where(dn > 0, dn, torch.ones_like(dn))
        x = anchors + dx * torch.where(dn > radius, radius / safe,
                                       torch.ones_like(dn))
        nrm, _ = true_norm(x)
        best = torch.maximum(best, nrm)
    return best.max(dim=1).values.numpy()


def wide_study(args):
    from noprune_theory.data import gaussian, noisy_labels
    from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
    from noprune_theory.models import MaskedTwoLayer
    from noprune_theory.pruning import prune
    from noprune_theory.training import train

    n = 200 if args.n == 1000 else args.n
    d = 20 if args.d == 100 else args.d
    B = 8 if args.B == 512 else args.B
    h = args.width
    X = gaussian(n, d, seed=0)
    y = noisy_labels(X, target=None, sigma=0.5, seed=1)
    rows = []
    for setting, sparsity in (("dense", None), ("random 0.5", 0.5), ("random 0.9", 0.9)):
        net = MaskedTwoLayer(d, h, B=B, seed=2)
        if sparsity is not None:
            net.set_masks(prune(net, method="random", sparsity=sparsity, seed=3))
        t0 = time.perf_counter()
        res = train(net, X, y, loss="mse", optimizer="adam", lr=1e-2, steps=3000,
                    target_loss=1e-3)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        lo = lipschitz_lower(net, X)
        t_lo = time.perf_counter() - t0
        t0 = time.perf_counter()
        up = lipschitz_upper(net, max_walk=26)
        t_up = time.perf_counter() - t0
        # where the lower bound is loose: points farther out (the same f, other points) and
        # the point realizing the branch and bound's best pattern, when it is realized
        t0 = time.perf_counter()
        far = np.max([np.asarray(lipschitz_lower(net, X * s, methods=("random", "ascent")).value,
                                 dtype=np.float64) for s in (3.0, 10.0, 30.0)], axis=0)
        t_far = time.perf_counter() - t0
        lo_v = np.asarray(lo.value, dtype=np.float64)
        best_lo = np.fmax(np.maximum(lo_v, far), up.realized)
        up_v = np.asarray(up.value, dtype=np.float64)
        ratio = up_v / lo_v
        active = [int(np.sum(np.linalg.norm(np.asarray(net.weights[0])[b], axis=0)
                             * np.abs(np.asarray(net.weights[1])[b, :, 0]) > 0))
                  for b in range(B)]
        rec = {"setting": setting, "width": h, "n": n, "d": d, "B": B,
               "active_units": active, "final_mse": [float(v) for v in res.final_loss],
               "lower": lo_v.tolist(), "upper": up_v.tolist(), "upper_method": list(up.method),
               "exact": up.exact.tolist(), "ratio": ratio.tolist(),
               "search_complete": up.complete.tolist(),
               "lower_far": far.tolist(), "realized_best_pattern": up.realized.tolist(),
               "ratio_best_lower": (up_v / best_lo).tolist(), "far_s": t_far,
               "sum_norms_over_upper": (up.by_method["sum_norms"] / up_v).tolist(),
               "spectral_over_upper": (up.by_method["spectral"] / up_v).tolist(),
               "train_s": t_train, "lower_s": t_lo, "upper_s": t_up}
        rows.append(rec)
        q = np.quantile(ratio, [0, 0.5, 1])
        print(f"{setting:>11}: active units {min(active)}-{max(active)}, upper/lower min "
              f"{q[0]:.3f} median {q[1]:.3f} max {q[2]:.3f}, exact {int(up.exact.sum())}/{B}, "
              f"search finished {int(up.complete.sum())}/{B}, "
              f"methods {sorted(set(up.method))}, sum_norms/upper "
              f"{np.median(rec['sum_norms_over_upper']):.2f}, spectral/upper "
              f"{np.median(rec['spectral_over_upper']):.2f}; lower {t_lo:.1f} s, "
              f"upper {t_up:.1f} s")
        q = np.quantile(up_v / best_lo, [0, 0.5, 1])
        print(f"{'':>11}  with points 3-30x farther out and the best pattern's point: "
              f"upper/lower min {q[0]:.3f} median {q[1]:.3f} max {q[2]:.3f}; best pattern "
              f"realized {int(np.sum(~np.isnan(up.realized)))}/{B}"
              + (f", its value / lower (median) {np.nanmedian(up.realized / lo_v):.3f}"
                 if np.any(~np.isnan(up.realized)) else ""))
    print(json.dumps({"benchmark": "lipschitz_wide", "rows": rows}))


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
    ap.add_argument("--wide", action="store_true",
                    help="the width-256 tightness study instead of the ascent benchmark")
    args = ap.parse_args()
    if args.wide:
        wide_study(args)
        return

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
