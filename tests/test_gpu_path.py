"""The GPU path without a GPU: gpu_status's checks with a fake CuPy, launch limits, settings."""
import sys
import types

import numpy as np
import pytest

from noprune_theory import backend as bk
from noprune_theory.kernels import cuda as kcuda
from noprune_theory.kernels import cuda_knn


class _FakeArray:
    def __init__(self, rows):
        self.rows = rows

    def reshape(self, *shape):
        return self

    def get(self):
        return self

    def tolist(self):
        return self.rows


def _fake_cupy(matmul_ok=True, alloc_ok=True, devices=1):
    """A stand-in for CuPy that answers the probes gpu_status makes."""
    cupy = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: devices,
        getDeviceProperties=lambda i: {"name": b"Fake GPU"},
        runtimeGetVersion=lambda: 12040,
        driverGetVersion=lambda: 12080,
    )
    cupy.cuda = types.SimpleNamespace(
        runtime=runtime, Device=lambda i: types.SimpleNamespace(compute_capability="90")
    )

    def empty(n, dtype=None):
        if not alloc_ok:
            raise MemoryError("out of memory allocating 1048576 bytes")
        return object()

    def matmul(a, b):
        if not matmul_ok:
            raise RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED")
        return _FakeArray([[2.0, 3.0], [6.0, 11.0]])

    cupy.empty = empty
    cupy.arange = lambda n, dtype=None: _FakeArray(None)
    cupy.matmul = matmul
    return cupy


@pytest.fixture
def fresh_status(monkeypatch):
    bk.gpu_status.cache_clear()
    yield
    bk.gpu_status.cache_clear()


def _numba_cuda_ok():
    return True, "numba.cuda NVIDIA implementation"


def test_simulator_disables_cupy_even_with_a_working_gpu(monkeypatch, fresh_status):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    monkeypatch.setattr(bk, "_probe_numba_cuda", _numba_cuda_ok)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    ok, why = bk.gpu_status()
    assert not ok and "NUMBA_ENABLE_CUDASIM" in why
    assert bk.resolve_backend("auto") != "cupy"
    with pytest.raises(bk.BackendUnavailableError, match="NUMBA_ENABLE_CUDASIM"):
        bk.resolve_backend("cupy")


def test_fake_gpu_with_everything_working_is_usable(monkeypatch, fresh_status):
    # the control case: the fake really does pass when nothing fails, so the tests below fail
    # for the reason they name
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    monkeypatch.setattr(bk, "_probe_numba_cuda", _numba_cuda_ok)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = bk.gpu_status()
    assert ok, why
    assert "Fake GPU" in why
    assert bk.resolve_backend("auto") == "cupy"


def test_failing_matmul_gives_false_with_the_reason(monkeypatch, fresh_status):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(matmul_ok=False))
    monkeypatch.setattr(bk, "_probe_numba_cuda", _numba_cuda_ok)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = bk.gpu_status()
    assert not ok and "cuBLAS" in why and "CUBLAS_STATUS_NOT_INITIALIZED" in why


def test_failing_allocation_gives_false_with_the_reason(monkeypatch, fresh_status):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(alloc_ok=False))
    monkeypatch.setattr(bk, "_probe_numba_cuda", _numba_cuda_ok)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = bk.gpu_status()
    assert not ok and "allocate" in why


def test_no_device_gives_false_with_the_reason(monkeypatch, fresh_status):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(devices=0))
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = bk.gpu_status()
    assert not ok and "no CUDA device" in why


def test_numba_cuda_missing_gives_false_with_the_reason(monkeypatch, fresh_status):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # import numba.cuda now fails
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = bk.gpu_status()
    assert not ok and "numba-cuda is not importable" in why


def test_gpu_details_reads_versions_and_compute_capability(monkeypatch):
    fake = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(bk.importlib.util, "find_spec",
                        lambda name: types.SimpleNamespace(origin=name))
    d = bk.gpu_details()
    assert d["runtime_version"] == "12.4"
    assert d["driver_version"] == "12.8"
    assert d["compute_capability"] == "9.0"
    assert d["device"] == "Fake GPU"
    assert d["numba_cuda_implementation"] is not None
    fake.cuda.runtime.driverGetVersion = lambda: 0  # CUDA's answer without a driver
    fake.cuda.runtime.getDeviceCount = lambda: 0
    d = bk.gpu_details()
    assert d["driver_version"] is None and d["compute_capability"] is None
    assert d["runtime_version"] == "12.4"


def test_info_prints_the_gpu_section():
    from click.testing import CliRunner

    from noprune_theory.cli import cli

    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    for label in ("compute capability", "CUDA driver", "CUDA runtime", "numba.cuda"):
        assert label in res.output
    assert "auto picks: cupy" not in res.output  # the simulator is on in these tests


# ----------------------------------------------------------------------------- launch limits

def _assert_within_limits_and_covering(launches, batch):
    covered = []
    for grid, block, offset in launches:
        assert all(1 <= g <= lim for g, lim in zip(grid, kcuda.CUDA_MAX_GRID)), grid
        assert 1 <= block <= kcuda.CUDA_MAX_THREADS_PER_BLOCK
        covered.extend(range(offset, offset + grid[1]))
    assert covered == list(range(batch))  # every network/problem exactly once, in order


@pytest.mark.parametrize("batch", [1, 65535, 65536, 70000, 200000])
def test_fused_launch_config_within_cuda_limits(batch):
    launches = kcuda.fused_launch_config(1000, batch, 1000, settings=kcuda.GPU_SETTINGS)
    _assert_within_limits_and_covering(launches, batch)
    assert len(launches) == -(-batch // 65535)


@pytest.mark.parametrize("problems", [1, 65536, 70000])
def test_ksg_launch_config_within_cuda_limits(problems):
    _assert_within_limits_and_covering(cuda_knn.ksg_launch_config(5000, problems), problems)


def test_grid_x_over_the_limit_is_an_error():
    with pytest.raises(ValueError, match="exceed"):
        kcuda.batched_launches(2**31, 1, 32)


def _two_layer_args(B, h, n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d)),
        rng.standard_normal((B, d, h)),
        rng.standard_normal((B, h)),
        rng.standard_normal((B, h, 1)),
        rng.standard_normal((B, 1)),
        0.5,
        0.25,
        rng.standard_normal((1, n)),
        "tanh",
        "mse",
    )


def test_fused_kernel_over_several_launches_matches_one(monkeypatch):
    # grid y cut to 2 blocks: B = 3 networks take two launches, the second with offset 2
    args = _two_layer_args(B=3, h=5)
    one = kcuda.two_layer_loss_grad(*args)
    monkeypatch.setattr(kcuda, "CUDA_MAX_GRID", (2**31 - 1, 2, 65535))
    assert len(kcuda.fused_launch_config(20, 3, 5)) == 2
    several = kcuda.two_layer_loss_grad(*args)
    for a, b in zip(one, several):
        np.testing.assert_array_equal(b, a)


def test_ksg_kernel_over_several_launches_matches_one(monkeypatch):
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((3, 12, 1)), rng.standard_normal((3, 12, 2))
    one = cuda_knn.ksg_counts_batch(X, Y, 3, 1)
    monkeypatch.setattr(kcuda, "CUDA_MAX_GRID", (2**31 - 1, 2, 65535))
    assert len(cuda_knn.ksg_launch_config(12, 3)) == 2
    several = cuda_knn.ksg_counts_batch(X, Y, 3, 1)
    for a, b in zip(one, several):
        np.testing.assert_array_equal(b, a)
    assert several[0].min() >= 0 and several[2].min() > 0  # the second slice was computed


# ----------------------------------------------------------------------------- width limit
def _model(h, B=2, seed=3):
    from noprune_theory.models import MaskedMLP

    model = MaskedMLP(3, (h,), B=B, activation="tanh", scaling="ntk", seed=seed)
    return model


def test_width_over_the_fused_limit_falls_back_to_the_generic_path():
    limit = kcuda.MAX_PER_THREAD * kcuda.current_settings().fused_threads
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    for h, fused in ((limit, True), (limit + 1, False)):
        model = _model(h)
        Xa, t = model._prepare_X(X), model._prepare_y(y, 20, "mse")
        generic = model._loss_grad(Xa, t, "mse")
        model.use_kernel_table(bk.cuda_simulator_backend())
        assert model._fused_ok(Xa, "mse") is fused
        got = model._loss_grad(Xa, t, "mse")  # no ValueError above the limit: the generic path
        for a, b in zip(generic[:2], got[:2]):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="exceeds the fused kernel's limit"):
        kcuda.two_layer_loss_grad(*_two_layer_args(B=1, h=limit + 1))


# ----------------------------------------------------------------------------- GPU block sizes
@pytest.mark.parametrize("n", [1, 127, 129])
def test_reductions_at_the_gpus_128_threads(n):
    """The simulator normally runs 32-thread reductions; at the GPU's 128 threads, n = 1 leaves
    127 threads idle, 127 leaves one idle, and 129 makes thread 0 add two points."""
    rng = np.random.default_rng(n)
    f, y = rng.standard_normal((2, n)), rng.standard_normal((1, n))
    with kcuda.launch_settings(reduce_threads=128) as settings:
        assert settings.reduce_threads == 128
        mean = kcuda.per_network_mean(f)
        loss, df, per = kcuda.mse_loss_and_grad(f, y)
    np.testing.assert_allclose(mean, f.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(loss, ((f - y) ** 2).mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(df, 2 * (f - y) / n, rtol=1e-15)
    np.testing.assert_allclose(per, (f - y) ** 2, rtol=1e-15)
    assert kcuda.current_settings() == kcuda.SIMULATOR_SETTINGS  # restored on exit


@pytest.mark.parametrize("h", [65, 129, 1000])
def test_fused_kernel_at_the_gpus_128_threads(h):
    """Widths past one unit per thread: 65 and 129 leave most threads one unit and one thread
    two; 1000 gives every thread 7 or 8 units (MAX_PER_THREAD = 8)."""
    model = _model(h, B=1, seed=h)
    model.biases = [b + 0.1 for b in model.biases]
    rng = np.random.default_rng(h)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((1, 20))
    Xa, t = model._prepare_X(X), model._prepare_y(y[0], 20, "mse")
    per, f, wg, bg = model._loss_grad(Xa, t, "mse")  # the generic NumPy path
    with kcuda.launch_settings(fused_threads=128):
        assert kcuda.fused_launch_config(20, 1, h)[0][1] == 128
        got = kcuda.two_layer_loss_grad(
            X, model.weights[0], model.biases[0], model.weights[1], model.biases[1],
            *model.multipliers, y, model.activation, "mse",
        )  # fmt: skip
    for a, b in zip([per, f[..., 0], wg[0], bg[0], wg[1], bg[1]], got):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("h", [1, 5, 16, 33])
def test_fused_kernel_runs_at_least_a_warp_per_block(h):
    """Narrow networks used to launch blocks of 1-16 threads (the next power of two of the
    width), leaving the rest of a warp idle: at the GPU's settings a block now has at least 32
    threads, and the kernel gives the generic path's numbers with the idle threads."""
    assert kcuda.fused_launch_config(20, 3, h, settings=kcuda.GPU_SETTINGS)[0][1] == max(
        32, 1 << (h - 1).bit_length())
    model = _model(h, B=1, seed=h)
    rng = np.random.default_rng(h)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((1, 20))
    Xa, t = model._prepare_X(X), model._prepare_y(y[0], 20, "mse")
    per, f, wg, bg = model._loss_grad(Xa, t, "mse")  # the generic NumPy path
    with kcuda.launch_settings(fused_threads=128):
        assert kcuda.fused_launch_config(20, 1, h)[0][1] >= 32
        got = kcuda.two_layer_loss_grad(
            X, model.weights[0], model.biases[0], model.weights[1], model.biases[1],
            *model.multipliers, y, model.activation, "mse",
        )  # fmt: skip
    for a, b in zip([per, f[..., 0], wg[0], bg[0], wg[1], bg[1]], got):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dx, dy", [(1, 1), (1, 2), (3, 5), (16, 16), (32, 32)])
def test_ksg_shared_memory_follows_the_data(dx, dy):
    """The KSG tile takes threads x (dx + dy) float64 numbers of dynamic shared memory, not a
    fixed 32 x 32 x 2 (16 KB for 32 threads whatever dx, dy); a GPU block has 128 threads
    unless the tile would exceed 48 KB, and never fewer than 32."""
    threads = cuda_knn.knn_threads(dx, dy, kcuda.GPU_SETTINGS)
    shared = cuda_knn.shared_bytes(threads, dx, dy)
    assert shared == threads * (dx + dy) * 8 <= cuda_knn.MAX_SHARED_BYTES
    assert threads == (128 if 128 * (dx + dy) * 8 <= 48 * 1024 else 64)
    if (dx, dy) == (1, 1):
        assert shared == 2048
    launches = cuda_knn.ksg_launch_config(1000, 3, dx, dy, settings=kcuda.GPU_SETTINGS)
    assert launches[0][0][0] == -(-1000 // threads) and launches[0][1] == threads


@pytest.mark.parametrize("threads", [32, 64, 128])
def test_ksg_kernel_at_the_gpus_block_sizes(threads):
    """The simulator at 64 and 128 threads per block: several tiles of a partly filled last
    block, counts equal to a brute-force count (KSG algorithm 1: other points strictly within
    the joint max-norm distance to the 3rd neighbour, in each marginal)."""
    rng = np.random.default_rng(threads)
    X = rng.standard_normal((2, 150, 1))
    Y = np.concatenate([X, rng.standard_normal((2, 150, 1))], axis=2) + 0.3 * rng.standard_normal(
        (2, 150, 2))
    with kcuda.launch_settings(knn_threads=threads):
        assert cuda_knn.ksg_launch_config(150, 2, 1, 2)[0][1] == threads
        nx, ny, eps = cuda_knn.ksg_counts_batch(X, Y, 3, 1)
    for p in range(2):
        dxm = np.abs(X[p][:, None, :] - X[p][None, :, :]).max(axis=2)
        dym = np.abs(Y[p][:, None, :] - Y[p][None, :, :]).max(axis=2)
        joint = np.maximum(dxm, dym)
        np.fill_diagonal(joint, np.inf)
        kth = np.sort(joint, axis=1)[:, 2]
        np.fill_diagonal(dxm, np.inf)
        np.fill_diagonal(dym, np.inf)
        np.testing.assert_array_equal(eps[p], kth)
        np.testing.assert_array_equal(nx[p], (dxm < kth[:, None]).sum(axis=1))
        np.testing.assert_array_equal(ny[p], (dym < kth[:, None]).sum(axis=1))


def test_launch_settings_are_checked():
    with pytest.raises(ValueError, match="reduce_threads must be a power of two"):
        kcuda.launch_settings(reduce_threads=96).__enter__()
    with pytest.raises(ValueError, match="fused_threads"):
        kcuda.launch_settings(fused_threads=256).__enter__()
    assert kcuda.current_settings() == kcuda.SIMULATOR_SETTINGS


def test_kernels_use_the_file_cache_outside_the_simulator(tmp_path):
    """cache=True on every kernel: outside the simulator numba.cuda gives each a file cache
    (decorating needs no GPU). Under the simulator the flag is accepted and ignored. Device
    functions (the block sum) are compiled into the kernels that call them, and cached there."""
    import os
    import subprocess

    code = (
        "from noprune_theory.kernels import cuda as k, cuda_knn\n"
        "ds = [v for v in vars(k).values() if hasattr(v, '_cache')\n"
        "      and not v.targetoptions.get('device')] + [cuda_knn._kernel()]\n"
        "print(len(ds), sorted({type(d._cache).__name__ for d in ds}))\n"
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", NUMBA_CACHE_DIR=str(tmp_path))
    # cwd outside the checkout: there, a non-editable install would import the source folder
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False, cwd=tmp_path)
    if res.returncode != 0:
        pytest.skip(f"numba.cuda does not import without the simulator here: {res.stderr[-300:]}")
    assert res.stdout.split(None, 1) == ["8", "['CUDACache']\n"]


# ----------------------------------------------------------------------------- streams
def test_simulator_path_launches_on_the_default_stream():
    assert kcuda._stream_for(np.zeros(3)) == 0
    assert kcuda._device(np.zeros(3)).__class__ is np.ndarray  # NumPy arrays pass unchanged


@pytest.mark.skipif(not bk.gpu_status()[0], reason="needs a usable GPU (NOPRUNE_REAL_GPU=1)")
def test_kernels_on_cupy_arrays_inside_a_non_blocking_stream():
    """On a GPU: every kernel family runs on CuPy's current (non-blocking) stream and agrees
    with the NumPy reference, with the results read back only after the stream is synced."""
    import cupy

    rng = np.random.default_rng(7)
    f, y = rng.standard_normal((3, 129)), rng.standard_normal((1, 129))
    args = _two_layer_args(B=3, h=129)
    Xk, Yk = rng.standard_normal((2, 40, 1)), rng.standard_normal((2, 40, 2))
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        mean = kcuda.per_network_mean(cupy.asarray(f))
        loss, df, per = kcuda.mse_loss_and_grad(cupy.asarray(f), cupy.asarray(y))
        fused = kcuda.two_layer_loss_grad(
            *[cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        )
        counts = cuda_knn.ksg_counts_batch(cupy.asarray(Xk), cupy.asarray(Yk), 3, 1)
        mean, loss, df, per = (cupy.asnumpy(a, stream=stream) for a in (mean, loss, df, per))
        fused = [cupy.asnumpy(a, stream=stream) for a in fused]
        counts = [cupy.asnumpy(a, stream=stream) for a in counts]
    stream.synchronize()
    np.testing.assert_allclose(mean, f.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(loss, ((f - y) ** 2).mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(df, 2 * (f - y) / 129, rtol=1e-15)
    np.testing.assert_allclose(per, (f - y) ** 2, rtol=1e-15)
    from noprune_theory.kernels import cpu

    for a, b in zip(cpu.two_layer_loss_grad(*args), fused):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-13)
    # KSG algorithm 1 by brute force: eps = k-th joint max-norm distance, strict marginal counts
    dxs = np.abs(Xk[:, :, None, :] - Xk[:, None, :, :]).max(axis=-1)
    dys = np.abs(Yk[:, :, None, :] - Yk[:, None, :, :]).max(axis=-1)
    joint = np.maximum(dxs, dys)
    self_ = np.eye(40, dtype=bool)
    eps = np.sort(np.where(self_, np.inf, joint), axis=-1)[..., 2]
    np.testing.assert_array_equal(counts[2], eps)
    np.testing.assert_array_equal(counts[0], ((dxs < eps[..., None]) & ~self_).sum(-1))
    np.testing.assert_array_equal(counts[1], ((dys < eps[..., None]) & ~self_).sum(-1))


# ----------------------------------------------------------------------------- compile check
_PTX_CHECK = r'''
import json, re, subprocess, sys, tempfile, os
from numba import cuda, types as t
from noprune_theory.kernels import cuda as k, cuda_knn

def arr(dt, nd):
    return t.Array(dt, nd, "C")

def _probe(a):
    a[0] = 1.0


try:
    _p, _ = cuda.compile_ptx(_probe, (arr(t.float64, 1),), cc=(9, 0))
except Exception as exc:  # no NVVM or NVRTC here: not a defect of the kernels
    print("SKIP " + f"{type(exc).__name__}: {exc}"[:300].replace("\n", " "))
    sys.exit(0)

out = []
i64, f64, b1 = t.int64, t.float64, t.boolean
for dt in (t.float32, t.float64):
    a1 = arr(dt, 1)
    cases = [
        (k._sgd_kernel, (a1, a1, arr(b1, 1), a1, i64), k.GPU_SETTINGS.flat_threads),
        (k._sgd_kernel_nomask, (a1, a1, a1, i64), k.GPU_SETTINGS.flat_threads),
        (k._adam_kernel, (a1, a1, a1, a1, arr(b1, 1), a1, i64) + (f64,) * 5,
         k.GPU_SETTINGS.flat_threads),
        (k._adam_kernel_nomask, (a1, a1, a1, a1, a1, i64) + (f64,) * 5,
         k.GPU_SETTINGS.flat_threads),
        (k._mean_kernel, (arr(dt, 2), a1, f64), k.GPU_SETTINGS.reduce_threads),
        (k._mse_kernel, (arr(dt, 2), arr(dt, 2), a1, arr(dt, 2), arr(dt, 2), f64),
         k.GPU_SETTINGS.reduce_threads),
        (k._two_layer_middle_kernel,
         (arr(dt, 3), arr(dt, 2), arr(dt, 2), a1, f64, f64, arr(dt, 2), i64, i64, f64, i64,
          arr(dt, 2), arr(dt, 2), arr(dt, 3), arr(dt, 3), arr(dt, 2), i64, f64),
         k.GPU_SETTINGS.fused_threads),
    ]
    if dt == t.float64:
        cases.append((cuda_knn._kernel(),
                      (arr(f64, 3), arr(f64, 3), i64, i64, arr(i64, 2), arr(i64, 2),
                       arr(f64, 2), i64), k.GPU_SETTINGS.knn_threads))
    for disp, sig, threads in cases:
        ptx, _ = cuda.compile_ptx(disp.py_func, sig, cc=(9, 0))
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "k.ptx")
            open(src, "w").write(ptx)
            res = subprocess.run(["ptxas", "-v", "-arch=sm_90", src, "-o", os.devnull],
                                 capture_output=True, text=True, check=True)
        log = res.stderr + res.stdout
        regs = int(re.search(r"Used (\d+) registers", log).group(1))
        spills = sum(int(x) for x in re.findall(r"(\d+) bytes spill", log))
        m = re.search(r"(\d+) bytes smem", log)
        out.append(dict(kernel=disp.py_func.__name__, dtype=str(dt), regs=regs, spills=spills,
                        smem=int(m.group(1)) if m else 0, threads=threads))
print(json.dumps(out))
'''


def test_every_kernel_compiles_for_sm_90_within_the_hardware_budget(tmp_path):
    """Every numba.cuda kernel x dtype compiled to PTX for compute capability 9.0 and assembled
    by ``ptxas -v`` (outside the simulator; no GPU needed): no register spills, registers x
    threads per block <= 65,536 (the register file of one SM), static shared memory <= 48 KB."""
    import json
    import os
    import shutil
    import subprocess

    if shutil.which("ptxas") is None:
        pytest.skip("ptxas (CUDA toolkit) not on PATH")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", NUMBA_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", _PTX_CHECK], env=env, capture_output=True,
                         text=True, check=False, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    if res.stdout.startswith("SKIP"):
        pytest.skip(f"numba.cuda cannot compile here ({res.stdout[5:].strip()})")
    rows = json.loads(res.stdout)
    names = {r["kernel"] for r in rows}
    assert len(rows) == 15 and "ksg_kernel" in names and "_two_layer_middle_kernel" in names
    for r in rows:
        assert r["spills"] == 0, r
        assert r["regs"] * r["threads"] <= 65536, r
        assert r["smem"] <= 48 * 1024, r
