"""Argument checks shared by the public entry points (one message format for every int argument)."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_int", "check_positive", "check_real"]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as a Python int: ``TypeError`` unless it is an integer (numpy ints too, bools not),
    ``ValueError`` below ``minimum``; both messages name the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(name: str, value, *, nan: bool = True) -> float:
    """``value`` as a Python float: ``TypeError`` unless it is a real number (numpy floats and ints too, bools not),
    ``ValueError`` for NaN when ``nan`` is False; the messages name the argument. Other ranges are the caller's."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not nan and math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return value


def check_positive(name: str, value) -> float:
    """``value`` as a Python float: :func:`check_real`, then ``ValueError`` unless it is finite and > 0."""
    value = check_real(name, value)
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value
