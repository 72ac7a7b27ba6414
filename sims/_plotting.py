"""Shared plotting helpers: means and standard errors over seeds, error-bar lines, log-log fits.

Where this sits in the data flow: a simulation's ``plot(table, config, outdir)`` receives the
:class:`pandas.DataFrame` of its folder (:func:`~noprune_theory.sims.load_results`) and
returns matplotlib figures, reducing over seeds with :func:`mean_sem` (that is,
:func:`~noprune_theory.sims.summarize`);
``noprune-theory plot`` saves them as PNG and PDF with the config beside them
(:func:`save_figures`). Figures are made with :func:`new_figure` (``matplotlib.figure.Figure``
with the Agg canvas, no pyplot state), and matplotlib is imported only inside these functions.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from noprune_theory.sims._store import summarize

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

__all__ = [
    "FORMATS",
    "LogLogFit",
    "draw_loglog_fit",
    "errorbar_lines",
    "loglog_fit",
    "mean_sem",
    "new_figure",
    "save_figures",
]

FORMATS = ("png", "pdf", "svg")


def mean_sem(table: pd.DataFrame | list[dict[str, Any]], value: str, by: str | Sequence[str] = (),
             ) -> pd.DataFrame:
    """Compute the mean and standard error of the mean of *value* over each group's rows.

    The figures' reduction: it is :func:`~noprune_theory.sims.summarize` of one value, so a
    figure and a table of the same results show the same numbers.

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        From :func:`~noprune_theory.sims.load_results`, or a selection of its rows.
    value : str
        A numeric column.
    by : str or sequence of str
        Columns that define a group (typically the swept config fields); the rows of a group
        are its seeds.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by the *by* values: the *by* columns, ``mean``, ``sem`` and
        ``count`` (rows in the group).

    Raises
    ------
    ValueError
        If a value is missing or not a finite number (the message names the group).

    Notes
    -----
    ``sem = s / sqrt(n)`` with ``s`` the sample standard deviation (``ddof=1``). With a single
    row the standard error is undefined and reported as NaN (matplotlib then draws no bar).

    Examples
    --------
    >>> rows = [{"k": 1, "y": 1.0}, {"k": 1, "y": 3.0}, {"k": 2, "y": 5.0}]
    >>> mean_sem(rows, "y", by=["k"]).to_dict("records")[0]
    {'k': 1, 'mean': 2.0, 'sem': 1.0, 'count': 2}
    """
    by = [by] if isinstance(by, str) else list(by)
    return summarize(table, value, by=by)


def errorbar_lines(ax: Axes, table: pd.DataFrame | list[dict[str, Any]], x: str, y: str,
                   group: str | None = None, *, label: str = "{group}={value}",
                   **kwargs: Any) -> dict[Any, pd.DataFrame]:
    """Draw one line with standard-error bars per group: mean of *y* over seeds against *x*.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    table : pandas.DataFrame or list of dict
        The results, as :func:`mean_sem` takes them.
    x, y : str
        Columns for the horizontal axis and the measured value.
    group : str, optional
        One line per distinct value of this column (else a single line).
    label : str
        Legend entry, formatted with ``group`` and ``value``.
    **kwargs
        Passed to ``ax.errorbar`` (e.g. ``marker``, ``capsize``).

    Returns
    -------
    dict
        Maps each group value (or None) to the :class:`pandas.DataFrame` of *x*, ``mean``,
        ``sem``, ``count`` drawn (from :func:`mean_sem`).
    """
    by = [group, x] if group is not None else [x]
    stats = mean_sem(table, y, by=by)
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("capsize", 3)
    lines = {}
    gvals = list(dict.fromkeys(stats[group].tolist())) if group is not None else [None]
    for g in gvals:
        sub = stats[stats[group] == g] if group is not None else stats
        lab = label.format(group=group, value=g) if group is not None else kwargs.pop("label",
                                                                                    None)
        ax.errorbar(sub[x].astype(float).to_numpy(), sub["mean"].to_numpy(),
                    yerr=sub["sem"].to_numpy(), label=lab, **kwargs)
        lines[g] = sub[[x, "mean", "sem", "count"]].reset_index(drop=True)
    return lines


@dataclass(frozen=True)
class LogLogFit:  # numpydoc ignore=PR01
    """Least-squares line through ``(log x, log y)``: ``y ~ exp(intercept) * x ** slope``.

    Attributes
    ----------
    slope, intercept : float
        Slope and intercept of the line in log space.
    slope_se : float
        Standard error of the slope (NaN with two points).
    r2 : float
        Coefficient of determination in log space.
    n : int
        Points used.
    """

    slope: float
    intercept: float
    slope_se: float
    r2: float
    n: int

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        """Evaluate the power law at *x*.

        Parameters
        ----------
        x : array_like
            Positive numbers.

        Returns
        -------
        ndarray
            ``exp(intercept) * x ** slope``, the shape of *x*.
        """
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(x: ArrayLike, y: ArrayLike) -> LogLogFit:
    """Fit a power law ``y = C x**slope`` by least squares on logarithms.

    Parameters
    ----------
    x, y : array_like, shape (m,)
        Positive finite numbers; at least two distinct *x*.

    Returns
    -------
    LogLogFit
        The slope, intercept, slope standard error, r^2 and the number of points.

    Notes
    -----
    With ``u = log x``, ``v = log y``: ``slope = cov(u, v) / var(u)``,
    ``intercept = mean(v) - slope mean(u)``, ``slope_se = sqrt(SSE / (m - 2) / sum (u -
    mean u)^2)``.

    Examples
    --------
    >>> fit = loglog_fit([1, 2, 4, 8], [3, 12, 48, 192])   # y = 3 x^2 exactly
    >>> round(fit.slope, 12), round(float(np.exp(fit.intercept)), 12), round(fit.r2, 12)
    (2.0, 3.0, 1.0)
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    for name, a in (("x", x), ("y", y)):
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"{name} must hold positive finite numbers for a log-log fit")
    if np.unique(x).size < 2:
        raise ValueError("a log-log fit needs at least two distinct x values")
    u, v = np.log(x), np.log(y)
    du = u - u.mean()
    slope = float(du @ (v - v.mean()) / (du @ du))
    intercept = float(v.mean() - slope * u.mean())
    resid = v - (intercept + slope * u)
    sse = float(resid @ resid)
    sst = float((v - v.mean()) @ (v - v.mean()))
    m = x.size
    slope_se = math.sqrt(sse / (m - 2) / float(du @ du)) if m > 2 else float("nan")
    r2 = 1.0 - sse / sst if sst > 0 else 1.0
    return LogLogFit(slope, intercept, slope_se, r2, m)


def draw_loglog_fit(ax: Axes, fit: LogLogFit, x: ArrayLike, **kwargs: Any) -> list[Line2D]:
    """Draw *fit* over the range of *x* as a dashed line labelled with its slope.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    fit : LogLogFit
        The fit, from :func:`loglog_fit`.
    x : array_like
        The line spans ``min(x)`` to ``max(x)`` (50 points, evenly spaced in log).
    **kwargs
        Passed to ``ax.plot`` (defaults: ``linestyle="--"``, a label with the slope and its
        standard error).

    Returns
    -------
    list of matplotlib.lines.Line2D
        What ``ax.plot`` returns.
    """
    x = np.asarray(x, dtype=float)
    grid = np.geomspace(x.min(), x.max(), 50)
    se = "" if math.isnan(fit.slope_se) else f" ± {fit.slope_se:.2f}"
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("label", f"fit: slope {fit.slope:.2f}{se}")
    return ax.plot(grid, fit.predict(grid), **kwargs)


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 5.0, height: float = 3.8,
               **kwargs: Any) -> tuple[Figure, Any]:
    """Make a figure and its axes, without pyplot (so no GUI backend and no global state).

    Parameters
    ----------
    nrows, ncols : int, default 1
        The grid of axes.
    width, height : float, default 5.0, 3.8
        Size of one panel, in inches; the figure is ``width * ncols`` by ``height * nrows``.
    **kwargs
        Passed to ``Figure.subplots`` of matplotlib (e.g. ``sharex``).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (constrained layout).
    axes : matplotlib.axes.Axes or ndarray of Axes
        One Axes for a 1 x 1 grid, else an array of them.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_figures(figures: Figure | dict[str, Figure], outdir: str | os.PathLike[str], *,
                 formats: Sequence[str] = ("png", "pdf"), config: dict[str, Any] | None = None,
                 default_stem: str = "figure") -> list[Path]:
    """Save figures in every format, with the config that made them beside them.

    Parameters
    ----------
    figures : Figure or dict of str -> Figure
        What a simulation's ``plot`` returned; a single figure is saved as *default_stem*.
    outdir : str or path
        The folder, created if missing.
    formats : sequence of {"png", "pdf", "svg"}, default ("png", "pdf")
        One file per figure and format, ``<stem>.<format>``.
    config : dict, optional
        Written as ``config.json`` in *outdir*.
    default_stem : str, default "figure"
        The file name (without suffix) of a single figure.

    Returns
    -------
    list of pathlib.Path
        The files written, in order (``config.json`` last).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figures, dict):
        figures = {default_stem: figures}
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, fig in figures.items():
        if fig.canvas is None or type(fig.canvas).__name__ == "FigureCanvasBase":
            FigureCanvasAgg(fig)
        for fmt in formats:
            path = outdir / f"{stem}.{fmt}"
            fig.savefig(path, format=fmt, dpi=150 if fmt == "png" else None)
            paths.append(path)
    if config is not None:
        path = outdir / "config.json"
        path.write_text(json.dumps(config, indent=1, sort_keys=True))
        paths.append(path)
    return paths
