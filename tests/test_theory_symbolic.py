"""The symbolic side: expressions, derivations, and the generated numeric code with its cache."""
import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from noprune_theory.theory import (
    SYMBOLS,
    _compiled,
    _derivation,
    _numeric,
    dense_lipschitz_bound,
    derivation,
    mask_entropy_expression,
    sparse_lipschitz_bound,
    verify_derivation,
)

S = SYMBOLS


# ---------------------------------------------------------------- the stated theorems

def test_dense_bound_constants_are_2_to_the_9_sqrt_c():
    # Lip >= eps/(2^9 sqrt c) sqrt(nd/(...)): at n d = 1, p = 0, delta = 4/e the root is 1
    expr = dense_lipschitz_bound().subs({S["n"]: 1, S["d"]: 1, S["p"]: 0, S["delta"]: 4 / sp.E})
    assert sp.simplify(expr - S["epsilon"] / (512 * sp.sqrt(S["c"]))) == 0


def test_sparse_bound_constants_are_1152_sqrt_c_and_sqrt_delta():
    expr = sparse_lipschitz_bound()
    # p_eff -> infinity: Lip ~ eps sqrt(n d delta / p_eff) / (1152 sqrt c)
    lead = sp.limit(expr * sp.sqrt(S["p_eff"]), S["p_eff"], sp.oo)
    expected = S["epsilon"] * sp.sqrt(S["n"] * S["d"] * S["delta"]) / (1152 * sp.sqrt(S["c"]))
    assert sp.simplify(lead - expected) == 0


def test_mask_entropy_is_log2_binomial():
    val = mask_entropy_expression().subs({S["p"]: 10, S["kept"]: 5})
    assert sp.simplify(val - sp.log(252) / sp.log(2)) == 0


# ---------------------------------------------------------------- derivations

def test_dense_derivation_reproduces_bs_theorems():
    D = derivation()
    assert D.ok, [c.name for c in D.checks if not c.passed]
    assert {c.name for c in D.checks} == {"finite_class", "mean_budget", "theorem"}
    keys = [s.key for s in D.steps]
    assert keys[:4] == ["isoperimetry", "noise", "subgaussian_sum", "threshold"]
    assert "net" in keys and keys[-1] == "solve_L"
    # the final step is what sympy solved, not the stated formula pasted in: same value though
    assert sp.simplify(D.step("solve_L").expr - dense_lipschitz_bound()) == 0


def test_sparse_derivation_reproduces_nfp_theorems_and_audits_budget():
    D = derivation(sparse=True)
    assert D.ok, [c.name for c in D.checks if not c.passed]
    assert "change_of_measure" in [s.key for s in D.steps]
    assert any("sqrt(2)" in note and "artefact" in note for note in D.notes)
    assert any("nats" in note for note in D.notes)


def test_sparse_last_step_is_the_quantile_form_at_half_delta_giving_1152():
    # [NFP] App. B.2 step 4: a1 sqrt((144 c L^2/(n d)) (2 I/delta + log(4/delta))) <= eps/8
    # solves to L = eps/(96 a1 sqrt(2c)) sqrt(n d delta/(I + (delta/2) log(4/delta))), i.e.
    # exactly the stated [NFP Thm 4] with a1^2 = 72 (96 sqrt(72) sqrt(2) = 1152)
    D = derivation(sparse=True)
    keys = [s.key for s in D.steps]
    assert keys[-4:] == ["mean_budget", "quantile", "information_budget", "solve_L"]
    a1 = sp.sqrt(72)
    n, d, c, L, eps, delta, p_eff = (S[x] for x in ("n", "d", "c", "L", "epsilon", "delta",
                                                     "p_eff"))
    by_hand = a1 * sp.sqrt(144 * c * L**2 / (n * d) * (2 * p_eff / delta + sp.log(4 / delta)))
    assert sp.simplify(D.step("information_budget").expr - by_hand) == 0
    stated = eps / (96 * a1 * sp.sqrt(2 * c)) * sp.sqrt(
        n * d * delta / (p_eff + delta / 2 * sp.log(4 / delta)))
    assert sp.simplify(96 * a1 * sp.sqrt(2)) == 1152
    assert sp.simplify(sp.expand_log(D.step("solve_L").expr**2 - stated**2, force=True)) == 0
    names = {ch.name: ch.passed for ch in D.checks}
    assert names["theorem"] and names["max_form_route"] and names["quantile_vs_max"]
    # nothing says the stated theorem is sqrt 2 too strong any more
    assert not any("too strong" in note or "Budget audit" in note for note in D.notes)


@pytest.mark.parametrize("sparse, constants, failing", [
    (False, {"threshold": sp.Rational(1, 4)}, {"finite_class", "theorem"}),
    (False, {"sum_lemma": 4}, {"finite_class", "theorem"}),
    (False, {"noise_bound": 1}, {"finite_class", "theorem"}),
    (False, {"net_accuracy": sp.Rational(1, 4)}, {"theorem"}),
    (True, {"threshold": sp.Rational(1, 4)}, {"finite_class", "theorem", "max_form_route"}),
    (True, {"info_budget": 1}, {"theorem"}),
    (True, {"info_budget": sp.Rational(1, 4)}, {"theorem"}),
])
def test_a_wrong_step_fails_the_check(sparse, constants, failing):
    with pytest.raises(AssertionError, match="checks failed") as info:
        verify_derivation(sparse=sparse, constants=constants)
    named = set(str(info.value).split("checks failed: ")[1].split(", "))
    assert named == failing


def test_derivation_rejects_unknown_constants():
    with pytest.raises(ValueError, match="constants must be among"):
        derivation(constants={"nope": 1})


# ---------------------------------------------------------------- generated code and cache

def _point(args, rng):
    # values inside every domain: probabilities in (0, 1), counts >= 1, W J large enough
    ranges = {"epsilon": (0.05, 0.95), "delta": (0.01, 0.9), "gamma": (0.05, 0.95),
              "kept": (1, 50), "p": (60, 500), "bias": (0, 1), "D": (1, 3)}
    return {a: float(rng.uniform(*ranges.get(a, (1.0, 20.0)))) for a in args}


@pytest.mark.parametrize("name", list(_compiled.SPECS))
def test_generated_function_matches_sympy_evalf(name, rng):
    module, builder, args = _compiled.SPECS[name]
    expr = getattr(__import__(f"noprune_theory.theory.{module}", fromlist=[builder]), builder)()
    fn = _compiled.compiled(name)
    for _ in range(3):
        vals = _point(args, rng)
        expected = float(expr.subs({S[a]: sp.Float(v, 30) for a, v in vals.items()}).evalf(30))
        got = float(fn(*[np.float64(vals[a]) for a in args]))
        assert got == pytest.approx(expected, rel=1e-11)


def test_shipped_generated_module_is_current():
    # stale after a formula edit: regenerate with
    # python -c "from noprune_theory.theory._compiled import write_shipped; write_shipped()"
    assert _compiled._read_shipped() is not None, "noprune_theory/theory/_generated.py is stale"


def test_shipped_generated_module_is_what_sympy_prints_now(monkeypatch, tmp_path):
    text = _compiled.SHIPPED.read_text()
    if f'SYMPY_VERSION = "{sp.__version__}"' not in text:
        pytest.skip("shipped module printed by another sympy version (checked numerically)")
    assert text == _compiled._generate()


def test_cache_file_written_reused_and_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("NOPRUNE_THEORY_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_compiled, "USE_SHIPPED", False)
    _compiled.clear_memory_cache()
    try:
        first = _compiled.generated_source()
        path = _compiled.cache_file()
        assert path.parent == tmp_path and path.read_text() == first
        # the key names the package and sympy versions
        assert sp.__version__ in path.name
        _compiled.clear_memory_cache()
        assert _compiled.generated_source() == first
        # a damaged file is regenerated, never trusted
        path.write_text("def dense_bound(:\n")
        _compiled.clear_memory_cache()
        assert _compiled.generated_source() == first
        assert path.read_text() == first
    finally:
        _compiled.clear_memory_cache()


def test_unwritable_cache_dir_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NOPRUNE_THEORY_CACHE_DIR", str(blocker / "sub"))
    monkeypatch.setattr(_compiled, "USE_SHIPPED", False)
    _compiled.clear_memory_cache()
    try:
        assert _numeric.sparse_robustness_bound(1e6, 100, 100, eps=0.5) == pytest.approx(
            0.0433962780829846968, rel=1e-12)
    finally:
        _compiled.clear_memory_cache()


def test_bound_does_not_import_sympy_even_on_a_first_run(tmp_path):
    # the shipped module serves a first run (empty cache); with it switched off, the first run
    # generates and caches the code with sympy and the second reads the cache without sympy
    code = ("import sys\nfrom noprune_theory.theory import robustness_bound\n"
            "robustness_bound(1e6, 100, 1e4, eps=0.5)\nprint('sympy' in sys.modules)\n")

    def run(mode):
        env = dict(os.environ, NOPRUNE_THEORY_CACHE_DIR=str(tmp_path),
                   NOPRUNE_THEORY_SHIPPED="1" if mode == "shipped" else "0")
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert run("shipped") == "False"
    assert list(tmp_path.iterdir()) == []
    assert run("cache") == "True"
    assert len(list(tmp_path.glob("compiled-*.py"))) == 1
    assert run("cache") == "False"


def test_importing_theory_does_not_import_sympy():
    code = ("import sys, noprune_theory.theory as t\n"
            "assert 'sympy' not in sys.modules\n"
            "t.dense_lipschitz_bound\nassert 'sympy' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ---------------------------------------------------------------- docstring examples

@pytest.mark.parametrize("module", [_numeric, _derivation])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------- docs/theory.md stays true

DOC = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "theory.md"


def test_docs_python_examples_run():
    result = doctest.testfile(str(DOC), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


def _doc_command_blocks():
    import re

    text = DOC.read_text()
    return re.findall(r"```\n\$ noprune-theory ([^\n]*)\n(.*?)\n```", text, flags=re.S)


@pytest.mark.parametrize("args, shown", _doc_command_blocks(), ids=lambda x: str(x)[:40])
def test_docs_show_the_real_output(args, shown, capsys):
    from noprune_theory.cli import main

    with pytest.raises(SystemExit) as info:
        main(args.split())
    assert info.value.code == 0
    assert capsys.readouterr().out.rstrip() == shown


def test_diameter_and_coordinate_bound_are_different_symbols():
    # [BS Thm 3] uses the diameter W, [BS Lemma 3.1] the coordinate bound w_max
    from noprune_theory.theory._masks import (
        lipschitz_param_constant_expression,
        parameter_set_diameter_expression,
    )

    assert S["W"] not in lipschitz_param_constant_expression().free_symbols
    assert S["w_max"] in lipschitz_param_constant_expression().free_symbols
    assert sp.simplify(parameter_set_diameter_expression()
                       - 2 * S["w_max"] * sp.sqrt(S["p"])) == 0
    assert S["W"] in dense_lipschitz_bound().free_symbols
