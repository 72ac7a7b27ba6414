"""Validation and preprocessing shared by the k-NN estimators (explicit, seeded, documented).

Where this sits: every public estimator calls :func:`as_samples` / :func:`as_batch` to validate
its arrays, then :func:`prepare` to centre, scale and jitter them, then a kernel from
``noprune_theory.kernels``. The array code is generic over the array namespace (NumPy, CuPy,
``array_api_strict``), so the batched GPU path preprocesses on the device.

The steps of :func:`prepare`, per variable, per column, in this order:

1. centre (subtract the column mean). k-NN estimators are translation invariant, so this
   changes no count; it keeps the jitter of step 3 far above the float resolution of the data
   (scikit-learn neither centres nor scales its noise to the spread: a constant column at
   ``n = 1e6`` then has many exact ties and a spurious MI that grows with ``n``);
2. scale: ``"std"`` divides by the column's standard deviation (``ddof=0``); ``"rank"``
   replaces the column by its average ranks (a copula transform: then the estimate is exactly
   invariant under strictly increasing maps of each column) and standardizes the ranks;
   ``"none"`` keeps the scale;
3. jitter: add ``jitter * spread_j * N(0, 1)`` noise to column j, where ``spread_j`` is the
   column's standard deviation after step 2 (1 after ``"std"`` and ``"rank"``). A constant
   column has spread 0 and stays exactly constant: a constant carries no information and must
   not become a continuous variable.

The noise of step 3 is the *only* randomness of the estimators: it is drawn on the host by
``numpy.random.default_rng(seed)``, as ``standard_normal`` arrays of each variable's shape, in
argument order (x, then y, then z), so CPU and GPU runs of one seed see the same noise, and
``ksg_mi(x, y)`` equals ``ksg_mi_batch(x[None], y[None])[0]``. With ``jitter=0`` nothing is
drawn.
"""
from __future__ import annotations

import numpy as np

from noprune_theory._validation import check_choice, check_finite_array, check_scalar

STANDARDIZE = ("std", "rank", "none")


def check_standardize(standardize):
    """Accept ``True``/``False`` as ``"std"``/``"none"``; else one of :data:`STANDARDIZE`."""
    if standardize is True:
        return "std"
    if standardize is False or standardize is None:
        return "none"
    return check_choice(standardize, "standardize", STANDARDIZE)


def check_jitter(jitter):
    return check_scalar(jitter, "jitter", low=0)


def check_base(base):
    """``None`` or ``"e"`` means nats; else a number > 0 and != 1. Returns the divisor."""
    if base is None or (isinstance(base, str) and base.strip().lower() in ("e", "nats")):
        return 1.0
    if isinstance(base, str) and base.strip().lower() == "bits":
        return float(np.log(2.0))
    # text=True keeps this function's behaviour: `mi --base 2` passes the option's text here
    value = check_scalar(base, "base", low=0, low_inclusive=False, text=True)
    if value == 1:
        raise ValueError(f"base must be a number > 0 other than 1 (None for nats), got {base!r}")
    return float(np.log(value))


def check_k(k, n, name="k"):
    """k must be an integer in [1, n - 1]: the k-th neighbour of a point must exist."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        # floats such as 3.0 are accepted, 3.5 is not
        k = check_scalar(k, name, integer=True, low=1)
    if k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    if k >= n:
        raise ValueError(
            f"{name} must be an integer < the number of samples n = {n} (the k-th neighbour "
            f"of a point must exist), got {k!r}"
        )
    return int(k)


def check_seed(seed):
    """``None``, a non-negative integer, or a :class:`numpy.random.Generator`."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return int(seed)
    raise ValueError(
        f"seed must be None, an integer >= 0 or a numpy.random.Generator, got {seed!r}"
    )


def as_samples(x, name):
    """Validate one variable and return it as a float64 NumPy array of shape (n, d).

    Accepts array-likes of shape (n,) or (n, d) holding real numbers; raises ValueError naming
    *name* for any other shape, an empty array, NaN or inf, or a non-numeric dtype.
    """
    from noprune_theory.backend import to_numpy

    if isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "__array_namespace__"):  # CuPy, array_api_strict, ...: copy to the host
        arr = to_numpy(x)
    else:
        arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one column, got shape "
                         f"{arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    check_finite_array(arr, name, xp=np)
    return arr


def same_length(**arrays):
    """Raise ValueError unless all arrays have the same number of samples (axis -2)."""
    lengths = {name: a.shape[-2] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {m}" for name, m in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must have the same number of samples; {listed}")
    return next(iter(lengths.values()))


def as_batch(x, name, xp):
    """Validate a batch of problems: an array of shape (P, n, d) (or (P, n), read as d = 1),
    real, finite; returned as float64 in namespace *xp*."""
    if x.ndim == 2:
        x = xp.reshape(x, (x.shape[0], x.shape[1], 1))
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (P, n, d) or (P, n), got shape {tuple(x.shape)}")
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if not (xp.isdtype(x.dtype, "real floating") or xp.isdtype(x.dtype, "integral")
            or x.dtype == xp.bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = xp.astype(x, xp.float64)
    check_finite_array(x, name, xp=xp)
    return x


def draw_noise(seed, shapes, jitter):
    """Standard normal arrays of the given shapes from ``default_rng(seed)``, in order; None
    for each when ``jitter == 0`` (then nothing is drawn)."""
    if jitter == 0:
        return [None] * len(shapes)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _average_ranks(xp, a):
    """Average ranks (0-based) along axis -2 of an array (..., n, d), generic over xp."""
    n = a.shape[-2]
    moved = xp.reshape(xp.permute_dims(a, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2)), (-1, n))
    rows = []
    for r in range(moved.shape[0]):
        col = moved[r, :]
        srt = xp.sort(col)
        left = xp.searchsorted(srt, col, side="left")
        right = xp.searchsorted(srt, col, side="right")
        rows.append((xp.astype(left, xp.float64) + xp.astype(right, xp.float64) - 1.0) / 2.0)
    ranks = xp.reshape(xp.stack(rows), (*a.shape[:-2], a.shape[-1], n))
    return xp.permute_dims(ranks, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


def prepare(a, *, standardize, jitter, noise, xp=None):
    """Centre, scale and jitter the columns of *a* (shape (..., n, d)); see the module notes.

    Parameters
    ----------
    a : array (..., n, d), float64
    standardize : {"std", "rank", "none"}
    jitter : float >= 0
    noise : NumPy array of a's shape, or None (no jitter)

    Returns
    -------
    prepared : array of a's shape and namespace
    constant : boolean array (..., 1, d), True for columns with zero spread
    """
    if xp is None:
        from noprune_theory.backend import array_namespace

        xp = array_namespace(a)
    # Exact test on the raw values: a mean of n equal floats need not equal them, so a
    # constant column is detected by max == min and set to exact zeros.
    constant = xp.max(a, axis=-2, keepdims=True) == xp.min(a, axis=-2, keepdims=True)
    a = a - xp.mean(a, axis=-2, keepdims=True)
    a = xp.where(constant, xp.zeros_like(a), a)
    if standardize == "rank":
        a = _average_ranks(xp, a)
        a = a - xp.mean(a, axis=-2, keepdims=True)
        a = xp.where(constant, xp.zeros_like(a), a)
    spread = xp.where(constant, xp.zeros((), dtype=xp.float64),
                      xp.std(a, axis=-2, keepdims=True))
    if standardize in ("std", "rank"):
        a = a / xp.where(constant, xp.ones_like(spread), spread)
        spread = xp.where(constant, xp.zeros_like(spread), xp.ones_like(spread))
    if noise is not None and jitter > 0:
        a = a + (jitter * spread) * xp.asarray(noise, dtype=xp.float64)
    return a, constant
