"""Shared test configuration: deterministic hypothesis profile, non-interactive plots."""

import os

import matplotlib
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")
settings.register_profile("tnkit", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("tnkit")

try:  # tiny products dominate the tests: one BLAS thread is faster on a 2-core machine
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass
