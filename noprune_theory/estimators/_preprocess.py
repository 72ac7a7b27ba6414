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
2. scale: (first, magnitudes beyond ``2**+-400`` are brought back by a power of two, which
   is exact: per column for ``"std"`` and ``"rank"``, and for ``"none"`` by one common factor
   for all the variables of a call, see :func:`common_scale`) ``"std"`` divides by the
   column's standard deviation (``ddof=0``); ``"rank"`` replaces the column by its average
   ranks (a copula transform: then the estimate is exactly invariant under strictly
   increasing maps of each column) and standardizes the ranks;
   ``"none"`` keeps the scale;
3. jitter: add ``jitter * spread_j * N(0, 1)`` noise to column j, where ``spread_j`` is the
   column's standard deviation after step 2 (1 after ``"std"`` and ``"rank"``). A constant
   column has spread 0 and stays exactly constant: a constant carries no information and must
   not become a continuous variable.

Two checks surround these steps: :func:`check_ties` refuses repeated points (any with
``jitter=0``, heavy ties with jitter), and :func:`same_columns` / :func:`apply_same_columns`
give a column that is a copy of an earlier one (up to sign, after scaling) the very same
values and noise, so that I(X; Y | Y) is 0 and not the noise's difference.

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


def reject_text(value, name, expected):
    """Numbers given as text are parsed by the command line, never by the API: a string where
    a number belongs is a TypeError naming the argument."""
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        raise TypeError(f"{name} must be {expected}, got the string {value!r} (numbers are "
                        f"not parsed from text here)")
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        raise TypeError(f"{name} must be {expected}, got an array of dtype {value.dtype}")


def check_jitter(jitter):
    reject_text(jitter, "jitter", "a number >= 0")
    return check_scalar(jitter, "jitter", low=0)


#: Names accepted by ``base=`` besides numbers.
BASE_NAMES = {"e": 1.0, "nats": 1.0, "bits": float(np.log(2.0))}


def check_base(base):
    """``None``, ``"e"`` or ``"nats"`` means nats, ``"bits"`` base 2; else a number > 1.

    Returns the divisor ``log(base)``. A base in (0, 1) would have a negative logarithm and
    turn every information into a negative number, so it is refused. Numbers given as text
    (``"2"``) raise TypeError: the command line parses text, the API does not.
    """
    if base is None:
        return 1.0
    if isinstance(base, str) and base.strip().lower() in BASE_NAMES:
        return BASE_NAMES[base.strip().lower()]
    reject_text(base, "base", "a number > 1, None, 'e', 'nats' or 'bits'")
    try:
        value = check_scalar(base, "base", low=1, low_inclusive=False)
    except ValueError:
        raise ValueError(f"base must be a number > 1 (None or 'e' for nats, 2 or 'bits' for "
                         f"bits), got {base!r}") from None
    return float(np.log(value))


def log_base_divisor(base: float | str | None) -> float:
    """Compute the number that turns nats into units of *base*: ``log(base)``.

    The estimators' ``base=`` argument, validated on its own (the ``mi`` command checks
    ``--base`` with it before loading any data).

    Parameters
    ----------
    base : float, {"e", "nats", "bits"} or None
        None, ``"e"`` and ``"nats"`` mean nats, ``"bits"`` base 2; else a number > 1.

    Returns
    -------
    float
        ``log(base)``: divide an information in nats by it.

    Raises
    ------
    ValueError
        For a number <= 1 (or NaN, inf).
    TypeError
        For text other than the names above (numbers given as text included).

    Examples
    --------
    >>> log_base_divisor("bits") == log_base_divisor(2)
    True
    >>> log_base_divisor(None)
    1.0
    """
    return check_base(base)


def check_k(k, n, name="k"):
    """k must be an integer in [1, n - 1]: the k-th neighbour of a point must exist."""
    reject_text(k, name, "an integer >= 1")
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


#: Magnitudes 2**-SAFE_EXPONENT .. 2**SAFE_EXPONENT are used as they are; outside, a column (or,
#: with ``standardize="none"``, every variable of the call together) is multiplied by a power
#: of two first. Inside the range no sum of squares of 2**30 values overflows or loses bits to
#: subnormals, so the mean and standard deviation are exact to rounding.
SAFE_EXPONENT = 400


def _power_of_two_scale(maxabs):
    """Exponents e (NumPy int64, same shape as *maxabs*) such that ``maxabs * 2**e`` is in
    [0.5, 1), and 0 where the magnitude is already inside the safe range or zero."""
    maxabs = np.asarray(maxabs, dtype=np.float64)
    _, exponent = np.frexp(maxabs)
    outside = (maxabs > 0) & (np.abs(exponent) > SAFE_EXPONENT)
    return np.where(outside, -exponent, 0).astype(np.int64)


def _times_power_of_two(a, exponent, xp):
    """``a * 2**exponent``, exact, in two steps so that 2**exponent itself never overflows
    (subnormal data needs factors above 2**1023)."""
    half = exponent // 2
    for part in (half, exponent - half):
        a = a * xp.asarray(np.ldexp(1.0, part))
    return a


def common_scale(arrays, names, xp=None):
    """Scale every array by one power of two so the largest magnitude is in the safe range.

    For ``standardize="none"``, where the relative scale of the variables is part of the
    estimate: multiplying all of them by the same power of two changes no comparison of
    distances (it is exact in floating point), and keeps ``x * 1e300`` from overflowing to inf
    in the centring or the distances. Works per problem for batches (arrays (P, n, d)).

    Returns
    -------
    scaled : list of arrays
    log_factor : NumPy array (one value, or one per problem), the natural log of the factor
        applied (an entropy in the original units adds ``-d * log_factor``).

    Raises
    ------
    ValueError
        If the variables' magnitudes are so far apart that the common factor would lose bits
        of the smallest ones (a span of more than about 600 orders of magnitude).
    """
    from noprune_theory.backend import to_numpy

    if xp is None:
        from noprune_theory.backend import array_namespace

        xp = array_namespace(*arrays)
    batch = arrays[0].ndim == 3
    axes = (-2, -1)
    peaks = [to_numpy(xp.max(xp.abs(a), axis=axes)) for a in arrays]
    peak = np.max(np.stack(peaks), axis=0)
    exponent = _power_of_two_scale(peak)
    if np.all(exponent == 0):
        return list(arrays), np.zeros(exponent.shape)
    shaped = exponent.reshape((-1, 1, 1)) if batch else exponent
    scaled = [_times_power_of_two(a, shaped, xp) for a in arrays]
    for a, b, name in zip(arrays, scaled, names):
        if not bool(xp.all(_times_power_of_two(b, -shaped, xp) == a)):
            listed = " and ".join(names)
            raise ValueError(
                f"{listed} span too many orders of magnitude to be compared on one scale "
                f"(largest |value| {float(peak.max()):.3g}); with standardize='none' the "
                f"smallest values of {name} would lose bits: use standardize='std' or 'rank'")
    return scaled, exponent * np.log(2.0)


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
    if standardize in ("std", "rank"):
        # a power of two per column where the magnitudes are extreme (x * 1e300 would overflow
        # the variance): exact, and scaling is undone by the standardization anyway
        from noprune_theory.backend import to_numpy

        exponent = _power_of_two_scale(to_numpy(xp.max(xp.abs(a), axis=-2, keepdims=True)))
        if np.any(exponent != 0):
            a = _times_power_of_two(a, exponent, xp)
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


#: Above this fraction of points with an exact copy, ties are "heavy": tie-breaking noise would
#: decide the neighbours of too many points (see :func:`check_ties`).
HEAVY_TIE_FRACTION = 0.01


def exact_copies(arrays):
    """For each row i of the side-by-side *arrays* (each (n, d_j), NumPy), the number of other
    rows exactly equal to it.

    One hash per row (the float bits of its values, mixed by multiplication) and a sort of the
    hashes find the candidate rows in O(n log n) with 1-D work; the candidates are then
    compared exactly (lexicographic sort), so a hash collision never counts as a copy.
    """
    a = np.concatenate([np.asarray(x, dtype=np.float64) for x in arrays], axis=1) + 0.0
    n = a.shape[0]
    bits = np.ascontiguousarray(a).view(np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):
            h = (h ^ bits[:, j]) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
    copies = np.zeros(n, dtype=np.int64)
    if n < 2 or not np.any(np.diff(np.sort(h)) == 0):
        return copies  # the common case: no two rows share a hash, so none are equal
    order = np.argsort(h, kind="stable")
    hs = h[order]
    dup = np.zeros(n, dtype=bool)
    same = hs[1:] == hs[:-1]
    dup[order[1:][same]] = True
    dup[order[:-1][same]] = True
    cand = np.flatnonzero(dup)
    if cand.size == 0:
        return copies
    sub = a[cand]
    o = np.lexsort(sub.T[::-1])
    s = sub[o]
    new = np.ones(len(s), dtype=bool)
    new[1:] = np.any(s[1:] != s[:-1], axis=1)
    group = np.cumsum(new) - 1
    size = np.bincount(group)
    copies[cand[o]] = size[group] - 1
    return copies


def check_ties(arrays, names, k, jitter, *, hint):
    """Refuse data on which a continuous k-NN estimator would return a wrong number.

    Exact copies of a point in the joint space (all *arrays* side by side) have probability 0
    under a density. With ``jitter == 0`` any copy raises (the estimator's counts assume
    distinct points). With ``jitter > 0`` light ties (fewer than :data:`HEAVY_TIE_FRACTION` of
    the points repeated, and fewer than k copies of any point: finite-precision records of
    continuous data) are broken by the noise; heavy ties raise, because the noise would then
    choose the neighbours: a sample of 500 points each recorded twice gives KSG 0.93 nats with
    jitter where the continuous law has 0.22.
    """
    copies = exact_copies(arrays)
    repeated = int(np.count_nonzero(copies))
    if repeated == 0:
        return
    n = len(copies)
    most = int(copies.max())
    joint = " and ".join(names)
    where = (f"{repeated} of {n} points of ({', '.join(names)}) have an exact copy "
             f"(up to {most} copies of one point)")
    if jitter == 0:
        raise ValueError(f"{joint} hold repeated points: {where}; the estimator assumes a "
                         f"continuous distribution (distinct points). {hint}")
    if most >= k or repeated > HEAVY_TIE_FRACTION * n:
        raise ValueError(
            f"{joint} hold heavy ties: {where}. Tie-breaking jitter would pick the neighbours "
            f"at random and the estimate would describe the noise, not the data (jitter only "
            f"breaks rare ties, below {HEAVY_TIE_FRACTION:.0%} of the points and fewer than "
            f"k = {k} copies). {hint}")


#: Columns whose centred and scaled values differ everywhere by at most this fraction of the
#: jitter's standard deviation (or by 1e-12 of the column's spread, rounding) are one variable
#: (see :func:`same_columns`).
SAME_COLUMN_TOLERANCE = 1e-3


def same_columns(arrays, *, standardize, jitter, xp=None):
    """Find columns that are the same variable, so they can be given identical values.

    Independent noise on two copies of one column (``conditional_mi(x, y, y)``, or x and -x)
    makes them differ by the noise alone, which the max-norm counts then read as information:
    I(X; Y | Y) came out near -0.06 nats instead of 0. The same happens without noise when
    the copies differ by rounding (y and 3 y + 1 after standardization): a neighbour on the
    boundary of a ball is then inside in one subspace and outside in the other. So after
    centring and scaling (steps 1-2 of :func:`prepare`) every column is compared with the
    columns before it, over all *arrays* in argument order; if it equals one of them (or its
    negative) everywhere to within ``max(SAME_COLUMN_TOLERANCE * jitter, 1e-12)`` times the
    column's spread, it is marked as a copy. :func:`apply_same_columns` then replaces it, after
    the jitter, by that column (or its negative), noise included. Other columns are untouched,
    so the estimates on continuous data do not change. Per problem for batches (P, n, d).

    Returns
    -------
    list of (v, j, u, i, sign, mask)
        Column j of array v is ``sign`` times column i of array u, in the problems where the
        NumPy boolean *mask* (shape of the batch axes, () for one problem) is True.
    """
    from noprune_theory.backend import to_numpy

    if xp is None:
        from noprune_theory.backend import array_namespace

        xp = array_namespace(*arrays)
    columns = [(v, j) for v, a in enumerate(arrays) for j in range(a.shape[-1])]
    if len(columns) < 2:
        return []
    # Cheap screen: every map between copies here is monotone (an affine map for "std" and
    # "none", an increasing one for "rank"), so the signs of the steps between the first 32
    # rows agree up to one global sign. Only columns that pass are compared in full.
    head = [np.sign(np.diff(to_numpy(a[..., :32, :]), axis=-2)) for a in arrays]
    candidates = set()
    for b in range(1, len(columns)):
        v, j = columns[b]
        for u, i in columns[:b]:
            sj, si = head[v][..., j], head[u][..., i]
            if np.any(np.all(sj == si, axis=-1) | np.all(sj == -si, axis=-1)):
                candidates.add(b)
                break
    if not candidates:
        return []
    prepped = [prepare(a, standardize=standardize, jitter=0, noise=None, xp=xp)[0]
               for a in arrays]
    rel = max(SAME_COLUMN_TOLERANCE * jitter, 1e-12)
    lead = tuple(prepped[0].shape[:-2])
    matches = []
    for b in sorted(candidates):
        v, j = columns[b]
        cj = prepped[v][..., j]
        done = np.zeros(lead, dtype=bool)
        for u, i in columns[:b]:
            ci = prepped[u][..., i]
            tol = rel * to_numpy(xp.std(ci, axis=-1))
            for sign, diff in ((1.0, cj - ci), (-1.0, cj + ci)):
                hit = (to_numpy(xp.max(xp.abs(diff), axis=-1)) <= tol) & ~done
                if np.any(hit):
                    matches.append((v, j, u, i, sign, hit))
                    done |= hit
            if np.all(done):
                break
    return matches


def apply_same_columns(prepared, matches, xp=None):
    """Replace the copies found by :func:`same_columns` in the *prepared* arrays (after the
    jitter) by their originals: the same values and the same noise. Returns a new list."""
    if not matches:
        return prepared
    if xp is None:
        from noprune_theory.backend import array_namespace

        xp = array_namespace(*prepared)
    cols = [[a[..., j] for j in range(a.shape[-1])] for a in prepared]
    for v, j, u, i, sign, mask in matches:
        src = cols[u][i] if sign > 0 else -cols[u][i]
        if mask.ndim == 0:
            cols[v][j] = src
        else:
            m = xp.asarray(mask.reshape(mask.shape + (1,)))
            cols[v][j] = xp.where(m, src, cols[v][j])
    return [xp.stack(c, axis=-1) for c in cols]


def check_number(value, name, **kwargs):
    """:func:`check_scalar` for the API: the same checks, and text is a TypeError (the
    command line parses numbers, the API does not)."""
    kind = "an integer" if kwargs.get("integer") else "a number"
    reject_text(value, name, kind)
    return check_scalar(value, name, **kwargs)
