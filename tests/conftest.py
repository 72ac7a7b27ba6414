"""Test configuration: backends are declared per test, never discovered by accident.

numba.cuda kernels run under the CUDA simulator here (no GPU on the test machines); the variable
must be set before numba is first imported, so it is set at the top of this file. Set
``NOPRUNE_REAL_GPU=1`` on a GPU machine to run the same tests on the device instead.
"""
import os

if os.environ.get("NOPRUNE_REAL_GPU", "0") not in ("", "0"):
    # real-GPU mode: the kernels run on the device, so the simulator must be off
    os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
else:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# a pytest plugin may have imported numba already, before the variable was set: numba reads its
# configuration at import, so make it read the variable again
import sys

if "numba" in sys.modules:
    from numba.core import config as _numba_config

    if bool(_numba_config.ENABLE_CUDASIM) != (os.environ["NUMBA_ENABLE_CUDASIM"] not in ("", "0")):
        _numba_config.reload_config()

import numpy as np
import pytest

from noprune_theory.backend import gpu_status, numba_status, real_gpu_mode


def pytest_sessionstart(session):
    # NOPRUNE_REAL_GPU=1 is the first thing to run on a GPU box: a GPU that cannot be used is an
    # error there, not a run of silently skipped tests
    if real_gpu_mode():
        ok, why = gpu_status()
        if not ok:
            raise pytest.UsageError(f"NOPRUNE_REAL_GPU=1 but the cupy backend is not usable: {why}")


def _cupy_param():
    ok, why = gpu_status()
    return pytest.param(
        "cupy", marks=pytest.mark.skipif(not ok, reason=f"cupy backend not usable: {why}")
    )


def _numba_param():
    ok, why = numba_status()
    return pytest.param("numba", marks=pytest.mark.skipif(not ok, reason=why))


@pytest.fixture(params=["numpy", _numba_param(), _cupy_param()])
def backend(request):
    """Every concrete backend; cupy is skipped (with the reason) where no GPU is usable."""
    return request.param


def _strict_param():
    try:
        import array_api_strict  # noqa: F401
    except ImportError:
        return pytest.param(None, marks=pytest.mark.skip(reason="array_api_strict missing"))
    return pytest.param("array_api_strict")


@pytest.fixture(params=["numpy", _strict_param(), _cupy_param()])
def xp(request):
    """Array namespaces for namespace-generic code: NumPy, array_api_strict, CuPy (GPU only)."""
    import importlib

    return importlib.import_module(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20240201)
