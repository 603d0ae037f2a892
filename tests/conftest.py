"""Test-wide set-up: tests and nbval always run in the quick profile."""

import os

os.environ.setdefault("EMERGENCE_PROFILE", "quick")
