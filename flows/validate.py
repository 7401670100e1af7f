"""Validate flow: check every finished response against its record's measurements; pairs or rejections."""
from __future__ import annotations

from collections import deque

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress
from flows.runners import runner_workers
from flows.stages import SHARD_TASK
from storage.layout import RootHandle
from tasks.results import ValidateResult
from tasks.shards import chunk
from tasks.validate.report import quality_markdown, quality_report
from tasks.validate.stage import (SHARDS, Checked, ValidateCounts, check_shard, commit_checked, duplicate_index,
                                  pending_validation)


def _commit(root, item, index, progress: StageProgress) -> ValidateCounts:
    future, size = item
    counts = commit_checked(root.location, future.result(), index)
    progress.advance(size)
    return counts


@task(name="validate-shard", **SHARD_TASK)
def check_shard_task(root_dir: str | RootHandle, responses: list, cfg) -> list[Checked]:  # list[FinishedCall]
    return check_shard(root_dir, responses, cfg)


@flow(name="validate", flow_run_name="validate/{data}")
def validate_flow(data: str, teacher: str | None = None, prompt_version: str | None = None,
                  config_path: str | None = None, workers: int | None = None) -> ValidateResult:
    """Record-level rules run on shards in parallel; the cross-record duplicate check and the commits
    follow in shard order in this process, so the outcome does not depend on which shard finished first."""
    cfg, root = settings(data, config_path)
    with root.writer_lock("validate"):
        SHARDS.drop_orphans(root)  # rejections a crash left without their pairs part: validated again
        pending = pending_validation(root, teacher, prompt_version)
        index = duplicate_index(root, cfg)
        progress, total = StageProgress("validate", len(pending), "responses"), ValidateCounts()
        ahead: deque = deque()  # checked shards not yet committed: two per worker, so memory stays bounded
        for shard in chunk(pending, cfg.shard_size):
            ahead.append((check_shard_task.submit(root.handle(), shard, cfg), len(shard)))
            if len(ahead) >= 2 * runner_workers(workers):
                total = total + _commit(root, ahead.popleft(), index, progress)
        while ahead:
            total = total + _commit(root, ahead.popleft(), index, progress)
        refresh(root)
        report = quality_report(root)
    if FlowRunContext.get() is not None:
        create_markdown_artifact(key="dataset-quality", markdown=quality_markdown(report),
                                 description="gemflow dataset quality: acceptance, rejections, coverage, labels")
    return summarize("validate", ValidateResult(total, acceptance_rate=report.acceptance_rate))
