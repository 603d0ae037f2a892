"""Experiment sizes: the ``paper`` profile (the paper's settings) and the ``quick`` profile.

The active profile comes from the ``EMERGENCE_PROFILE`` environment variable and defaults to
``paper``. ``quick`` runs the same code paths at a size that finishes in seconds on two CPU
cores; it is what the test suite executes, and its results are never stored.
"""

from __future__ import annotations

import os

PROFILES = ("paper", "quick")
ENV_VAR = "EMERGENCE_PROFILE"


def active_profile() -> str:
    """The profile named by ``EMERGENCE_PROFILE`` (default ``paper``), validated."""
    return check_profile(os.environ.get(ENV_VAR, "paper"))


def check_profile(name: str) -> str:
    """Return ``name`` if it is a known profile, else raise naming the allowed values."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {name!r} "
                         f"(set {ENV_VAR} to choose)")
    return name


def pick(paper, quick, profile: str | None = None):
    """Choose between a paper-size and a quick-size value for the given (or active) profile."""
    profile = active_profile() if profile is None else check_profile(profile)
    return paper if profile == "paper" else quick
