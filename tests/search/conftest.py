"""Shared pieces of the structure-search tests."""

import pytest


@pytest.fixture
def on_local_dask():
    """``run(search_fn, x, **kw)``: the search run on a 2-worker Dask LocalCluster."""
    distributed = pytest.importorskip("distributed")

    def run(search_fn, x, **kw):
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            return search_fn(x, scheduler=client, **kw)

    return run
