"""``noprune-theory mi``: file formats, options, JSON output, and exit code 2 with one
``Error:`` line for bad input."""
import json
import math

import numpy as np
import pytest

from noprune_theory.cli import main
from noprune_theory.estimators import ksg_mi, mixed_mi, plugin_mi


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(500)
    y = 0.6 * x + 0.8 * rng.standard_normal(500)
    paths = {
        "x": tmp_path / "x.npy",
        "y": tmp_path / "y.npy",
        "ycsv": tmp_path / "y.csv",
        "npz": tmp_path / "data.npz",
        "xd": tmp_path / "xd.npy",
        "yd": tmp_path / "yd.npy",
    }
    np.save(paths["x"], x)
    np.save(paths["y"], y)
    np.savetxt(paths["ycsv"], y, delimiter=",")
    np.savez(paths["npz"], a=x, b=y)
    np.save(paths["xd"], rng.integers(0, 3, 500))
    np.save(paths["yd"], rng.integers(0, 3, 500))
    return {k: str(v) for k, v in paths.items()}, x, y


def test_json_output_matches_the_api(files, capsys):
    p, x, y = files
    code, out, _ = run(capsys, "mi", p["x"], p["y"], "--json")
    assert code == 0
    record = json.loads(out)
    assert record["estimate"] == ksg_mi(x, y)
    assert record["unit"] == "nats" and record["k"] == 3 and record["n"] == 500


def test_csv_npz_and_bits(files, capsys):
    p, x, y = files
    code, out, _ = run(capsys, "mi", f"{p['npz']}:a", p["ycsv"], "--base", "2", "--json")
    assert code == 0
    record = json.loads(out)
    # the CSV round trip keeps 18 significant digits, enough for identical neighbours
    assert record["estimate"] == pytest.approx(ksg_mi(x, y) / math.log(2), abs=1e-12)
    assert record["unit"] == "bits"


@pytest.mark.parametrize("name,fn", [
    ("ksg2", lambda x, y: ksg_mi(x, y, algorithm=2, k=5, seed=3)),
    ("mixed", lambda x, y: mixed_mi(x, y, k=5, seed=3)),
])
def test_estimator_options(files, capsys, name, fn):
    p, x, y = files
    code, out, _ = run(capsys, "mi", p["x"], p["y"], "--estimator", name, "--k", "5",
                       "--seed", "3", "--json")
    assert code == 0
    assert json.loads(out)["estimate"] == fn(x, y)


def test_plugin_and_human_output(files, capsys):
    p, _, _ = files
    code, out, _ = run(capsys, "mi", p["xd"], p["yd"], "--estimator", "plugin",
                       "--correction", "miller_madow")
    assert code == 0
    expect = plugin_mi(np.load(p["xd"]), np.load(p["yd"]), correction="miller_madow")
    assert out.startswith(f"I(X; Y) = {expect:.6g} nats")


@pytest.mark.parametrize("args,message", [
    (["--k", "0"], "--k must be an integer >= 1, got '0'"),
    (["--k", "500"], "k must be an integer < the number of samples n = 500"),
    (["--base", "1"], "base must be a number > 0 other than 1"),
    (["--estimator", "plugin"], "x holds non-integer floats"),
    (["--jitter", "-1"], "--jitter must be a number >= 0"),
])
def test_bad_options_exit_2_with_one_error_line(files, capsys, args, message):
    p, _, _ = files
    code, out, err = run(capsys, "mi", p["x"], p["y"], *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ") and message in err


def test_bad_files_exit_2(files, capsys, tmp_path):
    p, _, _ = files
    short = tmp_path / "short.npy"
    np.save(short, np.zeros(10))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([0.0, np.nan, 1.0, 2.0, 3.0]))
    cases = [
        ([p["x"], str(tmp_path / "missing.npy")], "Y: no such file"),
        ([p["npz"], p["y"]], "holds arrays ['a', 'b']; name one"),
        ([f"{p['npz']}:c", p["y"]], "has no array 'c'"),
        ([p["x"], str(short)], "same number of samples; x has 500, y has 10"),
        ([str(nan), str(nan)], "x must not contain NaN or inf"),
        ([p["x"], str(tmp_path)], "Y: no such file"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "mi", *args)
        assert code == 2, args
        assert message in err, (args, err)


def test_unsupported_extension(files, capsys, tmp_path):
    p, _, _ = files
    other = tmp_path / "x.txt"
    other.write_text("1\n2\n")
    code, _, err = run(capsys, "mi", str(other), p["y"])
    assert code == 2 and "unsupported file type" in err
