"""The memorization simulation ([NFP] Sec. 5): its quick preset end to end, and its plot."""
import numpy as np
import pytest
from noprune_theory.sims import (
    get_simulation,
    load_results,
    mean_sem,
    resolve_config,
    run_simulation,
)

from noprune_theory.cli import main


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path, capsys):
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, preset="quick", backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    # 6 methods x 5 values of k x 2 seeds
    assert (summary.total, summary.computed) == (60, 60)
    table = load_results(summary.folder)
    # d -> 32 -> 32 -> 1 has 30*32 + 32*32 + 32*1 = 2016 weights; pruning keeps exactly
    # round(0.8^k * 2016) of them in every network
    assert set(table["total_weights"].tolist()) == {2016}
    for r in table.to_dict("records"):
        assert r["kept_weights"] == round(0.8 ** r["k"] * 2016)
        assert 0.0 <= r["memorized"] <= 1.0 and r["diverged"] == 0
    means = mean_sem(table, "memorized", by=["method", "k"])
    stats = {(r["method"], r["k"]): r["mean"] for r in means.to_dict("records")}
    # dense (k = 0): 2016 weights for 30 points, every network memorizes every label, and the
    # paired design gives every method the same problems and initializations
    dense = table[table["k"] == 0]
    assert np.all(dense["memorized"] == 1.0)
    by_seed = {}
    for r in dense.to_dict("records"):
        by_seed.setdefault(r["seed"], set()).add((r["train_steps"], r["final_loss"]))
    assert all(len(v) == 1 for v in by_seed.values())
    # at 23 kept weights (k = 20) IMP's data-chosen mask still memorizes most labels, a random
    # mask of the same size almost none: the mask's information about the data is capacity
    assert stats[("imp", 20)] > 0.7 and stats[("random", 20)] < 0.1
    with pytest.raises(SystemExit) as info:
        main(["plot", str(summary.folder), "--out", str(tmp_path / "fig")])
    assert info.value.code == 0
    for name in ("memorization.png", "memorization.pdf", "config.json"):
        assert (tmp_path / "fig" / name).stat().st_size > 0


def test_bad_method_is_rejected_before_work():
    with pytest.raises(ValueError, match="method must be one of 'imp', 'magnitude_after_training'"):
        resolve_config(get_simulation("memorization"), sets=["method=lottery"])
