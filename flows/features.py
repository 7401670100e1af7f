"""Features flow: per-beat, per-lead measurements for every ingested record, one task per shard."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task

from flows.common import refresh, settings, summarize
from flows.progress import StageProgress, collect
from tasks.features.stage import FeatureCounts, features_shard, pending_features
from tasks.shards import chunk


@task(name="features-shard")
def features_shard_task(root_dir: str, items: list, feature_settings) -> FeatureCounts:
    return features_shard(root_dir, items, feature_settings)


@flow(name="features", flow_run_name="features/{data}")
def features_flow(data: str, config_path: str | None = None) -> dict:
    cfg, root = settings(data, config_path)
    with root.writer_lock("features"):
        pending = pending_features(root)
        shards = list(chunk(pending, cfg.shard_size))
        futures = [features_shard_task.submit(str(root.root), shard, cfg.features) for shard in shards]
        done = collect(futures, [len(s) for s in shards], StageProgress("features", len(pending)))
        total = reduce(lambda a, b: a + b, done, FeatureCounts())
        refresh(root)
    return summarize("features", total)
