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
