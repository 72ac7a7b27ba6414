"""Synthetic data: shapes, laws, seeding and argument checks."""

import numpy as np
import pytest

from noprune_theory import data


def test_gaussian_has_covariance_identity_over_d():
    # N(0, I_d/d): every coordinate has variance 1/d; with n*d = 2e6 draws the sample variance
    # of all coordinates pooled has standard error sqrt(2/(n d)) / d ~ 1e-3 / d, so 1% is 10 sigma.
    X = data.gaussian(20000, 100, seed=1)
    assert X.shape == (20000, 100) and X.dtype == np.float64
    assert abs(X.var() * 100 - 1.0) < 0.01
    assert abs(X.mean()) < 5 * np.sqrt(1 / 100 / X.size)


def test_gaussian_is_seeded_and_dtype_is_honoured():
    a = data.gaussian(5, 3, seed=7)
    np.testing.assert_array_equal(a, data.gaussian(5, 3, seed=7))
    assert not np.array_equal(a, data.gaussian(5, 3, seed=8))
    assert data.gaussian(5, 3, seed=7, dtype="float32").dtype == np.float32


def test_sphere_rows_are_unit_and_mean_is_zero():
    X = data.sphere(4000, 5, seed=2)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-12)
    # each coordinate of a uniform point on S^4 has variance 1/5, so the mean of 4000 has
    # standard deviation sqrt(1/5/4000) = 0.0071; 0.04 is > 5 sigma.
    assert np.all(np.abs(X.mean(axis=0)) < 0.04)


def test_mixture_components_sit_at_their_centres():
    X, comp = data.mixture(3000, 20, k=3, seed=0, separation=5.0, scale=0.1)
    assert X.shape == (3000, 20) and comp.dtype == np.int64
    centres = np.stack([X[comp == j].mean(axis=0) for j in range(3)])
    # centres have norm 5 (separation); the within-component noise has norm ~0.1
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 5.0, rtol=0.01)
    spread = np.linalg.norm(X - centres[comp], axis=1)
    assert spread.max() < 0.5


def test_random_labels_are_signs_and_balanced():
    y = data.random_labels(10000, seed=3)
    assert set(np.unique(y).tolist()) == {-1.0, 1.0}
    assert abs(y.mean()) < 0.05  # sd of the mean is 0.01


def test_noisy_labels_add_the_returned_noise():
    X = data.gaussian(50, 4, seed=0)
    y, z = data.noisy_labels(X, lambda X: X.sum(axis=1), sigma=0.3, seed=5, return_noise=True)
    np.testing.assert_allclose(y, X.sum(axis=1) + 0.3 * z, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(data.noisy_labels(X, sigma=1.0, seed=5), z)


def test_teacher_student_matches_its_teacher():
    ts = data.teacher_student(n=30, d=6, teacher_hidden=(5, 5), sigma=0.5, seed=4)
    f = np.asarray(ts.teacher.forward(ts.X))[0, :, 0]
    np.testing.assert_allclose(ts.target, f, rtol=1e-12)
    np.testing.assert_allclose(ts.y, f + 0.5 * ts.noise, rtol=1e-12)
    assert ts.teacher.sizes == (6, 5, 5, 1)
    again = data.teacher_student(n=30, d=6, teacher_hidden=(5, 5), sigma=0.5, seed=4)
    np.testing.assert_array_equal(again.y, ts.y)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: data.gaussian(0, 3), "n must be an integer >= 1, got 0"),
        (lambda: data.gaussian(3, 2.5), "d must be an integer >= 1, got 2.5"),
        (lambda: data.sphere(3, 1), "d must be an integer >= 2, got 1"),
        (lambda: data.gaussian(3, 2, dtype="int8"), "dtype must be one of"),
        (lambda: data.mixture(3, 2, k=0), "k must be an integer >= 1, got 0"),
        (lambda: data.noisy_labels(np.ones(3)), r"X must have 2 axes"),
        (lambda: data.noisy_labels(np.array([[np.nan]])), "X must not contain NaN or inf"),
        (lambda: data.noisy_labels(np.ones((3, 2)), sigma=-1), "sigma must be a number >= 0"),
        (lambda: data.noisy_labels(np.ones((3, 2)), lambda X: X), "target\\(X\\) must give n = 3"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- one seed check
# (issue 15, "Code that exists twice": the seed checkers of data, pruning and selection accepted
# different types: 1e23 and 1.5 slipped through one, a Generator was refused by another)

def _seeded_calls():
    from noprune_theory.data import gaussian, random_labels, teacher_student
    from noprune_theory.models import MaskedMLP
    from noprune_theory.pruning import prune, random_scores, select_masks, shuffle_masks

    net = MaskedMLP(3, (4,), B=1, seed=0)
    mask = [np.ones((1, 3, 4), dtype=bool), np.ones((1, 4, 1), dtype=bool)]
    scores = [np.ones((1, 3, 4)), np.ones((1, 4, 1))]
    return {
        "gaussian": (lambda s: gaussian(4, 2, seed=s), True),
        "random_labels": (lambda s: random_labels(4, seed=s), True),
        "teacher_student": (lambda s: _xy(teacher_student(n=4, d=2, teacher_hidden=(3,),
                                                          seed=s)), False),
        "prune": (lambda s: prune(net, "random", 0.5, seed=s), False),
        "shuffle_masks": (lambda s: shuffle_masks(mask, seed=s), True),
        "select_masks": (lambda s: select_masks(scores, density=0.5, seed=s), True),
        "random_scores": (lambda s: random_scores([(1, 2)], seed=s), True),
    }


SEEDED = ["gaussian", "random_labels", "teacher_student", "prune", "shuffle_masks",
          "select_masks", "random_scores"]


@pytest.mark.parametrize("func", SEEDED)
@pytest.mark.parametrize("seed, error", [
    (-1, ValueError), (1.5, ValueError), (1e23, ValueError), (float("nan"), ValueError),
    ("3", TypeError), (True, TypeError), (None, TypeError), ([1], TypeError),
    (np.random.RandomState(0), TypeError),
])
def test_every_seeded_function_refuses_the_same_seeds(func, seed, error):
    call, _ = _seeded_calls()[func]
    with pytest.raises(error, match="^seed must be an integer >= 0"):
        call(seed)


@pytest.mark.parametrize("func", SEEDED)
def test_every_seeded_function_accepts_the_same_seeds(func):
    call, takes_generator = _seeded_calls()[func]
    first = call(3)
    for same in (np.int64(3), 3.0, np.uint8(3)):
        _assert_same(call(same), first)
    if takes_generator:
        _assert_same(call(np.random.default_rng(3)), first)  # default_rng(3) is seed 3
    else:
        with pytest.raises(TypeError, match="^seed must be an integer >= 0, got a numpy"):
            call(np.random.default_rng(3))


def _xy(ts):
    return ts.X, ts.y


def _assert_same(a, b):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif hasattr(a, "weights"):  # a model
        _assert_same(a.weights, b.weights)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_check_seed_contract():
    from noprune_theory._validation import check_random_state, check_seed

    assert check_seed(np.int32(7)) == 7 and type(check_seed(np.int32(7))) is int
    assert check_seed(None, none=True) is None
    g = np.random.default_rng(0)
    assert check_seed(g) is g and check_random_state(g) is g
    assert check_random_state(5).integers(1000) == np.random.default_rng(5).integers(1000)
    # floats are exact integers only below 2^53: 2.0**53 is, 1e23 (99999999999999991611392) not
    assert check_seed(2.0**53) == 2**53
    with pytest.raises(ValueError, match="not exactly an integer"):
        check_seed(1e23)
    with pytest.raises(TypeError, match="^rng_seed must be"):
        check_seed("1", "rng_seed")


@pytest.mark.parametrize("draw", [data.gaussian, data.sphere])
def test_draws_make_no_full_size_temporaries(draw):
    # issue 13: at n = 65536, d = 4096 one float64 copy is 2 GiB; a float64 draw holds only
    # its result (and blocks of rows), never a second (n, d) array
    import tracemalloc

    n, d = 20000, 300  # 48 MB, several row blocks
    nbytes = n * d * 8
    tracemalloc.start()
    try:
        X = draw(n, d, seed=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert X.nbytes == nbytes
    assert peak < 1.25 * nbytes


@pytest.mark.parametrize("draw", [data.gaussian, data.sphere])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_draws_equal_the_one_pass_formulas(draw, dtype):
    # the in-place, blockwise computation gives the numbers of the plain expressions exactly
    n, d = 3000, 1500  # several row blocks of the sphere's norms
    g = np.random.default_rng(9).standard_normal((n, d))
    ref = g / np.sqrt(d) if draw is data.gaussian else g / np.linalg.norm(g, axis=1, keepdims=True)
    assert np.array_equal(draw(n, d, seed=9, dtype=dtype), ref.astype(dtype))
