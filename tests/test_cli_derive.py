"""``noprune-theory derive``: the steps are printed and the symbolic check decides the exit code."""
import subprocess
import sys

import pytest
import sympy as sp

from noprune_theory.cli import main
from noprune_theory.theory import _derivation


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_dense_derivation_prints_steps_and_checks(capsys):
    code, out, err = run(capsys, "derive")
    assert code == 0, err
    for words in ("Isoperimetric tail", "Subgaussian average", "net of the parameter set",
                  "solve for L"):
        assert words in out
    assert out.count("[ok]") == 3 and "FAILED" not in out
    # the last step as sympy solved it carries the constant 512 = 2^9
    assert "/(512*sqrt(c))" in out


def test_sparse_derivation_names_change_of_measure_and_audit(capsys):
    code, out, err = run(capsys, "derive", "--sparse")
    assert code == 0, err
    assert "Xu-Raginsky" in out and "p_eff" in out
    assert "/(1152*sqrt(c))" in out and "sqrt(delta)" in out
    assert out.count("[ok]") == 7 and "FAILED" not in out
    # the last steps follow [NFP] App. B.2 step 4, the quantile form at q = delta/2
    assert "quantile form" in out and "App. B.2, step 4" in out
    assert "s_C0(delta/2)" in out
    # the max-form route is explained as an artefact, not as a sqrt 2 error in the theorem
    assert "factor sqrt(2): an artefact of that route" in out
    assert "Budget audit" not in out and "too strong" not in out


def test_sparse_help_states_the_quantile_step():
    from noprune_theory.commands.derive import EPILOG

    assert "quantile" in EPILOG and "1152 exactly" in EPILOG
    assert "sqrt(2) below the stated" not in EPILOG


def test_latex_blocks_are_myst_display_math(capsys):
    code, out, _ = run(capsys, "derive", "--sparse", "--latex")
    assert code == 0
    assert out.count("$$") == 2 * out.count("% (")
    assert r"\frac" in out and r"\varepsilon" in out


def test_a_wrong_step_makes_derive_exit_1(capsys, monkeypatch):
    monkeypatch.setitem(_derivation.DENSE_CONSTANTS, "threshold", sp.Rational(1, 4))
    code, out, err = run(capsys, "derive")
    assert code == 1
    assert "FAILED" in out and "check of the derivation failed" in err


def test_help_states_unverified_sources_without_sympy():
    code = ("import sys\nfrom noprune_theory.cli import main\n"
            "try:\n    main(['derive', '--help'])\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "assert 'sympy' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "could not be checked" in out.stdout
