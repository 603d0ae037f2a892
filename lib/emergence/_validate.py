"""Argument checks shared by the package: every bad input names the parameter and the range."""

from __future__ import annotations

import numpy as np


def numbers(name: str, value) -> np.ndarray:
    """``value`` as a float array; a clear error for booleans, strings, None and the like."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged sequences
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    return arr.astype(float)


def positive(name: str, value) -> None:
    """Require ``value > 0`` (elementwise for arrays; infinity allowed, as a limit)."""
    if not np.all(numbers(name, value) > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")


def finite_positive(name: str, value) -> None:
    """Require a finite ``value > 0`` (elementwise for arrays)."""
    arr = numbers(name, value)
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def non_negative(name: str, value) -> None:
    """Require ``value >= 0`` (elementwise for arrays)."""
    if not np.all(numbers(name, value) >= 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def in_open_interval(name: str, value, low: float, high: float) -> None:
    """Require ``low < value < high`` (elementwise for arrays)."""
    arr = numbers(name, value)
    if not np.all((arr > low) & (arr < high)):
        raise ValueError(f"{name} must lie in ({low}, {high}), got {value!r}")


def in_half_open_interval(name: str, value, low: float, high: float) -> None:
    """Require ``low <= value < high`` (elementwise for arrays)."""
    arr = numbers(name, value)
    if not np.all((arr >= low) & (arr < high)):
        raise ValueError(f"{name} must lie in [{low}, {high}), got {value!r}")


def probability(name: str, value) -> None:
    """Require ``0 < value <= 1`` (elementwise for arrays)."""
    arr = numbers(name, value)
    if not np.all((arr > 0) & (arr <= 1)):
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")


def positive_int(name: str, value) -> None:
    """Require a Python or numpy integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def non_negative_int(name: str, value) -> None:
    """Require a Python or numpy integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def one_of(name: str, value, allowed: tuple) -> None:
    """Require ``value`` to be one of ``allowed`` (compared as is: ``"no"`` is not ``False``)."""
    if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def int_sequence(name: str, value, low: int = 1) -> None:
    """Require a non-empty sequence of integers >= ``low``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0 or \
            any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low
                for v in value):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {low}, "
                         f"got {value!r}")


def finite(name: str, value) -> None:
    """Require finite values (no NaN or infinity)."""
    if not np.all(np.isfinite(numbers(name, value))):
        raise ValueError(f"{name} must be finite, got {value!r}")
