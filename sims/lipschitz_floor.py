"""Smallest Lipschitz constant of ANY function interpolating random +-1 labels on Gaussian data.

Where this sits: the laws of robustness ([BS] Theorem 3, [NFP] Theorem 4) bound the Lipschitz
constant of interpolators with p (or p_eff) parameters from below by ~ sqrt(n d / p). This cheap
simulation measures the floor that no parameter count can beat: the best Lipschitz constant
over *all* functions that interpolate. For real-valued functions it is exact and closed form
(McShane / Kirszbraun extension):

    L*(D) = max_{i, j : y_i != y_j} |y_i - y_j| / ||x_i - x_j||
          = 2 / min_{y_i != y_j} ||x_i - x_j||.

With x ~ N(0, I_d / d) (the c-isoperimetric law of docs/theory.md#theory-setting) pairwise
distances concentrate at sqrt(2), so L* is O(1) for d >> log n: a smooth interpolator exists,
and the sqrt(n d / p) barrier is about parameters, not about the data. For small d the closest
of the ~n^2/4 opposite-label pairs sets L*: P(||x_i - x_j|| < r) ~ C r^d as r -> 0, so the
minimum of m ~ n^2 / 4 distances scales as m^(-1/d) and L* grows as n^(2/d) (log-log slope 2/d).

Values per cell: ``lip_floor`` (L*, units of label / input distance), ``log_lip_floor`` (ln L*),
``min_opposite_distance``, ``mean_distance`` (mean over all pairs), ``n_positive``.
The plot averages ln L* over seeds, not L*: for d = 1 the mean of L* = 2 / min distance is
infinite (the minimum has a positive density at 0) and for d = 2 its variance is.

References
----------
[BS] Bubeck & Sellke, NeurIPS 2021, Theorem 3. McShane, "Extension of range of functions",
Bull. AMS 40 (1934).
"""
from __future__ import annotations

from noprune_theory.sims._config import Field, preset

DESCRIPTION = "Best Lipschitz constant of any interpolator of random labels (McShane; ~n^(2/d))."
CELL_VERSION = 1

FIELDS = {
    "n": Field([16, 64, 256], "number of data points", low=2),
    "d": Field([1, 2, 30], "input dimension", low=1),
}

PRESETS = {
    "quick": preset("a few seconds: n up to 1024, d in {1, 2, 4, 30}, 8 seeds",
                    n=[16, 64, 256, 1024], d=[1, 2, 4, 30], seeds=8),
    "paper": preset("minutes: n up to 4096, d in {1, 2, 4, 8, 30, 100}, 50 seeds",
                    n=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096], d=[1, 2, 4, 8, 30, 100],
                    seeds=50),
}


def _draw(config, seed):
    import numpy as np

    # the data of a cell depend on (seed, n, d) only: independent draws across the grid
    rng = np.random.default_rng([seed, config["n"], config["d"]])
    n, d = config["n"], config["d"]
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    return x, y


def _sq_dists(a, b):
    import numpy as np

    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(sq, 0.0)


def interpolation_floor(X, y, *, chunk=1024):
    """McShane floor of one dataset: ``max_{y_i != y_j} |y_i - y_j| / ||x_i - x_j||``.

    The smallest Lipschitz constant of any real function with ``f(x_i) = y_i`` for every i
    (module docstring). Computed over blocks of *chunk* rows against all points, so the memory
    is ``chunk * n`` numbers whatever n is, beside a float32 copy of X for two label values
    (X itself is used as given when it is float64). With two label values (random signs) only the
    closest pair across the classes matters: it is searched in float32 and confirmed in float64
    (see the comments of the code); otherwise every ratio is computed in float64. The ratio of
    the best pair is recomputed from the pair's own difference, free of the cancellation of
    the expanded squared distance.

    Parameters
    ----------
    X : array (n, d)
        Points, finite.
    y : array (n,)
        Real labels, finite.
    chunk : int >= 1, default 1024
        Rows per block.

    Returns
    -------
    dict
        ``lip_floor`` (0.0 when all labels are equal), ``pair`` (i, j) of the best ratio (None
        when all labels are equal) and ``distance`` (their distance, None likewise).

    Raises
    ------
    ValueError
        Shapes that do not match, non-finite values, two points with different labels at the
        same place (no interpolator exists), or a bad *chunk*.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [3.0]]); y = np.array([1.0, -1.0, 1.0])
    >>> interpolation_floor(X, y)["lip_floor"]      # |1 - (-1)| / |0 - 1| = 2
    2.0
    """
    import numpy as np

    from noprune_theory._validation import check_scalar

    chunk = check_scalar(chunk, "chunk", integer=True, low=1)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got shapes {X.shape} and {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite")
    # squared norms in blocks of rows: no (n, d) temporary, the numbers of (X * X).sum(1)
    norms = np.concatenate([(b * b).sum(1) for b in (X[i:i + chunk]
                                                     for i in range(0, len(X), chunk))])
    values = np.unique(y)
    best, pair = 0.0, None
    if len(values) == 2:
        # two labels (random signs): only pairs across the classes count and |dy| is the same
        # for all of them, so the floor is |dy| over the smallest distance across the classes.
        # The search runs in float32 (four times the speed of float64 products); every pair
        # whose float32 squared distance is within twice a bound of the float32 error of its
        # block's smallest is then measured in float64 from its difference, so the minimum
        # found is the float64 one. Error bound: rounding X to float32 and the expanded
        # ||a||^2 + ||b||^2 - 2 a.b with a length-d dot product (Higham's gamma_d) stay below
        # (2 gamma_d + 20 u) max ||x||^2, u = 2^-24.
        rows, cols = np.flatnonzero(y == values[0]), np.flatnonzero(y == values[1])
        u = 2.0 ** -24
        d = X.shape[1]
        tol = 2.0 * (2.0 * d * u / (1.0 - d * u) + 20.0 * u) * float(norms.max())
        # one float32 copy, the classes one after the other (blocks of rows are then views)
        order = np.concatenate([rows, cols])
        X32 = np.empty(X.shape, dtype=np.float32)
        for start in range(0, len(order), chunk):     # no float64 copy of X on the way
            X32[start:start + chunk] = X[order[start:start + chunk]]
        Xr, Xc = X32[:len(rows)], X32[len(rows):]
        nr, nc = norms[rows].astype(np.float32), norms[cols].astype(np.float32)
        best_sq = np.inf
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            sq = Xr[start:start + chunk] @ Xc.T
            sq *= -2.0
            sq += nr[start:start + chunk, None]
            sq += nc[None, :]
            cand_i, cand_j = np.nonzero(sq <= sq.min() + tol)
            diff = X[r[cand_i]] - X[cols[cand_j]]
            exact = (diff * diff).sum(1)
            k = int(np.argmin(exact))
            if exact[k] < best_sq:
                best_sq, pair = float(exact[k]), (int(r[cand_i[k]]), int(cols[cand_j[k]]))
        best = abs(values[1] - values[0]) / np.sqrt(best_sq) if best_sq > 0 else np.inf
    elif len(values) > 2:
        everyone = np.arange(X.shape[0])
        for start in range(0, len(everyone), chunk):
            r = everyone[start:start + chunk]
            sq = X[r] @ X.T
            sq *= -2.0
            sq += norms[r, None]
            sq += norms[None, :]
            dy = np.abs(y[r, None] - y[None, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(dy > 0, dy / np.sqrt(np.maximum(sq, 0.0)), 0.0)
            i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            if ratio[i, j] > best:
                best, pair = float(ratio[i, j]), (int(r[i]), int(j))
    if pair is None:
        return {"lip_floor": 0.0, "pair": None, "distance": None}
    i, j = pair
    dist = float(np.linalg.norm(X[i] - X[j]))
    if dist == 0.0:
        raise ValueError(f"points {i} and {j} coincide with different labels: no function "
                         "interpolates")
    return {"lip_floor": float(abs(y[i] - y[j]) / dist), "pair": (i, j), "distance": dist}


def cell(config, seed):
    """One dataset of ``n`` points: the McShane floor L* and the distances that set it."""
    import numpy as np

    x, y = _draw(config, seed)
    pos, neg = x[y > 0], x[y < 0]
    n = len(x)
    mean_d = float(np.sqrt(_sq_dists(x, x))[np.triu_indices(n, 1)].mean())
    if len(pos) == 0 or len(neg) == 0:
        # one label only: the constant function interpolates, L* = 0
        return {"lip_floor": 0.0, "log_lip_floor": None, "min_opposite_distance": None,
                "mean_distance": mean_d, "n_positive": len(pos)}
    dmin = float(np.sqrt(_sq_dists(pos, neg).min()))
    return {"lip_floor": 2.0 / dmin, "log_lip_floor": float(np.log(2.0 / dmin)),
            "min_opposite_distance": dmin, "mean_distance": mean_d, "n_positive": len(pos)}


def plot(table, config, outdir):
    """Mean ln L* against n, one line per d, with fitted slopes against the predicted 2/d."""
    import numpy as np

    from noprune_theory.sims._plotting import errorbar_lines, loglog_fit, new_figure

    rows = table[table["lip_floor"] > 0]
    fig, ax = new_figure(width=5.5, height=4.2)
    lines = errorbar_lines(ax, rows, "n", "log_lip_floor", group="d", label="d = {value}")
    for d, stats in lines.items():
        if len(stats) >= 2:
            # a power law L* = C n^s is a straight line of slope s in (ln n, mean ln L*)
            fit = loglog_fit(stats["n"], np.exp(stats["mean"]))
            grid = np.geomspace(stats["n"].min(), stats["n"].max(), 30)
            ax.plot(grid, np.log(fit.predict(grid)), color="gray", linestyle="--", linewidth=0.8,
                    label=f"d = {d}: slope {fit.slope:.2f} (theory 2/d = {2 / d:.2f})")
    ax.axhline(np.log(np.sqrt(2.0)), color="k", linestyle=":", linewidth=1,
               label=r"$\ln\sqrt{2}$ (2 / typical distance)")
    ax.set_xscale("log")
    ax.set_xlabel("n (data points)")
    ax.set_ylabel("ln L*  (L* in label units per unit input distance)")
    ax.set_title("Smallest Lipschitz constant of any interpolator\n"
                 r"$x \sim N(0, I_d/d)$, random $\pm 1$ labels; mean $\pm$ s.e. over seeds",
                 fontsize=9)
    ax.legend(fontsize=7)
    return {"lipschitz_floor": fig}


if __name__ == "__main__":
    from noprune_theory.cli import script_main

    script_main("lipschitz_floor")
