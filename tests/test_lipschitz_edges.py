"""Lipschitz bounds near the float limits: weights and data far from 1 give the right numbers
(Lip is homogeneous, rescaled by exact powers of two), or a clean error where the constant
itself leaves float64; non-finite and complex parameters are refused."""
import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
from noprune_theory.models import MaskedMLP


def _net(activation="relu", hidden=(6,), seed=1):
    return MaskedMLP(4, hidden, B=2, activation=activation, seed=seed)


@pytest.fixture
def X(rng):
    return rng.standard_normal((30, 4)) / 2


@pytest.mark.parametrize("activation,hidden", [("relu", (6,)), ("leaky_relu", (6,)),
                                               ("relu", (5, 4)), ("identity", (3,))])
@pytest.mark.parametrize("layer,scale", [(0, 1e200), (-1, 1e200), (0, 1e-250), (-1, 1e-300),
                                         (0, 2.0 ** 700)])
def test_scaled_weights_scale_the_bounds(activation, hidden, layer, scale, X):
    ref = _net(activation, hidden)
    net = ref.copy()
    net.weights[layer] = net.weights[layer] * scale
    if net.biases is not None and layer != -1:
        # f(x; W_l * s, later biases * s) = s f(x): the same function up to the factor s
        L = net.depth
        start = layer % L
        net.biases = [b * scale if l >= start else b for l, b in enumerate(net.biases)]
    lo_r, lo = lipschitz_lower(ref, X, seed=0), lipschitz_lower(net, X, seed=0)
    up_r, up = lipschitz_upper(ref), lipschitz_upper(net)
    for a, b in ((lo_r, lo), (up_r, up)):
        got, want = to_numpy(b.value), to_numpy(a.value) * scale
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(up.exact, up_r.exact)
    assert np.all(to_numpy(lo.value) <= to_numpy(up.value) * (1 + 1e-12))


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_smooth_nets_scale_in_the_output_layer(activation, X):
    ref = _net(activation)
    net = ref.copy()
    net.weights[-1] = net.weights[-1] * 1e250
    np.testing.assert_allclose(to_numpy(lipschitz_lower(net, X).value),
                               to_numpy(lipschitz_lower(ref, X).value) * 1e250, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(lipschitz_upper(net).value),
                               to_numpy(lipschitz_upper(ref).value) * 1e250, rtol=1e-12)


def test_a_constant_beyond_float64_is_an_error_not_inf(X):
    net = _net()
    net.weights = [w * 1e200 for w in net.weights]  # Lip ~ 1e400
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        lipschitz_upper(net)
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        lipschitz_lower(net, X)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_parameters_are_refused(bad):
    net = _net()
    net.weights[1] = net.weights[1].copy()
    net.weights[1][0, 2, 0] = bad
    with pytest.raises(ValueError, match=r"model.weights\[1\] contains inf or NaN"):
        lipschitz_upper(net)
    with pytest.raises(ValueError, match=r"model.weights\[1\] contains inf or NaN"):
        lipschitz_lower(net)
    net = _net()
    net.biases[0] = net.biases[0] + bad
    with pytest.raises(ValueError, match=r"model.biases\[0\] contains inf or NaN"):
        lipschitz_upper(net)


def test_complex_parameters_are_refused():
    net = _net()
    net.weights[0] = net.weights[0] + 0j
    with pytest.raises(TypeError, match=r"model.weights\[0\] must hold real"):
        lipschitz_upper(net)
    with pytest.raises(TypeError, match=r"model.weights\[0\] must hold real"):
        lipschitz_lower(net)


@pytest.mark.parametrize("scale", [2.0 ** 900, 2.0 ** -900, 1e300])
def test_huge_and_tiny_data_give_the_same_bounds(scale, X):
    # a ReLU net's bounds at the points s x equal those of the net with biases / s at x:
    # compare with that net (exact powers of two need no tolerance)
    net = _net()
    other = net.copy()
    other.biases = [b / scale for b in net.biases]
    lo = lipschitz_lower(net, X * scale, seed=0)
    ref = lipschitz_lower(other, X, seed=0, radius=None)
    got, want = to_numpy(lo.value), to_numpy(ref.value)
    if np.log2(scale) % 1 == 0:
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(lo.witness, ref.witness * scale)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9)
    assert np.all(got <= to_numpy(lipschitz_upper(net).value) * (1 + 1e-12))


def test_no_warnings_near_the_float_limits(X, recwarn):
    net = _net()
    lipschitz_lower(net, X * 1e300, seed=0)
    big = _net()
    big.weights = [w * 1e200 for w in big.weights]
    with pytest.raises(ValueError):
        lipschitz_upper(big)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_given_radius_follows_the_data_scale(X):
    # a radius given with huge data is in the data's units: the same bounds as the small case
    net = _net()
    other = net.copy()
    s = 2.0 ** 800
    other.biases = [b / s for b in net.biases]
    lo = lipschitz_lower(net, X * s, methods=("ascent",), radius=0.3 * s, step_size=0.1 * s)
    ref = lipschitz_lower(other, X, methods=("ascent",), radius=0.3, step_size=0.1)
    np.testing.assert_array_equal(to_numpy(lo.value), to_numpy(ref.value))
    with pytest.raises(ValueError, match="radius must be a number > 0"):
        lipschitz_lower(net, X * s, radius=-1.0)


# ----------------------------------------------------------------------------- dead units
def _with_dead_unit():
    """f(x) = relu(x1) - relu(-x1) (Lip 1) plus a unit with huge incoming weights whose output
    weight is pruned: it never changes f."""
    from noprune_theory.models import MaskedMLP

    net = MaskedMLP(2, (3,), B=1, seed=0)
    W1 = np.array([[[1.0, -1.0, 100.0], [0.0, 0.0, 100.0]]])
    W2 = np.array([[[1.0], [-1.0], [0.0]]])
    net.weights = [W1, W2]
    net.biases = [np.zeros((1, 3)), np.zeros((1, 1))]
    net.set_masks([np.ones((1, 2, 3), dtype=bool), np.array([[[True], [True], [False]]])])
    return net


def test_upper_bounds_ignore_units_that_reach_no_output():
    from noprune_theory.estimators import lipschitz_upper

    net = _with_dead_unit()
    # with the dead unit's column, ||W2|| ||W1|| would be sqrt(2) * 141.4 = 200
    spectral = lipschitz_upper(net, "spectral").value
    np.testing.assert_allclose(spectral, [np.sqrt(2) * np.sqrt(2)], rtol=1e-12)
    up = lipschitz_upper(net)
    assert bool(up.exact[0]) and abs(float(up.value[0]) - 1.0) < 1e-12
    # the pattern covers every hidden unit: the live units' as on the live network, the dead
    # one in its state at the witness
    assert up.pattern.shape == (1, 3)
    live = lipschitz_upper(net.select_units([np.array([0, 1])]))
    np.testing.assert_array_equal(up.pattern[0, :2], live.pattern[0])
    z = up.witness[0] @ net.weights[0][0] + net.biases[0][0]
    assert up.pattern[0, 2] == (z[2] > 0)


def test_lower_bound_of_a_net_with_dead_units_is_that_of_its_live_units():
    from noprune_theory.estimators import lipschitz_lower

    net = _with_dead_unit()
    X = np.random.default_rng(0).standard_normal((20, 2))
    lo = lipschitz_lower(net, X, seed=0)
    sub = net.select_units([np.array([0, 1])])
    ref = lipschitz_lower(sub, X, seed=0)
    np.testing.assert_allclose(lo.value, ref.value, rtol=1e-12)
    assert float(lo.value[0]) <= 1.0 + 1e-12
