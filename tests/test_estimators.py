"""Estimator API: validation before any work, units, exact identities, closed forms, plug-in
against exact enumeration, preprocessing (seeded jitter, constants, offsets), symmetry,
invariance, local values and the permutation null. Statistical accuracy on known
distributions is in test_estimators_stats.py."""
import math

import numpy as np
import pytest

from noprune_theory.estimators import (
    conditional_mi,
    gaussian_entropy,
    gaussian_mi,
    gaussian_mi_fit,
    knn_entropy,
    ksg_mi,
    ksg_mi_batch,
    mixed_mi,
    permutation_null,
    plugin_entropy,
    plugin_mi,
)

KNN_MI = [
    pytest.param(lambda x, y, **kw: ksg_mi(x, y, **kw), id="ksg1"),
    pytest.param(lambda x, y, **kw: ksg_mi(x, y, algorithm=2, **kw), id="ksg2"),
    pytest.param(lambda x, y, **kw: mixed_mi(x, y, **kw), id="mixed"),
    pytest.param(lambda x, y, **kw: conditional_mi(x, y, np.zeros(len(x)), **kw), id="cmi"),
]


def _pair(rng, n=400, rho=0.6):
    x = rng.standard_normal(n)
    return x, rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal(n)


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize("est", KNN_MI)
def test_k_must_be_below_n(est):
    x = np.arange(5.0)
    with pytest.raises(ValueError, match=r"k must be an integer < the number of samples n = 5"):
        est(x, x, k=5)


@pytest.mark.parametrize("est", KNN_MI)
@pytest.mark.parametrize("k", [0, -1, 2.5, "three", True])
def test_k_must_be_a_positive_integer(est, k):
    x = np.arange(10.0)
    with pytest.raises((ValueError, TypeError), match="k must be an integer"):
        est(x, x, k=k)


@pytest.mark.parametrize("est", KNN_MI)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_rejected_naming_the_argument(est, bad):
    x = np.arange(10.0)
    y = np.arange(10.0)
    y[3] = bad
    with pytest.raises(ValueError, match="y must not contain NaN or inf"):
        est(x, y)


@pytest.mark.parametrize("est", KNN_MI)
def test_lengths_must_match(est):
    with pytest.raises(ValueError, match="same number of samples; x has 10, y has 9"):
        est(np.arange(10.0), np.arange(9.0))


@pytest.mark.parametrize("bad_shape", [(4, 2, 2), ()])
def test_shapes_other_than_n_or_n_by_d_are_rejected(bad_shape):
    with pytest.raises(ValueError, match=r"x must have shape \(n,\) or \(n, d\)"):
        ksg_mi(np.zeros(bad_shape), np.zeros(4))


def test_non_numeric_input_is_rejected():
    # strings are labels (discrete="auto"); declared continuous they are an error
    with pytest.raises(ValueError, match="x must hold real numbers"):
        ksg_mi(np.array(["a", "b", "c", "d", "e"]), np.arange(5.0), k=1, discrete=False)


@pytest.mark.parametrize("kwargs,match", [
    (dict(algorithm=3), "algorithm must be one of 1, 2"),
    (dict(algorithm=True), "algorithm must be one of 1, 2, got True"),
    (dict(algorithm="1"), "algorithm must be one of 1, 2, got '1'"),
    (dict(standardize="zscore"), "standardize must be one of 'std', 'rank', 'none'"),
    (dict(jitter=-1e-3), "jitter must be a number >= 0"),
    (dict(seed=-1), "seed must be an integer >= 0, a numpy.random.Generator or None"),
    (dict(base=1), "base must be a number > 1"),
    (dict(base=0), "base must be a number > 1"),
    (dict(base=0.5), "base must be a number > 1"),
    (dict(base=-2.0), "base must be a number > 1"),
    (dict(base=np.nan), "base must be a number > 1"),
    (dict(workers=0), "workers must be None, -1 or an integer >= 1"),
    (dict(backend="gpu"), "backend must be one of"),
])
def test_ksg_options_are_validated(kwargs, match):
    x = np.arange(20.0)
    with pytest.raises(ValueError, match=match):
        ksg_mi(x, x, **kwargs)


BASE_USERS = [
    pytest.param(lambda b: ksg_mi(np.arange(20.0), np.arange(20.0) ** 2, base=b), id="ksg"),
    pytest.param(lambda b: plugin_mi([0, 1, 0, 1], [0, 1, 1, 1], base=b), id="plugin_mi"),
    pytest.param(lambda b: plugin_entropy([0, 1, 0, 1], base=b), id="plugin_entropy"),
    pytest.param(lambda b: gaussian_mi(corr=0.5, base=b), id="gaussian_mi"),
    pytest.param(lambda b: knn_entropy(np.arange(20.0), base=b), id="knn_entropy"),
]


@pytest.mark.parametrize("fn", BASE_USERS)
def test_a_base_below_one_is_refused_everywhere(fn):
    # log(0.5) < 0 would turn every information into a negative number
    for bad in (0.5, 1, 0, -1.0):
        with pytest.raises(ValueError, match="base must be a number > 1"):
            fn(bad)
    assert fn(2) == pytest.approx(fn(None) / math.log(2), rel=1e-14)
    assert fn("bits") == fn(2) and fn("e") == fn(None) == fn("nats")


@pytest.mark.parametrize("kwargs,name", [
    (dict(base="2"), "base"), (dict(k="3"), "k"), (dict(jitter="1e-10"), "jitter"),
    (dict(seed="0"), "seed"), (dict(base=np.array(["2"])), "base"),
])
def test_numbers_as_text_are_refused_by_the_api(kwargs, name):
    x = np.arange(20.0)
    with pytest.raises((TypeError, ValueError), match=f"^{name} must be"):
        ksg_mi(x, x ** 2, **kwargs)


def test_batch_validates_like_the_single_call():
    X = np.zeros((2, 5, 1))
    with pytest.raises(ValueError, match="k must be an integer < the number of samples n = 5"):
        ksg_mi_batch(X, X, k=5)
    X[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="X must not contain NaN or inf"):
        ksg_mi_batch(X, X)
    with pytest.raises(ValueError, match="X must have shape"):
        ksg_mi_batch(np.zeros(5), np.zeros(5))


def test_cupy_backend_by_name_says_why_it_is_unavailable():
    from noprune_theory.backend import gpu_status

    if gpu_status()[0]:
        pytest.skip("a GPU is usable here")
    with pytest.raises(ValueError, match="backend 'cupy' is not usable here"):
        ksg_mi(np.arange(10.0), np.arange(10.0), backend="cupy")


@pytest.mark.parametrize("fn", [plugin_mi, lambda x, y, **kw: plugin_entropy(x, **kw)])
def test_discrete_estimators_reject_continuous_floats(fn):
    with pytest.raises(ValueError, match="x holds non-integer floats .* discrete data"):
        fn(np.array([0.5, 1.0, 2.0]), np.array([0, 1, 1]))


def test_discrete_estimators_accept_integral_floats_bools_and_strings():
    assert plugin_mi(np.array([0.0, 1.0, 0.0, 1.0]), np.array([True, False, True, False])) == (
        pytest.approx(math.log(2), abs=1e-15))
    assert plugin_entropy(np.array(["a", "b", "a", "b"])) == pytest.approx(math.log(2))


def test_plugin_validation():
    with pytest.raises(ValueError, match="correction must be one of 'none', 'miller_madow'"):
        plugin_mi([0, 1], [0, 1], correction="bayes")
    with pytest.raises(ValueError, match="return_local=True needs correction='none'"):
        plugin_mi([0, 1], [0, 1], correction="miller_madow", return_local=True)
    with pytest.raises(ValueError, match="same number of samples"):
        plugin_mi([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="x must not contain NaN or inf"):
        plugin_entropy([0.0, np.nan])
    with pytest.raises(ValueError, match="x must not be empty"):
        plugin_entropy([])


def test_entropy_validation():
    x = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match="metric must be one of"):
        knn_entropy(x, metric="cosine")
    with pytest.raises(ValueError, match="standardize must be 'none' or 'std'"):
        knn_entropy(x, standardize="rank")
    x[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"constant column\(s\) \[1\]: .* -inf"):
        knn_entropy(x)


def test_repeated_points_without_jitter_raise_instead_of_a_wrong_number():
    x = np.repeat(np.arange(10.0), 5)
    with pytest.raises(ValueError, match="repeated points.*mixed_mi"):
        ksg_mi(x, x, jitter=0)
    with pytest.raises(ValueError, match="repeated points"):
        knn_entropy(x, jitter=0)


def test_gaussian_validation():
    with pytest.raises(ValueError, match="exactly one of cov"):
        gaussian_mi()
    with pytest.raises(ValueError, match="corr must be a number in \\[-1, 1\\]"):
        gaussian_mi(corr=1.5)
    with pytest.raises(ValueError, match="dx .* is required"):
        gaussian_mi(np.eye(3))
    with pytest.raises(ValueError, match="dx must be an integer in \\[1, 2\\]"):
        gaussian_mi(np.eye(3), dx=3)
    with pytest.raises(ValueError, match="cov must be positive definite"):
        gaussian_mi(np.ones((2, 2)), dx=1)
    with pytest.raises(ValueError, match="cov must be symmetric"):
        gaussian_mi(np.array([[1.0, 0.5], [0.1, 1.0]]), dx=1)
    with pytest.raises(ValueError, match="corr must have a unit diagonal"):
        gaussian_mi(corr=2 * np.eye(2), dx=1)


def test_permutation_validation():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="estimator must be a callable"):
        permutation_null("ksg", x, x)
    with pytest.raises(ValueError, match="n_permutations must be an integer >= 1"):
        permutation_null(ksg_mi, x, x, n_permutations=0)
    with pytest.raises(ValueError, match="same number of samples"):
        permutation_null(ksg_mi, x, x[:5])


# ------------------------------------------------------------------- units and locals


@pytest.mark.parametrize("est", KNN_MI)
def test_base_two_is_nats_divided_by_log_two(est, rng):
    x, y = _pair(rng)
    assert est(x, y, base=2) == pytest.approx(est(x, y) / math.log(2), rel=1e-12)
    assert est(x, y, base="bits") == pytest.approx(est(x, y, base=2), rel=1e-15)


@pytest.mark.parametrize("est", KNN_MI)
def test_local_values_average_to_the_estimate(est, rng):
    x, y = _pair(rng)
    local = est(x, y, return_local=True)
    assert local.shape == (400,)
    assert np.mean(local) == pytest.approx(est(x, y), abs=1e-12)


def test_plugin_local_values_are_pointwise_mi(rng):
    x = rng.integers(0, 3, 300)
    y = (x + rng.integers(0, 2, 300)) % 3
    local = plugin_mi(x, y, return_local=True)
    i = 17
    pxy = np.mean((x == x[i]) & (y == y[i]))
    px, py = np.mean(x == x[i]), np.mean(y == y[i])
    assert local[i] == pytest.approx(math.log(pxy / (px * py)), rel=1e-12)
    assert local.mean() == pytest.approx(plugin_mi(x, y), abs=1e-12)


# ------------------------------------------------------------- discrete: exact values


def test_plugin_mi_equals_hand_computed_value():
    # joint counts (0,0):1 (0,1):1 (1,1):2 (2,0):1, n = 5; p_x = (2,2,1)/5, p_y = (2,3)/5:
    # I = 1/5 log(5/4) + 1/5 log(5/6) + 2/5 log(5/3) + 1/5 log(5/2)
    x = [0, 0, 1, 1, 2]
    y = [0, 1, 1, 1, 0]
    expect = (math.log(5 / 4) + math.log(5 / 6) + 2 * math.log(5 / 3) + math.log(5 / 2)) / 5
    assert plugin_mi(x, y) == pytest.approx(expect, abs=1e-15)


def test_plugin_on_an_enumerated_pmf_is_the_exact_mi():
    # every cell of a pmf with probabilities c/24 appears exactly c times, so the empirical
    # distribution IS the pmf and the plug-in value must equal the exact MI of the pmf
    counts = np.array([[5, 1, 2], [1, 6, 1], [2, 0, 6]])
    xs, ys = np.nonzero(counts)
    x = np.repeat(xs, counts[xs, ys])
    y = np.repeat(ys, counts[xs, ys])
    p = counts / counts.sum()
    px, py = p.sum(1), p.sum(0)
    exact = sum(p[a, b] * math.log(p[a, b] / (px[a] * py[b]))
                for a in range(3) for b in range(3) if p[a, b] > 0)
    hx = -sum(q * math.log(q) for q in px)
    assert plugin_mi(x, y) == pytest.approx(exact, abs=1e-14)
    assert plugin_entropy(x) == pytest.approx(hx, abs=1e-14)
    assert plugin_mi(x, y, base=2) == pytest.approx(exact / math.log(2), abs=1e-14)


def test_plugin_identity_i_equals_hx_plus_hy_minus_hxy(rng):
    # the MI is computed cell by cell, the entropies from counts: two independent paths
    x = rng.integers(0, 5, 1000)
    y = (x * rng.integers(0, 3, 1000)) % 4
    hx, hy = plugin_entropy(x), plugin_entropy(y)
    hxy = plugin_entropy(np.column_stack([x, y]))
    assert plugin_mi(x, y) == pytest.approx(hx + hy - hxy, abs=1e-13)
    for corr in ("miller_madow", "jackknife"):
        hx, hy = plugin_entropy(x, correction=corr), plugin_entropy(y, correction=corr)
        hxy = plugin_entropy(np.column_stack([x, y]), correction=corr)
        assert plugin_mi(x, y, correction=corr) == pytest.approx(hx + hy - hxy, abs=1e-12)


def test_miller_madow_adds_m_minus_one_over_2n():
    x = [0, 0, 0, 1, 2, 2]  # m = 3 symbols, n = 6
    assert plugin_entropy(x, correction="miller_madow") == pytest.approx(
        plugin_entropy(x) + 2 / 12, abs=1e-15)


def test_jackknife_equals_brute_force_leave_one_out(rng):
    x = rng.integers(0, 4, 25)
    n = len(x)
    h = plugin_entropy(x)
    loo = [plugin_entropy(np.delete(x, i)) for i in range(n)]
    assert plugin_entropy(x, correction="jackknife") == pytest.approx(
        n * h - (n - 1) / n * sum(loo), abs=1e-12)


def test_bias_corrections_reduce_the_bias_on_a_uniform_source():
    # uniform on 8 symbols, n = 40: the plug-in is biased low by about (m - 1)/(2n) = 0.0875;
    # averaged over 200 seeded samples the corrected means are closer to log 8 (the standard
    # error of each mean is about 0.005, well below the gap being tested)
    rng = np.random.default_rng(11)
    samples = [rng.integers(0, 8, 40) for _ in range(200)]
    truth = math.log(8)
    err = {c: abs(np.mean([plugin_entropy(s, correction=c) for s in samples]) - truth)
           for c in ("none", "miller_madow", "jackknife")}
    assert err["none"] > 0.07
    assert err["miller_madow"] < err["none"] / 3
    assert err["jackknife"] < err["none"] / 3


# ----------------------------------------------------------------- Gaussian closed forms


def test_gaussian_mi_scalar_and_matrix_forms_agree():
    assert gaussian_mi(corr=0.6) == pytest.approx(-0.5 * math.log(0.64), rel=1e-15)
    cov = np.array([[4.0, 0.6 * 2 * 3], [0.6 * 2 * 3, 9.0]])  # scales 2 and 3, rho = 0.6
    assert gaussian_mi(cov, dx=1) == pytest.approx(gaussian_mi(corr=0.6), rel=1e-14)
    assert gaussian_mi(corr=1.0) == math.inf
    assert gaussian_mi(corr=0.0) == 0.0


def test_gaussian_mi_of_independent_pairs_adds_up():
    # X = (X1, X2), Y = (Y1, Y2), corr(Xi, Yi) = r_i, all other pairs independent
    r = [0.3, 0.8]
    cov = np.eye(4)
    cov[0, 2] = cov[2, 0] = r[0]
    cov[1, 3] = cov[3, 1] = r[1]
    expect = sum(-0.5 * math.log(1 - ri ** 2) for ri in r)
    assert gaussian_mi(cov, dx=2) == pytest.approx(expect, rel=1e-14)
    assert gaussian_mi(corr=cov, dx=2) == pytest.approx(expect, rel=1e-14)


def test_gaussian_entropy_identity():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 5))
    cov = a @ a.T + np.eye(5)
    lhs = gaussian_mi(cov, dx=2)
    rhs = (gaussian_entropy(cov[:2, :2]) + gaussian_entropy(cov[2:, 2:])
           - gaussian_entropy(cov))
    assert lhs == pytest.approx(rhs, rel=1e-12)
    assert gaussian_entropy(1.0) == pytest.approx(0.5 * math.log(2 * math.pi * math.e))


def test_gaussian_fit_recovers_the_closed_form(rng):
    # SE of the fitted MI at rho = 0.6, n = 20000 is about rho / sqrt(n) = 0.0042 nats
    x, y = _pair(rng, n=20000, rho=0.6)
    assert gaussian_mi_fit(x, y) == pytest.approx(gaussian_mi(corr=0.6), abs=0.02)


# --------------------------------------------------------------------- preprocessing


def test_same_seed_same_value_and_seed_controls_the_jitter(rng):
    # a jitter of 5% of the spread moves neighbours, so the seed (the only randomness) shows
    # (tied integer data used to be the example; it is now refused as heavy ties)
    x, y = _pair(rng, 500)
    a = ksg_mi(x, y, seed=1, jitter=0.05)
    assert ksg_mi(x, y, seed=1, jitter=0.05) == a
    assert ksg_mi(x, y, seed=np.random.default_rng(1), jitter=0.05) == a
    assert ksg_mi(x, y, seed=2, jitter=0.05) != a


def test_a_large_offset_changes_nothing(rng):
    # the jitter is scaled to each column's spread after centring, so an offset of 1e8 (where
    # noise relative to the mean magnitude would swamp the integer spacing) is harmless
    # (values on a 2**-8 grid: many ties within each variable, exact after the offset)
    x, y = _pair(rng, 2000)
    x, y = np.round(x * 256) / 256, np.round(y * 256) / 256
    assert len(np.unique(x)) < 1000
    assert ksg_mi(x + 1e8, y) == pytest.approx(ksg_mi(x, y), abs=1e-12)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_constant_x_gives_exactly_zero(algorithm, rng):
    y = rng.standard_normal(1000)
    for c in (0.0, 0.1, -3e7):
        assert ksg_mi(np.full(1000, c), y, algorithm=algorithm) == 0.0
    assert mixed_mi(np.full(1000, 0.1), y) == 0.0
    assert conditional_mi(np.full(1000, 0.1), y, rng.standard_normal(1000)) == 0.0


def test_ksg_algorithm_1_on_a_constant_is_zero_without_special_casing(rng):
    # with every x_j equal, n_x(i) = n - 1 and n_y(i) = k - 1 for continuous y, so eq. (8) is
    # psi(k) + psi(n) - psi(n) - psi(k) = 0 from the counts alone
    from noprune_theory.estimators._knn import _ksg_counts_cpu, _ksg_local

    y = rng.standard_normal((5000, 1))
    x = np.zeros((5000, 1))
    nx, ny, _ = _ksg_counts_cpu(x, y, 3, 1, "numba", None)
    assert np.all(nx == 4999) and np.all(ny == 2)
    assert np.max(np.abs(_ksg_local(nx, ny, 3, 5000, 1, np))) < 1e-13


def test_a_constant_column_next_to_a_varying_one_changes_nothing(rng):
    x, y = _pair(rng)
    wide = np.column_stack([x, np.full(400, 7.0)])
    assert ksg_mi(wide, y) == ksg_mi(x, y)


# ------------------------------------------------------------ symmetry and invariance


@pytest.mark.parametrize("est", [
    pytest.param(lambda x, y: ksg_mi(x, y), id="ksg1"),
    pytest.param(lambda x, y: ksg_mi(x, y, algorithm=2), id="ksg2"),
    pytest.param(lambda x, y: mixed_mi(x, y), id="mixed"),
    pytest.param(lambda x, y: gaussian_mi_fit(x, y), id="gaussian_fit"),
])
def test_symmetry(est, rng):
    # the joint neighbourhoods are symmetric in (x, y); only the order of two additions differs
    x = rng.standard_normal((500, 2))
    y = np.column_stack([x[:, 0] ** 3, x[:, 1]]) + rng.standard_normal((500, 2))
    assert est(x, y) == pytest.approx(est(y, x), abs=1e-12)


def test_plugin_symmetry_is_exact(rng):
    x = rng.integers(0, 4, 300)
    y = (x + rng.integers(0, 3, 300)) % 5
    assert plugin_mi(x, y) == pytest.approx(plugin_mi(y, x), abs=1e-15)


def test_rank_standardization_is_exactly_invariant_under_increasing_maps(rng):
    x, y = _pair(rng, n=2000)
    base = ksg_mi(x, y, standardize="rank")
    assert ksg_mi(np.exp(x), y ** 3, standardize="rank") == base
    assert ksg_mi(np.arctan(3 * x) + 10, np.sinh(y), standardize="rank") == base


# ------------------------------------------------------------------ permutation null


def test_permutation_null_is_seeded_and_detects_dependence(rng):
    x, y = _pair(rng, n=300, rho=0.6)
    res = permutation_null(ksg_mi, x, y, n_permutations=29, seed=3)
    again = permutation_null(ksg_mi, x, y, n_permutations=29, seed=3)
    np.testing.assert_array_equal(res.null_distribution, again.null_distribution)
    # I = 0.22 nats is ~ 7 null standard deviations (about 0.03 at n = 300) above the null
    assert res.pvalue == pytest.approx(1 / 30)
    assert res.statistic == ksg_mi(x, y)
    assert abs(np.mean(res.null_distribution)) < 0.03


def test_permutation_pvalue_on_independent_data_is_not_small():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, 400)
    y = rng.integers(0, 3, 400)
    res = permutation_null(plugin_mi, x, y, n_permutations=99, seed=0)
    assert res.pvalue > 0.05
    two = permutation_null(plugin_mi, x, y, n_permutations=99, seed=0, alternative="two-sided")
    assert 0 < two.pvalue <= 1


def test_mixed_mi_on_continuous_data_is_ksg_with_log_n(rng):
    # no ties: rho_i > 0 everywhere, k~ = k and m_x = n_x + 1 (strict counts plus the point),
    # so each term is psi(k) + log n - psi(n_x + 1) - psi(n_y + 1): KSG eq. (8) with log n in
    # place of psi(n), whatever the data
    from scipy.special import digamma

    x, y = _pair(rng, n=700)
    shift = math.log(700) - digamma(700)
    assert mixed_mi(x, y) == pytest.approx(ksg_mi(x, y, jitter=0) + shift, abs=1e-12)


# ------------------------------------------------------------------ extreme magnitudes


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**1000])
@pytest.mark.parametrize("est", KNN_MI)
def test_extreme_magnitudes_give_the_same_estimate(est, scale, rng):
    # multiplying a variable by a constant changes no standardized value; x * 1e300 used to
    # overflow the variance (the estimate came back 0) and x * 1e-300 to underflow it (inf)
    x, y = _pair(rng, 300)
    assert est(x * scale, y) == est(x, y)
    assert est(x, y * scale) == est(x, y)


@pytest.mark.parametrize("est", KNN_MI)
def test_subnormal_data_gives_a_finite_estimate(est, rng):
    # 1e-310 is below the smallest normal float: the data keep only ~14 of their 53 bits, so
    # the estimate is close to, not equal to, the full-precision one (no tie at n = 300)
    x, y = _pair(rng, 300)
    assert est(x * 1e-310, y) == pytest.approx(est(x, y), abs=1e-3)


@pytest.mark.parametrize("scale", [2.0**1000, 2.0**-1000])
@pytest.mark.parametrize("est", KNN_MI)
def test_extreme_magnitudes_without_standardization(est, scale, rng):
    # with standardize="none" a common power of two is exact: the very same counts
    x, y = _pair(rng, 300)
    assert est(x * scale, y * scale, standardize="none") == est(x, y, standardize="none")
    assert math.isfinite(est(x * 1e300, x * 1e300, standardize="none"))


def test_magnitudes_too_far_apart_for_one_scale_are_a_clean_error(rng):
    x, y = _pair(rng, 300)
    with pytest.raises(ValueError, match="span too many orders of magnitude.*standardize='std'"):
        ksg_mi(x * 1e300, y * 1e-300, standardize="none")


def test_batch_extreme_magnitudes(rng):
    X = rng.standard_normal((2, 200, 1))
    Y = X + rng.standard_normal((2, 200, 1))
    ref = ksg_mi_batch(X, Y, backend="numpy")
    assert np.array_equal(ksg_mi_batch(X * 1e300, Y, backend="numpy"), ref)
    ref_none = ksg_mi_batch(X, Y, backend="numpy", standardize="none")
    assert np.array_equal(
        ksg_mi_batch(X * 2.0**1000, Y * 2.0**1000, backend="numpy", standardize="none"),
        ref_none)


@pytest.mark.parametrize("standardize", ["none", "std"])
def test_entropy_of_extreme_magnitudes_adds_the_log_of_the_scale(standardize, rng):
    x = rng.standard_normal((500, 2))
    ref = knn_entropy(x, standardize=standardize)
    for scale in (2.0**1000, 2.0**-1000):
        got = knn_entropy(x * scale, standardize=standardize)
        assert got == pytest.approx(ref + 2 * math.log(scale), rel=0, abs=1e-12)


# ----------------------------------------------------------------------- repeated points


def _duplicated(rng, copies, n=600):
    x, y = _pair(rng, n // copies)
    return np.repeat(x, copies), np.repeat(y, copies)


CONTINUOUS_ESTIMATORS = [
    pytest.param(lambda x, y, **kw: ksg_mi(x, y, **kw), id="ksg1"),
    pytest.param(lambda x, y, **kw: ksg_mi(x, y, algorithm=2, **kw), id="ksg2"),
    pytest.param(lambda x, y, **kw: ksg_mi_batch(x[None], y[None], backend="numpy", **kw),
                 id="batch"),
    pytest.param(lambda x, y, **kw: conditional_mi(x, y, np.zeros(len(x)), **kw), id="cmi"),
    pytest.param(lambda x, y, **kw: knn_entropy(np.column_stack([x, y]), **kw), id="entropy"),
]


@pytest.mark.parametrize("est", CONTINUOUS_ESTIMATORS)
@pytest.mark.parametrize("copies", [2, 3, 5])
def test_repeated_points_raise_with_and_without_jitter(est, copies, rng):
    # each point recorded `copies` times: with jitter the estimate used to describe the noise
    # (KSG gave 0.93 nats at 2 copies and 5.8 at 5 where the continuous law has 0.22);
    # without jitter, fewer than k copies slipped through unnoticed
    x, y = _duplicated(rng, copies)
    with pytest.raises(ValueError, match="repeated points.*exact copy"):
        est(x, y, jitter=0)
    with pytest.raises(ValueError, match="heavy ties.*exact copy"):
        est(x, y)


@pytest.mark.parametrize("est", CONTINUOUS_ESTIMATORS)
def test_rare_ties_are_broken_by_the_jitter(est, rng):
    # 2 of 600 points share a value (finite-precision records): the jitter breaks the tie
    x, y = _pair(rng, 600)
    x[1], y[1] = x[0], y[0]
    with pytest.raises(ValueError, match="repeated points"):
        est(x, y, jitter=0)
    assert np.isfinite(est(x, y))


def test_ties_in_one_variable_only_are_not_repeated_points(rng):
    # x takes 4 values, y is continuous: no row of (x, y) repeats, KSG runs as before
    x, y = _pair(rng, 600)
    assert np.isfinite(ksg_mi(np.round(x), y))


def test_exact_copies_counts_rows_exactly():
    from noprune_theory.estimators._preprocess import exact_copies

    a = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [-0.0, 1.0], [0.0, 2.0]])
    assert exact_copies([a]).tolist() == [2, 2, 0, 2, 0]
    assert exact_copies([a[:, :1], a[:, 1:]]).tolist() == [2, 2, 0, 2, 0]


# ------------------------------------------------------- the same variable passed twice


def test_conditioning_on_a_copy_of_y_gives_zero(rng):
    # Regression: I(X; Y | Y) was -0.06 nats because the two copies of y got different jitter.
    # With one noise for both, FP counts n_yz = n_z and n_xz = k - 1, so the estimate is 0.
    x, y = _pair(rng, 1000)
    assert conditional_mi(x, y, y) == 0.0
    assert conditional_mi(x, y, x) == 0.0
    # the same variable in another coding: standardized, 3 y + 1 and -y are y again
    assert abs(conditional_mi(x, y, 3 * y + 1)) < 1e-12
    assert abs(conditional_mi(x, -y, y)) < 1e-12
    assert abs(conditional_mi(x, y, y, standardize="rank")) < 1e-12


def test_a_variable_with_itself_gets_one_noise(rng):
    from noprune_theory.estimators._special import digamma_scalar

    x = rng.standard_normal(500)
    # x and x (or -x): each point's k neighbours are the same in both, n_x = n_y = k - 1
    expect = digamma_scalar(500) - digamma_scalar(3)
    assert ksg_mi(x, x) == pytest.approx(expect, abs=1e-12)
    assert ksg_mi(x, -x) == pytest.approx(expect, abs=1e-12)
    assert ksg_mi_batch(x[None], x[None], backend="numpy")[0] == pytest.approx(expect,
                                                                              abs=1e-12)
    # two identical columns inside x: the same as one column
    assert ksg_mi(np.column_stack([x, x]), x ** 3) == ksg_mi(x, x ** 3)


def test_distinct_columns_are_left_alone(rng):
    from noprune_theory.estimators._preprocess import same_columns

    x, y = _pair(rng, 300)
    assert same_columns([x[:, None], y[:, None], (x + 1e-6 * y)[:, None]],
                        standardize="std", jitter=1e-10) == []
    found = same_columns([x[:, None], np.column_stack([y, -x])], standardize="std",
                         jitter=1e-10)
    assert [(v, j, u, i, s) for v, j, u, i, s, _ in found] == [(1, 1, 0, 0, -1.0)]


def test_entropy_of_a_vector_with_a_repeated_column_is_refused(rng):
    x = rng.standard_normal(400)
    for second in (x, -x, 2 * x + 3):
        with pytest.raises(ValueError, match=r"column\(s\) \[1\] of x are copies.*-inf"):
            knn_entropy(np.column_stack([x, second]), standardize="std")
    with pytest.raises(ValueError, match="are copies"):
        knn_entropy(np.column_stack([x, x]))


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**-1000])
def test_gaussian_fit_of_extreme_magnitudes(scale, rng):
    # Regression: x * 1e300 overflowed the covariance, x * 1e-300 read as singular
    x, y = _pair(rng, 500)
    ref = gaussian_mi_fit(x, y)
    assert gaussian_mi_fit(x * scale, y) == pytest.approx(ref, rel=1e-12)
    assert gaussian_mi_fit(x * scale, y * scale) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("call,name", [
    (lambda: gaussian_mi(corr="0.5"), "corr"),
    (lambda: gaussian_mi([[1, 0.5], [0.5, 1]], dx="1"), "dx"),
    (lambda: permutation_null(ksg_mi, np.arange(20.0), np.arange(20.0) ** 2,
                              n_permutations="9"), "n_permutations"),
])
def test_other_estimator_arguments_refuse_numbers_as_text(call, name):
    with pytest.raises(TypeError, match=f"^{name} must be .* got the string"):
        call()
