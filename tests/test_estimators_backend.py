"""One meaning of ``backend=`` for every k-NN estimator (docs/estimators.md, "Backends and
kernels"): the backend is where the searches and counts run; ``auto`` follows the inputs; a
backend that cannot serve the call raises instead of falling back."""
import numpy as np
import pytest

from noprune_theory import backend as bk
from noprune_theory.estimators import (
    conditional_mi,
    knn_entropy,
    ksg_mi,
    ksg_mi_batch,
    mixed_mi,
)

needs_numba = pytest.mark.skipif(not bk.numba_status()[0], reason="numba not usable")


def _data(kind, n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if kind == "gauss":
        y = 0.6 * x + 0.8 * rng.standard_normal(n)
    elif kind == "tight":  # strongly dependent: neighbours crowd one strip
        y = x + 1e-3 * rng.standard_normal(n)
    else:  # heavy tails
        x = rng.standard_cauchy(n)
        y = x + rng.standard_cauchy(n)
    z = x + y + rng.standard_normal(n)
    return x, y, z


# Each case is one estimator call; numpy (cKDTree only) and numba (numba kernels where they
# apply) count the same neighbours, so the results must be equal bit for bit.
CASES = {
    "ksg_mi alg 1": lambda x, y, z, **kw: ksg_mi(x, y, **kw),
    "ksg_mi alg 2": lambda x, y, z, **kw: ksg_mi(x, y, algorithm=2, **kw),
    "ksg_mi 2-D x": lambda x, y, z, **kw: ksg_mi(np.column_stack([x, z]), y, **kw),
    "ksg_mi_batch": lambda x, y, z, **kw: ksg_mi_batch(np.stack([x, z]), np.stack([y, y]),
                                                       **kw),
    "ksg_mi one discrete": lambda x, y, z, **kw: ksg_mi((x > 0).astype(int), y, **kw),
    "conditional_mi": lambda x, y, z, **kw: conditional_mi(x, y, z, **kw),
    "conditional_mi discrete z": lambda x, y, z, **kw: conditional_mi(
        x, y, (z > 0).astype(int), **kw),
    "knn_entropy 1-D": lambda x, y, z, **kw: knn_entropy(x, **kw),
    "knn_entropy 2-D": lambda x, y, z, **kw: knn_entropy(np.column_stack([x, y]), **kw),
    "knn_entropy 2-D std": lambda x, y, z, **kw: knn_entropy(np.column_stack([x, y]),
                                                             standardize="std", **kw),
    "knn_entropy 3-D": lambda x, y, z, **kw: knn_entropy(np.column_stack([x, y, z]), **kw),
    "mixed_mi": lambda x, y, z, **kw: mixed_mi(x, y, **kw),
    "mixed_mi atoms": lambda x, y, z, **kw: mixed_mi(np.round(x), np.round(y, 1), **kw),
}


@needs_numba
@pytest.mark.parametrize("kind", ["gauss", "tight", "heavy"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_and_numba_backends_give_identical_results(case, kind):
    x, y, z = _data(kind)
    a = CASES[case](x, y, z, backend="numpy", return_local=True)
    b = CASES[case](x, y, z, backend="numba", return_local=True)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("case", sorted(CASES))
def test_auto_on_numpy_input_is_the_best_cpu_backend(case):
    x, y, z = _data("gauss", seed=3)
    best = "numba" if bk.numba_status()[0] else "numpy"
    assert bk.get_backend("auto", like=[x]).name == best
    auto = CASES[case](x, y, z, backend="auto", return_local=True)
    named = CASES[case](x, y, z, backend=best, return_local=True)
    np.testing.assert_array_equal(np.asarray(auto), np.asarray(named))


@pytest.mark.parametrize("case", sorted(CASES))
def test_unknown_backend_is_named(case):
    x, y, z = _data("gauss", n=50)
    with pytest.raises(ValueError, match="backend must be one of"):
        CASES[case](x, y, z, backend="gpu")


CPU_ONLY = [c for c in CASES if not c.startswith("ksg_mi") or "discrete" in c]


@pytest.mark.parametrize("case", CPU_ONLY)
def test_cupy_on_a_cpu_only_estimator_raises_instead_of_running_on_the_cpu(case):
    # before: conditional_mi(backend="cupy") ran silently on the CPU where a GPU exists, and
    # knn_entropy / mixed_mi took no backend at all
    x, y, z = _data("gauss", n=50)
    with pytest.raises(ValueError, match=r"run on the CPU .*got backend='cupy'"):
        CASES[case](x, y, z, backend="cupy")


@pytest.mark.skipif(bk.gpu_status()[0], reason="a GPU is usable here")
@pytest.mark.parametrize("case", ["ksg_mi alg 1", "ksg_mi alg 2", "ksg_mi_batch"])
def test_cupy_without_a_gpu_is_a_clean_error(case):
    x, y, z = _data("gauss", n=50)
    with pytest.raises(bk.BackendUnavailableError, match="backend 'cupy' is not usable here"):
        CASES[case](x, y, z, backend="cupy")


def _fake_cupy_array(values):
    """An object that looks like a CuPy array to the backend policy (type from module cupy),
    enough to check that ``auto`` refuses to copy device data for a CPU-only estimator before
    it touches the data."""
    cls = type("ndarray", (), {"__module__": "cupy._core.core"})
    obj = cls()
    obj.values = values
    return obj


@pytest.mark.parametrize("call", [
    lambda a: knn_entropy(a),
    lambda a: mixed_mi(a, a),
    lambda a: conditional_mi(a, a, a, discrete=False),
])
def test_auto_on_cupy_input_does_not_copy_to_the_host_silently(call):
    with pytest.raises(ValueError, match="got backend='auto' with CuPy inputs"):
        call(_fake_cupy_array(np.arange(10.0)))


def test_backend_table_has_a_knn_entry_per_backend():
    assert {name: bk._TABLE[name].knn_counts for name in bk.BACKENDS} == {
        "numpy": "tree", "numba": "numba", "cupy": "cuda"}
