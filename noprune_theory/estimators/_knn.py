"""k-nearest-neighbour estimators: KSG mutual information (algorithms 1 and 2, single and
batched), Kozachenko-Leonenko entropy, Frenzel-Pompe conditional MI, and the mixed estimator
of Gao, Kannan, Oh & Viswanath.

Where this sits: the public functions validate, preprocess (:mod:`._preprocess`), call the
kernels of :mod:`noprune_theory.kernels.cpu_knn` (CPU) or :mod:`noprune_theory.kernels.cuda_knn`
(GPU, batched), and turn neighbour counts into nats with namespace-generic code
(:func:`._special.digamma_int`), so every backend shares the last step.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from noprune_theory._validation import check_choice
from noprune_theory.estimators._preprocess import (
    _power_of_two_scale,
    _times_power_of_two,
    apply_same_columns,
    as_batch,
    as_samples,
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
from noprune_theory.estimators._special import digamma_int, digamma_scalar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["conditional_mi", "knn_entropy", "ksg_mi", "ksg_mi_batch", "mixed_mi"]

_TIES_HINT = (
    "Repeated points are atoms of the distribution: use mixed_mi, which counts exact copies "
    "instead of breaking them (Gao et al. 2017), or, if a variable's values are labels, "
    "declare it discrete (discrete=...)"
)


def _discrete_route(arrays, names, flags, *, k, algorithm, standardize, jitter, seed, base,
                    return_local, workers, backend, ties):
    """Validate and run the estimator of :mod:`._categories` (some variable is discrete)."""
    from noprune_theory.estimators._categories import categorical_mi, finish_categorical
    from noprune_theory.estimators._preprocess import reject_text

    if isinstance(algorithm, bool):
        raise ValueError(f"algorithm must be one of 1, 2, got {algorithm!r}")
    if algorithm != 1:
        check_choice(algorithm, "algorithm", (1, 2))
        raise ValueError("algorithm=2 is for continuous x and y; with a discrete variable the "
                         "estimator is Ross (2014) or the plug-in (use algorithm=1)")
    knn = _knn_backend(backend, arrays, "discrete variables", gpu=False).knn_counts
    reject_text(k, "k", "an integer >= 1")
    k = check_k(k, max(len(a) for a in arrays))
    standardize = check_standardize(standardize)
    jitter = check_jitter(jitter)
    seed = check_seed(seed)
    divisor = check_base(base)
    workers = _check_workers(workers)
    local, keep = categorical_mi(arrays, flags, k=k, standardize=standardize, jitter=jitter,
                                 seed=seed, workers=workers, ties=ties, names=names, method=knn)
    return finish_categorical(local, keep, divisor, return_local)


def _check_workers(workers):
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or (
        workers < 1 and workers != -1
    ):
        raise ValueError(f"workers must be None, -1 or an integer >= 1, got {workers!r}")
    return int(workers)


def _knn_backend(backend, arrays, what, *, gpu):
    """The :class:`~noprune_theory.backend.Backend` whose k-NN kernels serve this call.

    The one policy of every estimator here (docs/estimators.md, "Backends and kernels"): a
    backend named explicitly is where the searches and counts run, or the call fails; ``auto``
    follows the inputs (:func:`~noprune_theory.backend.get_backend` with ``like=``), so CuPy
    data is never copied to the host, nor host data to the device, without being asked.
    *what* names the computation in the error; *gpu* says whether it has a CUDA kernel.
    """
    from noprune_theory.backend import CHOICES, get_backend, resolve_backend

    if backend is None:
        backend = "auto"
    if not isinstance(backend, str) or backend not in CHOICES:
        resolve_backend(backend)  # raises the ValueError naming the choices
    if not gpu:
        on_device = backend == "auto" and any(
            type(a).__module__.split(".")[0] == "cupy" for a in arrays)
        if backend == "cupy" or on_device:
            got = "'auto' with CuPy inputs" if on_device else repr(backend)
            raise ValueError(
                f"{what} run on the CPU (no CUDA k-NN kernel): backend must be 'numpy' or "
                f"'numba' (which copy CuPy inputs to the host) or 'auto' on host arrays, "
                f"got backend={got}")
    return get_backend(backend, like=arrays)


def _finish(local, divisor, return_local):
    """Convert units; return a Python float (mean) or the local values."""
    if return_local:
        return local / divisor if divisor != 1.0 else local
    return float(np.mean(local)) / divisor


# ----------------------------------------------------------------------------- KSG core


def _ksg_counts_cpu(xs, ys, k, algorithm, method, workers):
    """Neighbour counts (n_x, n_y) and joint k-NN distances for one prepared problem."""
    from noprune_theory.kernels import cpu_knn

    joint = np.concatenate([xs, ys], axis=1)
    if algorithm == 1:
        eps = _kth_distance(joint, k, method, workers)
        if np.any(eps == 0):
            return None, None, eps
        nx = cpu_knn.count_within(xs, eps, strict=True, method=method, workers=workers)
        ny = cpu_knn.count_within(ys, eps, strict=True, method=method, workers=workers)
        return nx, ny, eps
    dist, idx = cpu_knn.knn_distances(joint, k, workers=workers, return_indices=True)
    eps = dist[:, k - 1]
    if np.any(eps == 0):
        return None, None, eps
    # largest marginal distance among the k neighbours, in chunks to bound memory
    n = len(xs)
    rx = np.empty(n)
    ry = np.empty(n)
    step = 1 << 16
    for lo in range(0, n, step):
        sl = slice(lo, min(n, lo + step))
        rx[sl] = np.abs(xs[idx[sl]] - xs[sl, None, :]).max(axis=(1, 2))
        ry[sl] = np.abs(ys[idx[sl]] - ys[sl, None, :]).max(axis=(1, 2))
    nx = cpu_knn.count_within(xs, rx, strict=False, method=method, workers=workers)
    ny = cpu_knn.count_within(ys, ry, strict=False, method=method, workers=workers)
    return nx, ny, eps


def _kth_distance(joint, k, method, workers):
    """Joint k-th neighbour distance: the numba strip kernel for points in the plane (about
    3x faster than the tree there, same bits), else cKDTree."""
    from noprune_theory.kernels import cpu_knn

    if method == "numba" and joint.shape[1] == 2:
        return cpu_knn.knn_kth_distance_2d(joint[:, 0], joint[:, 1], k, workers=workers)
    return cpu_knn.knn_kth_distance(joint, k, workers=workers)


def _ksg_local(nx, ny, k, n, algorithm, xp):
    """Per-point KSG terms from the counts (namespace-generic).

    Algorithm 1: psi(k) + psi(n) - psi(n_x + 1) - psi(n_y + 1)   [KSG eq. (8)]
    Algorithm 2: psi(k) - 1/k + psi(n) - psi(n_x) - psi(n_y)     [KSG eq. (9)]
    """
    const = digamma_scalar(k) + digamma_scalar(n)
    if algorithm == 1:
        return const - digamma_int(nx + 1, xp) - digamma_int(ny + 1, xp)
    return (const - 1.0 / k) - digamma_int(nx, xp) - digamma_int(ny, xp)


def _common_checks(k, n, algorithm, standardize, jitter, seed, base):
    k = check_k(k, n)
    if isinstance(algorithm, bool):
        raise ValueError(f"algorithm must be one of 1, 2, got {algorithm!r}")
    algorithm = check_choice(algorithm, "algorithm", (1, 2))
    standardize = check_standardize(standardize)
    jitter = check_jitter(jitter)
    seed = check_seed(seed)
    divisor = check_base(base)
    return k, algorithm, standardize, jitter, seed, divisor


def ksg_mi(
    x: ArrayLike,
    y: ArrayLike,
    *,
    k: int = 3,
    algorithm: Literal[1, 2] = 1,
    standardize: Literal["std", "rank", "none"] = "std",
    jitter: float = 1e-10,
    seed: int | np.random.Generator | None = 0,
    base: float | None = None,
    return_local: bool = False,
    backend: Literal["auto", "numpy", "numba", "cupy"] | None = "auto",
    workers: int | None = None,
    discrete: str | bool | Sequence[str | bool] = "auto",
) -> float | NDArray[np.float64]:
    r"""Mutual information I(X; Y) of continuous variables by the KSG k-NN estimator.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, dx)
        Samples of X (real, finite). A 1-D array is one column.
    y : array_like, shape (n,) or (n, dy)
        Samples of Y, paired row by row with *x*.
    k : int, default 3
        Number of neighbours, ``1 <= k < n``. Larger k: lower variance, more bias.
    algorithm : {1, 2}, default 1
        KSG algorithm 1 (eq. 8 of the paper) or 2 (eq. 9).
    standardize : {"std", "rank", "none"}, default "std"
        Per-column scaling before the neighbour search (the max norm mixes columns, so the
        estimate depends on it): divide by the standard deviation, replace by standardized
        average ranks (makes the estimate exactly invariant under increasing maps of each
        column), or keep the scale. Columns are always centred (this changes no distance).
        ``"std"`` is ennemi's ``preprocess=True`` (centre, divide by the SD with ``ddof=0``,
        noise 1e-10 of the SD) and scikit-learn's ``mutual_info_*`` scaling (divide by the
        SD, ``ddof=0``, without centring; its noise is ``1e-10 * max(1, mean|x|)``): on
        continuous data no noise moves a count, so the estimates agree (tested against
        scikit-learn to 1e-9). Turn it off (``"none"``) when the
        columns of a variable share meaningful units (coordinates of one vector, whose
        max-norm geometry per-column scaling would change) or to reproduce numbers computed
        on already scaled data; use ``"rank"`` for heavy tails.
    jitter : float, default 1e-10
        Tie-breaking noise: ``jitter * spread * N(0, 1)`` is added to each column, ``spread``
        being the column's standard deviation after scaling. Constant columns get none.
        ``0`` disables it. Repeated points (exact copies of a row of (x, y)) raise ValueError
        when ``jitter == 0``, and also with jitter when they are heavy (more than 1% of the
        points repeated, or k copies of one point): the noise would then choose the
        neighbours. Such data has atoms: use :func:`mixed_mi`.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the jitter, the only randomness: ``default_rng(seed).standard_normal`` draws
        x's noise (shape of x) then y's. ``None`` draws fresh entropy.
    base : float or None, default None
        Logarithm base of the result: None (nats), 2 (bits), 10 ...
    return_local : bool, default False
        Return the per-point terms (ndarray of shape (n,)); their mean is the estimate.
    backend : {"auto", "numpy", "numba", "cupy"}, default "auto"
        Where the neighbour searches and counts run. ``numpy``: cKDTree for every search and
        count; ``numba``: numba kernels where they are faster (the joint search when x and y
        are both 1-D, the 1-D marginal counts), cKDTree elsewhere; ``cupy``: the batched CUDA
        kernel (P = 1, brute force; host inputs are copied to the device). ``auto`` follows
        the inputs: ``cupy`` for CuPy arrays, else ``numba`` (else ``numpy``), so data never
        moves between host and device unasked. A backend that cannot run here raises
        :class:`~noprune_theory.backend.BackendUnavailableError`; discrete variables have no
        CUDA kernel (``cupy`` raises ValueError).
    workers : int or None
        Threads for the neighbour searches and counts (-1: all usable cores; None: one thread
        below 50 000 points, where starting threads costs more than it saves, else all).
    discrete : "auto", bool, name(s) or booleans, default "auto"
        Which of x and y are discrete: labels compared by equality, never by distance
        (renaming them changes nothing). ``"auto"`` reads integer, bool and string dtypes as
        discrete, floats as continuous; ``True``/``False`` sets both; ``"x"``, ``("x", "y")``
        or ``(True, False)`` declares them. One discrete variable: the Ross (2014) estimator
        (KSG with the discrete metric, as scikit-learn's ``mutual_info_classif``); both: the
        plug-in from counts. Then ``algorithm`` must be 1 and the backend a CPU one.

    Returns
    -------
    float or ndarray
        The estimate in nats (or in *base*), or the local values with ``return_local``.

    Raises
    ------
    ValueError
        For bad arguments (naming them), for any repeated point when ``jitter == 0`` and for
        heavy ties with jitter (see *jitter*).

    Notes
    -----
    With the max norm :math:`\|(x, y)\| = \max(\|x\|_\infty, \|y\|_\infty)`, let
    :math:`\epsilon_i` be the distance from point i to its k-th neighbour in the joint space.
    Algorithm 1 (Kraskov, Stoegbauer & Grassberger 2004, eq. 8):

    .. math:: \hat I = \psi(k) + \psi(n) - \langle \psi(n_x(i) + 1) + \psi(n_y(i) + 1)\rangle,

    :math:`n_x(i) = \#\{j \ne i : \|x_j - x_i\| < \epsilon_i\}`, likewise :math:`n_y`.
    Algorithm 2 (eq. 9): :math:`\hat I = \psi(k) - 1/k + \psi(n) - \langle \psi(n_x) +
    \psi(n_y)\rangle` with :math:`n_x(i) = \#\{j \ne i: \|x_j - x_i\| \le \epsilon_x(i)\}`,
    :math:`\epsilon_x(i)` the largest x-distance among the k neighbours.

    The estimate is *not* clipped at 0: for independent variables it scatters around 0 (both
    signs); clipping would bias averages and hide the noise level. If every column of x (or
    of y) is constant the result is exactly 0 (a constant carries no information); constant
    columns next to varying ones are kept (they add nothing to max-norm distances).

    References
    ----------
    A. Kraskov, H. Stoegbauer, P. Grassberger, "Estimating mutual information", Phys. Rev. E
    69, 066138 (2004). B. C. Ross, "Mutual information between discrete and continuous data
    sets", PLoS ONE 9, e87357 (2014) (a discrete variable).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import ksg_mi, gaussian_mi
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(4000)
    >>> y = 0.6 * x + 0.8 * rng.standard_normal(4000)
    >>> exact = gaussian_mi(corr=0.6)          # -log(1 - 0.36) / 2
    >>> round(exact, 4)
    0.2231
    >>> abs(ksg_mi(x, y) - exact) < 0.04        # about 4 standard errors at n = 4000
    True
    >>> ksg_mi(np.ones(4000), y)                # a constant gives exactly 0
    0.0
    """
    from noprune_theory.estimators._categories import resolve_discrete

    flags = resolve_discrete(discrete, [x, y], ["x", "y"])
    if any(flags):
        return _discrete_route([x, y], ["x", "y"], flags, k=k, algorithm=algorithm,
                               standardize=standardize, jitter=jitter, seed=seed, base=base,
                               return_local=return_local, workers=workers, backend=backend,
                               ties="raise")
    be = _knn_backend(backend, [x, y], "ksg_mi", gpu=True)
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    n = same_length(x=xs, y=ys)
    k, algorithm, standardize, jitter, seed, divisor = _common_checks(
        k, n, algorithm, standardize, jitter, seed, base)
    workers = _check_workers(workers)
    if be.knn_counts == "cuda":
        import cupy

        local = ksg_mi_batch(cupy.asarray(xs[None]), cupy.asarray(ys[None]), k=k,
                             algorithm=algorithm, standardize=standardize, jitter=jitter,
                             seed=seed, return_local=True, backend="cupy")
        local = cupy.asnumpy(local[0])
        return _finish(local, divisor, return_local)
    if standardize == "none":
        (xs, ys), _ = common_scale([xs, ys], ["x", "y"], xp=np)
    noise_x, noise_y = draw_noise(seed, [xs.shape, ys.shape], jitter)
    px, cx = prepare(xs, standardize=standardize, jitter=jitter, noise=noise_x, xp=np)
    py, cy = prepare(ys, standardize=standardize, jitter=jitter, noise=noise_y, xp=np)
    px, py = apply_same_columns(
        [px, py], same_columns([xs, ys], standardize=standardize, jitter=jitter, xp=np), xp=np)
    if cx.all() or cy.all():
        return _finish(np.zeros(n), divisor, return_local)
    check_ties([xs, ys], ["x", "y"], k, jitter, hint=_TIES_HINT)
    nx, ny, eps = _ksg_counts_cpu(px, py, k, algorithm, be.knn_counts, workers)
    if nx is None:
        raise ValueError(
            f"x and y hold repeated points: {int(np.sum(eps == 0))} of {n} points have their "
            f"k-th neighbour at distance 0; {_TIES_HINT}")
    return _finish(_ksg_local(nx, ny, k, n, algorithm, np), divisor, return_local)


def ksg_mi_batch(
    X: Any,
    Y: Any,
    *,
    k: int = 3,
    algorithm: Literal[1, 2] = 1,
    standardize: Literal["std", "rank", "none"] = "std",
    jitter: float = 1e-10,
    seed: int | np.random.Generator | None = 0,
    base: float | None = None,
    return_local: bool = False,
    backend: Literal["auto", "numpy", "numba", "cupy"] | None = "auto",
    workers: int | None = None,
    discrete: str | bool | Sequence[str | bool] = "auto",
) -> Any:
    r"""KSG mutual information for a batch of P problems of equal size, in one call.

    The batch axis comes first (masks times seeds, say). On ``backend="cupy"`` the P problems
    run in a single CUDA kernel launch (:mod:`noprune_theory.kernels.cuda_knn`); on the CPU
    backends they run one after the other through the path of :func:`ksg_mi`.

    Parameters
    ----------
    X : array (P, n, dx) or (P, n)
        NumPy or CuPy array (any array-API array); the result is in the same namespace.
    Y : array (P, n, dy) or (P, n)
        Same library as *X*.
    k : int, default 3
        Number of neighbours, ``1 <= k < n``, as in :func:`ksg_mi`.
    algorithm : {1, 2}, default 1
        KSG algorithm 1 or 2, as in :func:`ksg_mi`.
    standardize : {"std", "rank", "none"}, default "std"
        As in :func:`ksg_mi`, per problem and column.
    jitter : float, default 1e-10
        Tie-breaking noise, as in :func:`ksg_mi`, per problem and column.
    seed : int, numpy.random.Generator or None, default 0
        The jitter is drawn on the host as ``default_rng(seed).standard_normal(X.shape)``,
        then ``(Y.shape)``, and moved to the device: CPU and GPU see the same noise, and
        problem p of a batch of one equals :func:`ksg_mi` with the same seed.
    base : float or None, default None
        Logarithm base of the result: None (nats), 2 (bits), 10 ...
    return_local : bool, default False
        Return the per-point terms, shape (P, n).
    backend : {"auto", "numpy", "numba", "cupy"}, default "auto"
        As in :func:`ksg_mi`: ``auto`` uses ``cupy`` for CuPy inputs and the best CPU path
        otherwise; a backend named explicitly runs the counts there, copying the inputs to
        it (and the result back to their namespace).
    workers : int or None, default None
        Threads of the CPU neighbour searches and counts, as in :func:`ksg_mi`.
    discrete : "auto", bool, name(s) or booleans, default "auto"
        As in :func:`ksg_mi` (``"X"``/``"Y"`` or ``"x"``/``"y"`` name the variables). Problems
        with a discrete variable run one by one through :func:`ksg_mi` on the CPU, each
        with the seed ``seed`` (CuPy inputs need ``backend="numpy"`` or ``"numba"``, which
        copies them to the host and the result back).

    Returns
    -------
    array (P,) or (P, n)
        Estimates in nats (or *base*), in the namespace of the inputs.

    Notes
    -----
    The formulas are those of :func:`ksg_mi` (KSG 2004, eqs. 8 and 9). The GPU kernel is brute
    force, O(P n^2 (dx + dy)) work and O(P n) memory; the CPU path is O(P n log n) in low
    dimension.

    References
    ----------
    A. Kraskov, H. Stoegbauer, P. Grassberger, Phys. Rev. E 69, 066138 (2004).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import ksg_mi, ksg_mi_batch
    >>> rng = np.random.default_rng(1)
    >>> X = rng.standard_normal((3, 500, 1))
    >>> Y = X + rng.standard_normal((3, 500, 1))
    >>> est = ksg_mi_batch(X, Y, backend="numpy")
    >>> est.shape
    (3,)
    >>> bool(np.isclose(est[0], ksg_mi(X[0], Y[0], seed=0), rtol=0, atol=0.05))
    True
    """
    from noprune_theory.backend import array_namespace, to_numpy
    from noprune_theory.estimators._categories import resolve_discrete

    xp = array_namespace(X, Y)
    if isinstance(discrete, str) and discrete in ("X", "Y"):
        discrete = discrete.lower()
    flags = resolve_discrete(discrete, [X, Y], ["x", "y"])
    if any(flags):
        _knn_backend(backend, [X, Y], "discrete variables", gpu=False)
        Xh, Yh = to_numpy(X), to_numpy(Y)
        if Xh.shape[0] != Yh.shape[0]:
            raise ValueError(f"X and Y must have the same number of problems P (axis 0), got "
                             f"{Xh.shape[0]} and {Yh.shape[0]}")
        out = [ksg_mi(Xh[p], Yh[p], k=k, algorithm=algorithm, standardize=standardize,
                      jitter=jitter, seed=seed, base=base, return_local=return_local,
                      backend=backend, workers=workers, discrete=flags)
               for p in range(Xh.shape[0])]
        return xp.asarray(np.stack(out) if return_local else np.asarray(out))
    be = _knn_backend(backend, [X, Y], "ksg_mi_batch", gpu=True)
    if be.knn_counts == "cuda" and be.xp is not xp:
        # asked for by name: the host arrays go to the device, the result comes back
        out = _ksg_mi_batch(be.xp.asarray(to_numpy(X)), be.xp.asarray(to_numpy(Y)), k=k,
                            algorithm=algorithm, standardize=standardize, jitter=jitter,
                            seed=seed, base=base, return_local=return_local, workers=workers,
                            xp=be.xp, knn=be.knn_counts)
        return xp.asarray(to_numpy(out))
    return _ksg_mi_batch(X, Y, k=k, algorithm=algorithm, standardize=standardize,
                         jitter=jitter, seed=seed, base=base, return_local=return_local,
                         workers=workers, xp=xp, knn=be.knn_counts)


def _ksg_mi_batch(X, Y, *, k, algorithm, standardize, jitter, seed, base, return_local,
                  workers, xp, knn):
    """Body of :func:`ksg_mi_batch`; *knn* is a ``Backend.knn_counts`` value: "cuda" (the
    kernel on the arrays as given: CuPy, or NumPy under the CUDA simulator, which the tests
    use), "numba" or "tree"."""
    from noprune_theory.backend import to_numpy

    Xb = as_batch(X, "X", xp)
    Yb = as_batch(Y, "Y", xp)
    if Xb.shape[0] != Yb.shape[0]:
        raise ValueError(f"X and Y must have the same number of problems P (axis 0), got "
                         f"{Xb.shape[0]} and {Yb.shape[0]}")
    n = same_length(X=Xb, Y=Yb)
    k, algorithm, standardize, jitter, seed, divisor = _common_checks(
        k, n, algorithm, standardize, jitter, seed, base)
    workers = _check_workers(workers)
    if standardize == "none":
        (Xb, Yb), _ = common_scale([Xb, Yb], ["X", "Y"], xp=xp)
    noise_x, noise_y = draw_noise(seed, [tuple(Xb.shape), tuple(Yb.shape)], jitter)
    matches = same_columns([Xb, Yb], standardize=standardize, jitter=jitter, xp=xp)
    P = Xb.shape[0]
    _check_batch_ties(to_numpy(Xb), to_numpy(Yb), k, jitter)
    if knn == "cuda":
        from noprune_theory.kernels import cuda_knn

        if k > cuda_knn.MAX_K:
            raise ValueError(f"k must be an integer <= {cuda_knn.MAX_K} on the cupy backend, "
                             f"got {k}")
        px, cx = prepare(Xb, standardize=standardize, jitter=jitter, noise=noise_x, xp=xp)
        py, cy = prepare(Yb, standardize=standardize, jitter=jitter, noise=noise_y, xp=xp)
        px, py = apply_same_columns([px, py], matches, xp=xp)
        # problems where all of x or all of y is constant have exactly zero information
        degenerate = xp.logical_or(xp.all(cx, axis=(1, 2)), xp.all(cy, axis=(1, 2)))
        nx, ny, eps = cuda_knn.ksg_counts_batch(px, py, k, algorithm)
        zero_eps = xp.logical_and(xp.any(eps == 0.0, axis=1), xp.logical_not(degenerate))
        if bool(xp.any(zero_eps)):
            raise ValueError(f"some problems hold repeated points (k-th neighbour at distance "
                             f"0); {_TIES_HINT}")
        local = _ksg_local(nx, ny, k, n, algorithm, xp)
    else:
        # one problem at a time on the CPU: temporaries of one problem, not of the batch
        Xn, Yn = to_numpy(Xb), to_numpy(Yb)
        local_np = np.zeros((P, n))
        degen = np.zeros(P, dtype=bool)
        for p in range(P):
            px, cx = prepare(Xn[p], standardize=standardize, jitter=jitter,
                             noise=None if noise_x is None else noise_x[p], xp=np)
            py, cy = prepare(Yn[p], standardize=standardize, jitter=jitter,
                             noise=None if noise_y is None else noise_y[p], xp=np)
            px, py = apply_same_columns(
                [px, py], [(v, j, u, i, sign, mask[p]) for v, j, u, i, sign, mask in matches
                           if mask[p]], xp=np)
            if cx.all() or cy.all():
                degen[p] = True
                continue
            nx, ny, eps = _ksg_counts_cpu(px, py, k, algorithm, knn, workers)
            if nx is None:
                raise ValueError(f"problem {p} holds repeated points (k-th neighbour at "
                                 f"distance 0); {_TIES_HINT}")
            local_np[p] = _ksg_local(nx, ny, k, n, algorithm, np)
        local = xp.asarray(local_np)
        degenerate = xp.asarray(degen)
    local = xp.where(degenerate[:, None], xp.zeros_like(local), local)
    if divisor != 1.0:
        local = local / divisor
    if return_local:
        return local
    return xp.mean(local, axis=1)


def _check_batch_ties(Xh, Yh, k, jitter):
    """:func:`check_ties` for each problem of a batch (on host copies), skipping problems
    whose x or y is all constant (their estimate is exactly 0)."""
    for p in range(Xh.shape[0]):
        if np.all(Xh[p].max(axis=0) == Xh[p].min(axis=0)) or \
                np.all(Yh[p].max(axis=0) == Yh[p].min(axis=0)):
            continue
        check_ties([Xh[p], Yh[p]], [f"X[{p}]", f"Y[{p}]"], k, jitter, hint=_TIES_HINT)


# ------------------------------------------------------------------------ entropy (KL)


def knn_entropy(
    x: ArrayLike,
    *,
    k: int = 3,
    metric: Literal["chebyshev", "euclidean"] = "chebyshev",
    standardize: Literal["none", "std"] = "none",
    jitter: float = 1e-10,
    seed: int | np.random.Generator | None = 0,
    base: float | None = None,
    return_local: bool = False,
    backend: Literal["auto", "numpy", "numba"] | None = "auto",
    workers: int | None = None,
    discrete: str | bool = "auto",
) -> float | NDArray[np.float64]:
    r"""Differential entropy h(X) by the Kozachenko-Leonenko k-NN estimator.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
        Samples of X (real, finite, no constant column).
    k : int, default 3
        Neighbour order, ``1 <= k < n``.
    metric : {"chebyshev", "euclidean"}, default "chebyshev"
        Norm of the neighbour search (max norm, as in KSG; or Euclidean).
    standardize : {"none", "std"}, default "none"
        ``"std"`` searches neighbours on columns divided by their standard deviations s_j and
        adds back :math:`\sum_j \log s_j` (the Jacobian), so the result is always the entropy
        of *x* in its own units. Default off, as in ennemi's ``estimate_entropy`` (which never
        scales): one column gives the same value either way, and several columns in shared
        units keep their max-norm geometry; turn it on for columns of very different
        spreads.
    jitter : float, default 1e-10
        Tie-breaking noise, as in :func:`ksg_mi` (the only randomness).
    seed : int, numpy.random.Generator or None, default 0
        Seeds the jitter, as in :func:`ksg_mi`.
    base : float or None, default None
        Logarithm base of the result: None (nats), 2 (bits), 10 ...
    return_local : bool, default False
        Return the per-point terms, shape (n,), whose mean is the estimate.
    backend : {"auto", "numpy", "numba"}, default "auto"
        Where the neighbour search runs, as in :func:`ksg_mi` (``numba``: the strip kernel
        for points in the plane with the max norm, bit-identical to the tree; cKDTree
        elsewhere). No CUDA kernel: ``"cupy"`` (and ``"auto"`` on CuPy inputs) raises
        ValueError.
    workers : int or None, default None
        Threads for the tree query, as in :func:`ksg_mi`.
    discrete : "auto" or bool, default "auto"
        Whether x holds labels (``"auto"``: integer, bool and string dtypes do). A discrete x
        has a Shannon entropy, estimated by the plug-in from counts (as
        :func:`plugin_entropy`, labels compared by equality); the k-NN arguments are unused.

    Returns
    -------
    float or ndarray
        The estimate of the differential entropy h(X) in nats (or in *base*), or the local
        values with ``return_local``.

    Notes
    -----
    With :math:`\rho_i` the distance from point i to its k-th neighbour (Kozachenko &
    Leonenko 1987; KSG 2004 eq. 20),

    .. math:: \hat h = \psi(n) - \psi(k) + \log c_d + \frac{d}{n} \sum_i \log \rho_i,

    :math:`c_d = 2^d` (volume of the unit max-norm ball) or :math:`\pi^{d/2} / \Gamma(1 + d/2)`
    (Euclidean). A constant column has entropy :math:`-\infty`: it is rejected with a
    ValueError rather than returned as a finite number.

    References
    ----------
    L. F. Kozachenko, N. N. Leonenko, "Sample estimate of the entropy of a random vector",
    Probl. Inf. Transm. 23, 95-101 (1987). A. Kraskov et al., Phys. Rev. E 69, 066138 (2004).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import knn_entropy
    >>> x = np.random.default_rng(0).standard_normal(4000)
    >>> exact = 0.5 * np.log(2 * np.pi * np.e)   # 1.4189 nats
    >>> bool(abs(knn_entropy(x) - exact) < 0.05)
    True
    """
    from noprune_theory.estimators._categories import label_codes, resolve_discrete

    (is_discrete,) = resolve_discrete(discrete, [x], ["x"])
    knn = _knn_backend(backend, [x], "knn_entropy", gpu=False).knn_counts
    if is_discrete:
        codes = label_codes(x, "x")
        divisor = check_base(base)
        counts = np.bincount(codes)
        local = -np.log(counts[codes] / len(codes))
        return _finish(local, divisor, return_local)
    xs = as_samples(x, "x")
    n, d = xs.shape
    k = check_k(k, n)
    metric = check_choice(metric, "metric", ("chebyshev", "euclidean"))
    standardize = check_standardize(standardize)
    if standardize == "rank":
        raise ValueError("standardize must be 'none' or 'std' for knn_entropy (ranks would "
                         "estimate the entropy of the ranks), got 'rank'")
    jitter = check_jitter(jitter)
    seed = check_seed(seed)
    divisor = check_base(base)
    workers = _check_workers(workers)
    constant = xs.max(axis=0) == xs.min(axis=0)
    if constant.any():
        raise ValueError(f"x has constant column(s) {np.flatnonzero(constant).tolist()}: the "
                         f"differential entropy of a constant is -inf")
    # log of the original units: extreme magnitudes are searched after an exact power-of-two
    # scaling, whose logarithm is added back (h(c x) = h(x) + d log c)
    if standardize == "none":
        (xs,), log_factor = common_scale([xs], ["x"], xp=np)
        jacobian = -d * float(log_factor)
    else:
        exponent = _power_of_two_scale(np.abs(xs).max(axis=0))
        scaled = _times_power_of_two(xs, exponent, np)
        jacobian = float(np.sum(np.log(scaled.std(axis=0)) - exponent * math.log(2.0)))
    check_ties([xs], ["x"], k, jitter, hint="The differential entropy of a law with atoms is "
               "-inf; for discrete data use plugin_entropy")
    copies = sorted({j for _, j, _, _, _, _ in same_columns([xs], standardize=standardize,
                                                            jitter=jitter, xp=np)})
    if copies:
        raise ValueError(f"column(s) {copies} of x are copies of other columns (up to sign "
                         f"and scale): x lies on a lower-dimensional set and its differential "
                         f"entropy is -inf")
    (noise,) = draw_noise(seed, [xs.shape], jitter)
    px, _ = prepare(xs, standardize=standardize, jitter=jitter, noise=noise, xp=np)
    if metric == "chebyshev":
        rho = _kth_distance(px, k, knn, workers)
        log_cd = d * math.log(2.0)
    else:
        from scipy.spatial import cKDTree

        tree = cKDTree(px)
        dist, _ = tree.query(px, k=[k + 1], p=2,
                             workers=-1 if workers is None else workers)
        rho = dist[:, 0]
        log_cd = (d / 2) * math.log(math.pi) - math.lgamma(1 + d / 2)
    if np.any(rho == 0):
        raise ValueError(f"x holds repeated points ({int(np.sum(rho == 0))} of {n} have their "
                         f"k-th neighbour at distance 0); {_TIES_HINT}")
    local = (digamma_scalar(n) - digamma_scalar(k) + log_cd + jacobian) + d * np.log(rho)
    return _finish(local, divisor, return_local)


# ------------------------------------------------------------- conditional MI (FP 2007)


def conditional_mi(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    *,
    k: int = 3,
    standardize: Literal["std", "rank", "none"] = "std",
    jitter: float = 1e-10,
    seed: int | np.random.Generator | None = 0,
    base: float | None = None,
    return_local: bool = False,
    backend: Literal["auto", "numpy", "numba"] | None = "auto",
    workers: int | None = None,
    discrete: str | bool | Sequence[str | bool] = "auto",
    ties: Literal["raise", "count"] = "raise",
) -> float | NDArray[np.float64]:
    r"""Conditional mutual information I(X; Y | Z) by the Frenzel-Pompe k-NN estimator.

    Parameters
    ----------
    x, y, z : array_like, shapes (n,) or (n, dx), (n, dy), (n, dz)
        Paired samples (real, finite).
    k : int, default 3
        Number of neighbours, ``1 <= k < n``, as in :func:`ksg_mi`.
    standardize : {"std", "rank", "none"}, default "std"
        As in :func:`ksg_mi` (``"std"`` scales each column of x, y and z as ennemi's
        ``preprocess=True`` does, z included).
    jitter : float, default 1e-10
        Tie-breaking noise, as in :func:`ksg_mi`.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the jitter: noise for x, then y, then z, from ``default_rng(seed)`` (with
        discrete variables: for the continuous ones, in that order).
    base : float or None, default None
        Logarithm base of the result: None (nats), 2 (bits), 10 ...
    return_local : bool, default False
        Return the per-point terms (ndarray of shape (n,)); their mean is the estimate.
    backend : {"auto", "numpy", "numba"}, default "auto"
        Where the neighbour counts run, as in :func:`ksg_mi`. No CUDA kernel: ``"cupy"``
        (and ``"auto"`` on CuPy inputs) raises ValueError rather than running on the CPU.
    workers : int or None, default None
        Threads for the neighbour searches and counts, as in :func:`ksg_mi`.
    discrete : "auto", bool, name(s) or booleans, default "auto"
        Which of x, y, z are discrete (labels compared by equality), as in :func:`ksg_mi`:
        ``"z"``, ``("y", "z")``, ``(False, True, False)``... Any mix is supported: the
        Frenzel-Pompe estimator with the discrete metric (the construction Mesner & Shalizi
        2020 study for mixed data), KSG within
        each stratum for a discrete z, Ross (2014) within strata for a discrete x or y, the
        plug-in when all three are discrete (see docs/estimators.md for the bias).
    ties : {"raise", "count"}, default "raise"
        Repeated points (exact copies of a row of (x, y, z)): ``"raise"`` refuses them as
        :func:`ksg_mi` does; ``"count"`` treats them as atoms with the rule of Gao et al.
        (2017) that Mesner & Shalizi (2020) use for I(X; Y | Z): a point whose k-th neighbour
        is at distance 0 gets, for k and every count, the number of its exact copies. Use it
        (usually with ``jitter=0``) for continuous variables with atoms. On data without
        repeated points both give the same number.

    Returns
    -------
    float or ndarray
        The estimate of I(X; Y | Z) in nats (or in *base*), or the local values with
        ``return_local``.

    Notes
    -----
    With :math:`\epsilon_i` the max-norm distance to the k-th neighbour in the joint
    (x, y, z) space (Frenzel & Pompe 2007, eq. 4; Vejmelka & Palus 2008):

    .. math:: \hat I(X;Y|Z) = \psi(k) - \langle \psi(n_{xz}(i) + 1) + \psi(n_{yz}(i) + 1)
              - \psi(n_z(i) + 1) \rangle,

    each n counting the points j != i strictly closer than :math:`\epsilon_i` in that subspace.
    If every column of z is constant this is the KSG estimate of I(X; Y); if every column of x
    or of y is constant the result is exactly 0.

    References
    ----------
    S. Frenzel, B. Pompe, "Partial mutual information for coupling analysis of multivariate
    time series", Phys. Rev. Lett. 99, 204101 (2007). B. C. Ross, "Mutual information between
    discrete and continuous data sets", PLoS ONE 9, e87357 (2014). J. Mesner, C. Shalizi,
    "Conditional mutual information estimation for mixed, discrete and continuous data", IEEE
    Trans. Inf. Theory 67, 464-484 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import conditional_mi
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal(3000)
    >>> x = z + rng.standard_normal(3000)
    >>> y = z + rng.standard_normal(3000)
    >>> abs(conditional_mi(x, y, z)) < 0.03      # X and Y are independent given Z
    True
    """
    from noprune_theory.estimators._categories import resolve_discrete
    from noprune_theory.kernels import cpu_knn

    flags = resolve_discrete(discrete, [x, y, z], ["x", "y", "z"])
    ties = check_choice(ties, "ties", ("raise", "count"))
    if any(flags) or ties == "count":
        return _discrete_route([x, y, z], ["x", "y", "z"], flags, k=k, algorithm=1,
                               standardize=standardize, jitter=jitter, seed=seed, base=base,
                               return_local=return_local, workers=workers, backend=backend,
                               ties=ties)
    knn = _knn_backend(backend, [x, y, z], "conditional_mi", gpu=False).knn_counts
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    zs = as_samples(z, "z")
    n = same_length(x=xs, y=ys, z=zs)
    k, _, standardize, jitter, seed, divisor = _common_checks(
        k, n, 1, standardize, jitter, seed, base)
    workers = _check_workers(workers)
    if standardize == "none":
        (xs, ys, zs), _ = common_scale([xs, ys, zs], ["x", "y", "z"], xp=np)
    nx_, ny_, nz_ = draw_noise(seed, [xs.shape, ys.shape, zs.shape], jitter)
    px, cx = prepare(xs, standardize=standardize, jitter=jitter, noise=nx_, xp=np)
    py, cy = prepare(ys, standardize=standardize, jitter=jitter, noise=ny_, xp=np)
    pz, _ = prepare(zs, standardize=standardize, jitter=jitter, noise=nz_, xp=np)
    px, py, pz = apply_same_columns(
        [px, py, pz], same_columns([xs, ys, zs], standardize=standardize, jitter=jitter, xp=np),
        xp=np)
    if cx.all() or cy.all():
        return _finish(np.zeros(n), divisor, return_local)
    check_ties([xs, ys, zs], ["x", "y", "z"], k, jitter, hint=_TIES_HINT)
    joint = np.concatenate([px, py, pz], axis=1)
    eps = cpu_knn.knn_kth_distance(joint, k, workers=workers)
    if np.any(eps == 0):
        raise ValueError(f"x, y and z hold repeated points; {_TIES_HINT}")
    xz = np.concatenate([px, pz], axis=1)
    yz = np.concatenate([py, pz], axis=1)
    nxz = cpu_knn.count_within(xz, eps, strict=True, method=knn, workers=workers)
    nyz = cpu_knn.count_within(yz, eps, strict=True, method=knn, workers=workers)
    nz = cpu_knn.count_within(pz, eps, strict=True, method=knn, workers=workers)
    local = (digamma_scalar(k) - digamma_int(nxz + 1, np) - digamma_int(nyz + 1, np)
             + digamma_int(nz + 1, np))
    return _finish(local, divisor, return_local)


# ------------------------------------------------------------- mixed (Gao et al. 2017)


def mixed_mi(
    x: ArrayLike,
    y: ArrayLike,
    *,
    k: int = 3,
    standardize: Literal["std", "rank", "none"] = "std",
    jitter: float = 0.0,
    seed: int | np.random.Generator | None = 0,
    base: float | None = None,
    return_local: bool = False,
    backend: Literal["auto", "numpy", "numba"] | None = "auto",
    workers: int | None = None,
    discrete: str | bool | Sequence[str | bool] = "auto",
) -> float | NDArray[np.float64]:
    r"""I(X; Y) for discrete, continuous or mixed variables (Gao, Kannan, Oh & Viswanath 2017).

    Ties are part of the model here, not an accident: points of a discrete variable repeat,
    and the estimator counts them instead of breaking them, so no jitter is added by default.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, dx)
        Samples of X; columns may be discrete (repeated values), continuous, or a mixture.
    y : array_like, shape (n,) or (n, dy)
        Samples of Y, paired row by row with *x*; discrete, continuous or mixed like *x*.
    k : int, default 3
        Neighbour order, ``1 <= k < n``.
    standardize : {"std", "rank", "none"}, default "std"
        As in :func:`ksg_mi` (scaling keeps repeated values repeated; the conventions of
        scikit-learn and ennemi are compared there).
    jitter : float, default 0
        Optional noise as in :func:`ksg_mi`; 0 keeps ties, which this estimator needs.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the jitter only (unused when ``jitter == 0``).
    base : float or None, default None
        Logarithm base of the result: None (nats), 2 (bits), 10 ...
    return_local : bool, default False
        Return the per-point terms (ndarray of shape (n,)); their mean is the estimate.
    backend : {"auto", "numpy", "numba"}, default "auto"
        Where the neighbour searches and counts run, as in :func:`ksg_mi`; this estimator
        has no CUDA kernel, so ``"cupy"`` (and ``"auto"`` on CuPy inputs) raises ValueError.
    workers : int or None, default None
        Threads for the neighbour searches and counts, as in :func:`ksg_mi`.
    discrete : "auto", bool, name(s) or booleans, default "auto"
        Which of x and y hold labels, compared by equality (integer, bool and string dtypes
        with ``"auto"``). Without one, the estimator below measures distances between all
        values, so labels 0 and 1e-4 would fall into one class after scaling and the result
        would depend on the coding. With one: Ross (2014) for a discrete-continuous pair (the
        continuous one may have atoms: its exact copies are counted by the rule below), the
        plug-in for two discrete variables.

    Returns
    -------
    float or ndarray
        The estimate of I(X; Y) in nats (or in *base*), or the local values with
        ``return_local``.

    Notes
    -----
    For each i let :math:`\rho_i` be the max-norm distance to the k-th neighbour in the joint
    space. Counts below include the point i itself.

    - If :math:`\rho_i > 0`: :math:`\tilde k_i = k`, :math:`m_x(i) = \#\{j : \|x_j - x_i\|
      < \rho_i\}`, likewise :math:`m_y(i)`.
    - If :math:`\rho_i = 0` (point i has at least k exact copies): :math:`\tilde k_i`,
      :math:`m_x(i)`, :math:`m_y(i)` count the exact copies of :math:`(x_i, y_i)`, of
      :math:`x_i` and of :math:`y_i`.

    .. math:: \hat I = \frac1n \sum_i \left[\psi(\tilde k_i) + \log n - \psi(m_x(i))
              - \psi(m_y(i))\right].

    This is the digamma form used by the authors' reference implementation. The paper's
    Algorithm 1 writes :math:`\log(n_x(i) + 1)` with inclusive counts instead of
    :math:`\psi(m_x(i))`; both are consistent (Theorem 1 of the paper, k growing with n), but
    the logarithm form is biased by about :math:`\psi(k) - \log(k + 1)` (-0.46 nats at
    k = 3) where a marginal count stays near k. On continuous data this is KSG algorithm 1
    (with :math:`\log n` for :math:`\psi(n)`); on purely discrete data it is
    :math:`\psi(c_{xy}) + \log n - \psi(c_x) - \psi(c_y)` averaged over the samples, close
    to the plug-in estimate. Not clipped at 0.

    References
    ----------
    W. Gao, S. Kannan, S. Oh, P. Viswanath, "Estimating mutual information for
    discrete-continuous mixtures", NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.estimators import mixed_mi
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 4, size=5000)          # X uniform on {0, 1, 2, 3}
    >>> y = x + 2 * rng.random(5000)               # Y | X uniform on [X, X + 2]
    >>> exact = np.log(4) - 3 / 4 * np.log(2)      # log m - (m - 1)/m log 2
    >>> bool(abs(mixed_mi(x, y) - exact) < 0.05)
    True
    """
    from noprune_theory.estimators._categories import resolve_discrete
    from noprune_theory.kernels import cpu_knn

    flags = resolve_discrete(discrete, [x, y], ["x", "y"])
    if any(flags):
        return _discrete_route([x, y], ["x", "y"], flags, k=k, algorithm=1,
                               standardize=standardize, jitter=jitter, seed=seed, base=base,
                               return_local=return_local, workers=workers, backend=backend,
                               ties="count")
    knn = _knn_backend(backend, [x, y], "mixed_mi", gpu=False).knn_counts
    xs = as_samples(x, "x")
    ys = as_samples(y, "y")
    n = same_length(x=xs, y=ys)
    k, _, standardize, jitter, seed, divisor = _common_checks(
        k, n, 1, standardize, jitter, seed, base)
    workers = _check_workers(workers)
    if standardize == "none":
        (xs, ys), _ = common_scale([xs, ys], ["x", "y"], xp=np)
    noise_x, noise_y = draw_noise(seed, [xs.shape, ys.shape], jitter)
    px, cx = prepare(xs, standardize=standardize, jitter=jitter, noise=noise_x, xp=np)
    py, cy = prepare(ys, standardize=standardize, jitter=jitter, noise=noise_y, xp=np)
    px, py = apply_same_columns(
        [px, py], same_columns([xs, ys], standardize=standardize, jitter=jitter, xp=np), xp=np)
    if cx.all() or cy.all():
        return _finish(np.zeros(n), divisor, return_local)
    joint = np.concatenate([px, py], axis=1)
    rho = _kth_distance(joint, k, knn, workers)
    zero = rho == 0
    # counts include the point itself; strict (< rho) where rho > 0, exact ties where rho = 0
    k_tilde = np.full(n, k, dtype=np.int64)
    mx = cpu_knn.count_within(px, rho, strict=True, method=knn, workers=workers) + 1
    my = cpu_knn.count_within(py, rho, strict=True, method=knn, workers=workers) + 1
    if zero.any():
        k_tilde[zero] = cpu_knn.count_zero_distance(joint, workers=workers)[zero] + 1
        mx[zero] = cpu_knn.count_zero_distance(px, workers=workers)[zero] + 1
        my[zero] = cpu_knn.count_zero_distance(py, workers=workers)[zero] + 1
    local = (digamma_int(k_tilde, np) + math.log(n)) - digamma_int(mx, np) - digamma_int(my, np)
    return _finish(local, divisor, return_local)
