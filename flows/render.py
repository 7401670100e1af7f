"""Render flow: one clinical paper-ECG PNG per record, geometry in the `images` table, one task per shard."""
from __future__ import annotations

from prefect import flow, task

from flows.common import settings, summarize
from flows.stages import SHARD_TASK, run_stage
from schemas.records import RecordRef
from storage.layout import RootHandle
from tasks.results import StageResult
from tasks.render.stage import SHARDS, RenderCounts, pending_render, render_shard


@task(name="render-shard", **SHARD_TASK)
def render_shard_task(root_dir: str | RootHandle, items: list[RecordRef], render_settings) -> RenderCounts:
    return render_shard(root_dir, items, render_settings)


@flow(name="render", flow_run_name="render/{data}")
def render_flow(data: str, config_path: str | None = None) -> StageResult[RenderCounts]:
    cfg, root = settings(data, config_path)
    total = run_stage(SHARDS, root, lambda: pending_render(root, cfg.render), render_shard_task, cfg.render,
                      shard_size=cfg.shard_size, zero=RenderCounts())
    return summarize("render", StageResult(total))
