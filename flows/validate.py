"""Validate flow: check every finished response against its record's measurements; pairs or rejections."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task

from flows.common import refresh, settings, summarize
from tasks.shards import chunk
from tasks.validate.stage import ValidateCounts, pending_validation, validate_shard


@task(name="validate-shard")
def validate_shard_task(root_dir: str, responses: list[dict], cfg) -> ValidateCounts:
    return validate_shard(root_dir, responses, cfg)


@flow(name="validate", flow_run_name="validate/{data}")
def validate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                  config_path: str | None = None) -> dict:
    cfg, root = settings(data, config_path)
    with root.writer_lock("validate"):
        pending = pending_validation(root, teacher, prompt_version)
        futures = [validate_shard_task.submit(str(root.root), shard, cfg) for shard in chunk(pending, cfg.shard_size)]
        total = reduce(lambda a, b: a + b, [f.result() for f in futures], ValidateCounts())
        refresh(root)
    return summarize("validate", total)
