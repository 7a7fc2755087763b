"""BUG tests: one BLAS thread (small matrices; threaded BLAS only thrashes on a shared machine)."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="package")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield
