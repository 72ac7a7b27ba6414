"""Batched ensembles of masked multilayer perceptrons: parameters, forward, gradients, hvp.

Where this sits in the data flow: :mod:`noprune_theory.data` makes ``X`` and ``y``,
:mod:`noprune_theory.pruning` sets ``masks``, :mod:`noprune_theory.training` drives the
networks to interpolation, and the estimators measure the trained functions.

A :class:`MaskedMLP` holds ``B`` networks of one shape side by side, so that thousands of small
networks train with a few large batched matrix products. All array code takes its functions from
``self.xp``, the array-API namespace of the parameters, so one implementation serves NumPy (the
``numpy`` and ``numba`` backends), CuPy (``cupy``) and, in the tests, ``array_api_strict``.

Network ``b`` with L hidden layers computes, for an input row ``x``::

    a_0 = x,   z_{l+1} = c_l a_l W_l[b] + b_l[b],   a_{l+1} = phi(z_{l+1})   (l < L)
    f(x) = z_{L+1} = c_L a_L W_L[b] + b_L[b]

with ``W_l[b]`` of shape ``(fan_in, fan_out)`` and masked entries exactly zero. The constants
``c_l`` come from the scaling (see :class:`MaskedMLP`).

References
----------
.. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune: Information-Theoretic Barriers to
   Pruning at Initialization", ICML 2024.
.. [P94] B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6(1),
   1994 (the R-operator used by :meth:`MaskedMLP.hvp`).
.. [JGH] A. Jacot, F. Gabriel and C. Hongler, "Neural Tangent Kernel", NeurIPS 2018 (NTK scaling).
.. [MMN] S. Mei, A. Montanari and P.-M. Nguyen, "A mean field view of the landscape of two-layer
   neural networks", PNAS 2018 (mean-field scaling).
.. [LBOM] Y. LeCun, L. Bottou, G. B. Orr and K.-R. Mueller, "Efficient BackProp", in Neural
   Networks: Tricks of the Trade, Springer 1998 (LeCun initialization, variance 1/fan_in).
"""

from __future__ import annotations

import json
import math
import zipfile
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

# the activations and losses live in _activations; these names are kept for existing imports
from noprune_theory._activations import (  # noqa: F401
    ACTIVATIONS,
    LEAKY_SLOPE,
    LOSSES,
)
from noprune_theory._activations import act as _act
from noprune_theory._activations import act_d1 as _act_d1
from noprune_theory._activations import act_d2 as _act_d2
from noprune_theory._activations import correct as _correct
from noprune_theory._activations import logsumexp as _logsumexp  # noqa: F401
from noprune_theory._activations import loss_curvature as _loss_curvature
from noprune_theory._activations import loss_terms as _loss_terms
from noprune_theory._activations import sigmoid as _sigmoid  # noqa: F401
from noprune_theory._validation import check_choice, check_scalar, check_seed
from noprune_theory.backend import (
    array_namespace,
    get_backend,
    namespace_for,
    resolve_backend,
    to_numpy,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from noprune_theory.backend import Backend

__all__ = ["ACTIVATIONS", "INITS", "LOSSES", "SCALINGS", "MaskedMLP", "MaskedTwoLayer"]

#: Parametrizations (initial variance and forward multipliers).
SCALINGS = ("standard", "ntk", "mean_field")
#: Initializations of the stored parameters (see :class:`MaskedMLP`, Notes).
INITS = ("he", "torch", "lecun")

FORMAT_MARKER = "noprune_theory.MaskedMLP"
#: Version 2 adds the initial biases and the init name; a file of an ``init="he"`` model is
#: still written as version 1, which older readers read correctly (its biases start at zero).
FORMAT_VERSION = 2

_DTYPES = ("float32", "float64")


def _slices(n, rows):
    """``ceil(n / rows)`` consecutive ``(lo, hi)`` ranges of balanced sizes covering 0..n."""
    k = -(-n // max(1, rows))
    bounds = [(i * n) // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


class MaskedMLP:
    """A batch of B masked multilayer perceptrons of one shape.

    Parameters
    ----------
    d : int >= 1
        Input dimension.
    hidden : int or tuple of int, default (256,)
        Hidden widths ``(h_1, ..., h_L)``, each >= 1; an int means one hidden layer.
    out : int >= 1, default 1
        Output dimension: 1 for regression and the logistic loss, C >= 2 for C classes.
    B : int >= 1, default 1
        Number of networks.
    activation : {"relu", "leaky_relu", "tanh", "softplus", "identity"}, default "relu"
        All 1-Lipschitz. leaky_relu has slope 0.01 below zero.
    bias : bool, default True
        Whether layers have biases (never masked; initialized to zero except by
        ``init="torch"``).
    scaling : {"standard", "ntk", "mean_field"}, default "standard"
        How weights are initialized and multiplied in the forward pass (below).
    dtype : {"float32", "float64"}, default "float64"
        The floating dtype of the parameters and of every computation.
    backend : {"numpy", "numba", "cupy", "auto"}, default "numpy"
        Where the arrays live (NumPy for numpy and numba, CuPy for cupy) and which kernels the
        trainer uses. ``cupy`` without a usable GPU raises
        :class:`~noprune_theory.backend.BackendUnavailableError` with the install hint.
    seed : int >= 0, default 0
        Seeds the initial weights (drawn on the host with NumPy, so every backend starts from the
        same numbers).
    init : {"he", "torch", "lecun"}, default "he"
        The distribution of the initial weights and biases (below). ``"torch"`` and ``"lecun"``
        need ``scaling="standard"``; ``"he"`` is the only choice of the other scalings.

    Attributes
    ----------
    sizes : tuple of int
        ``(d, h_1, ..., h_L, out)``.
    weights : list of arrays
        ``weights[l]`` has shape ``(B, sizes[l], sizes[l+1])`` (fan_in, fan_out).
    biases : list of arrays or None
        ``biases[l]`` has shape ``(B, sizes[l+1])``.
    masks : list of bool arrays
        Same shapes as ``weights``; False entries of the weights are exactly zero.
    initial_weights : list of arrays
        Copies of the weights at initialization, for rewinding (IMP).
    initial_biases : list of arrays or None
        Copies of the biases at initialization (zeros unless ``init="torch"``), for rewinding.
    multipliers : tuple of float
        The forward constants ``c_l``.
    xp : module
        The array namespace of the parameters.

    Notes
    -----
    With ``g = 2`` for relu and leaky_relu (He) and ``g = 1`` otherwise, and fan-in ``m_l``:

    ========== ============================= ===================================================
    scaling    initial W_l                   multiplier c_l
    ========== ============================= ===================================================
    standard   N(0, g/m_l); N(0, 1/m_L) last 1
    ntk        N(0, 1)                       sqrt(g/m_l); sqrt(1/m_L) for the output layer
    mean_field N(0, 1)                       sqrt(g/m_l); 1/m_L for the output layer
    ========== ============================= ===================================================

    This table is ``init="he"``, the default, with zero biases. With ``scaling="standard"`` two
    other initializations are available, both without the gain ``g``:

    ========== ================================================= ===========================
    init       initial W_l (every layer, fan-in m_l)             initial b_l
    ========== ================================================= ===========================
    he         the table above                                   0
    torch      U(-1/sqrt(m_l), +1/sqrt(m_l)), variance 1/(3 m_l) U(-1/sqrt(m_l), +1/sqrt(m_l))
    lecun      N(0, 1/m_l)                                       0
    ========== ================================================= ===========================

    ``torch`` is the default of PyTorch's ``nn.Linear`` (Kaiming-uniform with ``a = sqrt(5)``,
    i.e. bound ``1/sqrt(fan_in)``, for weights and biases alike), used by the pruning code of
    [NFP]; ``lecun`` is [LBOM]'s. The draws are made on the host, layer by layer, all weights
    first and then (``torch``) all biases, from ``numpy.random.default_rng(seed)``; ``he`` draws
    exactly the numbers it drew before ``init`` existed.

    Standard and NTK give the same function at initialization but different gradient scales
    [JGH]; the mean-field output ``(1/m) sum_j a_j phi(.)`` is the parametrization of [MMN].
    Gradients are those of the mean loss ``(1/n) sum_i loss(f(x_i), y_i)`` of each network, with
    respect to the stored parameters (multipliers included by the chain rule).

    Losses (per point): ``mse`` ``||f - y||^2`` (no factor 1/2, as in
    docs/theory.md#theory-setting); ``logistic`` ``log(1 + exp(-y f))`` for y in {-1, +1};
    ``cross_entropy`` ``logsumexp(f) - f_y`` for integer labels y in [0, C). A point is
    *memorized* when its loss is below ``log(2)/10`` ([NFP] Sec. 5).

    Examples
    --------
    >>> import numpy as np
    >>> net = MaskedMLP(3, (4,), B=2, seed=0)
    >>> net.sizes, net.weights[0].shape, net.biases[1].shape
    ((3, 4, 1), (2, 3, 4), (2, 1))
    >>> X = np.ones((5, 3))
    >>> net.forward(X).shape
    (2, 5, 1)
    >>> masks = [np.ones(w.shape, dtype=bool) for w in net.weights]
    >>> masks[0][:, 0, :] = False
    >>> net.set_masks(masks)
    >>> float(np.abs(net.weights[0][:, 0, :]).max())
    0.0
    """

    def __init__(
        self,
        d: int,
        hidden: int | Sequence[int] = (256,),
        out: int = 1,
        *,
        B: int = 1,
        activation: Literal["relu", "leaky_relu", "tanh", "softplus", "identity"] = "relu",
        bias: bool = True,
        scaling: Literal["standard", "ntk", "mean_field"] = "standard",
        dtype: Literal["float32", "float64"] = "float64",
        backend: Literal["auto", "numpy", "numba", "cupy"] = "numpy",
        seed: int = 0,
        init: Literal["he", "torch", "lecun"] = "he",
    ) -> None:
        d = check_scalar(d, "d", integer=True, low=1)
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (int(hidden),)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden must be an int or a tuple of ints, got {hidden!r}") from None
        if len(hidden) < 1:
            raise ValueError("hidden must list at least one hidden width, got ()")
        hidden = tuple(check_scalar(h, "hidden width", integer=True, low=1) for h in hidden)
        out = check_scalar(out, "out", integer=True, low=1)
        B = check_scalar(B, "B", integer=True, low=1)
        check_choice(activation, "activation", ACTIVATIONS)
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        check_choice(scaling, "scaling", SCALINGS)
        check_choice(init, "init", INITS)
        if init != "he" and scaling != "standard":
            raise ValueError(f"init={init!r} needs scaling='standard' (the {scaling} scaling "
                             f"fixes its own initial weights), got scaling={scaling!r}")
        check_choice(dtype, "dtype", _DTYPES)
        seed = check_seed(seed, "seed", generator=False)
        self.backend = resolve_backend(backend)
        self.sizes = (d, *hidden, out)
        self.B = B
        self.activation = activation
        self.bias = bool(bias)
        self.scaling = scaling
        self.init = init
        self.dtype = dtype
        self.seed = seed
        self.multipliers = self._multipliers()

        host_w, host_b = self._initial_draws(np.random.default_rng(seed))
        xp_mod = namespace_for(self.backend)
        self._set_namespace_from(xp_mod.asarray(np.zeros(1)))
        self.weights = [self.from_host(w) for w in host_w]
        self.biases = [self.from_host(b) for b in host_b] if self.bias else None
        self.masks = [self.xp.ones(w.shape, dtype=self.xp.bool) for w in self.weights]
        self.initial_weights = [self._clone(w) for w in self.weights]
        self.initial_biases = (None if self.biases is None
                               else [self._clone(b) for b in self.biases])

    # ------------------------------------------------------------------ configuration
    @property
    def depth(self) -> int:
        """Number of weight matrices (hidden layers + 1)."""
        return len(self.sizes) - 1

    def _gain(self):
        return 2.0 if self.activation in ("relu", "leaky_relu") else 1.0

    def _multipliers(self):
        g = self._gain()
        L = len(self.sizes) - 1
        if self.scaling == "standard":
            return tuple(1.0 for _ in range(L))
        cs = [math.sqrt(g / self.sizes[l]) for l in range(L - 1)]
        last = self.sizes[L - 1]
        cs.append(1.0 / math.sqrt(last) if self.scaling == "ntk" else 1.0 / last)
        return tuple(cs)

    def _init_stds(self):
        g = self._gain()
        L = self.depth
        if self.scaling == "standard":
            return [math.sqrt((g if l < L - 1 else 1.0) / self.sizes[l]) for l in range(L)]
        return [1.0] * L

    def _initial_draws(self, rng):
        """Host arrays of the initial weights and biases (Notes of the class), from *rng*."""
        B, sizes, L = self.B, self.sizes, self.depth
        shapes = [(B, sizes[l], sizes[l + 1]) for l in range(L)]
        if self.init == "torch":
            bounds = [1.0 / math.sqrt(sizes[l]) for l in range(L)]
            weights = [rng.uniform(-a, a, shape) for a, shape in zip(bounds, shapes)]
            biases = [rng.uniform(-bounds[l], bounds[l], (B, sizes[l + 1])) for l in range(L)]
            return weights, biases
        # he keeps its historical draw sequence exactly: one standard normal array per layer
        stds = (self._init_stds() if self.init == "he"
                else [1.0 / math.sqrt(sizes[l]) for l in range(L)])
        weights = [stds[l] * rng.standard_normal(shapes[l]) for l in range(L)]
        return weights, [np.zeros((B, s)) for s in sizes[1:]]

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments, as saved with the parameters.

        Returns
        -------
        dict
            ``d``, ``hidden`` (a list), ``out``, ``B``, ``activation``, ``bias``, ``scaling``,
            ``init``, ``dtype``, ``backend`` (the concrete one) and ``seed``: JSON-ready, and
            ``MaskedMLP(**config)`` (with ``hidden`` as a tuple) builds the same initial model.
        """
        return {
            "d": self.sizes[0],
            "hidden": list(self.sizes[1:-1]),
            "out": self.sizes[-1],
            "B": self.B,
            "activation": self.activation,
            "bias": self.bias,
            "scaling": self.scaling,
            "init": self.init,
            "dtype": self.dtype,
            "backend": self.backend,
            "seed": self.seed,
        }

    def __repr__(self):
        return (
            f"{type(self).__name__}(sizes={self.sizes}, B={self.B}, activation="
            f"{self.activation!r}, bias={self.bias}, scaling={self.scaling!r}, init="
            f"{self.init!r}, dtype="
            f"{self.dtype!r}, backend={self.backend!r})"
        )

    # ------------------------------------------------------------------ arrays
    def _set_namespace_from(self, arr):
        self.xp = array_namespace(arr)

    @property
    def array_dtype(self) -> Any:
        """Floating dtype of the parameters, as an object of ``xp`` (as ``dtype`` names it).

        ``xp.float32`` or ``xp.float64``: what arrays combined with the parameters are cast
        to; :meth:`from_host`, :meth:`prepare_inputs` and :meth:`prepare_targets` return
        arrays of this dtype.
        """
        return getattr(self.xp, self.dtype)

    def from_host(self, a: ArrayLike) -> Any:
        """Copy a host array into the model's array library, in the parameters' dtype.

        Parameters
        ----------
        a : array_like
            Real numbers on the host (a NumPy array, list or scalar); not validated.

        Returns
        -------
        array
            ``a`` as an array of ``xp`` with dtype :attr:`array_dtype` (on the device for
            the cupy backend; a NumPy array already of that dtype may be returned uncopied).
        """
        return self.xp.asarray(np.asarray(a), dtype=self.array_dtype)

    def _clone(self, a):
        return self.xp.asarray(a, copy=True)

    def _as_namespace(self, xp):
        """A copy of this model whose arrays live in namespace *xp* (used to test the
        namespace-generic code under ``array_api_strict``)."""
        new = self.copy()
        xp_arr = xp.asarray(np.zeros(1))
        new._set_namespace_from(xp_arr)

        def move(a, dtype):
            return new.xp.asarray(to_numpy(a), dtype=dtype)

        dt = new.array_dtype
        new.weights = [move(w, dt) for w in self.weights]
        new.biases = None if self.biases is None else [move(b, dt) for b in self.biases]
        new.masks = [move(m, new.xp.bool) for m in self.masks]
        new.initial_weights = [move(w, dt) for w in self.initial_weights]
        new.initial_biases = (None if self.initial_biases is None
                              else [move(b, dt) for b in self.initial_biases])
        return new

    def to_backend(self, backend: Literal["auto", "numpy", "numba", "cupy"]) -> MaskedMLP:
        """Return a copy of this model on another backend.

        Parameters
        ----------
        backend : {"numpy", "numba", "cupy", "auto"}
            The backend of the copy (``auto`` as :func:`~noprune_theory.backend.resolve_backend`
            decides).

        Returns
        -------
        MaskedMLP
            The same networks (parameters, masks, initial values, settings) with arrays in the
            backend's library; the model itself is unchanged.
        """
        backend = resolve_backend(backend)
        new = self._as_namespace(namespace_for(backend))
        new.backend = backend
        return new

    def param_count(self) -> int:
        """Count the weights and biases of one network, masks ignored.

        Returns
        -------
        int
            ``sum_l sizes[l] sizes[l+1]``, plus ``sum_l sizes[l+1]`` with biases.
        """
        n = sum(self.sizes[l] * self.sizes[l + 1] for l in range(self.depth))
        return n + (sum(self.sizes[1:]) if self.bias else 0)

    def weight_count(self) -> int:
        """Count the maskable weights of one network.

        Returns
        -------
        int
            ``sum_l sizes[l] sizes[l+1]``.
        """
        return sum(self.sizes[l] * self.sizes[l + 1] for l in range(self.depth))

    def kept_count(self) -> NDArray[np.int64]:
        """Count the unmasked weights of each network.

        Returns
        -------
        numpy.ndarray of int64, shape (B,)
            On the host.
        """
        total = np.zeros(self.B, dtype=np.int64)
        for m in self.masks:
            total += to_numpy(self.xp.sum(self.xp.astype(m, self.xp.int64), axis=(1, 2)))
        return total

    def density(self) -> NDArray[np.float64]:
        """Return the fraction of weights kept by each network.

        Returns
        -------
        numpy.ndarray of float64, shape (B,)
            :meth:`kept_count` over :meth:`weight_count`, on the host.
        """
        return self.kept_count() / self.weight_count()

    def live_units(self) -> list[NDArray[np.bool_]]:
        """Which hidden units of each network can reach the output through kept weights.

        A unit of the last hidden layer is live when a kept weight leads from it to an output;
        a unit of an earlier layer, when a kept weight leads from it to a live unit. A unit that
        is not live never changes the output, and its incoming weights and bias get exactly zero
        gradients.

        Returns
        -------
        list of numpy.ndarray of bool
            One per hidden layer, ``(B, sizes[l])`` for l = 1..L, on the host.

        Examples
        --------
        >>> import numpy as np
        >>> net = MaskedMLP(2, (3,), B=1)
        >>> masks = [np.ones((1, 2, 3), dtype=bool), np.array([[[True], [False], [True]]])]
        >>> net.set_masks(masks)
        >>> net.live_units()[0].tolist()
        [[True, False, True]]
        """
        masks = [to_numpy(m).astype(bool, copy=False) for m in self.masks]
        live = np.ones((self.B, self.sizes[-1]), dtype=bool)
        out = []
        for l in range(self.depth - 1, 0, -1):
            live = (masks[l] & live[:, None, :]).any(axis=2)
            out.append(live)
        return out[::-1]

    def live_unit_indices(self) -> list[NDArray[np.int64]]:
        """Per hidden layer, the units that are live in at least one network of the batch.

        The index arrays :meth:`select_units` takes to compute the same functions with the
        fewest units. A layer keeps at least its first unit (a network without a path to an
        output is a constant, and a layer of no unit is not a network).

        Returns
        -------
        list of numpy.ndarray of int64
            Increasing indices, one array per hidden layer, on the host.
        """
        alive = [lv.any(axis=0) for lv in self.live_units()]
        return [np.flatnonzero(a) if a.any() else np.arange(1) for a in alive]

    def select_units(self, keep: Sequence[ArrayLike]) -> MaskedMLP:
        """Return a model of the same networks restricted to some hidden units.

        Parameters
        ----------
        keep : sequence of int arrays
            One per hidden layer: the indices of the units kept (increasing, shared by the B
            networks).

        Returns
        -------
        MaskedMLP
            Hidden widths ``len(keep[l])``; weights, biases, masks and initial values are the
            rows and columns of the kept units (copies); the forward multipliers are this
            model's, so with :meth:`live_units` as *keep* the networks compute the same
            functions. The seed and settings are carried over.

        Raises
        ------
        ValueError
            Not one index array per hidden layer, or indices out of range, repeated or not
            increasing.
        """
        keep = self._check_unit_indices(keep)
        xp = self.xp
        idx = [None] + [xp.asarray(k) for k in keep] + [None]

        def take(arrays, is_bias):
            if arrays is None:
                return None
            out = []
            for l, a in enumerate(arrays):
                if is_bias:
                    a = a if idx[l + 1] is None else xp.take(a, idx[l + 1], axis=1)
                else:
                    a = a if idx[l] is None else xp.take(a, idx[l], axis=1)
                    a = a if idx[l + 1] is None else xp.take(a, idx[l + 1], axis=2)
                out.append(self._clone_c_order(a))
            return out

        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.sizes = (self.sizes[0], *(len(k) for k in keep), self.sizes[-1])
        new.weights = take(self.weights, False)
        new.biases = take(self.biases, True)
        new.masks = take(self.masks, False)
        new.initial_weights = take(self.initial_weights, False)
        new.initial_biases = take(self.initial_biases, True)
        new._work = {}
        return new

    def update_units(self, sub: MaskedMLP, keep: Sequence[ArrayLike]) -> None:
        """Write the weights and biases of ``sub = self.select_units(keep)`` back, in place.

        The rows and columns of the kept units take *sub*'s values; every other weight and bias
        keeps its value. Masks and initial values are not touched.

        Parameters
        ----------
        sub : MaskedMLP
            A model made by :meth:`select_units` with the same *keep* (then trained, say).
        keep : sequence of int arrays
            The indices given to :meth:`select_units`.

        Raises
        ------
        ValueError
            *keep* as in :meth:`select_units`, or *sub* of other sizes than it gives.
        """
        keep = self._check_unit_indices(keep)
        sizes = (self.sizes[0], *(len(k) for k in keep), self.sizes[-1])
        if not isinstance(sub, MaskedMLP) or tuple(sub.sizes) != sizes or sub.B != self.B:
            raise ValueError(f"sub must be a MaskedMLP of sizes {sizes} and B = {self.B} "
                             "(made by select_units with this keep)")
        xp = self.xp
        # axis by axis: the kept entries from sub, the others from self, then back in order
        order = [None]
        for k, h in zip(keep, self.sizes[1:-1]):
            dropped = np.setdiff1d(np.arange(h), k)
            perm = np.argsort(np.concatenate([k, dropped]), kind="stable")
            order.append((xp.asarray(k), xp.asarray(dropped), xp.asarray(perm)))
        order.append(None)

        def merge(small, full, axis, entry, rows=None):
            if entry is None:
                return small
            k, dropped, perm = entry
            rest = full if rows is None else xp.take(full, rows, axis=1)
            rest = xp.take(rest, dropped, axis=axis)
            return xp.take(xp.concat([small, rest], axis=axis), perm, axis=axis)

        weights = []
        for l, (small, full) in enumerate(zip(sub.weights, self.weights)):
            rows = None if order[l] is None else order[l][0]
            w = merge(small, full, 2, order[l + 1], rows=rows)
            weights.append(self._clone_c_order(merge(w, full, 1, order[l])))
        self.weights = weights
        if self.biases is not None:
            self.biases = [self._clone_c_order(merge(small, full, 1, order[l + 1]))
                           for l, (small, full) in enumerate(zip(sub.biases, self.biases))]
        self._work = {}

    def _check_unit_indices(self, keep):
        hidden = self.sizes[1:-1]
        try:
            keep = [np.asarray(to_numpy(k)) for k in keep]
        except TypeError:
            raise ValueError("keep must be a sequence of integer index arrays") from None
        if len(keep) != len(hidden):
            raise ValueError(f"keep must hold {len(hidden)} index arrays (one per hidden layer), "
                             f"got {len(keep)}")
        out = []
        for l, (k, h) in enumerate(zip(keep, hidden)):
            if k.ndim != 1 or (k.size and not np.issubdtype(k.dtype, np.integer)):
                raise ValueError(f"keep[{l}] must be a 1-d array of integers")
            k = k.astype(np.int64)
            if k.size and (k[0] < 0 or k[-1] >= h or np.any(np.diff(k) <= 0)):
                raise ValueError(f"keep[{l}] must be increasing indices in [0, {h}), got "
                                 f"{k[:8].tolist()}{' ...' if k.size > 8 else ''}")
            out.append(k)
        return out

    # ------------------------------------------------------------------ masks
    def set_masks(self, masks: Sequence[Any]) -> None:
        """Validate and store per-network masks, and zero the masked weights.

        Parameters
        ----------
        masks : sequence of bool arrays
            One per weight matrix, ``masks[l]`` of shape ``(B, sizes[l], sizes[l+1])``, dtype
            bool, in the model's array library.

        Raises
        ------
        ValueError
            Wrong number of masks, wrong shape or dtype.
        TypeError
            A mask from another array library (move it first).
        """
        masks = list(masks)
        if len(masks) != self.depth:
            raise ValueError(
                f"masks must hold {self.depth} arrays (one per layer), got {len(masks)}"
            )
        checked = []
        for l, (m, w) in enumerate(zip(masks, self.weights)):
            self._check_same_library(m, f"masks[{l}]")
            if tuple(m.shape) != tuple(w.shape):
                raise ValueError(
                    f"masks[{l}] must have shape {tuple(w.shape)}, got {tuple(m.shape)}"
                )
            if m.dtype != self.xp.bool:
                raise ValueError(f"masks[{l}] must have dtype bool, got {m.dtype}")
            checked.append(m)
        self.masks = [self._clone_c_order(m) for m in checked]
        self.apply_masks()

    def _clone_c_order(self, a):
        # the fused kernels (numba, numba.cuda) index raw memory and need C order; masks from
        # shuffle_masks or a transpose arrive in another layout
        a = self._clone(a)
        flags = getattr(a, "flags", None)  # NumPy and CuPy; array_api_strict has none
        if flags is not None and not flags["C_CONTIGUOUS"]:
            a = a.copy(order="C")
        return a

    def apply_masks(self) -> None:
        """Set the masked weights to exactly zero (in place of the weight list)."""
        self.weights = [self.xp.where(m, w, 0.0) for w, m in zip(self.weights, self.masks)]

    def rewind(self) -> None:
        """Reset the weights (masked entries stay zero) and biases to their initial values."""
        self.weights = [
            self.xp.where(m, w0, 0.0) for w0, m in zip(self.initial_weights, self.masks)
        ]
        if self.biases is not None:
            self.biases = [self._clone(b0) for b0 in self.initial_biases]

    def _check_same_library(self, a, name):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        try:
            array_namespace(a, self.weights[0])
        except TypeError:
            raise TypeError(
                f"{name} is a {type(a).__module__.split('.')[0]} array but the model's arrays "
                f"are {type(self.weights[0]).__module__.split('.')[0]} arrays (backend "
                f"{self.backend!r}); move it to the model's library first"
            ) from None

    # ------------------------------------------------------------------ prepared arrays
    # The protocol of the trainer and the estimators: validate X and y once with
    # prepare_inputs and prepare_targets, then call loss_and_gradients and forward_rows on the
    # prepared arrays as often as needed (they trust them and check nothing).

    def prepare_inputs(self, X: ArrayLike) -> Any:
        """Validate inputs and return them as an array of the model's library and dtype.

        The check every public method that takes ``X`` runs; :meth:`loss_and_gradients` and
        :meth:`forward_rows` take its result without checking it again.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs shared by all networks, or one set per network; finite real numbers, at
            least one point. A NumPy array (or list) is accepted by every backend; an array of
            another library must be of the model's.

        Returns
        -------
        array, shape (n, d) or (B, n, d)
            ``X`` in ``xp`` with dtype :attr:`array_dtype` (a NumPy array already of that
            dtype is returned uncopied).

        Raises
        ------
        ValueError
            A wrong shape, no point, a non-numeric dtype, or NaN or inf.
        TypeError
            Not an array, or an array of another library than the model's.
        """
        xp = self.xp
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if not hasattr(X, "shape"):
            raise TypeError(f"X must be an array, got {type(X).__name__}")
        if not isinstance(X, np.ndarray):
            self._check_same_library(X, "X")
        d = self.sizes[0]
        if X.ndim == 2:
            if X.shape[1] != d:
                raise ValueError(
                    f"X must have shape (n, {d}) or ({self.B}, n, {d}), got {tuple(X.shape)}"
                )
        elif X.ndim == 3:
            if X.shape[0] != self.B or X.shape[2] != d:
                raise ValueError(
                    f"X must have shape (n, {d}) or ({self.B}, n, {d}), got {tuple(X.shape)}"
                )
        else:
            raise ValueError(
                f"X must have 2 or 3 axes, (n, d) or (B, n, d), got shape {tuple(X.shape)}"
            )
        if X.shape[-2] < 1:
            raise ValueError("X must hold at least one point, got n = 0")
        if isinstance(X, np.ndarray) and not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must hold numbers, got dtype {X.dtype}")
        Xa = (xp.asarray(X, dtype=self.array_dtype) if not isinstance(X, np.ndarray)
              else self.from_host(X))
        if isinstance(Xa, np.ndarray):
            # NaN propagates through min and max, and inf is one of them: the same test as
            # isfinite without its (n, d) temporary (256 MiB at n = 2^16, d = 4096)
            finite = bool(np.isfinite(Xa.min()) and np.isfinite(Xa.max()))
        else:
            finite = bool(xp.all(xp.isfinite(Xa)))
        if not finite:
            raise ValueError("X must not contain NaN or inf")
        return Xa

    def prepare_targets(self, y: ArrayLike, n: int,
                        loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> Any:
        """Validate labels for *loss* and return the target array the loss terms take.

        Parameters
        ----------
        y : array_like
            Labels of the *n* points, as :meth:`per_point_loss` takes them for *loss*.
        n : int
            The number of points (``X.shape[-2]``).
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss the targets are for.

        Returns
        -------
        array, shape (1, n, out) or (B, n, out)
            In ``xp`` with dtype :attr:`array_dtype`; the first axis is 1 when ``y`` is
            shared by all networks. mse: the values (one column when out = 1); logistic: the
            labels -1 or +1 in one column; cross_entropy: the one-hot encoding of the labels.

        Raises
        ------
        ValueError
            An unknown loss, a shape that does not match *n* and the model, labels outside
            the loss's range, or NaN or inf.
        TypeError
            Not an array, or an array of another library than the model's.
        """
        xp = self.xp
        check_choice(loss, "loss", LOSSES)
        out, B = self.sizes[-1], self.B
        if isinstance(y, (list, tuple)):
            y = np.asarray(y)
        if not hasattr(y, "shape"):
            raise TypeError(f"y must be an array, got {type(y).__name__}")
        host = isinstance(y, np.ndarray)
        if not host:
            self._check_same_library(y, "y")
        shape = tuple(y.shape)
        if loss == "cross_entropy":
            if out < 2:
                raise ValueError(
                    f"loss='cross_entropy' needs out = C >= 2 outputs, got out = {out}"
                )
            if shape not in ((n,), (B, n)):
                raise ValueError(
                    f"y must have shape ({n},) or ({B}, {n}) for cross_entropy, got {shape}"
                )
            ya = self._from_host_int(y) if host else y
            if not xp.isdtype(ya.dtype, "integral"):
                raise ValueError(
                    f"y must hold integer class labels for cross_entropy, got dtype {ya.dtype}"
                )
            if bool(xp.any(ya < 0)) or bool(xp.any(ya >= out)):
                raise ValueError(f"y must hold class labels in [0, {out - 1}] for cross_entropy")
            classes = xp.arange(out, dtype=ya.dtype)
            onehot = xp.astype(ya[..., None] == classes, self.array_dtype)
            return onehot if onehot.ndim == 3 else onehot[None, ...]
        ya = self.from_host(y) if host else xp.astype(y, self.array_dtype)
        if not bool(xp.all(xp.isfinite(ya))):
            raise ValueError("y must not contain NaN or inf")
        if loss == "logistic":
            if out != 1:
                raise ValueError(f"loss='logistic' needs out = 1, got out = {out}")
            if shape not in ((n,), (B, n)):
                raise ValueError(
                    f"y must have shape ({n},) or ({B}, {n}) for logistic, got {shape}"
                )
            if not bool(xp.all((ya == 1.0) | (ya == -1.0))):
                raise ValueError("y must hold labels -1 or +1 for loss='logistic'")
            t = ya[..., None]
            return t if t.ndim == 3 else t[None, ...]
        if out == 1:
            if shape not in ((n,), (B, n)):
                raise ValueError(f"y must have shape ({n},) or ({B}, {n}) for out = 1, got {shape}")
            t = ya[..., None]
        else:
            if shape not in ((n, out), (B, n, out)):
                raise ValueError(
                    f"y must have shape ({n}, {out}) or ({B}, {n}, {out}), got {shape}"
                )
            t = ya
        return t if t.ndim == 3 else t[None, ...]

    def _from_host_int(self, y):
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"y must hold integer class labels for cross_entropy, got dtype {y.dtype}"
            )
        return self.xp.asarray(y.astype(np.int64))

    def _check_vectors(self, vectors):
        vectors = list(vectors)
        if len(vectors) != self.depth:
            raise ValueError(
                f"vectors must hold {self.depth} arrays (one per layer), got {len(vectors)}"
            )
        out = []
        for l, (v, w) in enumerate(zip(vectors, self.weights)):
            if isinstance(v, np.ndarray) and not isinstance(w, np.ndarray):
                v = self.from_host(v)
            self._check_same_library(v, f"vectors[{l}]")
            if tuple(v.shape) != tuple(w.shape):
                raise ValueError(
                    f"vectors[{l}] must have shape {tuple(w.shape)}, got {tuple(v.shape)}"
                )
            v = self.xp.astype(v, self.array_dtype)
            if not bool(self.xp.all(self.xp.isfinite(v))):
                raise ValueError(f"vectors[{l}] must not contain NaN or inf")
            out.append(self.xp.where(self.masks[l], v, 0.0))
        return out

    # ------------------------------------------------------------------ core (trusted inputs)
    def _forward_cache(self, Xa):
        xp = self.xp
        a = [Xa]
        z = [None]
        h = Xa
        L = self.depth
        for l in range(L):
            if l == 0 and Xa.ndim == 2 and self.B > 1:
                zl = self._shared_input_product(Xa)
            else:
                zl = xp.matmul(h, self.weights[l])
            if self.multipliers[l] != 1.0:
                zl = self.multipliers[l] * zl
            if self.biases is not None:
                zl = zl + self.biases[l][:, None, :]
            z.append(zl)
            if l < L - 1:
                h = _act(self.activation, zl, xp)
                a.append(h)
        return a, z  # z[L] is the output f, shape (B, n, out)

    def _shared_input_product(self, X):
        """``X @ W_0[b]`` for every b as ONE product ``X (n, d) @ [W_0[1] ... W_0[B]] (d, B h)``.

        One large matrix product runs near the BLAS peak where B small ones do not (measured:
        2.6 times faster for B = 64, n = 1000, d = 100, h = 256). Returns (B, n, h).
        """
        xp = self.xp
        B, d, h = self.weights[0].shape
        wcat = xp.reshape(xp.permute_dims(self.weights[0], (1, 0, 2)), (d, B * h))
        z = xp.reshape(xp.matmul(X, wcat), (X.shape[0], B, h))
        return xp.permute_dims(z, (1, 0, 2))

    def _shared_input_gradient(self, X, delta):
        """``X^T @ delta[b]`` for every b as one product ``X^T (d, n) @ (n, B h)``."""
        xp = self.xp
        B, n, h = delta.shape
        dcat = xp.reshape(xp.permute_dims(delta, (1, 0, 2)), (n, B * h))
        g = xp.reshape(xp.matmul(X.mT, dcat), (X.shape[1], B, h))
        return xp.permute_dims(g, (1, 0, 2))

    def _backward(self, a, z, gf):
        """Weight and bias gradients from dLoss/df = gf (B, n, out), masked."""
        xp = self.xp
        L = self.depth
        wg = [None] * L
        bg = [None] * L if self.biases is not None else None
        delta = gf
        for l in range(L - 1, -1, -1):
            c = self.multipliers[l]
            if l == 0 and a[0].ndim == 2 and self.B > 1:
                g = self._shared_input_gradient(a[0], delta)
            else:
                g = xp.matmul(a[l].mT, delta)
            if c != 1.0:
                g = c * g
            wg[l] = xp.where(self.masks[l], g, 0.0)
            if bg is not None:
                bg[l] = xp.sum(delta, axis=-2)
            if l > 0:
                back = xp.matmul(delta, self.weights[l].mT)
                if c != 1.0:
                    back = c * back
                delta = back * _act_d1(self.activation, z[l], a[l], xp)
        return wg, bg

    def loss_and_gradients(self, X: Any, targets: Any,
                           loss: Literal["mse", "logistic", "cross_entropy"] = "mse", *,
                           rows: int | None = None,
                           ) -> tuple[Any, Any, list[Any], list[Any] | None]:
        """Compute every network's per-point losses, outputs and gradients on prepared arrays.

        The work of a training step: :meth:`gradients` on arrays that :meth:`prepare_inputs`
        and :meth:`prepare_targets` returned, which are not checked again. The fused
        two-layer kernels of the model's :attr:`kernel_table` run where
        :meth:`uses_fused_kernels` says so, the batched matrix products otherwise.

        Parameters
        ----------
        X : array, shape (n, d) or (B, n, d)
            Inputs as :meth:`prepare_inputs` returns them.
        targets : array, shape (1, n, out) or (B, n, out)
            Targets as :meth:`prepare_targets` returns them for *loss* and these n points.
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss *targets* were prepared for.
        rows : int >= 1 or None, default None
            At most this many points at a time (``ceil(n / rows)`` slices of balanced sizes),
            so that the ``(B, rows, h)`` buffers stay within a memory budget (see
            :meth:`work_bytes_per_point`); None: all points at once.

        Returns
        -------
        per_point : array, shape (B, n)
            The loss of every network on every point.
        outputs : array, shape (B, n, out)
            The outputs ``f``.
        weight_grads : list of arrays
            Gradients of the mean loss over the n points, like ``weights``; exactly zero where
            the mask is False.
        bias_grads : list of arrays or None
            Like ``biases``.

        Notes
        -----
        With *rows*, the gradients are the sums of the slices' (each normalized by all n
        points), and everything agrees with one pass up to rounding: a gradient adds the
        points in another grouping, and BLAS may order a point's dot product differently in a
        product of fewer rows (``noprune_theory.kernels.cpu.two_layer_loss_grad``, Notes).
        """
        Xa, t = X, targets
        n = Xa.shape[-2]
        if rows is None or rows >= n:
            return self._loss_grad_part(Xa, t, loss, n)
        if self.uses_fused_kernels(Xa, loss) and not self._cuda_reductions():
            # the CPU kernel carries its gradient sums from slice to slice itself
            return self._fused_loss_grad(Xa, t, loss, rows=rows)
        xp = self.xp
        pers, fs = [], []
        wsum = bsum = None
        for lo, hi in _slices(n, rows):
            per, f, wg, bg = self._loss_grad_part(
                Xa[..., lo:hi, :], t[:, lo:hi, :], loss, n
            )
            pers.append(per)
            fs.append(f)
            if wsum is None:
                wsum, bsum = list(wg), (None if bg is None else list(bg))
            else:
                wsum = [a + b for a, b in zip(wsum, wg)]
                if bsum is not None:
                    bsum = [a + b for a, b in zip(bsum, bg)]
        return xp.concat(pers, axis=-1), xp.concat(fs, axis=-2), wsum, bsum

    def _loss_grad_part(self, Xa, t, loss, n_total):
        """:meth:`loss_and_gradients` on the points of Xa, normalized by *n_total* points."""
        if self.uses_fused_kernels(Xa, loss):
            return self._fused_loss_grad(Xa, t, loss, n_total=n_total)
        a, z = self._forward_cache(Xa)
        f = z[-1]
        if loss == "mse" and self.sizes[-1] == 1 and self._cuda_reductions():
            # one kernel pass for the per-point loss, its derivative and the per-network mean
            from noprune_theory.kernels import cuda as kcuda

            _, df2, per = kcuda.mse_loss_and_grad(
                self.xp.reshape(f, f.shape[:2]), self.xp.reshape(t, (t.shape[0], t.shape[1])),
                n_total=n_total,
            )
            wg, bg = self._backward(a, z, df2[..., None])
            return per, f, wg, bg
        per, df = _loss_terms(loss, f, t, self.xp)
        wg, bg = self._backward(a, z, df / n_total)
        return per, f, wg, bg

    def forward_rows(self, X: Any, rows: int | None = None) -> Any:
        """Compute the outputs of every network on prepared inputs, *rows* points at a time.

        :meth:`forward` on an array that :meth:`prepare_inputs` returned (not checked again),
        with the ``(B, rows, h)`` buffers of a slice in place of ``(B, n, h)``.

        Parameters
        ----------
        X : array, shape (n, d) or (B, n, d)
            Inputs as :meth:`prepare_inputs` returns them.
        rows : int >= 1 or None, default None
            At most this many points at a time (``ceil(n / rows)`` slices of balanced sizes);
            None: all points at once.

        Returns
        -------
        array, shape (B, n, out)
            The outputs ``f``. Every point's output is computed alone; slicing changes at
            most the rounding of the matrix products (BLAS may order a dot product differently
            for fewer rows). On NumPy arrays, when the ``(B, n, h)`` buffers would exceed
            ``kernels.cpu.CACHE_BLOCK_ABOVE`` bytes, the slices are at most about
            ``CACHE_BLOCK_BYTES`` (cache blocking).
        """
        n = X.shape[-2]
        if isinstance(X, np.ndarray):
            # cache blocking on the host, as the fused CPU kernel does: slices whose
            # (B, rows, h) buffers stay in the cache run several times faster than passes
            # over memory (kernels.cpu.CACHE_BLOCK_BYTES)
            from noprune_theory.kernels.cpu import (
                CACHE_BLOCK_ABOVE,
                CACHE_BLOCK_BYTES,
                CACHE_BLOCK_MIN_ROWS,
            )

            per_point = self.B * max(self.sizes[1:]) * np.dtype(self.dtype).itemsize
            if n * per_point > CACHE_BLOCK_ABOVE:
                block = max(CACHE_BLOCK_MIN_ROWS, CACHE_BLOCK_BYTES // per_point)
                rows = block if rows is None else min(rows, block)
        if rows is None or rows >= n:
            return self._forward_cache(X)[1][-1]
        parts = [self._forward_cache(X[..., lo:hi, :])[1][-1] for lo, hi in _slices(n, rows)]
        return self.xp.concat(parts, axis=-2)

    def work_bytes_per_point(self, *, backward: bool = True, fused: bool | None = None) -> int:
        """Return the bytes of the per-step working buffers per training point (all B networks).

        What one more point costs in a gradient step (``backward=True``) or a forward pass: the
        buffers of shape ``(B, n, h_l)``. For the fused two-layer kernels one ``(n, B, h)``
        buffer; for the array-expression passes, the activations and pre-activations kept for
        the backward pass (``2 sum_l h_l``) and up to four temporaries of the widest layer.
        An estimate of what dominates (the weights, gradients and optimizer state do not grow
        with n and are not counted); :func:`~noprune_theory.training.train` divides its
        ``memory_budget`` by it.

        Parameters
        ----------
        backward : bool, default True
            A gradient step (True) or a forward pass only (False: one layer's input and output
            alive at a time).
        fused : bool or None
            Whether the fused two-layer kernels run; None: as they would on a shared X with
            the mse loss.

        Returns
        -------
        int
            Bytes per training point of the buffers that grow with n.
        """
        item = 4 if self.dtype == "float32" else 8
        hidden = self.sizes[1:-1]
        out = self.sizes[-1]
        if not backward:
            return item * self.B * (2 * max(hidden) + 2 * out)
        if fused is None:
            fused = (self.depth == 2 and out == 1
                     and (self.kernel_table.fused_loss_grad == "cpu"
                          or self._cuda_reductions()))
        if fused:
            return item * self.B * (hidden[0] + 4)
        return item * self.B * (2 * sum(hidden) + 4 * max(hidden) + 4 * out)

    @property
    def kernel_table(self) -> Backend:
        """The :class:`~noprune_theory.backend.Backend` whose kernels this model runs.

        Its backend's (``get_backend(model.backend)``), unless :meth:`use_kernel_table` set
        another.
        """
        return self.__dict__.get("_kernel_table") or get_backend(self.backend)

    def use_kernel_table(self, table: Backend | None) -> None:
        """Run this model's kernels (and :func:`~noprune_theory.training.train`'s) from *table*.

        Parameters
        ----------
        table : Backend or None
            A :class:`~noprune_theory.backend.Backend` for the model's arrays: the tests pass
            :func:`~noprune_theory.backend.cuda_simulator_backend` to run the cupy backend's
            numba.cuda kernels on NumPy arrays under the CUDA simulator. None restores the
            backend's own table. Copies of the model keep the table.
        """
        from noprune_theory.backend import Backend

        if table is not None and not isinstance(table, Backend):
            raise TypeError(f"table must be a Backend or None, got {type(table).__name__}")
        self.__dict__["_kernel_table"] = table

    def _cuda_reductions(self):
        # the numba.cuda loss kernels (the cupy backend's table, or the simulator's in the tests)
        return self.kernel_table.cuda_reductions

    def uses_fused_kernels(self, X: Any,
                           loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> bool:
        """Tell whether :meth:`loss_and_gradients` runs the fused two-layer kernels on *X*.

        They run for one hidden layer, one output, inputs shared by all networks (``X`` of
        shape ``(n, d)``) and the mse or logistic loss, when the model's :attr:`kernel_table`
        has them: the numba kernels (numba backend) or the numba.cuda ones (cupy backend, up
        to the width the CUDA kernel takes). Elsewhere the batched matrix products run.

        Parameters
        ----------
        X : array, shape (n, d) or (B, n, d)
            Inputs as :meth:`prepare_inputs` returns them (only the number of axes counts).
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss of the step.

        Returns
        -------
        bool
            True where the fused kernels run; :meth:`work_bytes_per_point` takes it as
            ``fused``.
        """
        Xa = X
        return (
            (self.kernel_table.fused_loss_grad == "cpu" or self._cuda_reductions())
            and self.depth == 2
            and self.sizes[-1] == 1
            and loss in ("mse", "logistic")
            and Xa.ndim == 2
            and (
                not self._cuda_reductions()
                or self.kernel_table.kernel_module("cuda").fused_width_ok(self.sizes[1])
            )
        )

    def release_work_buffers(self) -> None:
        """Free the scratch buffers that the fused CPU kernel keeps from one step to the next.

        :meth:`loss_and_gradients` allocates them on the first call and reuses them while the
        shapes stay; a trainer releases them before an evaluation of all points allocates its
        own, so that the two never add up. The next call allocates them again.
        """
        self.__dict__.pop("_work", None)

    def _fused_loss_grad(self, Xa, t, loss, *, n_total=None, rows=None):
        xp = self.xp
        y = xp.reshape(t, (t.shape[0], t.shape[1]))
        b0 = b1 = None
        if self.biases is not None:
            b0, b1 = self.biases
        args = (
            Xa, self.weights[0], b0, self.weights[1], b1, self.multipliers[0],
            self.multipliers[1], y, self.activation, loss,
        )  # fmt: skip
        if self._cuda_reductions():
            from noprune_theory.kernels import cuda as kernels

            per, f, gW0, gb0, gW1, gb1 = kernels.two_layer_loss_grad(
                *args, slope=LEAKY_SLOPE, n_total=n_total
            )
        else:
            from noprune_theory.kernels import cpu as kernels

            work = self.__dict__.setdefault("_work", {})
            args = (np.ascontiguousarray(Xa), *args[1:7], np.ascontiguousarray(y), *args[8:])
            if n_total is not None and n_total != Xa.shape[0]:
                raise ValueError("the CPU two-layer kernel slices the points itself (rows=)")
            per, f, gW0, gb0, gW1, gb1 = kernels.two_layer_loss_grad(
                *args, slope=LEAKY_SLOPE, work=work, rows=rows
            )
        gW0 = xp.where(self.masks[0], gW0, 0.0)
        gW1 = xp.where(self.masks[1], gW1, 0.0)
        bg = [gb0, gb1] if self.biases is not None else None
        return per, f[:, :, None], [gW0, gW1], bg

    # ------------------------------------------------------------------ public API
    def forward(self, X: ArrayLike) -> Any:
        """Compute the outputs of every network on X.

        Parameters
        ----------
        X : array_like, shape (n, d) shared by all networks, or (B, n, d)
            Finite. A NumPy array is accepted by every backend (copied to the device once).

        Returns
        -------
        array, shape (B, n, out)
            The outputs ``f``, in the model's array library.
        """
        Xa = self.prepare_inputs(X)
        return self._forward_cache(Xa)[1][-1]

    __call__ = forward

    def per_point_loss(self, X: ArrayLike, y: ArrayLike,
                       loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> Any:
        """Compute the loss of every network on every point.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs shared by all networks, or one set per network; finite.
        y : array_like
            Labels. For mse: floats ``(n,)`` or ``(B, n)`` for out = 1, ``(n, out)`` or
            ``(B, n, out)`` otherwise; logistic: ``(n,)`` or ``(B, n)`` in {-1, +1} (out = 1);
            cross_entropy: integer labels ``(n,)`` or ``(B, n)`` in ``[0, out)`` (out >= 2).
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss (formulas in :class:`MaskedMLP`, Notes).

        Returns
        -------
        array, shape (B, n)
            ``loss(f_b(x_i), y_i)``, in the model's array library.
        """
        Xa = self.prepare_inputs(X)
        t = self.prepare_targets(y, Xa.shape[-2], loss)
        f = self._forward_cache(Xa)[1][-1]
        return _loss_terms(loss, f, t, self.xp)[0]

    def loss(self, X: ArrayLike, y: ArrayLike,
             loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> Any:
        """Compute the mean loss of every network over the n points.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs, as for :meth:`per_point_loss`.
        y : array_like
            Labels, as for :meth:`per_point_loss`.
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss (formulas in :class:`MaskedMLP`, Notes).

        Returns
        -------
        array, shape (B,)
            ``(1/n) sum_i loss(f_b(x_i), y_i)``, in the model's array library.
        """
        return self.xp.mean(self.per_point_loss(X, y, loss=loss), axis=-1)

    def accuracy(self, X: ArrayLike, y: ArrayLike,
                 loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> Any:
        """Compute the fraction of points each network classifies correctly.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs, as for :meth:`per_point_loss`.
        y : array_like
            Labels, as for :meth:`per_point_loss` with this *loss*.
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            Says how *y* is read.

        Returns
        -------
        array, shape (B,)
            The fraction of points where ``y f > 0`` for one output (mse, logistic: the signs
            agree; a zero counts as wrong), or where the argmax of ``f`` is the label's class
            (cross_entropy) or the argmax of ``y`` (mse with more outputs); in the model's
            array library and dtype.
        """
        Xa = self.prepare_inputs(X)
        t = self.prepare_targets(y, Xa.shape[-2], loss)
        f = self._forward_cache(Xa)[1][-1]
        correct = _correct(loss, f, t, self.xp)
        return self.xp.mean(self.xp.astype(correct, self.array_dtype), axis=-1)

    def gradients(self, X: ArrayLike, y: ArrayLike,
                  loss: Literal["mse", "logistic", "cross_entropy"] = "mse",
                  ) -> tuple[Any, list[Any], list[Any] | None]:
        """Mean loss and its gradients, for every network.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs, as for :meth:`per_point_loss`.
        y : array_like
            Labels, as for :meth:`per_point_loss`.
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss.

        Returns
        -------
        loss : array (B,)
            ``(1/n) sum_i loss(f(x_i), y_i)``.
        weight_grads : list of arrays
            Like ``weights``; exactly zero where the mask is False.
        bias_grads : list of arrays or None
            Like ``biases``.

        Notes
        -----
        Backpropagation: with ``delta_{L+1} = (1/n) dloss/df``,
        ``dW_l = c_l a_l^T delta_{l+1}``, ``db_l = sum_i delta_{l+1}`` and
        ``delta_l = c_l (delta_{l+1} W_l^T) * phi'(z_l)``.
        """
        Xa = self.prepare_inputs(X)
        t = self.prepare_targets(y, Xa.shape[-2], loss)
        per, _, wg, bg = self.loss_and_gradients(Xa, t, loss)
        return self.xp.mean(per, axis=-1), wg, bg

    def hvp(self, X: ArrayLike, y: ArrayLike, vectors: Sequence[ArrayLike],
            loss: Literal["mse", "logistic", "cross_entropy"] = "mse") -> list[Any]:
        """Hessian-vector products of the mean loss with respect to the weights.

        Parameters
        ----------
        X : array_like, shape (n, d) or (B, n, d)
            Inputs, as for :meth:`per_point_loss`.
        y : array_like
            Labels, as for :meth:`per_point_loss`.
        vectors : list of arrays
            Like ``weights``: the direction ``V``; entries where the mask is False are ignored.
            NumPy arrays are accepted by every backend.
        loss : {"mse", "logistic", "cross_entropy"}, default "mse"
            The loss.

        Returns
        -------
        list of arrays
            ``H V`` like ``weights``, exactly zero where the mask is False. ``H`` is the Hessian
            of each network's mean loss with respect to its kept weights (biases held fixed), so
            the result is ``P H P V`` with ``P`` the projection on the kept coordinates.

        Notes
        -----
        Pearlmutter's R-operator [P94], ``R{.} = d/dr (.)(W + r V) at r = 0``: forward
        ``R{z_{l+1}} = c_l (R{a_l} W_l + a_l V_l)``, ``R{a_l} = phi'(z_l) R{z_l}``; backward
        ``R{delta_{L+1}} = (1/n) loss''(f) R{f}``,
        ``R{dW_l} = c_l (R{a_l}^T delta_{l+1} + a_l^T R{delta_{l+1}})`` and
        ``R{delta_l} = c_l (R{delta_{l+1}} W_l^T + delta_{l+1} V_l^T) * phi'(z_l)
        + c_l (delta_{l+1} W_l^T) * phi''(z_l) R{z_l}``.
        Exact up to rounding (no finite differences); ReLU's phi'' is zero almost everywhere.
        GraSP ([NFP] Sec. 5) scores with ``H g``.
        """
        Xa = self.prepare_inputs(X)
        t = self.prepare_targets(y, Xa.shape[-2], loss)
        V = self._check_vectors(vectors)
        return self._hvp(Xa, t, V, loss)

    def _hvp(self, Xa, t, V, loss):
        xp = self.xp
        act = self.activation
        L = self.depth
        cs = self.multipliers
        a, z = self._forward_cache(Xa)
        # forward R pass
        ra = [None] * L  # R{a_l}; R{a_0} = 0
        rz = [None] * (L + 1)
        d1 = [None] * L
        for l in range(L):
            r = xp.matmul(a[l], V[l])
            if ra[l] is not None:
                r = r + xp.matmul(ra[l], self.weights[l])
            rz[l + 1] = cs[l] * r
            if l < L - 1:
                d1[l + 1] = _act_d1(act, z[l + 1], a[l + 1], xp)
                ra[l + 1] = d1[l + 1] * rz[l + 1]
        f = z[-1]
        n = f.shape[-2]
        _, df = _loss_terms(loss, f, t, xp)
        delta = df / n
        rdelta = _loss_curvature(loss, f, t, rz[L], xp) / n
        out = [None] * L
        for l in range(L - 1, -1, -1):
            c = cs[l]
            g = xp.matmul(a[l].mT, rdelta)
            if ra[l] is not None:
                g = g + xp.matmul(ra[l].mT, delta)
            out[l] = xp.where(self.masks[l], c * g, 0.0)
            if l > 0:
                back = c * xp.matmul(delta, self.weights[l].mT)
                rback = c * (xp.matmul(rdelta, self.weights[l].mT) + xp.matmul(delta, V[l].mT))
                new_rdelta = rback * d1[l]
                d2 = _act_d2(act, z[l], a[l], xp)
                if d2 is not None:
                    new_rdelta = new_rdelta + back * d2 * rz[l]
                delta = back * d1[l]
                rdelta = new_rdelta
        return out

    # ------------------------------------------------------------------ copy, save, load
    def copy(self) -> MaskedMLP:
        """Return a deep copy.

        Returns
        -------
        MaskedMLP
            The same settings, backend and kernel table, with every array copied (scratch
            buffers of the fused kernels are not shared).
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.weights = [self._clone(w) for w in self.weights]
        new.biases = None if self.biases is None else [self._clone(b) for b in self.biases]
        new.masks = [self._clone(m) for m in self.masks]
        new.initial_weights = [self._clone(w) for w in self.initial_weights]
        new.initial_biases = (None if self.initial_biases is None
                              else [self._clone(b) for b in self.initial_biases])
        new._work = {}  # scratch buffers of the fused kernels are never shared
        return new

    @classmethod
    def concat(cls, models: Sequence[MaskedMLP]) -> MaskedMLP:
        """Join the networks of several models into one batch, in order.

        Used to train the networks of several simulation cells as one batch; the networks
        are then independent as before (each network's numbers depend on it alone).

        Parameters
        ----------
        models : sequence of MaskedMLP
            At least one model; all of the same sizes, activation, bias, scaling, init, dtype
            and backend.

        Returns
        -------
        MaskedMLP
            ``B = sum of the models' B``, networks (weights, biases, masks, initial values) in
            the order given, arrays copied. Its ``seed`` is the first model's (the others'
            initial weights are carried as arrays).

        Raises
        ------
        ValueError
            When the models differ in one of the settings above.
        """
        models = list(models)
        if not models:
            raise ValueError("models must hold at least one MaskedMLP, got none")
        first = models[0]
        keys = ("sizes", "activation", "bias", "scaling", "init", "dtype", "backend")
        for m in models[1:]:
            if any(getattr(m, k) != getattr(first, k) for k in keys):
                raise ValueError("models to stack must share sizes, activation, bias, scaling, "
                                 "init, dtype and backend")
        xp = first.xp
        new = first.copy()
        new.B = sum(m.B for m in models)
        new.weights = [xp.concat([m.weights[l] for m in models]) for l in range(first.depth)]
        new.biases = (None if first.biases is None else
                      [xp.concat([m.biases[l] for m in models]) for l in range(first.depth)])
        new.masks = [xp.concat([m.masks[l] for m in models]) for l in range(first.depth)]
        new.initial_weights = [xp.concat([m.initial_weights[l] for m in models])
                               for l in range(first.depth)]
        new.initial_biases = (None if first.biases is None else
                              [xp.concat([m.initial_biases[l] for m in models])
                               for l in range(first.depth)])
        return new

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to an ``.npz`` file.

        The file holds the weights, biases, masks, initial weights and biases and the
        :meth:`config` (with the init name), and carries a format marker and version so that
        :meth:`load` can refuse files that are not ours. Arrays are copied to the host.

        Parameters
        ----------
        path : str or path-like
            Where to write; :func:`numpy.savez` adds ``.npz`` to a name without it.
        """
        arrays = {
            "format": np.asarray(FORMAT_MARKER),
            # an older reader ignores the initial biases: safe only when they are zero
            "version": np.asarray(1 if self.init == "he" else FORMAT_VERSION),
            "config": np.asarray(json.dumps(self.config())),
        }
        for l in range(self.depth):
            arrays[f"weight_{l}"] = to_numpy(self.weights[l])
            arrays[f"mask_{l}"] = to_numpy(self.masks[l])
            arrays[f"initial_weight_{l}"] = to_numpy(self.initial_weights[l])
            if self.biases is not None:
                arrays[f"bias_{l}"] = to_numpy(self.biases[l])
                arrays[f"initial_bias_{l}"] = to_numpy(self.initial_biases[l])
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *,
             backend: Literal["auto", "numpy", "numba", "cupy"] | None = None) -> MaskedMLP:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.
        backend : {"numpy", "numba", "cupy", "auto"} or None, default None
            Where to put the arrays; ``None`` uses the saved backend.

        Returns
        -------
        MaskedMLP
            The saved model (of the class :meth:`load` is called on), with its masks, current
            and initial parameters.

        Raises
        ------
        ValueError
            If the file is not a saved MaskedMLP, is corrupt, or has a newer format version.
        """
        try:
            loaded = np.load(path, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ValueError(f"{path} is not a readable .npz file of a MaskedMLP: {exc}") from None
        if not hasattr(loaded, "files"):  # a single array (.npy), not an archive
            raise ValueError(f"{path} is not a saved MaskedMLP (a single .npy array, not .npz)")
        try:
            with loaded as f:
                data = {k: f[k] for k in f.files}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable .npz file of a MaskedMLP: {exc}") from None
        if "format" not in data or str(data["format"]) != FORMAT_MARKER:
            raise ValueError(
                f"{path} is not a saved MaskedMLP (no '{FORMAT_MARKER}' format marker)"
            )
        version = int(data["version"])
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path} has format version {version}; this noprune_theory reads up to "
                f"{FORMAT_VERSION}, upgrade it"
            )
        try:
            cfg = json.loads(str(data["config"]))
            if backend is not None:
                cfg["backend"] = backend
            model = MaskedMLP(
                cfg["d"],
                tuple(cfg["hidden"]),
                cfg["out"],
                B=cfg["B"],
                activation=cfg["activation"],
                bias=cfg["bias"],
                scaling=cfg["scaling"],
                dtype=cfg["dtype"],
                backend=cfg["backend"],
                seed=cfg["seed"],
                # files written before init existed hold He-initialized models
                init=cfg.get("init", "he"),
            )
            if cls is not MaskedMLP and issubclass(cls, MaskedMLP):
                model.__class__ = cls
            L = model.depth
            for key in sorted(data):
                # parameters must be finite reals: a cast would drop imaginary parts silently
                if key.startswith(("weight_", "initial_weight_", "bias_", "initial_bias_")):
                    if data[key].dtype.kind not in "fiu":
                        raise ValueError(f"{key} has dtype {data[key].dtype}, not real numbers")
                    if not np.all(np.isfinite(data[key])):
                        raise ValueError(f"{key} contains inf or NaN")
            model.weights = [model.from_host(data[f"weight_{l}"]) for l in range(L)]
            model.initial_weights = [
                model.from_host(data[f"initial_weight_{l}"]) for l in range(L)
            ]
            masks = [model.xp.asarray(data[f"mask_{l}"]) for l in range(L)]
            if model.bias:
                model.biases = [model.from_host(data[f"bias_{l}"]) for l in range(L)]
                # version-1 files have no initial biases: theirs were zero (He init)
                model.initial_biases = [
                    model.from_host(data[f"initial_bias_{l}"]) if f"initial_bias_{l}" in data
                    else model.xp.zeros_like(model.biases[l]) for l in range(L)
                ]
                for l in range(L):
                    for name, arr in (("bias", model.biases[l]),
                                      ("initial_bias", model.initial_biases[l])):
                        if tuple(arr.shape) != (model.B, model.sizes[l + 1]):
                            raise ValueError(f"{name}_{l} has shape {tuple(arr.shape)}")
            for l in range(L):
                for name, arr in (
                    ("weight", model.weights[l]),
                    ("initial_weight", model.initial_weights[l]),
                ):
                    if tuple(arr.shape) != (model.B, model.sizes[l], model.sizes[l + 1]):
                        raise ValueError(f"{name}_{l} has shape {tuple(arr.shape)}")
            model.set_masks(masks)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is a corrupt MaskedMLP file: {exc!r}") from None
        except ValueError as exc:
            raise ValueError(f"{path} is a corrupt MaskedMLP file: {exc}") from None
        return model


class MaskedTwoLayer(MaskedMLP):
    """A batch of B masked two-layer networks (one hidden layer of ``width`` units).

    The two-layer case under its own name; the same object as :class:`MaskedMLP` with
    ``hidden=(width,)``.

    Parameters
    ----------
    d : int >= 1
        Input dimension.
    width : int >= 1, default 256
        The number of hidden units.
    out : int >= 1, default 1
        Output dimension.
    **kwargs
        The keyword arguments of :class:`MaskedMLP` (``B``, ``activation``, ``bias``,
        ``scaling``, ``dtype``, ``backend``, ``seed``, ``init``).

    Examples
    --------
    >>> net = MaskedTwoLayer(10, 32, B=4, scaling="mean_field", seed=1)
    >>> net.sizes
    (10, 32, 1)
    """

    def __init__(self, d: int, width: int = 256, out: int = 1, **kwargs: Any) -> None:
        if not isinstance(width, (int, np.integer)) or isinstance(width, bool):
            # a tuple would silently build a deeper net: that is MaskedMLP's job
            width = check_scalar(width, "width", integer=True, low=1)
        super().__init__(d, (int(width),), out, **kwargs)
