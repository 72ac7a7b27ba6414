"""train(): interpolation on separable data, exact zeros under masks, per-network stopping,
determinism, agreement of the numpy, numba and cuda (simulator) update paths."""

import math

import numpy as np
import pytest

from noprune_theory.backend import cuda_simulator_backend, to_numpy
from noprune_theory.models import MaskedMLP
from noprune_theory.training import MEMORIZE_THRESHOLD, train


def _separable(n=24, d=5, seed=0):
    # labels from a fixed hyperplane: linearly separable, so a ReLU net reaches 100 % accuracy
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sign(X @ rng.standard_normal(d))
    return X, y


def _half_masks(model, seed=0):
    rng = np.random.default_rng(seed)
    return [model.xp.asarray(rng.random(tuple(w.shape)) < 0.5) for w in model.weights]


@pytest.mark.parametrize(
    "optimizer, loss, lr, extra",
    [
        ("gd", "logistic", 0.5, {}),
        ("sgd", "mse", 0.05, {"batch_size": 6}),
        ("adam", "logistic", 0.02, {"grad_noise": 1e-3}),
        ("gd", "cross_entropy", 0.5, {}),
    ],
)
def test_separable_task_is_interpolated_and_masked_weights_stay_zero(
    backend, optimizer, loss, lr, extra
):
    X, y = _separable()
    out = 2 if loss == "cross_entropy" else 1
    labels = ((y > 0).astype(np.int64)) if loss == "cross_entropy" else y
    model = MaskedMLP(5, (32,), out, B=3, seed=1, backend=backend)
    model.set_masks(_half_masks(model))
    res = train(
        model,
        X,
        labels,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        steps=3000,
        stop_when_memorized=True,
        seed=2,
        **extra,
    )
    assert res.converged.all(), res.final_loss
    np.testing.assert_array_equal(res.final_accuracy, 1.0)
    np.testing.assert_array_equal(res.memorized, 1.0)
    assert np.all(res.final_loss < MEMORIZE_THRESHOLD)
    for w, m in zip(model.weights, model.masks):
        w, m = to_numpy(w), to_numpy(m)
        assert np.all(w[~m] == 0.0)  # exactly zero, not merely small
        assert np.all(w[m] != 0.0)


def test_one_gd_step_is_w_minus_lr_grad():
    X, y = _separable(8, 3)
    model = MaskedMLP(3, (4,), B=2, seed=0)
    masks = _half_masks(model)
    # every unit keeps its output weight: no unit is dropped as dead, so the step computes the
    # very products of model.gradients (dropping units may change their rounding)
    masks[-1][:] = True
    model.set_masks(masks)
    _, g, _ = model.gradients(X, y)
    before = [w.copy() for w in model.weights]
    train(model, X, y, optimizer="gd", lr=0.3, steps=1)
    for w, w0, gw in zip(model.weights, before, g):
        np.testing.assert_array_equal(w, w0 - 0.3 * gw)


def test_first_adam_step_is_lr_times_normalized_gradient():
    # after one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps)
    X, y = _separable(8, 3)
    model = MaskedMLP(3, (4,), B=2, seed=0, bias=False)
    model.set_masks(_half_masks(model))
    _, g, _ = model.gradients(X, y)
    before = [w.copy() for w in model.weights]
    train(model, X, y, optimizer="adam", lr=0.01, steps=1, eps=1e-8)
    for w, w0, gw in zip(model.weights, before, g):
        np.testing.assert_allclose(w, w0 - 0.01 * gw / (np.abs(gw) + 1e-8), rtol=1e-14, atol=1e-17)


def test_per_network_stopping_equals_training_each_network_alone():
    """Network b stopped after steps[b] updates must hold exactly the weights it would have after
    steps[b] full-batch steps on its own (the others' stopping does not touch it)."""
    X, y = _separable(16, 4, seed=3)
    model = MaskedMLP(4, (8,), B=4, seed=5)
    single = [model.copy() for _ in range(4)]
    res = train(model, X, y, loss="logistic", lr=0.3, steps=2000, target_loss=0.05)
    assert res.converged.all() and len(set(res.steps.tolist())) > 1  # they stop at different steps
    for b in range(4):
        alone = single[b]
        train(alone, X, y, loss="logistic", lr=0.3, steps=int(res.steps[b]))
        for w, wa in zip(model.weights, alone.weights):
            np.testing.assert_array_equal(w[b], wa[b])
        assert res.final_loss[b] <= 0.05
        assert to_numpy(alone.loss(X, y, "logistic"))[b] <= 0.05


def test_training_is_deterministic_for_a_seed():
    X, y = _separable()
    runs = []
    for seed in (7, 7, 8):
        model = MaskedMLP(5, (8,), B=2, seed=0)
        train(
            model, X, y, optimizer="sgd", batch_size=5, lr=0.1, steps=30, grad_noise=0.01, seed=seed
        )
        runs.append(model.weights[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("hidden", [(4,), (3, 2)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("kernels", ["cpu", "cuda"])
def test_kernel_update_paths_match_numpy_reference(optimizer, kernels, hidden):
    """numba CPU kernels, and numba.cuda kernels (updates and the fused MSE loss) under the
    simulator on NumPy arrays, follow the numpy reference to rounding over a few steps (tiny
    shapes: the simulator is slow). One hidden layer takes the fused two-layer kernels, two
    hidden layers the generic code with the fused MSE kernel."""
    X, y = _separable(6, 3)
    ref = MaskedMLP(3, hidden, B=2, seed=0)
    ref.set_masks(_half_masks(ref))
    other = ref.copy()
    if kernels == "cuda":
        # the cupy backend's kernel table on NumPy arrays (the MSE loss/gradient kernel too)
        other.use_kernel_table(cuda_simulator_backend())
    kw = dict(
        optimizer=optimizer, lr=0.05, steps=3, batch_size=3, grad_noise=0.1, seed=4, target_loss=0.0
    )
    train(ref, X, y, kernels="xp", **kw)
    train(other, X, y, kernels=kernels, **kw)
    for a, b in zip(ref.weights + ref.biases, other.weights + other.biases):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)
    for w, m in zip(other.weights, other.masks):
        assert np.all(w[~m] == 0.0)


def test_namespace_generic_training(xp):
    X, y = _separable(10, 3)
    ref = MaskedMLP(3, (4,), B=2, seed=0)
    ref.set_masks(_half_masks(ref))
    model = ref._as_namespace(xp)
    kw = dict(optimizer="adam", lr=0.05, steps=5, batch_size=4, seed=1, loss="logistic")
    r0 = train(ref, X, y, **kw)
    r1 = train(model, xp.asarray(X), xp.asarray(y), kernels="xp", **kw)
    np.testing.assert_allclose(r1.final_loss, r0.final_loss, rtol=1e-13)
    for a, b in zip(ref.weights, model.weights):
        np.testing.assert_allclose(to_numpy(b), a, rtol=1e-13)


def test_trajectory_records_and_callback():
    X, y = _separable(10, 3)
    model = MaskedMLP(3, (4,), B=2, seed=0)
    seen = []

    def cb(m, step):
        seen.append(step)
        return float(np.abs(m.weights[0]).sum())

    res = train(model, X, y, lr=0.1, steps=10, record_every=4, record_steps=[1, 4, 30], callback=cb)
    np.testing.assert_array_equal(res.trajectory.steps, [0, 1, 4, 8, 10])
    assert res.trajectory.loss.shape == (5, 2) and res.trajectory.accuracy.shape == (5, 2)
    assert seen == [0, 1, 4, 8, 10] and len(res.trajectory.callback) == 5
    np.testing.assert_allclose(res.trajectory.loss[-1], res.final_loss, rtol=1e-14)
    assert res.trajectory.loss[-1].mean() < res.trajectory.loss[0].mean()
    np.testing.assert_array_equal(res.steps, [10, 10])
    assert not res.converged.any()


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # numpy on the way to inf
def test_divergence_stops_the_network_and_is_flagged():
    X, y = _separable(10, 3)
    model = MaskedMLP(3, (4,), B=2, seed=0, activation="identity")
    with pytest.warns(RuntimeWarning, match="training diverged"):
        res = train(model, X, y * 1e3, lr=1e3, steps=200)
    assert res.diverged.all() and not res.converged.any()
    assert np.all(res.steps < 200)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0}, "lr must be a number > 0, got 0"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of 'gd', 'sgd', 'adam'"),
        ({"steps": -1}, "steps must be an integer >= 0, got -1"),
        ({"batch_size": 11}, r"batch_size must be an integer in \[1, 10\], got 11"),
        ({"grad_noise": -0.1}, "grad_noise must be a number >= 0"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"record_every": 0}, "record_every must be an integer >= 1, got 0"),
        ({"beta1": 1.0}, r"beta1 must be a number in \[0, 1\)"),
        ({"memorize_threshold": 0}, "memorize_threshold must be a number > 0"),
        ({"record_steps": [1, -2]}, "record_steps entry must be an integer >= 0, got -2"),
        ({"record_steps": 5}, "record_steps must be an iterable of integers"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    X, y = _separable(10, 3)
    with pytest.raises(ValueError, match=message):
        train(MaskedMLP(3, (4,)), X, y, **kwargs)


def test_bad_data_and_model_are_named():
    X, y = _separable(10, 3)
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="X must not contain NaN or inf"):
        train(MaskedMLP(3, (4,)), X, y)
    with pytest.raises(TypeError, match="model must be a MaskedMLP"):
        train("net", X, y)


def test_memorization_threshold_is_log2_over_10():
    assert MEMORIZE_THRESHOLD == math.log(2) / 10


def test_per_network_data_sets(backend):
    """X of shape (B, n, d) and labels (B, n): network b sees only its own data, so training
    the batch equals training each network alone on its data set (minibatches included)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((2, 10, 3))
    y = np.sign(rng.standard_normal((2, 10)))
    model = MaskedMLP(3, (4,), B=2, seed=0, backend=backend)
    single = model.copy()
    kw = {"optimizer": "sgd", "batch_size": 5, "lr": 0.1, "steps": 6, "seed": 3}
    train(model, X, y, **kw)
    for b in range(2):
        alone = single.copy()
        # network b of `alone` trained with every network given data set b
        train(alone, np.stack([X[b], X[b]]), np.stack([y[b], y[b]]), **kw)
        for w, wa in zip(model.weights, alone.weights):
            np.testing.assert_allclose(to_numpy(w)[b], to_numpy(wa)[b], rtol=1e-13)


def test_float32_training_stays_float32(backend):
    X, y = _separable(12, 3)
    model = MaskedMLP(3, (8,), B=2, dtype="float32", seed=0, backend=backend)
    res = train(model, X, y, loss="logistic", lr=0.5, steps=50)
    assert all(to_numpy(w).dtype == np.float32 for w in model.weights + model.biases)
    assert res.trajectory.loss[-1].mean() < res.trajectory.loss[0].mean()


# ----------------------------------------------------------------------------- whole-run kernel
def _random_problem(B, n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, n, d)) / np.sqrt(d)
    y = np.where(rng.random((B, n)) < 0.5, -1.0, 1.0)
    return X, y


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "softplus"])
@pytest.mark.parametrize("optimizer, loss, lr", [("adam", "logistic", 0.01), ("gd", "mse", 0.05)])
def test_fused_kernel_follows_the_numpy_reference(activation, optimizer, loss, lr):
    """The whole-run kernel (forward, backward, update and stop in compiled code, kept weights
    only) follows the array-expression reference to rounding over 40 steps, on per-network
    data, two hidden layers, sparse masks and per-network stopping."""
    X, y = _random_problem(3, 12, 5, seed=1)
    ref = MaskedMLP(5, (7, 6), B=3, seed=2, activation=activation)
    ref.set_masks(_half_masks(ref, seed=3))
    fused = ref.copy()
    kw = {"loss": loss, "optimizer": optimizer, "lr": lr, "steps": 40, "target_loss": 0.6}
    r0 = train(ref, X, y, kernels="xp", **kw)
    r1 = train(fused, X, y, kernels="fused", **kw)
    np.testing.assert_array_equal(r1.steps, r0.steps)
    np.testing.assert_array_equal(r1.converged, r0.converged)
    np.testing.assert_allclose(r1.final_loss, r0.final_loss, rtol=1e-12)
    np.testing.assert_array_equal(r1.memorized, r0.memorized)
    np.testing.assert_allclose(r1.trajectory.loss[0], r0.trajectory.loss[0], rtol=1e-13)
    for a, b in zip(ref.weights + ref.biases, fused.weights + fused.biases):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)
    for w, m in zip(fused.weights, fused.masks):
        assert np.all(w[~m] == 0.0)


def test_fused_stops_each_network_as_the_reference_does():
    """Memorization stops: the networks stop at different steps, and at the reference's."""
    X, y = _random_problem(4, 10, 4, seed=5)
    ref = MaskedMLP(4, (16, 16), B=4, seed=6)
    fused = ref.copy()
    kw = {"loss": "logistic", "optimizer": "adam", "lr": 0.02, "steps": 3000,
          "stop_when_memorized": True}
    r0 = train(ref, X, y, kernels="xp", **kw)
    r1 = train(fused, X, y, kernels="fused", **kw)
    assert r0.converged.all() and len(set(r0.steps.tolist())) > 1
    np.testing.assert_array_equal(r1.steps, r0.steps)
    np.testing.assert_array_equal(r1.memorized, 1.0)
    np.testing.assert_array_equal(r1.trajectory.steps, [0, r0.steps.max()])


def test_fused_network_does_not_depend_on_its_batch():
    """A network's numbers are the same bit for bit whatever networks share its batch (what
    lets a sweep train cells together): train 5 networks together, then 2 of them alone."""
    X, y = _random_problem(5, 10, 4, seed=7)
    full = MaskedMLP(4, (9, 9), B=5, seed=8)
    full.set_masks(_half_masks(full, seed=9))
    from noprune_theory.training import _subset

    part = _subset(full, np.array([1, 3]))
    kw = {"loss": "logistic", "optimizer": "adam", "lr": 0.02, "steps": 500,
          "stop_when_memorized": True, "kernels": "fused"}
    rf = train(full, X, y, **kw)
    rp = train(part, X[[1, 3]], y[[1, 3]], **kw)
    np.testing.assert_array_equal(rp.steps, rf.steps[[1, 3]])
    np.testing.assert_array_equal(rp.final_loss, rf.final_loss[[1, 3]])
    for a, b in zip(full.weights + full.biases, part.weights + part.biases):
        np.testing.assert_array_equal(b, a[[1, 3]])


def test_numba_backend_splits_sparse_and_dense_networks():
    """On the numba backend, networks at or below FUSED_MAX_DENSITY take the whole-run kernel
    and the others the step loop; each part equals training it alone on its path."""
    from noprune_theory.training import FUSED_MAX_DENSITY, _subset

    X, y = _random_problem(4, 10, 4, seed=11)
    model = MaskedMLP(4, (10, 10), B=4, seed=12, backend="numba")
    rng = np.random.default_rng(0)
    keep = np.array([0.1, 0.9, 0.15, 1.0])
    model.set_masks([rng.random(w.shape) < keep[:, None, None] for w in model.weights])
    sparse = model.density() <= FUSED_MAX_DENSITY
    np.testing.assert_array_equal(sparse, [True, False, True, False])
    kw = {"loss": "logistic", "optimizer": "adam", "lr": 0.02, "steps": 300,
          "stop_when_memorized": True}
    a = _subset(model, np.flatnonzero(sparse))
    b = _subset(model, np.flatnonzero(~sparse))
    ra = train(a, X[sparse], y[sparse], kernels="fused", **kw)
    rb = train(b, X[~sparse], y[~sparse], kernels="cpu", **kw)
    res = train(model, X, y, **kw)
    np.testing.assert_array_equal(res.steps[sparse], ra.steps)
    np.testing.assert_array_equal(res.steps[~sparse], rb.steps)
    np.testing.assert_array_equal(res.final_loss[sparse], ra.final_loss)
    np.testing.assert_array_equal(res.final_loss[~sparse], rb.final_loss)
    for w, wa, wb in zip(model.weights, a.weights, b.weights):
        np.testing.assert_array_equal(w[sparse], wa)
        np.testing.assert_array_equal(w[~sparse], wb)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "sgd", "batch_size": 3}, "full-batch gd or adam"),
        ({"grad_noise": 0.1}, "gradient noise"),
        ({"record_every": 2}, "records only at step 0"),
        ({"loss": "cross_entropy"}, "scalar output"),
    ],
)
def test_fused_refuses_what_it_cannot_run(kwargs, message):
    X, y = _separable(6, 3)
    kw = {"loss": "logistic", "steps": 3, **kwargs}
    model = MaskedMLP(3, (4,), out=2 if kw["loss"] == "cross_entropy" else 1, B=2, seed=0)
    if kw["loss"] == "cross_entropy":
        y = (y > 0).astype(int)
    with pytest.raises(ValueError, match=message):
        train(model, X, y, kernels="fused", **kw)


def test_fused_skips_dead_units_without_changing_anything():
    """At 6% kept most hidden units lead nowhere: the kernel skips them (their gradient is
    exactly zero at every step), and still matches the reference, dead weights untouched."""
    X, y = _random_problem(3, 10, 6, seed=13)
    ref = MaskedMLP(6, (20, 20), B=3, seed=14)
    rng = np.random.default_rng(15)
    ref.set_masks([rng.random(w.shape) < 0.06 for w in ref.weights])
    from noprune_theory.kernels.cpu_train import _kept_entries

    ent = _kept_entries(ref.masks, 3, ref.sizes)
    kept = sum(int(m.sum()) for m in ref.masks)
    assert int(ent[3][:, -1].sum()) < kept  # some kept weights lead to dead units
    fused = ref.copy()
    kw = {"loss": "logistic", "optimizer": "adam", "lr": 0.05, "steps": 200}
    train(ref, X, y, kernels="xp", **kw)
    train(fused, X, y, kernels="fused", **kw)
    for a, b in zip(ref.weights + ref.biases, fused.weights + fused.biases):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- memory budget
def _wide_problem(n=300, d=6, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / math.sqrt(d)
    y = rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize(
    "backend, hidden, shared",
    [("numba", (512,), True), ("numpy", (512,), True), ("numpy", (96, 160), True),
     ("numba", (256,), False)],
)
def test_sliced_gradient_equals_one_pass_up_to_rounding(backend, hidden, shared):
    """A step over the points in slices (the memory budget's mechanism) gives the per-point
    values and the gradients of one pass to rounding, on the fused two-layer kernel (numba,
    shared X), the array-expression path (numpy; per-network X) and a deeper network. (Not
    bit for bit: BLAS may order a point's dot product differently in a product of fewer
    rows; measured up to 2e-15 relative.)"""
    X, y = _wide_problem()
    model = MaskedMLP(6, hidden, B=3, seed=1, backend=backend)
    model.set_masks(_half_masks(model))
    Xin = X if shared else np.stack([X, X[::-1], 2 * X])
    Xa = model.prepare_inputs(Xin)
    t = model.prepare_targets(y, Xa.shape[-2], "mse")
    one = model.loss_and_gradients(Xa, t, "mse")
    for rows in (1, 64, 77, 299):  # 300, 5, 4 and 2 slices
        sl = model.loss_and_gradients(Xa, t, "mse", rows=rows)
        # values of order 1 (absolute 1e-15: an output near 0 is a cancellation of such terms)
        np.testing.assert_allclose(sl[0], one[0], rtol=1e-13, atol=1e-15)  # per-point loss
        np.testing.assert_allclose(sl[1], one[1], rtol=1e-13, atol=1e-15)  # outputs
        for a, b in zip(one[2] + one[3], sl[2] + sl[3]):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
        assert not np.array_equal(sl[1], one[1] + 1e-12)  # the comparison can fail
    np.testing.assert_allclose(model.forward_rows(Xa, 64), model.forward_rows(Xa),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_tiny_memory_budget_trains_as_one_pass(backend):
    """memory_budget = 1 MiB forces several slices (4 networks of width 512: 16 KiB a point,
    so 63 points per slice of 300); Adam with early stopping then ends where the unsliced
    run ends, with the same step counts and weights equal to 1e-9 relative."""
    X, y = _wide_problem()
    ref = MaskedMLP(6, 512, B=4, seed=2, backend=backend)
    ref.set_masks(_half_masks(ref, seed=5))
    assert ref.work_bytes_per_point() * X.shape[0] > 4 * 2**20  # one pass needs > 4 MiB
    sliced = ref.copy()
    kw = dict(loss="mse", optimizer="adam", lr=3e-3, steps=200, target_loss=0.05, kernels=None)
    r1 = train(ref, X, y, **kw)
    r2 = train(sliced, X, y, memory_budget=1, **kw)
    np.testing.assert_array_equal(r2.steps, r1.steps)
    np.testing.assert_array_equal(r2.converged, r1.converged)
    np.testing.assert_allclose(r2.final_loss, r1.final_loss, rtol=1e-9)
    for a, b in zip(ref.weights + ref.biases, sliced.weights + sliced.biases):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def _traced_peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("backend, hidden", [("numba", (512,)), ("numpy", (512,)),
                                             ("numpy", (256, 256))])
def test_memory_budget_bounds_the_peak(backend, hidden):
    """The budget bounds what a step really allocates (NumPy's allocations are traced): with
    1 MiB, 8 times more points raise the traced peak by less than 2 MiB (the inputs and the
    (B, n) losses grow, the (B, n, h) buffers do not), where one pass over the points grows it
    by more than 40 MiB."""
    kw = dict(loss="mse", optimizer="adam", lr=1e-3, steps=2)
    model = MaskedMLP(8, hidden, B=2, seed=0, backend=backend)
    peaks = {}
    for n in (1000, 8000):
        X, y = _wide_problem(n=n, d=8)
        train(model.copy(), X, y, memory_budget=1, **kw)  # compile, warm up outside the trace
        for budget in (None, 1):
            peaks[n, budget] = _traced_peak(
                lambda X=X, y=y, budget=budget: train(model.copy(), X, y,
                                                      memory_budget=budget, **kw))
    if backend == "numba":
        # the fused CPU kernel and the host forward pass go through the points in cache-sized
        # slices whenever the (n, B, h) buffer would exceed 32 MiB: without a budget too
        assert peaks[8000, None] - peaks[1000, None] < 2 * 2**20
    else:
        assert peaks[8000, None] - peaks[1000, None] > 40 * 2**20
    assert peaks[8000, 1] - peaks[1000, 1] < 2 * 2**20


@pytest.mark.parametrize("hidden", [(8,), (4, 3)])
def test_sliced_gradient_on_the_cuda_kernels(hidden):
    """The same under the CUDA simulator: the fused two-layer kernel (one hidden layer) and the
    fused MSE kernel (two) normalize each slice by all n points."""
    X, y = _wide_problem(n=40, d=3)
    model = MaskedMLP(3, hidden, B=2, seed=1)
    model.use_kernel_table(cuda_simulator_backend())
    Xa = model.prepare_inputs(X)
    t = model.prepare_targets(y, 40, "mse")
    one = model.loss_and_gradients(Xa, t, "mse")
    sl = model.loss_and_gradients(Xa, t, "mse", rows=15)
    for a, b in zip([one[0], one[1]] + one[2] + one[3], [sl[0], sl[1]] + sl[2] + sl[3]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


def test_memory_budget_is_checked():
    X, y = _separable()
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises((ValueError, TypeError), match="memory_budget"):
            train(MaskedMLP(5, 4), X, y, steps=1, memory_budget=bad)


# ----------------------------------------------------------------------------- host transfers
def _count_transfers(monkeypatch, xps):
    """Count device-to-host reads: calls of the host-transfer function to_numpy (as training and
    models use it) and implicit conversions of an array to a Python scalar."""
    import noprune_theory.backend as bk
    import noprune_theory.models as models_mod
    import noprune_theory.training as training_mod

    calls = {"n": 0}

    def counted(x):
        calls["n"] += 1
        return bk.to_numpy(x)

    monkeypatch.setattr(training_mod, "to_numpy", counted)
    monkeypatch.setattr(models_mod, "to_numpy", counted)
    array_type = type(xps.asarray(0.0))
    for name in ("__bool__", "__float__", "__int__", "__index__"):
        original = getattr(array_type, name, None)
        if original is None:
            continue

        def wrapper(self, *a, _original=original):
            calls["n"] += 1
            return _original(self, *a)

        monkeypatch.setattr(array_type, name, wrapper)
    return calls


@pytest.mark.parametrize("sync_every", [None, 8])
def test_device_to_host_transfers_per_step_are_budgeted(monkeypatch, sync_every):
    """On a non-NumPy array library (array_api_strict stands in for the device) a training step
    reads nothing back: the stopping state, the step sizes and the finiteness test stay in the
    library, and the host reads the state once per sync_every steps (16 by default). Budget:
    at most one transfer per sync_every steps, beyond a fixed cost for setup and results."""
    xps = pytest.importorskip("array_api_strict")
    X, y = _separable(12, 3)
    ref = MaskedMLP(3, (4, 3), B=3, seed=0)
    kw = dict(loss="mse", optimizer="adam", lr=1e-3, target_loss=0.0, kernels="xp",
              grad_noise=1e-3, sync_every=sync_every)
    counts = {}
    for steps in (64, 128):  # the difference: 64 steps, without the fixed cost
        model = ref._as_namespace(xps)
        calls = _count_transfers(monkeypatch, xps)
        res = train(model, xps.asarray(X), xps.asarray(y), steps=steps, **kw)
        counts[steps] = calls["n"]
        monkeypatch.undo()
    assert res.steps.tolist() == [128, 128, 128]
    every = sync_every or 16
    assert counts[128] - counts[64] <= 64 // every, counts


@pytest.mark.parametrize("opts", [
    {"optimizer": "adam", "lr": 0.02, "stop_when_memorized": True, "loss": "logistic"},
    {"optimizer": "sgd", "lr": 0.05, "batch_size": 5, "target_loss": 0.2, "grad_noise": 0.01,
     "record_every": 3, "loss": "mse"},
])
def test_sync_every_changes_no_result(opts):
    """The stopping tests run every step whatever sync_every: step counts, losses, weights and
    the trajectory's records are those of a host that reads the state at every step."""
    X, y = _separable(20, 4)
    ref = MaskedMLP(4, (6,), B=4, seed=3)
    ref.set_masks(_half_masks(ref))
    results = []
    for sync_every in (1, 7, 1000):
        model = ref.copy()
        r = train(model, X, y, steps=150, sync_every=sync_every, seed=2, kernels="xp", **opts)
        results.append((r, model))
    (r1, m1) = results[0]
    assert r1.converged.any()
    for r, m in results[1:]:
        np.testing.assert_array_equal(r.steps, r1.steps)
        np.testing.assert_array_equal(r.converged, r1.converged)
        np.testing.assert_array_equal(r.final_loss, r1.final_loss)
        np.testing.assert_array_equal(r.trajectory.steps, r1.trajectory.steps)
        np.testing.assert_array_equal(r.trajectory.loss, r1.trajectory.loss)
        for a, b in zip(m1.weights + m1.biases, m.weights + m.biases):
            np.testing.assert_array_equal(b, a)


def test_divergence_is_reported_with_its_step_under_sync_every():
    X, y = _separable(10, 3)
    model = MaskedMLP(3, (4,), B=2, seed=0, activation="identity")
    with pytest.warns(RuntimeWarning, match=r"training diverged") as caught:
        ref = train(model.copy(), X, y * 1e3, lr=1e3, steps=200)
    with pytest.warns(RuntimeWarning, match=r"training diverged") as late:
        res = train(model.copy(), X, y * 1e3, lr=1e3, steps=200, sync_every=50)
    # the warning names the step at which the network diverged, not the step it was read
    def ours(ws):
        return [str(w.message) for w in ws if "training diverged" in str(w.message)]

    assert len(ours(caught)) == 1 and ours(late) == ours(caught)
    np.testing.assert_array_equal(res.steps, ref.steps)
    assert res.diverged.all() and np.all(res.steps < 200)


# ----------------------------------------------------------------------------- automatic choice
def _masked(n_hidden, density, B=2, seed=0, d=4):
    model = MaskedMLP(d, (n_hidden,), B=B, seed=seed, backend="numba")
    rng = np.random.default_rng(seed)
    model.set_masks([rng.random(w.shape) < density for w in model.weights])
    return model


def _same_run(model, X, y, **kw):
    a, b = model.copy(), model.copy()
    kw = dict(loss="mse", optimizer="adam", lr=1e-3, steps=5, **kw)
    path = kw.pop("path")
    ra = train(a, X, y, **kw)
    rb = train(b, X, y, kernels=path, **kw)
    return (np.array_equal(ra.final_loss, rb.final_loss)
            and all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights)))


def test_auto_choice_follows_the_cost_rule_at_large_n():
    """Rows of n values beyond the cache (n = 5000 in float64: 40 KB) make the whole-run kernel
    stream each row from memory once per weight: a network keeping 45% of its weights then
    trains faster in the step loop, one keeping 5% still in the kernel. At n = 30 the density
    alone decides, as before."""
    from noprune_theory.training import _whole_run_pays

    dense, sparse = _masked(64, 0.45), _masked(64, 0.05)
    big = 2**40
    assert not _whole_run_pays(dense, 5000, big).any()
    assert _whole_run_pays(sparse, 5000, big).all()
    assert _whole_run_pays(dense, 30, big).all()
    X, y = _wide_problem(n=5000, d=4)
    assert _same_run(dense, X, y, path="cpu")  # auto took the step loop
    assert _same_run(sparse, X, y, path="fused")  # and the whole-run kernel here
    assert not _same_run(sparse, X, y, path="cpu")  # the two paths are distinguishable


def test_auto_choice_keeps_the_whole_run_kernel_within_the_budget():
    """The whole-run kernel does not slice the points: when its three (units, n) buffers
    exceed memory_budget, the automatic choice takes the step loop, which slices."""
    import numba

    from noprune_theory.training import _whole_run_pays

    sparse = _masked(64, 0.05)
    # three (units, n) float64 buffers for each network numba runs at once: 7.8 MB each
    need = 3 * 65 * 5000 * 8 * min(2, numba.get_num_threads())
    assert _whole_run_pays(sparse, 5000, need).all()
    assert not _whole_run_pays(sparse, 5000, need - 1).any()
    X, y = _wide_problem(n=5000, d=4)
    # 0.1 MiB: below the buffers of even the few live units that train() keeps of these
    # networks (3 x 5000 x 8 bytes per unit)
    assert _same_run(sparse, X, y, path="cpu", memory_budget=0.1)


def test_step_buffers_are_released_before_the_final_evaluation():
    """The fused kernel's (n, B h) work buffer is kept between steps; an evaluation of all
    points needs two (n, B h) arrays of its own. Released first, the peak of a run is that of
    the evaluation (2 buffers), not their sum (3)."""
    n, h = 4000, 1024
    X, y = _wide_problem(n=n, d=8)
    model = MaskedMLP(8, h, B=1, seed=0, backend="numba")
    train(model.copy(), X[:50], y[:50], loss="mse", optimizer="adam", steps=1)  # compile
    buffer = n * h * 8
    peak = _traced_peak(lambda: train(model, X, y, loss="mse", optimizer="adam", steps=2))
    assert 1.9 * buffer < peak < 2.5 * buffer


# ----------------------------------------------------------------------------- dead units
def _dead_half(model, seed=0):
    """Masks that cut the output weight of about half the hidden units (and random others)."""
    rng = np.random.default_rng(seed)
    masks = [rng.random(tuple(w.shape)) < 0.7 for w in model.weights]
    masks[-1][:, ::2, :] = False
    return masks


def _widths_trained(monkeypatch, of=lambda model: model.sizes[1:-1]):
    """What ``of(model)`` was for every model a gradient was computed on (hidden widths)."""
    seen = []
    original = MaskedMLP.loss_and_gradients

    def spy(self, *a, **k):
        seen.append(of(self))
        return original(self, *a, **k)

    monkeypatch.setattr(MaskedMLP, "loss_and_gradients", spy)
    return seen


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("hidden", [(12,), (8, 6)])
def test_training_skips_units_that_reach_no_output(monkeypatch, backend, hidden):
    """Units with no kept path to an output are not computed, and the run equals training
    every unit up to rounding (their weights and biases never move either way)."""
    import noprune_theory.training as training

    X, y = _separable(40, 5)
    ref = MaskedMLP(5, hidden, B=3, seed=0, backend=backend)
    ref.set_masks(_dead_half(ref))
    ref.biases = [b + 0.05 for b in ref.biases]
    live = [a.any(axis=0) for a in ref.live_units()]
    assert all(a.sum() < a.size for a in live)
    kw = dict(loss="mse", optimizer="adam", lr=1e-2, steps=60, target_loss=0.05, kernels="xp")
    seen = _widths_trained(monkeypatch)
    fast = ref.copy()
    r1 = train(fast, X, y, **kw)
    assert seen and all(w == tuple(int(a.sum()) for a in live) for w in seen)
    monkeypatch.setattr(training, "DEAD_UNIT_FRACTION", 2.0)  # never skip
    seen.clear()
    full = ref.copy()
    r2 = train(full, X, y, **kw)
    assert all(w == hidden for w in seen)
    np.testing.assert_array_equal(r1.steps, r2.steps)
    np.testing.assert_allclose(r1.final_loss, r2.final_loss, rtol=1e-12)
    for a, b, m in zip(fast.weights, full.weights, fast.masks):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        assert not np.any(a[~m])  # masked weights stay exactly zero
    for a, b in zip(fast.biases, full.biases):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # dead units kept their initial values exactly
    dead = ~live[-1]
    np.testing.assert_array_equal(fast.weights[-2][..., dead], ref.weights[-2][..., dead])
    np.testing.assert_array_equal(fast.biases[-2][..., dead], ref.biases[-2][..., dead])


def test_training_a_network_without_any_path_to_the_output():
    """Every output weight pruned: the network is a constant (its output bias) and trains as
    one; its hidden weights keep their values."""
    X, y = _separable(30, 4)
    y = y + 0.5
    model = MaskedMLP(4, (10,), B=2, seed=0)
    masks = [np.ones(tuple(w.shape), dtype=bool) for w in model.weights]
    masks[1][:] = False
    model.set_masks(masks)
    w0 = model.weights[0].copy()
    res = train(model, X, y, loss="mse", optimizer="adam", lr=0.05, steps=400)
    np.testing.assert_array_equal(model.weights[0], w0)
    np.testing.assert_allclose(model.biases[1][:, 0], y.mean(), atol=1e-3)
    np.testing.assert_allclose(res.final_loss, y.var(), rtol=1e-4)


def test_noise_and_callbacks_train_every_unit(monkeypatch):
    X, y = _separable(20, 4)
    ref = MaskedMLP(4, (8,), B=2, seed=0)
    ref.set_masks(_dead_half(ref))
    seen = _widths_trained(monkeypatch)
    train(ref.copy(), X, y, loss="mse", optimizer="adam", lr=1e-2, steps=3, grad_noise=0.1)
    train(ref.copy(), X, y, loss="mse", optimizer="adam", lr=1e-2, steps=3,
          callback=lambda m, s: m.sizes)
    assert seen and all(w == (8,) for w in seen)


# ----------------------------------------------------------------------------- shrinking batch
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_stopped_networks_leave_the_batch_and_the_run_is_unchanged(monkeypatch, backend):
    """Once at most half the networks are training, the step loop computes only those: the
    steps, the stopping and the weights are those of the run that keeps every network in the
    batch (to rounding: the products run over fewer networks)."""
    import noprune_theory.training as training

    X, y = _separable(40, 5)
    ref = MaskedMLP(5, (16,), B=12, seed=0, backend=backend)
    # different learning speeds: scale each network's output layer
    ref.weights[1] = ref.weights[1] * np.linspace(0.2, 3.0, 12)[:, None, None]
    kw = dict(loss="logistic", optimizer="adam", lr=2e-2, steps=400, target_loss=0.05,
              kernels="xp")
    widths = _widths_trained(monkeypatch, of=lambda model: model.B)
    a = ref.copy()
    ra = train(a, X, y, **kw)
    shrunk = list(widths)
    monkeypatch.setattr(training, "SHRINK_MIN_BATCH", 10**9)  # never shrink
    widths.clear()
    b = ref.copy()
    rb = train(b, X, y, **kw)
    assert set(widths) == {12}
    assert min(shrunk) < 6 and len(set(rb.steps.tolist())) > 3  # the test sees a real shrink
    np.testing.assert_array_equal(ra.steps, rb.steps)
    np.testing.assert_array_equal(ra.converged, rb.converged)
    np.testing.assert_allclose(ra.final_loss, rb.final_loss, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ra.trajectory.loss, rb.trajectory.loss, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ra.trajectory.steps, rb.trajectory.steps)
    for u, v in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-14)


def test_batch_shrinking_keeps_divergence_reports_in_the_callers_numbering():
    X, y = _separable(20, 3)
    model = MaskedMLP(3, (4,), B=8, seed=0, activation="identity")
    # networks 5 and 6 diverge late; the others converge early
    model.weights[1][5:7] *= 1e3
    with pytest.warns(RuntimeWarning, match=r"network\(s\) \[5, 6\]"):
        res = train(model, X, y, lr=0.05, steps=300, target_loss=1.0)
    assert res.diverged.tolist() == [False] * 5 + [True, True, False]
