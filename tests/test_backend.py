"""Backend selection and the array-namespace helpers."""
import numpy as np
import pytest

from noprune_theory import backend as bk


def test_auto_resolves_to_a_concrete_backend():
    assert bk.resolve_backend("auto") in bk.BACKENDS
    assert bk.resolve_backend(None) == bk.resolve_backend("auto")


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match=r"backend must be one of 'numpy', 'numba', 'cupy'"):
        bk.resolve_backend("torch")


def test_cupy_without_gpu_says_how_to_install_and_that_auto_falls_back():
    ok, _ = bk.gpu_status()
    if ok:
        pytest.skip("a GPU is usable here")
    with pytest.raises(bk.BackendUnavailableError) as info:
        bk.resolve_backend("cupy")
    msg = str(info.value)
    assert "noprune-theory[gpu]" in msg and "auto" in msg
    assert bk.resolve_backend("auto") != "cupy"


def test_mixing_array_libraries_is_an_error():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="different libraries"):
        bk.array_namespace(np.zeros(3), xps.zeros(3))


def test_to_numpy_roundtrip(xp):
    a = xp.asarray([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(bk.to_numpy(a), [1.0, 2.0, 3.0])


def test_numba_cuda_runs_in_the_simulator_in_these_tests():
    # conftest sets NUMBA_ENABLE_CUDASIM=1; numba reads it at import, and a plugin may import
    # numba first: the cuda kernel tests are only meaningful if the simulator is really on
    import os

    if os.environ.get("NOPRUNE_REAL_GPU", "0") not in ("", "0"):
        pytest.skip("running on a real GPU")
    from numba.core import config

    assert config.ENABLE_CUDASIM


def test_backend_object_owns_the_kernel_table():
    """Models and training ask the Backend object which kernels to run; one table, here."""
    assert bk.get_backend("numpy").update_kernels == "xp"
    assert bk.get_backend("numpy").fused_loss_grad is None
    numba_ok, _ = bk.numba_status()
    if numba_ok:
        nb = bk.get_backend("numba")
        assert (nb.update_kernels, nb.fused_loss_grad, nb.whole_run_training) == ("cpu", "cpu",
                                                                                    True)
        assert nb.kernel_module("cpu").__name__ == "noprune_theory.kernels.cpu"
    assert bk.get_backend("auto").name == bk.resolve_backend("auto")
    with pytest.raises(ValueError, match="backend must be one of"):
        bk.get_backend("torch")


def test_choice_lists_come_from_backend_module():
    from noprune_theory.sims._config import BACKEND_CHOICES

    assert BACKEND_CHOICES == bk.CHOICES == ("auto",) + bk.BACKENDS


def test_the_cuda_simulator_backend_is_injected_through_the_backend_object(monkeypatch):
    """No private hook: a model given cuda_simulator_backend() runs the numba.cuda kernels on
    its NumPy arrays (fused two-layer step and masked Adam update), train's automatic choice
    included, and a copy keeps the table; None restores the backend's own."""
    import numpy as np

    from noprune_theory.kernels import cuda as kcuda
    from noprune_theory.models import MaskedMLP
    from noprune_theory.training import train

    table = bk.cuda_simulator_backend()
    assert (table.update_kernels, table.fused_loss_grad, table.cuda_reductions) == (
        "cuda", "cuda", True)
    model = MaskedMLP(3, (4,), B=2, seed=0)
    assert model.kernel_table is bk.get_backend("numpy")
    model.use_kernel_table(table)
    calls = {"fused": 0, "adam": 0}
    for name, key in (("two_layer_loss_grad", "fused"), ("masked_adam_update", "adam")):
        original = getattr(kcuda, name)

        def counted(*a, _original=original, _key=key, **kw):
            calls[_key] += 1
            return _original(*a, **kw)

        monkeypatch.setattr(kcuda, name, counted)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    train(model.copy(), X, y, optimizer="adam", steps=2)
    assert calls["fused"] >= 2 and calls["adam"] >= 4
    model.use_kernel_table(None)
    assert model.kernel_table is bk.get_backend("numpy")
    with pytest.raises(TypeError, match="Backend"):
        model.use_kernel_table("cuda")


def test_the_cuda_simulator_backend_needs_the_simulator(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    with pytest.raises(bk.BackendUnavailableError, match="NUMBA_ENABLE_CUDASIM"):
        bk.cuda_simulator_backend()
