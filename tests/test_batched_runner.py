"""The runner's batched path: cells of one group trained as one batch store the records of the
cell-by-cell path, split by the memory budget, and resume per cell."""
import numpy as np
import pytest

from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.sims import memorization
from noprune_theory.sims._runner import plan_batches

# dense (k = 0), half-dense (k = 3: 51% kept, the step loop) and sparse (k = 10: 11% kept, the
# whole-run kernel) cells; the data-dependent methods train inside pruning too
GRID = ["method=random,snip,magnitude_after_training,imp", "k=0,3,10", "n=12", "d=6",
        "width=16", "steps=300", "nets=3", "synflow_iterations=5"]


def _values(folder):
    table = load_results(folder)
    return {(r["method"], r["k"], r["seed"]): {k: r[k] for k in (
        "memorized", "all_memorized", "train_steps", "final_loss", "kept_weights", "diverged")}
        for r in table}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_batched_run_stores_the_records_of_the_cell_by_cell_run(tmp_path, backend):
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=GRID, seeds=2, backend=backend)
    one = run_simulation(cfg, out=tmp_path / "cells", progress=False, batch=False)
    seen = []
    both = run_simulation(cfg, out=tmp_path / "batch", progress=False, memory_budget=1,
                          on_record=seen.append)
    assert one.computed == both.computed == 24
    a, b = _values(one.folder), _values(both.folder)
    assert a == b  # exactly, every value of every cell
    # the steps differ between cells: the comparison covers real training, not a constant
    assert len({v["train_steps"] for v in a.values()}) > 5
    assert {r["meta"]["backend"] for r in seen} == {backend}


def test_batches_follow_groups_and_the_memory_budget():
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=GRID + ["width=16,20"], seeds=2)
    todo = list(cfg.cells())
    per_cell = memorization.network_bytes(todo[0][1]) * 3
    budget_mib = 1
    batches = plan_batches(memorization, todo, budget_mib)
    # two widths: two groups, never mixed in a batch
    for batch in batches:
        assert len({p["width"] for _, p, _ in batch}) == 1
        need = sum(memorization.network_bytes(p) * 3 for _, p, _ in batch)
        assert need <= budget_mib * 2**20 or len(batch) == 1
    assert sorted(k for batch in batches for k, _, _ in batch) == sorted(k for k, _, _ in todo)
    assert max(len(b) for b in batches) == min(24, 2**20 // per_cell)
    # a budget smaller than one cell still makes progress, one cell per batch
    tiny = plan_batches(memorization, todo, 1) if per_cell > 2**20 else None
    assert tiny is None or all(len(b) == 1 for b in tiny)


def test_batched_run_resumes_per_cell(tmp_path):
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=GRID[:1] + ["k=0,10"] + GRID[2:], seeds=1, backend="numba")
    first = run_simulation(cfg, out=tmp_path, progress=False)
    before = _values(first.folder)
    files = sorted((first.folder / "cells").glob("*.json"))
    assert len(files) == 8
    for f in files[:3]:
        f.unlink()
    again = run_simulation(cfg, out=tmp_path, progress=False)
    assert (again.skipped, again.computed) == (5, 3)
    assert _values(again.folder) == before


def test_memory_budget_is_checked():
    sim = get_simulation("memorization")
    with pytest.raises(ValueError, match="memory_budget must be"):
        resolve_config(sim, memory_budget=0)
    cfg = resolve_config(sim, sets=GRID, seeds=1)
    with pytest.raises(ValueError, match="memory_budget must be"):
        run_simulation(cfg, memory_budget=-3, progress=False)
    # the budget splits work, it never changes what is computed: not part of the hash
    assert resolve_config(sim, sets=GRID, memory_budget=7).hash == cfg.hash
    assert np.isfinite(cfg.seeds)
