"""The shuffle_ablation simulation ([FDRC] ablations on [NFP]'s memorization task): quick preset
end to end, plot, and the pieces of the cell against direct computations."""
import itertools

import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.sims import shuffle_ablation as sa


def _effective_brute_force(masks):
    """Weight (l, i, j) counts when some input reaches unit i of layer l and unit j of layer
    l + 1 reaches the output, found by enumerating every input-to-output path."""
    B = masks[0].shape[0]
    sizes = [masks[0].shape[1]] + [m.shape[2] for m in masks]
    out = np.zeros(B, dtype=np.int64)
    for b in range(B):
        used = set()
        for path in itertools.product(*[range(s) for s in sizes]):
            if all(masks[l][b, path[l], path[l + 1]] for l in range(len(masks))):
                used.update((l, path[l], path[l + 1]) for l in range(len(masks)))
        out[b] = len(used)
    return out


def test_effective_weights_equal_path_enumeration():
    rng = np.random.default_rng(0)
    # 3 -> 4 -> 3 -> 1 at several densities: sparse masks have dead ends and unreachable units
    for density in (0.2, 0.4, 0.7, 1.0):
        masks = [rng.random((3, a, b)) < density for a, b in ((3, 4), (4, 3), (3, 1))]
        np.testing.assert_array_equal(sa._effective_weights(masks), _effective_brute_force(masks))
    # dense: every weight is on a path, 12 + 12 + 3 = 27
    dense = [np.ones((1, a, b), dtype=bool) for a, b in ((3, 4), (4, 3), (3, 1))]
    assert sa._effective_weights(dense).tolist() == [27]


def test_stacked_batch_computes_every_variant():
    # the cell trains the four variants as one batch: its forward pass must be the variants'
    # forward passes side by side (weights, biases and masks concatenated in order)
    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune, reinitialize, shuffle_masks

    init = MaskedMLP(4, (6, 5), B=2, seed=1)
    masks = prune(init, "random", sparsity=0.5, seed=2)
    a = init.copy()
    a.set_masks(sa._contiguous(masks))
    b = init.copy()
    b.set_masks(sa._contiguous(shuffle_masks(masks, seed=3)))
    c = reinitialize(a, seed=9)
    big = sa._stack_variants(init, [a, b, c])
    assert big.B == 6
    X = np.random.default_rng(4).standard_normal((7, 4))
    expected = np.concatenate([np.asarray(n.forward(X)) for n in (a, b, c)])
    np.testing.assert_allclose(np.asarray(big.forward(X)), expected, rtol=0, atol=1e-14)
    assert all(m.flags.c_contiguous for m in big.masks)


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    sim = get_simulation("shuffle_ablation")
    cfg = resolve_config(sim, preset="quick", backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    # 7 methods x 2 values of k x 2 seeds
    assert (summary.total, summary.computed) == (28, 28)
    table = load_results(summary.folder)
    # 30 -> 32 -> 32 -> 1: 30*32 + 32*32 + 32 = 2016 weights; exactly round(0.8^k * 2016) kept
    for r in table.to_dict("records"):
        kept = round(0.8 ** r["k"] * 2016)
        assert r["total_weights"] == 2016 and r["kept_weights"] == kept
        assert r["diverged"] == 0
        for v in sa.VARIANTS:
            assert 0.0 <= r[f"memorized_{v}"] <= 1.0 and r[f"loss_{v}"] > 0
            assert 0 <= r[f"steps_{v}"] <= 600
        for v in ("found", "shuffled", "inverted"):
            assert 0 <= r[f"effective_{v}"] <= kept
        # per-layer densities weighted by layer sizes give the overall density back
        sizes = np.array([960, 1024, 32])
        for key in ("layer_density_found", "layer_density_inverted"):
            assert np.dot(r[key], sizes) == pytest.approx(kept, abs=1e-9)
    # at k = 8 (16.8% kept, 338 weights for 30 points) the masks found by SynFlow and IMP
    # memorize everything, and so do their shuffled and reinitialized versions
    for method in ("synflow", "imp"):  # noqa: B007 (used by the query string)
        for r in table.query("method == @method and k == 8").to_dict("records"):
            assert r["memorized_found"] == 1.0
            assert r["memorized_shuffled"] == 1.0 and r["memorized_reinit"] == 1.0
    with pytest.raises(SystemExit) as info:
        main(["plot", str(summary.folder), "--out", str(tmp_path / "fig")])
    assert info.value.code == 0
    for stem in ("memorization", "loss"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "fig" / f"shuffle_ablation_{stem}.{ext}").stat().st_size > 0


def test_bad_method_is_rejected_before_work():
    with pytest.raises(ValueError, match="method must be one of 'random', 'magnitude'"):
        resolve_config(get_simulation("shuffle_ablation"), sets=["method=lottery"])


def _point(**fixed):
    cfg = resolve_config(get_simulation("shuffle_ablation"),
                         sets=["method=random", "k=4", "n=6", "d=3", "width=4", "steps=20",
                               "nets=2"], backend="numpy")
    point = next(iter(cfg.points()))
    point.update(fixed, backend="numpy")
    return point


def test_torch_init_reaches_every_variant_and_rewinds_with_its_biases():
    # regression: reinitialize() zeroed the biases and the stacked batch rewound them to zero,
    # right only while every init started biases at zero
    from noprune_theory.models import MaskedMLP

    point = _point(init="torch", input_scale="standard")
    init, variants, big, Xs, _ = sa._prepared(point, 3)
    ref = MaskedMLP(3, (4, 4), B=2, seed=3, init="torch")
    fresh = MaskedMLP(3, (4, 4), B=2, seed=3 + 1_000_003, init="torch")
    for l in range(3):
        for v in ("found", "shuffled", "inverted"):
            np.testing.assert_array_equal(variants[v].biases[l], ref.biases[l])
        np.testing.assert_array_equal(variants["reinit"].biases[l], fresh.biases[l])
        np.testing.assert_array_equal(variants["reinit"].initial_biases[l], fresh.biases[l])
    expected = [np.concatenate([variants[v].biases[l] for v in sa.VARIANTS]) for l in range(3)]
    big.biases = [b + 1.0 for b in big.biases]
    big.rewind()
    for l in range(3):
        np.testing.assert_array_equal(big.biases[l], expected[l])
    # standard inputs: N(0, I_d), the normalized draws times sqrt(d)
    _, _, _, Xn, _ = sa._prepared(_point(init="torch"), 3)
    np.testing.assert_allclose(Xs, Xn * np.sqrt(3), rtol=1e-15)


def test_init_keys_are_shared_with_memorization_and_default_to_todays_protocol():
    from noprune_theory.sims import memorization

    for key in ("init", "input_scale"):
        assert sa.FIELDS[key] is memorization.FIELDS[key]
    point = _point()
    assert (point["init"], point["input_scale"]) == ("he", "normalized")
    init, variants, _, _, _ = sa._prepared(point, 3)
    assert init.init == "he" and not any(np.any(b) for b in variants["reinit"].biases)


def test_paper_protocol_preset_uses_the_papers_data_and_init():
    sim = get_simulation("shuffle_ablation")
    cfg = resolve_config(sim, preset="paper-protocol")
    ours = resolve_config(sim, preset="paper")
    assert (cfg.values["init"], cfg.values["input_scale"]) == ("torch", "standard")
    assert (ours.values["init"], ours.values["input_scale"]) == ("he", "normalized")
    assert cfg.values["k"] == ours.values["k"] and cfg.values["steps"] == ours.values["steps"]
    per_point = cfg.seeds * cfg.values["nets"]
    assert f"= {per_point} problems per point" in sim.presets["paper-protocol"].description
