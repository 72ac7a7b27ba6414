"""One seed check for the whole package: every public function taking ``seed`` accepts and
refuses the same things, with the same message (noprune_theory._validation.check_seed)."""
import numpy as np
import pytest

from noprune_theory import data, estimators, pruning
from noprune_theory.models import MaskedMLP

X = np.random.default_rng(0).standard_normal((40, 2))

CALLS = {
    "data.gaussian": lambda seed: data.gaussian(5, 2, seed=seed),
    "data.random_labels": lambda seed: data.random_labels(5, seed=seed),
    "MaskedMLP": lambda seed: MaskedMLP(2, (3,), seed=seed),
    "pruning.prune": lambda seed: pruning.prune(MaskedMLP(2, (3,)), "random", 0.5, seed=seed),
    "estimators.ksg_mi": lambda seed: estimators.ksg_mi(X[:, 0], X[:, 1], seed=seed),
    "estimators.knn_entropy": lambda seed: estimators.knn_entropy(X, seed=seed),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("bad, kind", [(-1, ValueError), (True, TypeError), ("3", TypeError),
                                       (2.5, ValueError),
                                       (np.random.RandomState(0), TypeError)])
def test_every_seed_argument_refuses_the_same_things(call, bad, kind):
    with pytest.raises(kind, match=r"^seed must be an integer >= 0"):
        call(bad)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_every_seed_argument_takes_an_integral_float_as_that_integer(call):
    a, b = call(3), call(np.float64(3.0))
    if isinstance(a, MaskedMLP):
        a, b = a.weights[0], b.weights[0]
    elif isinstance(a, list):
        a, b = a[0], b[0]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
