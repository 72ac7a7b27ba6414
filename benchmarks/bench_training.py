"""Training-step throughput of the batched masked two-layer networks.

One step = forward + backward + masked gradient-descent update of B networks, full batch, MSE,
n = 1000 points shared by all networks, d = 100, width 256, float32, masks at density 1/2.
FLOPs per network per step are counted as the matrix products only:
``2ndh`` (x W0) + ``2nh`` (a W1) + ``2nh`` (dW1) + ``2nh`` (delta W1^T) + ``2ndh`` (dW0)
= ``4ndh + 6nh`` = 104.0 MFLOP.

Printed side by side, in the same process: the numpy backend (the namespace-generic reference),
the numba backend (fused kernels, ``kernels/cpu.py``) and a plain PyTorch CPU implementation of
the same step (skipped when torch is not installed), as GFLOP/s, as a fraction of this machine's
float32 matmul peak measured in the same run (best of several numpy products of 2048^3), and as
ratios. The BLAS library and the kernel it runs are reported with threadpoolctl, and the peak is
measured again in a child process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.

Run: ``python benchmarks/bench_training.py [--quick]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

N, D, H = 1000, 100, 256
FLOP_PER_NET = 4 * N * D * H + 6 * N * H
LR = 1e-3


def best_time(fn, reps, warmup=1):
    """Smallest wall time of *reps* calls (the machine is shared: the minimum is the least
    disturbed measurement)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_peak(size=2048, reps=15):
    """float32 GFLOP/s of numpy's ``a @ b`` for square matrices, best of *reps* products.

    The main run samples this before and after every batch size and keeps the maximum: on a
    shared machine a single sample can fall in a busy moment and understate the peak (which
    would overstate every "fraction of peak")."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    t = best_time(lambda: a @ b, reps)
    return 2 * size**3 / t / 1e9


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {
            k: v
            for k, v in i.items()
            if k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")
        }
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]


def peak_without_coretype():
    """The matmul peak and BLAS kernel in a child process without OPENBLAS_CORETYPE/L2_SIZE."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import bench_training as b; "
        "print(json.dumps({'peak': b.matmul_peak(), 'blas': b.blas_info()}))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:  # report, do not fail the benchmark
        return {"error": str(exc)}


def make_problem(B, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((N, D)) / np.sqrt(D)).astype(np.float32)
    y = np.sign(rng.standard_normal(N)).astype(np.float32)
    masks = [rng.random((B, D, H)) < 0.5, rng.random((B, H, 1)) < 0.5]
    return X, y, masks


def ours_step(backend, B):
    """A closure running one step of our trainer's inner loop (no Python-side checks)."""
    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import _Updater

    X, y, masks = make_problem(B)
    model = MaskedMLP(D, (H,), 1, B=B, dtype="float32", backend=backend, seed=0)
    model.set_masks(masks)
    Xa, t = model._prepare_X(X), model._prepare_y(y, N, "mse")
    kernels = "cpu" if backend == "numba" else "xp"
    updater = _Updater(model, "gd", kernels, 0.9, 0.999, 1e-8)
    lr = np.full(B, LR, dtype=np.float32)

    def step():
        _, _, wg, bg = model._loss_grad(Xa, t, "mse")
        updater.step(wg, bg, lr)

    return step, model


def torch_step(B):
    import torch

    torch.manual_seed(0)
    X, y, masks = make_problem(B)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).view(1, N, 1)
    M0, M1 = (torch.from_numpy(m.astype(np.float32)) for m in masks)
    W0 = (torch.randn(B, D, H) * (2.0 / D) ** 0.5 * M0).requires_grad_()
    W1 = (torch.randn(B, H, 1) * (1.0 / H) ** 0.5 * M1).requires_grad_()
    b0 = torch.zeros(B, 1, H, requires_grad=True)
    b1 = torch.zeros(B, 1, 1, requires_grad=True)

    def step():
        f = torch.relu(torch.matmul(Xt, W0) + b0) @ W1 + b1
        loss = ((f - yt) ** 2).mean(dim=(1, 2)).sum()
        loss.backward()
        with torch.no_grad():
            W0.sub_(LR * W0.grad * M0)
            W1.sub_(LR * W1.grad * M1)
            b0.sub_(LR * b0.grad)
            b1.sub_(LR * b1.grad)
            for p in (W0, W1, b0, b1):
                p.grad = None

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B in {1, 64} only, fewer reps")
    args = parser.parse_args(argv)
    sizes = (1, 64) if args.quick else (1, 64, 512)

    load_start = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}, "
        f"load average {load_start[0]:.2f}"
    )
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')!r}"
    )
    blas = blas_info()
    for i in blas:
        print(f"BLAS: {i}")
    peak_samples = [matmul_peak()]
    print(f"float32 matmul peak (numpy, 2048^3, best of 15): {peak_samples[0]:.1f} GFLOP/s "
          "(sampled again between the sizes; the maximum is used)")
    alt = peak_without_coretype()
    if "peak" in alt:
        print(
            f"  same without OPENBLAS_CORETYPE/L2_SIZE: {alt['peak']:.1f} GFLOP/s, "
            f"kernel {[i.get('architecture') for i in alt['blas']]}"
        )
    else:
        print(f"  without OPENBLAS_CORETYPE: not measured ({alt.get('error')})")

    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        have_torch = True
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        have_torch = False
        print("torch not installed: the PyTorch reference is skipped (pip install torch==2.13.0)")

    print(
        f"\nstep = forward + backward + masked GD update; n={N}, d={D}, width={H}, float32; "
        f"{FLOP_PER_NET / 1e6:.1f} MFLOP per network"
    )
    header = f"{'B':>5} {'impl':>7} {'ms/step':>10} {'GFLOP/s':>9} {'of peak':>8} {'vs torch':>9}"
    results = {}
    rows = {}
    for B in sizes:
        reps = {1: 20, 64: 3, 512: 2}[B] if not args.quick else {1: 10, 64: 2}[B]
        impls = {"numba": ours_step("numba", B)[0], "numpy": ours_step("numpy", B)[0]}
        if have_torch:
            impls["torch"] = torch_step(B)
        for step in impls.values():
            step()  # warm-up: compilation, buffers, page faults
        # two rounds of consecutive blocks (A..A B..B C..C, twice), best per implementation:
        # the rounds spread every implementation over the run's changing load, and the blocks
        # keep one library's idle thread pool (torch's OpenMP threads spin for a while after
        # each call) from slowing the next library's first calls, which step-by-step
        # interleaving did (B = 1: 7.4 ms instead of 0.63 ms for the numba step)
        row = {name: float("inf") for name in impls}
        for _ in range(2):
            for name, step in impls.items():
                block = reps if not (name == "numpy" and B == 512) else 1
                for _ in range(block):
                    t0 = time.perf_counter()
                    step()
                    row[name] = min(row[name], time.perf_counter() - t0)
        del impls
        rows[B] = row
        peak_samples.append(matmul_peak())
    peak = max(peak_samples)
    print(f"float32 matmul peak, maximum of {len(peak_samples)} samples: {peak:.1f} GFLOP/s "
          f"(samples: {', '.join(f'{p:.0f}' for p in peak_samples)})")
    print(header)
    for B, row in rows.items():
        for name, t in row.items():
            gflops = B * FLOP_PER_NET / t / 1e9
            vs = f"{row['torch'] / t:8.2f}x" if "torch" in row else "      n/a"
            print(f"{B:>5} {name:>7} {t * 1e3:>10.2f} {gflops:>9.1f} {gflops / peak:>8.2f} {vs}")
        results[str(B)] = {
            name: {
                "seconds_per_step": t,
                "gflops": B * FLOP_PER_NET / t / 1e9,
                "fraction_of_peak": B * FLOP_PER_NET / t / 1e9 / peak,
                "speedup_vs_torch": (row["torch"] / t) if "torch" in row else None,
            }
            for name, t in row.items()
        }
    load_end = os.getloadavg()
    print(
        f"load average at the end: {load_end[0]:.2f} (above ~1 another process shared the "
        "cores and the figures are pessimistic)"
    )
    summary = {
        "load_average_start": load_start[0],
        "load_average_end": load_end[0],
        "benchmark": "bench_training",
        "n": N,
        "d": D,
        "width": H,
        "dtype": "float32",
        "flop_per_network_step": FLOP_PER_NET,
        "matmul_peak_gflops": peak,
        "matmul_peak_samples": peak_samples,
        "matmul_peak_gflops_without_coretype": alt.get("peak"),
        "blas": blas,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "results": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
