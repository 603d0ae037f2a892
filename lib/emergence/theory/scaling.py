"""Scaling laws of the multilinear model (paper Section 4): filled in by Part II."""

__all__: list[str] = []
