"""Extended models compared with neural networks (paper Section 5): filled in by Part III."""

__all__: list[str] = []
