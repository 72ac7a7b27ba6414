"""``noprune-theory mi X Y``: mutual information between two arrays stored in files.

Where this sits: a thin shell over :mod:`noprune_theory.estimators`; every check is the API's,
so a bad argument gives the same sentence here (as ``Error: ...``, exit code 2).
"""
from __future__ import annotations


import click

from noprune_theory.commands._types import Number, dump_json

ESTIMATORS = ("ksg", "ksg2", "mixed", "plugin")


def load_array(spec, name):
    """Load ``file.npy``, ``file.csv`` (comma-separated, no header) or ``file.npz:key``
    (the key may be omitted when the archive holds one array)."""
    import os

    import numpy as np

    path, _, key = spec.partition(":") if spec.lower().split(":")[0].endswith(".npz") else (
        spec, "", "")
    if not os.path.isfile(path):
        raise ValueError(f"{name}: no such file {path!r}")
    lower = path.lower()
    try:
        if lower.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if lower.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                if not key:
                    if len(keys) != 1:
                        raise ValueError(f"{name}: {path!r} holds arrays {keys}; name one as "
                                         f"{path}:KEY")
                    key = keys[0]
                if key not in keys:
                    raise ValueError(f"{name}: {path!r} has no array {key!r} (it holds {keys})")
                return archive[key]
        if lower.endswith(".csv"):
            return np.loadtxt(path, delimiter=",", ndmin=1)
    except ValueError as exc:
        if str(exc).startswith(name):
            raise
        raise ValueError(f"{name}: cannot read {path!r}: {exc}") from None
    raise ValueError(f"{name}: unsupported file type {path!r}; use .npy, .csv or .npz:KEY")


def unit_name(base):
    if base is None or str(base).strip().lower() in ("e", "nats"):
        return "nats"
    if str(base).strip().lower() in ("2", "2.0", "bits"):
        return "bits"
    return f"log base {base}"


@click.command("mi")
@click.argument("x_file", metavar="X")
@click.argument("y_file", metavar="Y")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="ksg", show_default=True,
              help="ksg: KSG algorithm 1; ksg2: algorithm 2; mixed: Gao et al. 2017 (discrete, "
                   "continuous or mixed data, ties allowed); plugin: discrete data.")
@click.option("--k", "k", type=Number(integer=True, low=1), default=3, show_default=True,
              help="Neighbours (k-NN estimators).")
@click.option("--base", default=None,
              help="Log base of the result: e (nats, the default), 2 (bits), 10, ...")
@click.option("--seed", type=Number(integer=True, low=0), default=0, show_default=True,
              help="Seeds the tie-breaking jitter, the only randomness.")
@click.option("--standardize", type=click.Choice(("std", "rank", "none")), default="std",
              show_default=True, help="Per-column scaling before the neighbour search.")
@click.option("--jitter", type=Number(low=0), default=None,
              help="Tie-breaking noise relative to each column's spread "
                   "[default: 1e-10 for ksg/ksg2, 0 for mixed].")
@click.option("--correction", type=click.Choice(("none", "miller_madow", "jackknife")),
              default="none", show_default=True, help="Bias correction (plugin only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(x_file, y_file, estimator, k, base, seed, standardize, jitter, correction,
            as_json):
    """Estimate I(X; Y) between the rows of X and Y.

    X and Y are .npy, .csv (comma-separated numbers, no header) or .npz files (FILE.npz:KEY
    picks an array), with one sample per row. The result is in nats unless --base says
    otherwise. Estimates are not clipped: a small negative value means "no detectable
    dependence" at this sample size.
    """
    from noprune_theory import estimators as est
    from noprune_theory.estimators._preprocess import check_base

    check_base(base)  # fail before loading anything
    x = load_array(x_file, "X")
    y = load_array(y_file, "Y")
    if estimator in ("ksg", "ksg2"):
        value = est.ksg_mi(x, y, k=k, algorithm=1 if estimator == "ksg" else 2,
                           standardize=standardize,
                           jitter=1e-10 if jitter is None else jitter, seed=seed, base=base)
    elif estimator == "mixed":
        value = est.mixed_mi(x, y, k=k, standardize=standardize,
                             jitter=0.0 if jitter is None else jitter, seed=seed, base=base)
    else:
        value = est.plugin_mi(x, y, correction=correction, base=base)
    record = {
        "estimate": value,
        "unit": unit_name(base),
        "estimator": estimator,
        "n": len(x),
        "x": x_file,
        "y": y_file,
    }
    if estimator == "plugin":
        record["correction"] = correction
    else:
        record.update(k=k, seed=seed, standardize=standardize,
                      jitter=(1e-10 if estimator != "mixed" else 0.0) if jitter is None
                      else jitter)
    if as_json:
        click.echo(dump_json(record))
        return
    details = ", ".join(f"{key}={record[key]}" for key in record
                        if key not in ("estimate", "unit", "x", "y"))
    click.echo(f"I(X; Y) = {value:.6g} {record['unit']}  ({details})")
