"""Activations and losses of the batched networks: the one definition of each.

Used by :mod:`noprune_theory.models` (forward, backward and Hessian-vector products),
:mod:`noprune_theory.training` (stopping tests and records) and the Lipschitz estimators
(``estimators._lipschitz_common``). Every function takes its array functions from *xp*, the
array-API namespace of its inputs (NumPy, CuPy, array_api_strict). The compiled kernels
(``noprune_theory.kernels``) repeat these formulas in their own loops, with the codes
``ACT_CODES`` and ``LOSS_CODES`` in this order, and are tested against these functions.
"""

from __future__ import annotations

__all__ = [
    "ACTIVATIONS",
    "LEAKY_SLOPE",
    "LOSSES",
    "act",
    "act_d1",
    "act_d2",
    "correct",
    "logsumexp",
    "loss_curvature",
    "loss_terms",
    "sigmoid",
    "sigmoid_tanh",
]

#: Activations: all 1-Lipschitz, so the Lipschitz bounds of [BS] Lemma 3.1 apply.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "softplus", "identity")
#: Losses; ``loss`` arguments take these names.
LOSSES = ("mse", "logistic", "cross_entropy")
#: Slope of leaky_relu for negative inputs.
LEAKY_SLOPE = 0.01


# ----------------------------------------------------------------------------- activations
def act(name, z, xp):
    """phi(z) for the activation *name* (one of :data:`ACTIVATIONS`)."""
    # maximum rather than where: 10-20 times faster on large NumPy arrays
    if name == "relu":
        return xp.maximum(z, 0.0)
    if name == "leaky_relu":
        return xp.maximum(z, LEAKY_SLOPE * z)  # slope < 1
    if name == "tanh":
        return xp.tanh(z)
    if name == "softplus":
        return xp.logaddexp(z, xp.zeros_like(z))
    return z


def act_d1(name, z, a, xp):
    """phi'(z); ``a = phi(z)`` is passed to reuse it (tanh)."""
    if name == "relu":
        return xp.astype(z > 0, z.dtype)
    if name == "leaky_relu":
        return LEAKY_SLOPE + (1.0 - LEAKY_SLOPE) * xp.astype(z > 0, z.dtype)
    if name == "tanh":
        return 1.0 - a * a
    if name == "softplus":
        return sigmoid(z, xp)
    return xp.ones_like(z)


def act_d2(name, z, a, xp):
    """phi''(z), or None where it is zero almost everywhere (piecewise-linear activations)."""
    if name == "tanh":
        return -2.0 * a * (1.0 - a * a)
    if name == "softplus":
        s = sigmoid(z, xp)
        return s * (1.0 - s)
    return None


def sigmoid(u, xp):
    """The logistic function ``1 / (1 + exp(-u))``, computed as ``exp(u - log(1 + e^u))``,
    which never overflows. The training path's form (softplus' derivative, the logistic
    loss's)."""
    return xp.exp(u - xp.logaddexp(u, xp.zeros_like(u)))


def sigmoid_tanh(u, xp):
    """The logistic function as ``(1 + tanh(u / 2)) / 2``: one tanh, never overflows, cheaper
    than :func:`sigmoid`. Equal to it to about 1e-16 absolute, not relative: for very negative
    u the sum cancels (it is exactly 0 below u of about -40, where :func:`sigmoid` still
    resolves ``e^u``). The Lipschitz estimators' form (their gate approximations need no
    relative accuracy near 0), kept as it is so that their numbers do not change."""
    return 0.5 + 0.5 * xp.tanh(0.5 * u)


def logsumexp(f, xp):
    """``log sum exp`` over the last axis, kept as a length-1 axis (shifted by the maximum)."""
    m = xp.max(f, axis=-1, keepdims=True)
    return m + xp.log(xp.sum(xp.exp(f - m), axis=-1, keepdims=True))


# ----------------------------------------------------------------------------- losses
def loss_terms(loss, f, t, xp):
    """Per-point loss (B, n) and its derivative in f (B, n, out).

    ``t`` is the prepared target: the labels broadcast to f's shape (mse), the signs (logistic,
    shape (., n, 1)) or the one-hot labels (cross_entropy).
    """
    if loss == "mse":
        r = f - t
        return xp.sum(r * r, axis=-1), 2.0 * r
    if loss == "logistic":
        u = -t * f
        per = xp.logaddexp(u, xp.zeros_like(u))
        return per[..., 0], -t * sigmoid(u, xp)
    lse = logsumexp(f, xp)
    per = lse[..., 0] - xp.sum(f * t, axis=-1)
    p = xp.exp(f - lse)
    return per, p - t


def loss_curvature(loss, f, t, rf, xp):
    """(d^2 loss / df^2) applied to the direction rf, per point: (B, n, out)."""
    if loss == "mse":
        return 2.0 * rf
    if loss == "logistic":
        s = sigmoid(-t * f, xp)
        return s * (1.0 - s) * rf  # t^2 = 1
    p = xp.exp(f - logsumexp(f, xp))
    return p * rf - p * xp.sum(p * rf, axis=-1, keepdims=True)


def correct(loss, f, t, xp):
    """Whether each point is classified correctly, (B, n) bool."""
    if loss == "logistic":
        return (t * f)[..., 0] > 0
    if loss == "cross_entropy" or f.shape[-1] > 1:
        return xp.argmax(f, axis=-1) == xp.argmax(xp.broadcast_to(t, f.shape), axis=-1)
    return (t * f)[..., 0] > 0  # mse on one output: the sign of f against the sign of y
