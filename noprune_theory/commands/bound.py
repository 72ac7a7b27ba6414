"""``noprune-theory bound``: Lipschitz lower bounds of the dense and sparse Law of Robustness.

Imports nothing heavy at module level, so ``--help`` stays fast; the numbers come from
:mod:`noprune_theory.theory`, whose generated code is cached so that a warm run does not import
sympy at all.
"""
from __future__ import annotations

import click

from noprune_theory.commands._types import Number, dump_json

_UNIT = dict(low=0, high=1, low_inclusive=False, high_inclusive=False)
_POS = dict(low=0, low_inclusive=False)

EPILOG = """\b
Defaults and why:
  --eps 0.1     fits 0.1 below the noise level (labels in [-1,1]; an
                interpolator of labels with noise variance s^2 has eps up
                to s^2, so 0.1 is conservative)
  --delta 0.01  probability 99%; note the sparse bound scales as sqrt(delta)
  --c 1         N(0, I_d/d) is c-isoperimetric with c = 1
  --W 1, --J 1  normalised parametrisation (enter only via log(60 W J/eps));
                W is the diameter of the parameter set [BS Thm 3]
  --w-max 1     with --width: weights in [-w_max, w_max]^p (the coordinate
                bound of [BS Lemma 3.1]), so the diameter is
                W = 2 w_max sqrt(p) and J = R (w_max Q p)^D, R = Q = 1, D = 2
  --k 1         one isoperimetric mixture component
\b
Units: p_eff and I(m; D) in bits, as in [NFP]; --mi-unit nats converts
(the [XR] lemma is usually stated in nats; the paper does not reconcile them).
\b
Sources: [BS] Bubeck & Sellke, NeurIPS 2021 (the JACM 2023 version may differ
in constants: unverified); [NFP] Kumar, Luo & Sellke, ICML 2024, arXiv v1.
The split of constants among proof steps (see `noprune-theory derive`) is a
reconstruction that could not be checked against the sources.
"""


@click.command("bound", epilog=EPILOG)
@click.option("--n", "n", type=Number(integer=True, low=1), required=True,
              help="Number of samples, integer >= 1.")
@click.option("--d", "d", type=Number(integer=True, low=1), required=True,
              help="Input dimension, integer >= 1.")
@click.option("--p", "p", type=Number(integer=True, low=1), default=None,
              help="Parameters of your model, integer >= 1: adds a section for it.")
@click.option("--width", type=Number(integer=True, low=1), default=None,
              help="A two-layer net of this width: p = width (d + 2), J derived.")
@click.option("--sparsity", type=Number(low=0, high=1, high_inclusive=False), default=None,
              help="Fraction of weights pruned, in [0, 1) (needs --p or --width).")
@click.option("--kept", type=Number(integer=True, low=0), default=None,
              help="Number of weights kept, an integer in [0, p] (needs --p or --width).")
@click.option("--mi", type=Number(low=0), default=None,
              help="I(mask; data) of your mask, in [0, log2 C(p, kept)] bits (needs --p or "
                   "--width).")
@click.option("--mi-unit", type=click.Choice(["bits", "nats"]), default="bits",
              show_default=True, help="Unit of --mi.")
@click.option("--eps", type=Number(**_UNIT), default=None,
              help="Fit below the noise level by eps, in (0, 1). [0.1]")
@click.option("--delta", type=Number(**_UNIT), default=None,
              help="Failure probability, in (0, 1). [0.01]")
@click.option("--c", "c", type=Number(**_POS), default=None,
              help="Isoperimetry constant, > 0. [1]")
@click.option("--W", "W", type=Number(**_POS), default=None,
              help="Diameter of the parameter set [BS Thm 3], > 0. [1, or 2 w_max sqrt(p) "
                   "with --width]")
@click.option("--J", "J", type=Number(**_POS), default=None,
              help="Lipschitz constant of w -> f_w, > 0. [1, or R (w_max Q p)^D with --width]")
@click.option("--w-max", "w_max", type=Number(**_POS), default=None,
              help="Coordinate bound of a --width net's weights, in [-w_max, w_max]^p, > 0; "
                   "W and J are derived from it. [1]")
@click.option("--k", "k", type=Number(integer=True, low=1), default=None,
              help="Mixture components of the data law, integer >= 1. [1]")
@click.option("--lip", type=Number(**_POS), default=1.0, show_default=True,
              help="Target Lipschitz constant for the 'needs' lines.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as one JSON object.")
@click.option("--latex", "as_latex", is_flag=True, help="Print a LaTeX table.")
def command(n: int, d: int, p: int | None, width: int | None, sparsity: float | None,
            kept: int | None, mi: float | None, mi_unit: str, eps: float | None,
            delta: float | None, c: float | None, W: float | None, J: float | None,
            w_max: float | None, k: int | None, lip: float, as_json: bool,
            as_latex: bool) -> None:
    """Lipschitz lower bounds of the dense [BS Thm 3] and sparse [NFP Thm 4] Law of Robustness.

    Given only --n and --d, prints both bounds over a range of sizes (n, nd/100, nd/10, nd,
    10 nd), the p_eff an O(1)-Lipschitz interpolator needs, whether each theorem's sample-size
    condition holds (and which n it needs), and every default it assumed.
    Numbers like 1e4 are accepted.
    """
    if sparsity is not None and kept is not None:
        raise click.UsageError("--sparsity and --kept are mutually exclusive")
    if p is not None and width is not None:
        raise click.UsageError("--p and --width are mutually exclusive")
    if as_json and as_latex:
        raise click.UsageError("--json and --latex are mutually exclusive")
    from noprune_theory.theory import bound_report, format_bound_latex, format_bound_text

    rep = bound_report(n, d, p=p, sparsity=sparsity, kept=kept, mi=mi, mi_unit=mi_unit, eps=eps,
                       delta=delta, c=c, W=W, J=J, k=k, width=width, w_max=w_max, lip=lip)
    if as_json:
        click.echo(dump_json(rep, indent=2, sort_keys=True))
    elif as_latex:
        click.echo(format_bound_latex(rep))
    else:
        click.echo(format_bound_text(rep))
