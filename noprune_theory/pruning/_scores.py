"""Pruning scores as functions of plain arrays (weights, gradients, Hessian-vector products).

Where this sits in the data flow: the model-facing methods in :mod:`._methods` ask the model for
gradients or Hessian-vector products and pass the arrays here; :mod:`._selection` turns the
scores into masks. Keeping the formulas free of the model makes each one testable on its own
(against finite differences) and namespace-generic (NumPy, CuPy, ``array_api_strict``).

Every function takes lists with one array per layer, batch axis first, shape
``(B, fan_in, fan_out)``, and returns a list of the same shapes. Scores are float64.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from noprune_theory._validation import check_random_state
from noprune_theory.backend import array_namespace

__all__ = [
    "grasp_scores",
    "magnitude_scores",
    "random_scores",
    "snip_scores",
    "synflow_scores",
]


def _f64(a, xp):
    return xp.astype(a, xp.float64)


def random_scores(shapes: Sequence[tuple[int, ...]], seed: int | np.random.Generator = 0, *,
                  xp: Any = None) -> list[Any]:
    """I.i.d. U(0, 1) scores for weights of the given shapes (the random-pruning baseline).

    Parameters
    ----------
    shapes : sequence of tuple
        Weight shapes, batch axis first.
    seed : int >= 0 or numpy.random.Generator
        Seeds the draws (layer by layer, in order).
    xp : array namespace, optional
        Where to put the scores (default NumPy).

    Returns
    -------
    list of float64 arrays
        One score array per shape, in *xp*.
    """
    xp = np if xp is None else xp
    rng = check_random_state(seed)
    return [xp.asarray(rng.random(tuple(s))) for s in shapes]


def magnitude_scores(weights: Sequence[Any]) -> list[Any]:
    """``|w|``: magnitude pruning (at initialization, or after training) [FDRC] Sec. 3.

    Parameters
    ----------
    weights : list of arrays, shapes (B, fan_in, fan_out)
        One weight array per layer, batch axis first.

    Returns
    -------
    list of float64 arrays
        ``|w|`` of every layer, same shapes and array library.

    Examples
    --------
    >>> import numpy as np
    >>> magnitude_scores([np.array([[[-2.0, 1.0]]])])[0].tolist()
    [[[2.0, 1.0]]]
    """
    xp = array_namespace(*weights)
    return [xp.abs(_f64(w, xp)) for w in weights]


def snip_scores(weights: Sequence[Any], grads: Sequence[Any]) -> list[Any]:
    """SNIP connection sensitivity ``|w * dL/dw|`` [LAT] eq. (6).

    Parameters
    ----------
    weights, grads : lists of arrays, shapes (B, fan_in, fan_out)
        Weights and the gradient of the loss on a data batch with respect to them.

    Returns
    -------
    list of float64 arrays
        ``|w * dL/dw|`` of every layer, same shapes and array library.

    Notes
    -----
    [LAT] normalise by the sum of the scores; a positive factor per network does not change the
    ranking, so it is left out.

    References
    ----------
    .. [LAT] N. Lee, T. Ajanthan and P. H. S. Torr, "SNIP: Single-shot Network Pruning based on
       Connection Sensitivity", ICLR 2019, eq. (6).

    Examples
    --------
    >>> import numpy as np
    >>> snip_scores([np.array([[[-2.0, 1.0]]])], [np.array([[[0.5, -3.0]]])])[0].tolist()
    [[[1.0, 3.0]]]
    """
    xp = array_namespace(*weights, *grads)
    return [xp.abs(_f64(w, xp) * _f64(g, xp)) for w, g in zip(weights, grads)]


def grasp_scores(weights: Sequence[Any], hessian_grad: Sequence[Any]) -> list[Any]:
    """GraSP score ``S = -w * (H g)`` [WZG] eq. (8); the HIGHEST scores are removed.

    Parameters
    ----------
    weights : list of arrays, shapes (B, fan_in, fan_out)
        One weight array per layer, batch axis first.
    hessian_grad : list of arrays, same shapes
        ``H g``: the Hessian of the (temperature-scaled) loss times its gradient ``g``.

    Returns
    -------
    list of float64 arrays
        ``S`` itself, not a keep-score. Removing the weights with the largest ``S`` is what
        preserves (increases) the gradient norm ``g^T g`` best, to first order; the registered
        method ``"grasp"`` therefore keeps the lowest ``S`` (its keep-score is ``-S``).

    References
    ----------
    .. [WZG] C. Wang, G. Zhang and R. Grosse, "Picking Winning Tickets Before Training by
       Preserving Gradient Flow", ICLR 2020, eq. (8) and Algorithm 1.

    Examples
    --------
    >>> import numpy as np
    >>> grasp_scores([np.array([[[2.0, -1.0]]])], [np.array([[[0.5, 0.5]]])])[0].tolist()
    [[[-1.0, 0.5]]]
    """
    xp = array_namespace(*weights, *hessian_grad)
    return [-(_f64(w, xp) * _f64(h, xp)) for w, h in zip(weights, hessian_grad)]


def synflow_scores(weights: Sequence[Any], masks: Sequence[Any] | None = None) -> list[Any]:
    """SynFlow synaptic saliency ``|w * dR/dw|`` of the linearised network [TKYG] eq. (3).

    Parameters
    ----------
    weights : list of arrays, shapes (B, fan_in, fan_out)
        ``h_{l+1} = h_l @ W_l``; layer ``l`` maps ``sizes[l]`` to ``sizes[l+1]``.
    masks : list of bool arrays, optional
        Pruned weights (False) count as zero.

    Returns
    -------
    list of float64 arrays
        The scores, ``>= 0``, same shapes as *weights*.

    Raises
    ------
    ValueError
        If the scores overflow float64 (a very deep or very large-weight network).

    Notes
    -----
    Every weight is replaced by ``|w|``, biases and nonlinearities are dropped (with nonnegative
    weights and inputs ReLU is the identity), and the input is all ones, so the objective is
    ``R = 1^T |W_0| |W_1| ... |W_{L-1}| 1`` [TKYG] eq. (3). With the forward signal
    ``a_0 = 1``, ``a_{l+1} = a_l |W_l|`` and the backward signal ``c_L = 1``,
    ``c_l = |W_l| c_{l+1}``, the derivative is ``dR/d|W_l|_{ij} = a_l[i] c_{l+1}[j]``, so

        ``S_l[i, j] = |W_l[i, j]| a_l[i] c_{l+1}[j]``

    computed in closed form (two passes, no autograd), in float64.

    References
    ----------
    .. [TKYG] H. Tanaka, D. Kunin, D. L. K. Yamins and S. Ganguli, "Pruning neural networks
       without any data by iteratively conserving synaptic flow", NeurIPS 2020, eq. (3) and
       Algorithm 1.

    Examples
    --------
    One network, 1 -> 2 -> 1 with weights (1, 2) then (3, 4): R = 1*3 + 2*4 = 11, and every
    path carries its own product.

    >>> import numpy as np
    >>> W = [np.array([[[1.0, 2.0]]]), np.array([[[3.0], [4.0]]])]
    >>> [s.tolist() for s in synflow_scores(W)]
    [[[[3.0, 8.0]]], [[[3.0], [8.0]]]]
    """
    xp = array_namespace(*weights)
    absw = [xp.abs(_f64(w, xp)) for w in weights]
    if masks is not None:
        absw = [xp.where(m, a, xp.zeros_like(a)) for a, m in zip(absw, masks)]
    B = absw[0].shape[0]
    forward = [xp.ones((B, absw[0].shape[1]), dtype=xp.float64)]
    for a in absw[:-1]:
        forward.append(xp.matmul(forward[-1][:, None, :], a)[:, 0, :])
    backward = [xp.ones((B, absw[-1].shape[2]), dtype=xp.float64)]
    for a in absw[:0:-1]:
        backward.append(xp.matmul(a, backward[-1][:, :, None])[:, :, 0])
    backward = backward[::-1]  # backward[l] = c_{l+1}, the signal at layer l's output
    scores = [a * f[:, :, None] * c[:, None, :] for a, f, c in zip(absw, forward, backward)]
    for s in scores:
        if not bool(xp.all(xp.isfinite(s))):
            raise ValueError(
                "SynFlow scores overflow float64: the product of |weights| over the depth is too "
                "large; rescale the weights (the ranking is invariant to per-layer scaling)"
            )
    return scores
