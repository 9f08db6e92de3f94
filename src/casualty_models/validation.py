"""One vocabulary for checking settings: choices, integers, intervals, seeds.

Every model class validates its configuration in ``__post_init__`` with these
functions, and the command line validates its options with them, so that the
same mistake always gives the same kind of error
(:class:`~casualty_models.errors.ConfigurationError` unless a caller asks for
another, e.g. :class:`~casualty_models.errors.PriorError` for a prior
parameter) and the same kind of message: the parameter, the value received,
what was expected, and the fix.

Each check returns the value (normalised: a Python ``int`` or ``float``) so
that it can be used inline.

Examples
--------
>>> check_choice("pooling", "partial", ("independent", "partial"))
'partial'
>>> check_choice("pooling", "pooled", ("independent", "partial"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
casualty_models.errors.ConfigurationError: pooling='pooled' is unknown: expected one of ...
>>> check_int("draws", 1000, low=1)
1000
>>> check_int("thin", 0, low=1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
casualty_models.errors.ConfigurationError: thin=0 is not allowed: expected an integer >= 1. ...
>>> check_probability("level", 0.95)
0.95
>>> check_number("max_ratio", 1.0, low=1.0, low_open=True)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
casualty_models.errors.ConfigurationError: max_ratio=1.0 is not allowed: expected a number > 1. ...
>>> check_seed(-1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
casualty_models.errors.ConfigurationError: seed=-1 is not allowed: expected a non-negative ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import CasualtyModelsError, ConfigurationError

__all__ = ["check_choice", "check_int", "check_number", "check_probability", "check_seed"]

def _fail(error: type[CasualtyModelsError], name: str, value: Any, expected: str,
          fix: str, *, unknown: bool = False) -> CasualtyModelsError:
    verb = "is unknown" if unknown else "is not allowed"
    return error(f"{name}={value!r} {verb}: expected {expected}. Fix: {fix}.")


def check_choice[T](name: str, value: T, choices: Iterable[Any], *,
                 error: type[CasualtyModelsError] = ConfigurationError) -> T:
    """Return ``value`` if it is one of ``choices``, else raise naming them all."""
    options = list(choices)
    try:
        ok = value in options
    except TypeError:  # unhashable or incomparable values are simply not a choice
        ok = False
    if not ok:
        raise _fail(error, name, value, f"one of {options}", "pass one of them", unknown=True)
    return value


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None,
              error: type[CasualtyModelsError] = ConfigurationError) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[low, high]``.

    Booleans and floats (even whole ones) are refused: a count of draws or
    classes given as ``2.0`` or ``True`` is more likely a mistake than intended.
    """
    if low is not None and high is not None:
        expected, fix = f"an integer between {low} and {high}", f"pass {low} <= {name} <= {high}"
    elif low is not None:
        expected, fix = f"an integer >= {low}", f"pass {name} >= {low}"
    elif high is not None:
        expected, fix = f"an integer <= {high}", f"pass {name} <= {high}"
    else:
        expected, fix = "an integer", f"pass a whole number for {name}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _fail(error, name, value, expected, fix)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise _fail(error, name, v, expected, fix)
    return v


def check_number(name: str, value: Any, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False,
                 error: type[CasualtyModelsError] = ConfigurationError) -> float:
    """Return ``value`` as a finite ``float`` within the interval given.

    ``low_open``/``high_open`` exclude the end points (``low=0, low_open=True``
    is "a number > 0").
    """
    lo_s = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi_s = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    if low is not None and high is not None:
        expected = (f"a number in {'(' if low_open else '['}{low:g}, {high:g}"
                    f"{')' if high_open else ']'}")
        fix = f"pass {name} {lo_s} and {hi_s}"
    elif low is not None or high is not None:
        expected, fix = f"a number {lo_s or hi_s}", f"pass {name} {lo_s or hi_s}"
    else:
        expected, fix = "a finite number", f"pass a finite number for {name}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise _fail(error, name, value, expected, fix)
    v = float(value)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        raise _fail(error, name, value if isinstance(value, int | float) else v, expected, fix)
    return v


def check_probability(name: str, value: Any, *,
                      error: type[CasualtyModelsError] = ConfigurationError) -> float:
    """Return ``value`` if it is a probability strictly between 0 and 1."""
    return check_number(name, value, low=0.0, high=1.0, low_open=True, high_open=True,
                        error=error)


def check_seed(value: Any, name: str = "seed") -> int | None:
    """Return a random seed: a non-negative integer, or ``None`` for an unseeded run.

    NumPy refuses negative seeds deep inside the sampler; checking here gives
    a one-line error at the boundary instead of a traceback.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise _fail(ConfigurationError, name, value, "a non-negative integer or None",
                    "pass a seed such as 1")
    return int(value)
