"""The bound_check simulation ([NFP] Theorem 4 against measured Lipschitz constants): the quick
preset end to end through the runner, its plot, and the pieces of a cell checked by hand."""
import math

import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.sims import bound_check as bc
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.theory import sample_size_condition


def _config(**kw):
    cfg = {k: (f.default[0] if isinstance(f.default, list) else f.default)
           for k, f in bc.FIELDS.items()}
    cfg.update(backend="numpy", **kw)
    return cfg


def test_mask_information_is_zero_for_data_agnostic_masks_and_the_ceiling_otherwise():
    # log2 C(10, 5) = log2 252 = 7.97728 (math.log2(math.comb(10, 5)))
    assert bc.mask_information_bits("snip", 10, 5) == (pytest.approx(7.977279923, abs=1e-8),
                                                        "ceiling")
    assert bc.mask_information_bits("imp", 2016, 2016) == (0.0, "zero")   # dense: no choice
    for m in ("random", "magnitude", "synflow"):
        assert bc.mask_information_bits(m, 10, 5) == (0.0, "zero")


def test_noise_level_and_labels_of_each_label_law():
    # random signs are independent of x: Var(y | x) = 1; otherwise sigma^2
    assert bc.noise_level(_config(labels="sign", sigma=3.0)) == 1.0
    assert bc.noise_level(_config(labels="noise", sigma=0.5)) == 0.25
    X, y = bc._problem(_config(labels="sign", n=40, d=8), 0)
    assert X.shape == (40, 8) and set(np.unique(y).tolist()) <= {-1.0, 1.0}
    # the data depend on (seed, n, d, data, labels) only: every method sees the same problem
    X2, y2 = bc._problem(_config(labels="sign", n=40, d=8, method="imp", sparsity=0.9), 0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    # linear labels: y - x_1 = sigma z has mean ~0 and sd ~sigma; n = 4000 gives a standard
    # error of sigma / sqrt(4000) = 0.008 on the mean, so 0.04 is 5 standard errors
    Xl, yl = bc._problem(_config(labels="linear", sigma=0.5, n=4000, d=4), 1)
    resid = yl - Xl[:, 0]
    assert abs(resid.mean()) < 0.04 and abs(resid.std() - 0.5) < 0.03
    # sphere inputs have unit norm
    Xs, _ = bc._problem(_config(data="sphere", n=10, d=5), 2)
    assert np.allclose(np.linalg.norm(Xs, axis=1), 1.0, atol=1e-12)


def test_eps_at_or_above_the_noise_level_is_an_error():
    with pytest.raises(ValueError, match="eps must be below the noise level"):
        bc.cell(_config(labels="noise", sigma=0.5, eps=0.5), 0)


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    sim = get_simulation("bound_check")
    cfg = resolve_config(sim, preset="quick", backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    # 5 methods x 2 sparsities x 2 n x 2 d x 1 seed
    assert (summary.total, summary.computed) == (40, 40)
    table = load_results(summary.folder)
    rows = bc.network_rows(table)
    assert len(rows) == 40 * 4
    # d -> 32 -> 1: 32 d + 32 weights; pruning keeps round((1 - s) * P) exactly
    for r in rows:
        total = 32 * r["d"] + 32
        assert r["total_weights"] == total and r["kept"] == round((1 - r["sparsity"]) * total)
        assert r["fits"] == (r["mse"] <= 1.0 - 0.5)
        assert 0.0 <= r["lip_lower"] <= r["lip_upper"] * (1 + 1e-9)
        if r["method"] in bc.DATA_AGNOSTIC:
            assert (r["mi_bits"], r["mi_kind"]) == (0.0, "zero")
        else:
            ceiling = (math.lgamma(total + 1) - math.lgamma(r["kept"] + 1)
                       - math.lgamma(total - r["kept"] + 1)) / math.log(2)
            assert r["mi_kind"] == "ceiling" and r["mi_bits"] == pytest.approx(ceiling, rel=1e-12)
        # [NFP] Thm 4 by hand: eps / (1152 sqrt(c)) sqrt(n d delta / (p_eff + delta/2 ln(4/delta)))
        by_hand = 0.5 / 1152 * math.sqrt(r["n"] * r["d"] * 0.01
                                         / (r["p_eff"] + 0.005 * math.log(400)))
        assert r["bound"] == pytest.approx(by_hand, rel=1e-10)
        assert r["x_theorem"] == pytest.approx(math.sqrt(r["n"] * r["d"] / r["p_eff"]), rel=1e-12)
        # p_eff is at least the kept weights times one bit (log2(1 + 60 W J / eps) >= 1 here)
        assert r["p_eff"] >= r["kept"] + r["mi_bits"]
        # the theorem's condition 8^3 log(8 / 0.01) / 0.5^2 = 13,690 samples fails at n <= 120
        assert r["sample_condition_n"] == pytest.approx(512 * math.log(800) / 0.25, rel=1e-12)
        assert not r["condition_holds"]
        # and it is the library's statement of the condition, not a copy of it
        cond = sample_size_condition(r["n"], eps=0.5, delta=0.01, theorem="sparse")
        assert (r["sample_condition_n"], r["condition_holds"]) == (cond.n_required, cond.holds)
    fitted = [r for r in rows if r["fits"]]
    # at sparsity 0.5 with at least 3 kept weights per point (144 weights for n = 40 at d = 8,
    # 528 at d = 32) every method fits random signs to MSE 0.5; at d = 8, n = 120 (1.2 weights
    # per point) some networks do not. The measured constants sit far above the theorem's bound
    assert all(r["fits"] for r in rows if r["sparsity"] == 0.5 and r["kept"] >= 3 * r["n"])
    assert all(r["lip_lower"] > r["bound"] for r in fitted)
    slopes = bc.fit_slopes(rows)
    assert np.isfinite(slopes["all"].slope)
    with pytest.raises(SystemExit) as info:
        main(["plot", str(summary.folder), "--out", str(tmp_path / "fig")])
    assert info.value.code == 0
    for name in ("bound_check.png", "bound_check.pdf", "config.json"):
        assert (tmp_path / "fig" / name).stat().st_size > 0


# ----------------------------------------------------------------------------- theorem regime
def _floor_by_hand(X, y):
    best = 0.0
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] != y[j]:
                best = max(best, abs(y[i] - y[j]) / np.linalg.norm(X[i] - X[j]))
    return best


def test_interpolation_floor_is_the_largest_label_slope_over_pairs_in_any_block_size():
    from noprune_theory.sims.lipschitz_floor import _draw, cell, interpolation_floor

    rng = np.random.default_rng(3)
    X = rng.standard_normal((37, 3))
    for y in (rng.choice([-1.0, 1.0], 37), rng.standard_normal(37)):   # signs and real labels
        expected = _floor_by_hand(X, y)
        for chunk in (1, 5, 37, 100):
            assert interpolation_floor(X, y, chunk=chunk)["lip_floor"] == pytest.approx(
                expected, rel=1e-12)
    # the lipschitz_floor simulation's own closed form 2 / min opposite distance agrees
    cfg = {"n": 64, "d": 4}
    Xs, ys = _draw(cfg, 5)
    assert interpolation_floor(Xs, ys)["lip_floor"] == pytest.approx(cell(cfg, 5)["lip_floor"],
                                                                     rel=1e-12)
    assert interpolation_floor(X, np.ones(37))["lip_floor"] == 0.0
    # far from the origin the float32 search cannot rank these pairs (squared distances 1e-6
    # apart on squared norms of 1e6): the float64 confirmation must pick the closest
    far = np.array([[1000.0, 0, 0], [1000.0, 1.0001e-3, 0], [1000.0, 0, 1e-3], [-5.0, 0, 0]])
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    out = interpolation_floor(far, signs, chunk=1)
    assert set(out["pair"]) == {0, 2} and out["lip_floor"] == pytest.approx(2.0 / 1e-3, rel=1e-9)
    assert out["lip_floor"] == pytest.approx(_floor_by_hand(far, signs), rel=1e-12)
    with pytest.raises(ValueError, match="coincide"):
        interpolation_floor(np.zeros((2, 2)), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="chunk"):
        interpolation_floor(X, y, chunk=0)


def test_condition_rule_gives_the_smallest_eps_with_the_stated_margin_and_capacity_width():
    lhs = 512 * math.log(800)            # 8^3 log(8 / delta), k = 1, delta = 0.01
    for n in (4096, 16384, 65536, 10**6):
        for margin in (1.05, 1.5):
            if margin * lhs >= n:
                continue        # eps would reach 1 (checked below)
            for d, s in ((16, 0.5), (256, 0.75), (1000, 0.9)):
                cfg = _config(n=n, d=d, sparsity=s, eps_rule="condition", eps_margin=margin,
                              width_rule="capacity", capacity=2.0)
                st = bc.theorem_setting(cfg)
                assert n * st["eps"] ** 2 == pytest.approx(margin * lhs, rel=1e-12)
                assert st["condition_holds"] and st["condition_lhs"] == pytest.approx(lhs)
                # the smallest eps: 1% less would break the condition at margin 1.05
                if margin == 1.05:
                    assert not sample_size_condition(n, eps=st["eps"] * 0.97, delta=0.01,
                                                     theorem="sparse").holds
                kept = 2.0 * st["eps"] * n
                assert st["kept_target"] == pytest.approx(kept)
                w = st["width"]
                assert w * (d + 1) * (1 - s) >= kept - 1e-6 and (w - 1) * (d + 1) * (1 - s) < kept
    # fixed rules pass the fields through
    st = bc.theorem_setting(_config(n=100, eps=0.3, width=7))
    assert (st["eps"], st["width"], st["kept_target"]) == (0.3, 7, None)
    assert not st["condition_holds"]
    # below ~3,600 points no eps < 1 satisfies the condition
    with pytest.raises(ValueError, match="raise n"):
        bc.theorem_setting(_config(n=3000, eps_rule="condition"))
    with pytest.raises(ValueError, match="raise n"):
        bc.theorem_setting(_config(n=4096, eps_rule="condition", eps_margin=1.5))


def test_theorem_preset_is_in_the_regime_at_every_cell_and_spans_the_x_range():
    sim = get_simulation("bound_check")
    cfg = resolve_config(sim, preset="theorem")
    cells = [point for _, point, _ in cfg.cells()]
    assert min(c["n"] for c in cells) == 2**12 and max(c["n"] for c in cells) == 2**16
    assert {64, 256} <= {c["d"] for c in cells}
    assert set(bc.METHODS) - {"magnitude"} <= {c["method"] for c in cells}
    xs = []
    for c in cells:
        st = bc.theorem_setting(c)
        assert st["condition_holds"] and st["eps"] < 1
        xs.append(math.sqrt(c["n"] * c["d"] / st["kept_target"]))
    # sqrt(n d / kept) alone spans 1.2 decades; the I(m; D) ceilings of the data-dependent
    # masks (1.6 to 3.2 bits per kept weight) add ~0.3 at the low end
    assert math.log10(max(xs) / min(xs)) >= 1.2
    # the preset states its measured cost (the aim: 45 min on 2 idle cores)
    assert "measured" in sim.presets["theorem"].description
    # d = 16 (networks that need more steps) is the theorem-d16 preset: the same regime
    low = resolve_config(sim, preset="theorem-d16")
    low_cells = [point for _, point, _ in low.cells()]
    assert {c["d"] for c in low_cells} == {16} and len(low_cells) == 30
    assert {c["n"] for c in low_cells} == {c["n"] for c in cells}
    assert all(bc.theorem_setting(c)["condition_holds"] for c in low_cells)
    assert all(c["steps"] == 3000 for c in low_cells)
    assert "measured" in sim.presets["theorem-d16"].description


@pytest.fixture(scope="module")
def theorem_cells():
    # the theorem regime at its smallest: n = 4096, the condition's eps; a thin net and few
    # steps keep it fast (the networks need not fit for these checks)
    base = _config(n=4096, d=64, sparsity=0.5, eps_rule="condition", width_rule="capacity",
                   capacity=0.05, nets=2, steps=5, dtype="float32", kernels="xp", pairs=False,
                   imp_fraction=0.5, ascent_starts=4, ascent_steps=2)
    items = [(dict(base, method=m, sparsity=s), seed)
             for m in ("random", "snip", "imp") for s in (0.5, 0.75) for seed in (0, 1)]
    return items, bc.cells_batch(items)


def test_theorem_cell_records_condition_floor_ratio_and_matches_the_single_cell(theorem_cells):
    from noprune_theory.sims.lipschitz_floor import interpolation_floor

    items, values = theorem_cells
    floors = {}
    for (config, seed), v in zip(items, values):
        st = bc.theorem_setting(config)
        assert v["condition_holds"] and v["eps_used"] == st["eps"]
        assert v["condition_rhs"] == pytest.approx(4096 * st["eps"] ** 2)
        assert v["width_used"] == st["width"] and v["total_weights"] == 65 * st["width"]
        assert all(abs(k - v["kept_target"]) <= 65 * (1 - config["sparsity"]) + 1
                   for k in v["kept"])
        X, y = bc._problem(config, seed)
        if seed not in floors:
            floors[seed] = interpolation_floor(X, y)["lip_floor"]
        assert v["lip_floor"] == floors[seed] > 0
        for lo, up, b, r, ru in zip(v["lip_lower"], v["lip_upper"], v["bound"], v["ratio"],
                                    v["ratio_upper"]):
            assert 0 < lo <= up * (1 + 1e-9)
            assert r == pytest.approx(lo / b, rel=1e-12) and ru == pytest.approx(up / b)
        # fits is judged against the rule's eps, not the eps field
        assert v["fits"] == [m <= 1 - st["eps"] for m in v["mse"]]
        assert all(t >= 0 for t in (v["cpu_seconds_train"], v["cpu_seconds_lower"],
                                     v["cpu_seconds_upper"], v["cpu_seconds_floor"]))
    # the two seeds are different datasets
    assert floors[0] != floors[1]
    # a batch computes what each cell computes alone (data, masks and training per network)
    for i in (0, 7, 11):
        alone = bc.cell(*items[i])
        for key in ("mse", "kept", "lip_lower", "lip_upper", "p_eff", "train_steps"):
            assert np.allclose(alone[key], values[i][key], rtol=1e-6, atol=0), key


def test_slope_summary_reports_the_fitted_slope_and_its_span():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 100, 30)
    rows = [{"fits": True, "x_informal": a, "lip_lower": 3 * a ** 0.8 * np.exp(e)}
            for a, e in zip(x, 0.05 * rng.standard_normal(30))]
    rows.append({"fits": False, "x_informal": 1e6, "lip_lower": 1e-9})    # ignored
    s = bc.slope_summary(rows)
    assert s["networks"] == 30 and s["decades"] == pytest.approx(2.0)
    assert abs(s["slope"] - 0.8) < 3 * s["slope_se"] and s["slope_se"] < 0.05
    assert s["slope_nd_over_p"] == pytest.approx(s["slope"] / 2)
    assert bc.slope_summary(rows[:2]) is None


def test_interpolation_floor_float32_search_still_finds_the_float64_closest_pair():
    # 20 cross-class pairs at distance 1e-3 (1 +- 1e-6) in d = 300: the float32 squared
    # distances cannot rank them (without the confirmation margin the search picks a wrong pair
    # in 39 of 40 such draws); the floor must be the float64 minimum exactly
    from noprune_theory.sims.lipschitz_floor import interpolation_floor

    for t in range(5):
        rng = np.random.default_rng(t)
        d = 300
        P = rng.standard_normal((20, d)) / np.sqrt(d)
        u = rng.standard_normal((20, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        N = P + (1e-3 * (1 + 1e-6 * rng.standard_normal(20)))[:, None] * u
        X = np.concatenate([P, N])
        y = np.r_[np.ones(20), -np.ones(20)]
        closest = min(np.linalg.norm(P[i] - N[j]) for i in range(20) for j in range(20))
        out = interpolation_floor(X, y, chunk=7)
        assert out["distance"] == closest and out["lip_floor"] == 2.0 / closest


def test_init_key_chooses_the_networks_initialization():
    # the same cell from He (the default: the numbers of before the key) and PyTorch init
    small = dict(method="random", sparsity=0.5, n=20, d=4, width=8, nets=2, steps=40,
                 ascent_starts=2, ascent_steps=2)
    he, again, torch = (bc.cell(_config(**small, **extra), 0)
                        for extra in ({}, {"init": "he"}, {"init": "torch"}))
    assert he["mse"] == again["mse"] and he["lip_upper"] == again["lip_upper"]
    assert he["mse"] != torch["mse"]
    assert "init" in bc.FIELDS and bc.FIELDS["init"].default == "he"


def test_every_training_and_scoring_of_a_cell_gets_the_work_memory_budget(monkeypatch):
    # issue 13: at n = 65536 a train() without a budget took half the free memory for its
    # (nets, n, width) buffers, and SNIP's gradients ran over all points at once
    import noprune_theory.models as models
    import noprune_theory.training as training

    budgets = {"train": [], "rows": []}
    real_train = training.train

    def spy_train(*args, **kw):
        budgets["train"].append(kw.get("memory_budget"))
        return real_train(*args, **kw)

    real_lg = models.MaskedMLP.loss_and_gradients

    def spy_lg(self, X, t, loss="mse", *, rows=None):
        budgets["rows"].append((rows, X.shape[-2]))
        return real_lg(self, X, t, loss, rows=rows)

    monkeypatch.setattr(training, "train", spy_train)
    monkeypatch.setattr(models.MaskedMLP, "loss_and_gradients", spy_lg)
    base = _config(n=300, d=8, width=40, nets=2, steps=3, kernels="xp", imp_fraction=0.5,
                   pairs=False, ascent_starts=2, ascent_steps=1, work_memory=1)
    items = [(dict(base, method=m, sparsity=0.5), 0)
             for m in ("snip", "magnitude_after_training", "imp")]
    values = bc.cells_batch(items)
    # the cells' own trainings (IMP's mask is magnitude after training's here: its training
    # is reused) and the one inside magnitude after training (IMP's round is the same one)
    assert len(budgets["train"]) >= 3 and set(budgets["train"]) == {1}
    assert values[2]["same_mask_as"] == "magnitude_after_training"
    # SNIP's gradient pass (the first call, before any training) goes through the points in
    # slices: 1 MiB holds 268 of the 300 points (2 nets x 40 units, 3904 bytes per point)
    rows, n = budgets["rows"][0]
    assert n == 300 and rows == 2**20 // 3904 == 268
    assert all(len(v["mse"]) == 2 for v in values)


def test_mse_in_slices_equals_the_one_pass_loss():
    from noprune_theory.models import MaskedTwoLayer

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((500, 6)), rng.standard_normal(500)
    net = MaskedTwoLayer(6, 50, B=3, seed=1, backend="numpy")
    whole = net.loss(X, y, loss="mse")
    # one pass when everything fits: the very numbers of net.loss
    assert np.array_equal(bc._mse(net, X, y, 1024), whole)
    # a budget of a few points per slice: the per-point values are computed alone, so the
    # mean differs by rounding only
    tiny = 40 * net.work_bytes_per_point(backward=False) / 2**20
    np.testing.assert_allclose(bc._mse(net, X, y, tiny), whole, rtol=1e-13, atol=0)


def test_largest_norm_row_gives_the_largest_data_norm():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5000, 300))
    row = bc._largest_norm_row(X)
    assert row.shape == (1, 300)
    assert float(np.sqrt((row * row).sum())) == float(np.sqrt((X * X).sum(axis=-1)).max())


def test_cells_with_equal_masks_train_once_and_record_it(monkeypatch):
    """IMP at sparsity = imp_fraction is one round: magnitude after training's mask. The batch
    trains those networks once; both cells carry the same numbers, and the later one says
    whose training it reused."""
    import noprune_theory.training as training

    base = _config(n=256, d=8, sparsity=0.5, width=16, nets=2, steps=40, pairs=False,
                   imp_fraction=0.5, ascent_starts=2, ascent_steps=2)
    items = [(dict(base, method=m), 0) for m in ("magnitude_after_training", "imp", "random")]
    calls = []
    original = training.train

    def spy(model, *a, **k):
        calls.append(model.B)
        return original(model, *a, **k)

    monkeypatch.setattr(training, "train", spy)
    values = bc.cells_batch(items)
    mat, imp, rnd = values
    assert mat["same_mask_as"] is None and rnd["same_mask_as"] is None
    assert imp["same_mask_as"] == "magnitude_after_training" and imp["cpu_seconds_train"] == 0
    for key in ("mse", "kept", "lip_lower", "lip_upper", "train_steps", "live_units"):
        assert imp[key] == mat[key], key
    assert rnd["mse"] != mat["mse"]
    # live units: at most the width, and what the model says of the trained networks
    assert all(0 <= u <= 16 for u in rnd["live_units"])
    # one training inside pruning (magnitude after training's; IMP's round is the same
    # training, reused) and the cells' own: magnitude after training's and random's; IMP's
    # is reused too (5 trainings without the reuse)
    assert len(calls) == 3
