"""Backend selection and the array-namespace helpers: the one place backends differ.

Three backends share one interface:

``numpy``
    The reference. Always available; readable code the others are tested against.
``numba``
    NumPy arrays, with CPU hot loops JIT-compiled by numba (``noprune_theory.kernels.cpu``).
``cupy``
    CuPy arrays on a GPU; dense algebra through CuPy (cuBLAS), custom kernels through numba.cuda
    on the same memory (``__cuda_array_interface__``).
``auto``
    ``cupy`` when a GPU is usable, else ``numba`` when numba imports, else ``numpy``.

Algorithm code never branches on the backend name to choose array functions: it takes the
namespace from its inputs with :func:`array_namespace` (so one implementation serves NumPy, CuPy
and, in the tests, ``array_api_strict``), and asks this module only which kernels to use.
numba and cupy are imported lazily, the first time a backend that needs them is resolved.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from dataclasses import dataclass

__all__ = [
    "BACKENDS",
    "CHOICES",
    "Backend",
    "BackendUnavailableError",
    "array_namespace",
    "available_memory",
    "backend_info",
    "cuda_simulator_backend",
    "cuda_simulator_enabled",
    "get_backend",
    "gpu_details",
    "gpu_status",
    "namespace_for",
    "numba_status",
    "real_gpu_mode",
    "resolve_backend",
    "to_numpy",
]

#: The concrete backends, in the order ``auto`` does *not* prefer them.
BACKENDS = ("numpy", "numba", "cupy")
_CHOICES = BACKENDS + ("auto",)
#: What a user may ask for (the CLI's and the simulation config's choice list).
CHOICES = ("auto",) + BACKENDS

GPU_INSTALL_HINT = (
    "install the gpu extra (pip install 'noprune-theory[gpu]', CuPy for CUDA 12 and numba-cuda) "
    "on a machine with an NVIDIA GPU and driver, or use backend='auto', which falls back to "
    "numba or numpy"
)


class BackendUnavailableError(ValueError):
    """A backend was asked for by name but cannot run on this machine."""


def cuda_simulator_enabled():
    """True when numba.cuda runs under its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def numba_status():
    """``(usable, reason)`` for the numba CPU backend."""
    if importlib.util.find_spec("numba") is None:
        return False, "numba is not installed (pip install numba)"
    try:
        import numba
    except Exception as exc:  # a broken llvmlite, for instance
        return False, f"numba failed to import: {exc}"
    return True, f"numba {numba.__version__}"


def real_gpu_mode():
    """True when ``NOPRUNE_REAL_GPU=1``: the test suite runs on a real GPU, not the simulator.

    ``tests/conftest.py`` then leaves the CUDA simulator off, and a GPU that is not usable is an
    error instead of a skipped test.
    """
    return os.environ.get("NOPRUNE_REAL_GPU", "0") not in ("", "0")


def _probe_numba_cuda():
    """``(usable, reason)`` for numba.cuda on real hardware: importable, driver and NVVM load."""
    try:
        cuda = importlib.import_module("numba.cuda")
    except Exception as exc:
        return False, f"numba-cuda is not importable ({exc}); pip install 'numba-cuda[cu12]'"
    try:
        if not cuda.is_available():
            return False, "numba.cuda finds no usable CUDA driver or device"
    except Exception as exc:
        return False, f"numba.cuda failed to load the CUDA driver: {exc}"
    try:
        from numba.cuda.cudadrv import nvvm

        if not nvvm.is_available():
            return False, "numba.cuda cannot load libNVVM (install numba-cuda[cu12])"
    except Exception as exc:
        return False, f"numba.cuda cannot load libNVVM: {exc}"
    return True, f"numba.cuda {getattr(cuda, 'implementation', 'built-in')} implementation"


def _probe_cupy_device(cupy):
    """``(usable, reason)``: memory can be allocated and a tiny cuBLAS matmul is right."""
    try:
        buf = cupy.empty(1 << 20, dtype="uint8")
        del buf
    except Exception as exc:
        return False, f"cannot allocate device memory (busy or exclusive-process device?): {exc}"
    try:
        a = cupy.arange(4, dtype="float32").reshape(2, 2)
        got = cupy.matmul(a, a).get().tolist()
    except Exception as exc:
        return False, f"a cuBLAS matmul failed (is cuBLAS installed?): {exc}"
    # [[0, 1], [2, 3]] squared
    if got != [[2.0, 3.0], [6.0, 11.0]]:
        return False, f"a cuBLAS matmul gave a wrong result: {got}"
    return True, "cuBLAS matmul and allocation work"


def _gpu_status_uncached():
    if cuda_simulator_enabled():
        return False, (
            "NUMBA_ENABLE_CUDASIM is set: numba.cuda runs in its CPU simulator, which cannot "
            "run kernels on CuPy arrays (unset the variable; in the tests set NOPRUNE_REAL_GPU=1)"
        )
    try:
        cupy = importlib.import_module("cupy")
    except ModuleNotFoundError:
        return False, "cupy is not installed"
    except Exception as exc:
        return False, f"cupy failed to import: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy sees no usable CUDA device: {exc}"
    if count < 1:
        return False, "CuPy sees no CUDA device"
    ok, why_numba = _probe_numba_cuda()
    if not ok:
        return False, why_numba
    ok, why = _probe_cupy_device(cupy)
    if not ok:
        return False, why
    try:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    except Exception:
        name = "unknown"
    return True, f"{count} CUDA device(s): {name}; {why_numba}; {why}"


@functools.cache
def gpu_status():
    """``(usable, reason)`` for the cupy backend.

    Usable means every one of these holds, checked in this order, the first failure giving the
    reason: the CUDA simulator is off (``NUMBA_ENABLE_CUDASIM`` unset; numba.cuda kernels under
    the simulator cannot take CuPy arrays), CuPy imports and sees a device, numba.cuda imports
    and loads the driver and libNVVM, 1 MiB of device memory can be allocated (not so on a busy
    exclusive-process device), and a 2 x 2 cuBLAS matmul gives the right numbers.

    The reason says what was found ("1 CUDA device(s): NVIDIA H100; ...") or why not.
    The result is cached for the process (``gpu_status.cache_clear()`` to probe again).
    """
    return _gpu_status_uncached()


def gpu_details():
    """Driver and runtime versions, compute capability and numba's CUDA implementation.

    Each entry is None where it cannot be found (no CuPy, no driver); nothing is raised.
    Used by ``noprune-theory info``.
    """
    out = {
        "driver_version": None,
        "runtime_version": None,
        "device": None,
        "compute_capability": None,
        "numba_cuda_implementation": None,
        "numba_cuda_module": None,
    }
    try:
        # which numba.cuda is installed is read without importing it under the driver
        spec = importlib.util.find_spec("numba_cuda")
        if spec is not None:
            out["numba_cuda_implementation"] = "NVIDIA numba-cuda"
            out["numba_cuda_module"] = spec.origin
        elif importlib.util.find_spec("numba") is not None:
            out["numba_cuda_implementation"] = "built-in numba.cuda (deprecated)"
    except Exception:
        pass
    if importlib.util.find_spec("cupy") is None:
        return out
    try:
        cupy = importlib.import_module("cupy")
        rt = cupy.cuda.runtime
        out["runtime_version"] = _cuda_version(rt.runtimeGetVersion())
        out["driver_version"] = _cuda_version(rt.driverGetVersion())
        if rt.getDeviceCount() > 0:
            dev = cupy.cuda.Device(0)
            cc = str(dev.compute_capability)
            out["compute_capability"] = f"{cc[:-1]}.{cc[-1]}" if len(cc) > 1 else cc
            props = rt.getDeviceProperties(0)
            name = props["name"]
            out["device"] = name.decode() if isinstance(name, bytes) else name
    except Exception:
        pass
    return out


def _cuda_version(v):
    # CUDA encodes versions as 1000 * major + 10 * minor; the driver version is 0 without a driver
    v = int(v)
    return f"{v // 1000}.{(v % 1000) // 10}" if v > 0 else None


def resolve_backend(name="auto"):
    """Return the concrete backend name for *name*.

    Parameters
    ----------
    name : {"auto", "numpy", "numba", "cupy"}, default "auto"
        ``auto`` picks ``cupy`` when a GPU is usable, else ``numba``, else ``numpy``.

    Returns
    -------
    str
        One of :data:`BACKENDS`.

    Raises
    ------
    ValueError
        For an unknown name.
    BackendUnavailableError
        When ``numba`` or ``cupy`` is asked for by name and cannot run here; the message says
        why, how to install it, and that ``auto`` would fall back.
    """
    if name is None:
        name = "auto"
    if name not in _CHOICES:
        listed = ", ".join(repr(c) for c in _CHOICES)
        raise ValueError(f"backend must be one of {listed}, got {name!r}")
    if name == "auto":
        if gpu_status()[0]:
            return "cupy"
        if numba_status()[0]:
            return "numba"
        return "numpy"
    if name == "cupy":
        ok, why = gpu_status()
        if not ok:
            raise BackendUnavailableError(
                f"backend 'cupy' is not usable here ({why}); {GPU_INSTALL_HINT}"
            )
    if name == "numba":
        ok, why = numba_status()
        if not ok:
            raise BackendUnavailableError(
                f"backend 'numba' is not usable here ({why}); backend='auto' falls back to numpy"
            )
    return name


@dataclass(frozen=True)
class Backend:
    """What a concrete backend means for the code that runs on it: the one table of kernels.

    Models and training ask this object which kernels to run instead of comparing backend
    names. Obtain it with :func:`get_backend`.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    update_kernels : {"xp", "cpu", "cuda"}
        The masked SGD/Adam update kernels of :func:`noprune_theory.training.train`: array
        expressions, ``noprune_theory.kernels.cpu`` (numba) or ``noprune_theory.kernels.cuda``
        (numba.cuda).
    fused_loss_grad : {None, "cpu", "cuda"}
        Where the fused loss-and-gradient kernels of ``MaskedMLP`` come from (None: the
        array-expression forward and backward passes).
    cuda_reductions : bool
        Whether the numba.cuda loss reductions run (the cupy backend).
    whole_run_training : bool
        Whether :func:`~noprune_theory.training.train` may hand sparse networks to the whole-run
        numba kernel (``noprune_theory.kernels.cpu_train``).
    knn_counts : {"tree", "numba", "cuda"}
        Where the k-NN searches and neighbour counts of the estimators run: cKDTree only,
        the numba kernels of ``noprune_theory.kernels.cpu_knn`` where they apply (cKDTree
        elsewhere), or the batched numba.cuda kernel of ``noprune_theory.kernels.cuda_knn``.
    """

    name: str
    update_kernels: str
    fused_loss_grad: str | None
    cuda_reductions: bool
    whole_run_training: bool
    knn_counts: str = "tree"

    @property
    def xp(self):
        """The array namespace (:mod:`numpy`, or :mod:`cupy`)."""
        return namespace_for(self.name)

    def kernel_module(self, which):
        """The module of kernel family *which* (``"cpu"`` or ``"cuda"``), imported lazily."""
        return importlib.import_module(f"noprune_theory.kernels.{which}")


_TABLE = {
    "numpy": Backend("numpy", "xp", None, False, False, "tree"),
    "numba": Backend("numba", "cpu", "cpu", False, True, "numba"),
    "cupy": Backend("cupy", "cuda", "cuda", True, False, "cuda"),
}


def cuda_simulator_backend():
    """Return the cupy backend's kernel table on NumPy arrays, for the CUDA simulator (tests).

    Every kernel family is the numba.cuda one (updates, fused loss and gradient, reductions,
    k-NN counts), the arrays NumPy's: under ``NUMBA_ENABLE_CUDASIM=1`` numba.cuda runs the
    kernels on the CPU, so the GPU code path runs without a GPU. Inject it with
    :meth:`MaskedMLP.use_kernel_table <noprune_theory.models.MaskedMLP.use_kernel_table>`.

    Returns
    -------
    Backend
        NumPy arrays, numba.cuda kernels for every family.

    Raises
    ------
    BackendUnavailableError
        When the simulator is off (the kernels would need a GPU and CuPy arrays).
    """
    if not cuda_simulator_enabled():
        raise BackendUnavailableError(
            "the CUDA simulator backend needs NUMBA_ENABLE_CUDASIM=1 (set before numba is "
            "imported)"
        )
    return Backend("numpy", "cuda", "cuda", True, False, "cuda")


def get_backend(name="auto", *, like=None):
    """The :class:`Backend` of *name*, resolved as :func:`resolve_backend` does.

    Parameters
    ----------
    name : {"auto", "numpy", "numba", "cupy"} or None, default "auto"
    like : sequence of arrays or None, default None
        The call's input arrays. With them, ``auto`` follows the data instead of the machine:
        ``cupy`` for CuPy arrays, else ``numba`` when numba imports, else ``numpy``, so
        ``auto`` never moves data between host and device. A concrete *name* ignores *like*.

    >>> get_backend("numpy").update_kernels
    'xp'
    >>> import numpy as np
    >>> get_backend("auto", like=[np.zeros(3)]).name in ("numba", "numpy")
    True
    """
    if like is not None and name in (None, "auto"):
        if any(type(a).__module__.split(".")[0] == "cupy" for a in like):
            return _TABLE[resolve_backend("cupy")]
        return _TABLE["numba" if numba_status()[0] else "numpy"]
    return _TABLE[resolve_backend(name)]


def namespace_for(backend):
    """The array module of a concrete backend: :mod:`numpy`, or :mod:`cupy` for ``cupy``."""
    if resolve_backend(backend) == "cupy":
        return importlib.import_module("cupy")
    return importlib.import_module("numpy")


def array_namespace(*arrays):
    """The array-API namespace shared by *arrays* (``None`` entries and scalars are ignored).

    Mixing array types (NumPy with CuPy, say) is an error, not a silent copy.

    Raises
    ------
    TypeError
        If the arrays belong to different libraries.
    """
    from array_api_compat import array_namespace as _ns

    arrays = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool))]
    try:
        return _ns(*arrays)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays})
        raise TypeError(
            "arrays of different libraries were mixed in one call ("
            + ", ".join(kinds)
            + "); move them to one library first (noprune_theory.backend.to_numpy, or "
            "cupy.asarray)"
        ) from exc


def available_memory(backend="numpy"):
    """Return the bytes of memory free for the arrays of *backend*, as the system reports it.

    On ``cupy``, the free memory of the current GPU; else the host's available memory
    (``MemAvailable`` of Linux ``/proc/meminfo``; 2 GiB when it cannot be read).

    Parameters
    ----------
    backend : {"numpy", "numba", "cupy", "auto"}, default "numpy"
        The array library whose memory is asked for (``auto`` as :func:`resolve_backend`).

    Returns
    -------
    int
        Free bytes: device memory on ``cupy``, else the host's available memory.
    """
    if resolve_backend(backend) == "cupy":
        cupy = importlib.import_module("cupy")
        free, _ = cupy.cuda.Device().mem_info
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2 * 2**30


def to_numpy(x):
    """Copy any array (NumPy, CuPy, array-API) to a NumPy array on the host."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return x
    get = getattr(x, "get", None)  # cupy
    if callable(get) and type(x).__module__.startswith("cupy"):
        return get()
    try:
        return np.asarray(x)
    except Exception:
        return np.from_dlpack(x)


def backend_info():
    """A dict of versions and backend availability, as printed by ``noprune-theory info``."""
    import platform
    import sys

    from noprune_theory import __version__

    def version(mod):
        if importlib.util.find_spec(mod) is None:
            return None
        try:
            return importlib.import_module(mod).__version__
        except Exception as exc:  # pragma: no cover - broken installs
            return f"broken ({exc})"

    numba_ok, numba_why = numba_status()
    gpu_ok, gpu_why = gpu_status()
    numba_cuda = None
    if importlib.util.find_spec("numba_cuda") is not None:
        try:
            numba_cuda = importlib.import_module("numba_cuda").__version__
        except Exception:
            numba_cuda = "installed"
    return {
        "noprune_theory": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {
            "numpy": version("numpy"),
            "scipy": version("scipy"),
            "sympy": version("sympy"),
            "numba": version("numba"),
            "numba_cuda": numba_cuda,
            "cupy": version("cupy"),
            "dask": version("dask"),
            "distributed": version("distributed"),
        },
        "backends": {
            "numpy": {"usable": True, "reason": "always available"},
            "numba": {"usable": numba_ok, "reason": numba_why},
            "cupy": {"usable": gpu_ok, "reason": gpu_why},
        },
        "gpu": gpu_details(),
        "cuda_simulator": cuda_simulator_enabled(),
        "real_gpu_mode": real_gpu_mode(),
        "auto": resolve_backend("auto"),
    }
