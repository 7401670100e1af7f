"""Validate flow: check every finished response against its record's measurements; pairs or rejections."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress
from tasks.shards import chunk
from tasks.validate.report import quality_markdown, quality_report
from tasks.validate.stage import ValidateCounts, duplicate_index, pending_validation, validate_shard


@task(name="validate-shard")
def validate_shard_task(root_dir: str, responses: list[dict], cfg, index) -> ValidateCounts:
    return validate_shard(root_dir, responses, cfg, index)


@flow(name="validate", flow_run_name="validate/{data}")
def validate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                  config_path: str | None = None) -> dict:
    cfg, root = settings(data, config_path)
    with root.writer_lock("validate"):
        pending = pending_validation(root, teacher, prompt_version)
        index = duplicate_index(root, cfg)  # shards run in order: each sees the answers accepted before it
        progress, counts = StageProgress("validate", len(pending), "responses"), []
        for shard in chunk(pending, cfg.shard_size):
            counts.append(validate_shard_task(str(root.root), shard, cfg, index))
            progress.advance(len(shard))
        total = reduce(lambda a, b: a + b, counts, ValidateCounts())
        refresh(root)
        report = quality_report(root)
    if FlowRunContext.get() is not None:
        create_markdown_artifact(key="dataset-quality", markdown=quality_markdown(report),
                                 description="gemflow dataset quality: acceptance, rejections, coverage, labels")
    return summarize("validate", total, {"acceptance_rate": report.acceptance_rate})
