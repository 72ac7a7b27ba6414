"""``noprune-theory lipschitz``: the JSON equals the API, the table, and exit code 2 with one
``Error:`` line for files that are not ours, corrupt files and bad options."""
import json

import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.cli import main
from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
from noprune_theory.models import MaskedMLP


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def files(tmp_path):
    net = MaskedMLP(4, (3,), B=2, scaling="ntk", seed=1)
    X = np.random.default_rng(0).standard_normal((30, 4)) / 2
    paths = {"model": tmp_path / "m.npz", "X": tmp_path / "X.npy",
             "junk": tmp_path / "junk.npz", "other": tmp_path / "other.npz",
             "cut": tmp_path / "cut.npz", "npy": tmp_path / "X.npy"}
    net.save(paths["model"])
    np.save(paths["X"], X)
    paths["junk"].write_bytes(b"not a zip file at all")
    np.savez(paths["other"], a=np.zeros(3))
    # a truncated copy of a real model file: corrupt
    paths["cut"].write_bytes(paths["model"].read_bytes()[:300])
    return {k: str(v) for k, v in paths.items()}, net, X


def test_json_equals_the_api(files, capsys):
    p, net, X = files
    code, out, err = run(capsys, "lipschitz", p["model"], "--data", p["X"], "--json")
    assert code == 0, err
    rec = json.loads(out)
    lo = lipschitz_lower(net, X)
    up = lipschitz_upper(net)
    assert rec["sizes"] == [4, 3, 1] and rec["scaling"] == "ntk"
    assert [r["lower"] for r in rec["networks"]] == to_numpy(lo.value).tolist()
    assert [r["upper"] for r in rec["networks"]] == to_numpy(up.value).tolist()
    assert [r["lower_method"] for r in rec["networks"]] == list(lo.method)
    assert all(r["exact"] for r in rec["networks"])  # width 3 <= d = 4
    for r in rec["networks"]:
        assert r["lower"] <= r["upper"] * (1 + 1e-12)


def test_table_and_methods(files, capsys):
    p, net, _ = files
    code, out, _ = run(capsys, "lipschitz", p["model"], "--method", "spectral",
                       "--lower", "random", "--steps", "0")
    assert code == 0
    assert "2 network(s)" in out and "spectral" in out and "random" in out
    lines = out.strip().splitlines()
    assert len(lines) == 2 + net.B


@pytest.mark.parametrize("key,needle", [
    ("junk", "is not a readable .npz file of a MaskedMLP"),
    ("other", "is not a saved MaskedMLP"),
    ("cut", "MaskedMLP"),
    ("npy", "is not a saved MaskedMLP"),  # a data file given as the model
])
def test_foreign_or_corrupt_files_exit_2(files, capsys, key, needle):
    p, _, _ = files
    code, out, err = run(capsys, "lipschitz", p[key])
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and needle in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args,needle", [
    (["missing.npz"], "no such file"),
    (["{model}", "--lower", "magic"], "--lower must list methods"),
    (["{model}", "--steps", "-1"], "--steps must be an integer >= 0"),
    (["{model}", "--data", "nothere.npy"], "--data: no such file"),
])
def test_bad_arguments_exit_2(files, capsys, args, needle):
    p, _, _ = files
    args = [a.format(**p) for a in args]
    code, _, err = run(capsys, "lipschitz", *args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def edge_files(tmp_path):
    net = MaskedMLP(4, (3,), B=2, seed=1)
    paths = {}
    for name, change in [("big", lambda d: {**d, "weight_0": d["weight_0"] * 1e200,
                                            "weight_1": d["weight_1"] * 1e200}),
                         ("inf", lambda d: {**d, "weight_1": d["weight_1"] * np.inf}),
                         ("nan", lambda d: {**d, "bias_0": d["bias_0"] * np.nan}),
                         ("complex", lambda d: {**d, "weight_0": d["weight_0"] + 1j})]:
        net.save(tmp_path / "m.npz")
        data = dict(np.load(tmp_path / "m.npz"))
        np.savez(tmp_path / f"{name}.npz", **change(data))
        paths[name] = str(tmp_path / f"{name}.npz")
    paths["model"] = str(tmp_path / "m.npz")
    X = np.random.default_rng(0).standard_normal((30, 4))
    np.save(tmp_path / "huge.npy", X * 1e300)
    np.save(tmp_path / "X.npy", X)
    paths["huge"], paths["X"] = str(tmp_path / "huge.npy"), str(tmp_path / "X.npy")
    return paths, net


@pytest.mark.parametrize("key,needle", [
    ("big", "exceeds the float64 range"),  # Lip ~ 1e400: an error, not inf or a wrong number
    ("inf", "weight_1 contains inf or NaN"),
    ("nan", "bias_0 contains inf or NaN"),
    ("complex", "weight_0 has dtype complex128, not real numbers"),
])
def test_models_at_the_float_limits_exit_2(edge_files, capsys, key, needle):
    p, _ = edge_files
    code, out, err = run(capsys, "lipschitz", p[key])
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and needle in err
    assert len(err.strip().splitlines()) == 1  # no warning lines before it


def test_huge_data_gives_the_bounds_without_warnings(edge_files, capsys):
    p, net = edge_files
    code, out, err = run(capsys, "lipschitz", p["model"], "--data", p["huge"], "--json")
    assert code == 0 and err == ""
    rec = json.loads(out)
    up = to_numpy(lipschitz_upper(net).value)
    lo = [r["lower"] for r in rec["networks"]]
    assert all(0 < v <= u * (1 + 1e-12) for v, u in zip(lo, up))


@pytest.mark.parametrize("lower", ["data", "pairs", "random,pairs"])
def test_data_methods_without_data_exit_2(edge_files, capsys, lower):
    p, _ = edge_files
    code, out, err = run(capsys, "lipschitz", p["model"], "--lower", lower)
    assert code == 2 and out == ""
    assert "needs --data" in err and len(err.strip().splitlines()) == 1


def test_default_lower_methods_follow_the_data(edge_files, capsys):
    p, _ = edge_files
    code, out, _ = run(capsys, "lipschitz", p["model"], "--json")
    assert code == 0
    assert {r["lower_method"] for r in json.loads(out)["networks"]} <= {"random", "ascent"}


def test_exact_column_is_the_certificate(tmp_path, capsys):
    # a linear network: the upper bound is the constant (exact yes, and the lower bound meets
    # it); f(x) = x_1 as relu(x_1) - relu(-x_1): exact 1, certified by the walk down
    lin = MaskedMLP(3, (4,), B=1, activation="identity", seed=0)
    lin.save(tmp_path / "lin.npz")
    code, out, _ = run(capsys, "lipschitz", str(tmp_path / "lin.npz"), "--json")
    row = json.loads(out)["networks"][0]
    assert code == 0 and row["exact"] is True
    assert abs(row["lower"] - row["upper"]) <= 1e-12 * row["upper"]
    relu = MaskedMLP(2, (2,), B=1, seed=0)
    relu.weights[0] = np.array([[[1.0, -1.0], [0.0, 0.0]]])
    relu.weights[1] = np.array([[[1.0], [-1.0]]])
    relu.biases[0] = np.zeros((1, 2))
    relu.save(tmp_path / "x1.npz")
    code, out, _ = run(capsys, "lipschitz", str(tmp_path / "x1.npz"), "--json")
    row = json.loads(out)["networks"][0]
    assert code == 0 and row["exact"] is True and row["upper"] == 1.0
    code, out, _ = run(capsys, "lipschitz", str(tmp_path / "x1.npz"))
    assert "exact" in out.splitlines()[1] and out.splitlines()[2].rstrip().endswith("yes")
