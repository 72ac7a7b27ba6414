"""k-NN kernels: every path (cKDTree, numba 1-D counts, CUDA kernel under the simulator) gives
the same neighbour counts as a brute-force O(n^2) reference written here, bit for bit, and the
batched entry points agree with the single-problem ones."""
import numpy as np
import pytest

from noprune_theory.estimators import ksg_mi, ksg_mi_batch
from noprune_theory.estimators._knn import _ksg_mi_batch
from noprune_theory.estimators._preprocess import prepare
from noprune_theory.estimators._special import digamma_int
from noprune_theory.kernels import cpu_knn


def brute_counts(x, y, k, algorithm):
    """Reference KSG counts straight from the definitions (KSG 2004, eqs. 8 and 9)."""
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(axis=2)
    d = np.maximum(dx, dy)
    n = len(x)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    eps = np.take_along_axis(d, order, axis=1)[:, k - 1]
    off = ~np.eye(n, dtype=bool)
    if algorithm == 1:
        nx = ((dx < eps[:, None]) & off).sum(axis=1)
        ny = ((dy < eps[:, None]) & off).sum(axis=1)
    else:
        rx = np.take_along_axis(dx, order, axis=1).max(axis=1)
        ry = np.take_along_axis(dy, order, axis=1).max(axis=1)
        nx = ((dx <= rx[:, None]) & off).sum(axis=1)
        ny = ((dy <= ry[:, None]) & off).sum(axis=1)
    return nx, ny, eps


def _data(rng, n, dx, dy):
    x = rng.standard_normal((n, dx))
    y = x[:, :1] + rng.standard_normal((n, dy))
    return x, y


@pytest.mark.parametrize("dx,dy", [(1, 1), (2, 1), (3, 2)])
@pytest.mark.parametrize("k", [1, 3])
def test_knn_distances_match_brute_force(rng, dx, dy, k):
    x, y = _data(rng, 60, dx, dy)
    _, _, eps = brute_counts(x, y, k, 1)
    got = cpu_knn.knn_distances(np.hstack([x, y]), k)[:, k - 1]
    np.testing.assert_array_equal(got, eps)
    np.testing.assert_array_equal(cpu_knn.knn_kth_distance(np.hstack([x, y]), k), eps)


@pytest.mark.parametrize("case", ["independent", "rho=0.999", "heavy tails", "ties",
                                  "ties in x"])
@pytest.mark.parametrize("k", [1, 3])
def test_strip_kernel_equals_the_tree_bit_for_bit(case, k):
    rng = np.random.default_rng(12)
    n = 2000
    x = rng.standard_normal(n)
    y = {
        "independent": rng.standard_normal(n),
        "rho=0.999": x + 0.01 * rng.standard_normal(n),
        "heavy tails": rng.standard_normal(n) ** 3,
        "ties": rng.integers(0, 5, n).astype(float),
        "ties in x": rng.standard_normal(n),
    }[case]
    if case == "heavy tails":
        x = np.exp(3 * x)
    if case in ("ties", "ties in x"):
        x = rng.integers(0, 3, n).astype(float)
    ref = cpu_knn.knn_kth_distance(np.column_stack([x, y]), k)
    np.testing.assert_array_equal(cpu_knn.knn_kth_distance_2d(x, y, k), ref)
    np.testing.assert_array_equal(cpu_knn.knn_kth_distance_2d(x[:k + 1], y[:k + 1], k),
                                  cpu_knn.knn_kth_distance(np.column_stack([x, y])[:k + 1], k))


def test_kth_distance_with_duplicates():
    # points 0, 0, 0, 1: the 2nd neighbour of a zero is another zero (distance 0), the 3rd is
    # the one at distance 1; for the point 1 every neighbour is at distance 1
    pts = np.array([[0.0], [0.0], [0.0], [1.0]])
    np.testing.assert_array_equal(cpu_knn.knn_kth_distance(pts, 2), [0, 0, 0, 1])
    np.testing.assert_array_equal(cpu_knn.knn_kth_distance(pts, 3), [1, 1, 1, 1])


@pytest.mark.parametrize("strict", [True, False])
def test_numba_1d_counts_equal_tree_counts(rng, strict):
    # radii equal to actual distances are the hard case for "<" versus "<="
    x = rng.standard_normal((500, 1))
    radii = np.abs(x[rng.permutation(500), 0] - x[:, 0])
    tree = cpu_knn.count_within_tree(x, radii, strict=strict)
    fast = cpu_knn.count_within_sorted_1d(x, radii, strict=strict)
    np.testing.assert_array_equal(fast, tree)
    d = np.abs(x - x.T)
    np.fill_diagonal(d, np.inf)
    expect = (d < radii[:, None]).sum(1) if strict else (d <= radii[:, None]).sum(1)
    np.testing.assert_array_equal(fast, expect)


def test_count_zero_radius_counts_exact_copies():
    pts = np.array([[0.0], [0.0], [1.0], [0.0], [1.0]])
    np.testing.assert_array_equal(cpu_knn.count_zero_distance(pts), [2, 2, 1, 2, 1])
    np.testing.assert_array_equal(
        cpu_knn.count_within_sorted_1d(pts, np.zeros(5), strict=False), [2, 2, 1, 2, 1])


def test_knn_distances_with_duplicates_drop_the_point_itself():
    # five copies of one point: every point's 3 nearest others are at distance 0
    pts = np.zeros((5, 2))
    dist, idx = cpu_knn.knn_distances(pts, 3, return_indices=True)
    assert np.all(dist == 0)
    assert not np.any(idx == np.arange(5)[:, None])


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cpu_ksg_counts_equal_brute_force(rng, algorithm, backend):
    from noprune_theory.estimators._knn import _ksg_counts_cpu

    x, y = _data(rng, 80, 2, 1)
    nx, ny, eps = _ksg_counts_cpu(x, y, 3, algorithm, "numba" if backend == "numba" else "tree",
                                  None)
    bnx, bny, beps = brute_counts(x, y, 3, algorithm)
    np.testing.assert_array_equal(nx, bnx)
    np.testing.assert_array_equal(ny, bny)
    np.testing.assert_array_equal(eps, beps)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_cuda_kernel_counts_equal_cpu_under_simulator(algorithm):
    # tiny shapes: the simulator runs one Python thread per CUDA thread
    from noprune_theory.kernels import cuda_knn

    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 37, 2))
    Y = X[..., :1] + 0.5 * rng.standard_normal((2, 37, 1))
    nx, ny, eps = cuda_knn.ksg_counts_batch(X, Y, 3, algorithm)
    assert nx.dtype == np.int64 and eps.dtype == np.float64
    for p in range(2):
        bnx, bny, beps = brute_counts(X[p], Y[p], 3, algorithm)
        np.testing.assert_array_equal(nx[p], bnx)
        np.testing.assert_array_equal(ny[p], bny)
        np.testing.assert_array_equal(eps[p], beps)


def test_cuda_kernel_checks_dtypes_itself():
    # the simulator would run float32 silently; the wrapper must refuse it
    from noprune_theory.kernels import cuda_knn

    X = np.zeros((1, 10, 1), dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        cuda_knn.ksg_counts_batch(X, X, 3, 1)
    with pytest.raises(ValueError, match="k must be"):
        cuda_knn.ksg_counts_batch(X.astype(np.float64), X.astype(np.float64), 10, 1)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_batched_gpu_path_equals_cpu_path_under_simulator(algorithm):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 33, 1))
    Y = X + rng.standard_normal((3, 33, 1))
    X[2] = 5.0  # a constant problem: exactly 0 on both paths
    common = dict(k=3, algorithm=algorithm, standardize="std", jitter=1e-10, seed=7, base=None,
                  return_local=True, workers=None, xp=np)
    gpu = _ksg_mi_batch(X, Y, knn="cuda", **common)
    cpu = _ksg_mi_batch(X, Y, knn="tree", **common)
    # same counts; the digamma code is shared, so only the summation order could differ
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-13)
    assert np.all(gpu[2] == 0.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_batch_of_one_equals_single_call(rng, backend):
    x, y = _data(rng, 300, 2, 2)
    single = ksg_mi(x, y, seed=5, backend=backend)
    batch = ksg_mi_batch(x[None], y[None], seed=5, backend=backend)
    assert batch.shape == (1,)
    assert batch[0] == pytest.approx(single, abs=1e-14)


def test_batch_backends_agree(rng):
    X = rng.standard_normal((4, 200, 1))
    Y = X ** 3 + rng.standard_normal((4, 200, 1))
    a = ksg_mi_batch(X, Y, backend="numpy")
    b = ksg_mi_batch(X, Y, backend="numba")
    np.testing.assert_array_equal(a, b)


def test_batch_rejects_mismatched_problem_counts(rng):
    with pytest.raises(ValueError, match="same number of problems"):
        ksg_mi_batch(rng.standard_normal((2, 10, 1)), rng.standard_normal((3, 10, 1)))
    with pytest.raises(ValueError, match="same number of samples"):
        ksg_mi_batch(rng.standard_normal((2, 10, 1)), rng.standard_normal((2, 11, 1)))


def test_digamma_int_matches_scipy(xp):
    from scipy.special import digamma

    m = np.concatenate([np.arange(1, 200), np.array([10 ** 3, 10 ** 5, 10 ** 6 + 7])])
    got = digamma_int(xp.asarray(m), xp)
    np.testing.assert_allclose(np.asarray(got), digamma(m), rtol=0, atol=1e-13)


def test_prepare_is_namespace_generic(xp):
    # one (P, n, d) batch through NumPy and through the xp namespace: identical results
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 50, 3)) * np.array([1.0, 100.0, 0.0]) + 3.0
    noise = rng.standard_normal(a.shape)
    for standardize in ("std", "rank", "none"):
        ref, ref_const = prepare(a, standardize=standardize, jitter=1e-3, noise=noise, xp=np)
        got, const = prepare(xp.asarray(a), standardize=standardize, jitter=1e-3, noise=noise,
                             xp=xp)
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(const), ref_const)
        # the constant third column stays exactly constant: zero spread, zero jitter
        assert np.all(ref[..., 2] == 0.0)


def test_batch_accepts_array_api_strict_and_returns_its_namespace():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 100, 1))
    Y = X + rng.standard_normal((2, 100, 1))
    got = ksg_mi_batch(xps.asarray(X), xps.asarray(Y), backend="numpy")
    assert type(got).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(np.asarray(got), ksg_mi_batch(X, Y, backend="numpy"),
                               rtol=0, atol=1e-12)
