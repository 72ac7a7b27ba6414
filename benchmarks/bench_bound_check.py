"""One slice of the bound_check ``theorem`` preset: CPU time per phase and peak memory.

Runs the cells of the ``theorem`` preset at one (n, d, sparsity) for the given methods and one
seed through :func:`noprune_theory.sims.bound_check.cells_batch` (what the runner runs for a
batch), in this process, and prints per cell: training steps, whether it fits, and the CPU
seconds of pruning (IMP and magnitude after training train inside it), training, the McShane
floor, the Lipschitz lower and upper bounds; then the slice's wall and CPU time, the peak
resident memory of the process (``ru_maxrss``), the flop count of the training steps (``6 n P``
per step, P the dense weights of the network: what the batched array products perform) and
the rate it implies, and ``uptime`` (the machine may be shared). The last line is one JSON
object.

Run: ``python benchmarks/bench_bound_check.py --n 16384 --d 64 --sparsity 0.5
[--methods random,snip] [--threads 1]``. Set ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` (or
``--threads``) before NumPy loads: the thread count of the BLAS is fixed at import.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--methods", default="random,synflow,snip,magnitude_after_training,imp")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (sets OMP/OPENBLAS/MKL_NUM_THREADS before NumPy)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the preset (as `sim --set`)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    from noprune_theory.sims import bound_check as bc
    from noprune_theory.sims import get_simulation, resolve_config

    sim = get_simulation("bound_check")
    sets = [f"n={args.n}", f"d={args.d}", f"sparsity={args.sparsity}",
            f"method=[{args.methods}]", *args.set]
    cfg = resolve_config(sim, preset="theorem", sets=sets, backend="numpy")
    items = [(dict(point, backend="numpy"), args.seed) for _, point, _ in cfg.cells()]
    setting = bc.theorem_setting(items[0][0])
    wall, cpu = time.perf_counter(), time.process_time()
    values = bc.cells_batch(items)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dense = (args.d + 1) * setting["width"]
    steps = sum(sum(v["train_steps"]) for v in values)
    train_cpu = sum(v["cpu_seconds_train"] for v in values)
    print(f"n = {args.n}, d = {args.d}, sparsity = {args.sparsity}: eps = {setting['eps']:.4f}, "
          f"width = {setting['width']}, kept target = {setting['kept_target']:.0f}")
    cells = []
    for (config, _), v in zip(items, values):
        row = {"method": config["method"], "steps": v["train_steps"], "fits": v["fits"],
               "mse": [round(m, 4) for m in v["mse"]],
               **{k: round(v[f"cpu_seconds_{k}"], 2)
                  for k in ("prune", "train", "floor", "lower", "upper")}}
        cells.append(row)
        print("  " + "  ".join(f"{k} {val}" for k, val in row.items()))
    gflop = 6.0 * args.n * dense * steps / 1e9
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"slice: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak_mib:.0f} MiB; final "
          f"trainings {steps} steps = {gflop:.0f} GFLOP dense-equivalent in {train_cpu:.1f} s "
          f"CPU ({gflop / max(train_cpu, 1e-9):.1f} GFLOP/s)")
    print(f"uptime: {uptime}")
    print(json.dumps({"n": args.n, "d": args.d, "sparsity": args.sparsity,
                      "eps": setting["eps"], "width": setting["width"], "wall_s": wall,
                      "cpu_s": cpu, "peak_rss_mib": peak_mib, "train_gflop": gflop,
                      "train_cpu_s": train_cpu, "cells": cells, "uptime": uptime,
                      "threads": os.environ.get("OPENBLAS_NUM_THREADS")}))


if __name__ == "__main__":
    sys.exit(main())
