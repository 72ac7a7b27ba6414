"""The GPU path without a GPU: gpu_status's checks with a fake CuPy, launch limits, settings."""
import sys
import types

import pytest

from noprune_theory import backend as bk


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


def test_info_prints_the_gpu_section():
    from click.testing import CliRunner

    from noprune_theory.cli import cli

    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    for label in ("compute capability", "CUDA driver", "CUDA runtime", "numba.cuda"):
        assert label in res.output
    assert "auto picks: cupy" not in res.output  # the simulator is on in these tests
