"""Shared test configuration: a deterministic hypothesis profile and a non-interactive plot backend."""

import os

import matplotlib
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")
settings.register_profile("tnkit", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("tnkit")
