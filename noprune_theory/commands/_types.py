"""Click parameter types that validate with the same messages as the Python API."""
from __future__ import annotations

import click

from noprune_theory._validation import check_scalar


class Number(click.ParamType):
    """A number given as text (``1e4`` works), checked by :func:`check_scalar`.

    The error names the option (``--n``) and the allowed range.
    """

    name = "number"

    def __init__(self, *, integer=False, low=None, high=None, low_inclusive=True,
                 high_inclusive=True):
        self.kwargs = dict(integer=integer, low=low, high=high, low_inclusive=low_inclusive,
                           high_inclusive=high_inclusive)
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = value
        else:
            text = str(value)
        opt = param.opts[0] if param is not None and param.opts else "value"
        try:
            return check_scalar(text, opt, **self.kwargs)
        except ValueError as exc:
            # click prefixes "Invalid value for '--n':"; keep our sentence whole
            self.fail(str(exc), param, ctx)
