"""The runner's batched path: cells of one group trained as one batch store the records of the
cell-by-cell path, split by the memory budget, and resume per cell."""
import numpy as np
import pytest

from noprune_theory.sims import (
    get_simulation,
    load_results,
    memorization,
    resolve_config,
    run_simulation,
)
from noprune_theory.sims._runner import plan_batches

# dense (k = 0), half-dense (k = 3: 51% kept, the step loop) and sparse (k = 10: 11% kept, the
# whole-run kernel) cells; the data-dependent methods train inside pruning too
GRID = ["method=random,snip,magnitude_after_training,imp", "k=0,3,10", "n=12", "d=6",
        "width=16", "steps=300", "nets=3", "synflow_iterations=5"]


def _values(folder):
    table = load_results(folder)
    return {(r["method"], r["k"], r["seed"]): {k: r[k] for k in (
        "memorized", "all_memorized", "train_steps", "final_loss", "kept_weights", "diverged")}
        for r in table.to_dict("records")}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_batched_run_stores_the_records_of_the_cell_by_cell_run(tmp_path, backend, monkeypatch):
    """Exactly, with every hidden unit trained: train() drops units that no network of a batch
    routes to an output, and the union over a batch differs from a cell's own, which changes
    the rounding (test_dead_units_change_batched_records_by_rounding_only)."""
    import noprune_theory.training as training

    monkeypatch.setattr(training, "DEAD_UNIT_FRACTION", 2.0)
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


def test_dead_units_change_batched_records_by_rounding_only(tmp_path):
    """With dead units dropped (the default) a network trains in a batch with the live units
    of all its batch-mates, alone with its own: its numbers then agree to rounding."""
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=GRID, seeds=2, backend="numpy")
    one = _values(run_simulation(cfg, out=tmp_path / "cells", progress=False,
                                 batch=False).folder)
    both = _values(run_simulation(cfg, out=tmp_path / "batch", progress=False,
                                  memory_budget=1).folder)
    assert one.keys() == both.keys()
    for key, a in one.items():
        b = both[key]
        assert a["kept_weights"] == b["kept_weights"] and a["train_steps"] == b["train_steps"]
        np.testing.assert_allclose(b["final_loss"], a["final_loss"], rtol=1e-9, atol=1e-15)


def test_batches_follow_groups_and_the_memory_budget():
    sim = get_simulation("memorization")
    grid = [s for s in GRID if not s.startswith("width=")] + ["width=16,20"]
    cfg = resolve_config(sim, sets=grid, seeds=2)
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


@pytest.mark.parametrize("method, options", [
    ("imp", {"loss": "logistic", "fraction": 0.2,
             "train_options": {"optimizer": "adam", "lr": 0.01, "steps": 150,
                               "stop_when_memorized": True}}),
    ("imp", {"loss": "mse", "fraction": 0.3, "rewind_step": 5,
             "train_options": {"optimizer": "gd", "lr": 0.05, "steps": 40}}),
    # the rewind point trains exactly rewind_step steps: the rounds' stop rule must not leak in
    ("imp", {"loss": "logistic", "rewind_step": 60,
             "train_options": {"optimizer": "adam", "lr": 0.05, "steps": 150,
                               "stop_when_memorized": True}}),
    ("magnitude_after_training", {"loss": "logistic",
                                  "train_options": {"optimizer": "adam", "steps": 100}}),
    ("snip", {"loss": "logistic"}),
    ("grasp", {"loss": "logistic"}),
    ("random", {}),
    ("synflow", {"iterations": 5}),
])
def test_prune_at_sparsities_equals_prune_at_each(method, options, monkeypatch):
    """One preparation per initialization (an IMP trajectory to the largest target, one set of
    scores) gives exactly prune()'s masks at every target, including targets that are not a
    whole number of IMP rounds; and it is really shared (no per-target prune() call)."""
    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import _methods, prune
    from noprune_theory.pruning._methods import prune_at_sparsities

    calls = []

    def counting_prune(*args, **kwargs):
        calls.append(args)
        return prune(*args, **kwargs)

    monkeypatch.setattr(_methods, "prune", counting_prune)

    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 10, 5))
    y = np.where(rng.random((3, 10)) < 0.5, -1.0, 1.0)
    net = MaskedMLP(5, (12, 12), B=3, seed=6, backend="numba")
    sparsities = [1 - 0.8**k for k in (1, 4, 2, 7)] + [0.5, 0.0]
    many = prune_at_sparsities(net, method, sparsities, data=(X, y), seed=3, **options)
    assert len(many) == len(sparsities)
    assert len(calls) == (len(sparsities) if method == "synflow" else 0)
    for s, masks in zip(sparsities, many):
        one = prune(net, method, s, data=(X, y), seed=3, **options)
        for a, b in zip(masks, one):
            np.testing.assert_array_equal(a, b)


def test_shuffle_ablation_batched_equals_cell_by_cell(tmp_path):
    sim = get_simulation("shuffle_ablation")
    cfg = resolve_config(sim, sets=["method=random,magnitude,imp", "k=3,10", "n=10", "d=5",
                                    "width=12", "steps=200", "nets=2"], seeds=2,
                         backend="numba")
    one = run_simulation(cfg, out=tmp_path / "cells", progress=False, batch=False)
    both = run_simulation(cfg, out=tmp_path / "batch", progress=False, memory_budget=1)
    assert one.computed == both.computed == 12
    keys = [k for k in load_results(one.folder).columns
            if k.startswith(("memorized_", "loss_", "steps_", "effective_"))]
    assert len(keys) == 15

    def values(folder):
        return {(r["method"], r["k"], r["seed"]): tuple(r[k] for k in keys)
                for r in load_results(folder).to_dict("records")}

    assert values(one.folder) == values(both.folder)


def test_cli_memory_budget_option(tmp_path, capsys):
    from noprune_theory.cli import main

    with pytest.raises(SystemExit) as info:
        main(["sim", "memorization", "--memory-budget", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and err[0].startswith("Error:")
    assert "memory-budget" in err[0]
    with pytest.raises(SystemExit) as info:
        main(["sim", "memorization", "--memory-budget", "64", "--dry-run", "--out",
              str(tmp_path)])
    assert info.value.code == 0


def test_batches_run_as_dask_tasks_with_the_same_records(tmp_path):
    """With a Dask client every batch is one task; the records are the in-process ones."""
    import json

    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=["method=random,snip", "k=0,10", "n=12", "d=6", "width=16",
                                    "steps=200", "nets=3"], seeds=2, backend="numba")
    local = run_simulation(cfg, out=tmp_path / "local", progress=False, memory_budget=1)
    dask = run_simulation(cfg, out=tmp_path / "dask", workers=2, progress=False,
                          memory_budget=1)
    assert local.computed == dask.computed == 8
    assert _values(local.folder) == _values(dask.folder)
    workers = {json.loads(p.read_text())["meta"]["worker"]
               for p in (dask.folder / "cells").glob("*.json")}
    assert all(w.startswith("tcp://") for w in workers)


def test_a_module_whose_seeds_cannot_share_a_training_gets_one_batch_per_seed():
    # digits_memorization trains each seed with its own minibatch order: a batch across seeds
    # would hold every cell of a long run until the last seed finished
    from types import SimpleNamespace

    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=GRID, seeds=3)
    todo = list(cfg.cells())
    shared = plan_batches(memorization, todo, 10**6)
    assert len(shared) == 1 and len({s for _, _, s in shared[0]}) == 3
    per_seed = SimpleNamespace(group_key=memorization.group_key,
                               network_bytes=memorization.network_bytes,
                               network_count=memorization.network_count, BATCH_SEEDS=False)
    batches = plan_batches(per_seed, todo, 10**6)
    assert sorted(len({s for _, _, s in b}) for b in batches) == [1, 1, 1]
    assert sorted(k for b in batches for k, _, _ in b) == sorted(k for k, _, _ in todo)
    from noprune_theory.sims import digits_memorization
    assert digits_memorization.BATCH_SEEDS is False
