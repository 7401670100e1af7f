"""What every stage flow shares: task runners, the catalog refresh, summary artifacts, and run settings."""
from __future__ import annotations

import os
from dataclasses import asdict, is_dataclass
from typing import Any, Iterable

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from prefect import get_run_logger  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from prefect.context import FlowRunContext  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner  # noqa: E402

from schemas.config import GemflowConfig, load_config  # noqa: E402
from schemas.tables import TABLE_SCHEMAS  # noqa: E402
from storage.catalog import refresh_catalog  # noqa: E402
from storage.layout import DataRoot  # noqa: E402

RUNNER_ENV = "GEMFLOW_TASK_RUNNER"  # "thread" (default), "process" or "dask"
WORKERS_ENV = "GEMFLOW_WORKERS"
DASK_ADDRESS_ENV = "GEMFLOW_DASK_ADDRESS"


def task_runner(kind: str | None = None, workers: int | None = None):
    """The runner for CPU-bound shard tasks: threads (default), a local process pool, or Dask."""
    kind = kind or os.environ.get(RUNNER_ENV, "thread")
    workers = workers or int(os.environ.get(WORKERS_ENV, "0")) or (os.cpu_count() or 1)
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner
        address = os.environ.get(DASK_ADDRESS_ENV)
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})
    raise ValueError(f"unknown task runner {kind!r} (thread, process or dask)")


def settings(data: str, config_path: str | None = None, **overrides: Any) -> tuple[GemflowConfig, DataRoot]:
    """The validated config (file + overrides) and the opened dataset root."""
    cfg = load_config(config_path, data_dir=data, **overrides)
    return cfg, DataRoot.open(cfg.data_dir)


def refresh(root: DataRoot) -> None:
    """Bring the DuckDB catalog's views up to date with the Parquet parts."""
    if not refresh_catalog(root, TABLE_SCHEMAS):
        _logger().warning("catalog.duckdb is open elsewhere; it will refresh on the next stage")


def _logger():
    try:
        return get_run_logger()
    except Exception:  # outside a run (plain function call in a test)
        import logging
        return logging.getLogger("gemflow")


def summarize(stage: str, counts: Any, extra: dict | None = None) -> dict:
    """Log a stage's counts and publish them as a table artifact on the flow run."""
    data = asdict(counts) if is_dataclass(counts) else dict(counts)
    data.update(extra or {})
    _logger().info("%s: %s", stage, ", ".join(f"{k}={v}" for k, v in data.items()))
    if FlowRunContext.get() is not None:
        create_table_artifact(
            key=f"{stage}-counts", table=[{"count": k, "value": v} for k, v in data.items()],
            description=f"gemflow {stage}: what this run did",
        )
    return data


def results(futures: Iterable) -> list:
    """Wait for submitted shard tasks, in submission order."""
    return [f.result() for f in futures]
