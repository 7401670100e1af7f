"""Ingest flow: WFDB corpora in, canonical records and quarantine out, one task per shard."""
from __future__ import annotations

from prefect import flow, task

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress
from flows.stages import SHARD_TASK, run_shards
from schemas.config import SourceConfig
from storage.layout import RootHandle
from storage.parquet import TableStore
from tasks.ingest.stage import SHARDS, ShardCounts, ingest_shard, pending_records
from tasks.results import StageResult


def _shard_run_name() -> str:
    from prefect.runtime import task_run
    return f"ingest/{task_run.parameters['source'].name or 'source'}"


@task(name="ingest-shard", task_run_name=_shard_run_name, **SHARD_TASK)
def ingest_shard_task(root_dir: str | RootHandle, metas: list, source: SourceConfig, ingest) -> ShardCounts:
    return ingest_shard(source, ingest, root_dir, metas)


def parse_source(spec: str) -> SourceConfig:
    """`PATH` or `KIND:PATH` (kind: wfdb, ptbxl, mimic, code15) on the command line."""
    kind, sep, path = spec.partition(":")
    if sep and kind in {"wfdb", "ptbxl", "mimic", "code15", "demo", "auto"}:
        return SourceConfig(path=path, kind=kind)
    return SourceConfig(path=spec)


@flow(name="ingest", flow_run_name="ingest/{data}")
def ingest_flow(data: str, sources: list[str] | None = None, limit: int | None = None,
                config_path: str | None = None) -> StageResult[ShardCounts]:
    cfg, root = settings(data, config_path)
    srcs = [parse_source(s) for s in sources] if sources else cfg.sources
    if not srcs:
        raise ValueError("no sources: pass --source PATH or list `sources:` in gemflow.yaml")
    store = TableStore(root)
    total = ShardCounts()
    progress = StageProgress("ingest", 0)  # grows source by source
    with root.writer_lock("ingest"):
        SHARDS.drop_orphans(root)
        for src in srcs:
            remaining = None if limit is None else max(0, limit - total.ingested - total.quarantined)
            if remaining == 0:
                break
            pending = pending_records(src, cfg.ingest, store, remaining)
            progress.grow(len(pending))
            total = total + run_shards(SHARDS.name, root.handle(), pending, ingest_shard_task, src, cfg.ingest,
                                       shard_size=cfg.shard_size, zero=ShardCounts(), progress=progress)
        refresh(root)
    return summarize("ingest", StageResult(total))
