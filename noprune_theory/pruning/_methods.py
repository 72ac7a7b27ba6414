"""The model-facing layer: the method registry, :func:`prune`, IMP and the ablations.

Where this sits in the data flow: a :class:`~noprune_theory.models.MaskedMLP` (fresh, or
trained by :mod:`noprune_theory.training`) goes in, a list of boolean masks (one per layer,
batch axis first) comes out; ``model.set_masks(masks)`` applies them. The formulas live in
:mod:`._scores` (plain arrays) and the exact selection in :mod:`._selection`; this module only
asks the model for gradients or Hessian-vector products and drives iterative schedules.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from noprune_theory._validation import ArgumentTypeError, check_choice, check_scalar, check_seed
from noprune_theory.backend import to_numpy

from ._densities import DENSITY_SCHEMES, layer_densities
from ._scores import grasp_scores, magnitude_scores, random_scores, snip_scores, synflow_scores
from ._selection import select_masks

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from noprune_theory.models import MaskedMLP

__all__ = [
    "DEFAULT_TRAINING",
    "IMPResult",
    "PruningMethod",
    "available_methods",
    "compute_scores",
    "get_method",
    "grasp_hessian_gradient",
    "invert_scores",
    "prune",
    "register_method",
    "reinitialize",
]

#: Training options used between IMP rounds and by ``magnitude_after_training`` unless
#: ``train_options`` overrides them (passed to :func:`noprune_theory.training.train`).
DEFAULT_TRAINING = {"optimizer": "adam", "lr": 1e-2, "steps": 300}

_SCOPES = ("global", "layer")


@dataclass(frozen=True)
class PruningMethod:  # numpydoc ignore=PR01
    """A registered pruning method.

    Attributes
    ----------
    name : str
        The name :func:`prune` takes as ``method``.
    func : callable
        ``kind="score"``: ``func(model, data, *, rng, **options)`` returns one score array per
        layer (higher = keep), shapes like ``model.weights``. ``kind="mask"``:
        ``func(model, data, *, rng, select, **options)`` returns the masks itself, calling
        ``select(scores, progress=1.0, current=None)`` for every exact selection (iterative
        methods call it once per step with ``progress`` in (0, 1]: the per-layer or global
        target densities are raised to the power ``progress``); ``select.density`` is the
        overall target density.
    kind : {"score", "mask"}
        Whether ``func`` returns scores or masks.
    needs_data : bool
        Whether the method needs ``data=(X, y)``.
    """

    name: str
    func: Callable
    kind: str = "score"
    needs_data: bool = False


_REGISTRY: dict = {}


def register_method(name: str, *, kind: Literal["score", "mask"] = "score",
                    needs_data: bool = False, overwrite: bool = False,
                    ) -> Callable[[Callable], Callable]:
    """Make a decorator adding a pruning method to the registry used by :func:`prune`.

    Parameters
    ----------
    name : str
        The name users pass as ``prune(..., method=name)``.
    kind : {"score", "mask"}, default "score"
        ``"score"``: the function returns scores (higher = keep) and :func:`prune` keeps the top
        ones exactly. ``"mask"``: the function returns masks, using the ``select`` callback it
        receives (for iterative schedules such as SynFlow and IMP).
    needs_data : bool, default False
        If True, :func:`prune` refuses to run the method without ``data=(X, y)``.
    overwrite : bool, default False
        Allow replacing an existing method of the same name.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    Keep the weights with the largest initial values (not magnitudes):

    >>> from noprune_theory.pruning import register_method, available_methods
    >>> @register_method("largest_value", overwrite=True)
    ... def largest_value(model, data, *, rng):
    ...     return [model.xp.astype(w, model.xp.float64) for w in model.weights]
    >>> "largest_value" in available_methods()
    True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    check_choice(kind, "kind", ("score", "mask"))

    def decorator(func):
        if not callable(func):
            raise TypeError(f"register_method({name!r}) must decorate a function")
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"a pruning method named {name!r} is already registered; pass overwrite=True "
                "to replace it"
            )
        _REGISTRY[name] = PruningMethod(name, func, kind, bool(needs_data))
        return func

    return decorator


def available_methods() -> tuple[str, ...]:
    """List the names of the registered pruning methods.

    Returns
    -------
    tuple of str
        The names, sorted.

    Examples
    --------
    >>> from noprune_theory.pruning import available_methods
    >>> {"random", "magnitude", "snip", "grasp", "synflow", "imp"} <= set(available_methods())
    True
    """
    return tuple(sorted(_REGISTRY))


def get_method(name: str) -> PruningMethod:
    """Look up the :class:`PruningMethod` registered as *name*.

    Parameters
    ----------
    name : str
        One of :func:`available_methods`.

    Returns
    -------
    PruningMethod
        The registered method.

    Raises
    ------
    ValueError
        If no method has that name (the message lists the known ones).
    """
    check_choice(name, "method", available_methods())
    return _REGISTRY[name]


# ----------------------------------------------------------------------------- validation
def _check_model(model):
    for attr in ("weights", "masks", "sizes", "xp"):
        if not hasattr(model, attr):
            raise ValueError(
                f"model must be a noprune_theory.models.MaskedMLP (it has no {attr!r}), "
                f"got {type(model).__name__}"
            )


def _check_data(data, method):
    if data is None:
        raise ValueError(
            f"data must be given as (X, y) for method {method!r}, which scores weights on data; "
            "got None"
        )
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"data must be a pair (X, y), got {type(data).__name__}")
    return tuple(data)


def _check_seed(seed):
    return check_seed(seed, generator=False)  # an int: it feeds SeedSequence(seed).spawn


def _check_options(spec, options, caller):
    """TypeError naming *caller* and the method when an option is not one the method takes."""
    import inspect

    params = inspect.signature(spec.func).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    taken = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
             and p.name not in ("model", "data", "rng", "select")]
    unknown = sorted(set(options) - set(taken))
    if unknown:
        words = ", ".join(repr(name) for name in unknown)
        allowed = ", ".join(taken) if taken else "none"
        raise ArgumentTypeError(f"{caller}() got an unexpected option {words} for method "
                                f"{spec.name!r} (its options: {allowed})")


def _plan(model, sparsity, scope, densities):
    """Validate the target and return ``(density, densities_table_or_None, scope)``."""
    if scope is not None:
        check_choice(scope, "scope", _SCOPES)
    depth = len(model.weights)
    if densities is None:
        if sparsity is None:
            raise ValueError("sparsity must be given (a number in [0, 1)) unless densities is")
        s = check_scalar(sparsity, "sparsity", low=0, high=1, high_inclusive=False)
        return 1.0 - s, None, scope or "global"
    if scope == "global":
        raise ValueError(
            "densities sets one density per layer, so scope must be 'layer' (or left as None), "
            "got scope='global'"
        )
    if isinstance(densities, str):
        check_choice(densities, "densities", DENSITY_SCHEMES)
        if sparsity is None:
            raise ValueError(
                f"sparsity must be given with densities={densities!r} (a scheme needs a target)"
            )
        s = check_scalar(sparsity, "sparsity", low=0, high=1, high_inclusive=False)
        table = layer_densities(model.sizes, 1.0 - s, densities)
        return 1.0 - s, [float(p) for p in table], "layer"
    try:
        table = list(densities)
    except TypeError:
        raise ValueError(
            f"densities must be a scheme name ({', '.join(DENSITY_SCHEMES)}) or one number in "
            f"[0, 1] per layer, got {densities!r}"
        ) from None
    if len(table) != depth:
        raise ValueError(f"densities must hold {depth} numbers (one per layer), got {len(table)}")
    # checked as given (float() would read "0.5"), then converted
    table = [float(check_scalar(p, f"densities[{i}]", low=0, high=1))
             for i, p in enumerate(table)]
    sizes = [math.prod(tuple(w.shape)[1:]) for w in model.weights]
    density = sum(p * n for p, n in zip(table, sizes)) / sum(sizes)
    if sparsity is not None:
        s = check_scalar(sparsity, "sparsity", low=0, high=1, high_inclusive=False)
        if abs((1.0 - s) - density) > 1.0 / sum(sizes):
            raise ValueError(
                f"sparsity={s:g} disagrees with densities (which keep a fraction {density:.6g}); "
                "give one of them"
            )
    if density <= 0:
        raise ValueError("densities must keep at least one weight, got all zeros")
    return density, table, "layer"


def _make_select(model, density, table, scope, tie_rng, invert, name):
    xp = model.xp

    def select(scores, progress=1.0, current=None):
        scores = list(scores)
        if len(scores) != len(model.weights):
            raise ValueError(
                f"method {name!r} returned {len(scores)} score arrays, expected "
                f"{len(model.weights)} (one per layer)"
            )
        for l, (s, w) in enumerate(zip(scores, model.weights)):
            if tuple(s.shape) != tuple(w.shape):
                raise ValueError(
                    f"method {name!r} returned scores[{l}] of shape {tuple(s.shape)}, expected "
                    f"{tuple(w.shape)}"
                )
            if bool(xp.any(xp.isnan(s))):
                raise ValueError(f"method {name!r} returned NaN scores in layer {l}")
        if invert:
            scores = [-s for s in scores]
        p = float(progress)
        if table is None:
            return select_masks(scores, density=density**p, scope=scope, seed=tie_rng,
                                current=current)
        return select_masks(scores, densities=[q**p for q in table], seed=tie_rng,
                            current=current)

    select.density = density
    return select


def prune(model: MaskedMLP, method: str = "magnitude", sparsity: float | None = None, *,
          data: tuple[ArrayLike, ArrayLike] | None = None, seed: int = 0,
          scope: Literal["global", "layer"] | None = None,
          densities: str | Sequence[float] | None = None, invert: bool = False,
          **options: Any) -> list[Any] | IMPResult:
    """Compute masks that keep exactly a target number of weights, chosen by a pruning method.

    Parameters
    ----------
    model : MaskedMLP
        The batch of B networks to prune; not modified (training-based methods train a copy).
        Weights already masked out stay pruned (pruning never revives a weight).
    method : str, default "magnitude"
        One of :func:`available_methods`: ``random``, ``magnitude`` (at the current weights,
        i.e. at initialization for a fresh model), ``snip``, ``grasp``, ``synflow``,
        ``magnitude_after_training``, ``imp``, or a method added with :func:`register_method`.
    sparsity : float in [0, 1)
        Fraction of weights removed. The number kept is ``round((1 - sparsity) * P)`` per
        network (``P`` weights), exactly.
    data : tuple (X, y), optional
        Required by ``snip``, ``grasp``, ``magnitude_after_training`` and ``imp``.
    seed : int >= 0, default 0
        Seeds the random tie-breaking keys among equal scores, the random scores of ``random``
        and the training seeds of training-based methods.
    scope : {"global", "layer"}, optional
        One ranking over all the layers of a network (default) or one per layer with the same
        density in each. Implied ``"layer"`` when *densities* is given.
    densities : str or sequence of float, optional
        Per-layer densities: a scheme name of :func:`layer_densities` (``"erk"``, ...) applied to
        ``1 - sparsity``, or a table with one density per layer.
    invert : bool, default False
        Keep the LOWEST scores instead (the inverted-scores ablation of [FDRC]).
    **options
        Passed to the method: ``loss`` (snip, grasp, imp, magnitude_after_training; default
        ``"mse"``), ``temperature`` (grasp, default 200), ``iterations`` (synflow, default 100),
        ``fraction`` and ``rewind_step`` (imp), ``train_options`` (dict for
        :func:`noprune_theory.training.train`, see :data:`DEFAULT_TRAINING`; its
        ``memory_budget`` also slices IMP's loss evaluations), ``memory_budget`` (snip: MiB
        that the gradient pass's ``(B, n, h)`` buffers may take, as in
        :func:`~noprune_theory.training.train`; it goes through the points in slices and sums
        their gradients, which changes the scores by rounding only; default None, one pass).

    Returns
    -------
    list of bool arrays
        One per layer, shapes like ``model.weights`` (batch axis first), in the model's array
        library. Apply them with ``model.set_masks(masks)``. With the ``imp`` method and
        ``return_result=True``, an :class:`IMPResult` instead.

    Raises
    ------
    ValueError
        Sparsity outside [0, 1), an unknown method (the message lists the known ones), a
        data-dependent method without ``data``, an unknown scope or a malformed densities table.
    TypeError
        A number given as text (``sparsity="0.5"``), or an option the method does not take (the
        message names the method and lists its options).

    Notes
    -----
    Score conventions (docs/pruning.md; higher = keep): random ``U(0, 1)``; magnitude
    ``|w|``; SNIP ``|w dL/dw|`` [LAT]; GraSP ``S = -w (H g)`` on the loss of the logits divided
    by ``temperature``, removing the highest ``S`` [WZG]; SynFlow ``|w dR/dw|`` on the
    linearised ``|w|`` network with all-ones input, iterated ``iterations = E`` times with
    density ``p^((e+1)/E)`` after step ``e`` [TKYG]; IMP prunes ``fraction`` (20%) of the
    remaining weights by magnitude per round, training between rounds and rewinding the
    survivors [FC]. Selection is by rank (ties broken by a seeded random key), never by a
    threshold, so the achieved sparsity equals the target exactly.

    References
    ----------
    .. [FDRC] J. Frankle, G. K. Dziugaite, D. M. Roy and M. Carbin, "Pruning Neural Networks at
       Initialization: Why are We Missing the Mark?", ICLR 2021.
    .. [LAT] N. Lee, T. Ajanthan and P. H. S. Torr, "SNIP", ICLR 2019.
    .. [WZG] C. Wang, G. Zhang and R. Grosse, "GraSP", ICLR 2020.
    .. [TKYG] H. Tanaka et al., "SynFlow", NeurIPS 2020.
    .. [FC] J. Frankle and M. Carbin, "The Lottery Ticket Hypothesis", ICLR 2019; J. Frankle et
       al., "Linear Mode Connectivity and the Lottery Ticket Hypothesis", ICML 2020 (rewinding).

    Examples
    --------
    >>> from noprune_theory.models import MaskedMLP
    >>> from noprune_theory.pruning import prune
    >>> net = MaskedMLP(30, (100, 100), B=2, seed=0)
    >>> masks = prune(net, "synflow", sparsity=0.9, iterations=10)
    >>> [int(m[0].sum()) for m in masks], int(sum(m[0].sum() for m in masks))
    ([611, 634, 65], 1310)
    >>> net.set_masks(masks)
    """
    _check_model(model)
    spec = get_method(method)
    if not isinstance(invert, (bool, np.bool_)):
        raise ValueError(f"invert must be True or False, got {invert!r}")  # noqa: TRY004
    density, table, scope = _plan(model, sparsity, scope, densities)
    seed = _check_seed(seed)
    _check_options(spec, options, "prune")
    if spec.needs_data:
        data = _check_data(data, method)
    tie_seq, method_seq = np.random.SeedSequence(seed).spawn(2)
    select = _make_select(model, density, table, scope, np.random.default_rng(tie_seq),
                          bool(invert), method)
    rng = np.random.default_rng(method_seq)
    if spec.kind == "mask":
        masks = spec.func(model, data, rng=rng, select=select, **options)
        if isinstance(masks, IMPResult):  # imp(..., return_result=True)
            return masks
    else:
        scores = spec.func(model, data, rng=rng, **options)
        masks = select(scores, current=model.masks)
    return list(masks)


def compute_scores(model: MaskedMLP, method: str, *,
                   data: tuple[ArrayLike, ArrayLike] | None = None, seed: int = 0,
                   **options: Any) -> list[Any]:
    """Compute the raw scores (higher = keep) of a one-shot method, one array per layer.

    Parameters
    ----------
    model : MaskedMLP
        The batch of networks, as in :func:`prune`.
    method : str
        A score method (not ``synflow`` or ``imp``, whose scores change between iterations;
        use :func:`~noprune_theory.pruning.synflow_scores`).
    data : tuple (X, y), optional
        Required by the data-dependent methods, as in :func:`prune`.
    seed : int >= 0, default 0
        Seeds the method's randomness, as in :func:`prune`.
    **options
        Passed to the method, as in :func:`prune`.

    Returns
    -------
    list of float64 arrays
        Shapes like ``model.weights``, in the model's array library.
    """
    _check_model(model)
    spec = get_method(method)
    if spec.kind != "score":
        raise ValueError(
            f"method must be a one-shot score method for compute_scores, got {method!r} "
            "(iterative: its scores depend on the step)"
        )
    seed = _check_seed(seed)
    _check_options(spec, options, "compute_scores")
    if spec.needs_data:
        data = _check_data(data, method)
    method_seq = np.random.SeedSequence(seed).spawn(2)[1]
    return spec.func(model, data, rng=np.random.default_rng(method_seq), **options)


# ----------------------------------------------------------------------------- built-ins
def _check_loss(loss):
    return check_choice(loss, "loss", ("mse", "logistic", "cross_entropy"))


@register_method("random")
def _random(model, data, *, rng):
    return random_scores([tuple(w.shape) for w in model.weights], rng, xp=model.xp)


@register_method("magnitude")
def _magnitude(model, data, *, rng):
    return magnitude_scores(model.weights)


def _budget_rows(model, memory_budget, *, backward):
    """Points per slice so that the (B, rows, h) buffers stay within *memory_budget* MiB.

    None (no budget, or all points fit) means one pass over all points. The same rule as
    :func:`noprune_theory.training.train`: the budget over
    :meth:`~noprune_theory.models.MaskedMLP.work_bytes_per_point`, at least one point.
    """
    if memory_budget is None:
        return None
    budget = check_scalar(memory_budget, "memory_budget", low=0, low_inclusive=False)
    return max(1, int(budget * 2**20 // model.work_bytes_per_point(backward=backward)))


def _data_gradients(model, X, y, loss, memory_budget):
    """Gradients of the mean loss over all points, in slices of points within the budget."""
    Xa = model.prepare_inputs(X)
    t = model.prepare_targets(y, Xa.shape[-2], loss)
    rows = _budget_rows(model, memory_budget, backward=True)
    _, _, wg, _ = model.loss_and_gradients(Xa, t, loss, rows=rows)
    model.release_work_buffers()
    return wg


def _mean_loss(model, X, y, loss, memory_budget):
    """The mean loss of every network over all points (B,), in slices within the budget."""
    from noprune_theory._activations import loss_terms

    if memory_budget is None:
        return model.loss(X, y, loss=loss)
    Xa = model.prepare_inputs(X)
    t = model.prepare_targets(y, Xa.shape[-2], loss)
    f = model.forward_rows(Xa, _budget_rows(model, memory_budget, backward=False))
    return model.xp.mean(loss_terms(loss, f, t, model.xp)[0], axis=-1)


@register_method("snip", needs_data=True)
def _snip(model, data, *, rng, loss="mse", memory_budget=None):
    X, y = data
    grads = _data_gradients(model, X, y, _check_loss(loss), memory_budget)
    return snip_scores(model.weights, grads)


def grasp_hessian_gradient(model: MaskedMLP, X: ArrayLike, y: ArrayLike, *,
                           loss: Literal["mse", "logistic", "cross_entropy"] = "mse",
                           temperature: float = 200.0) -> list[Any]:
    """``H g`` of the temperature-scaled loss ``L(theta) = mean loss(f_theta(x) / T, y)``.

    The model's output layer is linear in its weights and bias, so ``f / T`` is the output of a
    copy whose last layer is divided by ``T``: with ``D = diag(1, ..., 1, 1/T)`` (1/T on the last
    layer) and ``theta' = D theta``, ``grad L = D g'`` and ``Hess L = D H' D``, hence
    ``H g = D H' (D^2 g')`` with ``g'``, ``H'`` the gradient and Hessian of the copy.

    Parameters
    ----------
    model : MaskedMLP
        The batch of networks; not modified (a scaled copy is differentiated).
    X : array_like, shape (n, d)
        Inputs.
    y : array_like
        Labels, as :meth:`~noprune_theory.models.MaskedMLP.gradients` takes them.
    loss : {"mse", "logistic", "cross_entropy"}, default "mse"
        The loss.
    temperature : float, default 200
        ``T``, the divisor of the logits.

    Returns
    -------
    list of arrays
        ``H g`` with respect to every weight layer, shapes like ``model.weights``.
    """
    T = float(temperature)
    scaled = model.copy()
    scaled.weights = list(scaled.weights)
    scaled.weights[-1] = scaled.weights[-1] / T
    if scaled.biases is not None:
        scaled.biases = list(scaled.biases)
        scaled.biases[-1] = scaled.biases[-1] / T
    _, g_scaled, _ = scaled.gradients(X, y, loss=loss)
    direction = list(g_scaled[:-1]) + [g_scaled[-1] / T**2]
    hv = scaled.hvp(X, y, direction, loss=loss)
    return list(hv[:-1]) + [hv[-1] / T]


@register_method("grasp", needs_data=True)
def _grasp(model, data, *, rng, loss="mse", temperature=200.0):
    X, y = data
    T = check_scalar(temperature, "temperature", low=0, low_inclusive=False)
    hg = grasp_hessian_gradient(model, X, y, loss=_check_loss(loss), temperature=T)
    # GraSP removes the highest S = -w (H g); as a keep-score that is -S.
    return [-s for s in grasp_scores(model.weights, hg)]


@register_method("synflow", kind="mask")
def _synflow(model, data, *, rng, select, iterations=100):
    E = check_scalar(iterations, "iterations", integer=True, low=1)
    current = list(model.masks)
    for e in range(E):
        scores = synflow_scores(model.weights, current)
        current = select(scores, progress=(e + 1) / E, current=current)
    return current


#: The trainings remembered inside :func:`reuse_trainings` (None outside).
_REUSED: dict | None = None


@contextlib.contextmanager
def reuse_trainings() -> Iterator[None]:
    """Within this block, a training inside pruning that was already run is not run again.

    Magnitude after training trains the dense network from its initialization, and so does
    IMP's first round (rewinding to the initialization): on the same model, data and training
    options the two trainings compute the same weights. Inside ``with reuse_trainings():``
    each training inside :func:`prune` and :func:`prune_at_sparsities` is remembered by the
    exact bytes of the weights, biases and masks it starts from and of the data, the loss and
    the training options, and a training that matches one already run
    takes its result instead of computing it again. The training seed counts only where it
    changes the result (minibatches, gradient noise). Trainings with a ``callback`` are always
    run. The memory is dropped when the block ends.

    Yields
    ------
    None
        The block runs with the trainings remembered.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.models import MaskedTwoLayer
    >>> from noprune_theory.pruning import prune, reuse_trainings
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((40, 3)), np.sign(rng.standard_normal(40))
    >>> net = MaskedTwoLayer(3, 8, seed=0)
    >>> opts = {"train_options": {"steps": 20}}
    >>> with reuse_trainings():  # one training serves both methods
    ...     a = prune(net, "magnitude_after_training", 0.5, data=(X, y), **opts)
    ...     b = prune(net, "imp", 0.5, data=(X, y), fraction=0.5, **opts)
    >>> all(bool((p == q).all()) for p, q in zip(a, b))
    True
    """
    global _REUSED
    outer = _REUSED
    if outer is None:
        _REUSED = {}
    try:
        yield
    finally:
        if outer is None:
            _REUSED = None


def _training_key(model, X, y, loss, opts):
    """The key of a training in :func:`reuse_trainings` (None: never reused)."""
    import hashlib

    if opts.get("callback") is not None:
        return None

    def fingerprint(arrays):
        digest = hashlib.blake2b(digest_size=20)
        for a in arrays:
            host = np.ascontiguousarray(to_numpy(a))
            digest.update(str((host.dtype.str, host.shape)).encode())
            digest.update(host.tobytes())
        return digest.hexdigest()

    # the data by content (equal arrays drawn twice are the same data), each array object
    # read once per block: the entry keeps the array alive, so its id is not reused
    data = []
    for a in (X, y):
        seen = _REUSED.setdefault("_data", {})
        if id(a) not in seen:
            seen[id(a)] = (a, fingerprint([np.asarray(to_numpy(a))]))
        data.append(seen[id(a)][1])
    state = fingerprint(list(model.weights) + list(model.biases or []) + list(model.masks))
    seeded = (opts.get("grad_noise", 0) or opts.get("batch_size") is not None
              or opts.get("optimizer") == "sgd")
    settings = {k: v for k, v in opts.items() if k != "seed" or seeded}
    config = json.dumps(model.config(), sort_keys=True, default=str)
    return (state, *data, loss, config, repr(sorted(settings.items(), key=lambda kv: kv[0])))


def _train(model, X, y, loss, train_options, seed):
    from noprune_theory.training import train

    if train_options is not None and not isinstance(train_options, dict):
        raise ValueError(
            "train_options must be a dict of noprune_theory.training.train arguments, got "
            f"{type(train_options).__name__}"
        )
    opts = dict(DEFAULT_TRAINING)
    opts.update(train_options or {})
    opts.setdefault("seed", seed)
    key = None if _REUSED is None else _training_key(model, X, y, loss, opts)
    if key is not None and key in _REUSED:
        weights, biases, result = _REUSED[key]
        model.weights = [model.xp.asarray(w, copy=True) for w in weights]
        if biases is not None:
            model.biases = [model.xp.asarray(b, copy=True) for b in biases]
        return copy.deepcopy(result)
    result = train(model, X, y, loss=loss, **opts)
    if key is not None:
        _REUSED[key] = ([model.xp.asarray(w, copy=True) for w in model.weights],
                        None if model.biases is None
                        else [model.xp.asarray(b, copy=True) for b in model.biases],
                        copy.deepcopy(result))
    return result


@register_method("magnitude_after_training", needs_data=True)
def _magnitude_after_training(model, data, *, rng, loss="mse", train_options=None):
    X, y = data
    trained = model.copy()
    _train(trained, X, y, _check_loss(loss), train_options, int(rng.integers(2**31)))
    return magnitude_scores(trained.weights)


@dataclass
class IMPResult:  # numpydoc ignore=PR01
    """What the ``imp`` method of :func:`prune` returns with ``return_result=True``.

    Attributes
    ----------
    masks : list of bool arrays
        The final masks (batch axis first).
    rewind_weights, rewind_biases : list of arrays (biases may be None)
        The point the survivors are rewound to (initialization, or step ``rewind_step``),
        masked by the final masks: set them on the model to train the winning ticket.
    densities : list of float
        Target density of every round (global fraction kept, or the per-layer table's mean).
    final_losses : list of numpy arrays (B,)
        Training loss at the end of each round's training, before pruning.
    """

    masks: list[Any]
    rewind_weights: list[Any]
    rewind_biases: list[Any] | None
    densities: list[float]
    final_losses: list[NDArray[np.float64]]


def _imp_rounds(density, fraction):
    """Rounds needed to reach *density* removing *fraction* of the survivors per round."""
    if density >= 1.0:
        return 0
    # The tolerance keeps 0.8**2 = 0.64000000000000001 from asking for a third round.
    return max(1, math.ceil(math.log(density) / math.log(1.0 - fraction) - 1e-9))


def _rewind_point(model, X, y, loss, t, train_options, rng):
    """A working copy of *model* and the IMP rewind point: its weights and biases after exactly
    *t* dense training steps (the initialization for ``t = 0``).

    The rounds' stop rules (memorization, a target loss) must not end this training early.
    """
    work = model.copy()
    if t > 0:
        opts = dict(train_options or {})
        opts.update(steps=t, stop_when_memorized=False, target_loss=None)
        _train(work, X, y, loss, opts, int(rng.integers(2**31)))
    rewind_w = [work.xp.asarray(w, copy=True) for w in work.weights]
    rewind_b = None if work.biases is None else [work.xp.asarray(b, copy=True)
                                                  for b in work.biases]
    return work, rewind_w, rewind_b


def _imp(model, data, *, rng, select, fraction=0.2, rewind_step=0, loss="mse",
        train_options=None, return_result=False):
    """Iterative magnitude pruning with rewinding [FC]: the ``"imp"`` method of :func:`prune`.

    Round ``r = 1, 2, ...``: set the survivors to the rewind point, train, and keep the largest
    trained magnitudes among them at density ``p^(r log(1 - fraction) / log p)``, i.e. remove
    ``fraction`` of the survivors, until the target ``p`` (reached exactly in the last round).
    The rewind point is the model's current weights (its initialization, for a fresh model) when
    ``rewind_step = 0``, else the weights after ``rewind_step`` training steps of the dense model.

    Use through ``prune(model, "imp", sparsity, data=(X, y), fraction=..., rewind_step=...,
    train_options={...})``; pass ``return_result=True`` there to get an :class:`IMPResult`
    (masks plus the rewind point) instead of the masks alone.
    """
    q = check_scalar(fraction, "fraction", low=0, high=1, low_inclusive=False,
                     high_inclusive=False)
    t = check_scalar(rewind_step, "rewind_step", integer=True, low=0)
    loss = _check_loss(loss)
    X, y = data
    work, rewind_w, rewind_b = _rewind_point(model, X, y, loss, t, train_options, rng)
    target = select.density  # the overall density the plan ends at
    rounds = _imp_rounds(target, q)
    current = list(model.masks)
    densities, losses = [], []
    for r in range(1, rounds + 1):
        work.weights = [work.xp.asarray(w, copy=True) for w in rewind_w]
        if rewind_b is not None:
            work.biases = [work.xp.asarray(b, copy=True) for b in rewind_b]
        work.set_masks(current)
        result = _train(work, X, y, loss, train_options, int(rng.integers(2**31)))
        budget = (train_options or {}).get("memory_budget")
        losses.append(np.asarray(to_numpy(_mean_loss(work, X, y, loss, budget)),
                                 dtype=np.float64))
        del result
        progress = min(1.0, r * math.log(1.0 - q) / math.log(target))
        densities.append(target**progress)
        current = select(magnitude_scores(work.weights), progress=progress, current=current)
    if not return_result:
        return current
    xp = work.xp
    final_w = [xp.where(m, w, xp.zeros_like(w)) for w, m in zip(rewind_w, current)]
    return IMPResult(current, final_w, rewind_b, densities, losses)


register_method("imp", kind="mask", needs_data=True)(_imp)


# ----------------------------------------------------------------------------- ablations
def reinitialize(model: MaskedMLP, masks: Sequence[Any] | None = None, seed: int | None = None,
                 ) -> MaskedMLP:
    """Copy *model*, redrawing its kept weights from the initial distribution [FDRC].

    Parameters
    ----------
    model : MaskedMLP
        The batch of networks; not modified.
    masks : list of bool arrays, optional
        The masks to keep (default ``model.masks``).
    seed : int >= 0, optional
        Seeds the new weights (drawn exactly as a fresh ``MaskedMLP`` with this seed would be);
        default ``model.seed + 1``, so the new weights differ from the originals.

    Returns
    -------
    MaskedMLP
        Same shape, backend, scaling, init and masks; new weights and biases (also its
        ``initial_weights`` and ``initial_biases``), drawn as the fresh model's: the biases are
        zero unless ``init="torch"``.

    Notes
    -----
    The reinitialization ablation of [FDRC] Sec. 5: if a pruned network trains as well after its
    kept weights are redrawn, the method's value lies in the mask, not in the particular
    values at initialization.

    Examples
    --------
    >>> from noprune_theory.models import MaskedMLP
    >>> from noprune_theory.pruning import prune, reinitialize
    >>> net = MaskedMLP(5, (8,), B=2, seed=0)
    >>> net.set_masks(prune(net, "magnitude", 0.5))
    >>> fresh = reinitialize(net, seed=7)
    >>> [bool((f == m).all()) for f, m in zip(fresh.masks, net.masks)]
    [True, True]
    """
    _check_model(model)
    from noprune_theory.models import MaskedMLP

    seed = model.seed + 1 if seed is None else _check_seed(seed)
    cfg = model.config()
    cfg["seed"] = seed
    cfg["backend"] = "numpy"  # drawn on the host; moved to the model's library below
    d, hidden, out = cfg.pop("d"), tuple(cfg.pop("hidden")), cfg.pop("out")
    fresh = MaskedMLP(d, hidden, out, **cfg)
    new = model.copy()
    xp = model.xp
    new.weights = [xp.asarray(np.asarray(w), dtype=old.dtype)
                   for w, old in zip(fresh.weights, model.weights)]
    if new.biases is not None:
        # zero under He and LeCun init, drawn under torch init: the fresh model's own biases
        new.biases = [xp.asarray(np.asarray(b), dtype=old.dtype)
                      for b, old in zip(fresh.biases, model.biases)]
        new.initial_biases = [xp.asarray(b, copy=True) for b in new.biases]
    new.seed = seed
    new.set_masks(model.masks if masks is None else masks)
    new.initial_weights = [xp.asarray(w, copy=True) for w in new.weights]
    return new


def invert_scores(model: MaskedMLP, method: str = "magnitude", sparsity: float | None = None,
                  **kwargs: Any) -> list[Any]:
    """Compute masks keeping the LOWEST-scoring weights of *method* (the [FDRC] ablation).

    Same arguments as :func:`prune`; equal to ``prune(..., invert=True)``. If a method still
    works with inverted scores, its scores carry no information about which weights matter.

    Parameters
    ----------
    model : MaskedMLP
        The batch of networks to prune; not modified.
    method : str, default "magnitude"
        One of :func:`available_methods`.
    sparsity : float in [0, 1)
        Fraction of weights removed.
    **kwargs
        The other arguments of :func:`prune` (an ``invert`` among them is ignored).

    Returns
    -------
    list of bool arrays
        One mask per layer, as :func:`prune` returns them.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.models import MaskedMLP
    >>> from noprune_theory.pruning import prune, invert_scores
    >>> net = MaskedMLP(4, (6,), B=1, seed=0)
    >>> low = invert_scores(net, "magnitude", 0.5)
    >>> high = prune(net, "magnitude", 0.5)
    >>> bool(np.abs(net.weights[0][low[0]]).max() <= np.abs(net.weights[0][high[0]]).min())
    True
    """
    kwargs.pop("invert", None)
    return prune(model, method, sparsity, invert=True, **kwargs)


# ----------------------------------------------------------------------------- several targets
def prune_at_sparsities(model: MaskedMLP, method: str, sparsities: Sequence[float], *,
                        data: tuple[ArrayLike, ArrayLike] | None = None, seed: int = 0,
                        **options: Any) -> list[list[Any]]:
    """Prune one model to several sparsities, doing the work the targets share once.

    The result equals ``[prune(model, method, s, data=data, seed=seed, **options) for s in
    sparsities]``; only the cost differs.

    Parameters
    ----------
    model : noprune_theory.models.MaskedMLP
        As in :func:`prune`.
    method : str
        As in :func:`prune` (global scope, no ``densities``, ``invert`` or ``scope``).
    sparsities : sequence of float in [0, 1)
        The targets, in any order.
    data : tuple (X, y) or None, default None
        As in :func:`prune`: the data of the data-dependent methods.
    seed : int >= 0 or numpy.random.Generator, default 0
        As in :func:`prune`.
    **options
        As in :func:`prune`.

    Returns
    -------
    list
        One mask list per sparsity, equal to what :func:`prune` returns for it.

    Notes
    -----
    One-shot score methods (``magnitude_after_training``'s training, SNIP's and GraSP's
    gradients) compute their scores once; each target then selects from them with its own
    tie-breaking generator, as :func:`prune` does. IMP trains one trajectory of rounds up to the
    largest target: the rounds are nested (round ``r`` keeps ``(1 - fraction)^r`` of the weights
    whatever the target), so a smaller target's rounds are a prefix of it. Every target still
    runs its own selection at every round it would run, and its survivors are compared with the
    trajectory's; a target whose survivors ever differ (a kept count rounded the other way, a
    tie) is pruned on its own by :func:`prune`, so the result is always :func:`prune`'s. Other
    methods run :func:`prune` per target.
    """
    _check_model(model)
    spec = get_method(method)
    sparsities = [check_scalar(s, "sparsity", low=0, high=1, high_inclusive=False)
                  for s in sparsities]
    seed = _check_seed(seed)
    if spec.needs_data:
        data = _check_data(data, method)

    def own(s):
        return prune(model, method, s, data=data, seed=seed, **options)

    if not sparsities:
        return []
    if spec.kind == "score":
        method_seq = np.random.SeedSequence(seed).spawn(2)[1]
        scores = spec.func(model, data, rng=np.random.default_rng(method_seq), **options)
        out = []
        for s in sparsities:
            density, table, scope = _plan(model, s, None, None)
            tie_seq = np.random.SeedSequence(seed).spawn(2)[0]  # a fresh one, as prune's
            select = _make_select(model, density, table, scope, np.random.default_rng(tie_seq),
                                  False, method)
            out.append(list(select(scores, current=model.masks)))
        return out
    if method == "imp" and not options.get("return_result", False):
        return _imp_at_sparsities(model, data, sparsities, seed, own, **options)
    return [own(s) for s in sparsities]


def _imp_at_sparsities(model, data, sparsities, seed, own, *, fraction=0.2, rewind_step=0,
                       loss="mse", train_options=None):
    """IMP for several targets from one trajectory (see :func:`prune_at_sparsities`)."""
    q = check_scalar(fraction, "fraction", low=0, high=1, low_inclusive=False,
                     high_inclusive=False)
    t = check_scalar(rewind_step, "rewind_step", integer=True, low=0)
    loss = _check_loss(loss)
    X, y = data
    targets = []
    for s in sparsities:
        density, table, scope = _plan(model, s, None, None)
        tie_seq = np.random.SeedSequence(seed).spawn(2)[0]
        select = _make_select(model, density, table, scope, np.random.default_rng(tie_seq),
                              False, "imp")
        targets.append({"density": density, "rounds": _imp_rounds(density, q),
                        "select": select, "current": list(model.masks), "ok": True})
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    work, rewind_w, rewind_b = _rewind_point(model, X, y, loss, t, train_options, rng)
    rounds = max(tg["rounds"] for tg in targets)
    current = list(model.masks)
    xp = work.xp
    for r in range(1, rounds + 1):
        live = [tg for tg in targets if tg["ok"] and tg["rounds"] >= r]
        if not live:
            break
        work.weights = [xp.asarray(w, copy=True) for w in rewind_w]
        if rewind_b is not None:
            work.biases = [xp.asarray(b, copy=True) for b in rewind_b]
        work.set_masks(current)
        _train(work, X, y, loss, train_options, int(rng.integers(2**31)))
        scores = magnitude_scores(work.weights)
        nxt = None
        for tg in live:
            progress = min(1.0, r * math.log(1.0 - q) / math.log(tg["density"]))
            mask = tg["select"](scores, progress=progress, current=tg["current"])
            tg["current"] = mask
            if tg["rounds"] > r:  # it trains on: it must share the trajectory's survivors
                if nxt is None:
                    nxt = mask
                elif not all(bool(xp.all(a == b)) for a, b in zip(mask, nxt)):
                    tg["ok"] = False
        if nxt is None:
            break
        current = nxt
    return [list(tg["current"]) if tg["ok"] else own(s) for tg, s in zip(targets, sparsities)]
