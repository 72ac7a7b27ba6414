"""The real-data analogue of [NFP] Fig. 1b: its loader, the checks of a user's arrays, a tiny run,
and the batched path against the cell-by-cell one."""
import sys

import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.data import DIGITS_INSTALL_HINT, classification_data
from noprune_theory.sims import get_simulation, load_results, resolve_config, run_simulation


# ----------------------------------------------------------------------------- the loader
def test_digits_are_the_1797_images_of_scikit_learn_on_the_unit_scale():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = classification_data()
    raw_X, raw_y = datasets.load_digits(return_X_y=True)
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.dtype == np.int64 and y.tolist() == raw_y.tolist()
    # pixels are 0..16 and both ends occur, so "unit" is x / 16 exactly
    assert raw_X.min() == 0 and raw_X.max() == 16
    np.testing.assert_array_equal(X, raw_X / 16.0)
    Xn, _ = classification_data("digits", rescale="none")
    np.testing.assert_array_equal(Xn, raw_X)


def test_missing_scikit_learn_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'noprune-theory\[digits\]'"):
        classification_data("digits")


def _images(n=40, classes=4, seed=0):
    """FashionMNIST-like arrays: (n, 6, 5) uint8 images, labels 0..classes-1 all present."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 6, 5)).astype(np.uint8)
    X[0, 0, 0], X[1, 0, 0] = 0, 255
    y = np.arange(n) % classes
    return X, y


def test_npz_and_npy_files_take_the_same_path_as_arrays(tmp_path):
    X, y = _images()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y.astype(np.float32))  # whole-number floats are labels too
    ref_X, ref_y = classification_data((X, y))
    # 8-bit images with both 0 and 255 present: "unit" is x / 255, images flattened row-major
    np.testing.assert_array_equal(ref_X, X.reshape(40, 30) / 255.0)
    for source, labels in ((tmp_path / "d.npz", None), (str(tmp_path / "X.npy"),
                                                        tmp_path / "y.npy")):
        got_X, got_y = classification_data(source, labels)
        np.testing.assert_array_equal(got_X, ref_X)
        np.testing.assert_array_equal(got_y, ref_y)
        assert got_y.dtype == np.int64


@pytest.mark.parametrize("X, y, match", [
    (np.ones(5), np.zeros(5, int), r"X must have shape \(n, d\)"),
    (np.ones((1, 3)), np.zeros(1, int), "at least 2 examples"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([0, 1]), "NaN or inf"),
    (np.ones((2, 2), complex), np.array([0, 1]), "real numbers, got dtype complex128"),
    (np.ones((2, 2), bool), np.array([0, 1]), "real numbers, got dtype bool"),
    (np.eye(3), np.array([0, 1]), r"shape \(3,\), one label per example"),
    (np.eye(3), np.array([[0], [1], [1]]), r"shape \(3,\), one label per example"),
    (np.eye(3), np.array([0.0, 1.5, 1.0]), "whole-number class labels"),
    (np.eye(3), np.array(["a", "b", "a"]), "integer class labels, got dtype <U1"),
    (np.eye(3), np.array([1, 2, 3]), "coded 0 .. C-1 .* got the values 1, 2, 3"),
    (np.eye(3), np.array([0, 2, 2]), "coded 0 .. C-1 .* got the values 0, 2"),
    (np.eye(3), np.array([0, 0, 0]), "C >= 2"),
    (np.full((3, 2), 7.0), np.array([0, 1, 0]), "constant"),
])
def test_bad_arrays_are_named(X, y, match):
    with pytest.raises(ValueError, match=match):
        classification_data((X, y))


def test_bad_files_are_named(tmp_path):
    X, y = _images()
    np.savez(tmp_path / "noy.npz", X=X, labels=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None]), allow_pickle=True)
    (tmp_path / "d.csv").write_text("1,2\n")
    cases = [
        ((tmp_path / "d.csv", None), r"\.npz \(arrays X and y\) or \.npy"),
        ((tmp_path / "none.npz", None), "does not exist"),
        ((tmp_path / "noy.npz", None), "must hold arrays named X and y; it has X, labels"),
        ((tmp_path / "X.npy", None), "holds X only: give its labels"),
        ((tmp_path / "X.npy", tmp_path / "none.npy"), "labels file must be an existing .npy"),
        ((tmp_path / "X.npy", tmp_path / "obj.npy"), "cannot be read without pickles"),
        ((tmp_path / "noy.npz", tmp_path / "X.npy"), "labels is only for a .npy data file"),
    ]
    for (source, labels), match in cases:
        with pytest.raises(ValueError, match=match):
            classification_data(source, labels)
    with pytest.raises(ValueError, match="rescale must be one of"):
        classification_data((X, y), rescale="standard")
    with pytest.raises(TypeError, match="source must be 'digits', a path or a pair"):
        classification_data(3)


# ----------------------------------------------------------------------------- the simulation
TINY = ["n=60", "width=8", "epochs=2", "batch_size=16", "synflow_iterations=2", "nets=2"]


def _point(sets, **fixed):
    cfg = resolve_config(get_simulation("digits_memorization"), sets=sets, backend="numpy")
    point = next(iter(cfg.points()))
    point.update(fixed, backend="numpy")
    return point


def test_batched_cells_equal_cell_by_cell_for_the_same_seeds():
    pytest.importorskip("sklearn")
    from noprune_theory.sims import digits_memorization as dm

    point = _point(TINY)
    items = [(dict(point, method=m, sparsity=s), seed)
             for m in ("imp", "magnitude_after_training", "snip", "random")
             for s in (0.0, 0.5, 0.8) for seed in (0, 1)]
    batched = dm.cells_batch(items)
    assert batched == [dm.cell(c, s) for c, s in items]
    # the seeds differ (noise, subset, init, minibatch order); the dense cells of one seed agree
    dense = {(c["method"], s): v for (c, s), v in zip(items, batched) if c["sparsity"] == 0}
    assert dense[("imp", 0)] == dense[("random", 0)] != dense[("imp", 1)]
    for (c, _), v in zip(items, batched):
        # d = 64 -> 8 -> 8 -> 10: 64*8 + 8*8 + 8*10 = 656 weights, pruned to an exact count
        assert v["total_weights"] == 656
        assert v["kept_weights"] == round((1 - c["sparsity"]) * 656)
        assert v["n_train"] == 60 and v["classes"] == 10 and v["diverged"] == 0
        assert 0.0 <= v["train_accuracy"] <= 1.0


def test_user_npz_runs_through_cell_with_its_own_classes(tmp_path):
    from noprune_theory.sims import digits_memorization as dm

    X, y = _images(n=40, classes=4)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    point = _point(TINY[1:] + [f"data_file={tmp_path / 'd.npz'}"], method="snip", sparsity=0.5)
    dm.check_config(point)
    v = dm.cell(point, 0)
    # 30 -> 8 -> 8 -> 4 has 30*8 + 8*8 + 8*4 = 336 weights; 4 balanced classes
    assert (v["total_weights"], v["kept_weights"], v["n_train"], v["classes"]) == (336, 168, 40, 4)
    assert v["chance"] == 0.25


def test_noise_is_drawn_once_per_network_with_the_stated_variance():
    pytest.importorskip("sklearn")
    from noprune_theory.sims import digits_memorization as dm

    point = _point(["n=0", "nets=2", "noise_variance=3"])
    X, y, classes = dm._problems(point, 5)
    clean, labels = classification_data()
    assert X.shape == (2, 1797, 64) and classes == 10
    np.testing.assert_array_equal(y, np.stack([labels, labels]))
    z = X - clean
    # 1797*64 = 115008 draws per network: the sample variance of N(0, 3) has standard error
    # 3 * sqrt(2 / 115008) = 0.0125, so 0.06 is ~5 sigma
    assert abs(z[0].var() - 3.0) < 0.06 and abs(z[1].var() - 3.0) < 0.06
    assert not np.array_equal(z[0], z[1])
    np.testing.assert_array_equal(X, dm._problems(point, 5)[0])


@pytest.mark.slow
def test_quick_preset_runs_and_plots(tmp_path):
    pytest.importorskip("sklearn")
    sim = get_simulation("digits_memorization")
    cfg = resolve_config(sim, preset="quick", backend="numpy")
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    assert (summary.total, summary.computed) == (21, 21)  # 7 methods x 3 sparsities x 1 seed
    table = load_results(summary.folder)
    assert set(table["n_train"]) == {500} and set(table["classes"]) == {10}
    dense = table[table["sparsity"] == 0]
    assert dense["train_accuracy"].nunique() == 1
    with pytest.raises(SystemExit) as info:
        main(["plot", str(summary.folder), "--out", str(tmp_path / "fig")])
    assert info.value.code == 0
    assert (tmp_path / "fig" / "digits_memorization.png").stat().st_size > 0


# ----------------------------------------------------------------------------- CLI errors
def _cli_error(args, capsys):
    from noprune_theory.sims import digits_memorization as dm

    dm._dataset.cache_clear()
    with pytest.raises(SystemExit) as info:
        main(args)
    dm._dataset.cache_clear()
    err = capsys.readouterr().err
    return info.value.code, err.strip().splitlines()


def test_cli_without_scikit_learn_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    code, lines = _cli_error(["sim", "digits_memorization", "--preset", "quick", "--out",
                              str(tmp_path), "-q"], capsys)
    assert code == 2 and lines == [f"Error: {DIGITS_INSTALL_HINT}"]
    assert not (tmp_path / "digits_memorization").exists()


def test_cli_bad_data_file_is_one_error_line(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", X=np.ones((4, 3)), y=np.array([1, 2, 3, 4]))
    code, lines = _cli_error(["sim", "digits_memorization", "--set",
                              f"data_file={tmp_path / 'bad.npz'}", "--out", str(tmp_path), "-q"],
                             capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("Error: y of ") and "coded 0 .. C-1" in lines[0]


def test_cli_n_above_the_data_is_one_error_line(tmp_path, capsys):
    X, y = _images(n=40)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    code, lines = _cli_error(["sim", "digits_memorization", "--set",
                              f"data_file={tmp_path / 'd.npz'}", "--set", "n=41", "--out",
                              str(tmp_path), "-q"], capsys)
    assert code == 2 and lines == ["Error: n must be at most the 40 examples of the data (or 0 "
                                   "for all), got 41"]


def test_run_simulation_checks_the_data_file_before_any_folder(tmp_path):
    # the Python API runs the simulation's own check too, not only the command line
    np.savez(tmp_path / "bad.npz", X=np.ones((4, 3)), y=np.array([1, 2, 3, 4]))
    cfg = resolve_config(get_simulation("digits_memorization"),
                         sets=[f"data_file={tmp_path / 'bad.npz'}"])
    with pytest.raises(ValueError, match="coded 0 .. C-1"):
        run_simulation(cfg, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
