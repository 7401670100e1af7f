"""Generate flow: ask the configured teacher about every measured record, journaled in the ledger."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task

from flows.common import refresh, settings, summarize
from storage.ledger import Ledger
from storage.parquet import TableStore
from tasks.shards import chunk
from tasks.teachers.stage import GenerateCounts, generate_shard, pending_generation


@task(name="generate-shard")
def generate_shard_task(root_dir: str, record_ids: list[str], cfg, teacher: str, version: str) -> GenerateCounts:
    return generate_shard(root_dir, record_ids, cfg, teacher, version)


@flow(name="generate", flow_run_name="generate/{teacher}/{prompt_version}")
def generate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                  config_path: str | None = None, limit: int | None = None) -> dict:
    cfg, root = settings(data, config_path, teacher=teacher, prompt_version=prompt_version)
    teacher, version = cfg.teacher, cfg.prompt_version
    total = GenerateCounts()
    with root.writer_lock("generate"):
        pending = pending_generation(root, teacher, version)[:limit]
        # shards run one after another: the teacher's own limiter spreads the calls of a shard
        for shard in chunk(pending, cfg.shard_size):
            total = reduce(lambda a, b: a + b, [generate_shard_task(str(root.root), shard, cfg, teacher, version)], total)
        with Ledger(root.ledger_path) as ledger:
            TableStore(root).replace("responses", ledger.snapshot())
            spent = ledger.spent_usd()
            resent = ledger.resent()
        refresh(root)
    return summarize("generate", total, {"spent_usd": round(spent, 6), "resent_after_crash": resent})
