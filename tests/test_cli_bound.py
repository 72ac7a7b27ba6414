"""``noprune-theory bound``: output formats, agreement with the API, and bad input."""
import json
import subprocess
import sys
import warnings

import pytest

from noprune_theory.cli import main
from noprune_theory.theory import (
    SampleSizeWarning,
    effective_params,
    lipschitz_param_constant,
    mask_entropy_bound,
    required_params,
    robustness_bound,
    sample_size_condition,
    sparse_robustness_bound,
)


def run(capsys, *args):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def bound_json(capsys, *args):
    code, out, err = run(capsys, "bound", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_default_table_states_defaults_validity_and_requirement(capsys):
    code, out, err = run(capsys, "bound", "--n", "1e4", "--d", "100")
    assert code == 0, err
    for default in ("eps = 0.1", "delta = 0.01", "c = 1", "W = 1", "J = 1", "k = 1"):
        assert default in out
    assert "defaults assumed" in out
    # both conditions fail at n = 1e4, eps = 0.1 and the needed n is named
    assert out.count("FAILS: needs n >=") == 2
    assert "[BS Thm 3]" in out and "[NFP Thm 4]" in out
    assert "nd/10" in out and "10 nd" in out
    assert "O(1)-Lipschitz" in out and "bits" in out


def test_issue_example_condition_fails_and_names_n(capsys):
    # 8^4 log(800) = 27379.3 > n eps^2 = 2500: needs n >= 109520.7 (printed to 4 digits)
    code, out, _ = run(capsys, "bound", "--n", "1e4", "--d", "100", "--eps", "0.5")
    assert code == 0
    assert "FAILS: needs n >= 1.095e+05" in out


def test_json_equals_api(capsys):
    rep = bound_json(capsys, "--n", "1e5", "--d", "50", "--eps", "0.3", "--delta", "0.05",
                     "--c", "2", "--W", "3", "--J", "5", "--k", "2")
    opts = dict(eps=0.3, delta=0.05, c=2.0)
    assert rep["inputs"]["n"] == 1e5 and rep["assumed"] == {}
    sizes = [r["size"] for r in rep["table"]]
    # nd/100 = 5e4, n = 1e5, nd/10 = 5e5, nd = 5e6, 10 nd = 5e7, sorted by size
    assert sizes == [5e4, 1e5, 5e5, 5e6, 5e7]
    assert [r["label"] for r in rep["table"]] == ["nd/100", "n", "nd/10", "nd", "10 nd"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        for row in rep["table"]:
            assert row["dense_lip_lower"] == robustness_bound(1e5, 50, row["size"], W=3, J=5, k=2,
                                                              **opts)
            assert row["sparse_lip_lower"] == sparse_robustness_bound(1e5, 50, row["size"], k=2,
                                                                      **opts)
            # the informal scale eps sqrt(n d / size), constants dropped
            assert row["informal_scale"] == pytest.approx(0.3 * (1e5 * 50 / row["size"]) ** 0.5,
                                                          rel=1e-12)
    for key, theorem in (("dense", "dense"), ("sparse", "sparse")):
        cond = sample_size_condition(1e5, eps=0.3, delta=0.05, k=2, theorem=theorem)
        assert rep["conditions"][key]["n_required"] == cond.n_required
        assert rep["conditions"][key]["holds"] == cond.holds
    assert rep["required"]["p_eff_bits"] == required_params(1e5, 50, **opts)
    assert rep["required"]["p"] == required_params(1e5, 50, sparse=False, W=3, J=5, **opts)
    assert rep["units"]["p_eff"] == "bits"
    # informally p_eff ~ eps^2 n d / Lip^2 = 0.09 * 5e6 / 1 = 4.5e5
    assert rep["required"]["informal_p_eff"] == pytest.approx(4.5e5, rel=1e-12)


def test_json_keys_are_stable(capsys):
    rep = bound_json(capsys, "--n", "1e4", "--d", "100")
    assert set(rep) == {"inputs", "assumed", "units", "conditions", "table", "required",
                        "model", "sources"}
    assert set(rep["table"][0]) == {"label", "size", "dense_lip_lower", "sparse_lip_lower",
                                    "informal_scale"}
    assert set(rep["assumed"]) == {"eps", "delta", "c", "W", "J", "k"}
    assert all(info["why"] for info in rep["assumed"].values())
    assert rep["model"] is None


def test_width_derives_p_and_J_and_mask_section(capsys):
    rep = bound_json(capsys, "--n", "1e6", "--d", "100", "--width", "50", "--sparsity", "0.9",
                     "--mi", "3", "--mi-unit", "nats", "--eps", "0.5")
    m = rep["model"]
    assert m["p"] == 5100.0  # 50 * (100 + 2)
    # J = R (w_max Q p)^D = 5100^2 [BS Lemma 3.1], R = Q = w_max = 1, D = 2
    assert m["J"] == lipschitz_param_constant(5100, depth=2) == pytest.approx(5100.0**2)
    # W is the diameter of [-1, 1]^5100: 2 sqrt(5100) = 142.83, not the coordinate bound 1
    assert m["W"] == pytest.approx(2 * 5100**0.5, rel=1e-14) and m["w_max"] == 1.0
    assert rep["inputs"]["W"] == m["W"]
    assert "J" not in rep["assumed"] and "W" not in rep["assumed"]
    assert rep["assumed"]["w_max"]["value"] == 1.0
    assert m["kept"] == pytest.approx(510.0)
    assert m["mask_entropy_bits"] == mask_entropy_bound(5100, m["kept"])
    assert m["mi_bits"] == pytest.approx(3 / 0.6931471805599453, rel=1e-12)
    assert m["p_eff_given_mi"] == effective_params(m["kept"], 3.0, eps=0.5, W=m["W"], J=m["J"],
                                                   mi_unit="nats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        assert m["dense_lip_lower"] == robustness_bound(1e6, 100, 5100, eps=0.5, W=m["W"],
                                                        J=m["J"])
    # a more informative mask can only lower the bound
    assert m["sparse_lip_lower_max_informative"] < m["sparse_lip_lower_data_agnostic"]


def test_kept_and_text_output_of_model(capsys):
    code, out, err = run(capsys, "bound", "--n", "1e6", "--d", "100", "--p", "1e4", "--kept",
                         "100")
    assert code == 0, err
    assert "your model: p = 10000" in out
    assert "most informative mask" in out and "data-agnostic" in out


def test_latex_output(capsys):
    code, out, _ = run(capsys, "bound", "--n", "1e4", "--d", "100", "--latex")
    assert code == 0
    assert out.startswith(r"\begin{table}") and r"\toprule" in out and r"\end{tabular}" in out
    assert out.count(r"\\") >= 5  # header and four rows


@pytest.mark.parametrize("args, option", [
    (["--n", "0", "--d", "100"], "--n"),
    (["--n", "-5", "--d", "100"], "--n"),
    (["--n", "nan", "--d", "100"], "--n"),
    (["--n", "inf", "--d", "100"], "--n"),
    (["--n", "ten", "--d", "100"], "--n"),
    (["--n", "1e4", "--d", "0"], "--d"),
    (["--n", "1e4", "--d", "100", "--eps", "0"], "--eps"),
    (["--n", "1e4", "--d", "100", "--eps", "1"], "--eps"),
    (["--n", "1e4", "--d", "100", "--delta", "1.5"], "--delta"),
    (["--n", "1e4", "--d", "100", "--delta", "0"], "--delta"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--mi", "-1"], "--mi"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--sparsity", "1"], "--sparsity"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--sparsity", "-0.1"], "--sparsity"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--kept", "101"], "--kept"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--kept", "5", "--sparsity", "0.5"],
     "--sparsity"),
    (["--n", "1e4", "--d", "100", "--kept", "5"], "--kept"),
    (["--n", "1e4", "--d", "100", "--c", "0"], "--c"),
    (["--n", "1e4", "--d", "100", "--k", "0"], "--k"),
    (["--n", "1e4", "--d", "100", "--k", "1.5"], "--k"),
    (["--n", "1e4", "--d", "100", "--width", "0"], "--width"),
    (["--n", "1e4", "--d", "100", "--p", "10", "--mi", "1", "--mi-unit", "bans"], "--mi-unit"),
    (["--n", "1e4", "--d", "100", "--W", "inf"], "--W"),
    (["--d", "100"], "--n"),
    # counts are integers (issue 14, inputs that slip through)
    (["--n", "1.5", "--d", "100"], "--n"),
    (["--n", "1e4", "--d", "100.5"], "--d"),
    (["--n", "1e4", "--d", "100", "--p", "100.5"], "--p"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--kept", "10.5"], "--kept"),
    # I(m; D) <= H(m) <= log2 C(p, kept) = log2 C(100, 10) = 43.98 bits
    (["--n", "1e4", "--d", "100", "--p", "100", "--kept", "10", "--mi", "44"], "--mi"),
    (["--n", "1e4", "--d", "100", "--p", "100", "--kept", "10", "--mi", "30.5", "--mi-unit",
      "nats"], "--mi"),  # 30.5 nats = 44.0 bits
    (["--n", "1e4", "--d", "100", "--p", "100", "--mi", "1e-3"], "--mi"),  # dense: cap 0
    (["--n", "1e4", "--d", "100", "--width", "5", "--sparsity", "0.5", "--mi", "1e6"], "--mi"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, option):
    code, out, err = run(capsys, "bound", *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error:") and option in lines[0]
    assert "Traceback" not in err


def test_out_of_range_message_states_the_range(capsys):
    _, _, err = run(capsys, "bound", "--n", "1e4", "--d", "100", "--eps", "2")
    assert "--eps must be a number in (0, 1), got '2'" in err


def test_help_needs_no_sympy_and_names_sources():
    code = ("import sys\nfrom noprune_theory.cli import main\n"
            "try:\n    main(['bound', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'sympy' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "could not be checked" in out.stdout
    assert "Defaults and why" in out.stdout and "bits" in out.stdout


def test_help_states_the_defaults_the_api_uses():
    # the epilog is plain text (no numpy import for --help); keep it true to DEFAULTS
    from noprune_theory.commands.bound import EPILOG
    from noprune_theory.theory import DEFAULTS

    for name, value in DEFAULTS.items():
        assert f"--{name} {value:g}" in EPILOG


# ---------------------------------------------------------------- float limits (issue 14 item 3)

def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_at_the_edge_of_float64_is_strict_and_right(capsys):
    # 8/delta = 2.7e308 overflows float64: the condition's lhs is 8^4 (log 8 - log delta)
    import mpmath

    code, out, err = run(capsys, "bound", "--n", "1e4", "--d", "100", "--delta", "3e-308",
                         "--json")
    assert code == 0, err
    rep = _strict_json(out)
    lhs = float(4096 * mpmath.log(8 / mpmath.mpf("3e-308")))
    assert rep["conditions"]["dense"]["lhs"] == pytest.approx(lhs, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        assert rep["table"][0]["dense_lip_lower"] == robustness_bound(1e4, 100, 1e4,
                                                                      delta=3e-308)
    assert all(row["dense_lip_lower"] > 0 and row["sparse_lip_lower"] > 0 for row in rep["table"])


@pytest.mark.parametrize("args, option", [
    (["--n", "1e4", "--d", "100", "--delta", "1e-320"], "--delta"),
    (["--n", "1e4", "--d", "100", "--delta", "1e-320", "--json"], "--delta"),
    (["--n", "1e4", "--d", "100", "--eps", "4e-324"], "--eps"),
    (["--n", "1e308", "--d", "100"], "--n"),
    (["--n", "1e300", "--d", "1e10", "--json"], "--n"),
    # p_eff = 1e300 log2(6e601) = 2e303 is right; the dense bound ~1e-452 underflows
    (["--n", "1e4", "--d", "100", "--p", "1e300", "--J", "1e300", "--eps", "1e-300"],
     "[BS Thm 3] bound underflows"),
    (["--n", "1e4", "--d", "100", "--p", "1e307", "--kept", "1e307", "--J", "1e300"],
     "p_eff is not a finite float64"),
])
def test_numbers_beyond_float64_give_one_error_line(capsys, args, option):
    code, out, err = run(capsys, "bound", *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # no RuntimeWarning or SampleSizeWarning lines before it
    assert lines[0].startswith("Error:") and option in lines[0]
    assert "'p'" not in lines[0] and " p must" not in lines[0]  # never an option not given


def test_dump_json_refuses_nan_and_names_where_it_is():
    import click

    from noprune_theory.commands._types import dump_json

    assert dump_json({"a": [1.0, 2.5]}) == '{"a": [1.0, 2.5]}'
    with pytest.raises(click.ClickException, match=r"\$\.a\[1\]"):
        dump_json({"a": [1.0, float("nan")]})
    with pytest.raises(click.ClickException, match=r"\$\.b\.c"):
        dump_json({"b": {"c": float("-inf")}})


def test_every_command_prints_json_through_dump_json():
    # json.dumps defaults to allow_nan=True and prints NaN / Infinity, which are not JSON
    from pathlib import Path

    import noprune_theory.commands as commands

    folder = Path(commands.__file__).parent
    offenders = [p.name for p in folder.glob("*.py")
                 if p.name != "_types.py" and "json.dump" in p.read_text()]
    assert offenders == []


def test_mi_at_its_cap_is_accepted(capsys):
    # log2 C(100, 10) = 43.9767..., given back at full precision
    cap = mask_entropy_bound(100, 10)
    rep = bound_json(capsys, "--n", "1e4", "--d", "100", "--p", "100", "--kept", "10", "--mi",
                     repr(cap))
    assert rep["model"]["mi_bits"] == cap
    assert rep["model"]["p_eff_given_mi"] == rep["model"]["p_eff_max_informative"]


def test_numbers_as_text_are_parsed_on_the_command_line_only(capsys):
    # the CLI parses "1e4"; the API it calls receives numbers (the API refuses strings)
    rep = bound_json(capsys, "--n", "1e4", "--d", "1e2", "--p", "1e3", "--kept", "1e2")
    assert rep["inputs"]["n"] == 10000 and rep["inputs"]["p"] == 1000.0
    with pytest.raises(TypeError, match="^n must be"):
        robustness_bound("1e4", 100, 10)


# ---------------------------------------------------------------- W is a diameter (issue 18)

def test_width_derives_the_diameter_from_the_coordinate_bound(capsys):
    # weights in [-0.5, 0.5]^p: W = 2 * 0.5 * sqrt(p) = sqrt(p), J = (0.5 p)^2
    rep = bound_json(capsys, "--n", "1e6", "--d", "100", "--width", "50", "--w-max", "0.5")
    m = rep["model"]
    assert m["W"] == pytest.approx(5100**0.5, rel=1e-14)
    assert m["J"] == pytest.approx(2550.0**2, rel=1e-14)
    assert "w_max" not in rep["assumed"] and rep["inputs"]["w_max"] == 0.5
    assert "2 w_max sqrt(p)" in m["W_source"] and "w_max = 0.5" in m["J_source"]


def test_width_numbers_changed_from_the_w_equals_1_convention(capsys):
    # before the fix W = 1 (the coordinate bound) stood in for the diameter: the dense bound of
    # the model section was eps/512 sqrt(n d/(p log(60 * 1 * J/eps) + log 400)); now W = 202
    code, out, _ = run(capsys, "bound", "--n", "1e7", "--d", "100", "--width", "100",
                       "--sparsity", "0.9", "--eps", "0.5")
    assert code == 0
    J = 10200.0**2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        old = robustness_bound(1e7, 100, 10200, eps=0.5, W=1.0, J=J)
        new = robustness_bound(1e7, 100, 10200, eps=0.5, W=2 * 10200**0.5, J=J)
    assert f"dense Lip >= {new:.4g}" in out and f"{old:.4g}" not in out
    assert "W = 202 (derived: W = 2 w_max sqrt(p)" in out


def test_given_W_overrides_the_derived_diameter(capsys):
    rep = bound_json(capsys, "--n", "1e6", "--d", "100", "--width", "50", "--W", "3")
    assert rep["model"]["W"] == 3.0 and rep["model"]["W_source"] == "given"
    assert rep["model"]["J"] == pytest.approx(5100.0**2)  # still derived from w_max = 1


def test_w_max_needs_width(capsys):
    code, out, err = run(capsys, "bound", "--n", "1e4", "--d", "100", "--p", "100",
                         "--w-max", "2")
    assert code == 2 and out == ""
    assert err.startswith("Error: --w-max needs --width") and len(err.strip().splitlines()) == 1
