"""Data for the simulations: isoperimetric synthetic laws (Gaussian, sphere, mixtures, noisy
labels) and labelled real data (:func:`classification_data`).

Where this sits in the data flow: ``data`` makes the inputs ``X`` (n, d) and labels ``y`` (n,)
that :mod:`noprune_theory.models` fit and :mod:`noprune_theory.training` drives to
interpolation; the measured Lipschitz constants are then compared with the bounds of
:mod:`noprune_theory.theory`.

Every function is seeded (``seed`` feeds :func:`numpy.random.default_rng`) and returns NumPy
arrays on the host (float64 unless ``dtype`` says otherwise); move them to a GPU with
``cupy.asarray`` when needed. The laws are the c-isoperimetric ones of [BS] Sec. 1 (docs/theory.md,
sec. 1): ``N(0, I_d / d)`` and the uniform law on the unit sphere, both with c = O(1), and
finite mixtures of them.

References
----------
.. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021.
.. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to
   Pruning at Initialization", ICML 2024, Sec. 5.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory._validation import check_choice, check_scalar, check_seed

#: what a ``seed`` argument takes (see :func:`noprune_theory._validation.check_seed`)
Seed: TypeAlias = "int | np.random.Generator"

__all__ = [
    "TeacherStudent",
    "classification_data",
    "gaussian",
    "mixture",
    "noisy_labels",
    "random_labels",
    "sphere",
    "teacher_student",
]

_DTYPES = ("float32", "float64")


def _check_nd(n, d):
    n = check_scalar(n, "n", integer=True, low=1)
    d = check_scalar(d, "d", integer=True, low=1)
    return n, d


def _check_seed(seed):
    return check_seed(seed)


def gaussian(n: int, d: int, seed: Seed = 0, *,
             dtype: Literal["float32", "float64"] = "float64") -> NDArray[np.floating]:
    """Draw n points from the isotropic Gaussian ``N(0, I_d / d)``.

    Parameters
    ----------
    n, d : int
        Number of points (>= 1) and dimension (>= 1).
    seed : int >= 0 or numpy.random.Generator, default 0
        Seeds :func:`numpy.random.default_rng`; the only randomness is the draw of the points.
    dtype : {"float32", "float64"}, default "float64"
        Floating type of the points.

    Returns
    -------
    ndarray, shape (n, d)
        The points, one per row.

    Notes
    -----
    Each coordinate has variance ``1/d``, so ``E ||x||^2 = 1``: the scale of [BS] Sec. 1, for
    which the law is c-isoperimetric with a constant c that does not depend on d.

    Examples
    --------
    >>> X = gaussian(1000, 50, seed=1)
    >>> X.shape
    (1000, 50)
    >>> bool(abs((X ** 2).sum(axis=1).mean() - 1.0) < 0.05)
    True
    """
    n, d = _check_nd(n, d)
    check_choice(dtype, "dtype", _DTYPES)
    rng = np.random.default_rng(_check_seed(seed))
    X = rng.standard_normal((n, d))
    X /= np.sqrt(d)  # in place: one (n, d) array, the numbers of X / sqrt(d)
    return X if dtype == "float64" else X.astype(dtype)


def sphere(n: int, d: int, seed: Seed = 0, *,
           dtype: Literal["float32", "float64"] = "float64") -> NDArray[np.floating]:
    """Draw n points uniformly from the unit sphere ``S^{d-1}`` in ``R^d``.

    Parameters
    ----------
    n, d : int
        Number of points (>= 1) and dimension (>= 2).
    seed : int >= 0 or numpy.random.Generator, default 0
        Seeds :func:`numpy.random.default_rng`; the only randomness is the draw of the points.
    dtype : {"float32", "float64"}, default "float64"
        Floating type of the points.

    Returns
    -------
    ndarray, shape (n, d)
        The points, one per row, every row of unit Euclidean norm.

    Notes
    -----
    A standard Gaussian vector divided by its norm is uniform on the sphere (rotation
    invariance). The uniform law on the sphere is c-isoperimetric with c = O(1) ([BS] Sec. 1).

    Examples
    --------
    >>> X = sphere(5, 3, seed=0)
    >>> np.allclose(np.linalg.norm(X, axis=1), 1.0)
    True
    """
    n = check_scalar(n, "n", integer=True, low=1)
    d = check_scalar(d, "d", integer=True, low=2)
    check_choice(dtype, "dtype", _DTYPES)
    rng = np.random.default_rng(_check_seed(seed))
    g = rng.standard_normal((n, d))
    # in place and in blocks of rows: no (n, d) temporary (the norm of a row is computed
    # alone, so the numbers are those of one pass over all rows)
    step = max(1, 2**20 // d)
    for start in range(0, n, step):
        block = g[start:start + step]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return g if dtype == "float64" else g.astype(dtype)


def mixture(n: int, d: int, k: int = 2, seed: Seed = 0, *, separation: float = 1.0,
            base: Literal["gaussian", "sphere"] = "gaussian", scale: float = 1.0,
            dtype: Literal["float32", "float64"] = "float64",
            ) -> tuple[NDArray[np.floating], NDArray[np.int64]]:
    """Draw n points from an equal-weight mixture of k shifted isoperimetric components.

    Parameters
    ----------
    n, d : int
        Number of points (>= 1) and dimension (>= 2 for ``base="sphere"``).
    k : int >= 1, default 2
        Number of components.
    seed : int >= 0 or numpy.random.Generator, default 0
        Controls the centres, the component of each point and the points themselves.
    separation : float >= 0, default 1.0
        Norm of every centre; centres are uniform on the sphere of that radius.
    base : {"gaussian", "sphere"}, default "gaussian"
        Law of each component around its centre: ``N(0, scale^2 I_d / d)`` or uniform on the
        sphere of radius ``scale``.
    scale : float > 0, default 1.0
        Spread of each component around its centre (see *base*).
    dtype : {"float32", "float64"}, default "float64"
        Floating type of the points.

    Returns
    -------
    X : ndarray, shape (n, d)
        The points, one per row.
    component : ndarray of int64, shape (n,)
        Index in ``[0, k)`` of the component each point came from.

    Notes
    -----
    The theorems of [BS] and [NFP] allow the data law to be a mixture of k c-isoperimetric
    components; the bound then needs ``n eps^2 >= 8^3 k log(8k/delta)`` (docs/theory.md, sec. 3).

    Examples
    --------
    >>> X, comp = mixture(100, 10, k=3, seed=0)
    >>> X.shape, sorted(set(comp.tolist()))
    ((100, 10), [0, 1, 2])
    """
    n, d = _check_nd(n, d)
    k = check_scalar(k, "k", integer=True, low=1)
    separation = check_scalar(separation, "separation", low=0)
    scale = check_scalar(scale, "scale", low=0, low_inclusive=False)
    check_choice(base, "base", ("gaussian", "sphere"))
    check_choice(dtype, "dtype", _DTYPES)
    if base == "sphere" and d < 2:
        raise ValueError(f"d must be an integer >= 2 for base='sphere', got {d}")
    rng = np.random.default_rng(_check_seed(seed))
    c = rng.standard_normal((k, d))
    centres = separation * c / np.linalg.norm(c, axis=1, keepdims=True)
    component = rng.integers(0, k, size=n)
    g = rng.standard_normal((n, d))
    if base == "gaussian":
        noise = scale * g / np.sqrt(d)
    else:
        noise = scale * g / np.linalg.norm(g, axis=1, keepdims=True)
    return (centres[component] + noise).astype(dtype), component.astype(np.int64)


def random_labels(n: int, seed: Seed = 0, *,
                  dtype: Literal["float32", "float64", "int64"] = "float64") -> NDArray[Any]:
    """Draw labels +1 or -1 with probability 1/2 each, independent of everything else.

    This is the pure-noise regime of the memorization experiment ([NFP] Sec. 5,
    docs/simulations.md): ``E[y | x] = 0`` and the noise level is ``sigma^2 = 1``.

    Parameters
    ----------
    n : int >= 1
        Number of labels.
    seed : int >= 0 or numpy.random.Generator, default 0
        Seeds :func:`numpy.random.default_rng`; the only randomness is the draw of the labels.
    dtype : {"float32", "float64", "int64"}, default "float64"
        Type of the labels.

    Returns
    -------
    ndarray, shape (n,)
        The labels, values in {-1, +1}.

    Examples
    --------
    >>> y = random_labels(6, seed=3)
    >>> sorted(set(y.tolist())) <= [-1.0, 1.0]
    True
    """
    n = check_scalar(n, "n", integer=True, low=1)
    check_choice(dtype, "dtype", _DTYPES + ("int64",))
    rng = np.random.default_rng(_check_seed(seed))
    return (2 * rng.integers(0, 2, size=n) - 1).astype(dtype)


def noisy_labels(X: ArrayLike, target: Callable[[NDArray[Any]], ArrayLike] | None = None,
                 sigma: float = 1.0, seed: Seed = 0, *, return_noise: bool = False,
                 ) -> NDArray[np.floating] | tuple[NDArray[np.floating], NDArray[np.float64]]:
    """Draw labels ``y = f*(x) + sigma z`` with ``z ~ N(0, 1)`` i.i.d., once.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Inputs, finite.
    target : callable or None, default None
        ``f*``: maps ``X`` (n, d) to an array of n values; ``None`` means ``f* = 0``.
    sigma : float >= 0, default 1.0
        Noise standard deviation; the noise level of [BS] is ``sigma^2``.
    seed : int >= 0 or numpy.random.Generator, default 0
        Controls the noise ``z`` only.
    return_noise : bool, default False
        Also return ``z``, which the label-noise correlation
        ``corr = (1/n) sum_i (f(x_i) - E f) z_i`` of [NFP] Sec. 5 needs held fixed.

    Returns
    -------
    y : ndarray, shape (n,)
        The labels, in X's floating type (float64 for integer X).
    z : ndarray, shape (n,)
        The standard normal draws; only with ``return_noise=True``.

    Examples
    --------
    >>> X = gaussian(4, 2, seed=0)
    >>> y, z = noisy_labels(X, lambda X: X[:, 0], sigma=0.5, return_noise=True)
    >>> np.allclose(y, X[:, 0] + 0.5 * z)
    True
    """
    X = _check_X(X)
    sigma = check_scalar(sigma, "sigma", low=0)
    n = X.shape[0]
    rng = np.random.default_rng(_check_seed(seed))
    z = rng.standard_normal(n)
    if target is None:
        f = np.zeros(n)
    else:
        if not callable(target):
            raise TypeError(f"target must be a callable or None, got {type(target).__name__}")
        f = np.asarray(target(X), dtype=np.float64).reshape(-1)
        if f.shape != (n,):
            raise ValueError(f"target(X) must give n = {n} values, got shape {f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError("target(X) must not contain NaN or inf")
    y = (f + sigma * z).astype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
    return (y, z) if return_noise else y


def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must have 2 axes (n, d), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must not contain NaN or inf")
    return X


@dataclass(frozen=True)
class TeacherStudent:  # numpydoc ignore=PR01
    """A student-teacher data set (see :func:`teacher_student`).

    Attributes
    ----------
    X : ndarray (n, d)
        Inputs.
    y : ndarray (n,)
        Labels ``f*(x) + sigma z``.
    target : ndarray (n,)
        The teacher's outputs ``f*(x)``.
    noise : ndarray (n,)
        The standard normal draws ``z`` (fixed, for the noise-correlation measurement).
    sigma : float
        The noise standard deviation.
    teacher : noprune_theory.models.MaskedMLP
        The teacher network (B = 1).
    """

    X: np.ndarray
    y: np.ndarray
    target: np.ndarray
    noise: np.ndarray
    sigma: float
    teacher: object


def teacher_student(
    n: int = 1000,
    d: int = 50,
    *,
    teacher_hidden: Sequence[int] = (50, 50),
    sigma: float = 1.0,
    activation: str = "relu",
    inputs: Literal["gaussian", "sphere"] = "gaussian",
    seed: int = 0,
    dtype: Literal["float32", "float64"] = "float64",
) -> TeacherStudent:
    """Student-teacher regression data as in the label-noise experiment of [NFP] Sec. 5.

    A random teacher MLP ``f*`` (hidden widths ``teacher_hidden``, NTK scaling so that its
    output is O(1) at any width) labels inputs from ``inputs`` with Gaussian noise:
    ``y = f*(x) + sigma z``. The paper uses a teacher of depth 3 and width 50 (the default,
    ``teacher_hidden=(50, 50)``: three weight layers), n = 1000, d = 50 and sigma^2 = 1
    ([NFP] Sec. 5).

    Parameters
    ----------
    n, d : int >= 1
        Number of points and input dimension.
    teacher_hidden : tuple of int, default (50, 50)
        Hidden widths of the teacher.
    sigma : float >= 0, default 1.0
        Noise standard deviation; the noise level is ``sigma^2``.
    activation : str, default "relu"
        Any activation of :data:`noprune_theory.models.ACTIVATIONS`.
    inputs : {"gaussian", "sphere"}, default "gaussian"
    seed : int >= 0, default 0
        Seeds the inputs, the teacher's weights and the noise (three independent streams
        spawned from it).
    dtype : {"float32", "float64"}, default "float64"

    Returns
    -------
    TeacherStudent
        ``X`` (n, d), ``y`` (n,), ``target`` (n,), ``noise`` (n,), ``sigma``, ``teacher``.

    Examples
    --------
    >>> data = teacher_student(n=20, d=5, teacher_hidden=(8,), seed=0)
    >>> data.X.shape, data.y.shape
    ((20, 5), (20,))
    >>> np.allclose(data.y, data.target + data.noise)
    True
    """
    from noprune_theory.models import MaskedMLP

    n, d = _check_nd(n, d)
    seed = check_seed(seed, generator=False)  # an int: it feeds SeedSequence(seed).spawn
    check_choice(inputs, "inputs", ("gaussian", "sphere"))
    check_choice(dtype, "dtype", _DTYPES)
    sigma = check_scalar(sigma, "sigma", low=0)
    hidden = tuple(teacher_hidden) if np.iterable(teacher_hidden) else (teacher_hidden,)
    s_x, s_w, s_z = np.random.SeedSequence(seed).spawn(3)
    X = (gaussian if inputs == "gaussian" else sphere)(n, d, np.random.default_rng(s_x))
    teacher = MaskedMLP(
        d,
        hidden,
        1,
        B=1,
        activation=activation,
        bias=False,
        scaling="ntk",
        dtype="float64",
        backend="numpy",
        seed=int(s_w.generate_state(1)[0]),
    )
    f = np.asarray(teacher.forward(X))[0, :, 0]
    z = np.random.default_rng(s_z).standard_normal(n)
    y = f + sigma * z
    return TeacherStudent(
        X=X.astype(dtype),
        y=y.astype(dtype),
        target=f.astype(dtype),
        noise=z.astype(dtype),
        sigma=sigma,
        teacher=teacher,
    )


#: How to get scikit-learn, which ships the digits images (an optional dependency).
DIGITS_INSTALL_HINT = (
    "the digits images ship with scikit-learn, which is not installed: "
    "pip install 'noprune-theory[digits]' (or pip install scikit-learn), "
    "or give your own arrays as a .npz file with X and y"
)
_RESCALES = ("unit", "none")


def classification_data(
    source: str | os.PathLike[str] | tuple[ArrayLike, ArrayLike] = "digits",
    labels: str | os.PathLike[str] | None = None, *,
    rescale: Literal["unit", "none"] = "unit",
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Labelled examples ``(X, y)`` for a real-data experiment, checked and flattened.

    Parameters
    ----------
    source : "digits", str or path, or tuple (X, y), default "digits"
        ``"digits"``: scikit-learn's 1,797 handwritten digits (8 x 8 images, 10 classes,
        pixels 0..16, shipped inside scikit-learn: no download). A path: a ``.npz`` file
        holding the arrays ``X`` and ``y``, or a ``.npy`` file holding ``X`` (then *labels*
        names the ``.npy`` file of ``y``). A pair ``(X, y)`` of arrays is checked the same way.
    labels : str or path, optional
        The ``.npy`` file of the labels when *source* is a ``.npy`` file; not allowed otherwise.
    rescale : {"unit", "none"}, default "unit"
        ``"unit"`` maps the inputs affinely onto [0, 1], ``(X - min X) / (max X - min X)`` over
        the whole array (pixels 0..16 become 0, 1/16, ..., 1; 8-bit images 0..255 become
        x / 255 when both ends occur), the scale of torchvision's ``ToTensor``; ``"none"``
        keeps the values.

    Returns
    -------
    X : ndarray of float64, shape (n, d)
        One example per row; image axes after the first are flattened.
    y : ndarray of int64, shape (n,)
        Class labels coded ``0 .. C-1`` with ``C >= 2``.

    Raises
    ------
    ImportError
        For ``"digits"`` when scikit-learn is missing; the message says how to get it.
    ValueError
        A file that is missing or not ``.npy``/``.npz``, an ``.npz`` without ``X`` or ``y``,
        inputs that are not real numbers or hold NaN/inf, fewer than 2 examples, labels that
        are not integers coded ``0 .. C-1`` with ``C >= 2``, or ``len(y) != len(X)``.

    Notes
    -----
    Labels must already be coded ``0 .. C-1``: a silent recoding of, say, ``1 .. 10`` would
    hide a shifted class. Float labels are accepted when every value is a whole number (files
    written by tools that store everything as float).

    Examples
    --------
    >>> X, y = classification_data((np.arange(12.0).reshape(4, 3), np.array([0, 1, 1, 0])))
    >>> X.shape, float(X.min()), float(X.max()), y.tolist()
    ((4, 3), 0.0, 1.0, [0, 1, 1, 0])
    """
    check_choice(rescale, "rescale", _RESCALES)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise ValueError(f"source must be a pair (X, y), got a tuple of {len(source)}")
        if labels is not None:
            raise ValueError("labels is only for a .npy source; the pair (X, y) has its labels")
        X, y = source
        where = "X", "y"
    elif isinstance(source, str) and source == "digits":
        if labels is not None:
            raise ValueError("labels is only for a .npy source; the digits have their labels")
        X, y = _load_digits()
        where = "the digits' X", "the digits' y"
    elif isinstance(source, (str, os.PathLike)):
        X, y, where = _load_arrays(Path(source), labels)
    else:
        raise TypeError(f"source must be 'digits', a path or a pair (X, y), "
                        f"got {type(source).__name__}")
    X, y = _check_classification(X, y, where)
    if rescale == "unit":
        lo, hi = X.min(), X.max()
        if hi == lo:
            raise ValueError(f"{where[0]} is constant ({lo:g}): it cannot be rescaled to [0, 1]")
        X = (X - lo) / (hi - lo)
    return X, y


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(DIGITS_INSTALL_HINT) from None
    X, y = load_digits(return_X_y=True)
    return X, y


def _load_arrays(path, labels):
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise ValueError(f"data file must be a .npz (arrays X and y) or .npy (X) file, "
                         f"got {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    if suffix == ".npz":
        if labels is not None:
            raise ValueError(f"labels is only for a .npy data file; {str(path)!r} holds y")
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "y") if k not in archive.files]
            if missing:
                raise ValueError(f"{str(path)!r} must hold arrays named X and y; it has "
                                 f"{', '.join(archive.files) or 'none'}")
            return archive["X"], archive["y"], (f"X of {str(path)!r}", f"y of {str(path)!r}")
    if labels is None:
        raise ValueError(f"a .npy data file holds X only: give its labels as a .npy file "
                         f"(labels / labels_file) for {str(path)!r}")
    lpath = Path(labels)
    if lpath.suffix.lower() != ".npy" or not lpath.is_file():
        raise ValueError(f"labels file must be an existing .npy file, got {str(lpath)!r}")
    return (_load_npy(path), _load_npy(lpath),
            (f"X of {str(path)!r}", f"y of {str(lpath)!r}"))


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickles, which could run code
        raise ValueError(f"{str(path)!r} cannot be read without pickles: {exc}") from None


def _check_classification(X, y, where):
    wx, wy = where
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype == bool or not (np.issubdtype(X.dtype, np.integer)
                               or np.issubdtype(X.dtype, np.floating)):
        raise ValueError(f"{wx} must hold real numbers, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"{wx} must have shape (n, d) or (n, ...) images, got shape {X.shape}")
    if X.shape[0] < 2 or X[0].size < 1:
        raise ValueError(f"{wx} must hold at least 2 examples of at least 1 value, "
                         f"got shape {X.shape}")
    X = X.reshape(X.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{wx} must not contain NaN or inf")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{wy} must have shape ({X.shape[0]},), one label per example, "
                         f"got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{wy} must hold whole-number class labels, got non-integer values")
    elif y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{wy} must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    classes = int(y.max()) + 1
    present = np.unique(y)
    if y.min() < 0 or classes < 2 or len(present) != classes:
        raise ValueError(f"{wy} must hold class labels coded 0 .. C-1 with every class present "
                         f"and C >= 2, got the values {_few(present)}")
    return X, y


def _few(values, k=6):
    text = ", ".join(str(int(v)) for v in values[:k])
    return text + (", ..." if len(values) > k else "")
