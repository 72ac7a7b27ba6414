"""Discrete variables as categories in the k-NN estimators: Ross (2014) for a discrete and a
continuous variable, counts for discrete ones, and conditional MI and conditional entropy for
any mix of discrete and continuous X, Y, Z.

Where this sits: :func:`noprune_theory.estimators.ksg_mi`, :func:`mixed_mi`,
:func:`conditional_mi` and :func:`conditional_entropy` send here every call in which a variable
is declared discrete (``discrete=``, or an integer, bool or string dtype). Purely continuous
calls never come here, so their numbers are those of the continuous estimators, bit for bit.

One construction covers every mix. A discrete variable gets the *discrete metric*: distance 0
between equal labels, infinity between different ones. Then the max-norm k-NN machinery of
Frenzel & Pompe (2007) applies unchanged: a point's k nearest neighbours in the joint space are
the nearest among the points sharing all its labels, and the count of a subspace that holds a
discrete variable counts only the points sharing its label. In code, the labels of a variable
become integer codes (by equality, ``numpy.unique``) placed on one column spaced ``S`` apart,
``S`` a power of two larger than every continuous distance, so the existing kernels compute
the discrete metric exactly and no label value ever enters a distance (renaming labels changes
nothing, bit for bit).

The formulas that result (psi the digamma function, counts exclude the point itself):

- I(X; Y | Z): ``psi(k_i) - psi(n_xz + 1) - psi(n_yz + 1) + psi(n_z + 1)`` averaged over the
  points: Frenzel-Pompe with the discrete metric. Mesner & Shalizi (2020) study the same
  construction for mixed data (a k-NN CMI estimator whose metric handles discrete
  components, with inclusive counts ``<= rho``; here the counts are strict, as in
  Frenzel-Pompe, so continuous data gives the Frenzel-Pompe numbers exactly); without Z,
  ``n_z + 1`` is the number of points n.
- X discrete, Y continuous, no Z: ``psi(n) + psi(k) - psi(c_x) - psi(m_i + 1)``, ``c_x`` the
  size of x_i's label class and ``m_i`` the points within the distance to the k-th neighbour
  of the same label: exactly Ross (2014), as in scikit-learn's
  ``mutual_info_classif``.
- Z discrete, X and Y continuous: KSG within each stratum z, ``psi(k) + psi(c_z) - ...``,
  averaged with weights c_z / n, which is I(X; Y | Z) = sum_z p(z) I(X; Y | Z = z).
- Every variable discrete: the plug-in (maximum-likelihood) estimate from the counts.

References: B. C. Ross, "Mutual information between discrete and continuous data sets",
PLoS ONE 9, e87357 (2014). J. Mesner, C. Shalizi, "Conditional mutual information estimation
for mixed, discrete and continuous data", IEEE Trans. Inf. Theory 67, 464-484 (2021;
arXiv:1912.03387, 2020). S. Frenzel, B. Pompe, Phys. Rev. Lett. 99, 204101 (2007).

Bias. Within a stratum of c points the estimate has the k-NN bias of a sample of size c, so it
grows as strata shrink; a point whose combination of discrete labels occurs only once has no
neighbour that shares it and is left out (as in Ross 2014 and scikit-learn; more than 10%
of such points raise ValueError), and the
neighbour order is ``k_i = min(k, c - 1)`` in a stratum of c points. Each sub-estimator is
consistent (Ross 2014; Mesner & Shalizi 2020 for their inclusive-count version); the
plug-in is biased upward by
about ``(number of cells) / (2n)`` under independence (Paninski 2003).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory.estimators._special import digamma_int

__all__ = ["conditional_entropy", "resolve_discrete"]

#: Points whose combination of discrete labels occurs once are left out; above this fraction
#: of the sample the estimate would rest on too few points and the call raises instead.
MAX_ALONE_FRACTION = 0.1

#: dtype kinds read as labels when ``discrete="auto"``: signed and unsigned integers, bool,
#: unicode and byte strings.
DISCRETE_KINDS = "iubUS"


def _kind(x):
    if hasattr(x, "dtype"):
        try:
            return np.dtype(x.dtype).kind
        except TypeError:
            return "f"
    return np.asarray(x).dtype.kind


def resolve_discrete(discrete, arrays, names):
    """Which of the variables are discrete: a tuple of bools, one per name.

    *discrete* may be ``"auto"`` (integer, bool and string dtypes are discrete, floats are
    continuous), a bool (all or none), a variable name or a collection of names
    (``("y", "z")``), or a sequence of bools with one entry per variable.
    """
    if isinstance(discrete, str) and discrete == "auto":
        return tuple(_kind(a) in DISCRETE_KINDS for a in arrays)
    if isinstance(discrete, (bool, np.bool_)):
        return (bool(discrete),) * len(arrays)
    listed = ", ".join(repr(n) for n in names)
    expected = (f"discrete must be 'auto', True, False, a variable name ({listed}), a list of "
                f"names, or {len(names)} booleans")
    if isinstance(discrete, str):
        discrete = [discrete]
    if isinstance(discrete, dict):
        raise TypeError(f"{expected}, got a mapping {discrete!r}")
    try:
        items = list(discrete)
    except TypeError:
        raise TypeError(f"{expected}, got {discrete!r}") from None
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        if len(items) != len(names):
            raise ValueError(f"{expected}, got {len(items)} booleans")
        return tuple(bool(v) for v in items)
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"{expected}, got {discrete!r}")
    unknown = [v for v in items if v not in names]
    if unknown:
        raise ValueError(f"{expected}, got unknown name(s) {unknown}")
    return tuple(n in items for n in names)


def label_codes(x, name):
    """Integer codes (n,) of the rows of *x* by equality; any dtype of labels.

    Strings, bools, integers and floats are all accepted (a float label is compared by value:
    0 and 1e-4 are two labels). NaN and inf are refused; -0.0 and 0.0 are one label.
    """
    from noprune_theory.backend import to_numpy

    arr = to_numpy(x) if hasattr(x, "__array_namespace__") and not isinstance(
        x, np.ndarray) else np.asarray(x)
    if arr.dtype == object:
        try:
            arr = arr.astype(str) if all(isinstance(v, str) for v in arr.ravel()) else \
                arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold labels (numbers, bools or strings), got "
                             f"dtype object") from None
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {arr.shape}")
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one sample, got shape {arr.shape}")
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must hold real numbers or labels, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must not contain NaN or inf")
        arr = arr + 0.0  # -0.0 and 0.0 are one label
    elif arr.dtype.kind not in DISCRETE_KINDS:
        raise ValueError(f"{name} must hold labels (numbers, bools or strings), got dtype "
                         f"{arr.dtype}")
    rows = arr.reshape(arr.shape[0], -1)
    _, codes = np.unique(rows, axis=0, return_inverse=True)
    return np.asarray(codes, dtype=np.int64).reshape(-1)


def joint_codes(*codes):
    """Codes of the tuples of several code vectors (one code for all-empty input)."""
    if not codes:
        raise ValueError("joint_codes needs at least one code vector")
    stacked = np.stack(codes, axis=1)
    _, joint = np.unique(stacked, axis=0, return_inverse=True)
    return np.asarray(joint, dtype=np.int64).reshape(-1)


# ----------------------------------------------------------------------------- the core


def plugin_local(codes_x, codes_y, codes_z=None):
    """Pointwise plug-in values log p(x,y|z) / (p(x|z) p(y|z)) from counts (nats)."""
    n = len(codes_x)
    if codes_z is None:
        codes_z = np.zeros(n, dtype=np.int64)
    cxz = np.bincount(joint_codes(codes_x, codes_z))[joint_codes(codes_x, codes_z)]
    cyz = np.bincount(joint_codes(codes_y, codes_z))[joint_codes(codes_y, codes_z)]
    cxyz = np.bincount(joint_codes(codes_x, codes_y, codes_z))[
        joint_codes(codes_x, codes_y, codes_z)]
    cz = np.bincount(codes_z)[codes_z]
    return (np.log(cxyz.astype(np.float64)) + np.log(cz.astype(np.float64))
            - np.log(cxz.astype(np.float64)) - np.log(cyz.astype(np.float64)))


def embed(parts, discrete):
    """Columns for the neighbour searches: continuous parts as they are, each discrete part
    (codes) as one column ``code * S`` with S a power of two above every continuous distance.
    Returns a list of (n, d) arrays, one per variable."""
    spans = [float(np.max(p.max(axis=0) - p.min(axis=0))) for p, d in zip(parts, discrete)
             if not d]
    span = max(spans, default=0.0)
    spacing = 2.0 ** (math.frexp(span + 1.0)[1] + 1)  # > 2 (span + 1)
    return [(p.astype(np.float64) * spacing)[:, None] if d else p
            for p, d in zip(parts, discrete)]


def knn_categorical(parts, discrete, subspaces, k, *, ties, workers, method="auto"):
    """Per-point neighbour order, k-th distance and subspace counts with the discrete metric.

    Parameters
    ----------
    parts : list of arrays
        Prepared continuous variables (n, d) and label codes (n,) of discrete ones.
    discrete : tuple of bool
    subspaces : list of tuple of int
        Variable indices of each subspace to count in (an empty tuple counts every point).
    k : int
    ties : {"raise", "count"}
        What a point whose k-th neighbour is at distance 0 gets: "count" applies the rule of
        Gao et al. (2017) and Mesner & Shalizi (2020) (k_i and every count become numbers of
        exact copies, the point included in k_i); "raise" never happens here (the callers
        refuse repeated points first).
    workers : int or None
    method : {"auto", "numba", "tree"}
        The counting kernel, as ``noprune_theory.kernels.cpu_knn.count_within`` takes it
        (a ``Backend.knn_counts`` value).

    Returns
    -------
    keep : bool array (n,)
        Points whose combination of discrete labels occurs more than once.
    k_i : int array (m,)
    counts : list of int arrays (m,), one per subspace, points other than i within the
        k-th neighbour distance (strictly; exact copies where it is 0).
    eps : float array (m,)
    """
    from noprune_theory.kernels import cpu_knn

    n = len(parts[0])
    labels = [p for p, d in zip(parts, discrete) if d]
    group = joint_codes(*labels) if labels else np.zeros(n, dtype=np.int64)
    size = np.bincount(group)[group]
    keep = size > 1
    alone = int(np.count_nonzero(~keep))
    if alone > MAX_ALONE_FRACTION * n:
        raise ValueError(
            f"{alone} of {n} points are alone in their class (no other point shares their "
            f"combination of discrete labels), so no neighbour shares their labels: too few "
            f"repeats for a k-NN estimate with labels (more than {MAX_ALONE_FRACTION:.0%}). "
            f"Integer, bool and string arrays are read as labels: for an integer-valued "
            f"measurement pass discrete=False")
    parts = [p[keep] for p in parts]
    size = size[keep]
    m = len(size)
    cols = embed(parts, discrete)
    joint = np.concatenate(cols, axis=1)
    k_i = np.minimum(k, size - 1).astype(np.int64)
    kmax = int(k_i.max())
    dist = cpu_knn.knn_distances(joint, kmax, workers=workers)
    eps = dist[np.arange(m), k_i - 1]
    zero = eps == 0
    if zero.any() and ties != "count":  # pragma: no cover - callers check ties first
        raise ValueError("repeated points")
    counts = []
    for sub in subspaces:
        if not sub:
            counts.append(np.full(m, m - 1, dtype=np.int64))
            continue
        pts = np.concatenate([cols[v] for v in sub], axis=1)
        c = cpu_knn.count_within(pts, eps, strict=True, method=method, workers=workers)
        if zero.any():
            c[zero] = cpu_knn.count_zero_distance(pts, workers=workers)[zero]
        counts.append(np.asarray(c, dtype=np.int64))
    if zero.any():
        k_i = k_i.copy()
        k_i[zero] = cpu_knn.count_zero_distance(joint, workers=workers)[zero] + 1
    return keep, k_i, counts, eps


def cmi_local(parts, discrete, k, *, ties, workers, with_z, method="auto"):
    """Local values of I(X; Y | Z) (or I(X; Y) without Z) for a mix of discrete and
    continuous variables; returns (local values of the kept points, keep mask)."""
    if all(discrete):
        codes = parts
        local = plugin_local(codes[0], codes[1], codes[2] if with_z else None)
        return local, np.ones(len(local), dtype=bool)
    if with_z:
        subspaces = [(0, 2), (1, 2), (2,)]
    else:
        subspaces = [(0,), (1,), ()]
    keep, k_i, (nxz, nyz, nz), _ = knn_categorical(parts, discrete, subspaces, k, ties=ties,
                                                   workers=workers, method=method)
    local = (digamma_int(k_i, np) - digamma_int(nxz + 1, np) - digamma_int(nyz + 1, np)
             + digamma_int(nz + 1, np))
    return local, keep


# ----------------------------------------------------------------- conditional entropy


def conditional_entropy(x: ArrayLike, y: ArrayLike, *,
                        discrete: str | bool | Sequence[str] | Sequence[bool] = "auto", k: int = 3,
                        standardize: Literal["std", "rank", "none"] = "std", jitter: float = 1e-10,
                        seed: int | np.random.Generator | None = 0, base: float | str | None = None,
                        return_local: bool = False, workers: int | None = None,
                        ) -> float | NDArray[np.float64]:
    r"""Conditional entropy H(X | Y) for continuous X and discrete or continuous Y.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, dx)
        Samples of X: continuous (the differential entropy, in the units of x), or discrete
        labels (then the Shannon entropy).
    y : array_like, shape (n,) or (n, dy)
        Samples of Y, paired row by row with *x*: continuous or discrete labels.
    discrete : "auto", bool, name(s) or two bools, default "auto"
        Which of x and y are discrete (compared by equality, never by distance): ``"auto"``
        reads integer, bool and string dtypes as labels and floats as continuous; ``"y"``,
        ``("x", "y")``, ``True`` or ``(False, True)`` declare them.
    k : int, default 3
        Neighbour order, ``1 <= k < n`` (within a class of Y: ``min(k, c - 1)``).
    standardize : {"std", "rank", "none"}, default "std"
        Scaling of the continuous columns for the neighbour search. The result is always in
        the units of x: with ``"std"`` the logs of x's standard deviations are added back
        (``h(a X) = h(X) + log|a|``); ``"rank"`` is refused (it would give the entropy of the
        ranks). Default on, unlike :func:`knn_entropy`, because the max norm compares x with
        y, whose units are arbitrary (ennemi's chain rule scales neither).
    jitter : float, default 1e-10
        Tie-breaking noise of the continuous variables, as in :func:`ksg_mi`.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the jitter, as in :func:`ksg_mi`.
    base : float or None
        None: nats; 2: bits.
    return_local : bool
        Return the per-point terms, whose mean is the estimate.
    workers : int or None
        Threads for the neighbour searches.

    Returns
    -------
    float or ndarray
        The estimate of H(X | Y) in the unit of *base*; with ``return_local``, the per-point
        terms, shape (n,).

    Notes
    -----
    Continuous X, with :math:`\epsilon_i` the max-norm distance from point i to its k-th
    neighbour in the joint (x, y) space and :math:`n_y(i)` the points strictly within
    :math:`\epsilon_i` in y (with the discrete metric for a discrete y: the other points of
    y_i's class, so that the neighbours are searched within the class):

    .. math:: \hat H(X | Y) = \langle \psi(n_y(i) + 1) - \psi(k) + d_x \log(2 \epsilon_i)
              \rangle.

    This is :math:`\hat h(X, Y) - \hat h(Y)` with the Kozachenko-Leonenko estimator of the
    joint and the estimate of h(Y) at the same radius (the construction by which KSG 2004
    derive their estimator from the entropies), so their biases partly cancel. For a
    discrete Y it is the Kozachenko-Leonenko entropy within each class, weighted by the class
    frequency: :math:`\sum_y p(y) h(X | Y =
    y)`. For a discrete X: the plug-in H(X, Y) - H(Y) when Y is discrete, and
    :math:`\hat H(X) - \hat I(X; Y)` (plug-in entropy minus the Ross estimate) when Y is
    continuous. A constant column of a continuous X has entropy -inf: ValueError.

    References
    ----------
    L. F. Kozachenko, N. N. Leonenko, Probl. Inf. Transm. 23, 95-101 (1987). A. Kraskov,
    H. Stoegbauer, P. Grassberger, Phys. Rev. E 69, 066138 (2004). B. C. Ross, PLoS ONE 9,
    e87357 (2014).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import conditional_entropy
    >>> rng = np.random.default_rng(0)
    >>> label = rng.integers(0, 2, 4000)                 # Y: a fair bit
    >>> x = rng.standard_normal(4000) * (1 + label)      # X | Y ~ N(0, (1 + Y)^2)
    >>> exact = 0.5 * np.log(2 * np.pi * np.e) + 0.5 * np.log(2)   # h(N(0,1)) + E log(1+Y)
    >>> bool(abs(conditional_entropy(x, label) - exact) < 0.05)
    True
    """
    from noprune_theory.estimators import _knn
    from noprune_theory.estimators._discrete import _entropy_from_counts
    from noprune_theory.estimators._preprocess import (
        apply_same_columns,
        check_base,
        check_jitter,
        check_k,
        check_seed,
        check_standardize,
        check_ties,
        common_scale,
        draw_noise,
        prepare,
        same_columns,
        same_length,
    )

    flags = resolve_discrete(discrete, [x, y], ["x", "y"])
    parts_raw = [label_codes(v, name) if d else _knn.as_samples(v, name)
                 for v, name, d in zip((x, y), ("x", "y"), flags)]
    n = same_length(**{name: (p[:, None] if p.ndim == 1 else p)
                       for name, p in zip(("x", "y"), parts_raw)})
    k = check_k(k, n)
    standardize = check_standardize(standardize)
    if standardize == "rank":
        raise ValueError("standardize must be 'std' or 'none' for conditional_entropy (ranks "
                         "would estimate the entropy of the ranks), got 'rank'")
    jitter = check_jitter(jitter)
    seed = check_seed(seed)
    divisor = check_base(base)
    workers = _knn._check_workers(workers)
    if return_local not in (True, False):
        raise ValueError(f"return_local must be True or False, got {return_local!r}")
    dx, dy = flags
    if dx:
        cx = parts_raw[0]
        if dy:
            cy = parts_raw[1]
            cxy = joint_codes(cx, cy)
            local = -np.log(np.bincount(cxy)[cxy] / np.bincount(cy)[cy])
            return _knn._finish(local, divisor, return_local)
        if return_local:
            raise ValueError("return_local=True is not available for a discrete x with a "
                             "continuous y (the estimate is a difference of two averages)")
        h = _entropy_from_counts(np.bincount(cx), "none")
        local, _ = categorical_mi([x, y], (True, False), k=k, standardize=standardize,
                                  jitter=jitter, seed=seed, workers=workers, ties="raise",
                                  names=["x", "y"])
        return float(h - np.mean(local)) / divisor
    xs = parts_raw[0]
    d = xs.shape[1]
    constant = xs.max(axis=0) == xs.min(axis=0)
    if constant.any():
        raise ValueError(f"x has constant column(s) {np.flatnonzero(constant).tolist()}: the "
                         f"differential entropy of a constant is -inf")
    cont = [p for p, f in zip(parts_raw, flags) if not f]
    names = [nm for nm, f in zip(("x", "y"), flags) if not f]
    log_factor = 0.0
    if standardize == "none":
        cont, lf = common_scale(cont, names, xp=np)
        log_factor = float(lf)
    check_ties(cont + [parts_raw[1][:, None].astype(np.float64)] if dy else cont,
               ["x", "y"], k, jitter,
               hint="The differential entropy of a law with atoms is -inf; declare a "
                    "variable with few distinct values discrete (discrete=...)")
    noises = draw_noise(seed, [c.shape for c in cont], jitter)
    prepped = [prepare(c, standardize=standardize, jitter=jitter, noise=nz, xp=np)[0]
               for c, nz in zip(cont, noises)]
    matches = same_columns(cont, standardize=standardize, jitter=jitter, xp=np)
    copied = sorted({j for v, j, u, _, _, _ in matches if v == 0 and u == 0}
                    | {i for v, _, u, i, _, _ in matches if v == 1 and u == 0})
    if copied:
        raise ValueError(f"column(s) {copied} of x are copies of other columns of x or of y "
                         f"(up to sign and scale): given them, x is not continuous and "
                         f"H(X | Y) is -inf")
    prepped = apply_same_columns(prepped, matches, xp=np)
    parts = [prepped[0], parts_raw[1] if dy else prepped[1]]
    keep, k_i, (ny,), eps = knn_categorical(parts, flags, [(1,)], k, ties="raise",
                                            workers=workers)
    if return_local and not keep.all():
        raise ValueError("return_local=True needs every class of y to hold at least 2 points "
                         f"({int(np.sum(~keep))} points are alone in their class)")
    if standardize == "std":
        from noprune_theory.estimators._preprocess import (
            _power_of_two_scale,
            _times_power_of_two,
        )

        exponent = _power_of_two_scale(np.abs(cont[0]).max(axis=0))
        scaled = _times_power_of_two(cont[0], exponent, np)
        jacobian = float(np.sum(np.log(scaled.std(axis=0)) - exponent * math.log(2.0)))
    else:
        jacobian = -d * log_factor
    local = (digamma_int(ny + 1, np) - digamma_int(k_i, np) + d * math.log(2.0) + jacobian
             + d * np.log(eps))
    return _knn._finish(local, divisor, return_local)


def categorical_mi(arrays, flags, *, k, standardize, jitter, seed, workers, ties, names,
                   method="auto"):
    """Local values (nats) of I(X; Y) (two arrays) or I(X; Y | Z) (three) when at least one
    variable is discrete, and the mask of the points they belong to (arguments validated,
    except the arrays themselves)."""
    from noprune_theory.estimators._knn import as_samples
    from noprune_theory.estimators._preprocess import (
        apply_same_columns,
        check_ties,
        common_scale,
        draw_noise,
        prepare,
        same_columns,
        same_length,
    )

    with_z = len(arrays) == 3
    raw = [label_codes(a, nm) if d else as_samples(a, nm)
           for a, nm, d in zip(arrays, names, flags)]
    n = same_length(**{nm: (r[:, None] if r.ndim == 1 else r) for nm, r in zip(names, raw)})
    if k >= n:
        raise ValueError(f"k must be an integer < the number of samples n = {n} (the k-th "
                         f"neighbour of a point must exist), got {k!r}")
    cont_idx = [i for i, d in enumerate(flags) if not d]
    parts = list(raw)
    if cont_idx:
        # a continuous X or Y whose every column is constant carries no information
        if any(i < 2 and np.all(raw[i].max(axis=0) == raw[i].min(axis=0)) for i in cont_idx):
            return np.zeros(n), np.ones(n, dtype=bool)
        cont = [raw[i] for i in cont_idx]
        if standardize == "none":
            cont, _ = common_scale(cont, [names[i] for i in cont_idx], xp=np)
        if ties == "raise":
            check_ties([r if r.ndim == 2 else r[:, None].astype(np.float64) for r in raw],
                       names, k, jitter,
                       hint="Declare a variable with few distinct values discrete "
                            "(discrete=...), or use mixed_mi for continuous data with atoms")
        noises = draw_noise(seed, [c.shape for c in cont], jitter)
        prepped = [prepare(c, standardize=standardize, jitter=jitter, noise=nz, xp=np)[0]
                   for c, nz in zip(cont, noises)]
        prepped = apply_same_columns(
            prepped, same_columns(cont, standardize=standardize, jitter=jitter, xp=np), xp=np)
        for i, p in zip(cont_idx, prepped):
            parts[i] = p
    return cmi_local(parts, flags, k, ties=ties, workers=workers, with_z=with_z, method=method)


def finish_categorical(local, keep, divisor, return_local):
    """The estimate (mean over the points kept) or the local values (all points kept)."""
    if return_local:
        if not keep.all():
            raise ValueError("return_local=True needs every combination of the discrete "
                             f"labels to occur at least twice ({int(np.sum(~keep))} points "
                             f"are alone in their class and are left out of the estimate)")
        return local / divisor if divisor != 1.0 else local
    return float(np.mean(local)) / divisor
