"""Task runners for CPU-bound shards: threads, a local process pool, or Dask; handed to a flow at call time.

A flow never picks its runner when it is imported: the caller passes one,
`features_flow.with_options(task_runner=task_runner("dask", 2))(data)`, and the build flow does the same
for its subflows from its `runner` parameter. prefect-dask and distributed (~0.4 s to import) are
imported only when a Dask runner is asked for (flows/dask_runner.py).
"""
from __future__ import annotations

import os

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

RUNNERS = ("thread", "process", "dask")


def runner_workers(workers: int | None = None) -> int:
    """Parallel shard tasks: the number given, or this machine's CPU count."""
    return workers or (os.cpu_count() or 1)


def task_runner(kind: str = "thread", workers: int | None = None, address: str | None = None) -> TaskRunner:
    """The runner for shard tasks: threads (default), a local process pool, or Dask (`address`: a running
    scheduler, tcp://host:8786; none: a LocalCluster of `workers` processes)."""
    workers = runner_workers(workers)
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from flows.dask_runner import dask_runner
        return dask_runner(workers, address)
    raise ValueError(f"unknown task runner {kind!r} ({', '.join(RUNNERS)})")
