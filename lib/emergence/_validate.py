"""Argument checks shared by the package: every bad input names the parameter and the range."""

from __future__ import annotations

import numpy as np


def positive(name: str, value) -> None:
    """Require ``value > 0`` (elementwise for arrays)."""
    if not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")


def non_negative(name: str, value) -> None:
    """Require ``value >= 0`` (elementwise for arrays)."""
    if not np.all(np.asarray(value) >= 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def in_open_interval(name: str, value, low: float, high: float) -> None:
    """Require ``low < value < high`` (elementwise for arrays)."""
    arr = np.asarray(value)
    if not np.all((arr > low) & (arr < high)):
        raise ValueError(f"{name} must lie in ({low}, {high}), got {value!r}")


def probability(name: str, value) -> None:
    """Require ``0 < value <= 1`` (elementwise for arrays)."""
    arr = np.asarray(value)
    if not np.all((arr > 0) & (arr <= 1)):
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")


def positive_int(name: str, value) -> None:
    """Require a Python or numpy integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def finite(name: str, value) -> None:
    """Require finite values (no NaN or infinity)."""
    if not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise ValueError(f"{name} must be finite, got {value!r}")
