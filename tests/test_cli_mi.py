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
    (["--base", "1"], "--base must be a number > 1"),
    (["--base", "0.5"], "--base must be a number > 1"),
    (["--base", "-2"], "--base must be a number > 1"),
    (["--base", "two"], "--base must be a number > 1, e, nats or bits, got 'two'"),
    (["--seed", "1e23"], "--seed must be an integer in [0, 2**63 - 1] written exactly"),
    (["--seed", "9223372036854775808"], "--seed must be an integer in [0, 2**63 - 1]"),
    (["--seed", "-1"], "--seed must be an integer in [0, 2**63 - 1]"),
    (["--correction", "jackknife"], "--correction does not apply to --estimator ksg"),
    (["--estimator", "mixed", "--correction", "none"], "--correction does not apply"),
    (["--estimator", "plugin", "--k", "5"], "--k does not apply to --estimator plugin"),
    (["--estimator", "plugin", "--jitter", "0"], "--jitter does not apply"),
    (["--estimator", "plugin", "--seed", "1"], "--seed does not apply"),
    (["--estimator", "plugin", "--standardize", "rank"], "--standardize does not apply"),
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


def test_seed_in_e_notation_is_exact_or_refused(files, capsys):
    p, x, y = files
    code, out, _ = run(capsys, "mi", p["x"], p["y"], "--seed", "1e4", "--jitter", "1e-3",
                       "--json")
    assert code == 0
    record = json.loads(out)
    assert record["seed"] == 10000
    assert record["estimate"] == ksg_mi(x, y, seed=10000, jitter=1e-3)


def test_base_names_and_numbers(files, capsys):
    p, x, y = files
    for text, divisor, unit in [("bits", math.log(2), "bits"), ("e", 1.0, "nats"),
                                ("10", math.log(10), "log base 10")]:
        code, out, _ = run(capsys, "mi", p["x"], p["y"], "--base", text, "--json")
        assert code == 0, text
        record = json.loads(out)
        assert record["estimate"] == pytest.approx(ksg_mi(x, y) / divisor, rel=1e-15)
        assert record["unit"] == unit


def _one_error_line(code, out, err):
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: "), err


@pytest.mark.parametrize("kind", ["truncated_npz", "truncated_npy", "empty_npy", "empty_npz",
                                  "empty_csv", "blank_csv", "text_csv", "garbage_npy",
                                  "object_npy", "zero_length_npy"])
def test_unreadable_files_give_one_error_line(files, capsys, tmp_path, kind):
    p, x, _ = files
    bad = tmp_path / {"truncated_npz": "t.npz", "truncated_npy": "t.npy", "empty_npy": "e.npy",
                      "empty_npz": "e.npz", "empty_csv": "e.csv", "blank_csv": "b.csv",
                      "text_csv": "w.csv", "garbage_npy": "g.npy", "object_npy": "o.npy",
                      "zero_length_npy": "z.npy"}[kind]
    if kind == "truncated_npz":
        np.savez(bad, a=x)
        bad.write_bytes(bad.read_bytes()[:100])
    elif kind == "truncated_npy":
        np.save(bad, x)
        bad.write_bytes(bad.read_bytes()[:300])
    elif kind in ("empty_npy", "empty_npz", "empty_csv"):
        bad.write_bytes(b"")
    elif kind == "blank_csv":
        bad.write_text("\n\n")
    elif kind == "text_csv":
        bad.write_text("a,b\n1,2\n")
    elif kind == "garbage_npy":
        bad.write_bytes(b"not an array at all")
    elif kind == "object_npy":
        np.save(bad, np.array([1, "a", None], dtype=object), allow_pickle=True)
    else:
        np.save(bad, np.zeros(0))
    code, out, err = run(capsys, "mi", str(bad), p["y"])
    _one_error_line(code, out, err)
    assert "X: " in err and str(bad) in err


def test_bad_files_raise_no_warning_before_the_error(files, tmp_path, capfd):
    # a subprocess-free check that the warnings of numpy's readers never reach the terminal
    import warnings

    from noprune_theory.commands.mi import load_array

    bad = tmp_path / "blank.csv"
    bad.write_text("\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="X: .*blank.csv"):
            load_array(str(bad), "X")


def test_huge_values_give_the_right_answer_not_inf(files, capsys, tmp_path):
    _, x, _ = files
    huge = tmp_path / "huge.npy"
    np.save(huge, x * 1e300)
    code, out, err = run(capsys, "mi", str(huge), str(huge), "--standardize", "none", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["estimate"] == ksg_mi(x, x, standardize="none")
    assert math.isfinite(record["estimate"])


def test_discrete_labels_from_npy_and_csv(files, capsys, tmp_path):
    p, _, y = files
    labels = np.load(p["xd"])
    csv = tmp_path / "labels.csv"
    np.savetxt(csv, labels, delimiter=",")          # read back as floats 0.0, 1.0, 2.0
    expect = ksg_mi(labels, y)                       # integers: Ross (2014)
    code, out, _ = run(capsys, "mi", p["xd"], p["y"], "--json")
    assert code == 0 and json.loads(out)["estimate"] == expect
    assert json.loads(out)["discrete"] == "auto"
    code, out, _ = run(capsys, "mi", str(csv), p["y"], "--discrete", "x", "--json")
    assert code == 0 and json.loads(out)["estimate"] == expect
    code, out, _ = run(capsys, "mi", str(csv), p["y"], "--estimator", "mixed", "--discrete",
                       "x", "--json")
    assert code == 0 and json.loads(out)["estimate"] == mixed_mi(labels, y)
    code, out, _ = run(capsys, "mi", p["xd"], p["yd"], "--discrete", "both", "--json")
    assert json.loads(out)["estimate"] == pytest.approx(
        plugin_mi(labels, np.load(p["yd"])), abs=1e-13)


@pytest.mark.parametrize("args,message", [
    (["--estimator", "plugin", "--discrete", "x"], "--discrete does not apply"),
    (["--estimator", "ksg2", "--discrete", "x"], "--discrete does not apply"),
    (["--discrete", "z"], "Invalid value for '--discrete'"),
])
def test_discrete_option_errors(files, capsys, args, message):
    p, _, _ = files
    code, out, err = run(capsys, "mi", p["xd"], p["yd"], *args)
    _one_error_line(code, out, err)
    assert message in err
