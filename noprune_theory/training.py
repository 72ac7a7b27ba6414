"""Batched trainers that drive masked networks to (near) interpolation.

Where this sits in the data flow: :mod:`noprune_theory.data` makes ``(X, y)``,
:mod:`noprune_theory.pruning` sets the masks of a :class:`~noprune_theory.models.MaskedMLP`, and
:func:`train` fits all B networks at once, in place, stopping each network on its own when it
reaches its target. The simulations then measure the trained functions (Lipschitz constants,
memorization, correlation with the label noise).

Which kernels run depends on the model's backend: ``numpy`` updates with array expressions (the
reference), ``numba`` with the fused in-place kernels of ``noprune_theory.kernels.cpu``, ``cupy``
with the numba.cuda kernels of ``noprune_theory.kernels.cuda``. The forward and backward passes
are the model's batched matrix products on every backend. On the numba backend, sparse networks
(at most ``FUSED_MAX_DENSITY`` of their weights kept; at large n, as a measured cost rule
decides) of a run that allows it train entirely inside one compiled call
(``noprune_theory.kernels.cpu_train``: forward, backward, update and stopping for every step,
over the kept weights only).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from noprune_theory._activations import LEAKY_SLOPE, LOSSES, loss_terms
from noprune_theory._activations import correct as _correct
from noprune_theory._validation import check_choice, check_scalar, check_seed
from noprune_theory.backend import to_numpy
from noprune_theory.models import MaskedMLP

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from numpy.typing import ArrayLike

__all__ = ["DEFAULT_LR", "OPTIMIZERS", "TrainResult", "Trajectory", "train"]

OPTIMIZERS = ("gd", "sgd", "adam")
#: Step size used when ``lr=None``.
DEFAULT_LR = {"gd": 0.1, "sgd": 0.1, "adam": 1e-3}
#: Memorization threshold of [NFP] Sec. 5: a point whose loss is below log(2)/10.
MEMORIZE_THRESHOLD = math.log(2) / 10


@dataclass
class Trajectory:  # numpydoc ignore=PR01
    """Measurements taken during training, at the steps in ``steps``.

    Attributes
    ----------
    steps : ndarray of int (T,)
        Global step count at each record (0 is before the first update).
    loss : ndarray (T, B)
        Mean training loss of every network (full batch).
    accuracy : ndarray (T, B)
        Training accuracy of every network (sign or argmax, see ``MaskedMLP.accuracy``).
    callback : list
        What ``callback(model, step)`` returned at each record (empty without a callback).
    """

    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    callback: list = field(default_factory=list)


@dataclass
class TrainResult:  # numpydoc ignore=PR01
    """What :func:`train` returns (the model itself is trained in place).

    Attributes
    ----------
    final_loss : ndarray (B,)
        Mean training loss of every network after training.
    final_accuracy : ndarray (B,)
        Training accuracy of every network after training (as in ``Trajectory.accuracy``).
    memorized : ndarray (B,)
        Fraction of points whose loss is below ``memorize_threshold``.
    steps : ndarray of int (B,)
        Updates applied to each network (a network stops updating once it reaches its target).
    converged : ndarray of bool (B,)
        Whether each network reached its target (False for all when no target was set).
    diverged : ndarray of bool (B,)
        Networks whose loss became NaN or inf; they stopped there (a RuntimeWarning says so).
    trajectory : Trajectory
        The loss and accuracy at the recorded steps, and the callback's values.
    """

    final_loss: np.ndarray
    final_accuracy: np.ndarray
    memorized: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    trajectory: Trajectory


# ----------------------------------------------------------------------------- updaters
class _Updater:
    """One optimizer step on every parameter array; ``lr_eff`` (B,) is 0 for stopped nets."""

    def __init__(self, model, optimizer, kernels, beta1, beta2, eps):
        self.model = model
        self.xp = model.xp
        self.optimizer = optimizer
        self.kernels = kernels
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        params = model.weights + (model.biases or [])
        if optimizer == "adam":
            self.M = [self.xp.zeros_like(p) for p in params]
            self.V = [self.xp.zeros_like(p) for p in params]
        self.mod = None if kernels == "xp" else model.kernel_table.kernel_module(kernels)

    def step(self, wgrads, bgrads, lr_eff):
        model = self.model
        self.t += 1
        n_w = len(model.weights)
        grads = list(wgrads) + list(bgrads or [])
        masks = list(model.masks) + [None] * (len(grads) - n_w)
        params = model.weights + (model.biases or [])
        if self.mod is not None:
            new = []
            for i, (p, g, m) in enumerate(zip(params, grads, masks)):
                p = _contiguous(p, self.xp)
                g = _contiguous(g, self.xp)
                if self.optimizer == "adam":
                    self.mod.masked_adam_update(
                        p,
                        g,
                        self.M[i],
                        self.V[i],
                        m,
                        lr_eff,
                        self.beta1,
                        self.beta2,
                        self.eps,
                        self.t,
                    )
                else:
                    self.mod.masked_sgd_update(p, g, m, lr_eff)
                new.append(p)
        else:
            new = [
                self._xp_step(i, p, g, m, lr_eff)
                for i, (p, g, m) in enumerate(zip(params, grads, masks))
            ]
        model.weights = new[:n_w]
        if model.biases is not None:
            model.biases = new[n_w:]

    def _xp_step(self, i, p, g, m, lr_eff):
        xp = self.xp
        shape = (lr_eff.shape[0],) + (1,) * (p.ndim - 1)
        s = xp.reshape(lr_eff, shape)
        active = s != 0
        if self.optimizer == "adam":
            b1, b2 = self.beta1, self.beta2
            M = xp.where(active, b1 * self.M[i] + (1 - b1) * g, self.M[i])
            V = xp.where(active, b2 * self.V[i] + (1 - b2) * g * g, self.V[i])
            self.M[i], self.V[i] = M, V
            upd = (M / (1 - b1**self.t)) / (xp.sqrt(V / (1 - b2**self.t)) + self.eps)
        else:
            upd = g
        new = xp.where(active, p - s * upd, p)
        if m is not None:
            new = xp.where(m, new, 0.0)  # exactly zero, whatever the update did
        return new


def _contiguous(a, xp):
    if isinstance(a, np.ndarray):
        return a if a.flags.c_contiguous else np.ascontiguousarray(a)
    flags = getattr(a, "flags", None)
    if flags is not None and not flags.c_contiguous:
        import cupy

        return cupy.ascontiguousarray(a)
    return a


# ----------------------------------------------------------------------------- train
def train(
    model: MaskedMLP,
    X: ArrayLike,
    y: ArrayLike,
    *,
    loss: Literal["mse", "logistic", "cross_entropy"] = "mse",
    optimizer: Literal["gd", "sgd", "adam"] = "gd",
    lr: float | None = None,
    steps: int = 1000,
    batch_size: int | None = None,
    grad_noise: float = 0.0,
    target_loss: float | None = None,
    stop_when_memorized: bool = False,
    memorize_threshold: float = MEMORIZE_THRESHOLD,
    record_every: int | None = None,
    record_steps: Iterable[int] | None = None,
    callback: Callable[[MaskedMLP, int], Any] | None = None,
    seed: int = 0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    check_every: int | None = None,
    kernels: Literal["xp", "cpu", "cuda", "fused"] | None = None,
    memory_budget: float | None = None,
    sync_every: int | None = None,
) -> TrainResult:
    """Train every network of *model* in place, each stopping on its own at its target.

    Parameters
    ----------
    model : MaskedMLP
        Trained in place (weights and biases; masks are kept, masked weights stay exactly 0).
    X : array (n, d) or (B, n, d)
        Training inputs, finite; NumPy arrays are accepted by every backend.
    y : array
        Labels as for :meth:`MaskedMLP.loss` with this *loss*.
    loss : {"mse", "logistic", "cross_entropy"}, default "mse"
    optimizer : {"gd", "sgd", "adam"}, default "gd"
        ``gd``: full-batch gradient descent; ``sgd``: minibatch SGD (``batch_size`` points, all
        networks see the same minibatches); ``adam``: Adam (Kingma & Ba 2015), full batch
        unless ``batch_size`` is given.
    lr : float > 0 or None
        Step size; ``None`` means 0.1 for gd and sgd, 1e-3 for adam.
    steps : int >= 0, default 1000
        Maximum number of updates.
    batch_size : int in [1, n] or None
        Minibatch size (sgd requires it < n or uses n // 10 when None).
    grad_noise : float >= 0, default 0.0
        Standard deviation of isotropic Gaussian noise added to every gradient entry (kept
        weights and biases) before the optimizer: Langevin-style noisy gradient descent.
    target_loss : float >= 0 or None
        A network stops once its full-batch mean loss is <= target_loss.
    stop_when_memorized : bool, default False
        A network stops once every point's loss is below *memorize_threshold*.
    memorize_threshold : float > 0, default log(2)/10
        The memorization threshold of [NFP] Sec. 5.
    record_every : int >= 1 or None
        Record loss and accuracy (and call *callback*) every this many steps; always at step 0
        and at the end. ``None`` records only at step 0 and at the end.
    record_steps : iterable of int >= 0 or None
        Further steps to record at (e.g. a logarithmic grid); steps past the end are ignored.
    callback : callable or None
        ``callback(model, step)``, called at every record; its return values are kept in
        ``result.trajectory.callback`` (for measurements such as the noise correlation).
    seed : int >= 0, default 0
        Seeds the minibatch order and the gradient noise (NumPy generator on the host; CuPy
        arrays draw their noise on the device, see Notes). The initialization is the model's
        own seed.
    beta1, beta2 : float in [0, 1), defaults 0.9, 0.999
        Adam's moment decay rates.
    eps : float > 0, default 1e-8
        Adam's denominator offset.
    check_every : int >= 1 or None
        How often the stopping criteria are checked: every step for full batch (free: the loss
        comes with the gradient); once per epoch (``ceil(n / batch_size)`` steps, one extra
        forward pass) for minibatches when None.
    kernels : {None, "xp", "cpu", "cuda", "fused"}
        Which kernels to use; None picks by the model's kernel table
        (:attr:`MaskedMLP.kernel_table <noprune_theory.models.MaskedMLP.kernel_table>`; numpy:
        "xp", numba: "cpu", cupy: "cuda"), and on the numba backend hands a network whose kept
        fraction of weights is at most ``FUSED_MAX_DENSITY`` to the whole-run kernel when the
        run allows it (see Notes) and, for n beyond ``FUSED_CACHED_ROW_BYTES`` per row, when
        the measured cost rule expects it to be faster and its buffers fit *memory_budget*
        (``_whole_run_pays``; docs/performance.md, "Large n"). "fused" hands every network to
        that kernel (NumPy arrays only; a ValueError says why a run does not allow it; it does
        not slice the points). "cuda" on NumPy arrays runs under the CUDA simulator (tests
        only).
    memory_budget : float > 0 or None
        MiB (2**20 bytes) that the per-step working buffers, those that grow with the number of
        points (shape ``(B, n, h)``), may take; None means half of the memory available now
        (:func:`~noprune_theory.backend.available_memory`: the host's, or the GPU's on cupy).
        When a step over all n points would exceed it, the step goes through the points in
        slices of ``rows = floor(budget / MaskedMLP.work_bytes_per_point())`` points (at least
        one) and sums their gradients; an evaluation (records, minibatch checks, the final
        one) slices by the same budget, and the step's buffers are released before the final
        one, so a full-batch run without records stays within about the budget above its data
        (with records, up to twice). The same unit as the simulations' ``--memory-budget``.
        See Notes for what slicing changes.
    sync_every : int >= 1 or None
        How often the host reads the networks' stopping state (one device-to-host copy of two
        (B,) arrays). The stopping tests and the divergence test themselves run at every step
        (every ``check_every`` for the target) on the model's arrays, so this changes no
        result, only how soon a loop whose networks have all stopped notices it (at most
        ``sync_every - 1`` steps later, steps that change nothing) and when a divergence
        warning is issued. None: 1 for NumPy arrays (the read is free), ``DEVICE_SYNC_EVERY``
        (16) for device arrays. Records (``record_every``, ``record_steps``) read the state
        too.

    Returns
    -------
    TrainResult
        Per network: the final loss, accuracy and memorized fraction, the updates applied,
        whether it converged or diverged, and the trajectory of the records. The model's
        weights and biases hold the trained values.

    Notes
    -----
    Each step computes the mean loss ``L_b(W) = (1/n) sum_i loss(f_b(x_i), y_i)`` (over the
    minibatch for sgd) and its gradient for every network b, then updates the networks still
    active: ``W_b <- W_b - lr (g_b + grad_noise xi)`` for gd and sgd, Adam's update for adam.
    Stopping is per network and final: once network b reaches its target it is never updated
    again (its optimizer state freezes too), so ``steps[b]`` counts the updates it received.
    Gradients are zero on masked weights and the updates are applied only to kept weights, so
    masked weights stay exactly zero (also under noise and Adam).

    Host-device traffic on a device backend (CuPy): the step loop keeps the per-network state
    (active, converged, diverged, update counts) and the step sizes on the device, and draws
    the gradient noise there; between records the only device-to-host copy is the state read
    every ``sync_every`` steps. The device draws the noise from ``cupy.random.default_rng(seed)``
    and therefore other numbers than the host backends, which draw from
    ``numpy.random.default_rng(seed)``; with noise, a cupy run thus no longer repeats a numpy
    run of the same seed number for number (nor its minibatch order, whose permutations the
    host generator then draws alone).

    Slicing the points (``memory_budget``) changes the numbers of a step by rounding only:
    BLAS may order a point's dot product differently in a product of fewer rows, so the
    per-point values (outputs, losses) can differ in the last bits (measured up to 2e-15
    relative), and a gradient is then a sum of per-slice matrix products, which adds the
    points in another grouping (relative difference of order the float epsilon times the
    number of slices). A stopping test that a loss meets within rounding may therefore fire
    one step earlier or later. Over many steps such differences can grow like any rounding
    difference in training (tested: the trained networks agree to 1e-9 relative in float64
    after 200 Adam steps). Runs that fit the budget are not sliced and compute exactly the
    numbers they computed before the budget existed, except that on the host the fused CPU
    kernel and the forward pass also slice for the cache once their ``(n, B, h)`` buffer would
    exceed 32 MiB (``noprune_theory.kernels.cpu.CACHE_BLOCK_ABOVE``: the same kind of rounding
    difference, several times faster at small d).

    Stopped networks: once at most ``SHRINK_BELOW`` (half) of a batch of at least
    ``SHRINK_MIN_BATCH`` (8) networks is still training, the step loop continues with those
    only (on NumPy and CuPy arrays; not with ``grad_noise``, a ``callback``, minibatches or
    intermediate records) and puts them back at the end: the same steps up to rounding (the
    products run over fewer networks), at the cost of the networks still training.

    Dead units: a hidden unit from which no kept weight leads to an output (or to a unit that
    reaches one; :meth:`MaskedMLP.live_units <noprune_theory.models.MaskedMLP.live_units>`)
    never changes the output, and its incoming weights and bias get exactly zero gradients, so
    neither gd nor Adam ever moves them. When at least ``DEAD_UNIT_FRACTION`` (10%) of the
    hidden units are dead in every network of the batch, train() trains the networks of the
    other units (:meth:`~noprune_theory.models.MaskedMLP.select_units`) and writes their
    values back (:meth:`~noprune_theory.models.MaskedMLP.update_units`): the same steps, at the
    cost of the live units (a random mask at sparsity s leaves about a fraction 1 - s of the
    units of a two-layer network an output weight). The numbers agree with training every unit
    up to rounding (products over fewer units may add in another order). Not with
    ``grad_noise`` (the noise moves dead units too) or a ``callback`` (it sees the model).

    The whole-run kernel (``noprune_theory.kernels.cpu_train.train_full_batch``) runs every
    step of a network in compiled code and visits only its kept weights, so a sparse network
    costs in proportion to what it keeps. It applies to full-batch gd or adam on a scalar
    output with the mse or logistic loss, without gradient noise, callback or intermediate
    records (``record_every``, ``record_steps``), with stopping checked every step. It computes
    the same function as the batched matrix products up to rounding (the sums run in another
    order); each network's numbers depend only on that network, never on the others in the
    batch. The trajectory then holds the records at step 0 and at the end.

    References
    ----------
    .. [NFP] T. Kumar, K. Luo and M. Sellke, "No Free Prune", ICML 2024, Sec. 5 (memorization
       threshold log(2)/10, Adam for the noise-correlation experiment).
    .. [KB] D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from noprune_theory.models import MaskedMLP
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> y = np.array([1.0, 1.0, -1.0, -1.0])
    >>> net = MaskedMLP(2, (8,), B=3, seed=0)
    >>> res = train(net, X, y, loss="logistic", lr=0.5, steps=500, stop_when_memorized=True)
    >>> bool(res.converged.all()), res.final_accuracy.tolist()
    (True, [1.0, 1.0, 1.0])
    """
    o = _validate(
        model, X, y, loss=loss, optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size,
        grad_noise=grad_noise, target_loss=target_loss, stop_when_memorized=stop_when_memorized,
        memorize_threshold=memorize_threshold, record_every=record_every,
        record_steps=record_steps, callback=callback, seed=seed, beta1=beta1, beta2=beta2,
        eps=eps, check_every=check_every, kernels=kernels, memory_budget=memory_budget,
        sync_every=sync_every,
    )  # fmt: skip
    keep = _live_keep(model, o)
    if keep is not None:
        # hidden units that reach no output train to nothing (zero gradients): the networks
        # of the live units compute the same steps at a fraction of the cost
        sub = model.select_units(keep)
        result = _train_validated(sub, X, y, o, memory_budget)
        model.update_units(sub, keep)
        return result
    return _train_validated(model, X, y, o, memory_budget)


#: train() drops the hidden units that no network of the batch can route to an output when at
#: least this fraction of the hidden units are such (see the Notes of :func:`train`).
DEAD_UNIT_FRACTION = 0.1


def _live_keep(model, o):
    """The hidden units to train (one index array per layer), or None to train them all."""
    if o.callback is not None or o.grad_noise > 0:
        return None
    keep = model.live_unit_indices()
    hidden = sum(model.sizes[1:-1])
    if hidden - sum(k.size for k in keep) < DEAD_UNIT_FRACTION * hidden:
        return None
    return keep


def _train_validated(model, X, y, o, memory_budget):
    """train() after validation: the whole-run kernel or the step loop."""
    fused_why = _fused_unsupported(
        model, o.loss, o.optimizer, o.minibatch, o.grad_noise, o.record_every, o.record_steps,
        o.callback, o.check_every,
    )  # fmt: skip
    if o.kernels == "fused" and fused_why:
        raise ValueError(f"kernels='fused' cannot run this training: {fused_why}")
    if o.kernels == "fused" or (
        o.auto and model.kernel_table.whole_run_training and not fused_why
    ):
        use = (
            np.ones(model.B, dtype=bool)
            if o.kernels == "fused"
            else _whole_run_pays(model, o.n, o.budget)
        )
        if use.any():
            return _train_fused(
                model, X, y, o.Xa, o.t, use, loss=o.loss, optimizer=o.optimizer, lr=o.lr,
                steps=o.steps, target_loss=o.target_loss,
                stop_when_memorized=o.stop_when_memorized,
                memorize_threshold=o.memorize_threshold, beta1=o.beta1, beta2=o.beta2,
                eps=o.eps, seed=o.seed, memory_budget=memory_budget,
            )  # fmt: skip
    with _blas_threads_for(model, o.batch_size if o.minibatch else o.n):
        return _step_loop(model, o)


@dataclass
class _Options:
    """The validated arguments of :func:`train` and what follows from them."""

    loss: str
    optimizer: str
    lr: float
    steps: int
    grad_noise: float
    target_loss: float | None
    stop_when_memorized: bool
    memorize_threshold: float
    record_every: int | None
    record_steps: frozenset
    callback: object
    seed: int
    beta1: float
    beta2: float
    eps: float
    kernels: str
    auto: bool
    Xa: object
    t: object
    n: int
    batch_size: int | None
    minibatch: bool
    check_every: int
    sync_every: int
    budget: float


def _validate(model, X, y, *, loss, optimizer, lr, steps, batch_size, grad_noise, target_loss,
              stop_when_memorized, memorize_threshold, record_every, record_steps, callback,
              seed, beta1, beta2, eps, check_every, kernels, memory_budget, sync_every):
    """Check every argument of :func:`train` (ValueError/TypeError naming it); prepare X, y."""
    if not isinstance(model, MaskedMLP):
        raise TypeError(f"model must be a MaskedMLP, got {type(model).__name__}")
    check_choice(loss, "loss", LOSSES)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    lr = DEFAULT_LR[optimizer] if lr is None else check_scalar(lr, "lr", low=0, low_inclusive=False)
    steps = check_scalar(steps, "steps", integer=True, low=0)
    grad_noise = check_scalar(grad_noise, "grad_noise", low=0)
    if target_loss is not None:
        target_loss = check_scalar(target_loss, "target_loss", low=0)
    if not isinstance(stop_when_memorized, (bool, np.bool_)):
        raise ValueError(f"stop_when_memorized must be True or False, got {stop_when_memorized!r}")
    memorize_threshold = check_scalar(
        memorize_threshold, "memorize_threshold", low=0, low_inclusive=False
    )
    if record_every is not None:
        record_every = check_scalar(record_every, "record_every", integer=True, low=1)
    if record_steps is None:
        record_steps = frozenset()
    else:
        try:
            record_steps = frozenset(
                check_scalar(s, "record_steps entry", integer=True, low=0) for s in record_steps
            )
        except TypeError:
            raise ValueError(
                f"record_steps must be an iterable of integers >= 0, got {record_steps!r}"
            ) from None
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    seed = check_seed(seed, "seed", generator=False)
    beta1 = check_scalar(beta1, "beta1", low=0, high=1, high_inclusive=False)
    beta2 = check_scalar(beta2, "beta2", low=0, high=1, high_inclusive=False)
    eps = check_scalar(eps, "eps", low=0, low_inclusive=False)
    check_choice(kernels, "kernels", (None, "xp", "cpu", "cuda", "fused"))
    if memory_budget is not None:
        memory_budget = check_scalar(memory_budget, "memory_budget", low=0, low_inclusive=False)
    if sync_every is not None:
        sync_every = check_scalar(sync_every, "sync_every", integer=True, low=1)
    auto = kernels is None
    if kernels is None:
        kernels = model.kernel_table.update_kernels
    if kernels in ("cpu", "fused") and not isinstance(model.weights[0], np.ndarray):
        raise ValueError(
            f"kernels={kernels!r} needs a model with NumPy arrays (backend numpy or numba)"
        )
    Xa = model.prepare_inputs(X)
    n = Xa.shape[-2]
    t = model.prepare_targets(y, n, loss)
    if optimizer == "sgd" and batch_size is None:
        batch_size = max(1, n // 10)
    if batch_size is not None:
        batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1, high=n)
    minibatch = batch_size is not None and batch_size < n
    if check_every is None:
        check_every = math.ceil(n / batch_size) if minibatch else 1
    else:
        check_every = check_scalar(check_every, "check_every", integer=True, low=1)
    if sync_every is None:
        # host arrays: reading the state costs nothing, and warnings come at their step
        sync_every = 1 if isinstance(model.weights[0], np.ndarray) else DEVICE_SYNC_EVERY
    return _Options(
        loss=loss, optimizer=optimizer, lr=lr, steps=steps, grad_noise=grad_noise,
        target_loss=target_loss, stop_when_memorized=bool(stop_when_memorized),
        memorize_threshold=memorize_threshold, record_every=record_every,
        record_steps=record_steps, callback=callback, seed=seed, beta1=beta1, beta2=beta2,
        eps=eps, kernels=kernels, auto=auto, Xa=Xa, t=t, n=n, batch_size=batch_size,
        minibatch=minibatch, check_every=check_every, sync_every=sync_every,
        budget=_budget_bytes(model, memory_budget),
    )  # fmt: skip


#: Default ``sync_every`` for device (non-NumPy) arrays: the host reads the stopping state once
#: per this many steps (one small device-to-host copy), and never otherwise between records.
DEVICE_SYNC_EVERY = 16


class _State:
    """Per-network stopping state, kept in the model's array library (on the device for CuPy).

    Every step updates it with device operations only; :meth:`sync` copies it to the host in
    one transfer.
    """

    def __init__(self, model, lr):
        xp = self.xp = model.xp
        B = model.B
        self.active = xp.ones(B, dtype=xp.bool)
        self.converged = xp.zeros(B, dtype=xp.bool)
        self.diverged = xp.zeros(B, dtype=xp.bool)
        self.taken = xp.zeros(B, dtype=xp.int64)
        self.diverged_at = xp.full(B, -1, dtype=xp.int64)
        self._lr = xp.asarray(lr, dtype=model.array_dtype)
        self._zero = xp.asarray(0.0, dtype=model.array_dtype)
        self.host_active = np.ones(B, dtype=bool)  # as of the last sync
        self.host_diverged = np.zeros(B, dtype=bool)

    def lr_vector(self):
        """``lr`` for the active networks, 0 for the stopped ones, on the device."""
        return self.xp.where(self.active, self._lr, self._zero)

    def stop_reached(self, hit):
        hit = hit & self.active
        self.converged = self.converged | hit
        self.active = self.active & ~hit

    def stop_diverged(self, finite, step):
        bad = self.active & ~finite
        self.diverged = self.diverged | bad
        self.diverged_at = self.xp.where(bad, self.xp.asarray(step, dtype=self.xp.int64),
                                         self.diverged_at)
        self.active = self.active & ~bad

    def count_update(self):
        self.taken = self.taken + self.xp.astype(self.active, self.xp.int64)

    def sync(self):
        """Copy ``active`` and ``diverged`` to the host (one transfer); return the networks
        that diverged since the last sync (a host bool array)."""
        xp = self.xp
        both = to_numpy(xp.stack([self.active, self.diverged]))
        self.host_active = np.asarray(both[0], dtype=bool)
        new = np.asarray(both[1], dtype=bool) & ~self.host_diverged
        self.host_diverged = np.asarray(both[1], dtype=bool)
        return new

    def final(self):
        """``taken, converged, diverged, diverged_at`` on the host (one transfer)."""
        xp = self.xp
        both = to_numpy(xp.stack([self.taken, xp.astype(self.converged, xp.int64),
                                  xp.astype(self.diverged, xp.int64), self.diverged_at]))
        both = np.asarray(both)
        return (both[0].astype(np.int64), both[1].astype(bool), both[2].astype(bool),
                both[3].astype(np.int64))


class _Records:
    """The trajectory: loss, accuracy and the callback's value at the recorded steps."""

    def __init__(self, model, o):
        self.model, self.o = model, o
        self.steps, self.loss, self.acc, self.cb = [], [], [], []

    def wanted(self, step):
        o = self.o
        return (step == 0 or step in o.record_steps
                or (o.record_every is not None and step % o.record_every == 0))

    def record(self, step, per, f):
        model, o, xp = self.model, self.o, self.model.xp
        self.steps.append(step)
        self.loss.append(to_numpy(xp.mean(per, axis=-1)).astype(np.float64))
        acc = xp.mean(xp.astype(_correct(o.loss, f, o.t, xp), model.array_dtype), axis=-1)
        self.acc.append(to_numpy(acc).astype(np.float64))
        if o.callback is not None:
            self.cb.append(o.callback(model, step))

    def trajectory(self):
        return Trajectory(steps=np.asarray(self.steps, dtype=np.int64),
                          loss=np.stack(self.loss), accuracy=np.stack(self.acc),
                          callback=self.cb)


class _Noise:
    """Gaussian gradient noise on kept weights and biases.

    NumPy arrays (and array libraries without a random generator, such as array_api_strict)
    draw from the host generator *rng*, in the order weights then biases, layer by layer (the
    numbers every host backend has always drawn). CuPy arrays draw on the device from
    ``cupy.random.default_rng(seed)``: no host-to-device copy per step, but other numbers than
    the host's for the same seed.
    """

    def __init__(self, model, sigma, rng, seed):
        self.model, self.sigma, self.rng = model, sigma, rng
        xp = model.xp
        self.device = None
        if type(model.weights[0]).__module__.split(".")[0] == "cupy":
            self.device = xp.random.default_rng(seed)

    def _draw(self, shape):
        model = self.model
        if self.device is not None:
            return self.sigma * self.device.standard_normal(shape, dtype=model.array_dtype)
        return model.xp.asarray(self.sigma * self.rng.standard_normal(shape),
                                dtype=model.array_dtype)

    def add(self, wg, bg):
        xp = self.model.xp
        wg = [g + xp.where(m, self._draw(tuple(g.shape)), 0.0)
              for g, m in zip(wg, self.model.masks)]
        if bg is not None:
            bg = [g + self._draw(tuple(g.shape)) for g in bg]
        return wg, bg


def _step_loop(model, o):
    """The step-by-step training of :func:`train` (every path but the whole-run kernel)."""
    xp = model.xp
    Xa, t, n = o.Xa, o.t, o.n
    step_rows = max(1, int(o.budget // model.work_bytes_per_point(
        fused=model.uses_fused_kernels(Xa, o.loss))))
    eval_rows = max(1, int(o.budget // model.work_bytes_per_point(backward=False)))
    rng = np.random.default_rng(o.seed)
    noise = _Noise(model, o.grad_noise, rng, o.seed) if o.grad_noise > 0 else None
    updater = _Updater(model, o.optimizer, o.kernels, o.beta1, o.beta2, o.eps)
    state = _State(model, o.lr)
    records = _Records(model, o)
    has_target = o.target_loss is not None or o.stop_when_memorized
    # stopped networks leave the batch when few remain active (see _Shrunk)
    can_shrink = (has_target and noise is None and o.callback is None
                  and o.record_every is None and not o.record_steps and not o.minibatch
                  and model.B >= SHRINK_MIN_BATCH and _scatter_ok(model))
    shrunk = None

    def full_eval():
        f = model.forward_rows(Xa, eval_rows)
        return _loss_terms_per(o.loss, f, t, xp), f

    def reached(per):
        ok = xp.ones(per.shape[0], dtype=xp.bool)
        if o.target_loss is not None:
            ok = ok & (xp.mean(per, axis=-1) <= o.target_loss)
        if o.stop_when_memorized:
            ok = ok & xp.all(per < o.memorize_threshold, axis=-1)
        return ok

    def warn(new_bad):
        local = np.nonzero(new_bad)[0][:10]
        at = int(to_numpy(state.diverged_at)[local[0]])
        first = (local if shrunk is None else shrunk.pos[local]).tolist()
        warnings.warn(
            f"training diverged for network(s) {first} at step {at} (the loss is not finite; "
            f"lr = {o.lr:g} is probably too large); they stop and are flagged in "
            "TrainResult.diverged",
            RuntimeWarning,
            stacklevel=4,
        )

    order = None
    pos = 0
    step = 0
    final = None
    while True:
        want_record = records.wanted(step)
        if step > 0 and (want_record or step % o.sync_every == 0):
            new_bad = state.sync()
            if new_bad.any():
                warn(new_bad)
            if not state.host_active.any():
                break  # every network stopped at an earlier step: nothing to record here
            active = int(state.host_active.sum())
            if can_shrink and active <= SHRINK_BELOW * model.B:
                if shrunk is None:
                    shrunk = _Shrunk(model, state)
                model, state, updater, Xa, t = shrunk.take(model, state, updater, Xa, t)
        check = has_target and step % o.check_every == 0
        if o.minibatch:
            if order is None or pos + o.batch_size > n:
                order = rng.permutation(n)
                pos = 0
            idx = xp.asarray(order[pos : pos + o.batch_size])
            pos += o.batch_size
            Xb = xp.take(Xa, idx, axis=Xa.ndim - 2)
            tb = xp.take(t, idx, axis=1)
        else:
            Xb, tb = Xa, t
        if step < o.steps:
            per_b, f_b, wg, bg = model.loss_and_gradients(Xb, tb, o.loss, rows=step_rows)
            if not o.minibatch:
                per, f = per_b, f_b
            elif check or want_record:
                per, f = full_eval()
        else:
            # the step's work buffers (kept between steps by the fused CPU kernel) are released
            # before an evaluation of all points allocates its own: the two never add up
            model.release_work_buffers()
            per, f = final = full_eval()
            per_b = per
        if want_record:
            records.record(step, per, f)
        if check:
            state.stop_reached(reached(per))
        state.stop_diverged(xp.all(xp.isfinite(per_b), axis=-1), step)
        if step >= o.steps:
            break
        if noise is not None:
            wg, bg = noise.add(wg, bg)
        updater.step(wg, bg, state.lr_vector())
        state.count_update()
        step += 1

    new_bad = state.sync()
    if new_bad.any():
        warn(new_bad)
    if shrunk is not None:
        # the networks that left the batch, and the last ones, back in their places; the
        # final evaluation then runs on all of them
        model.release_work_buffers()
        model, state, Xa, t = shrunk.restore(model, state)
        final = None
    taken, converged, diverged, _ = state.final()
    model.release_work_buffers()
    # the step at which the last network stopped (or the step cap): where the loop of a
    # host that reads the state at every step ends
    end = int(taken.max()) if taken.size else 0
    # the evaluation at the step cap saw the final weights (no update follows it)
    per, f = final if final is not None else full_eval()
    if records.steps[-1] != end:
        records.record(end, per, f)
    final_loss = to_numpy(xp.mean(per, axis=-1)).astype(np.float64)
    dt = model.array_dtype
    final_acc = to_numpy(xp.mean(xp.astype(_correct(o.loss, f, t, xp), dt), axis=-1))
    memorized = to_numpy(xp.mean(xp.astype(per < o.memorize_threshold, dt), axis=-1))
    return TrainResult(
        final_loss=final_loss,
        final_accuracy=np.asarray(final_acc, dtype=np.float64),
        memorized=np.asarray(memorized, dtype=np.float64),
        steps=taken,
        converged=converged,
        diverged=diverged,
        trajectory=records.trajectory(),
    )


#: The step loop drops the networks that have stopped from its batch once at most this fraction
#: of the batch is still training (and the batch has at least ``SHRINK_MIN_BATCH`` networks):
#: a stopped network's arrays would otherwise go through every product until the last one
#: stops (measured: in a batch of 400 networks of the memorization paper-protocol preset the
#: networks stopped after 1,680 of the 5,000 steps on average).
SHRINK_BELOW = 0.5
SHRINK_MIN_BATCH = 8


def _scatter_ok(model):
    """Whether the model's arrays take integer-array assignment (NumPy and CuPy do)."""
    return type(model.weights[0]).__module__.split(".")[0] in ("numpy", "cupy")


class _Shrunk:
    """The full batch while the step loop trains a subset of it (the networks still active).

    ``pos`` maps the current batch's networks to the full one's. :meth:`take` writes the
    current values back and narrows everything to the active networks; :meth:`restore` writes
    them back at the end and returns the full model and state.
    """

    def __init__(self, model, state):
        self.model, self.state = model, state
        self.Xa, self.t = None, None
        self.pos = np.arange(model.B)

    def _write_back(self, model, state):
        full, fs, pos = self.model, self.state, self.pos
        if model is full:
            return
        xp = full.xp
        at = xp.asarray(pos)
        for l, w in enumerate(model.weights):
            full.weights[l][at] = w
        if full.biases is not None:
            for l, b in enumerate(model.biases):
                full.biases[l][at] = b
        for name in ("active", "converged", "diverged", "taken", "diverged_at"):
            getattr(fs, name)[at] = getattr(state, name)
        fs.host_active[pos] = state.host_active
        fs.host_diverged[pos] = state.host_diverged

    def take(self, model, state, updater, Xa, t):
        if self.Xa is None:
            self.Xa, self.t = Xa, t
        self._write_back(model, state)
        keep = np.flatnonzero(state.host_active)
        xp = model.xp
        at = xp.asarray(keep)
        sub = _subset(model, keep)
        new = object.__new__(_State)
        new.__dict__.update(state.__dict__)
        for name in ("active", "converged", "diverged", "taken", "diverged_at"):
            setattr(new, name, xp.take(getattr(state, name), at, axis=0))
        new.host_active = state.host_active[keep]
        new.host_diverged = state.host_diverged[keep]
        updater.model = sub
        if updater.optimizer == "adam":
            updater.M = [xp.take(m, at, axis=0) for m in updater.M]
            updater.V = [xp.take(v, at, axis=0) for v in updater.V]
        if Xa.ndim == 3:
            Xa = xp.take(Xa, at, axis=0)
        if t.shape[0] > 1:
            t = xp.take(t, at, axis=0)
        self.pos = self.pos[keep]
        model.release_work_buffers()
        return sub, new, updater, Xa, t

    def restore(self, model, state):
        self._write_back(model, state)
        return self.model, self.state, self.Xa, self.t


#: On the numba backend, networks keeping at most this fraction of their weights may train in
#: the whole-run kernel (its cost follows the kept weights; above this BLAS's dense products win:
#: measured on 2 shared cores at n = 30, width 100, B = 10, the whole-run kernel took 1.4, 3.8
#: and 5.6 ms per step at 26%, 41% and 51% kept against 7.5-11 ms for the step loop, and broke
#: even at 64%). The cost rule below (:func:`_whole_run_pays`) decides among these.
FUSED_MAX_DENSITY = 0.5

#: The cost rule of the automatic choice between the whole-run kernel and the step loop, in
#: nanoseconds per step and training point, measured on this project's 2-core machine (one
#: thread each; docs/performance.md has the table). While a row of n values fits
#: ``FUSED_CACHED_ROW_BYTES`` (the level-1/2 cache) the whole-run kernel won at every
#: measured density up to ``FUSED_MAX_DENSITY`` (1.2-17 times faster), and the density alone
#: decides. Beyond, each row streams from memory once per weight: the kernel costs about
#: ``FUSED_NS_STREAMED`` per live kept weight or live unit (counted twice), the step loop
#: about ``LOOP_NS`` per dense weight or hidden unit (counted four times: its memory-bound
#: passes over the ``(n, B, h)`` activations), whatever the mask.
FUSED_CACHED_ROW_BYTES = 32 * 1024
FUSED_NS_STREAMED = 4.0
LOOP_NS = 0.8


def _live_counts(model):
    """Per network: kept weights into live units, and live units (as the whole-run kernel counts
    them: a unit is live when a kept weight leads from it to a live unit; the output is live)."""
    masks = [np.asarray(m) for m in model.masks]
    L = len(masks)
    live = np.ones((model.B, model.sizes[-1]), dtype=bool)
    edges = np.zeros(model.B, dtype=np.int64)
    units = np.full(model.B, model.sizes[-1], dtype=np.int64)
    for l in range(L - 1, -1, -1):
        into_live = masks[l] & live[:, None, :]
        edges += into_live.sum(axis=(1, 2))
        if l > 0:
            live = into_live.any(axis=2)
            units += live.sum(axis=1)
    return edges, units


def _whole_run_pays(model, n, budget):
    """Which networks the automatic choice hands to the whole-run kernel (bool (B,)).

    A network goes there when it keeps at most ``FUSED_MAX_DENSITY`` of its weights; when a
    row of n values is larger than ``FUSED_CACHED_ROW_BYTES``, the cost rule
    ``(E + 2 U) FUSED_NS_STREAMED <= (P + 4 H) LOOP_NS`` holds (E live kept weights, U live
    units, P weights, H hidden units); and the kernel's three ``(units, n)`` buffers, for as
    many networks as numba runs at once, fit *budget* bytes (the kernel does not slice the
    points; the step loop does).
    """
    item = 4 if model.dtype == "float32" else 8
    if n * item <= FUSED_CACHED_ROW_BYTES:
        faster = np.ones(model.B, dtype=bool)
    else:
        edges, units = _live_counts(model)
        hidden = sum(model.sizes[1:-1])
        faster = (edges + 2 * units) * FUSED_NS_STREAMED <= (
            (model.weight_count() + 4 * hidden) * LOOP_NS)
    try:
        import numba

        threads = numba.get_num_threads()
    except Exception:  # pragma: no cover - numba is a dependency
        threads = 1
    fits = 3 * sum(model.sizes[1:]) * n * item * min(model.B, threads) <= budget
    return (model.density() <= FUSED_MAX_DENSITY) & faster & fits


def _fused_unsupported(model, loss, optimizer, minibatch, grad_noise, record_every,
                       record_steps, callback, check_every):
    """Why the whole-run kernel cannot run this training ('' when it can)."""
    if not isinstance(model.weights[0], np.ndarray):
        return "the model's arrays are not NumPy arrays"
    if model.sizes[-1] != 1 or loss not in ("mse", "logistic"):
        return "it needs a scalar output and the mse or logistic loss"
    if optimizer not in ("gd", "adam") or minibatch:
        return "it needs full-batch gd or adam"
    if grad_noise > 0:
        return "it adds no gradient noise"
    if record_every is not None or record_steps or callback is not None:
        return "it records only at step 0 and at the end (no record_every, record_steps, callback)"
    if check_every != 1:
        return "it checks the stopping rule at every step"
    return ""


def _subset(model, idx):
    """A model of the networks ``idx`` (host int array) of *model* (arrays taken, not shared)."""
    xp = model.xp
    at = xp.asarray(idx)

    def take(arrays):
        return None if arrays is None else [xp.take(a, at, axis=0) for a in arrays]

    sub = object.__new__(type(model))
    sub.__dict__.update(model.__dict__)
    sub.release_work_buffers()  # the fused kernel's scratch buffers are per shape
    sub.B = int(len(idx))
    sub.weights, sub.biases, sub.masks = take(model.weights), take(model.biases), take(model.masks)
    sub.initial_weights = take(model.initial_weights)
    sub.initial_biases = take(model.initial_biases)
    return sub


def _train_fused(model, X, y, Xa, t, use, *, loss, optimizer, lr, steps, target_loss,
                 stop_when_memorized, memorize_threshold, beta1, beta2, eps, seed,
                 memory_budget=None):
    """Networks ``use`` in the whole-run kernel, the others with the step loop; one result."""
    from noprune_theory.kernels.cpu_train import train_full_batch

    B = model.B
    idx = np.flatnonzero(use)
    rest = np.flatnonzero(~use)
    tt = t[..., 0]
    ws = [np.ascontiguousarray(w[idx]) for w in model.weights]
    bs = None if model.biases is None else [np.ascontiguousarray(b[idx]) for b in model.biases]
    out = train_full_batch(
        Xa if Xa.ndim == 2 else Xa[idx], tt if tt.shape[0] == 1 else tt[idx], ws, bs,
        [m[idx] for m in model.masks], model.multipliers, activation=model.activation,
        loss=loss, optimizer=optimizer, lr=lr, steps=steps, beta1=beta1, beta2=beta2, eps=eps,
        target_loss=target_loss, stop_when_memorized=stop_when_memorized,
        memorize_threshold=memorize_threshold, slope=LEAKY_SLOPE,
    )  # fmt: skip
    if out["diverged"].any():
        bad = idx[out["diverged"]]
        warnings.warn(
            f"training diverged for network(s) {bad[:10].tolist()} (the loss is not finite; "
            f"lr = {lr:g} is probably too large); they stop and are flagged in "
            "TrainResult.diverged",
            RuntimeWarning,
            stacklevel=3,
        )

    def correct(f, tsub):
        return np.mean((tsub * f) > 0, axis=-1)

    tsub = tt if tt.shape[0] == 1 else tt[idx]
    final_loss = np.zeros(B)
    final_acc = np.zeros(B)
    memorized = np.zeros(B)
    taken = np.zeros(B, dtype=np.int64)
    converged = np.zeros(B, dtype=bool)
    diverged = np.zeros(B, dtype=bool)
    loss0 = np.zeros(B)
    acc0 = np.zeros(B)
    final_loss[idx] = out["per"].mean(axis=-1)
    final_acc[idx] = correct(out["f"], tsub)
    memorized[idx] = np.mean(out["per"] < memorize_threshold, axis=-1)
    taken[idx] = out["steps"]
    converged[idx] = out["converged"]
    diverged[idx] = out["diverged"]
    loss0[idx] = out["per0"].mean(axis=-1)
    acc0[idx] = correct(out["f0"], tsub)
    new_w = [w.copy() for w in model.weights]
    new_b = None if model.biases is None else [b.copy() for b in model.biases]
    for l, w in enumerate(ws):
        new_w[l][idx] = w
    if new_b is not None:
        for l, b in enumerate(bs):
            new_b[l][idx] = b
    if rest.size:
        sub = _subset(model, rest)
        Xr = X if np.ndim(X) == 2 else np.asarray(X)[rest]
        yr = y if np.ndim(y) == 1 or np.shape(y)[0] != B else np.asarray(y)[rest]
        r = train(sub, Xr, yr, loss=loss, optimizer=optimizer, lr=lr, steps=steps,
                  target_loss=target_loss, stop_when_memorized=stop_when_memorized,
                  memorize_threshold=memorize_threshold, seed=seed, beta1=beta1, beta2=beta2,
                  eps=eps, kernels="cpu", memory_budget=memory_budget)
        final_loss[rest] = r.final_loss
        final_acc[rest] = r.final_accuracy
        memorized[rest] = r.memorized
        taken[rest] = r.steps
        converged[rest] = r.converged
        diverged[rest] = r.diverged
        loss0[rest] = r.trajectory.loss[0]
        acc0[rest] = r.trajectory.accuracy[0]
        for l, w in enumerate(sub.weights):
            new_w[l][rest] = w
        if new_b is not None:
            for l, b in enumerate(sub.biases):
                new_b[l][rest] = b
    model.weights = new_w
    model.biases = new_b
    last = int(taken.max())
    rec = [0] if last == 0 else [0, last]
    return TrainResult(
        final_loss=final_loss,
        final_accuracy=final_acc,
        memorized=memorized,
        steps=taken,
        converged=converged,
        diverged=diverged,
        trajectory=Trajectory(
            steps=np.asarray(rec, dtype=np.int64),
            loss=np.stack([loss0, final_loss][: len(rec)]),
            accuracy=np.stack([acc0, final_acc][: len(rec)]),
        ),
    )


def _budget_bytes(model, memory_budget):
    """The working-buffer budget in bytes: *memory_budget* MiB, or half the free memory."""
    if memory_budget is None:
        from noprune_theory.backend import available_memory

        return available_memory(model.backend) // 2
    return memory_budget * 2**20


#: Below this many multiply-adds per step, BLAS runs on one thread (see _blas_threads_for).
SMALL_STEP_FLOP = 5e7


def _blas_threads_for(model, n):
    """Single-threaded BLAS for small steps, where threads cost more than they give.

    A step of a few MFLOP takes tens of microseconds; OpenBLAS's threads then spend more time
    waking and synchronizing than computing, and on a loaded machine (a sibling process on the
    other core) a two-thread product waits for the busy core: measured on 2 cores, 100 networks
    of width 64 on n = 30 points trained in 54 s with two BLAS threads and in 3 s with one.
    """
    import contextlib

    sizes = model.sizes
    flop = 2 * model.B * n * sum(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1)) * 3
    if flop >= SMALL_STEP_FLOP:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _loss_terms_per(loss, f, t, xp):
    return loss_terms(loss, f, t, xp)[0]
