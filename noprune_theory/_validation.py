"""Argument checks shared by the public API and the command line.

Public functions validate every argument up front and raise :class:`ValueError` (or
:class:`TypeError`) with a message in the user's words, naming the argument and the allowed
range, e.g. ``"k must be an integer >= 1, got 0"``. The CLI turns these messages into exit code 2
with the same text, so the API and the command line never disagree. Private helpers trust their
inputs.
"""
from __future__ import annotations

import math
import numbers
import sys

__all__ = ["ArgumentTypeError", "check_scalar", "check_choice", "check_bool", "check_finite_array",
           "check_random_state", "check_seed", "describe_range"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a string where a number belongs, a complex number).

    A :class:`TypeError`, as Python raises for wrong types; also a :class:`ValueError`, so that
    code written against the earlier contract (every bad argument raised ValueError) and the
    command line's handler of ValueError keep working.
    """


def describe_range(low=None, high=None, *, low_inclusive=True, high_inclusive=True):
    """Words for an interval: ``">= 1"``, ``"in (0, 1)"``, ``"in [0, 1)"``."""
    if low is not None and high is not None:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        return f"in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"{'>=' if low_inclusive else '>'} {low:g}"
    if high is not None:
        return f"{'<=' if high_inclusive else '<'} {high:g}"
    return "finite"


def check_scalar(
    value,
    name,
    *,
    integer=False,
    low=None,
    high=None,
    low_inclusive=True,
    high_inclusive=True,
    text=False,
):
    """Return *value* as a float (or int) after checking it is finite and in range.

    Parameters
    ----------
    value : object
        What the user passed: a real number (Python or NumPy, or a 0-d array of one).
    name : str
        The argument's name as the user knows it (``"n"``, ``"--eps"``).
    integer : bool, default False
        Require an integral value (``1e4`` is accepted and returned as ``10000``).
    low, high : float or None
        Bounds of the allowed interval; ``None`` means unbounded.
    low_inclusive, high_inclusive : bool, default True
        Whether the bounds belong to the interval.
    text : bool, default False
        Parse a string such as ``"1e4"``. Only the command line and configuration files, whose
        values are text, pass True; the Python API refuses strings (``TypeError``), so that
        ``prune(sparsity="0.5")`` is an error rather than a silent conversion.

    Returns
    -------
    float or int

    Raises
    ------
    ArgumentTypeError
        (a TypeError and a ValueError) If *value* is a string (with ``text=False``) or a
        complex number; the message names *name*.
    ValueError
        If *value* is not a finite number in the allowed range. The message names *name*, the
        allowed range and the value received.
    """
    kind = "an integer" if integer else "a number"
    rng = describe_range(low, high, low_inclusive=low_inclusive, high_inclusive=high_inclusive)
    expected = f"{name} must be {kind} {rng}".rstrip()
    # NumPy scalars and 0-d arrays carry a dtype (no NumPy import here: --help stays fast)
    dtype = getattr(value, "dtype", None)
    if isinstance(value, bool) or (dtype is not None and dtype.kind == "b"):
        raise ValueError(f"{expected}, got {value!r}")
    if isinstance(value, (str, bytes)) or (dtype is not None and dtype.kind in "USO"):
        if not (text and isinstance(value, str)):
            raise ArgumentTypeError(
                f"{expected}, got the string {value!r} (pass a number, not text)"
                if isinstance(value, str) else f"{expected}, got {value!r}")
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{expected}, got {value!r}") from None
    elif isinstance(value, complex) or (dtype is not None and dtype.kind == "c"):
        raise ArgumentTypeError(f"{expected}, got the complex number {value!r}")
    elif isinstance(value, numbers.Real):
        number = float(value)
    else:
        try:
            number = float(value)  # 0-d arrays
        except (TypeError, ValueError):
            raise ValueError(f"{expected}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{expected}, got {value!r}")
    if number != 0 and abs(number) < sys.float_info.min:
        # a subnormal double keeps only a few digits: 1e-320 is stored as 9.99989e-321
        raise ValueError(f"{expected} and at least {sys.float_info.min:.4g} in magnitude (a "
                         f"smaller double loses digits), got {value!r}")
    if integer:
        if number != math.floor(number):
            raise ValueError(f"{expected}, got {value!r}")
        number = int(number)
    too_low = low is not None and (number < low or (not low_inclusive and number == low))
    too_high = high is not None and (number > high or (not high_inclusive and number == high))
    if too_low or too_high:
        raise ValueError(f"{expected}, got {value!r}")
    return number


def check_bool(value, name):
    """Return *value* as a bool if it is True or False (Python or NumPy), else raise TypeError.

    A truthy string such as ``"no"`` or a number is refused rather than read as True.
    """
    if isinstance(value, bool) or (getattr(value, "dtype", None) is not None
                                   and value.dtype.kind == "b" and getattr(value, "ndim", 0) == 0):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")


_EXACT_INT = 2**53  # every integer up to here is exactly a double


def check_seed(seed, name="seed", *, none=False, generator=True):
    """Return a validated seed: an integer >= 0, a ``numpy.random.Generator`` or None.

    The one seed check of the package (the scikit-learn ``check_random_state`` idea): every
    function taking ``seed`` accepts the same things and refuses the same things with the
    same message.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        An integer >= 0 (Python or NumPy; a float only if it is exactly an integer below
        2^53, so ``3.0`` is 3 and ``1e23``, which is not the integer 10^23, is refused); a
        ``numpy.random.Generator`` when *generator* is True (returned as is: drawing from it
        advances its state); None when *none* is True (fresh entropy, not reproducible).
    name : str, default "seed"
        The argument's name in messages.
    none, generator : bool
        Whether None and a Generator are accepted.

    Returns
    -------
    int, numpy.random.Generator or None

    Raises
    ------
    ArgumentTypeError
        (a TypeError and a ValueError) For a string, a bool, a ``RandomState`` or any other
        type.
    ValueError
        For a negative integer or a float that is not exactly an integer.
    """
    import numpy as np  # here, not at module level: `--help` must not import NumPy

    kinds = ["an integer >= 0"]
    if generator:
        kinds.append("a numpy.random.Generator")
    if none:
        kinds.append("None")
    expected = (f"{name} must be {', '.join(kinds[:-1])} or {kinds[-1]}" if len(kinds) > 1
                else f"{name} must be {kinds[0]}")
    if seed is None:
        if none:
            return None
        raise ArgumentTypeError(f"{expected}, got None")
    if isinstance(seed, np.random.Generator):
        if generator:
            return seed
        raise ArgumentTypeError(f"{expected}, got a numpy.random.Generator")
    dtype = getattr(seed, "dtype", None)
    if isinstance(seed, (bool, str, bytes)) or (dtype is not None and dtype.kind not in "iuf"):
        raise ArgumentTypeError(f"{expected}, got {seed!r}")
    if isinstance(seed, numbers.Integral):
        value = int(seed)
    elif isinstance(seed, numbers.Real) and getattr(seed, "ndim", 0) == 0:
        number = float(seed)
        if not (math.isfinite(number) and number == math.floor(number)
                and abs(number) <= _EXACT_INT):
            raise ValueError(f"{expected}, got {seed!r} (a float that is not exactly an "
                             "integer; pass an int)")
        value = int(number)
    else:
        raise ArgumentTypeError(f"{expected}, got {seed!r}")
    if value < 0:
        raise ValueError(f"{expected}, got {seed!r}")
    return value


def check_random_state(seed, name="seed", *, none=False):
    """A ``numpy.random.Generator`` from *seed* (see :func:`check_seed`).

    An integer seeds :func:`numpy.random.default_rng`; a Generator is returned as is; None
    (when allowed) gives a generator seeded from fresh entropy.
    """
    import numpy as np

    return np.random.default_rng(check_seed(seed, name, none=none, generator=True))


def check_choice(value, name, choices):
    """Return *value* if it is one of *choices*, else raise ValueError listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_finite_array(x, name, *, ndim=None, xp=None):
    """Raise ValueError if array *x* has the wrong number of axes or holds NaN or inf.

    Works for any array-API namespace (*xp* is inferred when not given).
    """
    if xp is None:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            words = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {words} axes, got shape {tuple(x.shape)}")
    if xp.isdtype(x.dtype, ("real floating", "complex floating")):
        if not bool(xp.all(xp.isfinite(x))):
            raise ValueError(f"{name} must not contain NaN or inf")
    return x
