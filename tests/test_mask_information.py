"""Mask-data information: exact enumeration against hand computations, the bound relations
(including the counterexamples showing sum_i I(m_i; D) bounds nothing), data-agnostic masks at
zero within the estimator's band, an injective mask at H(D), reproducibility checks; and the
noise correlation and measured p_eff."""
import math

import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.estimators import (
    enumerate_datasets,
    law_of_robustness_check,
    mask_data_information,
    mask_information_exact,
    measured_effective_params,
    noise_correlation,
    plugin_entropy,
)
from noprune_theory.models import MaskedMLP
from noprune_theory.pruning import prune

# A population of three points 0, 1, 2 (scalar x, label 0); datasets are 2 draws with
# replacement, seen as multisets: {00, 01, 02, 11, 12, 22} with probabilities
# 1/9, 2/9, 2/9, 1/9, 2/9, 1/9.
POP = np.array([0.0, 1.0, 2.0])
IDX, WEIGHTS = enumerate_datasets(3, 2)
DATASETS = [(POP[r][:, None], np.zeros(2)) for r in IDX]


def _contains(X, y, seed):
    # m = [0 in D, 2 in D], flipped entirely when seed = 1
    m = np.array([np.any(X[:, 0] == 0.0), np.any(X[:, 0] == 2.0)])
    return ~m if seed == 1 else m


def test_enumerate_datasets_by_hand():
    assert IDX.tolist() == [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]]
    np.testing.assert_allclose(WEIGHTS, np.array([1, 2, 2, 1, 2, 1]) / 9, rtol=1e-15)
    _, w = enumerate_datasets(2, 3, probs=[0.25, 0.75])
    # {000, 001, 011, 111}: (1/4)^3, 3 (1/4)^2 (3/4), 3 (1/4)(3/4)^2, (3/4)^3
    np.testing.assert_allclose(w, [1 / 64, 9 / 64, 27 / 64, 27 / 64], rtol=1e-15)


def test_exact_matches_hand_computation():
    # mask law (one seed): (1,0) on {00, 01}: 3/9; (1,1) on {02}: 2/9; (0,0) on {11}: 1/9;
    # (0,1) on {12, 22}: 3/9.  H = 2 (1/3) log2 3 + (2/9) log2(9/2) + (1/9) log2 9
    H = 2 / 3 * math.log2(3) + 2 / 9 * math.log2(9 / 2) + 1 / 9 * math.log2(9)
    res = mask_information_exact(_contains, DATASETS, WEIGHTS)
    assert res.method == "exact" and res.unit == "bits"
    assert abs(res.mi - H) < 1e-13 and abs(res.mi_conditional - H) < 1e-13
    assert abs(res.entropy - H) < 1e-13
    # P(0 in D) = P(2 in D) = 5/9: sum_i H(m_i) = 2 h2(5/9) >= H(m)
    h2 = -(5 / 9 * math.log2(5 / 9) + 4 / 9 * math.log2(4 / 9))
    assert abs(res.per_weight_entropy - 2 * h2) < 1e-13
    assert res.per_weight_entropy >= res.entropy
    assert res.ceiling == 2.0  # masks keep 0, 1 or 2 weights: the trivial p = 2 bits
    # two fair seeds, seed 1 flips the mask: I(m; D | seed) = H above; H(m | D) = 1 bit (the
    # flip is visible); the mixture of the law and its flip puts 3/9 on (1,0) and on (0,1),
    # 1.5/9 on (1,1) and on (0,0): H(m) = (2/3) log2 3 + (1/3) log2 6; I(m; D) = H(m) - 1
    res2 = mask_information_exact(_contains, DATASETS, WEIGHTS, seeds=(0, 1))
    Hm = 2 / 3 * math.log2(3) + 1 / 3 * math.log2(6)
    assert abs(res2.mi - (Hm - 1.0)) < 1e-13
    assert abs(res2.mi_conditional - H) < 1e-13
    nats = mask_information_exact(_contains, DATASETS, WEIGHTS, seeds=(0, 1), base=None)
    assert abs(nats.mi - res2.mi * math.log(2)) < 1e-13 and nats.unit == "nats"


def test_sum_of_per_weight_information_bounds_nothing():
    # D uniform on {0, 1, 2, 3} with bits (b1, b2); seeds U in {0, 1} fair.
    data = [(np.array([[float(i)]]), np.zeros(1)) for i in range(4)]
    bit = lambda X: bool(int(X[0, 0]) & 1)
    # duplicate: m = (b1, b1) -> I(m; D) = 1 bit, sum_i I(m_i; D) = 2 bits (above)
    dup = mask_information_exact(lambda X, y, s: np.array([bit(X), bit(X)]), data)
    assert abs(dup.mi - 1.0) < 1e-13 and abs(dup.per_weight_mi - 2.0) < 1e-13
    # xor: m = (U, U xor b1) -> each m_i alone is a fair coin independent of D, so
    # sum_i I(m_i; D) = 0, yet I(m; D) = 1 bit (below)
    xor = mask_information_exact(lambda X, y, s: np.array([s == 1, (s == 1) ^ bit(X)]), data,
                                 seeds=(0, 1))
    assert abs(xor.mi - 1.0) < 1e-13 and abs(xor.per_weight_mi) < 1e-13
    # the true bounds hold in both: I <= H(m) <= min(sum H(m_i), ceiling)
    for r in (dup, xor):
        assert r.mi <= r.entropy + 1e-13 <= r.upper + 2e-13


def test_injective_mask_gives_H_of_the_data():
    # a one-hot mask of the dataset's identity: H(m) = H(D) =
    # 3 (1/9) log2 9 + 3 (2/9) log2(9/2); every mask keeps 1 of 6: ceiling log2 6
    HD = 3 / 9 * math.log2(9) + 6 / 9 * math.log2(9 / 2)
    key = {tuple(r): i for i, r in enumerate(IDX.tolist())}

    def onehot(X, y, seed):
        m = np.zeros(6, dtype=bool)
        m[key[tuple(sorted(int(v) for v in X[:, 0]))]] = True
        return m

    exact = mask_information_exact(onehot, DATASETS, WEIGHTS)
    assert abs(exact.mi - HD) < 1e-13 and abs(exact.ceiling - math.log2(6)) < 1e-13

    def sample(seed):
        r = np.random.default_rng(seed)
        return POP[r.integers(0, 3, size=2)][:, None], np.zeros(2)

    est = mask_data_information(onehot, sample, n_datasets=600, n_inits=1, quantity="conditional",
                                seed=1)
    # 6 patterns, 600 datasets: Miller-Madow bias O(1/n^2). The plug-in's SE is
    # sd(-log2 p(m)) / sqrt(n): -log2 p is log2 9 (total prob 1/3) or log2 4.5 (2/3), one bit
    # apart, so sd = sqrt((1/3)(2/3)) = 0.4714 and SE = 0.4714 / sqrt(600) = 0.01925; the
    # bootstrap (200 replicates) recovers it within ~10%
    assert abs(est.mi_conditional - HD) <= 3 * est.mi_conditional_se
    assert abs(est.mi_conditional_se - 0.01925) < 0.25 * 0.01925
    assert est.reliable and est.n_patterns == 6


def _sample_tiny(seed):
    r = np.random.default_rng(seed)
    return r.standard_normal((6, 2)) / math.sqrt(2), r.choice([-1.0, 1.0], size=6)


@pytest.mark.parametrize("method", ["random", "synflow"])
def test_data_agnostic_masks_carry_no_information(method):
    # 2-2-1 net: 6 weights, keep 3: at most C(6, 3) = 20 patterns, each run's init from its seed
    options = {"iterations": 4} if method == "synflow" else {}

    def mask_fn(X, y, seed):
        net = MaskedMLP(2, (2,), B=1, seed=seed)
        return prune(net, method, sparsity=0.5, seed=seed, **options)

    res = mask_data_information(mask_fn, _sample_tiny, n_datasets=10, n_inits=60, seed=4)
    # the mask ignores (X, y): given the seed it is constant over datasets, exactly
    assert res.mi_conditional == 0.0 and res.mi_conditional_se == 0.0
    # I(m; D) = 0: the permutation-debiased estimate is centred on 0 with the null's sd;
    # 4 sd is a ~1e-4 tail. Miller-Madow, with ~60 runs per dataset over <= 20 patterns, is
    # within the same band.
    assert abs(res.mi_debiased) <= 4 * res.null_sd
    assert abs(res.mi) <= 4 * res.null_sd
    assert res.p_value > 1e-3
    assert res.reliable and res.ceiling == pytest.approx(math.log2(20), rel=1e-13)
    assert res.upper <= math.log2(20) + 1e-12


def test_data_dependent_mask_is_detected():
    # keep the weight of the coordinate with the larger |sum_i y_i x_i|: depends on the data
    def mask_fn(X, y, seed):
        s = np.abs(X.T @ y)
        return np.array([s[0] >= s[1], s[0] < s[1]])

    # 2 runs per dataset: at this design a data-agnostic mask would read 0.32 bits, so the
    # result is flagged even though here (one mask per dataset) the estimate is right
    with pytest.warns(RuntimeWarning, match="under independence"):
        res = mask_data_information(mask_fn, _sample_tiny, n_datasets=200, n_inits=2, seed=0)
    assert not res.reliable
    # a fair bit determined by the data: I(m; D) = I(m; D | init) = H(m) = 1 bit (symmetry)
    assert abs(res.mi_conditional - 1.0) <= 3 * res.mi_conditional_se + 0.01
    assert abs(res.mi - 1.0) <= 3 * res.mi_se + 0.01
    # no permutation comes near 1 bit: the p-value is the smallest possible, 1 / 201
    assert res.p_value == pytest.approx(1 / 201)
    assert abs(res.ceiling - 1.0) < 1e-13  # log2 C(2, 1)


def test_reproducibility_and_input_errors():
    state = np.random.default_rng(0)

    def leaky(seed):  # ignores its seed: global state
        return state.standard_normal((3, 2)), np.zeros(3)

    with pytest.raises(ValueError, match="sample_data is not reproducible"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), leaky, n_datasets=3)

    def noisy_mask(X, y, seed):
        return state.random(3) < 0.5

    with pytest.raises(ValueError, match="mask_fn is not deterministic"):
        mask_data_information(noisy_mask, _sample_tiny, n_datasets=3)
    with pytest.raises(ValueError, match="boolean masks"):
        mask_data_information(lambda X, y, s: np.array([0.5, 1.0]), _sample_tiny, n_datasets=3)
    with pytest.raises(ValueError, match="must return a tuple"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), lambda s: np.zeros(3),
                              n_datasets=3)
    with pytest.raises(TypeError, match="sample_data must be a callable"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), 5)
    with pytest.raises(ValueError, match="n_datasets must be an integer >= 2"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), _sample_tiny, n_datasets=1)
    with pytest.raises(ValueError, match="quantity must be one of"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), _sample_tiny, quantity="all")
    for name in ("n_datasets", "n_inits", "n_bootstrap", "n_permutations", "seed"):
        with pytest.raises(TypeError, match=f"{name} must be an integer, got the string"):
            mask_data_information(lambda X, y, s: np.ones(2, bool), _sample_tiny,
                                  **{name: "3"})
    with pytest.raises(ValueError, match="base must be a number > 1"):
        mask_data_information(lambda X, y, s: np.ones(2, bool), _sample_tiny, base=0.5)
    with pytest.raises(ValueError, match="probs must be 6 non-negative numbers"):
        mask_information_exact(_contains, DATASETS, [0.5] * 6)
    with pytest.raises(ValueError, match="too many to enumerate"):
        enumerate_datasets(16, 12)


def test_unreliable_plugin_warns():
    # every dataset its own mask: 20 distinct patterns in 20 runs saturate the plug-in
    def mask_fn(X, y, seed):
        return np.unpackbits(np.frombuffer(np.float64(X[0, 0]).tobytes(), np.uint8)).astype(bool)

    with pytest.warns(RuntimeWarning, match="unreliable"):
        res = mask_data_information(mask_fn, _sample_tiny, n_datasets=20, n_inits=1,
                                    quantity="conditional", n_bootstrap=0)
    assert not res.reliable
    assert res.upper <= 64.0


# ----------------------------------------------------------------------------- noise, p_eff
def test_noise_correlation_direct(rng):
    net = MaskedMLP(3, (5,), B=2, seed=1)
    X, fresh = rng.standard_normal((9, 3)), rng.standard_normal((50, 3))
    z = rng.standard_normal(9)
    f = to_numpy(net.forward(X))[..., 0]
    Ef = to_numpy(net.forward(fresh))[..., 0].mean(axis=1)
    direct = np.array([np.mean((f[b] - Ef[b]) * z) for b in range(2)])
    np.testing.assert_allclose(to_numpy(noise_correlation(net, X, z, fresh=fresh)), direct,
                               rtol=1e-13)
    np.testing.assert_allclose(noise_correlation(f, None, z, mean=Ef), direct, rtol=1e-13)
    assert noise_correlation(f[0], None, z, fresh=f[1]) == pytest.approx(
        np.mean((f[0] - f[1].mean()) * z), rel=1e-13)
    with pytest.raises(ValueError, match="E f is needed"):
        noise_correlation(f, None, z)
    with pytest.raises(ValueError, match=r"z must have shape \(9,\)"):
        noise_correlation(f, None, z[:4], mean=0.0)
    with pytest.raises(ValueError, match="X must be given"):
        noise_correlation(net, None, z, mean=0.0)


def test_noise_correlation_namespace_generic(xp, rng):
    f = rng.standard_normal((2, 6))
    z = rng.standard_normal(6)
    ref = noise_correlation(f, None, z, fresh=f[:, :3])
    got = noise_correlation(xp.asarray(f), None, xp.asarray(z), fresh=xp.asarray(f[:, :3]))
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-14)


def test_measured_effective_params_by_hand():
    from noprune_theory.theory import effective_params

    net = MaskedMLP(2, (3,), B=1, scaling="ntk", seed=0)
    masks = [np.ones(w.shape, dtype=bool) for w in net.weights]
    masks[0][0, 0, :] = False  # 3 of 9 weights pruned: 6 kept
    net.set_masks(masks)
    out = measured_effective_params(net, mi=2.0, eps=0.5)
    # w_max over c_l |W_l| (biases are 0); p = 6 kept + 4 biases; R = 1 without data;
    # J = R (w_max p)^2 [BS Lemma 3.1]; W = 2 w_max sqrt(p)
    w_max = max(np.abs(to_numpy(w)).max() * c for w, c in zip(net.weights, net.multipliers))
    p = 10.0
    J = (w_max * p) ** 2
    expect = 2.0 + 6 * math.log2(1 + 60 * (2 * w_max * math.sqrt(p)) * J / 0.5)
    assert out["kept"].tolist() == [6]
    assert out["p_eff"][0] == pytest.approx(expect, rel=1e-12)
    assert out["p_eff"][0] == pytest.approx(
        effective_params(6, 2.0, eps=0.5, W=out["W"][0], J=out["J"][0]), rel=1e-14)


def test_law_of_robustness_check(rng):
    net = MaskedMLP(3, (4,), B=2, seed=0)
    X = rng.standard_normal((20, 3)) / math.sqrt(3)
    y = rng.choice([-1.0, 1.0], size=20)
    chk = law_of_robustness_check(net, X, y, mi=1.0, sigma2=1.0)
    assert chk.bound.shape == (2,) and chk.fits.shape == (2,)
    assert np.all(chk.lipschitz_lower <= chk.lipschitz_upper * (1 + 1e-12))
    assert np.all(chk.consistent)
    np.testing.assert_allclose(chk.mse, to_numpy(net.loss(X, y)), rtol=1e-14)


def _random_mask(X, y, seed):
    # data-agnostic: keep 3 of 6 weights at random from the seed (20 patterns, I(m; D) = 0)
    m = np.zeros(6, bool)
    m[np.random.default_rng(seed).choice(6, 3, replace=False)] = True
    return m


@pytest.mark.parametrize("n_datasets,n_inits", [(100, 3), (400, 3), (100, 10)])
def test_a_biased_headline_is_not_called_reliable(n_datasets, n_inits):
    # Regression: N = 100 datasets x M = 3 inits of a random mask gave mi = 2.4 bits (true 0)
    # with reliable=True: 300 runs over 20 patterns passed the old "5 runs per pattern over
    # all runs" test, but each dataset's 3 runs estimate H(m | D) over ~3 masks. The
    # permutation null measures the headline's bias at this design and flags it.
    with pytest.warns(RuntimeWarning, match="under independence .* null sd from 0"):
        res = mask_data_information(_random_mask, _sample_tiny, n_datasets=n_datasets,
                                    n_inits=n_inits, quantity="mi", n_bootstrap=0, seed=2)
    assert res.mi > 10 * res.null_sd          # the headline is biased here ...
    assert not res.reliable                    # ... and says so
    assert res.extra["null_bias"] == pytest.approx(res.mi, abs=5 * res.null_sd)
    assert abs(res.mi_debiased) <= 4 * res.null_sd   # the centred statistic stays near 0


def test_without_permutations_runs_per_mask_per_dataset_decide():
    with pytest.warns(RuntimeWarning, match="runs per distinct mask per dataset"):
        res = mask_data_information(_random_mask, _sample_tiny, n_datasets=100, n_inits=3,
                                    quantity="mi", n_bootstrap=0, n_permutations=0)
    assert not res.reliable and res.extra["runs_per_cell"] < 1.1


# ----------------------------------------------------------------------------- building blocks
def test_weighted_entropy_merges_equal_codes_and_normalizes():
    from noprune_theory.estimators import weighted_entropy

    # codes 7 and 7 merge: p = (0.5 + 0.25, 0.25) -> h2(1/4) = 2 - (3/4) log2 3 bits
    h = weighted_entropy([7, 2, 7], [2.0, 1.0, 1.0])
    assert abs(h - (2 - 0.75 * np.log2(3))) < 1e-15
    # nats and bits differ by log 2
    assert abs(weighted_entropy([7, 2, 7], [2, 1, 1], base=None) - h * np.log(2)) < 1e-15
    # equal weights: the plug-in entropy of the codes
    codes = np.random.default_rng(1).integers(0, 5, size=300)
    assert abs(weighted_entropy(codes, np.ones(300)) - plugin_entropy(codes, base=2)) < 1e-12


@pytest.mark.parametrize("codes, weights, error, match", [
    ([0, 1], [1.0], ValueError, "weights must hold 2"),
    ([0, 1], [1.0, -1.0], ValueError, "weights must be finite and >= 0"),
    ([0, 1], [0.0, 0.0], ValueError, "positive sum"),
    ([0, 1], [1.0, np.nan], ValueError, "weights must be finite"),
    ([0.5, 1.0], [1.0, 1.0], TypeError, "codes must be integers"),
    ([], [], ValueError, "codes must hold at least one"),
])
def test_weighted_entropy_rejects_bad_input(codes, weights, error, match):
    from noprune_theory.estimators import weighted_entropy

    with pytest.raises(error, match=match):
        weighted_entropy(codes, weights)


def test_mask_codes_are_equal_exactly_for_equal_masks():
    from noprune_theory.estimators import mask_codes

    rng = np.random.default_rng(2)
    for p in (5, 62, 63, 100):  # the int64 bit codes and, beyond 62 weights, row numbers
        m = rng.random((40, p)) < 0.5
        m[7] = m[3]
        codes = mask_codes([m[:, : p // 2], m[:, p // 2:].reshape(40, -1, 1)])
        same = (m[:, None, :] == m[None, :, :]).all(axis=2)
        assert np.array_equal(codes[:, None] == codes[None, :], same)
    # bit i is weight i: weights 0 and 2 kept -> 1 + 4
    assert mask_codes(np.array([[1, 0, 1]], dtype=bool)).tolist() == [5]
    with pytest.raises(ValueError, match="boolean"):
        mask_codes(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="first"):
        mask_codes([np.ones((2, 3), bool), np.ones((3, 3), bool)])


def test_per_weight_entropy_matches_the_exact_routine():
    from noprune_theory.estimators import per_weight_entropy

    # four datasets of unequal probability, masks over 3 weights looked up per dataset
    masks = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    data = [(np.full((1, 1), float(i)), np.zeros(1)) for i in range(4)]
    exact = mask_information_exact(lambda X, y, s: masks[int(X[0, 0])], data, probs)
    assert per_weight_entropy(masks, probs) == exact.per_weight_entropy
    # q = (0.8, 0.5, 0.7): h2 of each, in bits
    q = np.array([0.8, 0.5, 0.7])
    h = float(np.sum(-q * np.log2(q) - (1 - q) * np.log2(1 - q)))
    assert abs(per_weight_entropy(masks, probs) - h) < 1e-14
    # unweighted: the plug-in per-weight entropy of the sample; constant weights add nothing
    assert per_weight_entropy(np.ones((5, 4), bool)) == 0.0
