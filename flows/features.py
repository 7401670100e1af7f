"""Features flow: per-beat, per-lead measurements for every ingested record, one task per shard."""
from __future__ import annotations

from functools import reduce

from prefect import flow, task

from flows.common import refresh, results, settings, summarize
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
        futures = [features_shard_task.submit(str(root.root), shard, cfg.features)
                   for shard in chunk(pending, cfg.shard_size)]
        total = reduce(lambda a, b: a + b, results(futures), FeatureCounts())
        refresh(root)
    return summarize("features", total)
