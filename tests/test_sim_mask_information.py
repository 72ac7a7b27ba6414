"""The mask_information simulation: exact dataset enumeration, entropies, the shared-tie pruning
schedules against the library's prune(), and the quick preset through the runner."""
import math

import numpy as np
import pytest

from noprune_theory.estimators import mask_codes, plugin_entropy, weighted_entropy
from noprune_theory.pruning import compute_scores, prune
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.sims import mask_information as mi


def _config(**kw):
    cfg = {k: f.default for k, f in mi.FIELDS.items()}
    cfg.update(backend="numpy", **kw)
    return cfg


def test_the_toy_model_has_21_parameters_of_which_16_weights_are_prunable():
    # 3*4 weights + 4 hidden biases + 4 output weights + 1 output bias = 21 [NFP]; biases are
    # never masked, so masks live on the 3*4 + 4 = 16 weights
    one, net = mi._replicated_net(_config(), 0, 5)
    assert one.param_count() == 21 and net.weight_count() == 16
    # every copy starts from the same initialization
    for w in net.weights:
        assert np.array_equal(w, np.repeat(w[:1], 5, axis=0))


def test_subset_datasets_are_all_1792_distinct_and_equally_likely():
    X, y, prob, xset = mi.enumerate_datasets(3, 6, "subset")
    # C(8, 6) = 28 input sets times 2^6 = 64 label vectors
    assert len(X) == math.comb(8, 6) * 2**6 == 1792
    assert np.allclose(prob, 1 / 1792)
    rows = np.concatenate([X.reshape(1792, -1), y], axis=1)
    assert len(np.unique(rows, axis=0)) == 1792
    # inputs within a dataset are distinct cube points
    assert all(len(np.unique(x, axis=0)) == 6 for x in X[::97])
    assert len(np.unique(xset)) == 28


def test_iid_multisets_carry_the_multinomial_probabilities():
    X, y, prob, xset = mi.enumerate_datasets(3, 6, "iid")
    # multisets of 6 from 16 (x, y) pairs: C(16 + 6 - 1, 6)
    assert len(prob) == math.comb(21, 6) == 54264
    assert abs(prob.sum() - 1.0) < 1e-12
    # the dataset made of one pair drawn 6 times has 1 ordering of 16^6
    same = np.all(X == X[:, :1], axis=(1, 2)) & np.all(y == y[:, :1], axis=1)
    assert same.sum() == 16 and np.allclose(prob[same], 16.0**-6)
    # 6 distinct pairs: 6! = 720 orderings
    rows = np.concatenate([X, y[..., None]], axis=2)
    distinct = np.array([len(np.unique(r, axis=0)) == 6 for r in rows])
    assert np.allclose(prob[distinct], 720 / 16.0**6)
    # the input multiset has C(8 + 6 - 1, 6) = 1716 values
    assert len(np.unique(xset)) == math.comb(13, 6)


def test_iid_enumeration_matches_the_estimators_enumeration():
    # the estimators' enumerate_datasets lists the same multisets of the 16 (x, y) pairs in
    # the same order (combinations with replacement), with exact integer multinomials
    from noprune_theory.estimators import enumerate_datasets as lib_enumerate

    idx, w = lib_enumerate(16, 6)
    X, y, prob, _ = mi.enumerate_datasets(3, 6, "iid")
    assert np.allclose(prob, w, rtol=1e-12, atol=0)
    cube = mi.cube_points(3)
    assert np.array_equal(X, cube[idx // 2]) and np.array_equal(y, np.where(idx % 2, 1.0, -1.0))
    # H(D) of the multiset law, below the 6 * 4 = 24 bits of the ordered draws
    h = mi.law_entropy_bits(3, 6, "iid")
    assert 15.0 < h < 24.0 and abs(mi.law_entropy_bits(3, 6, "subset") - math.log2(1792)) < 1e-12


def test_wide_masks_get_distinct_codes_and_huge_enumerations_are_refused():
    rng = np.random.default_rng(0)
    wide = [rng.random((6, 9, 8)) < 0.5]  # 72 weights: more than an int64 holds
    wide[0][3] = wide[0][1]
    codes = mask_codes(wide)
    assert codes[3] == codes[1] and len(np.unique(codes)) == 5
    with pytest.raises(ValueError, match="sample them with datasets=N"):
        mi.cell(_config(d=4, n=8), 0)  # C(16, 8) 2^8 = 3.3 million subsets


def test_weighted_entropy_equals_the_plugin_entropy_for_equal_weights():
    codes = np.random.default_rng(0).integers(0, 7, size=500)
    assert abs(weighted_entropy(codes, np.ones(500)) - plugin_entropy(codes, base=2)) < 1e-12
    # a point mass has zero entropy; four equal symbols two bits
    assert weighted_entropy([3, 3, 3], [0.2, 0.3, 0.5]) == 0.0
    assert abs(weighted_entropy([0, 1, 2, 3], [1, 1, 1, 1]) - 2.0) < 1e-12


def test_common_ties_go_to_the_shared_priority_in_every_network():
    # two networks with equal scores everywhere: the kept weights are the ones with the
    # smallest priority values, the same in both (independent keys would differ)
    scores = [np.zeros((2, 2, 3)), np.zeros((2, 3, 1))]
    priority = np.array([8, 0, 7, 1, 6, 2, 5, 3, 4])
    masks, tied = mi.select_common_ties(scores, 4, priority)
    flat = np.concatenate([m.reshape(2, -1) for m in masks], axis=1)
    assert flat[0].tolist() == flat[1].tolist() == [p < 4 for p in priority]
    assert tied.tolist() == [True, True]
    # distinct scores: the top ones, no tie
    s = [np.arange(6.0).reshape(1, 2, 3), np.arange(6.0, 9.0).reshape(1, 3, 1)]
    masks, tied = mi.select_common_ties(s, 3, priority)
    assert masks[1].all() and not masks[0].any() and not tied.any()


def test_mask_codes_are_distinct_for_distinct_masks():
    masks = [np.array([[[1, 0]], [[0, 1]], [[1, 0]]], dtype=bool), np.ones((3, 2, 1), bool)]
    codes = mask_codes(masks)
    # bit 0 = first weight: 1 + 4 + 8 = 13; 2 + 4 + 8 = 14
    assert codes.tolist() == [13, 14, 13]


def test_magnitude_after_training_scores_equal_the_library_method():
    X, y, _, _ = mi.enumerate_datasets(3, 6, "subset")
    X, y = X[::200], y[::200]
    cfg = _config(steps=50)
    _, net = mi._replicated_net(cfg, 1, len(X))
    lib = compute_scores(net, "magnitude_after_training", data=(X, y), seed=1, loss="mse",
                         train_options=mi._train_options(cfg))
    lib_masks, _ = mi.select_common_ties([np.asarray(s) for s in lib], 8,
                                         np.random.default_rng([1, 7]).permutation(16))
    ours, _, loss = mi.prune_all(dict(cfg, method="magnitude_after_training", kept=8), 1, X, y)
    for a, b in zip(ours, lib_masks):
        assert np.array_equal(a, b)
    assert loss is not None and loss >= 0


def test_imp_schedule_equals_the_library_imp_where_no_tie_occurs():
    X, y, _, _ = mi.enumerate_datasets(3, 6, "subset")
    X, y = X[::90], y[::90]
    cfg = _config(steps=60)
    _, net = mi._replicated_net(cfg, 2, len(X))
    prio = np.random.default_rng([2, 7]).permutation(16)
    ours, tied, _ = mi.imp_common_ties(net, X, y, 6, 0.2, mi._train_options(cfg), prio)
    lib = prune(net, "imp", 1 - 6 / 16, data=(X, y), seed=2, loss="mse", fraction=0.2,
                train_options=mi._train_options(cfg))
    ok = ~tied
    assert ok.sum() >= len(X) // 2  # ties are rare: the comparison is not vacuous
    for a, b in zip(ours, lib):
        assert np.array_equal(a[ok], np.asarray(b)[ok])
    assert all(int(m.sum()) == 6 for m in np.concatenate(
        [o.reshape(len(X), -1) for o in ours], axis=1).astype(int)[:, :, None])


def test_one_shot_synflow_equals_the_library_synflow():
    # one iteration has no tie (continuous scores), so the selections must agree
    _, net = mi._replicated_net(_config(), 3, 4)
    prio = np.random.default_rng([3, 7]).permutation(16)
    ours, tied = mi.synflow_common_ties(net, 5, 1, prio)
    lib = prune(net, "synflow", 1 - 5 / 16, seed=3, iterations=1)
    assert not tied.any()
    for a, b in zip(ours, lib):
        assert np.array_equal(a, np.asarray(b))


def test_decomposition_and_ceilings_of_a_cell():
    rec = mi.cell(_config(method="snip", kept=8), 0)
    # chain rule: I(m; D) = I(m; inputs) + I(m; labels | inputs), all exact
    assert abs(rec["info_x_bits"] + rec["info_y_bits"] - rec["info_bits"]) < 1e-9
    # H(m) <= min(log2 C(16, 8), H(D)); H(D) = log2 1792 for equally likely datasets
    assert abs(rec["ceiling_bits"] - math.log2(12870)) < 1e-12
    assert abs(rec["data_ceiling_bits"] - math.log2(1792)) < 1e-12
    assert 0 < rec["info_bits"] <= min(rec["ceiling_bits"], rec["data_ceiling_bits"])
    assert rec["info_se"] == 0.0 and rec["n_datasets"] == 1792
    assert rec["info_bits"] <= math.log2(rec["distinct_masks"]) + 1e-12


def test_imp_trajectory_serves_every_kept_count():
    # one IMP trajectory for every kept count 1..15 gives each count's own masks, ties, and
    # last-round losses (the counts need 1 to 13 rounds)
    X, y, _, _ = mi.enumerate_datasets(3, 6, "subset")
    X, y = X[::150], y[::150]
    cfg = _config(steps=40)
    _, net = mi._replicated_net(cfg, 4, len(X))
    prio = np.random.default_rng([4, 7]).permutation(16)
    kepts = list(range(15, 0, -1))
    many = mi.imp_common_ties_many(net, X, y, kepts, 0.2, mi._train_options(cfg), prio)
    for kept, (masks, tied, losses) in zip(kepts, many):
        alone = mi.imp_common_ties(net, X, y, kept, 0.2, mi._train_options(cfg), prio)
        assert all(np.array_equal(a, b) for a, b in zip(masks, alone[0]))
        assert np.array_equal(tied, alone[1]) and len(losses) == len(alone[2])
        assert np.array_equal(losses[-1], alone[2][-1])
        assert all(int(k) == kept for k in sum(m.reshape(len(X), -1).sum(axis=1)
                                                 for m in masks))


def test_batched_run_stores_the_records_of_the_cell_by_cell_run(tmp_path):
    """The methods and kept counts of one seed share one preparation (scores, training, IMP
    trajectory) and store exactly the values of the cell-by-cell path."""
    from noprune_theory.sims._runner import plan_batches

    sim = get_simulation("mask_information")
    cfg = resolve_config(sim, sets=["method=[random,synflow,snip,magnitude_after_training,imp]",
                                    "kept=[3,8]", "d=2", "n=3", "steps=60",
                                    "synflow_iterations=10"], seeds=2, backend="numba")
    assert [len(b) for b in plan_batches(mi, list(cfg.cells()), 64)] == [20]
    one = run_simulation(cfg, out=tmp_path / "cells", progress=False, batch=False)
    both = run_simulation(cfg, out=tmp_path / "batch", progress=False, memory_budget=64)
    assert one.computed == both.computed == 20
    keys = ("info_bits", "info_x_bits", "info_y_bits", "per_weight_bits", "distinct_masks",
            "tie_fraction", "train_loss")

    def values(folder):
        # train_loss is None for the methods that do not train: NaN in the table
        return {(r["method"], r["kept"], r["seed"]): [
            None if isinstance(r[k], float) and math.isnan(r[k]) else r[k] for k in keys]
            for r in load_results(folder).to_dict("records")}

    a, b = values(one.folder), values(both.folder)
    assert a == b  # exactly
    # real pruning: the data-dependent methods carry information, different per count
    assert len({v[0] for k, v in a.items() if k[0] == "imp"}) > 1
    table = load_results(both.folder)
    assert set(table["init"]) == {"he"} and set(table["input_scale"]) == {"standard"}


def test_torch_init_copies_share_the_biases_and_imp_rewinds_to_them():
    cfg = _config(init="torch", steps=60)
    one, net = mi._replicated_net(cfg, 2, 5)
    for b, b1 in zip(net.biases, one.biases):
        assert np.array_equal(b, np.repeat(b1, 5, axis=0)) and np.any(b != 0)
    # data-agnostic methods stay at exactly 0 bits with random initial biases
    assert mi.cell(dict(cfg, method="synflow", kept=8, d=2, n=3), 0)["info_bits"] == 0.0
    # IMP rewinds the biases to their initial values, as the library's prune() does
    X, y, _, _ = mi.enumerate_datasets(3, 6, "subset")
    X, y = X[::90], y[::90]
    _, net = mi._replicated_net(cfg, 2, len(X))
    prio = np.random.default_rng([2, 7]).permutation(16)
    ours, tied, _ = mi.imp_common_ties(net, X, y, 6, 0.2, mi._train_options(cfg), prio)
    lib = prune(net, "imp", 1 - 6 / 16, data=(X, y), seed=2, loss="mse", fraction=0.2,
                train_options=mi._train_options(cfg))
    ok = ~tied
    assert ok.sum() >= len(X) // 2
    for a, b in zip(ours, lib):
        assert np.array_equal(a[ok], np.asarray(b)[ok])


def test_normalized_inputs_are_the_cube_over_sqrt_d():
    cfg = _config(d=2, n=3)
    X, _, _, _ = mi._datasets(cfg, 0)
    Xn, _, _, _ = mi._datasets(dict(cfg, input_scale="normalized"), 0)
    assert np.array_equal(Xn, X / np.sqrt(2))


# Values of cells computed by the simulation before it called the estimators' mask_codes,
# weighted_entropy, per_weight_entropy, plugin_entropy and enumerate_datasets (commit ec48def,
# numpy backend): (changed config fields, seed, (info_bits, info_se, info_x_bits,
# info_y_bits, per_weight_bits, distinct_masks, data_ceiling_bits, tie_fraction, train_loss))
BEFORE_LIBRARY = [
    ({'method': 'snip', 'kept': 8}, 0,
     (4.321834318099647, 0.0, 1.1307321893447764, 3.1911021287548715, 7.371531053185843, 41,
      10.807354922057609, 0.0, None)),
    ({'method': 'imp', 'kept': 4, 'steps': 60}, 1,
     (5.407232281406794, 0.0, 0.6475662021553781, 4.759666079251416, 9.251775023021057, 88,
      10.807354922057609, 0.0, 0.3861269047495507)),
    ({'method': 'magnitude_after_training', 'kept': 6, 'steps': 60}, 0,
     (5.28028156925565, 0.0, 0.8276993750131183, 4.452582194242533, 8.092768209164916, 82,
      10.807354922057609, 0.0, 0.12145980833151371)),
    ({'method': 'grasp', 'kept': 10, 'dataset': 'iid', 'd': 2, 'n': 3}, 0,
     (3.2579227855237622, 0.0, 2.2791998421440365, 0.9787229433797253, 6.176905684554321, 16,
      6.783552538352612, 0.23333333333333334, None)),
    ({'method': 'snip', 'kept': 8, 'datasets': 300, 'bootstrap': 20}, 0,
     (4.243753872754885, 0.07343106502491956, 1.7891969289602976, 2.3776132082805104,
      7.149178415893868, 33, 10.807354922057604, 0.0, None)),
    ({'method': 'imp', 'kept': 5, 'dataset': 'iid', 'd': 2, 'n': 3, 'datasets': 200,
      'bootstrap': 10, 'steps': 40}, 0,
     (3.1485202922040063, 0.08288742854429888, 1.2936425127336921, 1.8043834530392004,
      5.881558019313299, 15, 6.783552538352614, 0.0, 0.27277634037565446)),
]
_VALUE_KEYS = ("info_bits", "info_se", "info_x_bits", "info_y_bits", "per_weight_bits",
               "distinct_masks", "data_ceiling_bits", "tie_fraction", "train_loss")


@pytest.mark.parametrize("fields, seed, expected", BEFORE_LIBRARY)
def test_values_did_not_change_when_the_simulation_moved_to_the_library(fields, seed,
                                                                          expected):
    got = mi.cell(_config(**fields), seed)
    got = tuple(got[k] for k in _VALUE_KEYS)
    if fields.get("dataset") != "iid" and not fields.get("datasets"):
        # the exact subset law (every preset): the very same numbers
        assert got == expected
    else:
        # the iid law's probabilities now come from exact integer multinomials (were lgamma
        # and exp), and the sampled entropies from plugin_entropy (nats, then / log 2): the
        # numbers move by rounding only, a few units in the last place
        np.testing.assert_allclose(np.array(got, dtype=float), np.array(expected, dtype=float),
                                   rtol=1e-13, atol=0)


@pytest.mark.slow
def test_sampled_estimate_agrees_with_the_exact_value():
    # 4000 datasets sampled from the 1792 (with repetition): the Miller-Madow plug-in is within
    # 4 bootstrap SEs of the exact H (the residual bias for ~40 observed masks is below
    # (m - 1)/(2 N ln 2) = 0.007 bits before the correction, negligible against 4 SE)
    exact = mi.cell(_config(method="snip", kept=8), 0)
    est = mi.cell(_config(method="snip", kept=8, datasets=4000, bootstrap=100), 0)
    assert est["n_datasets"] == 4000 and est["info_se"] > 0
    assert abs(est["info_bits"] - exact["info_bits"]) < 4 * est["info_se"], (est, exact)
    zero = mi.cell(_config(method="random", kept=8, datasets=500, bootstrap=20), 0)
    assert zero["info_bits"] == 0.0 and zero["info_se"] == 0.0


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    sim = get_simulation("mask_information")
    cfg = resolve_config(sim, preset="quick")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    table = load_results(summary.folder)
    assert len(table) == 5 * 3 * 2
    for row in table.to_dict("records"):
        assert 0.0 <= row["info_bits"] <= min(row["ceiling_bits"],
                                              row["data_ceiling_bits"]) + 1e-9
        if row["method"] in ("random", "synflow"):
            # data-agnostic: one mask for all 1792 datasets, exactly 0 bits
            assert row["info_bits"] == 0.0 and row["distinct_masks"] == 1
        else:
            assert row["info_bits"] > 0.5
        if row["method"] in ("magnitude_after_training", "imp"):
            assert row["train_loss"] >= 0
    from noprune_theory.commands.plot import plot_folder

    paths = plot_folder(summary.folder, tmp_path / "figs")
    assert {p.suffix for p in paths} >= {".png", ".pdf"}
    assert all(p.stat().st_size > 1000 for p in paths if p.suffix in (".png", ".pdf"))
