"""The Dask task runner for CPU-bound shards: a local `LocalCluster`, or a running scheduler's address.

Imported only when `flows.runners.task_runner("dask")` is called (prefect-dask and distributed cost ~0.4 s to import).
Dask workers are other processes, so they need the flow's Prefect API to report their task runs.
Under a server (`PREFECT_API_URL` set, e.g. `gemflow serve` or a deployment) they get it through the
serialized settings context. In ephemeral mode the API is a temporary server the parent process
started; without its address every worker would start its own temporary server on the same SQLite
file ("database is locked"), so the runner puts that address into the context it sends.
"""
from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner


class GemflowDaskTaskRunner(DaskTaskRunner):
    """`DaskTaskRunner` that hands the parent's Prefect API address to its workers, ephemeral or not."""

    def __enter__(self) -> "GemflowDaskTaskRunner":
        super().__enter__()
        if not PREFECT_API_URL.value():
            with get_client(sync_client=True) as client:
                url = str(client.api_url).rstrip("/")
            self._exit_stack.enter_context(temporary_settings({PREFECT_API_URL: url}))
        return self


def dask_runner(workers: int, address: str | None = None) -> GemflowDaskTaskRunner:
    """Connect to `address` (tcp://host:8786) or start a LocalCluster of `workers` one-thread processes."""
    if address:
        return GemflowDaskTaskRunner(address=address)
    return GemflowDaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                                 "processes": True, "dashboard_address": None})
