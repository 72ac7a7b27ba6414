"""Layer-wise densities of sparse networks: uniform, ER, ERK, balanced and pyramidal.

Where this sits in the data flow: :func:`layer_densities` turns one global density into a
table of per-layer densities; :func:`noprune_theory.pruning.prune` takes such a table
(``densities=``) and prunes each layer to its entry exactly. The formulas are those of
[GMB] (docs/pruning.md); pure NumPy on a handful of numbers, so no backend enters here.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from noprune_theory._validation import ArgumentTypeError, check_choice, check_scalar

__all__ = ["DENSITY_SCHEMES", "layer_densities", "layer_shapes"]

#: The schemes :func:`layer_densities` knows.
DENSITY_SCHEMES = ("uniform", "er", "erk", "balanced", "pyramidal")


def layer_shapes(layer_sizes: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Weight shapes from widths ``(d, h1, ..., out)`` or from a list of shapes.

    Parameters
    ----------
    layer_sizes : sequence of int, or sequence of sequences of int
        Either the widths of the network (``model.sizes``; layer ``l`` then has shape
        ``(sizes[l], sizes[l + 1])``), or the weight shapes themselves (each with >= 2 entries,
        e.g. ``(fan_in, fan_out)`` or ``(fan_in, fan_out, kh, kw)``).

    Returns
    -------
    list of tuple of int
        One weight shape per layer, ``(fan_in, fan_out, ...)``.
    """
    expected = "layer_sizes must be a sequence of widths or of weight shapes"
    if isinstance(layer_sizes, (str, bytes)):
        # a string iterates as characters: "ab" would read as two shapes
        raise ArgumentTypeError(f"{expected}, got the string {layer_sizes!r}")
    try:
        items = list(layer_sizes)
    except TypeError:
        raise ValueError(f"{expected}, got {layer_sizes!r}") from None
    if not items:
        raise ValueError("layer_sizes must not be empty")
    if all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in items):
        if len(items) < 2:
            raise ValueError(
                f"layer_sizes given as widths needs at least 2 entries (d, out), got {items!r}"
            )
        if any(int(s) < 1 for s in items):
            raise ValueError(f"layer_sizes widths must be integers >= 1, got {items!r}")
        return [(int(items[i]), int(items[i + 1])) for i in range(len(items) - 1)]
    shapes = []
    for s in items:
        # int(v) would read "3" and truncate 3.7: every entry must be an integer already
        if isinstance(s, (str, bytes)) or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in _iter(s)):
            raise ValueError(
                "layer_sizes must be all widths (integers) or all weight shapes (tuples of "
                f"integers), got {layer_sizes!r}"
            )
        shape = tuple(int(v) for v in s)
        if len(shape) < 2 or any(v < 1 for v in shape):
            raise ValueError(
                f"each weight shape in layer_sizes needs >= 2 positive entries, got {tuple(s)!r}"
            )
        shapes.append(shape)
    return shapes


def _iter(s):
    """The entries of one weight shape, or ``(s,)`` when it is not iterable (then refused)."""
    try:
        return list(s)
    except TypeError:
        return [s, None]


def _capped_proportional(counts, raw, budget):
    """Densities ``eps * raw_l`` capped at 1 with ``sum_l N_l p_l = budget`` (RigL's ERK solve).

    Layers that would exceed density 1 are set dense and eps is re-solved over the others.
    Adding every offending layer at once equals adding them one by one: setting a layer dense
    frees budget, so eps only grows and an offending layer stays offending.
    """
    dense = np.zeros(len(counts), dtype=bool)
    while True:
        free = ~dense
        remaining = budget - counts[dense].sum()
        weight = (counts[free] * raw[free]).sum()
        if weight <= 0:  # every layer dense
            return np.where(dense, 1.0, 0.0)
        eps = remaining / weight
        dens = np.where(dense, 1.0, eps * raw)
        over = free & (dens > 1.0)
        if not over.any():
            return np.clip(dens, 0.0, 1.0)
        dense |= over


def _pyramidal_ratio(counts, budget):
    """The root r in (0, 1] of ``sum_l N_l r^l = budget`` (l = 1..L), by bisection."""
    powers = np.arange(1, len(counts) + 1, dtype=np.float64)

    def kept(r):
        return float((counts * r**powers).sum())

    lo, hi = 0.0, 1.0
    if kept(hi) <= budget:
        return 1.0
    # kept(r) is increasing on [0, 1]; 200 halvings reach the float64 resolution.
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if kept(mid) < budget:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-17:
            break
    return 0.5 * (lo + hi)


def layer_densities(layer_sizes: Sequence[int] | Sequence[Sequence[int]], density: float,
                    scheme: Literal["uniform", "er", "erk", "balanced", "pyramidal"] = "uniform",
                    ) -> NDArray[np.float64]:
    """Per-layer densities whose weighted mean is *density*, by a [GMB] scheme.

    Parameters
    ----------
    layer_sizes : sequence of int, or sequence of shapes
        The network's widths ``(d, h1, ..., hL, out)`` (as in ``MaskedMLP.sizes``), or the weight
        shapes ``[(fan_in, fan_out), ...]`` (extra kernel dimensions are allowed for ERK).
    density : float in (0, 1]
        Target fraction of weights kept over the whole network, ``p = 1 - sparsity``.
    scheme : {"uniform", "er", "erk", "balanced", "pyramidal"}, default "uniform"
        How the kept weights are spread over the layers (Notes).

    Returns
    -------
    numpy.ndarray, shape (L,), float64
        Density ``p_l`` in [0, 1] of every weight layer, with ``sum_l N_l p_l = p N`` up to
        rounding (``N_l`` the layer's number of weights, ``N = sum_l N_l``).

    Raises
    ------
    ValueError
        If *density* is not in (0, 1], *scheme* is unknown or *layer_sizes* is malformed.

    Notes
    -----
    With ``N_l`` the number of weights of layer ``l`` (of ``L``) and ``N = sum_l N_l``
    ([GMB] Sec. 3):

    - ``uniform``: ``p_l = p``.
    - ``er`` (Erdős–Rényi, [ME]): ``p_l = eps (n_in + n_out) / (n_in n_out)`` from the first
      two dimensions of the shape.
    - ``erk`` (ER-Kernel, [EV]): ``p_l = eps * sum(shape) / prod(shape)``; equal to ``er`` for
      fully connected layers.
    - ``balanced``: every layer keeps the same number of weights, ``p_l = p N / (L N_l)``.
    - ``pyramidal``: ``p_l = r^l`` (l = 1..L) with ``r`` in (0, 1] the root of
      ``sum_l N_l r^l = p N``: densities decay geometrically with depth.

    For ``er``, ``erk`` and ``balanced`` the scale ``eps`` solves ``sum_l N_l p_l = p N``; a
    layer that would exceed density 1 is set dense and ``eps`` is re-solved over the remaining
    layers (as in [EV]). For ``balanced`` this re-solving is our addition: [GMB] write
    ``min(1, p N / (L N_l))``, which keeps fewer than ``p N`` weights when a layer is capped;
    here the capped layer's surplus goes equally to the others, so the total is always ``p N``.

    References
    ----------
    .. [GMB] A. Gadhikar, S. Mukherjee and R. Burkholz, "Why Random Pruning Is All We Need to
       Start Sparse", ICML 2023, Sec. 3 (layer-wise sparsity ratios).
    .. [EV] U. Evci et al., "Rigging the Lottery: Making All Tickets Winners", ICML 2020, Sec. 3.
    .. [ME] D. C. Mocanu et al., "Scalable training of artificial neural networks with adaptive
       sparse connectivity inspired by network science", Nat. Commun. 9, 2383 (2018).

    Examples
    --------
    The reference MLP d = 30, two hidden layers of 100, one output, at density 0.1: ERK makes
    the 100 -> 1 output layer dense and shares the rest by ``(n_in + n_out) / (n_in n_out)``.

    >>> from noprune_theory.pruning import layer_densities
    >>> layer_densities((30, 100, 100, 1), 0.1, "erk").round(4).tolist()
    [0.1589, 0.0733, 1.0]
    >>> layer_densities((30, 100, 100, 1), 0.1, "uniform").tolist()
    [0.1, 0.1, 0.1]
    """
    shapes = layer_shapes(layer_sizes)
    p = check_scalar(density, "density", low=0, high=1, low_inclusive=False)
    check_choice(scheme, "scheme", DENSITY_SCHEMES)
    counts = np.array([math.prod(s) for s in shapes], dtype=np.float64)
    budget = p * counts.sum()
    if scheme == "uniform":
        return np.full(len(shapes), p, dtype=np.float64)
    if scheme == "pyramidal":
        r = _pyramidal_ratio(counts, budget)
        return r ** np.arange(1, len(shapes) + 1, dtype=np.float64)
    if scheme == "er":
        raw = np.array([(s[0] + s[1]) / (s[0] * s[1]) for s in shapes], dtype=np.float64)
    elif scheme == "erk":
        raw = np.array([sum(s) / math.prod(s) for s in shapes], dtype=np.float64)
    else:  # balanced
        raw = 1.0 / counts
    return _capped_proportional(counts, raw, budget)
