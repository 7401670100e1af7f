"""Render flow: one clinical paper-ECG PNG per record, geometry in the `images` table, one task per shard."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress, collect
from tasks.render.stage import RenderCounts, pending_render, render_shard
from tasks.shards import chunk


@task(name="render-shard")
def render_shard_task(root_dir: str, items: list, render_settings) -> RenderCounts:
    return render_shard(root_dir, items, render_settings)


@flow(name="render", flow_run_name="render/{data}")
def render_flow(data: str, config_path: str | None = None) -> dict:
    cfg, root = settings(data, config_path)
    with root.writer_lock("render"):
        pending = pending_render(root, cfg.render)
        shards = list(chunk(pending, cfg.shard_size))
        futures = [render_shard_task.submit(str(root.root), shard, cfg.render) for shard in shards]
        done = collect(futures, [len(s) for s in shards], StageProgress("render", len(pending)))
        total = reduce(lambda a, b: a + b, done, RenderCounts())
        refresh(root)
    return summarize("render", total)
