"""``noprune-theory mi X Y``: mutual information between two arrays stored in files.

Where this sits: a thin shell over :mod:`noprune_theory.estimators`; every check is the API's,
so a bad argument gives the same sentence here (as ``Error: ...``, exit code 2).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

from noprune_theory.commands._types import Number, dump_json

if TYPE_CHECKING:
    import numpy as np

ESTIMATORS = ("ksg", "ksg2", "mixed", "plugin")


def load_array(spec: str, name: str) -> np.ndarray:
    """Load ``file.npy``, ``file.csv`` (comma-separated, no header) or ``file.npz:key``
    (the key may be omitted when the archive holds one array).

    Whatever goes wrong while reading (a missing, empty, truncated or corrupt file, text that
    is not numbers) is one ValueError naming the argument and the file; warnings raised while
    parsing are turned into that error, so nothing is printed before it.
    """
    import os
    import warnings

    import numpy as np

    path, _, key = spec.partition(":") if spec.lower().split(":")[0].endswith(".npz") else (
        spec, "", "")
    if not os.path.isfile(path):
        raise ValueError(f"{name}: no such file {path!r}")
    lower = path.lower()
    if not lower.endswith((".npy", ".npz", ".csv")):
        raise ValueError(f"{name}: unsupported file type {path!r}; use .npy, .csv or .npz:KEY")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{name}: {path!r} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if lower.endswith(".npy"):
                with open(path, "rb") as handle:
                    arr = np.load(handle, allow_pickle=False)
            elif lower.endswith(".npz"):
                # our own handle: numpy leaves the file open when the archive is truncated
                with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
                    keys = list(archive.keys())
                    if not key:
                        if len(keys) != 1:
                            raise _Named(f"{name}: {path!r} holds arrays {keys}; name one as "
                                         f"{path}:KEY")
                        key = keys[0]
                    if key not in keys:
                        raise _Named(f"{name}: {path!r} has no array {key!r} (it holds "
                                     f"{keys})")
                    arr = archive[key]
            else:
                arr = np.loadtxt(path, delimiter=",", ndmin=1)
    except _Named as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any failure to parse a file is the user's input
        reason = str(exc).strip() or type(exc).__name__
        raise ValueError(f"{name}: cannot read {path!r} ({type(exc).__name__}: "
                         f"{reason.splitlines()[0]})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name}: {path!r} does not hold an array")
    if arr.size == 0:
        raise ValueError(f"{name}: {path!r} holds no data (shape {arr.shape})")
    return arr


class _Named(Exception):
    """A reading error whose message is already complete."""


def parse_base(text: str | None) -> str | float | None:
    """``--base`` text to what the API takes: None, a name (e, nats, bits) or a float."""
    from noprune_theory.estimators import log_base_divisor

    if text is None:
        return None
    name = text.strip().lower()
    try:
        log_base_divisor(name)  # accepts the names only: text is never read as a number
        return name
    except (TypeError, ValueError):
        pass
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(f"--base must be a number > 1, e, nats or bits, got {text!r}",
                                 param_hint="'--base'") from None
    try:
        log_base_divisor(value)
    except ValueError:
        raise click.BadParameter(f"--base must be a number > 1, e, nats or bits, got {text!r}",
                                 param_hint="'--base'") from None
    return value


class Seed(click.ParamType):
    """A seed in [0, 2**63 - 1], written so that it is exactly that integer.

    ``1e4`` is fine; ``1e23`` is not an integer that a float holds exactly (it reads as
    99999999999999991611392), so the run would not be the one the user asked for.
    """

    name = "integer"
    LIMIT = 2**63 - 1

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    as_float = float(text)
                except ValueError:
                    self.fail(f"--seed must be an integer in [0, 2**63 - 1], got {text!r}",
                              param, ctx)
                if not (math.isfinite(as_float) and abs(as_float) <= 2**53
                        and as_float == int(as_float)):
                    self.fail(f"--seed must be an integer in [0, 2**63 - 1] written exactly "
                              f"(e-notation is exact only up to 2**53; write the digits), got "
                              f"{text!r}", param, ctx)
                number = int(as_float)
        if not 0 <= number <= self.LIMIT:
            self.fail(f"--seed must be an integer in [0, 2**63 - 1], got {value!r}", param, ctx)
        return number


def unit_name(base: str | float | None) -> str:
    if base is None or str(base).strip().lower() in ("e", "nats"):
        return "nats"
    if str(base).strip().lower() in ("2", "2.0", "bits"):
        return "bits"
    return f"log base {base:g}" if isinstance(base, float) else f"log base {base}"


#: Options each estimator uses; giving another one on the command line is an error, not a
#: silent no-op (``--correction jackknife`` with KSG used to be ignored).
USES = {
    "ksg": {"k", "seed", "standardize", "jitter", "discrete"},
    "ksg2": {"k", "seed", "standardize", "jitter"},
    "mixed": {"k", "seed", "standardize", "jitter", "discrete"},
    "plugin": {"correction"},
}
OPTION_NAMES = {"k": "--k", "seed": "--seed", "standardize": "--standardize",
                "jitter": "--jitter", "correction": "--correction", "discrete": "--discrete"}
#: --discrete choices and what the API takes for them.
DISCRETE = {"auto": "auto", "none": False, "x": "x", "y": "y", "both": True}


@click.command("mi")
@click.argument("x_file", metavar="X")
@click.argument("y_file", metavar="Y")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="ksg", show_default=True,
              help="ksg: KSG algorithm 1; ksg2: algorithm 2; mixed: Gao et al. 2017 (discrete, "
                   "continuous or mixed data, ties allowed); plugin: discrete data.")
@click.option("--k", "k", type=Number(integer=True, low=1), default=3, show_default=True,
              help="Neighbours (k-NN estimators).")
@click.option("--base", default=None,
              help="Log base of the result, a number > 1: e (nats, the default), 2 or bits, "
                   "10, ...")
@click.option("--seed", type=Seed(), default=0, show_default=True,
              help="Seeds the tie-breaking jitter, the only randomness.")
@click.option("--standardize", type=click.Choice(("std", "rank", "none")), default="std",
              show_default=True, help="Per-column scaling before the neighbour search.")
@click.option("--jitter", type=Number(low=0), default=None,
              help="Tie-breaking noise relative to each column's spread "
                   "[default: 1e-10 for ksg/ksg2, 0 for mixed].")
@click.option("--correction", type=click.Choice(("none", "miller_madow", "jackknife")),
              default="none", show_default=True,
              help="Bias correction (plugin only). --k, --seed, --standardize and --jitter "
                   "are for the k-NN estimators only: an option the chosen estimator does not "
                   "use is an error.")
@click.option("--discrete", type=click.Choice(tuple(DISCRETE)), default="auto",
              show_default=True,
              help="Which of X and Y hold labels, compared by equality (ksg, mixed): auto "
                   "reads integer, bool and string arrays as labels (a .csv is always "
                   "read as numbers: name it). One discrete variable: Ross (2014); both: "
                   "the plug-in.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(x_file: str, y_file: str, estimator: str, k: int, base: str | None, seed: int,
            standardize: str, jitter: float | None, correction: str, discrete: str,
            as_json: bool) -> None:
    """Estimate I(X; Y) between the rows of X and Y.

    X and Y are .npy, .csv (comma-separated numbers, no header) or .npz files (FILE.npz:KEY
    picks an array), with one sample per row. The result is in nats unless --base says
    otherwise. Estimates are not clipped: a small negative value means "no detectable
    dependence" at this sample size.
    """
    from noprune_theory import estimators as est

    ctx = click.get_current_context()
    for option, flag in OPTION_NAMES.items():
        source = ctx.get_parameter_source(option)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT") and \
                option not in USES[estimator]:
            users = sorted(e for e, opts in USES.items() if option in opts)
            raise click.UsageError(f"{flag} does not apply to --estimator {estimator} (it is "
                                   f"used by {', '.join(users)})")
    base = parse_base(base)  # fail before loading anything
    x = load_array(x_file, "X")
    y = load_array(y_file, "Y")
    if estimator in ("ksg", "ksg2"):
        value = est.ksg_mi(x, y, k=k, algorithm=1 if estimator == "ksg" else 2,
                           standardize=standardize,
                           jitter=1e-10 if jitter is None else jitter, seed=seed, base=base,
                           discrete=DISCRETE[discrete] if estimator == "ksg" else False)
    elif estimator == "mixed":
        value = est.mixed_mi(x, y, k=k, standardize=standardize,
                             jitter=0.0 if jitter is None else jitter, seed=seed, base=base,
                             discrete=DISCRETE[discrete])
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
        if estimator != "ksg2":
            record["discrete"] = discrete
    if as_json:
        click.echo(dump_json(record))
        return
    details = ", ".join(f"{key}={record[key]}" for key in record
                        if key not in ("estimate", "unit", "x", "y"))
    click.echo(f"I(X; Y) = {value:.6g} {record['unit']}  ({details})")
