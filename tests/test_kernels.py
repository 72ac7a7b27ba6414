"""The numba CPU kernels and the numba.cuda kernels (under the CUDA simulator, on NumPy arrays,
tiny shapes) against plain NumPy references, in float32 and float64."""

import numpy as np
import pytest

from noprune_theory.kernels import cpu
from noprune_theory.kernels import cuda as gpu

TARGETS = [pytest.param(cpu, id="cpu"), pytest.param(gpu, id="cuda")]
DTYPES = [np.float32, np.float64]
# float32: one update is a handful of roundings of numbers of order one, so 1e-6 relative;
# float64: 1e-14.
RTOL = {np.float32: 1e-6, np.float64: 1e-14}


def _params(dtype, seed=0, shape=(3, 2, 5)):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.5
    W = np.where(mask, rng.standard_normal(shape), 0.0).astype(dtype)
    G = np.where(mask, rng.standard_normal(shape), 0.0).astype(dtype)
    return W, G, mask


@pytest.mark.parametrize("mod", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_sgd_update(mod, dtype):
    W, G, mask = _params(dtype)
    # unmasked G entries are nonzero too: the kernel must skip them by the mask alone
    G = G + np.asarray(~mask, dtype=dtype)
    lr = np.array([0.1, 0.0, 0.5], dtype=dtype)  # network 1 has stopped
    expect = np.where(mask, W - lr[:, None, None] * G, W)
    mod.masked_sgd_update(W, G, mask, lr)
    np.testing.assert_allclose(W, expect, rtol=RTOL[dtype], atol=0)
    assert np.all(W[~mask] == 0.0)
    assert W.dtype == dtype


@pytest.mark.parametrize("mod", TARGETS)
def test_sgd_without_mask_updates_every_entry(mod):
    b = np.ones((2, 3))
    g = np.arange(6.0).reshape(2, 3)
    mod.masked_sgd_update(b, g, None, np.array([1.0, 0.5]))
    np.testing.assert_array_equal(b, [[1.0, 0.0, -1.0], [-0.5, -1.0, -1.5]])


@pytest.mark.parametrize("mod", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_mask", [True, False])
def test_masked_adam_update_over_three_steps(mod, dtype, use_mask):
    W, _, mask = _params(dtype, seed=1)
    if not use_mask:
        mask = None
    M, V = np.zeros_like(W), np.zeros_like(W)
    Wr, Mr, Vr = W.astype(np.float64), np.zeros(W.shape), np.zeros(W.shape)
    lr = np.array([0.01, 0.02, 0.0], dtype=dtype)
    b1, b2, eps = 0.9, 0.999, 1e-8
    rng = np.random.default_rng(2)
    for t in (1, 2, 3):
        G = rng.standard_normal(W.shape).astype(dtype)
        # reference (Kingma & Ba 2015, Algorithm 1), applied only where kept and active
        keep = (lr != 0)[:, None, None] & (mask if mask is not None else True)
        Mn = b1 * Mr + (1 - b1) * G
        Vn = b2 * Vr + (1 - b2) * G.astype(np.float64) ** 2
        step = (
            lr.astype(np.float64)[:, None, None]
            * (Mn / (1 - b1**t))
            / (np.sqrt(Vn / (1 - b2**t)) + eps)
        )
        Wr = np.where(keep, Wr - step, Wr)
        Mr, Vr = np.where(keep, Mn, Mr), np.where(keep, Vn, Vr)
        mod.masked_adam_update(W, G, M, V, mask, lr, b1, b2, eps, t)
    np.testing.assert_allclose(W, Wr, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    np.testing.assert_allclose(M, Mr, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    if mask is not None:
        assert np.all(W[~mask] == 0.0) and np.all(M[~mask] == 0.0)
    np.testing.assert_array_equal(W[2], _params(dtype, seed=1)[0][2])  # stopped network


@pytest.mark.parametrize("mod", TARGETS)
def test_update_checks_dtypes_and_shapes(mod):
    W, G, mask = _params(np.float64)
    lr = np.ones(3)
    with pytest.raises(TypeError, match="G must have dtype float64, got float32"):
        mod.masked_sgd_update(W, G.astype(np.float32), mask, lr)
    with pytest.raises(TypeError, match="mask must have dtype bool, got float64"):
        mod.masked_sgd_update(W, G, mask.astype(np.float64), lr)
    with pytest.raises(ValueError, match=r"lr_eff must have shape \(3,\)"):
        mod.masked_sgd_update(W, G, mask, np.ones(2))
    with pytest.raises(TypeError, match="W must be float32 or float64, got int64"):
        mod.masked_sgd_update(W.astype(np.int64), G, mask, lr)
    with pytest.raises(ValueError, match="C-contiguous"):
        mod.masked_sgd_update(W.transpose(0, 2, 1), G, mask, lr)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_per_network_mean(dtype):
    # n = 70 > 32 threads: every thread strides over several points before the tree reduction
    x = np.random.default_rng(3).standard_normal((2, 70)).astype(dtype)
    out = gpu.per_network_mean(x)
    assert out.dtype == dtype and out.shape == (2,)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(axis=1), rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", [True, False])
def test_cuda_mse_loss_and_grad(dtype, shared):
    rng = np.random.default_rng(4)
    f = rng.standard_normal((3, 40)).astype(dtype)
    y = rng.standard_normal(40 if shared else (3, 40)).astype(dtype)
    loss, df, per = gpu.mse_loss_and_grad(f, y)
    r = f.astype(np.float64) - y
    np.testing.assert_allclose(loss, (r**2).mean(axis=1), rtol=RTOL[dtype])
    np.testing.assert_allclose(df, 2 * r / 40, rtol=RTOL[dtype])
    np.testing.assert_allclose(per, r**2, rtol=RTOL[dtype])
    assert loss.dtype == dtype and df.dtype == dtype and per.dtype == dtype


def test_cuda_reductions_check_their_input():
    with pytest.raises(ValueError, match=r"values must have 2 axes \(B, n\)"):
        gpu.per_network_mean(np.ones(3))
    with pytest.raises(TypeError, match="y must have dtype float64, got float32"):
        gpu.mse_loss_and_grad(np.ones((2, 3)), np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"y must have shape \(3,\), \(1, 3\) or \(2, 3\)"):
        gpu.mse_loss_and_grad(np.ones((2, 3)), np.ones(4))
    with pytest.raises(TypeError, match="the cuda kernels take CuPy"):
        gpu.per_network_mean([[1.0, 2.0]])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "softplus", "identity"])
@pytest.mark.parametrize("loss", ["mse", "logistic"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_two_layer_step_matches_generic_backprop(activation, loss, dtype):
    """kernels.cpu.two_layer_loss_grad (the numba backend's step for one hidden layer, scalar
    output, shared X) against the model's namespace-generic backprop on the same parameters.
    float32: sums of ~10 products of order one in a different order, so 1e-5 relative."""
    from noprune_theory.models import MaskedMLP

    model = MaskedMLP(4, (6,), B=3, activation=activation, scaling="ntk", dtype=dtype, seed=2)
    model.biases = [b + 0.1 for b in model.biases]
    rng = np.random.default_rng(5)
    X = rng.standard_normal((9, 4)).astype(dtype)
    y = np.sign(rng.standard_normal((3, 9))).astype(dtype)
    Xa, t = model.prepare_inputs(X), model.prepare_targets(y, 9, loss)
    per, f, wg, bg = model.loss_and_gradients(Xa, t, loss)  # numpy backend: generic path
    got = cpu.two_layer_loss_grad(
        X,
        model.weights[0],
        model.biases[0],
        model.weights[1],
        model.biases[1],
        *model.multipliers,
        y,
        activation,
        loss,
    )
    rtol = 1e-13 if dtype == "float64" else 1e-5
    for a, b in zip([per, f[..., 0], wg[0], bg[0], wg[1], bg[1]], got):
        assert b.dtype == np.dtype(dtype)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * 1e-2)


def test_numba_backend_trains_like_numpy():
    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import train

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = np.sign(X[:, 0])
    a = MaskedMLP(3, (5,), B=2, seed=1)
    b = a.to_backend("numba")
    kw = dict(optimizer="adam", lr=0.05, steps=20, loss="logistic")
    ra, rb = train(a, X, y, **kw), train(b, X, y, **kw)
    np.testing.assert_allclose(rb.final_loss, ra.final_loss, rtol=1e-12)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wb, wa, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(
    "activation, loss", [("relu", "mse"), ("tanh", "logistic"), ("softplus", "mse")]
)
def test_cuda_fused_two_layer_step_matches_generic_backprop(activation, loss):
    """kernels.cuda.two_layer_loss_grad under the simulator: n = 20 points make two blocks of
    16 rows (the second partial), width 10 on 8 threads makes some threads own two units."""
    from noprune_theory.models import MaskedMLP

    model = MaskedMLP(4, (10,), B=2, activation=activation, scaling="ntk", seed=2)
    model.biases = [b + 0.1 for b in model.biases]
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 4))
    y = np.sign(rng.standard_normal((1, 20)))
    Xa, t = model.prepare_inputs(X), model.prepare_targets(y[0], 20, loss)
    per, f, wg, bg = model.loss_and_gradients(Xa, t, loss)
    got = gpu.two_layer_loss_grad(
        X,
        model.weights[0],
        model.biases[0],
        model.weights[1],
        model.biases[1],
        *model.multipliers,
        y,
        activation,
        loss,
    )
    for a, b in zip([per, f[..., 0], wg[0], bg[0], wg[1], bg[1]], got):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)


def test_cuda_block_reduction_is_one_device_function():
    """The shared-memory tree sum is written once (kernels.cuda._block_sum) and called by the
    mean, MSE and fused two-layer kernels; the numeric tests of those kernels (here and in
    test_gpu_path.py, at 8 to 128 threads) check that it sums right."""
    import inspect

    from noprune_theory.kernels import cuda as kcuda

    src = inspect.getsource(kcuda)
    assert src.count("buf[t] += buf[t + s]") == 1
    for kernel in (kcuda._mean_kernel, kcuda._mse_kernel, kcuda._two_layer_middle_kernel):
        assert "_block_sum(buf, t, nt)" in inspect.getsource(kernel.py_func)
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 45))
    np.testing.assert_allclose(kcuda.per_network_mean(values), values.mean(axis=1), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masked", [True, False])
def test_adam_kernel_is_bit_for_bit_the_elementwise_formula(dtype, masked):
    """The vectorized Adam update (branch-free, mask as a select) computes each kept entry with
    the same IEEE operations as the formula element by element, in float64 with the stores
    rounded to the array's dtype: equal bit for bit; masked entries (whose gradient is not zero
    here) and stopped networks keep their weights and moments exactly."""
    from noprune_theory.kernels import cpu

    rng = np.random.default_rng(7)
    B, K = 4, 1003
    W = rng.standard_normal((B, K)).astype(dtype)
    G = rng.standard_normal((B, K)).astype(dtype)
    M = (0.1 * rng.standard_normal((B, K))).astype(dtype)
    V = rng.random((B, K)).astype(dtype)
    mask = rng.random((B, K)) < 0.6 if masked else None
    lr = np.array([1e-2, 0.0, 3e-3, 1e-1], dtype=dtype)
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 5
    w, m, v = W.copy(), M.copy(), V.copy()
    cpu.masked_adam_update(w, G, m, v, mask, lr, b1, b2, eps, step)
    bc1, bc2 = 1.0 - b1**step, 1.0 - b2**step
    g64 = G.astype(np.float64)
    m2 = b1 * M.astype(np.float64) + (1.0 - b1) * g64
    v2 = b2 * V.astype(np.float64) + (1.0 - b2) * g64 * g64
    w2 = W.astype(np.float64) - lr.astype(np.float64)[:, None] * (m2 / bc1) / (
        np.sqrt(v2 / bc2) + eps)
    keep = np.ones((B, K), dtype=bool) if mask is None else mask.copy()
    keep[1] = False  # lr 0: the network has stopped
    np.testing.assert_array_equal(w, np.where(keep, w2.astype(dtype), W))
    np.testing.assert_array_equal(m, np.where(keep, m2.astype(dtype), M))
    np.testing.assert_array_equal(v, np.where(keep, v2.astype(dtype), V))


# ----------------------------------------------------------------------------- cache blocking
def test_fused_cpu_kernel_and_host_forward_go_through_large_problems_in_cache_blocks(
        monkeypatch):
    """Above CACHE_BLOCK_ABOVE bytes of (n, B, h) buffer the CPU kernel slices the points so that
    its buffer stays near CACHE_BLOCK_BYTES; the numbers equal one pass up to rounding."""
    import noprune_theory.kernels.cpu as kcpu
    from noprune_theory.models import MaskedMLP

    rng = np.random.default_rng(0)
    n, d, h = 12000, 6, 400  # 12000 x 400 x 8 bytes = 38 MB > 32 MiB
    X = rng.standard_normal((n, d))
    y = np.sign(rng.standard_normal(n))
    model = MaskedMLP(d, (h,), B=1, seed=0, backend="numba")
    Xa = model.prepare_inputs(X)
    t = model.prepare_targets(y, n, "mse")
    blocked = model.loss_and_gradients(Xa, t, "mse")
    assert model._work["Z"].nbytes <= kcpu.CACHE_BLOCK_BYTES
    f_blocked = model.forward_rows(Xa)
    monkeypatch.setattr(kcpu, "CACHE_BLOCK_ABOVE", float("inf"))
    model.release_work_buffers()
    whole = model.loss_and_gradients(Xa, t, "mse")
    assert model._work["Z"].nbytes == n * h * 8
    f_whole = model.forward_rows(Xa)
    for a, b in zip([whole[0], whole[1]] + whole[2] + whole[3],
                    [blocked[0], blocked[1]] + blocked[2] + blocked[3]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(f_blocked, f_whole, rtol=1e-13, atol=1e-15)
