"""The random_width simulation: teacher data, the layer densities of the random masks, the
required-width estimator on curves with a known answer, and the quick preset through the runner."""
import math

import numpy as np
import pytest

from noprune_theory.pruning import layer_densities
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.sims import random_width as rw


def _config(**kw):
    cfg = {k: f.default for k, f in rw.FIELDS.items()}
    cfg.update(backend="numpy", **kw)
    return cfg


def test_teacher_targets_have_unit_variance_and_depend_on_the_seed_only():
    cfg = _config(n=200, n_test=300)
    X, y, Xt, _ = rw.teacher_data(cfg, 3)
    assert X.shape == (200, 4) and Xt.shape == (300, 4)
    assert abs(y.var() - 1.0) < 1e-12
    # the same seed gives the same problem whatever the width of the students (paired widths)
    X2, y2, _, _ = rw.teacher_data(dict(cfg, width=512), 3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(y, rw.teacher_data(cfg, 4)[1])


def test_sparsity_levels_and_groups():
    assert rw.sparsity_levels(3) == [0.5, 0.75, 0.875]
    g = rw.groups(2)
    assert g[0] == ("dense", 0.0) and len(g) == 1 + 4 * 2
    assert g[1:3] == [("uniform", 0.5), ("uniform", 0.75)]


@pytest.mark.parametrize("width", [3, 16, 64])
def test_masks_keep_the_scheme_densities_exactly(width):
    cfg = _config(levels=4)
    masks = rw.student_masks(cfg, 0, width, 2)
    d = cfg["d"]
    sizes = np.array([d * width, width])
    for g, (scheme, s) in enumerate(rw.groups(4)):
        block = slice(2 * g, 2 * g + 2)
        kept = np.array([[m[block][b].sum() for m in masks] for b in range(2)])  # (nets, 2)
        if scheme == "dense":
            assert (kept == sizes).all()
            continue
        # the global count is round((1 - s) N) and each layer is within one weight of
        # p_l N_l, p_l from layer_densities (largest-remainder rounding of the per-layer targets)
        p = layer_densities((d, width, 1), 1.0 - s, scheme)
        assert (kept.sum(axis=1) == math.floor((1.0 - s) * sizes.sum() + 0.5 + 1e-9)).all()
        assert (np.abs(kept - p * sizes) < 1.0 + 1e-9).all(), (scheme, s, kept, p * sizes)
    # two students of a group get different random masks
    assert not np.array_equal(masks[0][2], masks[0][3])


def test_crossing_width_interpolates_a_power_law_exactly():
    # errors e(w) = target (16 / w)^2: a straight line in (log w, log e) that crosses the
    # target at w = 16, so the log-log interpolation between 8 and 32 returns 16 exactly
    target = 0.05
    widths = [4, 8, 32, 64]
    errs = [target * (16 / w) ** 2 for w in widths]
    k, cens = rw.crossing_width(widths, errs, target)
    assert abs(k - 16.0) < 1e-9 and not cens
    # a curve that dips below the target and rises again crosses at the last descent
    k, cens = rw.crossing_width([1, 2, 4, 8], [0.01, 0.5, 0.2, 0.01], 0.1)
    assert 4 < k < 8 and not cens
    assert rw.crossing_width([1, 2], [0.5, 0.2], 0.1) == (2.0, True)
    assert rw.crossing_width([1, 2], [0.05, 0.01], 0.1) == (1.0, False)


def test_required_widths_from_seed_averaged_curves():
    # two seeds with e(w) = c_seed (16 / w)^2 target, c = 1/2 and 3/2: the mean curve is
    # exactly target (16 / w)^2 again, crossing at 16; resampled seeds give c in {1/2, 1, 3/2},
    # crossings 16 sqrt(c), so the bootstrap SD of log k* is positive
    target = 0.05
    rows = []
    for seed, c in ((0, 0.5), (1, 1.5)):
        for w in (4, 8, 32, 64):
            e = c * target * (16 / w) ** 2
            rows.append({"width": w, "seed": seed, "group_scheme": ["dense", "uniform"],
                         "group_sparsity": [0.0, 0.5], "test_rel_mse": [e, 10.0],
                         "train_rel_mse": [e, 10.0], "kept_weights": [1.0, 1.0]})
    out = {r["scheme"]: r for r in rw.required_widths(rows, target, bootstrap=50)}
    assert abs(out["dense"]["kstar"] - 16.0) < 1e-9 and not out["dense"]["censored"]
    assert out["dense"]["log_se"] > 0 and out["dense"]["seeds"] == 2
    # half a log: sqrt(c) spans 0.71..1.22, so the SD of log k* is below 0.5 log(3) / 2
    assert out["dense"]["log_se"] < 0.5 * math.log(3)
    assert out["uniform"]["censored"] and out["uniform"]["kstar"] == 64.0


def test_dense_students_wider_than_the_teacher_fit_it():
    # a dense student of width 16 >= k0 = 4 can represent the teacher; 600 Adam steps bring
    # the relative test error below 0.05 (measured ~1e-3 on these seeds)
    rec = rw.cell(_config(width=16, levels=1, n=300, n_test=500, steps=600, lr=2e-2, nets=2),
                  0)
    assert rec["group_scheme"][0] == "dense"
    assert rec["test_rel_mse"][0] < 0.05 and rec["train_rel_mse"][0] < 0.05
    assert rec["density_w0"][0] == 1.0 and rec["total_weights"] == 16 * 4 + 16


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    sim = get_simulation("random_width")
    cfg = resolve_config(sim, preset="quick")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    table = load_results(summary.folder)
    assert len(table) == 7 * 2
    G = 1 + 4 * 2
    for row in table.to_dict("records"):
        for key in ("test_rel_mse", "train_rel_mse", "kept_weights", "density_w0"):
            assert len(row[key]) == G
        assert all(0 < v < 5 for v in row["test_rel_mse"])
        # kept fraction = 1 - s for every group
        assert np.allclose(np.asarray(row["kept_weights"]) / row["total_weights"],
                           [1 - s for s in row["group_sparsity"]],
                           atol=0.5 / row["total_weights"] + 1e-12)
    from noprune_theory.commands.plot import plot_folder

    paths = plot_folder(summary.folder, tmp_path / "figs")
    names = {p.name for p in paths}
    assert {"random_width_kstar.png", "random_width_kstar.pdf", "random_width_curves.png"} <= names


def test_runs_cell_by_cell_with_the_numbers_of_before_the_protocol_keys(tmp_path):
    """random_width is not batched across cells (per-network inputs would lose the shared-input
    fused kernel); with the default init and input scale its numbers are those of the version
    before the keys existed (test_rel_mse computed with commit 459ff50, numba backend), to
    rounding."""
    from noprune_theory.sims._runner import _batch_module

    assert _batch_module(get_simulation("random_width")) is None
    cfg = dict(_config(width=8, levels=2, n=60, n_test=80, steps=80, nets=2, lr=2e-2),
               backend="numba")
    before = [
        0.06866739436464314, 0.08924951857291985, 1.0455805460894336, 0.08230585675755503,
        0.2833560170082387, 0.4978371907512488, 0.9129481992993096, 0.5483174270360438,
        0.9442289394715802]
    # to rounding: BLAS adds in another order on another processor, and train() drops dead
    # units; a changed protocol moves these numbers in the second digit
    np.testing.assert_allclose(rw.cell(cfg, 1)["test_rel_mse"], before, rtol=1e-9)
    # every cell records its init and input scale
    sim = get_simulation("random_width")
    run = resolve_config(sim, sets=["width=[2]", "levels=1", "n=40", "n_test=60", "steps=20",
                                    "nets=1"], seeds=1, backend="numba")
    table = load_results(run_simulation(run, out=tmp_path, progress=False).folder)
    assert set(table["init"]) == {"he"} and set(table["input_scale"]) == {"normalized"}


def test_init_and_input_scale_options():
    cfg = _config(n=60, n_test=80)
    X, y, Xt, yt = rw.teacher_data(cfg, 2)
    X2, y2, Xt2, yt2 = rw.teacher_data(dict(cfg, input_scale="standard"), 2)
    # the same draws times sqrt(d) = 2; the teacher (ReLU, zero biases) is positively
    # homogeneous, so its unit-variance targets are the same up to rounding
    assert np.array_equal(X2, X * 2.0) and np.array_equal(Xt2, Xt * 2.0)
    np.testing.assert_allclose(y2, y, rtol=0, atol=1e-12)
    small = dict(cfg, width=4, levels=1, steps=30, nets=1)
    he = rw.cell(small, 0)
    torch_init = rw.cell(dict(small, init="torch"), 0)
    standard = rw.cell(dict(small, input_scale="standard"), 0)
    assert torch_init["test_rel_mse"] != he["test_rel_mse"]
    assert standard["test_rel_mse"] != he["test_rel_mse"]
    # the masks do not depend on either option
    assert torch_init["kept_weights"] == he["kept_weights"] == standard["kept_weights"]
