"""Shared test configuration: deterministic hypothesis profile, non-interactive plots."""

import os

import matplotlib
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")
settings.register_profile("tnkit", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("tnkit")
