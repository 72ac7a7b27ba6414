"""The memorization simulation ([NFP] Sec. 5): its quick preset end to end, and its plot."""
import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.sims import (
    get_simulation,
    load_results,
    mean_sem,
    resolve_config,
    run_simulation,
)


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


# ----------------------------------------------------------------------------- init and inputs
TINY = ["method=random", "k=0,4", "n=6", "d=3", "width=4", "steps=30", "nets=2",
        "synflow_iterations=2"]


def _point(sets, **fixed):
    cfg = resolve_config(get_simulation("memorization"), sets=sets, backend="numpy")
    point = next(iter(cfg.points()))
    point.update(fixed, backend="numpy")
    return point


def test_defaults_keep_the_toolkits_protocol():
    from noprune_theory.data import gaussian
    from noprune_theory.models import MaskedMLP
    from noprune_theory.sims import memorization

    point = _point(TINY, k=4)
    assert (point["init"], point["input_scale"]) == ("he", "normalized")
    X, _ = memorization._problems(point, 5)
    # the inputs of every seed are unchanged: network b draws from default_rng([seed, b, 0])
    np.testing.assert_array_equal(X[1], gaussian(6, 3, seed=np.random.default_rng([5, 1, 0])))
    net, _, _ = memorization._pruned_network(point, 5)
    ref = MaskedMLP(3, (4, 4), B=2, seed=5)
    np.testing.assert_array_equal(net.initial_weights[0], ref.weights[0])
    assert not any(np.any(b) for b in net.biases)


def test_standard_inputs_are_the_same_draws_times_sqrt_d():
    from noprune_theory.sims import memorization

    normalized = _point(["n=30", "d=30", "nets=10"])
    standard = dict(normalized, input_scale="standard")
    Xn, yn = memorization._problems(normalized, 3)
    Xs, ys = memorization._problems(standard, 3)
    np.testing.assert_allclose(Xs, Xn * np.sqrt(30), rtol=1e-15)
    np.testing.assert_array_equal(ys, yn)
    # 9000 coordinates: the sample variance is within 0.08 of 1 (sd sqrt(2/9000) = 0.015)
    assert abs(Xs.var() - 1) < 0.08 and abs(Xn.var() * 30 - 1) < 0.08


def test_torch_init_reaches_the_networks_of_cell_and_batch():
    from noprune_theory.models import MaskedMLP
    from noprune_theory.sims import memorization

    point = _point(TINY, k=4, init="torch", input_scale="standard")
    net, _, _ = memorization._pruned_network(point, 2)
    ref = MaskedMLP(3, (4, 4), B=2, seed=2, init="torch")
    for b, b_ref in zip(net.biases, ref.biases):
        np.testing.assert_array_equal(b, b_ref)
    assert net.init == "torch"
    # the batched path builds the same networks: equal values, cell by cell
    items = [(dict(point, k=k), seed) for k in (0, 4) for seed in (0, 1)]
    assert memorization.cells_batch(items) == [memorization.cell(c, s) for c, s in items]


def test_init_and_input_scale_are_recorded_in_every_cell(tmp_path):
    sim = get_simulation("memorization")
    cfg = resolve_config(sim, sets=TINY + ["init=torch,lecun", "input_scale=standard"],
                         seeds=2, backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    table = load_results(summary.folder)
    assert len(table) == 8
    assert sorted(table["init"].tolist()) == ["lecun"] * 4 + ["torch"] * 4
    assert set(table["input_scale"]) == {"standard"}


def test_bad_init_and_input_scale_are_rejected_before_work():
    sim = get_simulation("memorization")
    with pytest.raises(ValueError, match="init must be one of 'he', 'torch', 'lecun'"):
        resolve_config(sim, sets=["init=xavier"])
    with pytest.raises(ValueError, match="input_scale must be one of 'normalized', 'standard'"):
        resolve_config(sim, sets=["input_scale=unit"])


def test_paper_protocol_preset_follows_the_papers_stated_protocol():
    from noprune_theory.sims import memorization

    sim = get_simulation("memorization")
    ours = resolve_config(sim, preset="paper").values
    paper = resolve_config(sim, preset="paper-protocol")
    v = paper.values
    # [NFP] Sec. 5: n = 30 standard Gaussian points in d = 30, two hidden layers, Adam at 1e-2,
    # PyTorch-default layers
    assert (v["input_scale"], v["init"], v["n"], v["d"], v["depth"]) == (
        "standard", "torch", 30, 30, 2)
    assert (v["optimizer"], v["lr"]) == ("adam", 1e-2)
    assert v["k"] == ours["k"] and v["width"] == ours["width"] and v["steps"] == ours["steps"]
    # the description states the networks per point it runs
    per_point = paper.seeds * v["nets"]
    assert per_point == memorization.PAPER_PROTOCOL_SEEDS * 10
    assert f"= {per_point} per point" in sim.presets["paper-protocol"].description
    # today's protocol stays available under its old name
    assert (ours["init"], ours["input_scale"]) == ("he", "normalized")


def test_plot_titles_name_the_protocol():
    from noprune_theory.sims.memorization import protocol_label

    assert protocol_label({"init": "torch", "input_scale": "standard"}) == (
        "x ~ N(0, I), PyTorch-default init")
    assert protocol_label({"init": ["he", "lecun"], "input_scale": "normalized"}) == (
        "x ~ N(0, I/d), He init / LeCun init")
    # a folder written before the keys existed ran the defaults
    assert protocol_label({}) == "x ~ N(0, I/d), He init"
