"""Click parameter types that validate with the same messages as the Python API."""
from __future__ import annotations

from typing import Any

import click

from noprune_theory._validation import check_scalar


class Number(click.ParamType):
    """A number given as text (``1e4`` works), checked by :func:`check_scalar`.

    The error names the option (``--n``) and the allowed range.
    """

    name = "number"

    def __init__(self, *, integer: bool = False, low: float | None = None,
                 high: float | None = None, low_inclusive: bool = True,
                 high_inclusive: bool = True) -> None:
        self.kwargs = dict(integer=integer, low=low, high=high, low_inclusive=low_inclusive,
                           high_inclusive=high_inclusive)
        self.name = "integer" if integer else "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float | int:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = value
        else:
            text = str(value)
        opt = param.opts[0] if param is not None and param.opts else "value"
        try:
            return check_scalar(text, opt, text=True, **self.kwargs)
        except ValueError as exc:
            # click prefixes "Invalid value for '--n':"; keep our sentence whole
            self.fail(str(exc), param, ctx)


def _non_finite_path(obj, path="$"):
    """The path (``$.table[2].size``) of the first NaN or inf in *obj*, else None."""
    import math

    if isinstance(obj, float):
        return None if math.isfinite(obj) else path
    if isinstance(obj, dict):
        items = ((f"{path}.{key}", value) for key, value in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{path}[{i}]", value) for i, value in enumerate(obj))
    else:
        return None
    for sub, value in items:
        found = _non_finite_path(value, sub)
        if found:
            return found
    return None


def dump_json(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of *obj* (``allow_nan=False``): never ``NaN`` or ``Infinity``.

    Every command prints JSON through this function, so its output is always valid JSON (RFC
    8259 has no NaN or inf). A non-finite number is a result the command failed to compute: it
    raises :class:`click.ClickException` naming where it sits instead of printing it.
    """
    import json

    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:
        where = _non_finite_path(obj) or "a value"
        raise click.ClickException(
            f"the result holds a number that is not finite at {where}, which JSON cannot "
            "represent") from None
