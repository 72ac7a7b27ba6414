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

``--large`` measures instead the shape of the bound_check ``theorem`` preset (issue 13): one dense
network, n = 65,536 points, d = 16, width 2048, full-batch Adam, MSE, in float64 and float32:
the peak resident memory of a 3-step ``train`` (``ru_maxrss`` of a child process per
measurement, beside the child's memory before training) and seconds per step (one step of the
step loop timed alone, best of three), with the default memory budget and with
``memory_budget=256`` MiB. ``--crossover`` prints seconds per step of the whole-run
kernel against the step loop over n, width and density (the measurements behind the cost rule
of ``training._whole_run_pays``). ``--dead-units`` prints seconds per step and peak memory of
``train`` with the hidden units that reach no output dropped (the default) and with every unit
trained, for masks of the theorem preset's shapes. ``--shrink`` times a memorization-like
batch of 400 networks on the step loop with the stopped networks leaving the batch and without.
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
    Xa, t = model.prepare_inputs(X), model.prepare_targets(y, N, "mse")
    kernels = "cpu" if backend == "numba" else "xp"
    updater = _Updater(model, "gd", kernels, 0.9, 0.999, 1e-8)
    lr = np.full(B, LR, dtype=np.float32)

    def step():
        _, _, wg, bg = model.loss_and_gradients(Xa, t, "mse")
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


_LARGE_CHILD = """
import json, resource, sys, time
import numpy as np
from noprune_theory.models import MaskedMLP
from noprune_theory.training import _Updater, _budget_bytes, train
n, d, h, dtype, budget, steps = {n}, {d}, {h}, {dtype!r}, {budget}, {steps}
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d)) / np.sqrt(d)
y = rng.standard_normal(n)
net = MaskedMLP(d, (h,), B=1, dtype=dtype, backend="numba", seed=0)
train(MaskedMLP(d, (8,), B=1, dtype=dtype, backend="numba"), X[:64], y[:64], loss="mse",
      optimizer="adam", steps=1)  # compile outside the measurement
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
train(net, X, y, loss="mse", optimizer="adam", lr=1e-3, steps=steps, memory_budget=budget)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# seconds per step: the step loop's step (loss and gradient, then the Adam update), timed one
# by one, best of three (the machine is shared)
Xa, t = net.prepare_inputs(X), net.prepare_targets(y, n, "mse")
rows = max(1, int(_budget_bytes(net, budget) // net.work_bytes_per_point(fused=True)))
upd = _Updater(net, "adam", "cpu", 0.9, 0.999, 1e-8)
lr = np.full(1, 1e-3, dtype=net.array_dtype)
times = []
for _ in range(3):
    t0 = time.perf_counter()
    per, f, wg, bg = net.loss_and_gradients(Xa, t, "mse", rows=rows)
    upd.step(wg, bg, lr)
    times.append(time.perf_counter() - t0)
print(json.dumps({{"seconds_per_step": min(times), "rows_per_slice": min(rows, n),
                  "maxrss_before_mib": before / 1024, "maxrss_peak_mib": peak / 1024}}))
"""


def large(n=65536, d=16, h=2048, steps=3):
    """Seconds per step and peak memory at the theorem preset's largest shape (children)."""
    rows = []
    for dtype in ("float64", "float32"):
        for budget in (None, 256):
            code = _LARGE_CHILD.format(n=n, d=d, h=h, dtype=dtype, budget=budget, steps=steps)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 timeout=3600, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r.update(dtype=dtype, memory_budget_mib=budget)
            buf = n * h * (4 if dtype == "float32" else 8) / 2**20
            print(f"n={n} d={d} width={h} B=1 {dtype:>8} memory_budget={str(budget):>5} MiB: "
                  f"{r['seconds_per_step']:.2f} s/step ({r['rows_per_slice']} points per "
                  f"slice), peak RSS {r['maxrss_peak_mib']:.0f} MiB "
                  f"(before training {r['maxrss_before_mib']:.0f} MiB; one (n, h) buffer "
                  f"{buf:.0f} MiB)", flush=True)
            rows.append(r)
    print(json.dumps({"benchmark": "bench_training --large", "n": n, "d": d, "width": h,
                      "B": 1, "load_average": os.getloadavg()[0], "results": rows}))


def crossover(cases=None):
    """Seconds per step, whole-run kernel against the step loop (numba backend, Adam, MSE).

    Each figure is the difference of two runs of different lengths divided by the extra
    steps (setup and compilation cancel), the best of two repetitions.
    """
    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import train

    cases = cases or [
        # n, d, width, B, density, dtype, short run, long run
        (2048, 16, 256, 2, 0.5, "float64", 2, 12),
        (2048, 16, 256, 2, 0.1, "float64", 2, 22),
        (4096, 16, 1024, 1, 0.5, "float64", 1, 4),
        (8192, 64, 1024, 1, 0.3, "float32", 1, 4),
        (16384, 16, 1024, 1, 0.5, "float64", 1, 4),
        (16384, 16, 1024, 1, 0.1, "float64", 1, 6),
        (16384, 16, 1024, 1, 0.02, "float64", 1, 11),
        (16384, 64, 1024, 1, 0.1, "float64", 1, 4),
        (16384, 256, 512, 1, 0.1, "float64", 1, 4),
        (65536, 16, 2048, 1, 0.5, "float32", 1, 2),
        (65536, 16, 2048, 1, 0.1, "float32", 1, 2),
    ]

    def timed(kernels, net, X, y, steps):
        t0 = time.perf_counter()
        train(net.copy(), X, y, loss="mse", optimizer="adam", lr=1e-4, steps=steps,
              kernels=kernels)
        return time.perf_counter() - t0

    out = []
    for n, d, h, B, p, dtype, s1, s2 in cases:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, d)) / np.sqrt(d)
        y = np.sign(rng.standard_normal(n))
        net = MaskedMLP(d, (h,), B=B, dtype=dtype, backend="numba", seed=0)
        net.set_masks([rng.random(w.shape) < p for w in net.weights])
        row = {"n": n, "d": d, "width": h, "B": B, "density": p, "dtype": dtype}
        for kernels in ("fused", "cpu"):
            timed(kernels, net, X[:64], y[:64], 1)  # compile
            a = min(timed(kernels, net, X, y, s1) for _ in range(2))
            b = min(timed(kernels, net, X, y, s2) for _ in range(2))
            row[kernels] = (b - a) / (s2 - s1)
        print(f"n={n:>6} d={d:>4} width={h:>5} B={B} density={p:<5} {dtype}: whole-run "
              f"{row['fused'] * 1e3:9.1f} ms/step, step loop {row['cpu'] * 1e3:9.1f} ms/step, "
              f"ratio {row['cpu'] / row['fused']:.2f}", flush=True)
        out.append(row)
    print(json.dumps({"benchmark": "bench_training --crossover",
                      "load_average": os.getloadavg()[0], "results": out}))


def dead_units(cases=None, steps=(2, 12)):
    """Seconds per step of train() with the dead units dropped (the default) and with every
    unit trained (``training.DEAD_UNIT_FRACTION`` above 1), and peak memory of each (children).

    Random and SynFlow masks of the bound_check ``theorem`` preset's shapes at
    n = 16,384 (numba backend, float32, Adam, MSE, no target). Each figure is the difference of
    a long and a short run divided by the extra steps, the best of two.
    """
    cases = cases or [
        # n, d, width, sparsity, method
        (16384, 64, 945, 0.75, "random"),
        (16384, 64, 473, 0.5, "random"),
        (16384, 256, 239, 0.75, "random"),
        (16384, 64, 945, 0.75, "synflow"),
    ]
    out = []
    for n, d, h, sparsity, method in cases:
        row = {"n": n, "d": d, "width": h, "sparsity": sparsity, "method": method}
        for label, fraction in (("dropped", None), ("all", 2.0)):
            code = _DEAD_CHILD.format(n=n, d=d, h=h, sparsity=sparsity, method=method,
                                      fraction=fraction, s1=steps[0], s2=steps[1])
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 timeout=3600, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            row[label] = r["seconds_per_step"]
            row[label + "_peak_mib"] = r["maxrss_mib"]
            row["live_units"] = r["live_units"]
        print(f"n={n} d={d:>4} width={h:>5} {method:>9} s={sparsity}: live units "
              f"{row['live_units']:>5}; dead units dropped {row['dropped'] * 1e3:8.1f} ms/step "
              f"(peak {row['dropped_peak_mib']:.0f} MiB), all units {row['all'] * 1e3:8.1f} "
              f"ms/step (peak {row['all_peak_mib']:.0f} MiB): {row['all'] / row['dropped']:.2f}x",
              flush=True)
        out.append(row)
    print(json.dumps({"benchmark": "bench_training --dead-units",
                      "load_average": os.getloadavg()[0], "results": out}))


_DEAD_CHILD = """
import json, resource, time
import numpy as np
import noprune_theory.training as training
from noprune_theory.models import MaskedTwoLayer
from noprune_theory.pruning import prune
if {fraction} is not None:
    training.DEAD_UNIT_FRACTION = {fraction}
rng = np.random.default_rng(0)
X = (rng.standard_normal(({n}, {d})) / np.sqrt({d})).astype(np.float32)
y = np.sign(rng.standard_normal({n}))
net = MaskedTwoLayer({d}, {h}, dtype="float32", backend="numba", seed=0)
net.set_masks(prune(net, "{method}", sparsity={sparsity}, seed=0))
live = int(net.live_units()[0].sum())
def timed(steps):
    t0 = time.perf_counter()
    training.train(net.copy(), X, y, loss="mse", optimizer="adam", lr=1e-3, steps=steps)
    return time.perf_counter() - t0
timed(1)
a = min(timed({s1}) for _ in range(2))
b = min(timed({s2}) for _ in range(2))
print(json.dumps({{"seconds_per_step": (b - a) / ({s2} - {s1}), "live_units": live,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def shrink(B=400, steps=5000):
    """Seconds of a memorization-like training of B networks on the step loop (numpy backend),
    with the stopped networks leaving the batch (the default) and with every network computed
    until the last one stops (``training.SHRINK_MIN_BATCH`` above B), in this process."""
    import noprune_theory.training as training
    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune

    rng = np.random.default_rng(0)
    n, d = 30, 30
    X, y = rng.standard_normal((n, d)), np.sign(rng.standard_normal(n))
    net = MaskedMLP(d, (32, 32), B=B, seed=0, backend="numpy", init="torch")
    net.set_masks(prune(net, "magnitude", 0.8, seed=0))
    out = {}
    default = training.SHRINK_MIN_BATCH
    for label, min_batch in (("shrinking", default), ("whole batch", 10**9)):
        training.SHRINK_MIN_BATCH = min_batch
        t0 = time.perf_counter()
        r = training.train(net.copy(), X, y, loss="logistic", optimizer="adam", lr=1e-2,
                           steps=steps, stop_when_memorized=True)
        out[label] = time.perf_counter() - t0
        print(f"B={B} n={n} d={d} widths (32, 32) density 0.2, numpy step loop, {label}: "
              f"{out[label]:.1f} s (steps: mean {r.steps.mean():.0f}, max {r.steps.max()})",
              flush=True)
    training.SHRINK_MIN_BATCH = default
    print(json.dumps({"benchmark": "bench_training --shrink", "B": B, "seconds": out,
                      "ratio": out["whole batch"] / out["shrinking"],
                      "load_average": os.getloadavg()[0]}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B in {1, 64} only, fewer reps")
    parser.add_argument("--large", action="store_true",
                        help="time and peak memory at n = 65,536, d = 16, width 2048")
    parser.add_argument("--crossover", action="store_true",
                        help="whole-run kernel against the step loop over n, width, density")
    parser.add_argument("--dead-units", action="store_true",
                        help="train() with dead units dropped against every unit trained")
    parser.add_argument("--shrink", action="store_true",
                        help="the step loop with stopped networks leaving the batch, and without")
    args = parser.parse_args(argv)
    if args.shrink:
        return shrink()
    if args.dead_units:
        return dead_units()
    if args.large:
        return large()
    if args.crossover:
        return crossover()
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
