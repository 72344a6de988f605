"""Argument checks shared by the public entry points: one message format for ints, reals, sizes and devices."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_bool", "check_choice", "check_device", "check_int", "check_positive", "check_real", "check_shape"]


def check_bool(name: str, value) -> bool:
    """``value`` as a Python bool (``np.True_`` too): ``TypeError`` naming the argument for anything else (a truthy
    string or a one-element array is no switch)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value, choices: tuple):
    """The element of ``choices`` equal to ``value`` (so ``np.int64(6)`` gives ``6``): ``ValueError`` naming the
    argument and the choices otherwise (bools never match, though ``True == 1``)."""
    found = None
    if not isinstance(value, bool):
        for c in choices:
            try:
                if type(c) is not bool and bool(value == c):
                    found = (c,)
                    break
            except (TypeError, ValueError, RuntimeError):  # an array or tensor, or a value that does not compare
                break
    if found is None:
        shown = " or ".join(map(repr, choices)) if len(choices) == 2 else f"one of {choices}"
        raise ValueError(f"{name} must be {shown}, got {value!r}")
    return found[0]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as a Python int: ``TypeError`` unless it is an integer (numpy ints too, bools not),
    ``ValueError`` below ``minimum``; both messages name the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_shape(name: str, value, minimum: int, what: str = "(H, W)", lengths: tuple[int, ...] = (2,)) -> tuple:
    """``value`` as a tuple of Python ints: ``TypeError`` unless it is a tuple or list (``torch.Size`` too) of one of
    ``lengths`` ints, ``ValueError`` for an element below ``minimum``; the messages name the argument (and element)."""
    if not isinstance(value, (tuple, list)) or len(value) not in lengths:
        raise TypeError(f"{name} must be {what}, ints, got {value!r}")
    return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))


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


def check_device(device, name: str = "device"):
    """A ``torch.device`` from ``None`` or ``"auto"`` (CUDA when available, else CPU), a string or a device.

    Raises ``TypeError`` for another type, ``ValueError`` for a string torch does not know, ``RuntimeError`` for a
    CUDA device this machine does not have; the messages name the argument.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{name} {str(device)!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise RuntimeError(f"{name} {str(device)!r} requested but this machine has {count} GPUs")
    return dev
