"""The memorization sweep of [NFP] Fig. 1a: the toolkit against a batched PyTorch CPU loop.

Protocol (issue 12): n = 30 points, d = 30, two hidden ReLU layers of width 100, one output,
logistic loss on random +-1 labels, full-batch Adam at lr 1e-2, at most 3000 steps, each network
stopping once it memorizes every point (loss < log(2)/10); k = 10, 12, ..., 22 (kept fraction
0.8^k), six pruning methods, 10 networks per point (seed 0), float64 as the simulation runs.

Measured, one after the other in this process:

1. ``sweep``: the whole simulation through the runner (``noprune-theory sim memorization`` with
   the grid above): pruning (IMP and magnitude-after-training train inside pruning) and the
   final training of the 42 cells, batched by the runner.
2. ``train``: only the final training of the 420 pruned networks, from the same masks,
   initializations and data, three ways:

   - the toolkit: one ``train()`` call on the 420 networks, as the runner's batch does;
   - PyTorch, one batch per cell (10 networks, as a plain script of the protocol would run it);
   - PyTorch, one batch of all 420 networks.

   The PyTorch loop is the same protocol written with ``torch.bmm`` and autograd: masked
   weights, per-network Adam state that freezes when the network stops, the same stop rule
   checked at every step. Skipped when torch is not installed.

Printed: wall times, time ratios (PyTorch / toolkit), the updates applied, and GFLOP/s counted
two ways: *dense-equivalent* (``6 n P`` per network-update, P = 13 100 weights: what a dense
batched implementation performs) and *kept* (``6 n K``, K = kept weights: what the toolkit's
sparse kernel performs); with the fraction of this machine's float64 matmul peak (numpy, best of
several 1024^3 products). Also ``uptime`` (the machine may be shared). The last line is one JSON
object.

Both sides run on ``--threads`` threads (default 1). Run:
``python benchmarks/bench_memorization.py [--quick] [--threads N] [--skip-sweep]
[--skip-torch]``; ``--per-step`` measures only steps per second of one batch of 10 networks at
k = 0, 10, 16, 22 (300 fixed steps, no stopping), the toolkit against the PyTorch loop.
``--quick``: k = 16, 22, 3 methods, 4 networks, 500 steps (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time

import numpy as np

METHODS = ("imp", "magnitude_after_training", "snip", "grasp", "synflow", "random")


def matmul_peak64(size=1024, reps=7):
    """float64 GFLOP/s of numpy's ``a @ b``, best of *reps*."""
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * size**3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def uptime():
    try:
        done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
        return done.stdout.strip()
    except OSError:
        return "?"


def sets_for(args):
    return [f"method={','.join(args.methods)}", "k=" + ",".join(str(k) for k in args.k),
            "n=30", "d=30", "width=100", "depth=2", "optimizer=adam", "lr=0.01",
            f"steps={args.steps}", f"nets={args.nets}"]


def run_sweep(args):
    from noprune_theory.sims import get_simulation, resolve_config, run_simulation

    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=sets_for(args), seeds=1, backend="numba")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_simulation(cfg, out=out, progress=False)
        return time.perf_counter() - t0, summary.computed


def pruned_cells(args):
    """The pruned networks, data and masks of every cell (the toolkit's pruning)."""
    from noprune_theory.sims import get_simulation, resolve_config
    from noprune_theory.sims.memorization import _pruned_network

    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=sets_for(args), seeds=1, backend="numba")
    cells = []
    for _, point, seed in cfg.cells():
        config = dict(point, backend="numba")
        net, X, y = _pruned_network(config, seed)
        cells.append((net, X, y))
    return cells


def toolkit_train(cells, steps):
    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import train

    big = MaskedMLP._stack([c[0].copy() for c in cells])
    X = np.concatenate([c[1] for c in cells])
    y = np.concatenate([c[2] for c in cells])
    t0 = time.perf_counter()
    res = train(big, X, y, loss="logistic", optimizer="adam", lr=1e-2, steps=steps,
                stop_when_memorized=True)
    return time.perf_counter() - t0, res


def torch_train(cells, steps, threshold):
    """The same training in PyTorch: batched bmm, autograd, masked Adam, per-network stop."""
    import torch

    torch.manual_seed(0)
    W = [torch.tensor(np.concatenate([c[0].weights[l] for c in cells]), requires_grad=True)
         for l in range(cells[0][0].depth)]
    Bs = [torch.tensor(np.concatenate([c[0].biases[l] for c in cells]), requires_grad=True)
          for l in range(cells[0][0].depth)]
    M = [torch.tensor(np.concatenate([c[0].masks[l] for c in cells])) for l in range(len(W))]
    X = torch.tensor(np.concatenate([c[1] for c in cells]))
    y = torch.tensor(np.concatenate([c[2] for c in cells]))
    B = X.shape[0]
    params = W + Bs
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    active = torch.ones(B, dtype=torch.bool)
    taken = torch.zeros(B, dtype=torch.int64)
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-2
    t0 = time.perf_counter()
    for step in range(steps + 1):
        h = X
        for l in range(len(W)):
            h = torch.baddbmm(Bs[l][:, None, :], h, W[l])
            if l < len(W) - 1:
                h = torch.relu(h)
        per = torch.nn.functional.softplus(-y * h[..., 0])
        with torch.no_grad():
            done = (per < threshold).all(dim=1)
            active &= ~done
        if step == steps or not bool(active.any()):
            break
        for p in params:
            p.grad = None
        per.mean(dim=1).sum().backward()
        with torch.no_grad():
            t = step + 1
            for i, p in enumerate(params):
                g = p.grad
                if i < len(W):
                    g = g * M[i]
                a = active.view((B,) + (1,) * (p.dim() - 1))
                m1[i] = torch.where(a, b1 * m1[i] + (1 - b1) * g, m1[i])
                m2[i] = torch.where(a, b2 * m2[i] + (1 - b2) * g * g, m2[i])
                upd = (m1[i] / (1 - b1**t)) / ((m2[i] / (1 - b2**t)).sqrt() + eps)
                if i < len(W):
                    upd = upd * M[i]
                p -= torch.where(a, lr * upd, torch.zeros_like(upd))
            taken += active
    seconds = time.perf_counter() - t0
    return seconds, taken.numpy(), (per < threshold).double().mean(dim=1).numpy()


def per_step(threads, ks=(0, 10, 16, 22), B=10, steps=300, reps=3):
    """Steps per second of one batch of B networks at each k, no stopping (fixed steps):
    the toolkit's ``train`` against the PyTorch loop, interleaved, best of *reps*."""
    import torch

    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, 30, 30)) / np.sqrt(30)
    y = np.where(rng.random((B, 30)) < 0.5, -1.0, 1.0)
    rows = []
    for k in ks:
        net = MaskedMLP(30, (100, 100), B=B, seed=1, backend="numba")
        if k:
            net.set_masks(prune(net, "random", sparsity=1 - 0.8**k, seed=0))
        cell = [(net, X, y)]
        tk, th = [], []
        for _ in range(reps):
            model = net.copy()
            from noprune_theory.training import train

            t0 = time.perf_counter()
            train(model, X, y, loss="logistic", optimizer="adam", lr=1e-2, steps=steps)
            tk.append(time.perf_counter() - t0)
            th.append(torch_train(cell, steps, threshold=-1.0)[0])
        rows.append({"k": k, "B": B, "toolkit_steps_per_s": steps / min(tk),
                     "torch_steps_per_s": steps / min(th), "ratio": min(th) / min(tk)})
        print(f"k = {k:2d} (kept {0.8**k:.1%}), B = {B}: toolkit {steps / min(tk):8.0f} steps/s, "
              f"torch {steps / min(th):6.0f} steps/s, ratio {min(th) / min(tk):.1f}x", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true", help="only the training comparison")
    ap.add_argument("--skip-torch", action="store_true", help="only the toolkit's figures")
    ap.add_argument("--per-step", action="store_true",
                    help="only steps/s of one batch of 10 networks at k = 0, 10, 16, 22")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for numba and torch alike (default 1: on a shared machine "
                         "torch's spinning OpenMP threads slowed its step 20-fold)")
    args = ap.parse_args(argv)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.quick:
        args.k, args.methods, args.nets, args.steps = [16, 22], ["imp", "snip", "random"], 4, 500
    else:
        args.k, args.methods, args.nets, args.steps = list(range(10, 23, 2)), METHODS, 10, 3000
    from noprune_theory.training import MEMORIZE_THRESHOLD

    if args.per_step:
        out = {"benchmark": "memorization-per-step", "uptime_before": uptime(),
               "threads": args.threads, "rows": per_step(args.threads)}
        out["uptime_after"] = uptime()
        print("load:", out["uptime_before"], "/", out["uptime_after"])
        print(json.dumps(out))
        return

    out = {"benchmark": "memorization", "protocol": {
        "n": 30, "d": 30, "width": 100, "depth": 2, "lr": 1e-2, "steps": args.steps,
        "k": args.k, "methods": list(args.methods), "nets": args.nets, "dtype": "float64"}}
    out["uptime_before"] = uptime()
    print("load:", out["uptime_before"])
    peak = matmul_peak64()
    out["matmul_peak_gflops_f64"] = peak
    print(f"float64 matmul peak (numpy, 1024^3): {peak:.1f} GFLOP/s")
    if not args.skip_sweep:
        sweep_s, n_cells = run_sweep(args)
        out["sweep_seconds"] = sweep_s
        print(f"sweep (runner, batched, numba): {n_cells} cells in {sweep_s:.1f} s")
    t0 = time.perf_counter()
    cells = pruned_cells(args)
    out["prune_seconds"] = time.perf_counter() - t0
    print(f"pruning of {len(cells)} cells (toolkit): {out['prune_seconds']:.1f} s")
    tk_s, res = toolkit_train(cells, args.steps)
    P = sum(w.shape[1] * w.shape[2] for w in cells[0][0].weights)
    kept = np.concatenate([c[0].kept_count() for c in cells]).astype(float)
    updates = res.steps.astype(float)
    n = 30
    dense_flop = 6 * n * P * updates.sum()
    kept_flop = 6 * n * float((kept * updates).sum())
    out["toolkit"] = {"seconds": tk_s, "updates": int(updates.sum()),
                      "mean_memorized": float(res.memorized.mean()),
                      "dense_equivalent_gflops": dense_flop / tk_s / 1e9,
                      "kept_gflops": kept_flop / tk_s / 1e9}
    out["toolkit"]["fraction_of_peak_dense_equivalent"] = out["toolkit"][
        "dense_equivalent_gflops"] / peak
    print(f"toolkit train: {tk_s:.2f} s, {int(updates.sum())} network-updates "
          f"({updates.sum() / tk_s:.0f}/s), dense-equivalent {dense_flop / tk_s / 1e9:.1f} "
          f"GFLOP/s ({dense_flop / tk_s / 1e9 / peak:.0%} of peak), kept-weight "
          f"{kept_flop / tk_s / 1e9:.2f} GFLOP/s; memorized {res.memorized.mean():.3f}")
    try:
        import torch
    except ImportError:
        torch = None
        print("torch not installed: PyTorch yardstick skipped")
    if args.skip_torch:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        out["torch_threads"] = torch.get_num_threads()
        per_cell_s = 0.0
        per_cell_updates = 0
        mem = []
        for c in cells:
            s, taken, memorized = torch_train([c], args.steps, MEMORIZE_THRESHOLD)
            per_cell_s += s
            per_cell_updates += int(taken.sum())
            mem.append(memorized)
        all_s, all_taken, all_mem = torch_train(cells, args.steps, MEMORIZE_THRESHOLD)
        out["torch_per_cell"] = {"seconds": per_cell_s, "updates": per_cell_updates,
                                 "mean_memorized": float(np.concatenate(mem).mean())}
        out["torch_one_batch"] = {"seconds": all_s, "updates": int(all_taken.sum()),
                                  "mean_memorized": float(all_mem.mean())}
        out["ratio_torch_per_cell_over_toolkit"] = per_cell_s / tk_s
        out["ratio_torch_one_batch_over_toolkit"] = all_s / tk_s
        print(f"torch, one batch per cell: {per_cell_s:.2f} s ({per_cell_updates} updates, "
              f"memorized {out['torch_per_cell']['mean_memorized']:.3f}) -> "
              f"{per_cell_s / tk_s:.1f}x the toolkit's time")
        print(f"torch, one batch of {len(cells) * args.nets}: {all_s:.2f} s "
              f"({int(all_taken.sum())} updates) -> {all_s / tk_s:.1f}x the toolkit's time")
    out["uptime_after"] = uptime()
    out["numba_threads"] = numba.get_num_threads()
    print("load:", out["uptime_after"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
