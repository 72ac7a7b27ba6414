"""Cold-start cost of the command line against a bare ``import sympy``.

Each repetition runs, in fresh subprocesses and in a rotating order (so that no command always
follows the same one), the reference ``python -c "import sympy"``, ``noprune-theory --help``,
and ``noprune-theory bound --n 1e4 --d 100`` three ways: as installed (the generated code
shipped with the package, empty user cache: any run, the first included), from the user cache
with the shipped module ignored (``NOPRUNE_THEORY_SHIPPED=0``, cache filled), and generating the
code with sympy (shipped module ignored, empty cache: the first run after a formula was edited).
Medians and ratios to the reference are printed; the last line is one JSON object.

Targets (issue 2): ``--help`` imports no sympy; ``bound`` costs at most 1.5x a bare
``import sympy``.

    python benchmarks/bench_cold_start.py [--reps 15]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli():
    script = Path(sys.executable).with_name("noprune-theory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "noprune_theory"]


def _timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _imports_sympy(argv, env):
    code = ("import sys\nfrom noprune_theory.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(str('sympy' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return out.stderr.strip().endswith("True")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()

    cli = _cli()
    warm_dir = tempfile.mkdtemp(prefix="noprune-bench-warm-")
    empty_dir = tempfile.mkdtemp(prefix="noprune-bench-empty-")
    warm_env = dict(os.environ, NOPRUNE_THEORY_CACHE_DIR=warm_dir, NOPRUNE_THEORY_SHIPPED="0")
    installed_env = dict(os.environ, NOPRUNE_THEORY_CACHE_DIR=empty_dir)
    bound = ["bound", "--n", "1e4", "--d", "100"]
    subprocess.run(cli + bound, env=warm_env, check=True, stdout=subprocess.DEVNULL)  # fill cache

    cases = {
        "import_sympy": ([sys.executable, "-c", "import sympy"], None),
        "help": (cli + ["--help"], installed_env),
        "bound": (cli + bound, installed_env),
        "bound_user_cache": (cli + bound, warm_env),
        "bound_generate": (cli + bound, "cold"),
    }
    times = {name: [] for name in cases}
    names = list(cases)
    try:
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                cmd, env = cases[name]
                if env == "cold":
                    cold_dir = tempfile.mkdtemp(prefix="noprune-bench-cold-")
                    env = dict(os.environ, NOPRUNE_THEORY_CACHE_DIR=cold_dir,
                               NOPRUNE_THEORY_SHIPPED="0")
                    times[name].append(_timed(cmd, env))
                    shutil.rmtree(cold_dir, ignore_errors=True)
                else:
                    times[name].append(_timed(cmd, env or dict(os.environ)))
        help_sympy = _imports_sympy(["--help"], installed_env)
        bound_sympy = _imports_sympy(bound, installed_env)
        assert not os.listdir(empty_dir), "the installed path wrote a cache file"
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
        shutil.rmtree(empty_dir, ignore_errors=True)

    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = {name: med[name] / med["import_sympy"] for name in med}
    print(f"cold start, median of {args.reps} alternating runs ({' '.join(cli)}):")
    for name in names:
        print(f"  {name:<18} {med[name] * 1e3:8.1f} ms   {ratio[name]:5.2f}x import sympy")
    print(f"  --help imports sympy: {help_sympy};  bound imports sympy: {bound_sympy}")
    meets = ratio["bound"] <= 1.5 and not help_sympy
    print(f"  target (bound <= 1.5x import sympy, --help without sympy): "
          f"{'met' if meets else 'NOT met'}")
    print(json.dumps({
        "benchmark": "cold_start", "reps": args.reps,
        "median_ms": {k: round(v * 1e3, 1) for k, v in med.items()},
        "ratio_vs_import_sympy": {k: round(v, 3) for k, v in ratio.items()},
        "help_imports_sympy": help_sympy, "bound_imports_sympy": bound_sympy,
        "target_bound_ratio": 1.5, "meets_target": meets,
    }))


if __name__ == "__main__":
    main()
