"""The numeric API of noprune_theory.theory against independent computations.

Expected values are recomputed here with mpmath at 30 digits from the theorem statements of
the papers (as docs/theory.md states them), written out again by hand (not through the
package's sympy expressions), or are hard-coded with the mpmath line that produced them in a
comment. Float64 results must agree to
rtol 1e-12 (a few ulps of the ~10 operations involved).
"""
import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noprune_theory.theory import (
    DEFAULTS,
    SampleSizeWarning,
    dense_finite_class_probability,
    effective_params,
    lipschitz_param_constant,
    mask_entropy_bound,
    mi_to_bits,
    required_params,
    robustness_bound,
    sample_size_condition,
    solve_for,
    sparse_finite_class_probability,
    sparse_robustness_bound,
    two_layer_params,
)

mpmath.mp.dps = 30
RTOL = 1e-12
M = mpmath.mpf


def mp_dense(n, d, p, eps, delta, c, W, J):
    # [BS Thm 3]: eps / (2^9 sqrt c) sqrt(n d / (p log(60 W J / eps) + log(4 / delta)))
    n, d, p, eps, delta, c, W, J = map(M, (n, d, p, eps, delta, c, W, J))
    return eps / (512 * mpmath.sqrt(c)) * mpmath.sqrt(
        n * d / (p * mpmath.log(60 * W * J / eps) + mpmath.log(4 / delta)))


def mp_sparse(n, d, p_eff, eps, delta, c):
    # [NFP Thm 4]: eps / (96 sqrt(72) sqrt(2c)) sqrt(n d delta / (p_eff + delta/2 log(4/delta)))
    n, d, p_eff, eps, delta, c = map(M, (n, d, p_eff, eps, delta, c))
    return eps / (96 * mpmath.sqrt(72) * mpmath.sqrt(2 * c)) * mpmath.sqrt(
        n * d * delta / (p_eff + delta / 2 * mpmath.log(4 / delta)))


@pytest.fixture(autouse=True)
def _quiet_conditions():
    # most cases here sit outside the sample-size conditions on purpose; those tests that check
    # the warning turn it back on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        yield


# ---------------------------------------------------------------- dense [BS Thm 3]

def test_dense_bound_hand_value():
    # mpmath: 0.5/(512) * sqrt(1e6*100 / (1e4*log(120) + log(400))) = 0.0446291741569203141256...
    got = robustness_bound(1e6, 100, 1e4, eps=0.5)
    assert got == pytest.approx(0.0446291741569203141, rel=RTOL)


@pytest.mark.parametrize("case", [
    # n, d, p, eps, delta, c, W, J
    (1e6, 100, 1e4, 0.5, 0.01, 1, 1, 1),
    # mpmath: 0.25/(512 sqrt 2) sqrt(2e5*784/(5e5 log(7200) + log(80))) = 0.00205159428325289324
    (2e5, 784, 5e5, 0.25, 0.05, 2, 3, 10),
    (10, 1, 0, 0.9, 0.5, 0.1, 1, 1),
    (1e9, 3072, 1e12, 0.01, 1e-6, 5, 0.1, 1e3),
])
def test_dense_bound_matches_mpmath(case):
    n, d, p, eps, delta, c, W, J = case
    got = robustness_bound(n, d, p, eps=eps, delta=delta, c=c, W=W, J=J)
    assert got == pytest.approx(float(mp_dense(*case)), rel=RTOL)


def test_dense_bound_second_case_hard_coded():
    got = robustness_bound(2e5, 784, 5e5, eps=0.25, delta=0.05, c=2, W=3, J=10)
    assert got == pytest.approx(0.00205159428325289324, rel=RTOL)


def test_dense_bound_vectorised_broadcasts():
    n = np.array([1e4, 1e5, 1e6])[:, None]
    p = np.array([1e3, 1e4])[None, :]
    got = robustness_bound(n, 100, p, eps=0.5)
    assert got.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            expected = float(mp_dense(n[i, 0], 100, p[0, j], 0.5, 0.01, 1, 1, 1))
            assert got[i, j] == pytest.approx(expected, rel=RTOL)


# ---------------------------------------------------------------- sparse [NFP Thm 4]

def test_sparse_bound_hand_value():
    # mpmath: 0.5/1152 * sqrt(1e6*100*0.01 / (100 + 0.005 log 400)) = 0.04339627808298469684...
    assert sparse_robustness_bound(1e6, 100, 100, eps=0.5) == pytest.approx(
        0.0433962780829846968, rel=RTOL)


@pytest.mark.parametrize("case", [
    # n, d, p_eff, eps, delta, c
    (1e6, 100, 100, 0.5, 0.01, 1),
    # mpmath: 0.3/(1152 sqrt(0.5)) sqrt(5e4*30*0.1/(1234.5 + 0.05 log 40)) = 0.004059302486459230
    (5e4, 30, 1234.5, 0.3, 0.1, 0.5),
    (1, 1, 0, 0.999, 0.999, 1e-3),
    (1e8, 1000, 1e9, 0.05, 1e-4, 3),
])
def test_sparse_bound_matches_mpmath(case):
    n, d, p_eff, eps, delta, c = case
    got = sparse_robustness_bound(n, d, p_eff, eps=eps, delta=delta, c=c)
    assert got == pytest.approx(float(mp_sparse(*case)), rel=RTOL)


def test_sparse_bound_second_case_hard_coded():
    got = sparse_robustness_bound(5e4, 30, 1234.5, eps=0.3, delta=0.1, c=0.5)
    assert got == pytest.approx(0.0040593024864592302, rel=RTOL)


def test_sparse_bound_depends_on_sqrt_delta_not_log():
    # with p_eff >> (delta/2) log(4/delta), halving delta divides the bound by ~sqrt(2)
    a = sparse_robustness_bound(1e6, 100, 1e6, delta=0.02)
    b = sparse_robustness_bound(1e6, 100, 1e6, delta=0.01)
    assert a / b == pytest.approx(math.sqrt(2), rel=1e-7)


# ---------------------------------------------------------------- p_eff, masks, sizes

def test_effective_params_hand_values():
    # 1000 log2(1 + 60/0.1) = 1000 log2(601) = 9231.22118071118543530805 (mpmath)
    assert effective_params(1000) == pytest.approx(9231.22118071118543530805, rel=RTOL)
    # 2 nats = 2/ln 2 bits; 250 log2(1 + 60*2*0.5/0.2) = 250 log2(301)
    # mpmath: 2/log(2) + 250*log(301)/log(2) = 2060.8688...
    expected = float(2 / mpmath.log(2) + 250 * mpmath.log(301) / mpmath.log(2))
    got = effective_params(250, 2.0, eps=0.2, W=2, J=0.5, mi_unit="nats")
    assert got == pytest.approx(expected, rel=RTOL)


def test_effective_params_is_additive_in_information():
    # data-agnostic masks: I = 0; each bit of I(m; D) adds one bit to p_eff
    base = effective_params(500)
    assert effective_params(500, 7.0) - base == pytest.approx(7.0, rel=1e-12)
    assert effective_params(0, 3.0) == pytest.approx(3.0, rel=RTOL)


def test_mi_units():
    assert mi_to_bits(1.0, "bits") == 1.0
    assert mi_to_bits(math.log(8), "nats") == pytest.approx(3.0, rel=RTOL)


def test_mask_entropy_hand_values():
    # C(10, 5) = 252; log2 252 = 7.97727992349992
    assert mask_entropy_bound(10, 5) == pytest.approx(math.log2(252), rel=RTOL)
    # mpmath: log(binomial(1000, 100))/log(2) = 464.422703376234262875
    assert mask_entropy_bound(1000, 100) == pytest.approx(464.422703376234262875, rel=1e-11)
    assert mask_entropy_bound(1000, sparsity=0.9) == pytest.approx(464.422703376234262875,
                                                                    rel=1e-11)
    # 1000 h2(0.9) = 1000 (-0.9 log2 0.9 - 0.1 log2 0.1) = 468.995593589281221 (mpmath)
    assert mask_entropy_bound(1000, sparsity=0.9, asymptotic=True) == pytest.approx(
        468.995593589281221, rel=RTOL)
    assert mask_entropy_bound(1000, sparsity=0.0, asymptotic=True) == 0.0
    assert mask_entropy_bound(1000, 1000) == pytest.approx(0.0, abs=1e-9)


def test_mask_entropy_asymptote_gap_is_order_log_p():
    # p h2(gamma) - log2 C(p, (1-gamma) p) = (1/2) log2(2 pi p gamma (1-gamma)) + o(1) (Stirling)
    for p in (1e3, 1e5, 1e7):
        gap = (mask_entropy_bound(p, sparsity=0.75, asymptotic=True)
               - mask_entropy_bound(p, sparsity=0.75))
        assert gap == pytest.approx(0.5 * math.log2(2 * math.pi * p * 0.75 * 0.25), abs=1e-3)


def test_two_layer_params_and_J():
    assert two_layer_params(100, 50) == 5100  # 50 * (100 + 2)
    assert two_layer_params(100, 50, output_bias=True) == 5101
    # J = R (w_max Q p)^D = 2 * (0.5 * 1 * 100)^3 = 250000
    assert lipschitz_param_constant(100, R=2, w_max=0.5, Q=1, depth=3) == pytest.approx(250000.0)


# ---------------------------------------------------------------- finite classes

def test_dense_finite_class_hand_value():
    # [BS Thm 2], n=1e5, d=100, L=1.5, log|F|=50, eps=0.2, c=1, k=2:
    # mpmath: 4*2*exp(-1e5*0.04/(512*2)) + 2*exp(50 - 0.04*1e5*100/(4096*1*2.25))
    expected = float(8 * mpmath.exp(-M(1e5) * M("0.04") / 1024)
                     + 2 * mpmath.exp(50 - M("0.04") * M(1e7) / (4096 * M("2.25"))))
    got = dense_finite_class_probability(1e5, 100, 1.5, 50.0, eps=0.2, c=1, k=2)
    assert got == pytest.approx(expected, rel=RTOL)


def test_sparse_finite_class_information_branch():
    # [NFP Thm 3], n=2e5, d=50, L=0.3, I=20 bits, eps=0.4, c=2, k=3:
    # C0 = 144*2*0.09/(2e5*50) = 2.592e-6; A = 2^7*72*C0/0.16 = 0.1492992; A*I = 2.985984
    # mean term 8 exp(-2e5*0.16/1536) ~ 7e-9; total = 2.98598400716618937 (mpmath)
    got = sparse_finite_class_probability(2e5, 50, 0.3, 20.0, eps=0.4, c=2, k=3)
    assert got == pytest.approx(2.98598400716618937, rel=RTOL)


def test_sparse_finite_class_exponential_branch():
    # I = 0 leaves 2 exp(-1/A): n=1e4, d=10, L=1, eps=0.9, c=1, k=1
    C0 = 144 * M(1) / (M(1e4) * 10)
    A = 2**7 * 72 * C0 / M("0.81")
    expected = float(4 * mpmath.exp(-M(1e4) * M("0.81") / 512) + 2 * mpmath.exp(-1 / A))
    got = sparse_finite_class_probability(1e4, 10, 1.0, 0.0, eps=0.9, c=1, k=1)
    assert got == pytest.approx(expected, rel=RTOL)


# ---------------------------------------------------------------- conditions

def test_issue_example_condition_fails_and_names_n():
    # 8^4 log(8/0.01) = 27,379.3 > 1e4 * 0.25 = 2500; needs n >= 4096 log(800)/0.25 = 109520.68
    cond = sample_size_condition(1e4, eps=0.5, delta=0.01)
    assert cond.holds is False
    assert cond.lhs == pytest.approx(4096 * math.log(800), rel=RTOL)
    assert cond.rhs == pytest.approx(2500.0, rel=RTOL)
    assert cond.n_required == pytest.approx(109520.678546111320822, rel=RTOL)
    assert sample_size_condition(109521, eps=0.5, delta=0.01).holds is True
    assert sample_size_condition(109520, eps=0.5, delta=0.01).holds is False


def test_sparse_condition_uses_8_cubed():
    # 512 * 3 * log(24/0.05) / 0.04 = 237073.386389834 (mpmath)
    cond = sample_size_condition(1e5, eps=0.2, delta=0.05, k=3, theorem="sparse")
    assert cond.n_required == pytest.approx(237073.386389834365942, rel=RTOL)
    assert cond.holds is False


def test_failing_condition_warns_with_needed_n():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleSizeWarning)
        with pytest.raises(SampleSizeWarning, match=r"n >= 1\.095e\+05"):
            robustness_bound(1e4, 100, 1e3, eps=0.5)
        # inside the condition there is no warning
        robustness_bound(2e5, 100, 1e3, eps=0.5)
    with pytest.raises(ValueError, match=r"\[NFP Thm 4\] sample-size condition"):
        sparse_robustness_bound(1e4, 100, 1e3, eps=0.5, check="raise")


# ---------------------------------------------------------------- monotonicity (hypothesis)

sizes = st.floats(1.0, 1e9)
dims = st.floats(1.0, 1e5)
# subnormal inputs are refused (they keep a few digits only), so none is drawn
counts = st.floats(0.0, 1e12, allow_subnormal=False)
unit = st.floats(1e-3, 0.999)
factor = st.floats(1.01, 100.0)


@settings(max_examples=60, deadline=None)
@given(n=sizes, d=dims, p=counts, eps=unit, delta=unit, f=factor)
def test_dense_bound_monotone(n, d, p, eps, delta, f):
    b = robustness_bound(n, d, p, eps=eps, delta=delta, check="ignore")
    assert robustness_bound(n * f, d, p, eps=eps, delta=delta, check="ignore") > b
    assert robustness_bound(n, d * f, p, eps=eps, delta=delta, check="ignore") > b
    assert robustness_bound(n, d, p * f + 1, eps=eps, delta=delta, check="ignore") < b


@settings(max_examples=60, deadline=None)
@given(n=sizes, d=dims, p_eff=counts, eps=unit, delta=unit, f=factor)
def test_sparse_bound_monotone(n, d, p_eff, eps, delta, f):
    b = sparse_robustness_bound(n, d, p_eff, eps=eps, delta=delta, check="ignore")
    assert sparse_robustness_bound(n * f, d, p_eff, eps=eps, delta=delta, check="ignore") > b
    assert sparse_robustness_bound(n, d * f, p_eff, eps=eps, delta=delta, check="ignore") > b
    assert sparse_robustness_bound(n, d, p_eff * f + 1, eps=eps, delta=delta,
                                   check="ignore") < b


# ---------------------------------------------------------------- solving inverts evaluating

@settings(max_examples=40, deadline=None)
@given(n=st.floats(1e3, 1e9), d=st.floats(1, 1e4), p_eff=st.floats(1.0, 1e8), eps=unit,
       delta=unit)
def test_required_params_inverts_sparse_bound(n, d, p_eff, eps, delta):
    lip = sparse_robustness_bound(n, d, p_eff, eps=eps, delta=delta, check="ignore")
    got = required_params(n, d, lip=lip, eps=eps, delta=delta)
    assert got == pytest.approx(p_eff, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.floats(1e3, 1e9), d=st.floats(1, 1e4), p=st.floats(1.0, 1e8), eps=unit,
       delta=unit)
def test_required_params_inverts_dense_bound(n, d, p, eps, delta):
    lip = robustness_bound(n, d, p, eps=eps, delta=delta, check="ignore")
    got = required_params(n, d, lip=lip, sparse=False, eps=eps, delta=delta)
    assert got == pytest.approx(p, rel=1e-8)


def test_required_params_is_zero_when_no_size_reaches_the_target():
    # at n = 1e4, d = 100 the sparse bound is at most 0.1/1152 sqrt(2e6/log 400) = 0.0502 < 1
    assert required_params(1e4, 100, lip=1.0) == 0.0
    assert required_params(1e4, 100, lip=1.0, sparse=False) == 0.0


@pytest.mark.parametrize("unknown", ["n", "d", "c", "p_eff"])
def test_solve_for_sparse_inverts(unknown):
    values = dict(n=3e6, d=200.0, p_eff=5e3, epsilon=0.3, delta=0.05, c=1.5)
    lip = sparse_robustness_bound(values["n"], values["d"], values["p_eff"], eps=0.3, delta=0.05,
                                  c=1.5)
    given_values = {k: v for k, v in values.items() if k != unknown}
    assert solve_for("sparse", unknown, L=lip, **given_values) == pytest.approx(
        values[unknown], rel=1e-10)


@pytest.mark.parametrize("unknown", ["n", "d", "c", "p"])
def test_solve_for_dense_inverts(unknown):
    values = dict(n=3e6, d=200.0, p=5e3, epsilon=0.3, delta=0.05, c=1.5, W=2.0, J=4.0)
    lip = robustness_bound(values["n"], values["d"], values["p"], eps=0.3, delta=0.05, c=1.5,
                           W=2.0, J=4.0)
    given_values = {k: v for k, v in values.items() if k != unknown}
    assert solve_for("dense", unknown, L=lip, **given_values) == pytest.approx(
        values[unknown], rel=1e-10)


def test_solve_for_reports_missing_and_unsolvable():
    with pytest.raises(ValueError, match="needs exactly"):
        solve_for("sparse", "n", d=100)
    with pytest.raises(ValueError, match="unknown must be one of"):
        solve_for("sparse", "p", d=100)


def test_defaults_are_the_documented_ones():
    assert DEFAULTS == {"eps": 0.1, "delta": 0.01, "c": 1.0, "W": 1.0, "J": 1.0, "k": 1}


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, message", [
    (lambda: robustness_bound(0, 100, 10), "n must be a number >= 1, got 0"),
    (lambda: robustness_bound(10, 0.5, 10), "d must be a number >= 1, got 0.5"),
    (lambda: robustness_bound(10, 10, 10, eps=1.0), "eps must be a number in (0, 1), got 1.0"),
    (lambda: robustness_bound(10, 10, 10, eps=0), "eps must be a number in (0, 1), got 0"),
    (lambda: sparse_robustness_bound(10, 10, 10, delta=1.5),
     "delta must be a number in (0, 1), got 1.5"),
    (lambda: sparse_robustness_bound(float("nan"), 10, 10), "n must be a number >= 1, got nan"),
    (lambda: sparse_robustness_bound(10, float("inf"), 10), "d must be a number >= 1, got inf"),
    (lambda: sparse_robustness_bound(10, 10, -1), "p_eff must be a number >= 0, got -1"),
    (lambda: sparse_robustness_bound([10, 0], 10, 10), "n must be a number >= 1, got 0.0"),
    (lambda: effective_params(10, -0.5), "mi must be a number >= 0, got -0.5"),
    (lambda: effective_params(10, 1, mi_unit="bans"), "mi_unit must be one of 'bits', 'nats'"),
    (lambda: mask_entropy_bound(100, sparsity=1.0), "sparsity must be a number in [0, 1)"),
    (lambda: mask_entropy_bound(100, sparsity=-0.1), "sparsity must be a number in [0, 1)"),
    (lambda: mask_entropy_bound(100, 101), "kept must be a number in [0, p]"),
    (lambda: robustness_bound(10, 10, 10, k=0), "k must be an integer >= 1, got 0"),
    (lambda: robustness_bound(10, 10, 10, W=1e-3, J=1e-3), "W*J must be > eps/60"),
    (lambda: robustness_bound(10, 10, 10, check="maybe"), "check must be one of"),
])
def test_bad_input_raises_value_error_naming_argument(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("unknown", ["epsilon", "delta", "W", "J"])
def test_solve_for_dense_without_simple_closed_form(unknown):
    # eps and delta by bisection on the bound, W and J through exp of expanded logs
    values = dict(n=3e6, d=200.0, p=5e3, epsilon=0.3, delta=0.05, c=1.5, W=2.0, J=4.0)
    lip = robustness_bound(values["n"], values["d"], values["p"], eps=0.3, delta=0.05, c=1.5,
                           W=2.0, J=4.0)
    given_values = {k: v for k, v in values.items() if k != unknown}
    assert solve_for("dense", unknown, L=lip, **given_values) == pytest.approx(
        values[unknown], rel=1e-9)


@pytest.mark.parametrize("unknown", ["epsilon", "delta"])
def test_solve_for_sparse_eps_and_delta(unknown):
    values = dict(n=3e6, d=200.0, p_eff=5e3, epsilon=0.3, delta=0.05, c=1.5)
    lips = sparse_robustness_bound(3e6, 200.0, np.array([5e3, 7e3]), eps=0.3, delta=0.05, c=1.5)
    given_values = {k: v for k, v in values.items() if k not in (unknown, "p_eff")}
    got = solve_for("sparse", unknown, L=lips, p_eff=np.array([5e3, 7e3]), **given_values)
    np.testing.assert_allclose(got, [values[unknown]] * 2, rtol=1e-9)


def test_solve_for_without_solution_in_range_raises():
    # the sparse bound at eps -> 1 is below L = 1e6: no eps in (0, 1) reaches it
    with pytest.raises(ValueError, match="no solution in the range of epsilon"):
        solve_for("sparse", "epsilon", n=10, d=10, p_eff=10, delta=0.5, c=1, L=1e6)
    with pytest.raises(ValueError, match="no solution in the range of delta"):
        solve_for("dense", "delta", n=10, d=10, p=10, epsilon=0.5, c=1, W=1, J=1, L=1e6)


# ---------------------------------------------------------------- float limits (issue 14 item 3)

def test_dense_bound_whose_log_argument_overflows_is_right_not_zero():
    # 60 W J / eps = 6e321 overflows; the generated code sums log 60 + log W + log J - log eps.
    # mpmath: 1e-300/512 sqrt(1e6 / (1e4 log(6e321) + log 400)) = 7.17536...e-304
    got = robustness_bound(1e4, 100, 1e4, eps=1e-300, W=1e10, J=1e10)
    expected = float(mp_dense(1e4, 100, 1e4, M("1e-300"), M("0.01"), 1, M("1e10"), M("1e10")))
    assert got == pytest.approx(expected, rel=RTOL)
    assert 7.17e-304 < got < 7.18e-304


def test_sparse_bound_whose_factors_underflow_is_right():
    # sqrt(d) sqrt(delta) eps = 1e5 * 1e-150 * 1e-200 = 1e-345 underflows to 0 as a product,
    # while the bound is 1e-200/1152 sqrt(1e310 * 1e-300 / (1 + 5e-301 log 4e300)) = 8.68e-199
    got = sparse_robustness_bound(1e300, 1e10, 1.0, eps=1e-200, delta=1e-300)
    expected = float(mp_sparse(M("1e300"), M("1e10"), 1, M("1e-200"), M("1e-300"), 1))
    assert expected == pytest.approx(8.680555555555556e-199, rel=1e-12)
    assert got == pytest.approx(expected, rel=RTOL)


def test_sample_size_condition_at_tiny_eps_and_delta_is_right():
    # n eps^2 = 1e300 * 1e-300 = 1 (eps^2 = 1e-300 * ... alone underflows); 8k/delta = 2.7e308
    # overflows, so lhs = 8^4 (log 8 - log delta) and n_required = lhs / eps^2 = lhs * 1e300
    delta = M("3e-308")
    cond = sample_size_condition(1e300, eps=1e-150, delta=3e-308)
    assert cond.rhs == pytest.approx(1.0, rel=RTOL)
    assert cond.lhs == pytest.approx(float(4096 * mpmath.log(8 / delta)), rel=RTOL)
    assert cond.n_required == pytest.approx(float(4096 * mpmath.log(8 / delta) * M("1e300")),
                                            rel=RTOL)


@pytest.mark.parametrize("call, name", [
    (lambda: robustness_bound(10, 10, 10, delta=1e-320), "delta"),
    (lambda: sparse_robustness_bound(10, 10, 10, eps=5e-324), "eps"),
    (lambda: effective_params(10, 1e-310), "mi"),
    (lambda: robustness_bound(10, 10, 10, c=[1.0, 1e-315]), "c"),
])
def test_subnormal_inputs_are_refused_naming_the_argument(call, name):
    # a subnormal double keeps a few digits only: 1e-320 is stored as 9.99989e-321
    with pytest.raises(ValueError, match=rf"^{name} must be .* at least 2.225e-308"):
        call()


@pytest.mark.parametrize("call, what", [
    (lambda: lipschitz_param_constant(1e200, depth=2), "J = R"),
    (lambda: effective_params(1e308), "p_eff"),
    (lambda: mi_to_bits(1.5e308, "nats"), "mi in bits"),
    (lambda: two_layer_params(10**300, 10**300), "p = width"),
    (lambda: sparse_robustness_bound(1, 1, 1e300, eps=1e-300, delta=1e-300), "[NFP Thm 4] bound"),
    (lambda: robustness_bound(1, 1, 1e300, eps=1e-300), "[BS Thm 3] bound"),
    (lambda: sample_size_condition(1, eps=1e-200), "n eps^2"),
    (lambda: sample_size_condition(1e300, eps=1e-200, theorem="sparse"), "needs"),
])
def test_results_beyond_float64_raise_instead_of_inf_or_zero(call, what):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow warning before the error
        with pytest.raises(ValueError, match="overflows|underflows") as info:
            call()
    assert what in str(info.value)


def test_arrays_with_one_element_beyond_float64_raise():
    with pytest.raises(ValueError, match="overflows"):
        lipschitz_param_constant(np.array([10.0, 1e200]), depth=2)


# ---------------------------------------------------------------- solve_for and the domain (item 4)

def test_solve_for_n_below_the_sample_size_condition_warns_naming_the_n_needed():
    # the n at which the dense bound reaches L = 0.01 (d = 100, p = 10, eps = 0.5) is 56.48,
    # while [BS Thm 3] needs n >= 8^4 log(800) / 0.25 = 109,520.7
    kwargs = dict(d=100, p=10, epsilon=0.5, delta=0.01, c=1, W=1, J=1, L=0.01)
    match = r"solve_for\('dense', 'n'\) = 56.48.*n >= 1.095e\+05"
    with pytest.warns(SampleSizeWarning, match=match):
        n = solve_for("dense", "n", **kwargs)
    assert n == pytest.approx(56.482995345742566, rel=1e-10)
    with pytest.raises(ValueError, match=r"sample-size condition .* fails"):
        solve_for("dense", "n", check="raise", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert solve_for("dense", "n", check="ignore", **kwargs) == n


def test_solve_for_sparse_warns_too_and_k_enters_the_condition():
    # sparse: n = 1152^2 L^2 (10 + 0.005 log 400) / (eps^2 d delta) = 5324.3, below
    # 8^3 log(800) / 0.25 = 13,690 (k = 1) and 2 * 8^3 log(1600) / 0.25 = 30,219 (k = 2)
    kwargs = dict(d=100, p_eff=10, epsilon=0.5, delta=0.01, c=1, L=0.01)
    with pytest.warns(SampleSizeWarning, match=r"n >= 1.369e\+04"):
        solve_for("sparse", "n", **kwargs)
    with pytest.warns(SampleSizeWarning, match=r"n >= 3.022e\+04"):
        solve_for("sparse", "n", k=2, **kwargs)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        solve_for("sparse", "n", k=0, **kwargs)


def test_solve_for_inside_the_domain_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n = solve_for("dense", "n", d=100, p=10, epsilon=0.5, delta=0.01, c=1, W=1, J=1,
                      L=robustness_bound(2e5, 100, 10, eps=0.5))
    assert n == pytest.approx(2e5, rel=1e-10)


@pytest.mark.parametrize("unknown, given", [
    ("W", dict(J=1.0)),
    ("J", dict(W=2.0)),
])
def test_solve_for_net_outside_its_domain_raises(unknown, given):
    # L = 10 needs p log(60 W J / eps) = n d eps^2 / (2^18 L^2) - log(4/delta) = 0.95 - 5.99 < 0,
    # i.e. 60 W J / eps < 1, where the formula of [BS Thm 3] means nothing
    with pytest.raises(ValueError, match=rf"solve_for\('dense', '{unknown}'\): the solution lies "
                                         r"outside the domain .* 60 W J / eps = 0.99"):
        solve_for("dense", unknown, n=1e6, d=100, p=1e4, epsilon=0.5, delta=0.01, c=1, L=10,
                  **given)


def test_solve_for_with_given_values_outside_the_domain_raises():
    with pytest.raises(ValueError, match="the given values lie outside the domain"):
        solve_for("dense", "n", d=100, p=10, epsilon=0.5, delta=0.01, c=1, W=1e-3, J=1, L=0.1)


# ---------------------------------------------------------------- inputs that slip through (item 4)

API_CALLS = {
    "robustness_bound": lambda **kw: robustness_bound(**{"n": 1e4, "d": 100, "p": 10, **kw}),
    "sparse_robustness_bound": lambda **kw: sparse_robustness_bound(
        **{"n": 1e4, "d": 100, "p_eff": 10, **kw}),
    "effective_params": lambda **kw: effective_params(**{"kept": 10, **kw}),
    "required_params": lambda **kw: required_params(**{"n": 1e4, "d": 100, **kw}),
    "mask_entropy_bound": lambda **kw: mask_entropy_bound(**{"p": 100, "kept": 10, **kw}),
    "two_layer_params": lambda **kw: two_layer_params(**{"d": 10, "width": 5, **kw}),
    "lipschitz_param_constant": lambda **kw: lipschitz_param_constant(**{"p": 10, **kw}),
    "sample_size_condition": lambda **kw: sample_size_condition(**{"n": 1e4, **kw}),
    "dense_finite_class_probability": lambda **kw: dense_finite_class_probability(
        **{"n": 1e4, "d": 100, "lip": 1.0, "log_card": 0.0, **kw}),
    "sparse_finite_class_probability": lambda **kw: sparse_finite_class_probability(
        **{"n": 1e4, "d": 100, "lip": 1.0, "mi": 1.0, **kw}),
    "mi_to_bits": lambda **kw: mi_to_bits(**{"mi": 1.0, **kw}),
    "solve_for": lambda **kw: solve_for("sparse", "n", **{"d": 100, "p_eff": 10, "epsilon": 0.5,
                                                          "delta": 0.5, "c": 1, "L": 1e-3,
                                                          **kw}),
}

#: every numeric argument of every function above
API_ARGS = [("robustness_bound", a) for a in ("n", "d", "p", "eps", "delta", "c", "W", "J", "k")]
API_ARGS += [("sparse_robustness_bound", a) for a in ("n", "d", "p_eff", "eps", "delta", "c", "k")]
API_ARGS += [("effective_params", a) for a in ("kept", "mi", "eps", "W", "J")]
API_ARGS += [("required_params", a) for a in ("n", "d", "lip", "eps", "delta", "c")]
API_ARGS += [("mask_entropy_bound", a) for a in ("p", "kept")]
API_ARGS += [("two_layer_params", a) for a in ("d", "width")]
API_ARGS += [("lipschitz_param_constant", a) for a in ("p", "R", "w_max", "Q", "depth")]
API_ARGS += [("sample_size_condition", a) for a in ("n", "eps", "delta", "k")]
API_ARGS += [("dense_finite_class_probability", a)
             for a in ("n", "d", "lip", "log_card", "eps", "c", "k")]
API_ARGS += [("sparse_finite_class_probability", a)
             for a in ("n", "d", "lip", "mi", "eps", "c", "k")]
API_ARGS += [("mi_to_bits", "mi")]
API_ARGS += [("solve_for", a) for a in ("d", "p_eff", "epsilon", "delta", "c", "L", "k")]


@pytest.mark.parametrize("func, arg", API_ARGS)
@pytest.mark.parametrize("text", ["0.5", np.array(["0.5"]), ["2", "3"], np.str_("2")],
                         ids=["str", "str-array", "str-list", "np.str_"])
def test_api_refuses_numbers_given_as_text_naming_the_argument(func, arg, text):
    # strings are parsed by the command line only; the API never converts them
    with pytest.raises(TypeError, match=rf"^{arg} must be "):
        API_CALLS[func](**{arg: text})


@pytest.mark.parametrize("func, arg", API_ARGS[::3])
@pytest.mark.parametrize("value, error", [
    (np.array([1 + 2j]), TypeError), (1 + 0j, TypeError),
    (np.array([True]), ValueError), (np.True_, ValueError),
    ([[1.0], [1.0, 2.0]], ValueError),
])
def test_api_refuses_complex_boolean_and_ragged_input(func, arg, value, error):
    with pytest.raises(error, match=rf"^{arg} must be "):
        API_CALLS[func](**{arg: value})


@pytest.mark.parametrize("func, kwargs, names", [
    ("robustness_bound", dict(n=np.ones(3) * 1e4, d=np.ones(2) * 100), "n, d"),
    ("robustness_bound", dict(p=np.ones(3), W=np.ones((2, 1)) * 2, J=np.ones(4)), "p, W, J"),
    ("sparse_robustness_bound", dict(p_eff=np.ones(3), delta=np.full(2, 0.1)), "p_eff, delta"),
    ("effective_params", dict(kept=np.ones(3), mi=np.ones(2)), "kept, mi"),
    ("required_params", dict(n=np.ones(3) * 1e4, lip=np.ones(2)), "n, lip"),
    ("mask_entropy_bound", dict(p=np.full(3, 100), kept=np.ones(2)), "p, kept"),
    ("two_layer_params", dict(d=np.ones(3, int), width=np.ones(2, int)), "d, width"),
    ("lipschitz_param_constant", dict(p=np.ones(3) * 10, R=np.ones(2)), "p, R"),
    ("sample_size_condition", dict(n=np.ones(3) * 1e4, eps=np.full(2, 0.5)), "n, eps"),
    ("dense_finite_class_probability", dict(lip=np.ones(3), log_card=np.ones(2)),
     "lip, log_card"),
    ("sparse_finite_class_probability", dict(n=np.ones(3) * 1e4, mi=np.ones(2)), "n, mi"),
    ("solve_for", dict(d=np.ones(3) * 100, L=np.full(2, 1e-3)), "d, L"),
])
def test_shape_mismatch_names_the_arguments(func, kwargs, names):
    with pytest.raises(ValueError, match=rf"^{names} must have shapes that broadcast") as info:
        API_CALLS[func](**kwargs)
    for name, value in kwargs.items():
        assert f"{name} {np.shape(value)}" in str(info.value)


@pytest.mark.parametrize("call, name", [
    (lambda: required_params(1e4, 100, sparse="no"), "sparse"),
    (lambda: mask_entropy_bound(100, 10, asymptotic=1), "asymptotic"),
    (lambda: two_layer_params(10, 5, output_bias="False"), "output_bias"),
])
def test_flags_must_be_booleans(call, name):
    # "no" and "False" are truthy: read as True they would silently pick the other branch
    with pytest.raises(TypeError, match=rf"^{name} must be True or False"):
        call()


def test_numpy_numbers_and_booleans_still_work():
    assert robustness_bound(np.float32(1e4), np.int64(100), np.float64(10)) == robustness_bound(
        1e4, 100, 10)
    assert two_layer_params(10, 5, output_bias=np.True_) == 61


def test_wrong_types_raise_a_type_error_that_is_also_a_value_error():
    # TypeError as Python raises for wrong types; ValueError for code (and the CLI handler)
    # written against the earlier contract
    from noprune_theory._validation import ArgumentTypeError

    with pytest.raises(ArgumentTypeError) as info:
        sparse_robustness_bound("ten", 10, 10)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert str(info.value) == ("n must be a number >= 1, got the string 'ten' (pass a number, "
                               "not text)")


# ---------------------------------------------------------------- W and w_max (issue 18)

def test_parameter_set_diameter_is_the_cube_diagonal():
    from noprune_theory.theory import parameter_set_diameter

    # [-w, w]^p has diameter 2 w sqrt(p): p = 100, w = 0.5 gives 10
    assert parameter_set_diameter(100, w_max=0.5) == pytest.approx(10.0, rel=1e-15)
    np.testing.assert_allclose(parameter_set_diameter(np.array([1, 4, 9])), [2, 4, 6],
                               rtol=1e-15)


def test_lipschitz_param_constant_takes_the_coordinate_bound_w_max():
    assert lipschitz_param_constant(100, w_max=0.5, depth=2) == pytest.approx(2500.0)
    # the old name still works, with a FutureWarning that says what it is
    with pytest.warns(FutureWarning, match="coordinate bound, now named w_max"):
        assert lipschitz_param_constant(100, W=0.5, depth=2) == pytest.approx(2500.0)


def test_effective_params_whose_net_ratio_overflows_is_right():
    # 60 W J / eps = 6e401 overflows float64; p_eff = kept log2(1 + 6e401) = 13380.0005664544...
    # mpmath: 10 * log(1 + 60e400 / 0.1) / log(2)
    expected = float(10 * mpmath.log(1 + 60 * M("1e400") / M("0.1")) / mpmath.log(2))
    assert effective_params(10, W=1e200, J=1e200) == pytest.approx(expected, rel=RTOL)
    # and where the ratio is tiny, log2(1 + x) ~ x / ln 2 keeps its digits (no cancellation)
    expected = float(10 * mpmath.log(1 + 60 * M("1e-8") / M("0.1")) / mpmath.log(2))
    assert effective_params(10, W=1e-4, J=1e-4) == pytest.approx(expected, rel=RTOL)
