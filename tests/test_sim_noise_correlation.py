"""The noise_correlation simulation ([NFP] Sec. 6): quick preset end to end, plot, and the
correlation measurement against identities it must satisfy."""
import math

import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation
from noprune_theory.sims import noise_correlation as nc


def test_noise_correlation_helper_matches_hand_computation():
    # f = (1, 2, 3) on the training points, E f = mean(0, 2) = 1 from the fresh values,
    # z = (1, -1, 2): ((1-1)*1 + (2-1)*(-1) + (3-1)*2) / 3 = (0 - 1 + 4) / 3 = 1
    out = nc._noise_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 2.0]]),
                                np.array([1.0, -1.0, 2.0]))
    assert out.shape == (1,) and out[0] == pytest.approx(1.0, abs=1e-15)
    # two networks at once, each centred by its own fresh mean: network 2 is f + 5 with fresh
    # values + 5, so its centred values and its corr are the same
    out = nc._noise_correlation(np.array([[1.0, 2.0, 3.0], [6.0, 7.0, 8.0]]),
                                np.array([[0.0, 2.0], [5.0, 7.0]]), np.array([1.0, -1.0, 2.0]))
    np.testing.assert_allclose(out, [1.0, 1.0], rtol=0, atol=1e-14)


def test_interpolating_student_has_the_noise_correlation_of_the_labels():
    # A student trained to (near) zero MSE has f(x_i) ~ y_i. Writing r_i = f(x_i) - y_i and
    # y_i = f*(x_i) + sigma z_i:
    #   corr(f) = (1/n) sum (f_i - Ef) z_i
    #           = (1/n) sum r_i z_i + sigma (1/n) sum z_i^2 + (1/n) sum (f*_i - Ef) z_i ,
    # so corr(f) - sigma mean(z^2) - (1/n) sum (f*_i - Ef) z_i = (1/n) sum r_i z_i, which
    # Cauchy-Schwarz bounds by sqrt(mean r^2) sqrt(mean z^2) = sqrt(MSE mean z^2). Every term
    # but corr(f) is computed here directly, so a wrong centring, a wrong noise vector or a
    # wrong normalisation in the simulation's measurement breaks the inequality.
    from noprune_theory.models import MaskedMLP

    config = {"n": 40, "d": 5, "sigma": 1.0, "teacher_depth": 2, "teacher_width": 8,
              "fresh": 500, "lr": 1e-2, "steps": 600, "grad_noise": 0.0, "record_every": 600}
    data, fresh, _ = nc._problem(config, seed=3)
    net = MaskedMLP(5, (64, 64), B=2, seed=3)
    steps, corr, loss = nc._run(net, data, data.y, fresh, config, seed=0)
    assert steps.tolist() == [0, 600] and corr.shape == (2, 2)
    f = np.asarray(net.forward(data.X))[:, :, 0]
    Ef = np.asarray(net.forward(fresh))[:, :, 0].mean(axis=1)
    z = data.noise
    mse = ((f - data.y) ** 2).mean(axis=1)
    assert np.all(mse < 1e-3)  # 64 x 64 ReLU nets interpolate 40 points
    rest = corr[-1] - z.dot(z) / 40 - ((data.target[None, :] - Ef[:, None]) * z).mean(axis=1)
    assert np.all(np.abs(rest) <= np.sqrt(mse * z.dot(z) / 40) + 1e-12)
    # the bound is not vacuous: corr itself is close to mean(z^2) ~ 1, far from 0
    assert np.all(corr[-1] > 0.5)


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    sim = get_simulation("noise_correlation")
    cfg = resolve_config(sim, preset="quick", backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    # 2 lr x 2 grad_noise x 2 seeds
    assert (summary.total, summary.computed) == (8, 8)
    table = load_results(summary.folder)
    # student 20 -> 32 -> 32 -> 32 -> 32 -> 1: 20*32 + 3*32*32 + 32 = 3744 weights; IMP keeps
    # round(0.8^r * 3744) exactly: 2995, 2396, 1917
    expected_density = [1.0] + [round(0.8 ** r * 3744) / 3744 for r in (1, 2, 3)]
    for r in table.to_dict("records"):
        np.testing.assert_allclose(r["density"], expected_density, rtol=0, atol=1e-12)
        assert r["steps_recorded"] == list(range(0, 61, 10))
        for key in ("corr_imp", "corr_shuffled", "corr_other_noise"):
            assert len(r[key]) == 4 and r[key][0] == r["corr_final"]
            assert len(r[f"corr_{key[5:]}_curves"]) == 3
        # at initialization the student knows nothing of z: |corr| is of order
        # std(f_0) / sqrt(n) with std(f_0) ~ 0.1 here, far below 0.05
        assert abs(r["corr_curve"][0]) < 0.05
        # the teacher holds no noise: corr ~ N(0, var(f*) / n), var(f*) << 1
        assert abs(r["corr_teacher"]) < 0.05
        # mean of 200 squared standard normals: 1 +- 0.1 (sd sqrt(2/200)); 4 sd band
        assert abs(r["noise_power"] - 1.0) < 0.4
        assert all(math.isfinite(v) for v in r["corr_curve"] + r["loss_curve"])
    # lr 1e-2 drives the dense student to interpolation within 60 steps: corr near mean(z^2)
    for r in table.query("lr == 0.01 and grad_noise == 0.0").to_dict("records"):
        assert r["loss_final"] < 0.05 and r["corr_final"] > 0.8 * r["noise_power"]
    with pytest.raises(SystemExit) as info:
        main(["plot", str(summary.folder), "--out", str(tmp_path / "fig")])
    assert info.value.code == 0
    for stem in ("training", "imp", "lr_noise"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "fig" / f"noise_correlation_{stem}.{ext}").stat().st_size > 0


def test_bad_values_are_rejected_before_work():
    sim = get_simulation("noise_correlation")
    with pytest.raises(ValueError, match="lr must be"):
        resolve_config(sim, sets=["lr=0"])
    with pytest.raises(ValueError, match="depth must be"):
        resolve_config(sim, sets=["depth=1"])


# corr at the end of rounds 0-2 for the IMP mask, the shuffled mask and the other-noise mask,
# computed with commit 459ff50 (before the init and input_scale keys), numba backend
BEFORE_KEYS = {
    0.0: ([0.05504145835463335, 0.05525538706222897, 0.05893664084588822],
          [0.05504145835463335, 0.04490161126918517, 0.006239755811428988],
          [0.05504145835463335, 0.057105790041221814, 0.05522619201838307]),
    2e-3: ([0.052667229499626815, 0.055171495175459495, 0.059368717585238776],
           [0.052667229499626815, 0.04781251505940419, 0.008502534045982436],
           [0.052667229499626815, 0.056605248132452726, 0.05464854590792281]),
}


@pytest.mark.parametrize("grad_noise", [0.0, 2e-3])
def test_runs_cell_by_cell_with_the_numbers_of_before_the_protocol_keys(tmp_path, grad_noise):
    """noise_correlation is not batched (measured slower at the paper's scale); with the
    default init and input scale a cell's numbers are those of the earlier version (to
    rounding), and every stored cell records its init and input scale."""
    from noprune_theory.sims._runner import _batch_module

    sim = get_simulation("noise_correlation")
    assert _batch_module(sim) is None
    cfg = {k: f.default for k, f in nc.FIELDS.items()}
    cfg.update(backend="numba", n=40, d=6, teacher_width=8, width=12, depth=3, steps=20,
               record_every=5, imp_rounds=2, fresh=100, lr=3e-3, grad_noise=grad_noise)
    r = nc.cell(cfg, 1)
    # to rounding: BLAS adds in another order on another processor, and train() drops dead
    # units; a changed protocol moves these numbers in the second digit
    np.testing.assert_allclose([r["corr_imp"], r["corr_shuffled"], r["corr_other_noise"]],
                               BEFORE_KEYS[grad_noise], rtol=1e-9)
    run = resolve_config(sim, sets=["lr=3e-3", f"grad_noise={grad_noise}", "n=40", "d=6",
                                    "teacher_width=8", "width=12", "depth=3", "steps=10",
                                    "record_every=5", "imp_rounds=1", "fresh=100"], seeds=1,
                         backend="numba")
    table = load_results(run_simulation(run, out=tmp_path, progress=False).folder)
    assert set(table["init"]) == {"he"} and set(table["input_scale"]) == {"normalized"}


def test_init_and_input_scale_change_the_students_not_the_problem():
    cfg = {k: f.default for k, f in nc.FIELDS.items()}
    cfg.update(backend="numpy", n=40, d=9, teacher_width=8, width=12, depth=3, steps=20,
               record_every=10, imp_rounds=1, fresh=100, lr=1e-2, grad_noise=0.0, nets=1)
    base = nc.cell(cfg, 0)
    for change in ({"init": "torch"}, {"input_scale": "standard"}):
        other = nc.cell(dict(cfg, **change), 0)
        # the same data, noise and teacher ...
        assert other["noise_power"] == base["noise_power"]
        assert other["corr_teacher"] == base["corr_teacher"]
        # ... but other students: their outputs, hence their corr, differ from the start
        assert other["corr_curve"][0] != base["corr_curve"][0]
