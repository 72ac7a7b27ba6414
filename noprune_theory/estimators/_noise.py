"""Correlation of a fitted function with the label noise, and the law of robustness checked on a
trained network.

Where this sits in the data flow: after training, :func:`noise_correlation` measures how much of
the label noise a network has absorbed, the quantity at the heart of the proofs of [BS] and
[NFP] (fitting below the noise level forces ``(1/n) sum_i (f(x_i) - E f) z_i`` to be large,
which isoperimetry forbids for a Lipschitz f from a small class). :func:`law_of_robustness_check`
puts the measured Lipschitz constant of each network beside the lower bound of [NFP, Theorem 4]
for its own measured p_eff (:func:`measured_effective_params`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory.backend import array_namespace, to_numpy
from noprune_theory.estimators._preprocess import check_number

if TYPE_CHECKING:
    from noprune_theory.models import MaskedMLP

__all__ = [
    "LawCheck",
    "law_of_robustness_check",
    "measured_effective_params",
    "noise_correlation",
]


def _is_model(obj):
    from noprune_theory.models import MaskedMLP

    return isinstance(obj, MaskedMLP)


def _values(model, X):
    f = model.forward(X)
    if f.shape[-1] != 1:
        raise ValueError(f"noise_correlation needs networks with one output, got out = "
                         f"{f.shape[-1]}")
    return f[..., 0]  # (B, n)


def noise_correlation(f: MaskedMLP | ArrayLike, X: ArrayLike | None, z: ArrayLike, *,
                      mean: ArrayLike | None = None, fresh: ArrayLike | None = None) -> Any:
    """Correlate a function with the label noise: ``(1/n) sum_i (f(x_i) - E f) z_i``.

    Parameters
    ----------
    f : MaskedMLP, or array (n,) or (B, n)
        A batch of networks (evaluated at X), or the values ``f(x_i)`` already computed.
    X : array (n, d) or None
        The training inputs; needed when *f* is a model, ignored (may be None) for values.
    z : array (n,) or (B, n)
        The label noise, held fixed (``y = f*(x) + sigma z``; see
        :func:`noprune_theory.data.noisy_labels` with ``return_noise=True``).
    mean : float or array (B,), optional
        ``E f`` under the data law, if known.
    fresh : array, optional
        Estimates ``E f`` when *mean* is not given: fresh points ``(m, d)`` from the data law
        (model case) or fresh values ``(m,)`` / ``(B, m)`` (values case). Never the training
        points: their mean is biased by the fit.

    Returns
    -------
    float or array (B,)
        A float for values of shape (n,), else one number per network, in the input's array
        library.

    Notes
    -----
    [NFP] Sec. 6 tracks ``corr = (1/n) sum_i (f(x_i) - E_mu f) z_i`` over training and IMP
    rounds. In [BS] Sec. 2 a function fitting below the noise level by eps has
    ``(1/n) sum_i (f(x_i) - E f) z_i >= eps / (2 sigma) - ...`` (roughly), while isoperimetry
    keeps it of order ``L / sqrt(n d)`` for each fixed L-Lipschitz f.

    References
    ----------
    .. [BS] S. Bubeck and M. Sellke, "A Universal Law of Robustness via Isoperimetry",
       NeurIPS 2021, proof of Theorem 2.
    .. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune", ICML 2024, Sec. 6.

    Examples
    --------
    >>> import numpy as np
    >>> # (1/3) [(2 - 1) 1 + (-1 - 1)(-1) + (1 - 1) 1] = 1
    >>> noise_correlation(np.array([2.0, -1.0, 1.0]), None, np.array([1.0, -1.0, 1.0]), mean=1.0)
    1.0
    """
    if _is_model(f):
        if X is None:
            raise ValueError("X must be given when f is a model")
        values = _values(f, X)
        xp = f.xp
        n = values.shape[-1]
    else:
        if not hasattr(f, "shape"):
            f = np.asarray(f, dtype=np.float64)
        xp = array_namespace(f)
        values = f
        if values.ndim not in (1, 2):
            raise ValueError(f"f must be a model or values of shape (n,) or (B, n), got shape "
                             f"{tuple(values.shape)}")
        n = values.shape[-1]
        if not bool(xp.all(xp.isfinite(values))):
            raise ValueError("f must not contain NaN or inf")
    if not hasattr(z, "shape"):
        z = np.asarray(z, dtype=np.float64)
    if isinstance(z, np.ndarray) and not isinstance(values, np.ndarray):
        z = xp.asarray(z)
    if tuple(z.shape) not in ((n,), tuple(values.shape)):
        raise ValueError(f"z must have shape ({n},) or {tuple(values.shape)}, got "
                         f"{tuple(z.shape)}")
    z = xp.astype(z, values.dtype)
    if not bool(xp.all(xp.isfinite(z))):
        raise ValueError("z must not contain NaN or inf")
    if mean is not None and fresh is not None:
        raise ValueError("give at most one of mean and fresh")
    if mean is None and fresh is None:
        raise ValueError("E f is needed: give mean= (known) or fresh= (fresh points from the "
                         "data law for a model, or fresh values of f)")
    if mean is not None:
        if isinstance(mean, (int, float)) and not isinstance(mean, bool):
            mu = check_number(mean, "mean")
        else:
            mu = xp.asarray(mean, dtype=values.dtype) if isinstance(mean, np.ndarray) and \
                not isinstance(values, np.ndarray) else mean
            if values.ndim != 2 or tuple(mu.shape) != (values.shape[0],):
                raise ValueError(f"mean must be a number or have shape ({values.shape[0]},) "
                                 f"for (B, n) values, got {getattr(mu, 'shape', mu)!r}")
            mu = mu[:, None]
    else:
        fv = _values(f, fresh) if _is_model(f) else fresh
        if not hasattr(fv, "shape"):
            fv = np.asarray(fv, dtype=np.float64)
        if isinstance(fv, np.ndarray) and not isinstance(values, np.ndarray):
            fv = xp.asarray(fv)
        if values.ndim == 1 and fv.ndim != 1 or values.ndim == 2 and not (
                fv.ndim == 2 and fv.shape[0] == values.shape[0]):
            raise ValueError(f"fresh values must have shape (m,) for values (n,), or "
                             f"({values.shape[0]}, m) for (B, n), got {tuple(fv.shape)}")
        if fv.shape[-1] < 1:
            raise ValueError("fresh must hold at least one point")
        mu = xp.mean(xp.astype(fv, values.dtype), axis=-1)
        if values.ndim == 2:
            mu = mu[:, None]
    out = xp.sum((values - mu) * z, axis=-1) / n
    if out.ndim == 0:
        return float(out)
    return out


def measured_effective_params(model: MaskedMLP, mi: ArrayLike = 0.0, *, eps: float = 0.1,
                              X: ArrayLike | None = None,
                              mi_unit: Literal["bits", "nats"] = "bits") -> dict[str, Any]:
    """Measure p_eff of [NFP, Theorem 4] for each trained, pruned network of a batch, in bits.

    Parameters
    ----------
    model : MaskedMLP
        The batch of (trained, pruned) networks.
    mi : float or array (B,), default 0
        The measured I(m; D) (or I(m; D | init)), e.g. from
        :func:`~noprune_theory.estimators.mask_data_information`; 0 for data-agnostic masks.
    eps : float in (0, 1), default 0.1
        The fitting margin of the theorem.
    X : array (n, d), optional
        The data: sets the input radius R = max ||x_i|| of J; R = 1 without data (the typical
        norm of N(0, I_d / d) points).
    mi_unit : {"bits", "nats"}, default "bits"
        Unit of *mi*; the result is in bits.

    Returns
    -------
    dict
        ``p_eff`` (B,), ``kept`` (B,), ``W`` (B,), ``J`` (B,), ``w_max`` (B,), ``R``, ``p``.

    Notes
    -----
    ``p_eff = I(m; D) + ||m||_1 log2(1 + 60 W J / eps)``
    (:func:`noprune_theory.theory.effective_params`), with the measured quantities: ``||m||_1``
    the kept weights of the network; ``w_max`` the largest absolute parameter (kept weights and
    biases, multipliers of the scaling included), so the parameters lie in the box
    ``[-w_max, w_max]^p``, whose Euclidean diameter is ``W = 2 w_max sqrt(p)``, with p the
    kept weights plus the biases; and ``J = R (w_max p)^D`` from the architecture
    ([BS] Lemma 3.1, Q = 1, D the number of layers).

    Examples
    --------
    >>> from noprune_theory.models import MaskedMLP
    >>> net = MaskedMLP(3, (4,), B=2, seed=0)
    >>> out = measured_effective_params(net)
    >>> out["kept"].tolist(), bool((out["p_eff"] > 16 * 4).all())
    ([16, 16], True)
    """
    from noprune_theory.models import MaskedMLP
    from noprune_theory.theory import effective_params, lipschitz_param_constant

    if not isinstance(model, MaskedMLP):
        raise TypeError(f"model must be a MaskedMLP, got {type(model).__name__}")
    eps = check_number(eps, "eps", low=0, high=1, low_inclusive=False, high_inclusive=False)
    kept = model.kept_count()
    w_max = np.zeros(model.B)
    for l, w in enumerate(model.weights):
        a = np.abs(to_numpy(w)).reshape(model.B, -1).max(axis=1) * abs(model.multipliers[l])
        w_max = np.maximum(w_max, a)
    n_bias = 0
    if model.biases is not None:
        for b in model.biases:
            w_max = np.maximum(w_max, np.abs(to_numpy(b)).reshape(model.B, -1).max(axis=1))
            n_bias += int(b.shape[-1])
    w_max = np.where(w_max > 0, w_max, np.finfo(np.float64).tiny)
    R = 1.0
    if X is not None:
        Xh = to_numpy(model._prepare_X(X))
        R = float(np.sqrt((Xh * Xh).sum(axis=-1)).max()) or 1.0
    p = np.maximum(kept + n_bias, 1).astype(np.float64)
    J = lipschitz_param_constant(p, R=R, w_max=w_max, depth=model.depth)
    W = 2.0 * w_max * np.sqrt(p)
    p_eff = effective_params(kept.astype(np.float64), mi, eps=eps, W=W, J=J, mi_unit=mi_unit)
    return {"p_eff": np.asarray(p_eff, dtype=np.float64), "kept": kept, "W": W,
            "J": np.asarray(J, dtype=np.float64), "w_max": w_max, "R": R, "p": p}


@dataclass
class LawCheck:  # numpydoc ignore=PR01
    """The measured Lipschitz constant beside the bound of [NFP, Theorem 4], per network.

    Attributes
    ----------
    lipschitz_lower, lipschitz_upper : ndarray (B,)
        Certified lower and upper bounds of the network's Lipschitz constant.
    bound : ndarray (B,)
        The theorem's lower bound for the network's measured p_eff.
    p_eff : ndarray (B,)
        The measured effective number of parameters, in bits.
    fits : ndarray of bool (B,) or None
        Whether the network fits below the noise level, ``(1/n) sum (f - y)^2 <= sigma2 - eps``
        (None without ``sigma2``); the bound speaks only about such networks.
    consistent : ndarray of bool (B,)
        ``lipschitz_upper >= bound`` or not ``fits``: False would contradict the theorem (or
        signal its probability-delta failure event).
    mse : ndarray (B,)
        Training mean squared error ``(1/n) sum (f(x_i) - y_i)^2`` of each network.
    """

    lipschitz_lower: NDArray[np.float64]
    lipschitz_upper: NDArray[np.float64]
    bound: NDArray[np.float64]
    p_eff: NDArray[np.float64]
    fits: NDArray[np.bool_] | None
    consistent: NDArray[np.bool_]
    mse: NDArray[np.float64]


def law_of_robustness_check(model: MaskedMLP, X: ArrayLike, y: ArrayLike, mi: ArrayLike = 0.0, *,
                            eps: float = 0.1, delta: float = 0.01, c: float = 1.0,
                            sigma2: float | None = None,
                            mi_unit: Literal["bits", "nats"] = "bits",
                            lower_options: dict[str, Any] | None = None,
                            upper_method: str = "auto") -> LawCheck:
    """Measure the Lipschitz constants of trained networks beside the sparse law's bound.

    Parameters
    ----------
    model : MaskedMLP
        Trained (and pruned) networks with one output.
    X : array (n, d)
        Training inputs.
    y : array (n,)
        Training labels.
    mi : float or array (B,), default 0
        Measured I(m; D) (see :func:`mask_data_information`).
    eps, delta : float in (0, 1), defaults 0.1, 0.01
        Fitting margin and failure probability of the theorem.
    c : float > 0, default 1
        Isoperimetry constant of the data law.
    sigma2 : float > 0 or None
        Noise level; when given, ``fits`` says which networks fit below ``sigma2 - eps``.
    mi_unit : {"bits", "nats"}, default "bits"
        Unit of *mi*.
    lower_options : dict or None
        Passed to :func:`lipschitz_lower`.
    upper_method : str, default "auto"
        Passed to :func:`lipschitz_upper`.

    Returns
    -------
    LawCheck
        The bounds, the theorem's bound, p_eff, the fit and the verdict, per network.

    Notes
    -----
    The bound is :func:`noprune_theory.theory.sparse_robustness_bound` at the measured
    ``p_eff`` (:func:`measured_effective_params`), with ``n`` and ``d`` of the data; the
    sample-size condition of the theorem is not enforced (``check="ignore"``): at simulation
    sizes it rarely holds and the comparison is still informative.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.models import MaskedMLP
    >>> net = MaskedMLP(3, (4,), B=2, seed=0)
    >>> X = np.random.default_rng(0).standard_normal((20, 3))
    >>> chk = law_of_robustness_check(net, X, np.zeros(20))
    >>> bool((chk.lipschitz_lower <= chk.lipschitz_upper + 1e-12).all())
    True
    """
    from noprune_theory.estimators._lipschitz import lipschitz_lower, lipschitz_upper
    from noprune_theory.theory import sparse_robustness_bound

    out = measured_effective_params(model, mi, eps=eps, X=X, mi_unit=mi_unit)
    lo = lipschitz_lower(model, X, **(lower_options or {}))
    up = lipschitz_upper(model, upper_method)
    n, d = int(model._prepare_X(X).shape[-2]), model.sizes[0]
    bound = np.asarray(sparse_robustness_bound(n, d, out["p_eff"], eps=eps, delta=delta, c=c,
                                               check="ignore"), dtype=np.float64)
    mse = to_numpy(model.loss(X, y, loss="mse")).astype(np.float64)
    fits = None
    if sigma2 is not None:
        sigma2 = check_number(sigma2, "sigma2", low=0, low_inclusive=False)
        fits = mse <= sigma2 - eps
    upper = to_numpy(up.value).astype(np.float64)
    consistent = upper >= bound if fits is None else (upper >= bound) | ~fits
    return LawCheck(lipschitz_lower=to_numpy(lo.value).astype(np.float64),
                    lipschitz_upper=upper, bound=bound, p_eff=out["p_eff"], fits=fits,
                    consistent=np.asarray(consistent), mse=mse)
