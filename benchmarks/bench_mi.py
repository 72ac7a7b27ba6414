"""Benchmark: feature-wise KSG mutual information, ours against scikit-learn and a plain cKDTree
implementation, side by side in fresh processes.

For n in {1e4, 1e5, 1e6} and d in {1, 4, 16}: X has d columns, y = X[:, 0] + noise, and each
implementation estimates the d univariate values I(X_j; y) with k = 3:

- ``ours``: :func:`noprune_theory.estimators.ksg_mi_batch` (the d problems as a batch, numba
  backend: the numba strip kernel for the joint k-th neighbour distance, numba 1-D counts;
  default threads: one below 50 000 points, both cores above);
- ``sklearn``: :func:`sklearn.feature_selection.mutual_info_regression` (2 threads over
  features, joblib's threading backend; one feature runs on one core);
- ``ckdtree``: the textbook algorithm written below with ``scipy.spatial.cKDTree``
  (``workers=2``), as a plain reference.

Each measurement runs in its own process: wall time (best of ``--repeat`` for n <= 1e5) and the
peak memory of the call (resident-set growth over the process's level before the call, from
``resource.getrusage``, plus the ``tracemalloc`` peak of Python-visible allocations). Values are
compared across implementations. Combinations estimated to take longer than ``--budget``
seconds (extrapolated from the d = 1 run, linear in d) are skipped and listed.

Run: ``python benchmarks/bench_mi.py`` (about 10 minutes on 2 cores; ``--quick`` for n <= 1e5).
The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time

K = 3
IMPLEMENTATIONS = ("ours", "sklearn", "ckdtree")


def make_data(n, d, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X[:, 0] + rng.standard_normal(n)
    return X, y


def ckdtree_ksg(X, y, k=K, workers=2, seed=0):
    """Plain KSG algorithm 1 per column: scale, tiny noise, cKDTree k-NN and ball counts."""
    import numpy as np
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    rng = np.random.default_rng(seed)
    n = len(y)
    yy = (y - y.mean()) / y.std()
    yy = yy + 1e-10 * rng.standard_normal(n)
    ytree = cKDTree(yy[:, None])
    out = []
    for j in range(X.shape[1]):
        x = (X[:, j] - X[:, j].mean()) / X[:, j].std()
        x = x + 1e-10 * rng.standard_normal(n)
        joint = np.column_stack([x, yy])
        eps = cKDTree(joint).query(joint, k=[k + 1], p=np.inf, workers=workers)[0][:, 0]
        r = np.nextafter(eps, 0)
        nx = cKDTree(x[:, None]).query_ball_point(x[:, None], r, p=np.inf,
                                                  return_length=True, workers=workers) - 1
        ny = ytree.query_ball_point(yy[:, None], r, p=np.inf, return_length=True,
                                    workers=workers) - 1
        out.append(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))
    return np.array(out)


def run_impl(name, X, y):
    import numpy as np

    if name == "ours":
        from noprune_theory.estimators import ksg_mi_batch

        d = X.shape[1]
        Xb = np.ascontiguousarray(X.T)[:, :, None]
        Yb = np.broadcast_to(y[None, :, None], (d, len(y), 1))
        return np.asarray(ksg_mi_batch(Xb, Yb, k=K, backend="numba"))
    if name == "sklearn":
        from joblib import parallel_config
        from sklearn.feature_selection import mutual_info_regression

        # two threads over features (loky worker processes hang inside a spawned child here)
        with parallel_config(backend="threading", n_jobs=2):
            return mutual_info_regression(X, y, n_neighbors=K, random_state=0)
    return ckdtree_ksg(X, y)


def _child(name, n, d, repeat, queue):
    import resource
    import tracemalloc

    import numpy as np

    X, y = make_data(n, d)
    # warm up: imports, numba compilation (cached), thread pools
    Xw, yw = make_data(2000, d, seed=1)
    run_impl(name, Xw, yw)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    best = float("inf")
    value = None
    for r in range(repeat):
        if r == 0:
            tracemalloc.start()
        t0 = time.perf_counter()
        value = run_impl(name, X, y)
        best = min(best, time.perf_counter() - t0)
        if r == 0:
            traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({
        "seconds": best,
        "rss_growth_mb": max(0, peak_rss - base_rss) / 1024,
        "tracemalloc_peak_mb": traced_peak / 2 ** 20,
        "values": [float(v) for v in np.asarray(value).ravel()],
    })


def measure(name, n, d, repeat):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, n, d, repeat, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only n <= 1e5")
    parser.add_argument("--repeat", type=int, default=3, help="repeats for n <= 1e5")
    parser.add_argument("--budget", type=float, default=180.0,
                        help="skip a run estimated to take longer (seconds)")
    args = parser.parse_args(argv)

    ns = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    ds = [1, 4, 16]
    rows, skipped = [], []
    load_start = os.getloadavg()[0]
    print(f"KSG (k = {K}) feature-wise MI, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load_start:.1f} "
          f"(ratios are measured side by side; other processes slow all three)")
    print(f"{'n':>9} {'d':>3} {'impl':>8} {'seconds':>9} {'x ours':>7} {'RSS+ MB':>8} "
          f"{'traced MB':>9} {'max |diff| vs ours':>18}")
    for n in ns:
        per_d1 = {}
        for d in ds:
            results = {}
            for name in IMPLEMENTATIONS:
                if d > 1 and name in per_d1:
                    estimate = per_d1[name] * d
                    if estimate > args.budget:
                        skipped.append({"n": n, "d": d, "impl": name,
                                        "estimated_seconds": round(estimate, 1)})
                        print(f"{n:>9} {d:>3} {name:>8}   skipped: estimated {estimate:.0f} s "
                              f"> budget {args.budget:.0f} s")
                        continue
                res = measure(name, n, d, args.repeat if n <= 100_000 else 1)
                results[name] = res
                if d == 1:
                    per_d1[name] = res["seconds"]
            ours = results.get("ours")
            for name, res in results.items():
                ratio = res["seconds"] / ours["seconds"] if ours else float("nan")
                diff = (max(abs(a - b) for a, b in zip(res["values"], ours["values"]))
                        if ours else float("nan"))
                row = {"n": n, "d": d, "impl": name, "seconds": res["seconds"],
                       "time_ratio_to_ours": ratio, "rss_growth_mb": res["rss_growth_mb"],
                       "tracemalloc_peak_mb": res["tracemalloc_peak_mb"],
                       "max_abs_diff_vs_ours": diff}
                rows.append(row)
                print(f"{n:>9} {d:>3} {name:>8} {res['seconds']:>9.3f} {ratio:>7.2f} "
                      f"{res['rss_growth_mb']:>8.1f} {res['tracemalloc_peak_mb']:>9.1f} "
                      f"{diff:>18.2e}")
            sys.stdout.flush()
    speedups = {f"n={r['n']},d={r['d']}": r["time_ratio_to_ours"]
                for r in rows if r["impl"] == "sklearn"}
    print("speed-up over mutual_info_regression (its time / ours):",
          ", ".join(f"{key}: {val:.1f}x" for key, val in speedups.items()))
    summary = {
        "benchmark": "bench_mi",
        "k": K,
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "skipped": skipped,
        "speedup_vs_sklearn": speedups,
        "load_average_start_end": [load_start, os.getloadavg()[0]],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
