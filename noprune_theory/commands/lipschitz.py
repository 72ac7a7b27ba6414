"""``noprune-theory lipschitz MODEL.npz``: Lipschitz lower and upper bounds of a saved model.

Where this sits: a thin shell over :func:`noprune_theory.estimators.lipschitz_lower` and
:func:`~noprune_theory.estimators.lipschitz_upper`; every check is the API's, so a bad argument
or a file that is not a saved model gives one line ``Error: ...`` and exit code 2.
"""
from __future__ import annotations

import click

from noprune_theory.commands._types import Number, dump_json

UPPER = ("auto", "spectral", "sum_norms", "patterns", "branch_and_bound")
LOWER = ("data", "random", "ascent", "pairs", "patterns")


@click.command("lipschitz")
@click.argument("model_file", metavar="MODEL.npz")
@click.option("--data", "data_file", default=None, metavar="X",
              help="Data points (n, d): .npy, .csv or FILE.npz:KEY. Without data, random "
                   "points from N(0, I_d/d) stand in (no 'data' or 'pairs' bounds).")
@click.option("--method", type=click.Choice(UPPER), default="auto", show_default=True,
              help="Upper bound: spectral (product of spectral norms, any depth), sum_norms "
                   "(sum |a_j| ||w_j||), patterns (max over activation patterns; the exact "
                   "constant where certified), branch_and_bound, or auto (the smallest that "
                   "applies).")
@click.option("--lower", "lower", default=None,
              help="Comma-separated lower-bound methods among data, random, ascent, pairs, "
                   "patterns. Default: data,random,ascent,pairs with --data, random,ascent "
                   "without; data and pairs need --data. 'patterns' (one hidden layer): the "
                   "gradient at the point realizing the upper bound's activation pattern, equal "
                   "to the upper bound where 'exact' is yes.")
@click.option("--starts", type=Number(integer=True, low=1), default=64, show_default=True,
              help="Starts of the gradient ascent per network.")
@click.option("--steps", type=Number(integer=True, low=0), default=30, show_default=True,
              help="Gradient-ascent steps.")
@click.option("--seed", type=Number(integer=True, low=0), default=0, show_default=True,
              help="Seeds the random points and the jitter of repeated starts.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(model_file: str, data_file: str | None, method: str, lower: str | None, starts: int,
            steps: int, seed: int, as_json: bool) -> None:
    """Certified lower and upper bounds of the Lipschitz constants of saved networks.

    MODEL.npz is a file written by MaskedMLP.save; every network in it gets its own bounds.

    Lower bounds are gradient norms and difference quotients actually attained by the network
    (at the data, at random points, after gradient ascent on the gradient norm, over pairs of
    data points); upper bounds come from the weights. Networks with one output.

    The column 'exact' is yes where the upper bound is certified equal to the Lipschitz
    constant (a linear network, or a one-hidden-layer ReLU net whose best activation pattern
    is realized at a point and every better pattern is proved empty); the lower bound is
    searched independently and can stay below it.
    """
    import os

    import numpy as np

    from noprune_theory.backend import to_numpy
    from noprune_theory.commands.mi import load_array
    from noprune_theory.estimators import lipschitz_lower, lipschitz_upper
    from noprune_theory.models import MaskedMLP

    if lower is None:
        lower = "data,random,ascent,pairs" if data_file is not None else "random,ascent"
    methods = tuple(m.strip() for m in lower.split(",") if m.strip())
    if not methods:
        raise ValueError(f"--lower must list methods among {', '.join(LOWER)}, got {lower!r}")
    for m in methods:
        if m not in LOWER:
            raise ValueError(f"--lower must list methods among {', '.join(LOWER)}, got {m!r}")
    needs = [m for m in methods if m in ("data", "pairs")]
    if needs and data_file is None:
        raise ValueError(f"--lower {','.join(needs)} needs --data (data points); without data "
                         "use random, ascent or patterns")
    if not os.path.isfile(model_file):
        raise ValueError(f"MODEL: no such file {model_file!r}")
    with open(model_file, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        # np.load returns a plain array for a .npy file, which MaskedMLP.load does not expect
        raise ValueError(f"{model_file} is not a saved MaskedMLP (a single .npy array, not the "
                         ".npz archive MaskedMLP.save writes)")
    try:
        model = MaskedMLP.load(model_file, backend="numpy")
    except (TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"{model_file} is a corrupt MaskedMLP file: {exc}") from None
    X = None
    if data_file is not None:
        X = np.asarray(load_array(data_file, "--data"), dtype=np.float64)
        if X.ndim == 1 and model.sizes[0] == 1:
            X = X[:, None]
    try:
        lo = lipschitz_lower(model, X, methods=methods, starts=starts, steps=steps, seed=seed)
    except ValueError as exc:
        msg = str(exc)
        # the API's argument X is this command's --data
        raise ValueError("--data" + msg[1:] if msg.startswith("X") else msg) from None
    up = lipschitz_upper(model, method)
    lo_v = to_numpy(lo.value).astype(float)
    up_v = to_numpy(up.value).astype(float)
    up_m = up.method if isinstance(up.method, tuple) else (up.method,) * model.B
    rows = []
    for b in range(model.B):
        rows.append({
            "network": b,
            "lower": float(lo_v[b]),
            "lower_method": lo.method[b],
            "upper": float(up_v[b]),
            "upper_method": up_m[b],
            "exact": bool(up.exact[b]),
        })
    if as_json:
        click.echo(dump_json({
            "model": model_file,
            "sizes": list(model.sizes),
            "activation": model.activation,
            "scaling": model.scaling,
            "data": data_file,
            "networks": rows,
        }))  # strict JSON (dump_json): every bound is finite (the API checks it)
        return
    click.echo(f"{model_file}: {model.B} network(s), sizes {model.sizes}, {model.activation}, "
               f"{model.scaling} scaling")
    click.echo(f"{'net':>4}  {'lower':>12}  {'by':<7}  {'upper':>12}  {'by':<17} exact")
    for r in rows:
        click.echo(f"{r['network']:>4}  {r['lower']:>12.6g}  {r['lower_method']:<7}  "
                   f"{r['upper']:>12.6g}  {r['upper_method']:<17} {'yes' if r['exact'] else 'no'}")
